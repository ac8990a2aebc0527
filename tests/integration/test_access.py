"""Who may do what: [Access], the real polkitd, cgroups, limits, secrets, bus policy.

Callers other than root run as other uids (setpriv) through bus_client.py or
devauthctl; polkit is the real polkitd in a mount namespace of its own with
the project's actions (harness.Polkitd). The system user devauth-test (in the
groups devauth-admin and devauth-test-tokens) is created once when missing.
"""

import hashlib
import os
import pwd
import re
import secrets
import signal
import socket
import subprocess
import time

from gi.repository import GLib

import harness
from harness import (ERROR_PREFIX, TEST_USER, Cgroup, DBusCallError, OutputReader, Process,
                     account_conf, as_user, check, check_equal, env_path, ensure_test_user,
                     polkit_bus_policy, run_process, wait_until)
from test_config import check_plain_message

NOBODY = "nobody"
# the user that AllowUsers= names
LISTED_USER = "daemon"
# a group that exists nowhere but in [Access] (a caller gets it from setpriv)
ALLOWED_GID = 4242

DENIED = ERROR_PREFIX + "PermissionDenied"

# Every check polkit gets is logged with its details.
LOG_RULE = """\
polkit.addRule(function (action, subject) {
    if (action.id.indexOf("org.devauth.") == 0) {
        polkit.log("devauth-check " + action.id + " user=" + subject.user +
                   " account=" + action.lookup("account") +
                   " app-id=" + action.lookup("app-id"));
    }
});
"""
# Members of devauth-test-tokens may get tokens for the account "demo" only.
TOKEN_RULES = LOG_RULE + """\
polkit.addRule(function (action, subject) {
    if (action.id == "org.devauth.get-token" && action.lookup("account") == "demo" &&
        subject.isInGroup("devauth-test-tokens")) {
        return polkit.Result.YES;
    }
});
"""

EXAMPLE_RULES = os.path.join(harness.SOURCE_ROOT, "polkit", "50-devauth-admin.rules.example")


def access_conf(issuer, **allow):
    """An account at ISSUER with an [Access] section: AllowUsers=…, …"""
    text = account_conf(issuer)
    if allow:
        text += "\n[Access]\n" + "".join(f"{k}={v}\n" for k, v in allow.items())
    return text


def polkit_world(h, rules, others=(), daemon_settings=None, **allow):
    """IdP, a bus every uid can reach with polkitd's policy, polkitd with
    RULES, devauthd with the account demo ([Access]: ALLOW) and the
    accounts OTHERS (no [Access])."""
    ensure_test_user()
    h.start_idp("--interval", "1")
    h.start_bus(extra_policies=[polkit_bus_policy()], public=True)
    polkitd = h.start_polkitd(rules)
    accounts = {"demo": access_conf(h.idp.issuer, **allow)}
    accounts.update({name: access_conf(h.idp.issuer) for name in others})
    h.start_daemon(accounts, daemon_settings)
    return polkitd


def ctl_as(h, user, *args, groups=None, timeout=30):
    return run_process([*as_user(user, groups=groups), env_path("DEVAUTHCTL"), *args],
                       timeout=timeout, env=h.ctl_env())


def expect_results(results, expected, who):
    """expected: one entry per result: "ok" (no error) or an error's short name."""
    check_equal(len(results), len(expected), f"results of {who}")
    for i, (result, want) in enumerate(zip(results, expected)):
        got = result.get("error", "ok")
        if got.startswith(ERROR_PREFIX):
            got = got[len(ERROR_PREFIX):]
        check(got == want, f"{who}, operation {i}: expected {want}, got {result}")


def polkit_checks(polkitd):
    """(action, user, account, app-id) of every check the rules saw."""
    return re.findall(r"devauth-check (\S+) user=(\S+) account=(\S+) app-id=(\S+)",
                      polkitd.log())


def ops(*names, account="demo"):
    return [{"op": n, "account": account} for n in names]


# ---------------------------------------------------------------- polkit


