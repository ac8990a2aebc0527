"""Sign-in with the RFC 8628 device flow, against the real IdP."""

import os
import re
import signal
import threading
import time
import urllib.parse

from harness import (DBusCallError, account_conf, check, check_equal, polls_after,
                     requests_of, run_process)

# With a 1 s interval, a poll that should not happen shows up within this.
QUIET_PERIOD = 2.0
# A request the daemon sent just before it stopped may reach the IdP's
# clock this much later (ms); a poll that should not happen comes 1 s later.
IN_FLIGHT_MS = 500

PROMPT_KEYS = ("user-code", "verification-uri", "verification-uri-complete", "expires-at",
               "interval", "qr-size", "qr-modules")


def check_prompt(prompt, idp_base):
    for key in PROMPT_KEYS:
        check(key in prompt, f"the prompt has no {key!r}: {sorted(prompt)}")
    check(prompt["verification-uri"].startswith(idp_base + "/"),
          f"verification-uri {prompt['verification-uri']!r} is not at {idp_base}")
    check(prompt["user-code"] in prompt["verification-uri-complete"],
          "verification-uri-complete does not carry the user code")
    check(prompt["expires-at"] > time.time(), "the code expires in the past")


def test_approved_forms(h):
    """Approval through the IdP's real HTML pages; the token works at the IdP."""
    h.setup("--interval", "1")
    props = h.properties()
    check_equal(props["State"], "signed-out", "State before sign-in")
    check_equal(props["AccessTokenExpiresAt"], 0, "AccessTokenExpiresAt before sign-in")

    since = h.mark()
    prompt = h.login()
    check_prompt(prompt, h.idp.issuer)
    check_equal(prompt["interval"], 1, "interval in the prompt")
    waiting = h.wait_status("awaiting-user", since=since)
    check_equal(waiting["details"].get("user-code"), prompt["user-code"],
                "user-code in StatusChanged")
    props = h.properties()
    check_equal(props["State"], "awaiting-user", "State during the flow")
    check_equal(props["LoginExpiresAt"], prompt["expires-at"], "LoginExpiresAt")
    h.expect_error("NotSignedIn", h.get_token)

    h.idp.approve_forms(prompt["verification-uri-complete"], user="alice")
    signed_in = h.wait_status("signed-in", since=since)
    check_equal(signed_in["details"].get("subject"), "alice", "subject in StatusChanged")
    check(signed_in["details"].get("expires-at", 0) > time.time(),
          f"expires-at in StatusChanged is not in the future: {signed_in['details']}")

    token, info = h.get_token()
    check(token, "GetToken returned an empty token")
    check_equal(info.get("token-type"), "Bearer", "token-type")
    status, body = h.idp.userinfo(token)
    check_equal(status, 200, f"userinfo status ({body})")
    check_equal(body.get("sub"), "alice", "sub at userinfo")

    props = h.properties()
    check_equal(props["State"], "signed-in", "State")
    check_equal(props["Subject"], "alice", "Subject")
    check(props["AccessTokenExpiresAt"] > time.time(),
          f"AccessTokenExpiresAt {props['AccessTokenExpiresAt']} is not in the future")
    check_equal(props["AccessTokenExpiresAt"], info["expires-at"],
                "AccessTokenExpiresAt vs GetToken's expires-at")
    check_equal(props["LoginExpiresAt"], 0, "LoginExpiresAt after sign-in")
    check_equal(props["LastError"], "", "LastError after sign-in")


