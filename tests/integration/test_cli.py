"""devauthctl against the real daemon."""

import json
import re
import signal
import time

from harness import TestFailure, check, check_equal
from test_config import check_plain_message

VERBS = ["login", "status", "list", "token", "logout", "cancel", "refresh", "watch", "wait",
         "qr"]


def test_help(h):
    """--help everywhere exits 0; usage errors exit 2. Needs no bus."""
    rc, out, err = h.ctl("--help")
    check_equal(rc, 0, f"devauthctl --help exit status ({err!r})")
    for verb in VERBS:
        check(verb in out, f"devauthctl --help does not list {verb}")
        rc, vout, verr = h.ctl(verb, "--help")
        check_equal(rc, 0, f"devauthctl {verb} --help exit status ({verr!r})")
        check("Usage" in vout and verb in vout, f"devauthctl {verb} --help:\n{vout}")
    for args in (["frobnicate"], [], ["--bogus"], ["status", "--bogus"], ["token", "a", "b"]):
        rc, out, err = h.ctl(*args)
        check_equal(rc, 2, f"devauthctl {' '.join(args)} exit status ({err!r})")
        check(err.startswith("devauthctl: "), f"devauthctl {' '.join(args)} stderr: {err!r}")
        check_equal(out, "", f"devauthctl {' '.join(args)} stdout")


def test_not_running(h):
    """A bus without devauthd: a plain message and exit 1."""
    h.start_bus()
    for args in (["status"], ["token"], ["list"]):
        rc, _, err = h.ctl(*args)
        check_equal(rc, 1, f"devauthctl {' '.join(args)} exit status ({err!r})")
        check_plain_message(err, "not running")


def test_status_json(h):
    h.setup("--interval", "1")

    def status(*args):
        rc, out, err = h.ctl(*args)
        check_equal(rc, 0, f"devauthctl {' '.join(args)} exit status ({err!r})")
        try:
            return json.loads(out)
        except ValueError as e:
            raise AssertionError(f"devauthctl {' '.join(args)} printed no JSON ({e}): {out!r}")

    one = status("status", "demo", "--json")
    check(isinstance(one, dict), f"status demo --json is not an object: {one!r}")
    check_equal(one.get("name"), "demo", "name")
    check_equal(one.get("state"), "signed-out", "state before sign-in")
    every = status("status", "--json")
    check(isinstance(every, list) and len(every) == 1, f"status --json: {every!r}")
    check_equal(every[0].get("state"), "signed-out", "state in status --json")
    check_equal(status("list", "--json"), [{"name": "demo", "state": "signed-out"}], "list --json")

    h.sign_in(sub="grace")
    one = status("status", "demo", "--json")
    check_equal(one.get("state"), "signed-in", "state after sign-in")
    check_equal(one.get("subject"), "grace", "subject")
    check_equal(one.get("issuer"), h.idp.issuer, "issuer")
    check_equal(one.get("client_id"), "devauth-demo", "client_id")
    props = h.properties()
    check_equal(one.get("access_token_expires_at"), props["AccessTokenExpiresAt"],
                "access_token_expires_at")
    check_equal(status("list", "--json"), [{"name": "demo", "state": "signed-in"}], "list --json")
    for doc in (one, every[0]):
        text = json.dumps(doc)
        token, _ = h.get_token()
        check(token not in text, "status --json shows the token")


def test_token(h):
    h.setup("--interval", "1")
    rc, out, err = h.ctl("token")
    check_equal(rc, 1, f"devauthctl token before sign-in ({err!r})")
    check_plain_message(err, "not signed in")
    check_equal(out, "", "stdout of a failed devauthctl token")

    h.sign_in()
    token, _ = h.get_token()
    for args in (["token"], ["token", "demo"], ["token", "--no-fd"],
                 ["token", "demo", "--min-validity", "10"]):
        rc, out, err = h.ctl(*args)
        check_equal(rc, 0, f"devauthctl {' '.join(args)} exit status ({err!r})")
        check_equal(out, token + "\n", f"stdout of devauthctl {' '.join(args)}")
        check_equal(err, "", f"stderr of devauthctl {' '.join(args)}")
    rc, out, err = h.ctl("token", "--min-validity", "soon")
    check_equal(rc, 2, f"devauthctl token --min-validity soon ({err!r})")


