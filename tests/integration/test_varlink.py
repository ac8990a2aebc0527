"""GetToken over devauthd's Varlink socket: devauthctl token, who may, the
protocol and its limits, and the fall back to the bus.

The socket is the daemon's (harness.Daemon.varlink_socket, in a runtime
directory every uid can reach, like /run/devauthd). Where a check must prove
that the token came through the socket, devauthctl gets a bus address that
leads nowhere.
"""

import json
import os
import pwd
import signal
import socket
import subprocess
import time

import harness
from harness import (ERROR_PREFIX, TEST_USER, as_user, check, check_equal, env_path,
                     ensure_test_user, run_process, wait_until)
from test_access import LOG_RULE, NOBODY, polkit_checks, polkit_world
from test_config import check_plain_message

IFACE = harness.wire_names.VARLINK_INTERFACE
# devauthd's limits (daemon/da-varlink.h)
CONNECTIONS_PER_UID_MAX = 16
REQUEST_MAX = 16 * 1024
IDLE_TIMEOUT = 10
WRITE_TIMEOUT = 5


class Varlink:
    """A raw Varlink connection: JSON messages, each ended by a NUL."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, method, parameters=None, **flags):
        msg = {"method": method, **flags}
        if parameters is not None:
            msg["parameters"] = parameters
        self.send_raw(json.dumps(msg).encode() + b"\0")

    def recv(self):
        """The next message, or None at the end of the stream."""
        while b"\0" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                check_equal(self.buf, b"", "bytes before the end of the stream")
                return None
            self.buf += data
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, parameters=None):
        self.send(method, parameters)
        reply = self.recv()
        check(reply is not None, f"no reply to {method}: the connection was closed")
        return reply

    def closed(self):
        """True once the daemon closed the connection (no message came first)."""
        try:
            return self.recv() is None
        except (ConnectionResetError, BrokenPipeError):
            return True


def socket_env(h):
    """devauthctl's environment with a bus that leads nowhere: only the
    socket can answer."""
    env = h.ctl_env()
    env["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent"
    return env


def ctl_socket(h, *args, user=None):
    prefix = as_user(user) if user is not None else []
    return run_process([*prefix, env_path("DEVAUTHCTL"), *args], timeout=30, env=socket_env(h))


def check_error(reply, name, what):
    check(reply.get("error") == name, f"{what}: expected the error {name}, got {reply}")


def test_token(h):
    """devauthctl token through the socket: the bus's token, the bus's
    errors in the same words, and no IdP traffic for a cached token."""
    h.setup("--interval", "1")
    check(os.path.exists(h.daemon.varlink_socket), "devauthd made no Varlink socket")
    check_equal(os.stat(h.daemon.varlink_socket).st_mode & 0o777, 0o666, "the socket's mode")

    # errors: the same exit status and message as through the bus (--no-fd
    # always goes through the bus)
    def same_error(args, needle):
        rc, out, err = ctl_socket(h, *args)
        check_equal((rc, out), (1, ""), f"devauthctl {' '.join(args)} through the socket ({err!r})")
        check_plain_message(err, needle)
        bus = h.ctl(*args, "--no-fd")
        check_equal((rc, out, err), bus, f"devauthctl {' '.join(args)}: socket vs bus")

    same_error(["token"], "not signed in")
    same_error(["token", "nosuch"], "no account 'nosuch'")
    same_error(["token", "../x"], "not a valid account name")
    same_error(["token", "--min-validity", "3601"], "at most 3600")

    h.sign_in()
    token, info = h.get_token()
    before = h.idp.stats()["counters"]
    for args in (["token"], ["token", "demo"], ["token", "--min-validity", "10"],
                 ["token", "--min-validity=0", "demo"]):
        rc, out, err = ctl_socket(h, *args)
        check_equal((rc, out, err), (0, token + "\n", ""), f"devauthctl {' '.join(args)}")
    after = h.idp.stats()["counters"]
    check_equal(after, before, "IdP requests for cached tokens")

    # what a Varlink caller gets beside the token
    v = Varlink(h.daemon.varlink_socket)
    reply = v.call(f"{IFACE}.GetToken", {"account": "demo", "minValidity": 5})
    params = reply.get("parameters", {})
    check_equal(params.get("token"), token, "token")
    check_equal(params.get("expiresAt"), info["expires-at"], "expiresAt vs the bus's expires-at")
    check_equal(params.get("tokenType"), info["token-type"], "tokenType")
    check_equal(params.get("scope"), info.get("scope"), "scope")
    # several calls on one connection
    for _ in range(3):
        check_equal(v.call(f"{IFACE}.GetToken", {})["parameters"]["token"], token, "again")
    v.close()

    # a token that must stay valid longer than it has left: one refresh,
    # then the new token (on the bus too)
    rc, out, err = ctl_socket(h, "token", "--min-validity", "3600")
    check_equal(rc, 0, f"devauthctl token --min-validity 3600 ({err!r})")
    check(out != token + "\n", "no fresh token for a longer validity")
    check_equal(h.idp.stats()["counters"]["token_refresh"], before["token_refresh"] + 1,
                "refreshes for --min-validity 3600")
    check_equal(h.get_token()[0] + "\n", out, "the bus's token after the refresh")


def test_polkit(h):
    """Callers on the socket are authorized as on the bus: [Access], then
    polkit asked about the calling process."""
    rules = LOG_RULE + """\