def test_keycloak_realm(h):
    """Keycloak-shaped URLs: issuer <base>/realms/demo, endpoints under it."""
    h.setup("--interval", "1", "--realm", "demo")
    check(h.idp.issuer.endswith("/realms/demo"), f"issuer {h.idp.issuer}")
    check_equal(h.properties()["Issuer"], h.idp.issuer, "Issuer property")

    since = h.mark()
    prompt = h.login()
    check_prompt(prompt, h.idp.issuer)
    # the person types the code on the plain verification page
    h.idp.approve_forms(prompt["verification-uri"], code=prompt["user-code"], user="bob")
    signed_in = h.wait_status("signed-in", since=since)
    check_equal(signed_in["details"].get("subject"), "bob", "subject")

    token, _ = h.get_token()
    status, body = h.idp.userinfo(token)
    check_equal(status, 200, f"userinfo status ({body})")
    check_equal(body.get("sub"), "bob", "sub at userinfo")
    for r in h.idp.stats()["requests"]:
        check(r["path"].startswith("/realms/demo/"), f"a request outside the realm: {r}")


def test_denied(h):
    """access_denied ends the flow at once, over D-Bus and in devauthctl."""
    h.setup("--interval", "1")
    since = h.mark()
    prompt = h.login()
    h.idp.approve_forms(prompt["verification-uri-complete"], deny=True)
    failed = h.wait_status(error="denied", since=since)
    check_equal(failed["state"], "signed-out", "state after denial")
    check(failed["details"].get("error-description"), "no error-description")
    props = h.properties()
    check_equal(props["State"], "signed-out", "State after denial")
    check(props["LastError"] != "", "LastError is empty after denial")
    check_equal(props["LoginExpiresAt"], 0, "LoginExpiresAt after denial")

    # no poll after access_denied
    time.sleep(QUIET_PERIOD)
    polls = h.idp.stats()["polls"]
    check(polls and polls[-1]["result"] == "access_denied",
          f"the last poll was not answered access_denied: {polls}")
    check_equal(sum(p["result"] == "access_denied" for p in polls), 1,
                "polls answered access_denied")

    proc, out, err = h.ctl_start("login", "--no-qr")
    m = out.wait_for(r"enter the code\s+(\S+)", 15, "the user code")
    h.idp.deny(m.group(1))
    rc = proc.wait(20)
    check_equal(rc, 3, f"devauthctl login exit status (stdout {out.text()!r}, "
                       f"stderr {err.text()!r})")
    check(err.text().startswith("devauthctl: "), f"stderr: {err.text()!r}")


def test_expired(h):
    """The code expires: "expired", no poll after expires_in; devauthctl exits 4."""
    h.setup("--interval", "1", "--device-code-ttl", "3")
    since = h.mark()
    prompt = h.login()
    failed = h.wait_status(error="expired", since=since, timeout=15)
    check_equal(failed["state"], "signed-out", "state after expiry")
    check_equal(h.properties()["State"], "signed-out", "State after expiry")

    time.sleep(QUIET_PERIOD)
    polls = h.idp.stats()["polls"]
    check(polls, "the daemon never polled")
    deadline_ms = prompt["expires-at"] * 1000
    late = [p for p in polls if p["t"] > deadline_ms + IN_FLIGHT_MS]
    check(not late, f"polls after the code expired at {deadline_ms}: {late}")
    after = polls_after(h.idp.stats(), failed["t"] * 1000 + IN_FLIGHT_MS)
    check(not after, f"polls after the expiry was reported: {after}")

    proc, out, err = h.ctl_start("login", "--no-qr")
    rc = proc.wait(25)
    check_equal(rc, 4, f"devauthctl login exit status (stdout {out.text()!r}, "
                       f"stderr {err.text()!r})")


def test_no_poll_after_tokens(h):
    """After the 200 the device code is never sent again."""
    h.setup("--interval", "1")
    h.sign_in()
    time.sleep(QUIET_PERIOD + 0.5)
    stats = h.idp.stats()
    polls = stats["polls"]
    check(polls, "no polls")
    check_equal(polls[-1]["result"], "tokens", "result of the last poll")
    check_equal(sum(p["result"] == "tokens" for p in polls), 1, "polls answered with tokens")
    check_equal(stats["counters"]["token_device_code"], len(polls), "device-code requests")