def test_login_e2e(h):
    """A person runs devauthctl login and approves on the IdP's pages."""
    h.setup("--interval", "1")
    proc, out, err = h.ctl_start("login")
    m = out.wait_for(r"visit\s+(\S+)\s+and enter the code\s+(\S+)", 15, "the URI and the code")
    uri, code = m.group(1), m.group(2)
    check(uri.startswith(h.idp.issuer + "/"), f"the URI {uri!r} is not at the IdP")
    out.wait_for(r"QR code", 5, "the QR code")
    h.idp.approve_forms(uri, code=code, user="carol")
    rc = proc.wait(20)
    check_equal(rc, 0, f"devauthctl login exit status (stdout {out.text()!r}, "
                       f"stderr {err.text()!r})")
    out.wait_for(r"Signed in as carol\.", 5, "the signed-in message")
    check_equal(h.properties()["State"], "signed-in", "State")

    # a second login without --force has nothing to do
    rc, text, errtext = h.ctl("login")
    check_equal(rc, 0, f"devauthctl login when signed in ({errtext!r})")
    check("carol" in text, f"devauthctl login when signed in: {text!r}")
    check_equal(h.idp.stats()["counters"]["device_authorization"], 1,
                "device authorizations")


def test_verbs(h):
    """refresh, cancel, wait and logout, and what each says it did."""
    h.setup("--interval", "1")
    rc, _, err = h.ctl("wait", "--timeout", "1")
    check_equal(rc, 6, f"devauthctl wait when signed out ({err!r})")
    rc, _, err = h.ctl("refresh")
    check_equal(rc, 1, f"devauthctl refresh when signed out ({err!r})")
    check_plain_message(err, "not signed in")
    rc, _, err = h.ctl("cancel")
    check_equal(rc, 1, f"devauthctl cancel with no sign-in running ({err!r})")
    check_plain_message(err)

    # wait returns once the sign-in completes
    prompt = h.login()
    waiter, wout, werr = h.ctl_start("wait", "--timeout", "30")
    time.sleep(0.5)
    check(waiter.poll() is None, "devauthctl wait returned before the sign-in")
    h.idp.approve(prompt["user-code"])
    rc = waiter.wait(20)
    check_equal(rc, 0, f"devauthctl wait exit status ({werr.text()!r})")

    token, _ = h.get_token()
    h.idp.reset_stats()
    rc, out, err = h.ctl("refresh")
    check_equal(rc, 0, f"devauthctl refresh ({err!r})")
    check_equal(h.idp.stats()["counters"]["token_refresh"], 1, "refresh requests")
    check(h.get_token()[0] != token, "the token did not change after devauthctl refresh")
    # what it did, with the new token's expiry
    check(re.fullmatch(r"Refreshed the access token of demo: valid until .+ \(in .+\)\.\n", out),
          f"devauthctl refresh printed {out!r}")

    rc, out, err = h.ctl("logout", "demo")
    check_equal(rc, 0, f"devauthctl logout ({err!r})")
    check_equal(h.properties()["State"], "signed-out", "State after devauthctl logout")
    check(h.idp.stats()["counters"]["revocation"] >= 1, "no revocation request")
    check_equal(out, "Signed demo out: its tokens are forgotten, and the identity provider was "
                "asked to revoke the sign-in.\n", "what devauthctl logout printed")
    rc, out, err = h.ctl("logout", "demo")
    check_equal((rc, out), (0, "demo was not signed in; nothing to do.\n"),
                f"devauthctl logout when signed out ({err!r})")

    since = h.mark()
    h.login()
    rc, out, err = h.ctl("cancel")
    check_equal((rc, out), (0, "Stopped the sign-in of demo.\n"), f"devauthctl cancel ({err!r})")
    h.wait_status("signed-out", since=since)


def test_watch(h):
    """watch --json prints one JSON object per status change."""
    h.setup("--interval", "1")
    proc, out, err = h.ctl_start("watch", "--json")
    # subscribed: the manager proxy's match rules are on the bus
    h.bus.wait_match_rules(proc.pid, 3)
    prompt, _ = h.sign_in(sub="heidi")
    out.wait_for(r'"state"\s*:\s*"signed-in".*\n', 10, "the signed-in line")
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(10)
    check_equal(rc, 0, f"devauthctl watch exit status after SIGTERM (stderr {err.text()!r})")
    events = []
    for line in out.text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            raise TestFailure(f"watch --json printed a line that is not JSON: {line!r}")
    check_equal([(e.get("account"), e.get("state")) for e in events],
                [("demo", "awaiting-user"), ("demo", "signed-in")], "events")
    check_equal(events[0]["details"].get("user-code"), prompt["user-code"], "user-code")
    check_equal(events[1]["details"].get("subject"), "heidi", "subject")
    check_equal(err.text(), "", "stderr of devauthctl watch")


def test_login_daemon_stops(h):
    """devauthctl login notices that devauthd went away."""
    h.setup("--interval", "1")
    proc, out, err = h.ctl_start("login", "--no-qr")
    out.wait_for(r"enter the code\s+(\S+)", 15, "the user code")
    check_equal(h.daemon.stop(), 0, "devauthd's exit status on SIGTERM during a sign-in")
    rc = proc.wait(15)
    check_equal(rc, 1, f"devauthctl login exit status ({err.text()!r})")
    check(err.text().startswith("devauthctl: ") and "devauthd" in err.text(),
          f"stderr: {err.text()!r}")