polkit.addRule(function (action, subject) {
    if (action.id == "org.devauth.get-token" && action.lookup("account") == "demo" &&
        subject.user == "%s") {
        return polkit.Result.YES;
    }
});
""" % TEST_USER
    polkitd = polkit_world(h, {"60-test.rules": rules}, others=("other",),
                           AllowUsers="daemon")
    member = ensure_test_user()
    h.account = "demo"
    h.sign_in(account="demo")
    token, _ = h.get_token("demo")

    # [Access]: no polkit
    rc, out, err = ctl_socket(h, "token", "demo", user="daemon")
    check_equal((rc, out), (0, token + "\n"), f"token as daemon ({err!r})")
    # the polkit rule, for demo only
    rc, out, err = ctl_socket(h, "token", "demo", user=TEST_USER)
    check_equal((rc, out), (0, token + "\n"), f"token as {TEST_USER} ({err!r})")
    rc, out, err = ctl_socket(h, "token", "other", user=TEST_USER)
    check_equal((rc, out), (1, ""), f"token of other as {TEST_USER} ({err!r})")
    check_plain_message(err, "not authorized")
    # nobody: refused
    rc, out, err = ctl_socket(h, "token", "demo", user=NOBODY)
    check_equal((rc, out), (1, ""), f"token as {NOBODY} ({err!r})")
    check_plain_message(err, "not authorized")
    check(token not in err, "the refusal shows the token")

    checks = polkit_checks(polkitd)
    check("daemon" not in {c[1] for c in checks}, f"polkit was asked about daemon: {checks}")
    for user, account in ((TEST_USER, "demo"), (TEST_USER, "other"), (NOBODY, "demo")):
        uid = pwd.getpwnam(user).pw_uid
        check(("org.devauth.get-token", user, account, f"uid:{uid}") in checks,
              f"polkit was not asked about {user} for {account}: {checks}")
    check_equal(h.idp.stats()["counters"]["token_refresh"], 0, "refreshes")
    check_equal(member.pw_name, TEST_USER, "the test user")


def test_protocol(h):
    """org.varlink.service, bad requests, limits: clear errors, and the daemon
    serves on."""
    h.setup("--interval", "1", daemon_settings={"TokenRequestsPerSecond": "5"})
    h.sign_in()
    token, _ = h.get_token()
    path = h.daemon.varlink_socket
    v = Varlink(path)

    info = v.call("org.varlink.service.GetInfo")["parameters"]
    check_equal(info.get("product"), "devauthd", "GetInfo product")
    check_equal(info.get("interfaces"), ["org.varlink.service", IFACE], "GetInfo interfaces")
    desc = v.call("org.varlink.service.GetInterfaceDescription", {"interface": IFACE})
    text = desc["parameters"]["description"]
    check(f"interface {IFACE}" in text and "method GetToken(" in text, f"description: {text}")
    check_error(v.call("org.varlink.service.GetInterfaceDescription", {"interface": "x.y"}),
                "org.varlink.service.InterfaceNotFound", "description of x.y")
    check_error(v.call(f"{IFACE}.Logout", {}), "org.varlink.service.MethodNotFound", "Logout")
    check_error(v.call("com.example.Nope.Do", {}), "org.varlink.service.InterfaceNotFound",
                "another interface")
    for params, bad in (({"acount": "demo"}, "acount"), ({"account": 5}, "account"),
                        ({"minValidity": "10"}, "minValidity"), ({"minValidity": 1.5}, "minValidity"),
                        ({"x" * 20000: 1}, "x" * 256)):
        reply = v.call(f"{IFACE}.GetToken", params)
        check_error(reply, "org.varlink.service.InvalidParameter", f"GetToken {str(params)[:40]}")
        check_equal(reply["parameters"].get("parameter"), bad, "the bad parameter's name")
    reply = v.call(f"{IFACE}.GetToken", {"minValidity": -1})
    check_error(reply, f"{IFACE}.InvalidArgument", "minValidity -1")
    check_error(v.call(f"{IFACE}.GetToken", {"account": "nosuch"}), f"{IFACE}.NoSuchAccount",
                "an unknown account")
    # oneway: no answer; pipelined: the answers in order
    v.send(f"{IFACE}.GetToken", {}, oneway=True)
    v.send_raw(b"".join(json.dumps({"method": m}).encode() + b"\0"
                        for m in ("org.varlink.service.GetInfo", f"{IFACE}.GetToken")))
    check("vendor" in v.recv()["parameters"], "first pipelined answer")
    check_equal(v.recv()["parameters"]["token"], token, "second pipelined answer")

    # not Varlink: an error, then the connection is closed
    for junk in (b"{\"method\": \0", b"[1,2]\0", b"\xff\xfe\0", b"{\"parameters\":{}}\0"):
        w = Varlink(path)
        w.send_raw(junk)
        reply = w.recv()
        check_error(reply, f"{IFACE}.InvalidArgument", f"the request {junk!r}")
        check(w.closed(), f"the connection after {junk!r} stays open")
        w.close()
    # what json-glib would read wrong: a request deeper than its parser
    # should recurse, and an account cut at its \u0000 ("demo\u0000x" as "demo")
    for junk, why in ((b'{"method":"x","parameters":' + b"[" * 8000 + b"\0", "nested too deeply"),
                      (b'{"method":"' + IFACE.encode() + b'.GetToken",'
                       b'"parameters":{"account":"demo\\u0000x"}}\0', "\\u0000")):
        w = Varlink(path)
        w.send_raw(junk)
        reply = w.recv()
        check_error(reply, f"{IFACE}.InvalidArgument", f"the request {junk[:50]!r}")
        check(why in reply["parameters"].get("message", ""), f"the reply to {junk[:50]!r}: {reply}")
        check(w.closed(), f"the connection after {junk[:50]!r} stays open")
        w.close()
    # a request without its end, larger than the limit
    w = Varlink(path)
    try:
        w.send_raw(b"{\"method\":\"" + b"a" * (REQUEST_MAX + 10))
    except (BrokenPipeError, ConnectionResetError):
        pass
    reply = w.recv()
    check_error(reply, f"{IFACE}.InvalidArgument", "an oversized request")
    check("larger than" in reply["parameters"]["message"], f"oversized: {reply}")
    check(w.closed(), "the connection after an oversized request stays open")
    w.close()

    # the rate: bursts of twice TokenRequestsPerSecond per uid, whatever the connection
    time.sleep(1)
    answers = []
    for i in range(20):
        c = Varlink(path)
        answers.append(c.call(f"{IFACE}.GetToken", {}).get("error", "ok"))
        c.close()
    check(answers[:8] == ["ok"] * 8, f"answers to a burst: {answers}")
    check(f"{IFACE}.RateLimited" in answers, f"a burst of 20 was not slowed down: {answers}")
    # the bus front keeps its own count
    check_equal(h.get_token()[0], token, "GetToken on the bus during the burst")

    # one connection per call, in a loop (devauthctl token in a script): the
    # ones already closed never count against the limit
    for i in range(3 * CONNECTIONS_PER_UID_MAX):
        c = Varlink(path)
        check("parameters" in c.call("org.varlink.service.GetInfo"), f"call {i} of a loop")
        c.close()

    # connections: 16 per uid; the 17th is closed at once, the others serve on
    v.close()
    # (the daemon sees v's end before it answers on a connection made after it)
    conns = [Varlink(path)]
    check("parameters" in conns[0].call("org.varlink.service.GetInfo"), "a first connection")
    conns += [Varlink(path) for _ in range(CONNECTIONS_PER_UID_MAX - 1)]
    extra = Varlink(path)
    check(extra.closed(), "a 17th connection of one uid stays open")
    extra.close()
    for i, c in enumerate(conns):
        reply = c.call("org.varlink.service.GetInfo")
        check("parameters" in reply, f"connection {i} within the limit: {reply}")
        c.close()
    # idle connections are closed; freed, the slots take new ones
    idle = Varlink(path, timeout=IDLE_TIMEOUT * 3)
    start = time.monotonic()
    check(idle.closed(), "an idle connection stays open")
    waited = time.monotonic() - start
    check(IDLE_TIMEOUT - 1 <= waited <= IDLE_TIMEOUT * 2 + 5 * harness.SLOWDOWN,
          f"an idle connection was closed after {waited:.1f} s")
    idle.close()
    wait_until(lambda: "parameters" in Varlink(path).call("org.varlink.service.GetInfo"), 10,
               "a new connection to be served")

    check(h.daemon.proc.poll() is None, "devauthd died")
    time.sleep(1)
    rc, out, err = ctl_socket(h, "token")
    check_equal((rc, out), (0, token + "\n"), f"devauthctl token at the end ({err!r})")


# A slowloris client of one uid: it keeps CONNECTIONS_PER_UID_MAX
# connections open (a closed one is opened again at once), sends GetToken on
# them as fast as they take it, and never reads a reply. At the end it
# prints, as JSON, how many connections it opened and how long the longest
# lived.
FLOODER = r"""
import json, socket, sys, time
path, n, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
request = json.dumps({"method": sys.argv[4] + ".GetToken", "parameters": {}}).encode() + b"\0"
conns = {}  # socket -> opened at
opened = 0
longest = 0.0
ready = False
end = time.monotonic() + hold
while time.monotonic() < end:
    while len(conns) < n:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except OSError:
            s.close()
            break
        conns[s] = time.monotonic()
        opened += 1
    if not ready:
        print("ready", flush=True)
        ready = True
    for s, since in list(conns.items()):
        try:
            s.send(request)
        except BlockingIOError:
            pass
        except OSError:
            longest = max(longest, time.monotonic() - since)
            del conns[s]
            s.close()
    time.sleep(0.02)