def test_cancel(h):
    """CancelLogin, and Ctrl-C in devauthctl login, stop the flow and its polling."""
    h.setup("--interval", "1")
    since = h.mark()
    h.login()
    h.idp.wait_stats(lambda s: len(s["polls"]) >= 1, "a first poll")
    h.cancel_login()
    t_cancel = time.time()
    failed = h.wait_status(error="cancelled", since=since)
    check_equal(failed["state"], "signed-out", "state after cancel")
    check_equal(h.properties()["State"], "signed-out", "State after cancel")
    time.sleep(QUIET_PERIOD)
    late = polls_after(h.idp.stats(), t_cancel * 1000 + IN_FLIGHT_MS)
    check(not late, f"polls after CancelLogin: {late}")
    h.expect_error("InvalidArgument", h.cancel_login)

    # devauthctl login, then SIGINT
    since = h.mark()
    proc, out, err = h.ctl_start("login", "--no-qr")
    out.wait_for(r"enter the code\s+(\S+)", 15, "the user code")
    n = len(h.idp.stats()["polls"])
    h.idp.wait_stats(lambda s: len(s["polls"]) > n, "a poll of the second flow")
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(15)
    t_cancel = time.time()
    check_equal(rc, 5, f"devauthctl login exit status after SIGINT (stdout {out.text()!r}, "
                       f"stderr {err.text()!r})")
    h.wait_status(error="cancelled", since=since)
    time.sleep(QUIET_PERIOD)
    late = polls_after(h.idp.stats(), t_cancel * 1000 + IN_FLIGHT_MS)
    check(not late, f"polls after devauthctl was interrupted: {late}")


def test_two_people_one_account(h):
    """Two people run `devauthctl login` on the same account: the second
    joins the first's flow (the same code), and interrupting the second
    (Ctrl-C) leaves the first person's sign-in running; once the code is
    approved, the first sees "Signed in". Interrupting the last one who
    waits then does cancel a flow."""
    h.setup("--interval", "1")
    since = h.mark()
    first, first_out, first_err = h.ctl_start("login", "--no-qr")
    code = first_out.wait_for(r"enter the code\s+(\S+)", 15, "the first user code").group(1)
    second, second_out, second_err = h.ctl_start("login", "--no-qr")
    joined = second_out.wait_for(r"enter the code\s+(\S+)", 15, "the second user code").group(1)
    check_equal(joined, code, "the second person's code")
    second.send_signal(signal.SIGINT)
    rc = second.wait(15)
    check_equal(rc, 5, f"the second devauthctl after SIGINT ({second_err.text()!r})")
    check("Stopped waiting" in second_out.text(), f"the second devauthctl said "
          f"{second_out.text()!r}")
    time.sleep(1.0)
    check_equal(h.properties()["State"], "awaiting-user", "State after the second left")
    check(first.poll() is None, "the first devauthctl ended when the second was interrupted")
    h.idp.approve(code, sub="nora")
    rc = first.wait(20)
    check_equal(rc, 0, f"the first devauthctl ({first_err.text()!r})")
    check("Signed in" in first_out.text(), f"the first devauthctl said {first_out.text()!r}")
    check_equal(h.properties()["Subject"], "nora", "Subject")

    # alone, Ctrl-C does cancel
    h.logout()
    since = h.mark()
    alone, alone_out, _ = h.ctl_start("login", "--no-qr")
    alone_out.wait_for(r"enter the code\s+(\S+)", 15, "the user code")
    alone.send_signal(signal.SIGINT)
    check_equal(alone.wait(15), 5, "devauthctl login alone, after SIGINT")
    h.wait_status(error="cancelled", since=since)
    check_equal(h.properties()["State"], "signed-out", "State after the only one left")


