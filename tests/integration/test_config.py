"""Configuration and account names."""

import os
import re

from gi.repository import GLib

import harness
from harness import account_conf, check, check_equal

BAD_NAMES = ["../etc", "a b", "x" * 65, ".", "..", "demo/x", "d\u00e9mo"]


def check_plain_message(err, *needles):
    """devauthctl's errors: one 'devauthctl: <plain message>' line, no D-Bus names."""
    first = err.splitlines()[0] if err else ""
    check(first.startswith("devauthctl: "), f"stderr: {err!r}")
    for word in ("GDBus", "org.devauth", "org.freedesktop"):
        check(word not in err, f"stderr shows {word!r}: {err!r}")
    for needle in needles:
        check(needle in first, f"stderr does not say {needle!r}: {err!r}")


def test_unknown_account(h):
    h.setup("--interval", "1")
    for call in (h.get_token, h.get_token_fd, h.login, h.logout, h.refresh, h.cancel_login):
        e = h.expect_error("NoSuchAccount", call, "nope")
        check("nope" in e.message, f"{call.__name__}: the message does not name it: {e.message!r}")
    for verb in (["token", "nope"], ["status", "nope"], ["logout", "nope"], ["login", "nope"]):
        rc, out, err = h.ctl(*verb)
        check_equal(rc, 1, f"devauthctl {' '.join(verb)} exit status (stderr {err!r})")
        check_plain_message(err, "nope")
    check_equal(h.idp.stats()["requests"], [], "requests at the IdP")


def test_invalid_arguments(h):
    """Malformed account names and options: InvalidArgument, no request."""
    from gi.repository import GLib

    h.setup("--interval", "1")
    for name in BAD_NAMES:
        for call in (h.get_token, h.login, h.logout):
            h.expect_error("InvalidArgument", call, name)
    rc, _, err = h.ctl("token", "../etc")
    check_equal(rc, 1, f"devauthctl token ../etc exit status (stderr {err!r})")
    check_plain_message(err)

    def get_token(options):
        return h.call("GetToken", GLib.Variant("(sa{sv})", ("demo", options)), "(sa{sv})")

    h.expect_error("InvalidArgument", get_token, {"min-validity": GLib.Variant("u", 3601)})
    h.expect_error("InvalidArgument", get_token, {"min-validity": GLib.Variant("s", "30")})
    h.expect_error("InvalidArgument", get_token, {"frobnicate": GLib.Variant("b", True)})
    h.expect_error("InvalidArgument", lambda: h.call(
        "Login", GLib.Variant("(sa{sv})", ("demo", {"x": GLib.Variant("b", True)})), "(a{sv})"))
    check_equal(h.idp.stats()["requests"], [], "requests at the IdP")


def test_two_accounts(h):
    """Two accounts are independent; "" needs DefaultAccount= when there are two."""
    h.start_idp("--interval", "1", "--extra-client", "devauth-other")
    h.start_daemon({
        "first": account_conf(h.idp.issuer),
        "second": account_conf(h.idp.issuer, client_id="devauth-other"),
    })
    check_equal([n for n, _ in h.list_accounts()], ["first", "second"], "accounts")
    e = h.expect_error("NoSuchAccount", h.get_token, "")
    check("DefaultAccount" in e.message, f"the error does not say how to fix it: {e.message!r}")
    rc, _, err = h.ctl("token")
    check_equal(rc, 1, f"devauthctl token with two accounts ({err!r})")
    check_plain_message(err)

    h.account = "first"
    h.sign_in(sub="judy", account="first")
    check_equal(h.properties("second")["State"], "signed-out", "State of the other account")
    h.expect_error("NotSignedIn", h.get_token, "second")
    h.account = "second"
    h.sign_in(sub="ken", account="second")
    first, _ = h.get_token("first")
    second, _ = h.get_token("second")
    check(first != second, "both accounts have the same token")
    check_equal(h.idp.userinfo(first)[1].get("sub"), "judy", "sub of the first account")
    check_equal(h.idp.userinfo(second)[1].get("sub"), "ken", "sub of the second account")

    h.logout("first")
    check_equal(h.properties("first")["State"], "signed-out", "State after logout")
    check_equal(h.properties("second")["State"], "signed-in", "State of the other account")
    check_equal(h.get_token("second")[0], second, "the other account's token")
    check_equal(h.idp.userinfo(second)[0], 200, "the other account's token at the IdP")

    # DefaultAccount= names the one "" means
    with open(os.path.join(h.daemon.config_dir, "devauthd.conf"), "a") as f:
        f.write("DefaultAccount=second\n")
    h.daemon.restart()
    check_equal(h.get_token("")[0], second, "token of the default account")
    rc, out, err = h.ctl("token")
    check_equal((rc, out), (0, second + "\n"), f"devauthctl token ({err!r})")