for s, since in conns.items():
    longest = max(longest, time.monotonic() - since)
print(json.dumps({"opened": opened, "longest": longest}), flush=True)
"""


def test_unread_pause(h):
    """A client that sends 200 requests at once and reads nothing: only a
    few are answered while it does not read (devauthd stops at 8 KiB of
    output unread; the socket's buffer would take 64 KiB, a few dozen
    answers), so that such a peer costs little work. Once it reads, the
    rest are answered: all 200, in order."""
    h.setup("--interval", "1")
    v = Varlink(h.daemon.varlink_socket)
    request = json.dumps({"method": "org.varlink.service.GetInfo"}).encode() + b"\0"
    v.send_raw(request * 200)
    time.sleep(1.0 * harness.SLOWDOWN)
    waiting = v.sock.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    answered = waiting.count(b"\0")
    print(f"answers made for a client that does not read: {answered} ({len(waiting)} bytes)")
    check(1 <= answered <= 16, f"{answered} answers ({len(waiting)} bytes) were made for a "
          f"client that reads none")
    for i in range(200):
        reply = v.recv()
        check(reply is not None and "vendor" in reply.get("parameters", {}),
              f"answer {i + 1} of 200: {reply}")


def test_slowloris(h):
    """Four uids of 16 connections each that send requests and never read
    the replies: each of their connections is closed within the write
    deadline, and root and the callers of [Access] are served all along
    from connections a flood cannot take."""
    h.start_idp("--interval", "1")
    h.start_bus()
    h.start_daemon({"demo": harness.account_conf(h.idp.issuer) + "[Access]\nAllowUsers=daemon\n"})
    h.sign_in()
    token, _ = h.get_token()
    path = h.daemon.varlink_socket

    def timed_token(user=None):
        start = time.monotonic()
        rc, out, err = ctl_socket(h, "token", user=user)
        check_equal((rc, out), (0, token + "\n"), f"devauthctl token as {user or 'root'} ({err!r})")
        return time.monotonic() - start

    quiet = sorted(timed_token() for _ in range(5))
    hold = 4 * WRITE_TIMEOUT * harness.SLOWDOWN
    flooders = []
    for i in range(4):
        proc = subprocess.Popen(["/usr/bin/python3", "-c", FLOODER, path,
                                 str(CONNECTIONS_PER_UID_MAX), str(hold), IFACE],
                                user=61001 + i, group=61001 + i, extra_groups=[],
                                stdout=subprocess.PIPE, text=True)
        h.add_cleanup(proc.kill)
        flooders.append(proc)
    for proc in flooders:
        check_equal(proc.stdout.readline().strip(), "ready", "a flooder's first line")
    # the floods hold every connection they may have, all along
    under_flood = []
    daemon_user = []
    deadline = time.monotonic() + hold - 2 * WRITE_TIMEOUT
    while time.monotonic() < deadline:
        under_flood.append(timed_token())
        daemon_user.append(timed_token(user="daemon"))
        time.sleep(0.3)
    results = []
    for proc in flooders:
        out, _ = proc.communicate(timeout=hold + 30)
        results.append(json.loads(out))
    print(f"root's devauthctl token: quiet median {quiet[2] * 1000:.1f} ms; under the flood "
          f"median {sorted(under_flood)[len(under_flood) // 2] * 1000:.1f} ms, "
          f"max {max(under_flood) * 1000:.1f} ms over {len(under_flood)} calls; "
          f"the daemon user's max {max(daemon_user) * 1000:.1f} ms; floods: {results}")
    check(len(under_flood) >= 5, f"only {len(under_flood)} calls under the flood")
    for i, r in enumerate(results):
        # a connection lives until its replies block, then WRITE_TIMEOUT
        check(r["longest"] <= WRITE_TIMEOUT + 3 * harness.SLOWDOWN,
              f"flooder {i}: a connection that never reads lived {r['longest']:.1f} s")
        check(r["opened"] > CONNECTIONS_PER_UID_MAX,
              f"flooder {i}: its connections were never closed ({r})")
    check(h.daemon.proc.poll() is None, "devauthd died")
    timed_token()  # served after the flood (it checks the token)


def test_fallback(h):
    """No socket, a stale socket, a socket closed mid-request: devauthctl
    goes through the bus. A devauthd that stops removes its socket."""
    h.setup("--interval", "1")
    h.sign_in()
    token, _ = h.get_token()
    path = h.daemon.varlink_socket

    # killed: the socket file stays behind, nobody listens; the bus has no devauthd
    h.daemon.proc.stop(signal.SIGKILL)
    h.daemon.proc = None
    check(os.path.exists(path), "the socket of a killed devauthd is gone")
    rc, out, err = h.ctl("token")
    check_equal((rc, out), (1, ""), f"devauthctl token with a stale socket ({err!r})")
    check_plain_message(err, "not running")

    # started again: the stale socket is replaced
    h.daemon.start()
    rc, out, err = ctl_socket(h, "token")
    check_equal((rc, out), (0, token + "\n"), f"devauthctl token after the restart ({err!r})")

    # stopped: no socket; a listener that hangs up: the bus answers
    h.daemon.stop()
    check(not os.path.exists(path), "devauthd left its socket behind")
    h.daemon.start()
    os.rename(path, path + ".real")
    hangup = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hangup.bind(path)
    hangup.listen(4)
    hangup.settimeout(10 * harness.SLOWDOWN)
    proc = subprocess.Popen([env_path("DEVAUTHCTL"), "token"], env=h.ctl_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    h.add_cleanup(lambda: proc.poll() is not None or proc.kill())
    conn, _ = hangup.accept()
    conn.recv(4096)
    conn.close()
    out, err = proc.communicate(timeout=30)
    check_equal((proc.returncode, out), (0, token + "\n"),
                f"devauthctl token after a hang-up ({err!r})")
    hangup.close()
    os.unlink(path)
    os.rename(path + ".real", path)
    rc, out, err = ctl_socket(h, "token")
    check_equal((rc, out), (0, token + "\n"), f"devauthctl token at the end ({err!r})")