def test_concurrent_login(h):
    """Two clients call Login at once: one device authorization, one code."""
    h.setup("--interval", "1")
    conns = [h.bus.connect(), h.bus.connect()]
    barrier = threading.Barrier(len(conns))
    results = [None] * len(conns)

    def call(i):
        try:
            barrier.wait(10)
            results[i] = h.login(connection=conns[i])
        except (DBusCallError, threading.BrokenBarrierError) as e:
            results[i] = e

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(conns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        check(not t.is_alive(), "a Login call did not return")
    for r in results:
        check(isinstance(r, dict), f"Login failed: {r!r}")
    check_equal(results[1]["user-code"], results[0]["user-code"], "user code of the 2nd Login")
    # a later Login joins the running flow too
    third = h.login()
    check_equal(third["user-code"], results[0]["user-code"], "user code of the 3rd Login")
    counters = h.idp.stats()["counters"]
    check_equal(counters["device_authorization"], 1, "device authorization requests")
    h.idp.approve(third["user-code"])
    h.wait_status("signed-in")


def test_pkce(h):
    """Pkce=yes against an IdP that requires S256 PKCE."""
    h.setup("--interval", "1", "--require-pkce", pkce=True)
    h.sign_in()
    polls = h.idp.stats()["polls"]
    check(polls, "no polls")
    check(all(p["pkce"] for p in polls), f"a poll without code_verifier: {polls}")
    token, _ = h.get_token()
    status, body = h.idp.userinfo(token)
    check_equal(status, 200, f"userinfo status ({body})")


def test_pkce_required_missing(h):
    """Without Pkce=yes an IdP that requires PKCE refuses: a clear IdpError."""
    h.setup("--interval", "1", "--require-pkce")
    e = h.expect_error("IdpError", h.login)
    check("code_challenge" in e.message or "invalid_request" in e.message,
          f"the error does not say what the IdP refused: {e.message!r}")
    props = h.properties()
    check_equal(props["State"], "signed-out", "State")
    check(props["LastError"] != "", "LastError is empty")
    check_equal(h.idp.stats()["counters"]["token_device_code"], 0, "polls")
    rc, _, err = h.ctl("login", "--no-qr")
    check_equal(rc, 1, f"devauthctl login exit status ({err!r})")
    check(err.startswith("devauthctl: ") and "code_challenge" in err,
          f"devauthctl login does not say what the IdP refused: {err!r}")


def test_slow_down(h):
    """slow_down adds 5 s to the interval, and the flow still completes.

    The IdP enforces a 3 s interval (--slow-down) but, through a loopback
    proxy in front of its device authorization endpoint, advertises 1 s: the
    fault of an IdP whose advertised interval is shorter than what it
    enforces. The daemon's second poll is then too early and gets slow_down."""
    from proxy import IntervalRewritingProxy

    h.start_idp("--interval", "3", "--slow-down")
    proxy = IntervalRewritingProxy(h.idp.discovery()["device_authorization_endpoint"], interval=1)
    h.add_cleanup(proxy.stop)
    h.start_daemon({"demo": account_conf(
        h.idp.issuer, extra={"DeviceAuthorizationEndpoint": proxy.url})})

    since = h.mark()
    prompt = h.login()
    check_equal(prompt["interval"], 1, "interval in the prompt (as rewritten)")
    h.idp.wait_stats(lambda s: any(p["result"] == "slow_down" for p in s["polls"]),
                     "a slow_down answer")
    h.idp.approve(prompt["user-code"])
    h.wait_status("signed-in", since=since, timeout=20)

    polls = h.idp.stats()["polls"]
    i = next(i for i, p in enumerate(polls) if p["result"] == "slow_down")
    check(i + 1 < len(polls), f"no poll after slow_down: {polls}")
    gap = (polls[i + 1]["t"] - polls[i]["t"]) / 1000
    # the interval was 1 s; after slow_down it is 1 + 5 s
    check(gap >= 5.95, f"the poll after slow_down came {gap:.2f} s later (expected >= 6 s)")
    check_equal(polls[-1]["result"], "tokens", "result of the last poll")
    check_equal(sum(p["result"] == "slow_down" for p in polls), 1, "slow_down answers")
    check_equal(proxy.requests, 1, "device authorization requests through the proxy")


def test_default_interval(h):
    """An IdP that sends no interval is polled every 5 s."""
    h.setup("--interval", "0")
    prompt = h.login()
    check_equal(prompt["interval"], 5, "interval in the prompt")
    stats = h.idp.wait_stats(lambda s: len(s["polls"]) >= 2, "two polls", timeout=20)
    path = urllib.parse.urlsplit(h.idp.discovery()["device_authorization_endpoint"]).path
    (auth,) = requests_of(stats, path_suffix=path)
    t = [auth["t"]] + [p["t"] for p in stats["polls"][:2]]
    gaps = [(b - a) / 1000 for a, b in zip(t, t[1:])]
    check(all(g >= 5.0 for g in gaps),
          f"gaps between device authorization and polls: {gaps} (expected >= 5 s)")
    h.cancel_login()


def render_qr(size, modules, path, scale=8, quiet=4):
    from PIL import Image

    dim = (size + 2 * quiet) * scale
    img = Image.new("L", (dim, dim), 255)
    pixels = img.load()
    for row in range(size):
        for col in range(size):
            if modules[row * size + col]:
                x0 = (col + quiet) * scale
                y0 = (row + quiet) * scale
                for y in range(y0, y0 + scale):
                    for x in range(x0, x0 + scale):
                        pixels[x, y] = 0
    img.save(path)


def test_qr_code(h):
    """The QR matrix of StatusChanged decodes to verification_uri_complete."""
    h.setup("--interval", "1")
    since = h.mark()
    prompt = h.login()
    waiting = h.wait_status("awaiting-user", since=since)
    details = waiting["details"]
    size = details.get("qr-size")
    modules = details.get("qr-modules")
    check(isinstance(size, int) and 21 <= size <= 177 and (size - 17) % 4 == 0,
          f"qr-size {size!r} is not the size of a QR code")
    check_equal(len(modules), size * size, "number of QR modules")
    check(set(modules) <= {0, 1}, f"QR modules other than 0 and 1: {set(modules)}")
    check_equal(prompt.get("qr-size"), size, "qr-size of the Login prompt")
    check_equal(list(prompt.get("qr-modules")), list(modules), "qr-modules of the Login prompt")

    png = os.path.join(h.tmp, "qr.png")
    render_qr(size, modules, png)
    rc, out, err = run_process(["zbarimg", "--raw", "-q", png], timeout=30)
    check_equal(rc, 0, f"zbarimg exit status ({err!r})")
    check_equal(out.strip(), prompt["verification-uri-complete"], "decoded QR code")


def terminal_qr_pixels(text, style):
    """The QR code that devauthctl drew, as a screen shows it: rows of
    booleans, True where the terminal puts ink (light on a dark terminal)."""
    rows = []
    if style == "unicode":
        lines = [l for l in text.splitlines() if l and set(l) <= set(" \u2588\u2580\u2584")
                 and set(l) != {" "}]
        for line in lines:
            rows.append([c in "\u2588\u2580" for c in line])
            rows.append([c in "\u2588\u2584" for c in line])
    else:
        lines = [l for l in text.splitlines()
                 if l and len(l) % 2 == 0 and re.fullmatch(r"(##|  )+", l) and "#" in l]
        for line in lines:
            rows.append([line[i:i + 2] == "##" for i in range(0, len(line), 2)])
    return rows


def decode_screen(rows, path, scale=6, border=8):
    """Renders the rows as a dark terminal shows them (ink light, the rest
    and the terminal around dark) and decodes it with zbarimg: the text, or
    None when it finds no code."""
    from PIL import Image

    width = max(len(r) for r in rows)
    img = Image.new("L", ((width + 2 * border) * scale, (len(rows) + 2 * border) * scale), 0)
    pixels = img.load()
    for y, row in enumerate(rows):
        for x, ink in enumerate(row):
            if ink:
                for dy in range(scale):
                    for dx in range(scale):
                        pixels[(x + border) * scale + dx, (y + border) * scale + dy] = 255
    img.save(path)
    rc, out, _ = run_process(["zbarimg", "--raw", "-q", path], timeout=30)
    return out.strip() if rc == 0 else None


def test_terminal_qr(h):
    """The QR code devauthctl login draws in the terminal, in both styles,
    decodes (as a camera would see it on a dark terminal) to the prompt's
    verification_uri_complete; the same check finds nothing in a drawing of
    only light modules, so it cannot pass by accident."""
    h.setup("--interval", "1")
    for style in ("unicode", "ascii"):
        since = h.mark()
        proc, out, err = h.ctl_start("login", f"--qr={style}")
        out.wait_for(r"enter the code\s+(\S+)", 15, "the user code")
        prompt = h.wait_status("awaiting-user", since=since)["details"]
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
        rows = terminal_qr_pixels(out.text(), style)
        check(len(rows) >= 21, f"{style}: no QR code in devauthctl's output:\n{out.text()}")
        decoded = decode_screen(rows, os.path.join(h.tmp, f"qr-{style}.png"))
        check_equal(decoded, prompt["verification-uri-complete"], f"{style}: the decoded QR code")
        blank = [[True] * len(r) for r in rows]
        check_equal(decode_screen(blank, os.path.join(h.tmp, f"blank-{style}.png")), None,
                    f"{style}: a drawing of only light modules decoded")
        h.wait_status("signed-out", since=since)


def test_qr_formats(h):
    """devauthctl qr, while devauthctl login waits: the terminal forms (as
    a dark terminal shows them), the PNG (libpng) and the SVG (drawn by
    rsvg-convert, as a browser would) each decode with zbarimg to the
    prompt's verification_uri_complete, with a quiet zone of 4 modules;
    written with --output it says so. It joins the sign-in and leaves it
    running; with no sign-in waiting it starts none and says what to do."""
    h.setup("--interval", "1")
    rc, out, err = h.ctl("qr")
    check(rc != 0 and "no sign-in of account 'demo' waits for the user; start one with "
          "devauthctl login" in err, f"devauthctl qr with no sign-in: {rc} {err!r}")
    check_equal(h.properties()["State"], "signed-out", "State after qr with no sign-in")
    since = h.mark()
    proc, login_out, _ = h.ctl_start("login")
    login_out.wait_for(r"enter the code\s+(\S+)", 15, "the user code")
    prompt = h.wait_status("awaiting-user", since=since)["details"]
    want = prompt["verification-uri-complete"]
    size = prompt["qr-size"]

    for style, fmt in (("unicode", "utf8"), ("ascii", "ascii")):
        rc, out, err = h.ctl("qr", f"--format={fmt}")
        check_equal(rc, 0, f"devauthctl qr --format={fmt} ({err})")
        rows = terminal_qr_pixels(out, style)
        check_equal(len(rows[0]), size + 8, f"{fmt}: modules across (the code and 4 on each side)")
        check_equal(decode_screen(rows, os.path.join(h.tmp, f"qr-{fmt}.png")), want,
                    f"{fmt}: the decoded QR code")
    png = os.path.join(h.tmp, "code.png")
    rc, out, err = h.ctl("qr", "--format=png", f"--output={png}")
    check_equal((rc, out.strip()), (0, f"{png}: the QR code of {want}"), f"qr --format=png ({err})")
    from PIL import Image
    with Image.open(png) as img:
        check_equal(img.size, ((size + 8) * 8,) * 2, "the PNG's size (8 pixels a module)")
        check_equal(img.getpixel((0, 0)) in (1, 255), True, "the PNG's corner is white")
    rc, decoded, err = run_process(["zbarimg", "--raw", "-q", png], timeout=30)
    check_equal((rc, decoded.strip()), (0, want), f"the PNG decoded ({err})")
    svg = os.path.join(h.tmp, "code.svg")
    rc, out, err = h.ctl("qr", "--format=svg", "-o", svg)
    check_equal(rc, 0, f"qr --format=svg ({err})")
    drawn = os.path.join(h.tmp, "code-svg.png")
    rc, _, err = run_process(["rsvg-convert", "-w", "400", "-o", drawn, svg], timeout=30)
    check_equal(rc, 0, f"rsvg-convert ({err})")
    rc, decoded, err = run_process(["zbarimg", "--raw", "-q", drawn], timeout=30)
    check_equal((rc, decoded.strip()), (0, want), f"the SVG decoded ({err})")
    rc, _, err = h.ctl("qr", "--format=gif")
    check(rc == 2 and "unknown format 'gif'" in err, f"qr --format=gif: {rc} {err!r}")

    # the sign-in goes on: devauthctl qr joined it and left
    check_equal(h.properties()["State"], "awaiting-user", "State after devauthctl qr")
    h.idp.approve(prompt["user-code"])
    h.wait_status("signed-in", since=since)
    proc.wait(15)


def test_logout_during_flow(h):
    """Logout while a sign-in waits: the flow ends and polling stops."""
    h.setup("--interval", "1")
    since = h.mark()
    h.login()
    h.idp.wait_stats(lambda s: len(s["polls"]) >= 1, "a first poll")
    h.logout()
    t_logout = time.time()
    h.wait_status("signed-out", since=since)
    props = h.properties()
    check_equal(props["State"], "signed-out", "State")
    check_equal(props["LoginExpiresAt"], 0, "LoginExpiresAt")
    time.sleep(QUIET_PERIOD)
    late = polls_after(h.idp.stats(), t_logout * 1000 + IN_FLIGHT_MS)
    check(not late, f"polls after Logout: {late}")
    h.expect_error("InvalidArgument", h.cancel_login)


def test_client_vanishes(h):
    """A client that leaves the bus takes its sign-in with it (when nobody
    else waits on it): devauthctl login killed with SIGKILL."""
    h.setup("--interval", "1")
    since = h.mark()
    proc, out, _ = h.ctl_start("login", "--no-qr")
    out.wait_for(r"enter the code\s+(\S+)", 15, "the user code")
    h.idp.wait_stats(lambda s: len(s["polls"]) >= 1, "a first poll")
    proc.stop(signal.SIGKILL)
    t_gone = time.time()
    h.wait_status(error="cancelled", since=since, timeout=5)
    check_equal(h.properties()["State"], "signed-out", "State")
    time.sleep(QUIET_PERIOD)
    late = polls_after(h.idp.stats(), t_gone * 1000 + 1500)
    check(not late, f"polls after the client left: {late}")


def test_cancelled_relogin_keeps_signin(h):
    """A second sign-in that is cancelled leaves the first one as it was."""
    h.setup("--interval", "1")
    h.sign_in(sub="lena")
    token, _ = h.get_token()
    since = h.mark()
    h.login()
    h.wait_status("awaiting-user", since=since)
    h.cancel_login()
    failed = h.wait_status(error="cancelled", since=since)
    check_equal(failed["state"], "signed-in", "state in StatusChanged after the cancel")
    props = h.properties()
    check_equal(props["State"], "signed-in", "State")
    check_equal(props["Subject"], "lena", "Subject")
    check_equal(h.get_token()[0], token, "token")

    proc, out, err = h.ctl_start("login", "--force", "--no-qr")
    out.wait_for(r"enter the code\s+(\S+)", 15, "the user code")
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(15)
    check_equal(rc, 5, f"devauthctl login --force, then SIGINT ({err.text()!r})")
    check_equal(h.properties()["State"], "signed-in", "State after devauthctl login --force")
    check_equal(h.get_token()[0], token, "token after devauthctl login --force")