def log_lines_about(log, path):
    return [line for line in log.splitlines() if path in line]


def test_bad_config(h):
    """Bad account files are named in the log, with key and problem (and
    line, and the key a typo meant); the bus (the manager's ConfigProblems)
    and devauthctl status show the same, errors and warnings; the rest
    work."""
    h.start_idp("--interval", "1")
    accounts = {
        # a typo in a key that is not required: the account loads, warned
        "good": account_conf(h.idp.issuer) + "AutoLgin=yes\n",
        "plainhttp": account_conf("http://example.com"),
        "noclient": account_conf(h.idp.issuer, client_id=None),
        "garbage": "this is not a key file\n[Account\nIssuer\n",
        "badbool": account_conf(h.idp.issuer, extra={"Pkce": "maybe"}),
        # a typo that used to read as a missing Issuer
        "typo": "[Account]\nIsuer=" + h.idp.issuer + "\nClientId=devauth-demo\n",
    }
    h.start_daemon(accounts)
    d = os.path.join(h.daemon.config_dir, "accounts.d")
    log = h.daemon.log()

    def expect(name, *patterns):
        path = os.path.join(d, f"{name}.conf")
        lines = log_lines_about(log, path)
        check(lines, f"the log does not name {path}")
        text = "\n".join(lines)
        for p in patterns:
            check(re.search(p, text, re.I), f"the log about {path} does not match {p!r}:\n{text}")

    expect("plainhttp", r"Issuer", r"https")
    expect("noclient", r"ClientId", r"missing")
    expect("garbage", r"key|group|line")
    expect("badbool", r"Pkce", r"maybe")

    typo = os.path.join(d, "typo.conf")
    expect("typo", re.escape(f"{typo}:2: [Account] Isuer: unknown key; did you mean Issuer? "
                             "(Issuer is missing)"))

    names = [n for n, _ in h.list_accounts()]
    check_equal(names, ["good"], "accounts")

    # the bus and devauthctl status say the same
    (problems,) = h.call("Get", GLib.Variant("(ss)", (harness.MANAGER_IFACE, "ConfigProblems")),
                         "(v)", iface="org.freedesktop.DBus.Properties")
    by_account = {a: (kind, message) for a, kind, message in problems}
    check_equal(sorted(by_account), ["badbool", "garbage", "good", "noclient", "plainhttp",
                                     "typo"], "the accounts in ConfigProblems")
    check_equal(by_account["typo"], ("error", f"{typo}:2: [Account] Isuer: unknown key; did you "
                                     "mean Issuer? (Issuer is missing)"), "the typo's problem")
    def line_of(name, key):
        with open(os.path.join(d, f"{name}.conf")) as f:
            return next(i for i, line in enumerate(f, 1) if line.startswith(key + "="))
    check_equal(by_account["badbool"][1].split(": ", 1)[0],
                os.path.join(d, "badbool.conf") + f":{line_of('badbool', 'Pkce')}",
                "the file and line of Pkce=maybe")
    warned = os.path.join(d, "good.conf")
    check_equal(by_account["good"], ("warning", f"{warned}:{line_of('good', 'AutoLgin')}: "
                                     "[Account] AutoLgin: unknown key, ignored (did you mean "
                                     "AutoLogin?)"), "the warning")
    rc, out, err = h.ctl("status")
    check_equal(rc, 0, f"devauthctl status ({err})")
    print(out)
    check(f"\nConfiguration problems:\n" in out, f"devauthctl status:\n{out}")
    for account, (kind, message) in by_account.items():
        check(f"  {account}: {kind}: {message}\n" in out,
              f"devauthctl status does not show the {kind} of {account}:\n{out}")
    check(out.index("typo: error") < out.index("good: warning"), "errors first")
    rc, out, err = h.ctl("status", "typo")
    check_equal((rc, err.strip()), (1, f"devauthctl: account 'typo' is not loaded: {typo}:2: "
                                    "[Account] Isuer: unknown key; did you mean Issuer? "
                                    "(Issuer is missing)"), "devauthctl status typo")
    rc, out, err = h.ctl("status", "good")
    check(rc == 0 and "warning: " + by_account["good"][1] in out,
          f"devauthctl status good: {rc} {out!r}")
    h.account = "good"
    _, sig = h.sign_in(account="good")
    token, _ = h.get_token("good")
    status, body = h.idp.userinfo(token)
    check_equal(status, 200, f"userinfo ({body})")
    # with one good account left it is the default
    check_equal(h.get_token("")[0], token, "token of the default account")