def test_polkit_tokens(h):
    """GetToken(Fd): [Access] without polkit, a polkit rule for a group, refusals."""
    polkitd = polkit_world(h, {"60-test.rules": TOKEN_RULES}, others=("other",),
                           AllowUsers=LISTED_USER, AllowGroups=str(ALLOWED_GID))
    h.account = "demo"
    h.sign_in(account="demo")
    token, _ = h.get_token("demo")
    member = ensure_test_user()
    nobody_uid = pwd.getpwnam(NOBODY).pw_uid

    # AllowUsers: devauthctl as that user, through the fd and without
    for args in (["token", "demo"], ["token", "demo", "--no-fd"]):
        rc, out, err = ctl_as(h, LISTED_USER, *args)
        check_equal((rc, out), (0, token + "\n"),
                    f"devauthctl {' '.join(args)} as {LISTED_USER} (stderr {err!r})")
    # AllowGroups: a gid the caller's process has
    results = h.client(NOBODY, ops("GetToken", "GetTokenFd"), groups=[ALLOWED_GID])
    expect_results(results, ["ok", "ok"], f"{NOBODY} with gid {ALLOWED_GID}")
    check_equal([r["token"] for r in results], [token, token], "tokens for AllowGroups")

    # not listed, no rule: refused, in plain words from devauthctl
    rc, out, err = ctl_as(h, NOBODY, "token", "demo")
    check_equal((rc, out), (1, ""), f"devauthctl token as {NOBODY} (stderr {err!r})")
    check_plain_message(err, "not authorized")
    check(token not in err, "devauthctl's refusal shows the token")
    # every method: refused where it needs more, served where it is open
    results = h.client(NOBODY, ops("GetToken", "GetTokenFd", "Login", "CancelLogin", "Logout",
                                   "Refresh", "ListAccounts", "Properties"))
    expect_results(results, ["PermissionDenied"] * 6 + ["ok", "ok"], NOBODY)
    check_equal(results[7]["properties"]["State"], "signed-in", "State seen by nobody")
    for r in results[:6]:
        check(token not in r["message"], "an error message shows the token")

    # the polkit rule: a member of devauth-test-tokens, for demo only
    results = h.client(TEST_USER, ops("GetToken", "GetTokenFd") + ops("GetToken",
                                                                        account="other"))
    expect_results(results, ["ok", "ok", "PermissionDenied"], TEST_USER)
    check_equal([r["token"] for r in results[:2]], [token, token], "tokens by the polkit rule")

    # what polkit was asked: nothing for the callers [Access] lets in, the
    # details for the rest
    checks = polkit_checks(polkitd)
    users = {user for _, user, _, _ in checks}
    check(LISTED_USER not in users, f"polkit was asked about {LISTED_USER}: {checks}")
    for user, uid in ((NOBODY, nobody_uid), (TEST_USER, member.pw_uid)):
        mine = [c for c in checks if c[1] == user and c[0] == "org.devauth.get-token"]
        check(mine, f"polkit was not asked about {user}: {checks}")
        for _, _, account, app_id in mine:
            check(account in ("demo", "other"), f"account detail: {account}")
            check_equal(app_id, f"uid:{uid}", f"app-id detail for {user}")
    check(("org.devauth.get-token", TEST_USER, "other", f"uid:{member.pw_uid}") in checks,
          f"polkit did not see the account 'other': {checks}")
    # refused callers did not disturb the account
    check_equal(h.get_token("demo")[0], token, "root's token afterwards")
    check_equal(h.idp.stats()["counters"]["token_refresh"], 0, "refreshes")


def test_polkit_login(h):
    """Login/CancelLogin/Logout/Refresh: root, the example rules' group, refusals."""
    with open(EXAMPLE_RULES) as f:
        example = f.read()
    polkitd = polkit_world(h, {"50-devauth-admin.rules": example})
    h.account = "demo"

    # no agent, no rule: refused, for every sign-in method
    results = h.client(NOBODY, ops("Login", "CancelLogin", "Refresh", "Logout"))
    expect_results(results, ["PermissionDenied"] * 4, NOBODY)
    rc, out, err = ctl_as(h, NOBODY, "login", "demo")
    check_equal(rc, 1, f"devauthctl login as {NOBODY} (stdout {out!r}, stderr {err!r})")
    check_plain_message(err, "not authorized")
    check_equal(h.idp.stats()["counters"]["device_authorization"], 0,
                "device authorizations after refusals")

    # root: always
    prompt = h.login("demo")
    check(prompt.get("user-code"), f"root's Login prompt: {prompt}")
    h.cancel_login("demo")

    # a member of devauth-admin (the example rules): a whole sign-in with
    # devauthctl, then the other methods; tokens are not part of the rules
    proc = Process("devauthctl", [*as_user(TEST_USER), env_path("DEVAUTHCTL"), "login", "demo"],
                   env=h.ctl_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    h.add_cleanup(lambda: proc.stop())
    out, err = OutputReader(proc.popen.stdout), OutputReader(proc.popen.stderr)
    m = out.wait_for(r"enter the code\s+(\S+)", 15, "the code from devauthctl login")
    h.idp.approve(m.group(1), sub="admin")
    check_equal(proc.wait(20), 0, f"devauthctl login as {TEST_USER} (stdout {out.text()!r}, "
                                  f"stderr {err.text()!r})")
    check_equal(h.properties()["State"], "signed-in", "State after the member's sign-in")
    results = h.client(TEST_USER, ops("Refresh", "GetToken", "Logout", "Login", "CancelLogin"))
    expect_results(results, ["ok", "PermissionDenied", "ok", "ok", "ok"], TEST_USER)
    check(results[3]["prompt"].get("user-code"), f"the member's Login prompt: {results[3]}")
    check_equal(h.properties()["State"], "signed-out", "State after the member's logout")
    check(not re.search(r"error", polkitd.log(), re.I), f"polkitd log:\n{polkitd.log()}")


# ---------------------------------------------------------------- cgroups

USER_APPS = "user.slice/user-1000.slice/user@1000.service/app.slice"


def client_in_cgroup(h, cgroup, user, operations):
    """bus_client.py as USER, moved into CGROUP before its first call."""
    proc = h.start_client(user, [{"op": "wait-stdin"}, *operations])
    cgroup.add(proc.pid)
    with open(f"/proc/{proc.pid}/cgroup") as f:
        text = f.read()
    check(re.search(rf":/{re.escape(cgroup.relpath)}$", text, re.M),
          f"PID {proc.pid} is not in {cgroup.relpath}:\n{text}")
    return h.finish_client(proc)[1:]


def test_cgroup_units(h):
    """AllowUnits and AllowFlatpaks match by the caller's cgroup, nothing else."""
    polkitd = polkit_world(h, {"60-log.rules": LOG_RULE},
                           AllowUnits="kiosk-browser.service", AllowFlatpaks="com.example.TvApp")
    h.account = "demo"
    h.sign_in(account="demo")
    token, _ = h.get_token("demo")
    instance = 1000 + secrets.randbelow(90000)
    get = ops("GetToken", "GetTokenFd")

    unit = Cgroup(h, "system.slice/kiosk-browser.service")
    results = client_in_cgroup(h, unit, NOBODY, get)
    expect_results(results, ["ok", "ok"], "the client in kiosk-browser.service")
    check_equal([r["token"] for r in results], [token, token], "tokens for AllowUnits")

    flatpak = Cgroup(h, f"{USER_APPS}/app-flatpak-com.example.TvApp-{instance}.scope")
    results = client_in_cgroup(h, flatpak, NOBODY, get)
    expect_results(results, ["ok", "ok"], "the client in the Flatpak scope")
    check_equal([r["token"] for r in results], [token, token], "tokens for AllowFlatpaks")
    check(not [c for c in polkit_checks(polkitd) if c[0] == "org.devauth.get-token"],
          f"polkit was asked: {polkit_checks(polkitd)}")

    # the same client outside those cgroups; a user's service of the same
    # name (anyone can make one); another Flatpak
    expect_results(h.client(NOBODY, get), ["PermissionDenied"] * 2, "the client outside")
    user_unit = Cgroup(h, f"{USER_APPS}/kiosk-browser.service")
    expect_results(client_in_cgroup(h, user_unit, NOBODY, get), ["PermissionDenied"] * 2,
                   "a user service kiosk-browser.service")
    other = Cgroup(h, f"{USER_APPS}/app-flatpak-com.example.TvAppX-{instance}.scope")
    expect_results(client_in_cgroup(h, other, NOBODY, get), ["PermissionDenied"] * 2,
                   "the Flatpak com.example.TvAppX")
    app_ids = [c[3] for c in polkit_checks(polkitd) if c[0] == "org.devauth.get-token"]
    nobody_uid = pwd.getpwnam(NOBODY).pw_uid
    check_equal(app_ids, [f"uid:{nobody_uid}"] * 4 + ["com.example.TvAppX"] * 2,
                "app-id details polkit saw")
    for cgroup in (other, user_unit, flatpak, unit):
        cgroup.remove()
        check(not os.path.exists(cgroup.path), f"{cgroup.path} is still there")


# The attacker of test_pid_reuse, run as another user: it connects to the
# bus, sends GetToken, and forks a child that keeps the connection open; the
# process that connected (whose pid the bus reports) then exits, so that
# its pid can be given to a process of the allowed unit. The child reads
# the connection's socket raw (GDBus does not survive a fork) and prints
# "leaked" if the token comes back on it, "refused" if an error does.
PID_REUSE_ATTACKER = r"""
import os, sys, time
from gi.repository import Gio, GLib
token, address, account = sys.argv[1], sys.argv[2], sys.argv[3]
conn = Gio.DBusConnection.new_for_address_sync(
    address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
    Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
fd = conn.get_stream().get_socket().get_fd()
msg = Gio.DBusMessage.new_method_call("org.devauth.DeviceAuth1", "/org/devauth/DeviceAuth1",
                                      "org.devauth.DeviceAuth1.Manager", "GetToken")
msg.set_body(GLib.Variant("(sa{sv})", (account, {})))
conn.send_message(msg, Gio.DBusSendMessageFlags.NONE)
conn.flush_sync(None)
r, w = os.pipe()
if os.fork() == 0:
    os.close(r)
    os.write(w, b"x")
    seen = b""
    os.set_blocking(fd, False)
    end = time.monotonic() + float(sys.argv[4])
    while time.monotonic() < end:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        if not data:
            break
        seen += data
        if token.encode() in seen:
            print("leaked", flush=True)
            os._exit(0)
        if b"PermissionDenied" in seen or b"Error." in seen:
            print("refused", flush=True)
            os._exit(0)
    print("no-answer", flush=True)
    os._exit(0)
os.close(w)
os.read(r, 1)  # the child has the connection
print(os.getpid(), flush=True)
os._exit(0)
"""

# Run as root inside the allowed unit's cgroup: for each pid it reads, it
# makes the kernel give that pid to its next child (ns_last_pid), and the
# child, in the same cgroup, becomes the unit's user and waits.
PID_REUSE_SPAWNER = r"""
import os, sys, time
uid = int(sys.argv[1])
for line in sys.stdin:
    want = int(line)
    got = 0
    for _ in range(20):
        try:
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(want - 1))
        except OSError:
            pass
        pid = os.fork()
        if pid == 0:
            os.setresgid(uid, uid, uid)
            os.setgroups([])
            os.setresuid(uid, uid, uid)
            time.sleep(30)
            os._exit(0)
        if pid == want:
            got = pid
            break
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    print(got, flush=True)
"""


def test_pid_reuse(h):
    """PID reuse does not lend an allowed unit's identity: a caller of
    another uid whose connecting process exits (its connection held open by
    a child) so that its pid goes to a process of the unit in
    AllowUnits= gets no token, in 100 tries; the unit's own calls still get
    it. dbus-daemon 1.14 gives no ProcessFD, so devauthd checks that the
    process it pinned runs as the connection's uid."""
    victim_uid = pwd.getpwnam("daemon").pw_uid
    h.start_idp("--interval", "1")
    h.start_bus(public=True)
    h.start_daemon({"demo": harness.account_conf(h.idp.issuer) +
                    "[Access]\nAllowUnits=victim.service\n"})
    h.sign_in()
    token, _ = h.get_token()
    unit = Cgroup(h, "system.slice/victim.service")
    spawner = subprocess.Popen(["/usr/bin/python3", "-c", PID_REUSE_SPAWNER, str(victim_uid)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    h.add_cleanup(spawner.kill)
    unit.add(spawner.pid)
    # the unit itself gets its token
    expect_results(client_in_cgroup(h, unit, "daemon", ops("GetToken")), ["ok"],
                   "the unit's own call")

    tries = reused = 0
    outcomes = {}
    nobody = pwd.getpwnam(NOBODY).pw_uid
    daemon_pid = h.daemon.proc.pid
    while tries < 100:
        tries += 1
        os.kill(daemon_pid, signal.SIGSTOP)
        try:
            attacker = subprocess.Popen(
                ["/usr/bin/python3", "-c", PID_REUSE_ATTACKER, token, h.bus.address, "demo",
                 "10"], user=nobody, group=nobody, extra_groups=[],
                stdout=subprocess.PIPE, text=True)
            h.add_cleanup(attacker.kill)
            pid = int(attacker.stdout.readline())
            attacker.wait(10)  # reaped: its pid is free
            spawner.stdin.write(f"{pid}\n")
            spawner.stdin.flush()
            got = int(spawner.stdout.readline())
        finally:
            os.kill(daemon_pid, signal.SIGCONT)
        outcome = attacker.stdout.readline().strip()
        if got == pid:
            reused += 1
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            try:
                os.kill(got, signal.SIGKILL)
            except ProcessLookupError:
                pass
    print(f"pid reuse: {tries} tries, {reused} with the pid reused, outcomes {outcomes}")
    check(reused >= 50, f"the pid was reused in only {reused} of {tries} tries")
    check_equal(outcomes.get("leaked", 0), 0, f"tokens leaked ({outcomes})")
    check_equal(outcomes, {"refused": reused}, "what the attacker got")
    check(h.daemon.proc.poll() is None, "devauthd died")


# ---------------------------------------------------------------- limits

RATE = 5  # TokenRequestsPerSecond; bursts of twice that


def test_rate_limit(h):
    """A flooding caller is slowed down, others are served; polkit checks and
    sign-ins per caller are capped; the daemon lives on."""
    import bus_client

    others = [f"extra{i}" for i in range(5)]
    polkit_world(h, {}, others=others, daemon_settings={"TokenRequestsPerSecond": str(RATE)})
    h.account = "demo"
    h.sign_in(account="demo")
    token, _ = h.get_token("demo")

    # one caller, 120 GetToken at once (the bus lets a connection wait on
    # 128 replies): a burst of 2 × RATE, then RATE a second
    flooder = h.bus.connect()
    start = time.monotonic()
    counts = bus_client.flood(flooder, "demo", 120)
    elapsed = time.monotonic() - start
    served, limited = counts.get("ok", 0), counts.get(ERROR_PREFIX + "RateLimited", 0)
    check_equal(served + limited, 120, f"answers to the flood: {counts}")
    check(2 * RATE <= served <= 2 * RATE + RATE * elapsed + 1,
          f"{served} of 120 served in {elapsed:.2f} s at {RATE}/s: {counts}")
    # another caller meanwhile, even of the same uid: served at once
    second = h.bus.connect()
    for _ in range(2 * RATE):
        check_equal(h.get_token("demo", connection=second)[0], token, "the second caller's token")
    # and the flooder again after a pause
    time.sleep(2.5 / RATE)
    check_equal(h.get_token("demo", connection=flooder)[0], token, "the flooder after a pause")
    # GetTokenFd counts the same
    counts = bus_client.flood(second, "demo", 30, method="GetTokenFd")
    check(counts.get(ERROR_PREFIX + "RateLimited", 0) >= 15, f"GetTokenFd flood: {counts}")

    # polkit checks: 8 at once per caller; the rest are refused at once
    (result,) = h.client(NOBODY, [{"op": "flood", "method": "Login", "account": "demo",
                                   "count": 40}])
    counts = result["counts"]
    check_equal(set(counts) - {DENIED, ERROR_PREFIX + "RateLimited"}, set(),
                f"answers to a refused caller's Login flood: {counts}")
    check(counts.get(ERROR_PREFIX + "RateLimited", 0) > 0, f"no polkit check was refused: {counts}")
    check(counts.get(DENIED, 0) >= 8, f"polkit answered fewer than 8: {counts}")

    # four sign-ins per caller at once
    results = h.client(0, [{"op": "Login", "account": a} for a in others])
    expect_results(results, ["ok"] * 4 + ["RateLimited"], "five Login calls of one caller")
    # its sign-ins ended with it
    for a in others[:4]:
        wait_until(lambda a=a: h.properties(a)["State"] == "signed-out", 10,
                   f"the sign-in of {a} to be cancelled")

    check(h.daemon.proc.poll() is None, "devauthd died")
    check_equal(len(h.list_accounts()), 6, "accounts")
    check_equal(h.get_token("demo")[0], token, "the token at the end")


# ---------------------------------------------------------------- malformed input

# beyond test_config.BAD_NAMES: more shapes, and every method that takes a name
MORE_BAD_NAMES = ["../x", "a b", "a" * 65, " demo", "demo ", "demo\n", "a\tb", "demo\x7f",
                  "%2e%2e", "\u202edemo", "a" * 100000, "demo;rm", "de:mo", "demo\\"]
# how much of a caller's input an error message may echo back
MESSAGE_MAX = 512


def dict_entries(*pairs):
    """a{sv} with the entries as given (keys may repeat)."""
    return GLib.Variant.new_array(GLib.VariantType("{sv}"), [
        GLib.Variant.new_dict_entry(GLib.Variant("s", k), GLib.Variant("v", v))
        for k, v in pairs])


def test_malformed_input(h):
    """Bad names, bad options, bad signatures: InvalidArgument (or the bus's
    own error), at once, with short messages; nothing reaches the network."""
    # an "IdP" that only counts connections: none may come
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    h.add_cleanup(listener.close)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    issuer = f"http://127.0.0.1:{listener.getsockname()[1]}"
    h.start_daemon({"demo": account_conf(issuer)})

    def raw(method, signature, args, reply=None, path=harness.MANAGER_PATH,
            iface=harness.MANAGER_IFACE):
        params = GLib.Variant(signature, args) if signature else None
        return h.call(method, params, reply, path=path, iface=iface)

    def expect(name, fn, *args, what, message_max=MESSAGE_MAX):
        try:
            fn(*args)
        except DBusCallError as e:
            error = e
        else:
            raise harness.TestFailure(f"{what} succeeded; expected {name}")
        check(error.name == name, f"{what}: expected {name}, got {error.name}: "
                                  f"{error.message[:200]}")
        check(len(error.message) <= message_max,
              f"{what}: a message of {len(error.message)} characters: {error.message[:200]}…")

    invalid = ERROR_PREFIX + "InvalidArgument"
    opts0 = {}
    for name in MORE_BAD_NAMES:
        what = f"name {name[:20]!r}{'…' if len(name) > 20 else ''}"
        for method in ("GetToken", "GetTokenFd", "Login"):
            expect(invalid, raw, method, "(sa{sv})", (name, opts0), what=f"{method}, {what}")
        for method in ("CancelLogin", "Logout", "Refresh"):
            expect(invalid, raw, method, "(s)", (name,), what=f"{method}, {what}")
    # 64 characters is a name; 65 is not
    expect(ERROR_PREFIX + "NoSuchAccount", raw, "GetToken", "(sa{sv})", ("a" * 64, opts0),
           what="a name of 64 characters")

    # options of the wrong type, unknown, empty, repeated, nested, huge
    bad_options = {
        "min-validity as s": {"min-validity": GLib.Variant("s", "30")},
        "min-validity as i": {"min-validity": GLib.Variant("i", 30)},
        "min-validity as t": {"min-validity": GLib.Variant("t", 30)},
        "min-validity as v": {"min-validity": GLib.Variant("v", GLib.Variant("u", 30))},
        "min-validity as au": {"min-validity": GLib.Variant("au", [30])},
        "min-validity too large": {"min-validity": GLib.Variant("u", 0xFFFFFFFF)},
        "an empty key": {"": GLib.Variant("u", 30)},
        "an unknown key": {"frobnicate": GLib.Variant("b", True)},
        "a huge key": {"k" * 1000000: GLib.Variant("u", 1)},
        "a huge value": {"min-validity": GLib.Variant("s", "9" * 1000000)},
        "deep nesting": {"min-validity": nested_variant(60)},
    }
    bad_options = {what: GLib.Variant("a{sv}", o) for what, o in bad_options.items()}
    # (parsed from text: PyGObject takes seconds to build it)
    bad_options["50000 entries"] = GLib.Variant.parse(
        GLib.VariantType("a{sv}"),
        "{" + ", ".join(f"'opt{i}': <uint32 {i}>" for i in range(50000)) + "}", None, None)
    for what, options in bad_options.items():
        # the name of an unknown option comes back in the message (no more)
        longest_key = max(len(k) for k in options.keys())
        params = GLib.Variant.new_tuple(GLib.Variant("s", "demo"), options)
        for method in ("GetToken", "GetTokenFd", "Login"):
            expect(invalid, h.call, method, params, what=f"{method} with {what}",
                   message_max=MESSAGE_MAX + longest_key)
    repeated = dict_entries(("min-validity", GLib.Variant("u", 10)),
                            ("min-validity", GLib.Variant("u", 0xFFFFFFFF)))
    for method in ("GetToken", "GetTokenFd"):
        expect(invalid, lambda m=method: h.call(
            m, GLib.Variant.new_tuple(GLib.Variant("s", "demo"), repeated)),
            what=f"{method} with a repeated key")
    # a good option on a signed-out account gets as far as NotSignedIn
    expect(ERROR_PREFIX + "NotSignedIn", raw, "GetToken", "(sa{sv})",
           ("demo", {"min-validity": GLib.Variant("u", 30)}), what="GetToken, good options")

    # the wrong signatures, methods and properties: GDBus answers for the daemon
    dbus_invalid = "org.freedesktop.DBus.Error.InvalidArgs"
    expect(dbus_invalid, raw, "GetToken", "(s)", ("demo",), what="GetToken(s)")
    expect(dbus_invalid, raw, "GetToken", "(sa{ss})", ("demo", {"a": "b"}), what="GetToken(sa{ss})")
    expect(dbus_invalid, raw, "Login", "(u)", (1,), what="Login(u)")
    expect(dbus_invalid, raw, "Logout", None, None, what="Logout()")
    expect("org.freedesktop.DBus.Error.UnknownMethod", raw, "Frobnicate", "(s)", ("demo",),
           what="an unknown method")
    account_path = h.account_path("demo")
    for prop, value in (("State", GLib.Variant("s", "signed-in")),
                        ("Issuer", GLib.Variant("s", "https://evil.example"))):
        try:
            h.call("Set", GLib.Variant("(ssv)", (harness.ACCOUNT_IFACE, prop, value)),
                   path=account_path, iface="org.freedesktop.DBus.Properties")
        except DBusCallError as e:
            check(e.name.startswith("org.freedesktop.DBus.Error."), f"Set {prop}: {e.name}")
        else:
            raise harness.TestFailure(f"Set {prop} succeeded")
    check_equal(h.properties("demo")["State"], "signed-out", "State after the attempts")
    check_equal(h.properties("demo")["Issuer"], issuer, "Issuer after the attempts")

    # alive, and nothing went to the network
    check(h.daemon.proc.poll() is None, "devauthd died")
    check_equal([n for n, _ in h.list_accounts()], ["demo"], "accounts")
    try:
        listener.accept()
    except BlockingIOError:
        pass
    else:
        raise harness.TestFailure("devauthd connected to the issuer")
    log = h.daemon.log()
    for word in ("CRITICAL", "WARNING", "ERROR"):
        check(word not in log, f"devauthd logged a {word}:\n{log[-3000:]}")
    check(len(log) < 200000, f"devauthd logged {len(log)} bytes for bad calls")


def nested_variant(depth):
    v = GLib.Variant("u", 30)
    for _ in range(depth):
        v = GLib.Variant("v", v)
    return v


# ---------------------------------------------------------------- secrets

MESSAGE_START = re.compile(r"^(method call|method return|error|signal) ", re.M)


def monitor_messages(text):
    """dbus-monitor's text: [(kind, header fields, whole text)]."""
    starts = [m.start() for m in MESSAGE_START.finditer(text)] + [len(text)]
    out = []
    for a, b in zip(starts, starts[1:]):
        block = text[a:b]
        header = block.split("\n", 1)[0]
        kind = MESSAGE_START.match(block).group(1)
        fields = dict(re.findall(r"(\w+)=([^\s;]+)", header))
        out.append((kind, fields, block))
    return out


def read_key_token(h, description):
    key = h.daemon.key_id(description)
    check(key is not None, f"no key {description}")
    rc, out, err = run_process(["keyctl", "pipe", key], timeout=10)
    check_equal(rc, 0, f"keyctl pipe {key} ({err!r})")
    m = re.search(r"^token=(.+)$", out, re.M)
    check(m, f"key {description} holds no token= line")
    return m.group(1)


def fingerprint(token):
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:8]


def windows(secret, size=16):
    """Every SIZE-character piece of a secret: a leak of part of it is a leak."""
    return {secret[i:i + size] for i in range(0, max(len(secret) - size, 0) + 1)}


NO_PTRACE = ["setpriv", "--bounding-set", "-sys_ptrace", "--"]


def test_secrets(h):
    """Tokens never in the log (debug on), on the bus (but in GetToken's
    reply) or in GetTokenFd's reply; the daemon is not dumpable and ignores
    G_DBUS_DEBUG."""
    h.start_idp("--interval", "1", "--rotate-refresh")
    h.start_bus()
    monitor_log = os.path.join(h.tmp, "dbus-monitor.log")
    with open(monitor_log, "w") as f:
        monitor = Process("dbus-monitor", ["dbus-monitor", "--address", h.bus.address],
                          stdout=f, stderr=subprocess.STDOUT)
    h.add_cleanup(monitor.stop)

    def monitoring():
        with open(monitor_log) as f:
            return "NameLost" in f.read()

    wait_until(monitoring, 10, "dbus-monitor to become a monitor")
    h.start_daemon(start=False)
    h.daemon.extra_env = {"G_DBUS_DEBUG": "all"}
    # without CAP_SYS_PTRACE (for the check below); it needs none
    h.daemon.wrapper = list(NO_PTRACE)
    h.daemon.start()

    # a whole life: sign-in, tokens both ways, refresh, the CLI, logout
    h.sign_in()
    first, _ = h.get_token()
    fd, _ = h.get_token_fd()
    try:
        check_equal(os.read(fd, 65536).decode(), first, "the token in the memfd")
    finally:
        os.close(fd)
    refresh_tokens = [read_key_token(h, "devauthd:demo:refresh")]
    h.refresh()
    second, _ = h.get_token()
    refresh_tokens.append(read_key_token(h, "devauthd:demo:refresh"))
    check(second != first, "Refresh gave the same access token")
    check(refresh_tokens[1] != refresh_tokens[0], "the refresh token did not rotate")
    # the CLI through devauthd's Varlink socket (nothing on the bus), then
    # through the bus (GetTokenFd)
    rc, out, err = h.ctl("token")
    check_equal((rc, out), (0, second + "\n"), f"devauthctl token ({err!r})")
    rc, out, err = run_process([env_path("DEVAUTHCTL"), "token"], timeout=30,
                               env={**h.ctl_env(), "DEVAUTH_VARLINK_SOCKET": ""})
    check_equal((rc, out), (0, second + "\n"), f"devauthctl token on the bus ({err!r})")

    # not dumpable: a process of the same uid and capabilities, but without
    # CAP_SYS_PTRACE, cannot open its memory; it can open that of a
    # dumpable one (the control: the same command as another process)
    control = Process("sleep", [*NO_PTRACE, "sleep", "30"])
    h.add_cleanup(control.stop)
    # (setpriv execs it: until then it has CAP_SYS_PTRACE)
    wait_until(lambda: os.readlink(f"/proc/{control.pid}/exe").endswith("/sleep"), 5,
               "the control process to run sleep")
    for pid, dumpable in ((control.pid, True), (h.daemon.proc.pid, False)):
        rc, _, err = run_process([*NO_PTRACE, "dd", f"if=/proc/{pid}/mem", "count=0",
                                  "status=none"], timeout=10)
        if dumpable:
            check_equal(rc, 0, f"opening a dumpable process's memory ({err!r})")
        else:
            check(rc != 0 and "Permission denied" in err,
                  f"devauthd's memory can be opened without CAP_SYS_PTRACE ({rc}, {err!r})")
    control.stop()

    h.logout()
    check_equal(h.daemon.key_id("devauthd:demo:refresh"), None, "refresh key after logout")
    check_equal(h.daemon.stop(), 0, "devauthd's exit status")
    monitor.stop()
    with open(monitor_log, errors="replace") as f:
        captured = f.read()

    secrets_ = {"the first access token": first, "the second access token": second,
                "the first refresh token": refresh_tokens[0],
                "the second refresh token": refresh_tokens[1]}
    log = h.daemon.log()
    check(fingerprint(first) in log or fingerprint(second) in log,
          "the log names no token by its fingerprint (is debug logging on?)")
    check("GDBus-debug" not in log, "devauthd honoured G_DBUS_DEBUG")
    for what, secret in secrets_.items():
        for piece in windows(secret):
            check(piece not in log, f"the log shows {what} (…{piece}…)")

    # the monitor saw everything: only GetToken's replies carry a token
    messages = monitor_messages(captured)
    calls = {(f.get("sender"), f.get("serial")): f.get("member")
             for kind, f, _ in messages if kind == "method call"}
    replies = {}
    for kind, f, block in messages:
        member = calls.get((f.get("destination"), f.get("reply_serial")))
        if kind == "method return":
            replies.setdefault(member, []).append(block)
        for what, secret in secrets_.items():
            hit = [p for p in windows(secret) if p in block]
            if not hit:
                continue
            check(kind == "method return" and member == "GetToken" and "refresh" not in what,
                  f"{what} crossed the bus in a {kind} (reply to {member}):\n{block[:2000]}")
    check(any(first in b for b in replies.get("GetToken", [])),
          "the monitor did not see GetToken's reply with the token (is it monitoring?)")
    check(len(replies.get("GetTokenFd", [])) >= 2,
          f"the monitor saw {len(replies.get('GetTokenFd', []))} replies to GetTokenFd")

    # G_DBUS_DEBUG does print message dumps in a GDBus program (the control)
    rc, out, err = run_process(
        ["/usr/bin/python3", "-c", "from gi.repository import Gio; "
         "Gio.bus_get_sync(Gio.BusType.SYSTEM, None)"], timeout=20,
        env={**h.ctl_env(), "G_DBUS_DEBUG": "message"})
    check("GDBus-debug" in out + err, f"G_DBUS_DEBUG prints nothing here ({rc}): {out!r} {err!r}")


# ---------------------------------------------------------------- bus policy


def test_bus_policy(h):
    """Only root (and the user devauthd) may own the name; everyone may call."""
    h.start_bus(public=True)
    replace = 0x2  # DBUS_NAME_FLAG_REPLACE_EXISTING
    # a free name: refused to other users, as devauthd would be
    for user in (NOBODY, LISTED_USER, TEST_USER):
        (result,) = h.client(user, [{"op": "own", "name": harness.BUS_NAME}])
        check_equal(result.get("error"), "org.freedesktop.DBus.Error.AccessDenied",
                    f"RequestName as {user}: {result}")
    check_equal(h.bus.name_owner(), None, "owner after the refusals")
    (result,) = h.client(0, [{"op": "own", "name": harness.BUS_NAME}])
    check_equal(result, {"reply": 1}, "RequestName as root (1: primary owner)")

    # with devauthd running: not taken over, called by anyone
    h.start_daemon({"demo": account_conf("http://127.0.0.1:9")})
    owner = h.bus.name_owner()
    results = h.client(NOBODY, [{"op": "own", "name": harness.BUS_NAME, "flags": replace},
                                {"op": "ListAccounts"}])
    check_equal(results[0].get("error"), "org.freedesktop.DBus.Error.AccessDenied",
                f"RequestName with replace as {NOBODY}: {results[0]}")
    check_equal(results[1].get("accounts"), [["demo", h.account_path("demo")]],
                f"ListAccounts as {NOBODY}")
    check_equal(h.bus.name_owner(), owner, "owner after the attempts")


def test_no_polkit(h):
    """With no polkitd on the bus: root and [Access] as usual, the rest refused."""
    h.start_bus(public=True)
    h.start_daemon({"demo": access_conf("http://127.0.0.1:9", AllowUsers=LISTED_USER)})
    expect_results(h.client(LISTED_USER, ops("GetToken", "GetTokenFd")), ["NotSignedIn"] * 2,
                   LISTED_USER)
    results = h.client(NOBODY, ops("GetToken", "GetTokenFd", "Login", "CancelLogin", "Logout",
                                   "Refresh", "ListAccounts"))
    check_equal(results[-1].get("accounts"), [["demo", h.account_path("demo")]],
                f"ListAccounts as {NOBODY}")
    for result in results[:-1]:
        # polkit is asked, and it is not there: refused, and told why
        check_equal(result.get("error"), DENIED, f"{NOBODY} without polkit: {result}")
        check("polkit is not available" in result.get("message", ""),
              f"{NOBODY} without polkit, the message: {result}")
    h.expect_error("NotSignedIn", h.get_token, "demo")
    check(h.daemon.proc.poll() is None, "devauthd died")
