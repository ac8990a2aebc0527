"""Integration test harness for devauthd.

Every test gets its own world, built from real parts and torn down by PID:

- a temporary directory;
- the loopback identity provider of tests/idp (oidc-provider) with the
  options the test asks for;
- a private dbus-daemon of the system type that enforces the project's own
  bus policy (dbus/org.devauth.DeviceAuth1.conf);
- devauthd, with a generated configuration and a keyring name of its own
  inside root's user keyring, which is unlinked at the end.

Every wait is bounded, every process is started in a process group of its
own and stopped through it, and the first problem during teardown fails the
test (a daemon that does not exit 0 on SIGTERM is such a problem).

Runs on Debian's /usr/bin/python3 with python3-gi and the standard library.
"""

import errno
import fcntl
import grp
import json
import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

import wire_names  # noqa: E402 (common/da-names.h)

BUS_NAME = wire_names.BUS_NAME
MANAGER_PATH = wire_names.MANAGER_OBJECT_PATH
MANAGER_IFACE = wire_names.MANAGER_INTERFACE
ACCOUNT_IFACE = wire_names.ACCOUNT_INTERFACE
ERROR_PREFIX = wire_names.DBUS_ERROR_PREFIX

SOURCE_ROOT = os.environ.get(
    "SOURCE_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
IDP_DIR = os.path.join(SOURCE_ROOT, "tests", "idp")
BUS_CONF_TEMPLATE = os.path.join(SOURCE_ROOT, "tests", "data", "system-bus.conf.in")
BUS_POLICY = os.path.join(SOURCE_ROOT, "dbus", "org.devauth.DeviceAuth1.conf")
NPM_LOCK = "/tmp/devauthd-integration-npm.lock"

# Bounds of the waits that are not the subject of a test. A sanitizer build
# of devauthd is several times slower (ASan's allocator unwinds the stack of
# every malloc): tools/run-sanitizers sets DEVAUTH_TEST_SLOWDOWN to stretch
# these bounds, never the timings a test asserts.
SLOWDOWN = max(1.0, float(os.environ.get("DEVAUTH_TEST_SLOWDOWN", "1")))
START_TIMEOUT = 20.0 * SLOWDOWN
STOP_TIMEOUT = 10.0 * SLOWDOWN
CALL_TIMEOUT = 15.0 * SLOWDOWN


class TestFailure(AssertionError):
    """A check of the test failed."""


def check(cond, message):
    if not cond:
        raise TestFailure(message)


def check_equal(actual, expected, what):
    if actual != expected:
        raise TestFailure(f"{what}: expected {expected!r}, got {actual!r}")


def env_path(name):
    value = os.environ.get(name)
    if not value:
        raise TestFailure(f"${name} is not set (run the tests through meson)")
    if not os.access(value, os.X_OK):
        raise TestFailure(f"${name}={value} is not an executable file (is it built?)")
    return value


def wait_until(predicate, timeout, what, interval=0.05):
    """Calls predicate until it returns something true; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TestFailure(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- processes


# Every process group started and every keyring created, for
# emergency_cleanup() when the test runner itself is being killed.
_LIVE_GROUPS = set()
_LIVE_KEYRINGS = set()

# A child dies with the runner even when the runner gets SIGKILL.
_SETPRIV = shutil.which("setpriv")


def _guarded(argv):
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv] if _SETPRIV else list(argv)


def emergency_cleanup():
    """Kills every process group and unlinks every keyring, at once."""
    for pgid in list(_LIVE_GROUPS):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for name in list(_LIVE_KEYRINGS):
        try:
            found = subprocess.run(["keyctl", "search", "@u", "keyring", name],
                                   capture_output=True, text=True, timeout=2)
            if found.returncode == 0:
                subprocess.run(["keyctl", "unlink", found.stdout.strip(), "@u"],
                               capture_output=True, timeout=2)
        except (OSError, subprocess.SubprocessError):
            pass


def run_case(name, fn, keep_on_failure=True, emergency=()):
    """Runs fn(h) with a fresh Harness named @name, as every test runner
    here does; returns the exit status (0 passed, 1 failed; never 77).

    On meson's timeout (SIGTERM, then SIGKILL half a second later) there is
    no time for a clean teardown: it says why, kills everything, calls
    @emergency (quick functions that must not raise) and exits. A failed
    case keeps its temporary directory unless @keep_on_failure is false."""
    start = time.monotonic()
    h = Harness(name)

    def terminated(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        print(f"FAIL {name}: terminated (timeout?)", flush=True)
        traceback.print_stack(frame, file=sys.stdout)
        emergency_cleanup()
        for cleanup in reversed(list(emergency)):
            try:
                cleanup()
            except Exception:  # noqa: BLE001 - best effort, then exit
                traceback.print_exc(file=sys.stdout)
        if h.daemon is not None:
            print("---- devauthd log ----\n" + h.daemon.log()[-20000:], flush=True)
        os._exit(1)

    signal.signal(signal.SIGTERM, terminated)
    failed = False
    try:
        fn(h)
    except BaseException:  # noqa: BLE001 - KeyboardInterrupt too: clean up, then fail
        failed = True
        print(f"FAIL {name}", flush=True)
        traceback.print_exc(file=sys.stdout)
        print(h.diagnostics(), flush=True)
    problems = h.close(keep=failed and keep_on_failure)
    if problems:
        failed = True
        print(f"FAIL {name}: teardown", flush=True)
        for p in problems:
            print(p, flush=True)
    if failed and os.path.isdir(h.tmp):
        print(f"kept {h.tmp}", flush=True)
    if not failed:
        print(f"PASS {name} ({time.monotonic() - start:.1f} s)", flush=True)
    return 1 if failed else 0


class Process:
    """A child in a process group of its own; stopped through the group."""

    def __init__(self, name, argv, env=None, stdout=None, stderr=None, stdin=subprocess.DEVNULL,
                 cwd=None, pass_fds=()):
        self.name = name
        self.argv = argv
        self.popen = subprocess.Popen(
            _guarded(argv), env=env, stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd,
            start_new_session=True, pass_fds=pass_fds,
        )
        self.pid = self.popen.pid
        _LIVE_GROUPS.add(self.pid)

    def poll(self):
        return self.popen.poll()

    def send_signal(self, sig):
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _kill_group(self, sig):
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGKILL and self.popen.poll() is not None:
            _LIVE_GROUPS.discard(self.pid)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stops the process (and its group); returns its exit status.

        The group is always killed at the end, so that nothing it started
        is left behind."""
        rc = self.popen.poll()
        if rc is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            rc = self.wait(timeout)
            if rc is None:
                self._kill_group(signal.SIGKILL)
                rc = self.wait(timeout)
        self._kill_group(signal.SIGKILL)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()
        return rc


def run_process(argv, timeout, env=None, input_text=None, cwd=None):
    """Runs a command to its end in a process group of its own.

    Returns (exit status, stdout, stderr); on timeout the group is killed
    and the test fails."""
    proc = subprocess.Popen(
        _guarded(argv), env=env, cwd=cwd, start_new_session=True,
        stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _LIVE_GROUPS.add(proc.pid)
    try:
        out, err = proc.communicate(input_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate(timeout=STOP_TIMEOUT)
        raise TestFailure(
            f"{' '.join(argv)} did not finish within {timeout} s\n"
            f"stdout: {out}\nstderr: {err}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _LIVE_GROUPS.discard(proc.pid)
    return proc.returncode, out, err


class OutputReader:
    """Collects a pipe's text in a thread, so a test can wait for a line."""

    def __init__(self, stream):
        self._stream = stream
        self._lock = threading.Condition()
        self._chunks = []
        self._eof = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        fd = self._stream.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            with self._lock:
                if not data:
                    self._eof = True
                    self._lock.notify_all()
                    return
                self._chunks.append(data.decode("utf-8", "replace"))
                self._lock.notify_all()

    def text(self, eof_timeout=5.0):
        """Everything read so far, once the stream has ended (waiting up to
        EOF_TIMEOUT for that: the process may have exited before this
        thread read its last words)."""
        deadline = time.monotonic() + eof_timeout
        with self._lock:
            while not self._eof and time.monotonic() < deadline:
                self._lock.wait(max(0.0, min(0.5, deadline - time.monotonic())))
            return "".join(self._chunks)

    def wait_for(self, pattern, timeout, what=None):
        """Waits until the text matches the regex; returns the match."""
        regex = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                m = regex.search("".join(self._chunks))
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise TestFailure(
                        f"{what or pattern!r} not seen within {timeout} s"
                        f"{' (stream closed)' if self._eof else ''}; output so far:\n"
                        + "".join(self._chunks))
                self._lock.wait(min(left, 0.5))

    def join(self, timeout):
        self._thread.join(timeout)


# ---------------------------------------------------------------- the IdP


def _node_modules_fresh():
    """As tools/setup-deps decides: installed, and not older than the lock file."""
    installed = os.path.join(IDP_DIR, "node_modules", ".package-lock.json")
    try:
        return (os.path.getmtime(installed)
                >= os.path.getmtime(os.path.join(IDP_DIR, "package-lock.json")))
    except FileNotFoundError:
        return False


def ensure_node_modules():
    """npm ci in tests/idp, once, under a lock, when node_modules is missing
    or older than package-lock.json (tools/setup-deps normally did it)."""
    if _node_modules_fresh():
        return
    with open(NPM_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _node_modules_fresh():
                return
            rc, out, err = run_process(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], timeout=600,
                cwd=IDP_DIR)
            if rc != 0 or not _node_modules_fresh():
                raise TestFailure(f"npm ci in {IDP_DIR} failed ({rc}):\n{out}\n{err}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Idp:
    """The loopback IdP (tests/idp/server.mjs) and its /_test/ endpoints."""

    def __init__(self, harness, options):
        self.harness = harness
        self.options = list(options)
        tag = harness.next_tag("idp")
        self.ready_file = os.path.join(harness.tmp, f"{tag}.json")
        self.log_path = os.path.join(harness.tmp, f"{tag}.log")
        ensure_node_modules()
        argv = ["node", os.path.join(IDP_DIR, "server.mjs"), "--port", "0",
                "--ready-file", self.ready_file, *self.options]
        with open(self.log_path, "w") as log:
            self.proc = Process("idp", argv, stdout=log, stderr=subprocess.STDOUT, cwd=IDP_DIR)
        harness.add_cleanup(self.stop)

        def ready():
            if self.proc.poll() is not None:
                raise TestFailure(
                    f"the IdP exited with {self.proc.poll()}:\n{self.log()}")
            try:
                with open(self.ready_file) as f:
                    return json.load(f)
            except (FileNotFoundError, ValueError):
                return None

        info = wait_until(ready, START_TIMEOUT, "the IdP's ready file")
        self.issuer = info["issuer"]
        self.port = info["port"]
        self.origin = f"http://127.0.0.1:{self.port}"
        check(info["pid"] == self.proc.pid, "the IdP's ready file names another PID")
        self._discovery = None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        self.proc.stop()

    # HTTP

    def http(self, method, url, form=None, headers=None, timeout=10):
        """Returns (status, parsed JSON or text)."""
        check(urllib.parse.urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1"),
              f"refusing a non-loopback URL: {url}")
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        # never through a proxy, whatever the environment says
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=timeout) as resp:
                status, body, ctype = resp.status, resp.read(), resp.headers.get("content-type", "")
        except urllib.error.HTTPError as e:
            status, body, ctype = e.code, e.read(), e.headers.get("content-type", "")
        text = body.decode("utf-8", "replace")
        if "json" in ctype:
            try:
                return status, json.loads(text)
            except ValueError:
                pass
        return status, text

    def discovery(self):
        if self._discovery is None:
            status, body = self.http("GET", f"{self.issuer}/.well-known/openid-configuration")
            check(status == 200, f"discovery answered {status}: {body}")
            self._discovery = body
        return self._discovery

    def stats(self):
        status, body = self.http("GET", f"{self.origin}/_test/stats")
        check(status == 200, f"/_test/stats answered {status}: {body}")
        return body

    def wait_stats(self, predicate, what, timeout=15.0):
        """Polls /_test/stats until predicate(stats); returns those stats."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if predicate(stats):
                return stats
            if time.monotonic() > deadline:
                raise TestFailure(f"timed out after {timeout:.1f} s waiting for {what}; "
                                  f"polls: {stats['polls']}")
            time.sleep(0.1)

    def reset_stats(self):
        status, body = self.http("POST", f"{self.origin}/_test/reset-stats", form={})
        check(status == 200, f"/_test/reset-stats answered {status}: {body}")

    def approve(self, user_code, sub="demo"):
        """The test shortcut; approve_forms() goes through the real pages."""
        status, body = self.http("POST", f"{self.origin}/_test/approve",
                                 form={"user_code": user_code, "sub": sub})
        check(status == 200, f"/_test/approve answered {status}: {body}")

    def deny(self, user_code):
        status, body = self.http("POST", f"{self.origin}/_test/deny", form={"user_code": user_code})
        check(status == 200, f"/_test/deny answered {status}: {body}")

    def revoke_all(self):
        status, body = self.http("POST", f"{self.origin}/_test/revoke-all", form={})
        check(status == 200, f"/_test/revoke-all answered {status}: {body}")

    def approve_forms(self, uri, code=None, user="demo", deny=False, timeout=30):
        """Drives the IdP's real HTML pages with tests/idp/approve.mjs."""
        argv = ["node", os.path.join(IDP_DIR, "approve.mjs"), "--uri", uri, "--user", user,
                "--timeout", str(timeout)]
        if code is not None:
            argv += ["--code", code]
        if deny:
            argv.append("--deny")
        rc, out, err = run_process(argv, timeout=timeout + 10, cwd=IDP_DIR)
        expected = "denied" if deny else "approved"
        check(rc == 0 and out.strip() == expected,
              f"approve.mjs exited {rc}: stdout {out!r}, stderr {err!r}")

    def userinfo(self, token):
        """Calls the userinfo endpoint with the token: (status, body)."""
        return self.http("GET", self.discovery()["userinfo_endpoint"],
                         headers={"Authorization": f"Bearer {token}"})


# ---------------------------------------------------------------- D-Bus


class DBusCallError(Exception):
    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message

    @property
    def short_name(self):
        return self.name[len(ERROR_PREFIX):] if self.name.startswith(ERROR_PREFIX) else self.name


def _dbus_error(e):
    """GLib.Error of a D-Bus call → DBusCallError."""
    m = re.match(r"GDBus\.Error:([^:\s]+): (.*)", e.message, re.S)
    if m:
        return DBusCallError(m.group(1), m.group(2))
    return DBusCallError(f"{e.domain}.{e.code}", e.message)


class SignalCollector:
    """Collects StatusChanged in a thread of its own with its own main context."""

    def __init__(self, connection):
        self.connection = connection
        self.signals = []  # dicts: t, account, state, details
        self._cond = threading.Condition()
        self._context = GLib.MainContext.new()
        self._loop = GLib.MainLoop.new(self._context, False)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise TestFailure("the signal thread did not start")

    def _on_signal(self, conn, sender, path, iface, member, params):
        account, state, details = params.unpack()
        with self._cond:
            self.signals.append({"t": time.time(), "account": account, "state": state,
                                 "details": details})
            self._cond.notify_all()

    def _run(self):
        self._context.push_thread_default()
        try:
            sub = self.connection.signal_subscribe(
                None, MANAGER_IFACE, "StatusChanged", MANAGER_PATH, None,
                Gio.DBusSignalFlags.NONE, self._on_signal)
            # the match rule is in place once a round trip to the bus is done
            self.connection.call_sync(
                "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "GetId", None, None, Gio.DBusCallFlags.NONE, int(CALL_TIMEOUT * 1000), None)
            self._ready.set()
            self._loop.run()
            self.connection.signal_unsubscribe(sub)
        finally:
            self._context.pop_thread_default()

    def stop(self):
        if self._thread.is_alive():
            self._context.invoke_full(GLib.PRIORITY_DEFAULT, lambda *a: self._loop.quit())
            self._thread.join(STOP_TIMEOUT)

    def count(self):
        with self._cond:
            return len(self.signals)

    def wait(self, predicate, timeout, what, since=0):
        """Waits for a signal (index ≥ since) that satisfies predicate."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for s in self.signals[since:]:
                    if predicate(s):
                        return s
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(s["account"], s["state"], s["details"].get("error"))
                            for s in self.signals[since:]]
                    raise TestFailure(
                        f"timed out after {timeout:.1f} s waiting for StatusChanged {what}; "
                        f"seen: {seen}")
                self._cond.wait(min(left, 0.5))


class Bus:
    """A private dbus-daemon of the system type with the project's policy.

    extra_policies: more bus policy files to include (polkitd's, for one).
    public: the socket goes in a directory of its own that every uid can
    reach (the temporary directory is root's only), for callers that run
    as other users."""

    def __init__(self, harness, extra_policies=(), public=False):
        self.harness = harness
        socket_dir = harness.tmp
        if public:
            socket_dir = tempfile.mkdtemp(prefix="devauthd-it-bus-")
            os.chmod(socket_dir, 0o755)
            harness.add_cleanup(lambda: shutil.rmtree(socket_dir, ignore_errors=True))
        self.socket = os.path.join(socket_dir, "bus")
        self.address = f"unix:path={self.socket}"
        self.config_path = os.path.join(harness.tmp, "system-bus.conf")
        self.log_path = os.path.join(harness.tmp, "dbus-daemon.log")
        check(os.path.exists(BUS_CONF_TEMPLATE), f"{BUS_CONF_TEMPLATE} is missing")
        check(os.path.exists(BUS_POLICY), f"{BUS_POLICY} is missing")
        with open(BUS_CONF_TEMPLATE) as f:
            conf = f.read()
        check("@SOCKET@" in conf and "@POLICY@" in conf,
              f"{BUS_CONF_TEMPLATE} lacks @SOCKET@ or @POLICY@")
        conf = conf.replace("@SOCKET@", self.socket).replace("@POLICY@", BUS_POLICY)
        for policy in extra_policies:
            check(os.path.exists(policy), f"{policy} is missing")
            include = f"<include>{BUS_POLICY}</include>"
            check(include in conf, f"{BUS_CONF_TEMPLATE} has no {include}")
            conf = conf.replace(include, f"{include}\n  <include>{policy}</include>", 1)
        with open(self.config_path, "w") as f:
            f.write(conf)
        read_fd, write_fd = os.pipe()
        try:
            with open(self.log_path, "w") as log:
                self.proc = Process(
                    "dbus-daemon",
                    ["dbus-daemon", f"--config-file={self.config_path}", "--nofork",
                     "--nopidfile", f"--print-address={write_fd}"],
                    stdout=log, stderr=subprocess.STDOUT, pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        harness.add_cleanup(self.stop)
        try:
            ready, _, _ = select.select([read_fd], [], [], START_TIMEOUT)
            line = os.read(read_fd, 4096).decode() if ready else ""
        finally:
            os.close(read_fd)
        check(line.strip() != "", f"dbus-daemon did not start:\n{self.log()}")
        self.connection = self.connect()

    def connect(self):
        conn = Gio.DBusConnection.new_for_address_sync(
            self.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        conn.set_exit_on_close(False)
        self.harness.add_cleanup(lambda: conn.close_sync(None) if not conn.is_closed() else None)
        return conn

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def name_owner(self, name=BUS_NAME):
        try:
            reply = self.connection.call_sync(
                "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "GetNameOwner", GLib.Variant("(s)", (name,)), GLib.VariantType("(s)"),
                Gio.DBusCallFlags.NONE, int(CALL_TIMEOUT * 1000), None)
        except GLib.Error as e:
            if "NameHasNoOwner" in e.message:
                return None
            raise
        return reply.unpack()[0]

    def bus_call(self, method, params, reply_type, iface="org.freedesktop.DBus"):
        reply = self.connection.call_sync(
            "org.freedesktop.DBus", "/org/freedesktop/DBus", iface, method, params,
            GLib.VariantType(reply_type), Gio.DBusCallFlags.NONE, int(CALL_TIMEOUT * 1000), None)
        return reply.unpack()

    def connection_of(self, pid):
        """The unique name of the (first) connection of a process, or None."""
        (names,) = self.bus_call("ListNames", None, "(as)")
        for name in names:
            if not name.startswith(":"):
                continue
            try:
                (owner_pid,) = self.bus_call("GetConnectionUnixProcessID",
                                             GLib.Variant("(s)", (name,)), "(u)")
            except GLib.Error:
                continue  # gone meanwhile
            if owner_pid == pid:
                return name
        return None

    def wait_match_rules(self, pid, count, timeout=START_TIMEOUT):
        """Waits until the process's connection has COUNT match rules on the
        bus (for a client: until it is subscribed to what it listens to)."""

        def ready():
            name = self.connection_of(pid)
            if name is None:
                return False
            try:
                (stats,) = self.bus_call("GetConnectionStats", GLib.Variant("(s)", (name,)),
                                         "(a{sv})", iface="org.freedesktop.DBus.Debug.Stats")
            except GLib.Error:
                return False
            return stats.get("MatchRules", 0) >= count

        wait_until(ready, timeout, f"PID {pid} to have {count} match rules on the bus", 0.05)

    def stop(self):
        self.proc.stop()


# ---------------------------------------------------------------- devauthd


def bind_mounted(source, target):
    """A command prefix that runs a command in a mount namespace of its own
    where SOURCE is bind-mounted over TARGET; the machine's TARGET is not
    touched."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            f"mount --bind {source} {target} && exec \"$@\"", "--"]


def unshared_ca_bundle(h, ca):
    """A command prefix that runs devauthd where the system trust store
    (Debian's bundle) also holds ca."""
    bundle = os.path.join(h.tmp, "ca-certificates.crt")
    with open("/etc/ssl/certs/ca-certificates.crt") as src, open(ca) as extra, \
            open(bundle, "w") as out:
        out.write(src.read())
        out.write(extra.read())
    return bind_mounted(bundle, "/etc/ssl/certs/ca-certificates.crt")


def account_conf(issuer=None, client_id="devauth-demo", scopes="openid offline_access",
                 pkce=None, extra=None):
    lines = ["[Account]"]
    if issuer is not None:
        lines.append(f"Issuer={issuer}")
    if client_id is not None:
        lines.append(f"ClientId={client_id}")
    if scopes is not None:
        lines.append(f"Scopes={scopes}")
    if pkce is not None:
        lines.append(f"Pkce={'yes' if pkce else 'no'}")
    for key, value in (extra or {}).items():
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


class Daemon:
    def __init__(self, harness, accounts, daemon_settings=None):
        self.harness = harness
        self.binary = env_path("DEVAUTHD")
        self.keyring_name = f"devauthd-test-{uuid.uuid4().hex[:16]}"
        _LIVE_KEYRINGS.add(self.keyring_name)
        self.config_dir = os.path.join(harness.tmp, "config")
        self.state_dir = os.path.join(harness.tmp, "state")
        for d in (self.config_dir, os.path.join(self.config_dir, "accounts.d"), self.state_dir):
            os.makedirs(d, mode=0o700, exist_ok=True)
        # like /run/devauthd: every uid reaches the Varlink socket in it
        self.runtime_dir = tempfile.mkdtemp(prefix="devauthd-it-run-")
        os.chmod(self.runtime_dir, 0o755)
        harness.add_cleanup(lambda: shutil.rmtree(self.runtime_dir, ignore_errors=True))
        self.varlink_socket = os.path.join(self.runtime_dir, wire_names.VARLINK_SOCKET_NAME)
        key_file = os.path.join(self.config_dir, "storage.key")
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(os.urandom(32))
        settings = {"KeyringName": self.keyring_name, "StorageKeyFile": key_file,
                    "HttpTimeoutSec": "10"}
        settings.update(daemon_settings or {})
        with open(os.path.join(self.config_dir, "devauthd.conf"), "w") as f:
            f.write("[Daemon]\n")
            for key, value in settings.items():
                f.write(f"{key}={value}\n")
        for name, text in accounts.items():
            with open(os.path.join(self.config_dir, "accounts.d", f"{name}.conf"), "w") as f:
                f.write(text)
        self.proc = None
        self.logs = []
        self.exit_codes = []
        # set before start(): a command the daemon runs under (argv prefix),
        # and environment variables on top of the usual ones
        self.wrapper = []
        self.extra_env = {}
        harness.add_cleanup(self.unlink_keyring)
        harness.add_cleanup(self.stop_at_teardown)

    def start(self):
        check(self.proc is None or self.proc.poll() is not None, "devauthd is already running")
        bus = self.harness.bus
        log_path = os.path.join(self.harness.tmp, f"devauthd-{len(self.logs) + 1}.log")
        self.logs.append(log_path)
        env = dict(os.environ)
        # G_SLICE as devauthd.service sets it
        env.update({"DBUS_SYSTEM_BUS_ADDRESS": bus.address, "G_MESSAGES_DEBUG": "all",
                    "G_DEBUG": "fatal-criticals", "LC_ALL": "C.UTF-8",
                    "G_SLICE": "always-malloc"})
        for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY",
                    "STATE_DIRECTORY", "CONFIGURATION_DIRECTORY", "RUNTIME_DIRECTORY"):
            env.pop(var, None)
        env.update(self.extra_env)
        try:
            st = os.stat(self.varlink_socket)
            stale = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            stale = None
        with open(log_path, "w") as log:
            self.proc = Process(
                "devauthd",
                [*self.wrapper, self.binary, "--config-dir", self.config_dir,
                 "--state-dir", self.state_dir, "--runtime-dir", self.runtime_dir, "--verbose"],
                env=env, stdout=log, stderr=subprocess.STDOUT)

        def owned():
            rc = self.proc.poll()
            if rc is not None:
                raise TestFailure(f"devauthd exited with {rc} before owning its name:\n"
                                  f"{self.log()}")
            owner = bus.name_owner()
            return owner

        self.unique_name = wait_until(owned, START_TIMEOUT, f"devauthd to own {BUS_NAME}")

        # the bus tells others the name is owned before devauthd hears it,
        # and devauthd makes its Varlink socket (or says it cannot) then; a
        # socket a killed devauthd left behind is not it
        def socket_settled():
            owned()
            with open(log_path, errors="replace") as f:
                if "served on the bus only" in f.read():
                    return True
            try:
                st = os.stat(self.varlink_socket)
            except FileNotFoundError:
                return False
            return (st.st_ino, st.st_mtime_ns) != stale

        wait_until(socket_settled, START_TIMEOUT, "devauthd to make its Varlink socket")
        return self

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM; returns the exit status (None when it had to be killed)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is not None:
            rc = proc.poll()
        else:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout)
            if rc is None:
                proc.stop(signal.SIGKILL)
                self.exit_codes.append(None)
                raise TestFailure(f"devauthd did not exit within {timeout} s of SIGTERM")
        proc.stop(signal.SIGKILL)
        if rc != 0 and self._lsan_tracer_crashed():
            print("note: LeakSanitizer's own tracer crashed in devauthd's exit "
                  "(google/sanitizers#1353; no leak was reported): its exit counts as 0, "
                  "but this run's leaks were not checked", flush=True)
            rc = 0
        self.exit_codes.append(rc)
        return rc

    def _lsan_tracer_crashed(self):
        """True when the last run's log ends with LeakSanitizer's tracer
        crashing in its stop-the-world, and nothing else from a sanitizer:
        a fault of the instrument at exit, not of devauthd (the tracer
        segfaults now and then when TLS worker threads have come and gone)."""
        if not self.logs:
            return False
        try:
            with open(self.logs[-1], errors="replace") as f:
                text = f.read()
        except OSError:
            return False
        tail = text[-4000:]
        return ("Tracer caught signal" in tail
                and "LeakSanitizer has encountered a fatal error" in tail
                and "ERROR: AddressSanitizer" not in text
                and "ERROR: LeakSanitizer" not in text
                and "runtime error:" not in text)

    def restart(self):
        rc = self.stop()
        check_equal(rc, 0, "devauthd's exit status on SIGTERM")
        bus = self.harness.bus
        wait_until(lambda: bus.name_owner() is None, STOP_TIMEOUT, "the bus name to be released")
        return self.start()

    def stop_at_teardown(self):
        rc = self.stop()
        if rc is not None and rc != 0 and not self.harness.expect_daemon_failure:
            raise TestFailure(f"devauthd exited with {rc} on SIGTERM (expected 0)")

    def log(self):
        out = []
        for path in self.logs:
            try:
                with open(path, errors="replace") as f:
                    out.append(f.read())
            except FileNotFoundError:
                pass
        return "".join(out)

    # the keyring

    def keyring_id(self):
        rc, out, _ = run_process(["keyctl", "search", "@u", "keyring", self.keyring_name],
                                 timeout=10)
        return out.strip() if rc == 0 else None

    def key_id(self, description):
        ring = self.keyring_id()
        if ring is None:
            return None
        rc, out, _ = run_process(["keyctl", "search", ring, "user", description], timeout=10)
        return out.strip() if rc == 0 else None

    def unlink_keyring(self):
        # bounded: a name can only be linked a few times
        for _ in range(5):
            ring = self.keyring_id()
            if ring is None:
                _LIVE_KEYRINGS.discard(self.keyring_name)
                return
            rc, _, err = run_process(["keyctl", "unlink", ring, "@u"], timeout=10)
            if rc != 0:
                raise TestFailure(f"cannot unlink keyring {ring}: {err}")
        raise TestFailure(f"keyring {self.keyring_name} is still linked in @u")


# ---------------------------------------------------------------- the harness


class Harness:
    """One test's world. Use as a context manager or call close()."""

    def __init__(self, name):
        if os.geteuid() != 0:
            raise TestFailure("the integration tests run as root: devauthd owns its bus name "
                              "under the policy for root and keeps keys in root's keyring")
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix=f"devauthd-it-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}-")
        os.chmod(self.tmp, 0o700)
        self._cleanups = []
        self._tags = {}
        self.idp = None
        self.bus = None
        self.daemon = None
        self.signals = None
        self.expect_daemon_failure = False
        self.account = "demo"

    # lifecycle

    def add_cleanup(self, fn):
        self._cleanups.append(fn)

    def next_tag(self, prefix):
        n = self._tags.get(prefix, 0) + 1
        self._tags[prefix] = n
        return prefix if n == 1 else f"{prefix}-{n}"

    def close(self, keep=False):
        """Runs every cleanup (last first); returns the problems as text.
        The temporary directory stays when keep, or when there were problems."""
        problems = []
        while self._cleanups:
            fn = self._cleanups.pop()
            try:
                fn()
            except Exception:  # noqa: BLE001 - every cleanup must run
                problems.append(traceback.format_exc())
        if not keep and not problems and not os.environ.get("DEVAUTH_TEST_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        problems = self.close()
        if problems and exc[0] is None:
            raise TestFailure("teardown failed:\n" + "\n".join(problems))
        return False

    def diagnostics(self):
        """What to print when a test fails."""
        parts = [f"temporary directory: {self.tmp}"]
        if self.daemon is not None:
            # GIO's own debug lines (socket connections) only hide the rest
            log = "".join(line for line in self.daemon.log().splitlines(True)
                          if "GLib-GIO-DEBUG" not in line)
            parts.append("---- devauthd log ----\n" + log[-20000:])
        if self.idp is not None:
            parts.append("---- IdP log ----\n" + self.idp.log()[-5000:])
            try:
                stats = self.idp.stats()
                parts.append("---- IdP requests ----\n" + "\n".join(
                    f"{r['t']:.0f} {r['method']} {r['path']} {r.get('grant_type') or ''}"
                    for r in stats["requests"][-50:]))
            except Exception:  # noqa: BLE001 - best effort
                pass
        return "\n".join(parts)

    # the parts

    def start_idp(self, *options):
        """Starts (another) IdP; the first one is self.idp."""
        idp = Idp(self, options)
        if self.idp is None:
            self.idp = idp
        return idp

    def start_bus(self, extra_policies=(), public=False):
        self.bus = Bus(self, extra_policies=extra_policies, public=public)
        self.signals = SignalCollector(self.bus.connection)
        self.add_cleanup(self.signals.stop)
        return self.bus

    def start_daemon(self, accounts=None, daemon_settings=None, start=True):
        """accounts: {name: file text}; default: one account 'demo' at self.idp."""
        if self.bus is None:
            self.start_bus()
        if accounts is None:
            check(self.idp is not None, "no IdP to configure an account for")
            accounts = {self.account: account_conf(self.idp.issuer)}
        self.daemon = Daemon(self, accounts, daemon_settings)
        if start:
            self.daemon.start()
        return self.daemon

    def setup(self, *idp_options, pkce=None, accounts=None, daemon_settings=None):
        """The usual world: IdP, bus, devauthd with one account 'demo'."""
        self.start_idp(*idp_options)
        self.start_bus()
        if accounts is None:
            accounts = {self.account: account_conf(self.idp.issuer, pkce=pkce)}
        self.start_daemon(accounts, daemon_settings)
        return self

    # D-Bus calls

    def call(self, method, params=None, reply_type=None, timeout=CALL_TIMEOUT, connection=None,
             path=MANAGER_PATH, iface=MANAGER_IFACE):
        conn = connection or self.bus.connection
        try:
            reply = conn.call_sync(
                BUS_NAME, path, iface, method, params,
                GLib.VariantType(reply_type) if reply_type else None,
                Gio.DBusCallFlags.NO_AUTO_START, int(timeout * 1000), None)
        except GLib.Error as e:
            raise _dbus_error(e) from None
        return reply.unpack() if reply is not None else ()

    @staticmethod
    def _token_options(min_validity):
        opts = {}
        if min_validity is not None:
            opts["min-validity"] = GLib.Variant("u", min_validity)
        return opts

    def get_token(self, account="", min_validity=None, **kw):
        token, info = self.call("GetToken",
                                GLib.Variant("(sa{sv})", (account, self._token_options(min_validity))),
                                "(sa{sv})", **kw)
        return token, info

    def get_token_fd(self, account="", min_validity=None, timeout=CALL_TIMEOUT):
        """Returns (fd, info); the caller owns and closes the fd."""
        try:
            reply, fd_list = self.bus.connection.call_with_unix_fd_list_sync(
                BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "GetTokenFd",
                GLib.Variant("(sa{sv})", (account, self._token_options(min_validity))),
                GLib.VariantType("(ha{sv})"), Gio.DBusCallFlags.NO_AUTO_START,
                int(timeout * 1000), None, None)
        except GLib.Error as e:
            raise _dbus_error(e) from None
        handle, info = reply.unpack()
        check(fd_list is not None and fd_list.get_length() == 1,
              "GetTokenFd returned no file descriptor")
        fds = fd_list.steal_fds()
        return fds[handle], info

    def login(self, account="", connection=None, timeout=CALL_TIMEOUT):
        (prompt,) = self.call("Login", GLib.Variant("(sa{sv})", (account, {})), "(a{sv})",
                              connection=connection, timeout=timeout)
        return prompt

    def cancel_login(self, account=""):
        self.call("CancelLogin", GLib.Variant("(s)", (account,)))

    def logout(self, account=""):
        self.call("Logout", GLib.Variant("(s)", (account,)))

    def refresh(self, account=""):
        self.call("Refresh", GLib.Variant("(s)", (account,)))

    def list_accounts(self):
        (accounts,) = self.call("ListAccounts", None, "(a(so))")
        return accounts

    def account_path(self, account=None):
        name = account or self.account
        for n, path in self.list_accounts():
            if n == name:
                return path
        raise TestFailure(f"no account {name!r} in ListAccounts()")

    def properties(self, account=None):
        (props,) = self.call("GetAll", GLib.Variant("(s)", (ACCOUNT_IFACE,)), "(a{sv})",
                             path=self.account_path(account),
                             iface="org.freedesktop.DBus.Properties")
        return props

    def expect_error(self, name, fn, *args, **kwargs):
        """Calls fn, which must fail with org.devauth.DeviceAuth1.Error.<name>."""
        try:
            fn(*args, **kwargs)
        except DBusCallError as e:
            check_equal(e.name, ERROR_PREFIX + name, "D-Bus error name")
            return e
        raise TestFailure(f"{getattr(fn, '__name__', fn)} succeeded; expected {name}")

    # signals

    def mark(self):
        """An index for wait_status(since=...): only signals after now."""
        return self.signals.count()

    def wait_status(self, state=None, error=None, account=None, since=0, timeout=20.0):
        name = account or self.account

        def match(s):
            return (s["account"] == name and (state is None or s["state"] == state)
                    and (error is None or s["details"].get("error") == error))

        return self.signals.wait(match, timeout, f"({name}, {state}, error={error})", since)

    # sign-in shortcuts

    def sign_in(self, sub="demo", account=None, forms=False):
        """Login, approve, wait for signed-in; returns (prompt, signal)."""
        since = self.mark()
        prompt = self.login(account or "")
        if forms:
            self.idp.approve_forms(prompt["verification-uri-complete"], user=sub)
        else:
            self.idp.approve(prompt["user-code"], sub=sub)
        sig = self.wait_status("signed-in", account=account, since=since)
        return prompt, sig

    # devauthctl

    def ctl_env(self):
        env = dict(os.environ)
        env.update({"DBUS_SYSTEM_BUS_ADDRESS": self.bus.address if self.bus else "unix:path=/nonexistent",
                    # devauthctl token asks devauthd's Varlink socket first
                    "DEVAUTH_VARLINK_SOCKET": self.daemon.varlink_socket if self.daemon else "",
                    "LC_ALL": "C.UTF-8", "NO_COLOR": "1", "TERM": "dumb"})
        env.pop("G_DBUS_DEBUG", None)
        return env

    def ctl(self, *args, timeout=30):
        """Runs devauthctl to its end: (exit status, stdout, stderr)."""
        return run_process([env_path("DEVAUTHCTL"), *args], timeout=timeout, env=self.ctl_env())

    def ctl_start(self, *args):
        """Starts devauthctl in the background; returns (Process, stdout reader, stderr reader)."""
        proc = Process("devauthctl", [env_path("DEVAUTHCTL"), *args], env=self.ctl_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.add_cleanup(lambda: proc.stop(signal.SIGKILL))
        return proc, OutputReader(proc.popen.stdout), OutputReader(proc.popen.stderr)

    # other users, polkit

    def start_polkitd(self, rules=None):
        """The real polkitd on the bus (started with polkit_bus_policy()
        among its extra_policies); rules: {file name: JavaScript}."""
        check(self.bus is not None, "start the bus before polkitd")
        return Polkitd(self, rules or {})

    def client_argv(self, user, ops, groups=None):
        return [*as_user(user, groups=groups), "/usr/bin/python3", BUS_CLIENT, self.bus.address,
                json.dumps(ops)]

    def client_env(self):
        env = self.ctl_env()
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def client(self, user, ops, groups=None, timeout=30):
        """Runs tests/integration/bus_client.py as USER (a name or a uid,
        with no supplementary groups unless GROUPS, a list of gids) with the
        operations OPS; returns its result list."""
        rc, out, err = run_process(self.client_argv(user, ops, groups), timeout=timeout,
                                   env=self.client_env())
        check(rc == 0, f"bus_client.py as {user} exited with {rc}:\nstdout: {out}\nstderr: {err}")
        try:
            return json.loads(out)["results"]
        except (ValueError, KeyError):
            raise TestFailure(f"bus_client.py as {user} printed {out!r} (stderr {err!r})") from None

    def start_client(self, user, ops, groups=None):
        """bus_client.py as USER in the background, for ops that begin with
        wait-stdin; finish it with finish_client()."""
        proc = Process("bus_client", self.client_argv(user, ops, groups), env=self.client_env(),
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.add_cleanup(lambda: proc.stop(signal.SIGKILL))
        return proc

    def finish_client(self, proc, timeout=30):
        """Lets a client started by start_client() go on; returns its results."""
        try:
            out, err = proc.popen.communicate("go\n".encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.stop(signal.SIGKILL)
            raise TestFailure(f"bus_client.py (PID {proc.pid}) did not finish within {timeout} s")
        rc = proc.stop(signal.SIGKILL)
        out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        check(rc == 0, f"bus_client.py exited with {rc}:\nstdout: {out}\nstderr: {err}")
        try:
            return json.loads(out)["results"]
        except (ValueError, KeyError):
            raise TestFailure(f"bus_client.py printed {out!r} (stderr {err!r})") from None


# ---------------------------------------------------------------- other users and polkit

BUS_CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bus_client.py")
POLKITD = "/usr/lib/polkit-1/polkitd"
POLKIT_NAME = "org.freedesktop.PolicyKit1"
POLKIT_BUS_POLICY = "/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf"
POLKIT_ACTIONS = os.path.join(SOURCE_ROOT, "polkit", "org.devauth.policy")
# the directories polkitd reads; each gets one of the test bind-mounted over it
POLKIT_DIRS = ("/usr/share/polkit-1/actions", "/etc/polkit-1/rules.d",
               "/usr/share/polkit-1/rules.d")

# A system user of the tests, created once per machine, in the group of
# polkit/50-devauth-admin.rules.example and in one of the tests' own.
TEST_USER = "devauth-test"
TEST_GROUPS = ("devauth-admin", "devauth-test-tokens")
USERS_LOCK = "/tmp/devauthd-integration-users.lock"


def polkit_bus_policy():
    """polkitd's own bus policy, to include in the private bus (it lets the
    user polkitd own its name)."""
    return POLKIT_BUS_POLICY


def as_user(user, groups=None):
    """setpriv arguments that run a command as USER (a name or a uid) and
    its primary group, with only the supplementary GROUPS (gids; none by
    default)."""
    pw = pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
    group_arg = (f"--groups={','.join(str(g) for g in groups)}" if groups
                 else "--clear-groups")
    return [_SETPRIV or "setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", group_arg,
            "--"]


def _run_admin(argv):
    rc, out, err = run_process(argv, timeout=30)
    check(rc == 0, f"{' '.join(argv)} exited with {rc}: {out}{err}")


def ensure_test_user():
    """Creates the system user devauth-test and its groups when missing
    (idempotent, under a lock: cases run in parallel); returns its pwd entry."""
    with open(USERS_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for group in TEST_GROUPS:
                try:
                    grp.getgrnam(group)
                except KeyError:
                    _run_admin(["groupadd", "--system", group])
            try:
                pwd.getpwnam(TEST_USER)
            except KeyError:
                _run_admin(["useradd", "--system", "--no-create-home", "--home-dir",
                            "/nonexistent", "--shell", "/usr/sbin/nologin", "--groups",
                            ",".join(TEST_GROUPS), TEST_USER])
            missing = [g for g in TEST_GROUPS if TEST_USER not in grp.getgrnam(g).gr_mem]
            if missing:
                _run_admin(["usermod", "--append", "--groups", ",".join(missing), TEST_USER])
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return pwd.getpwnam(TEST_USER)


class Polkitd:
    """The real polkitd on the private bus, in a mount namespace of its own
    in which the project's actions and the test's rules are bind-mounted
    over the system's directories (an empty one over the system's own
    rules). The machine's files stay as they are: checked."""

    def __init__(self, harness, rules):
        self.harness = harness
        check(os.access(POLKITD, os.X_OK), f"{POLKITD} is missing (package polkitd)")
        tag = harness.next_tag("polkit")
        base = os.path.join(harness.tmp, tag)
        dirs = [os.path.join(base, d) for d in ("actions", "rules.d", "empty")]
        for d in dirs:
            os.makedirs(d)
            # polkitd reads them as the user polkitd
            os.chmod(d, 0o755)
        shutil.copy(POLKIT_ACTIONS, dirs[0])
        for name, text in rules.items():
            path = os.path.join(dirs[1], name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
        os.chmod(os.path.join(dirs[0], os.path.basename(POLKIT_ACTIONS)), 0o644)
        before = self._system_files()
        self.log_path = os.path.join(harness.tmp, f"{tag}.log")
        script = ('set -e; mount --bind "$1" "$4"; mount --bind "$2" "$5"; '
                  'mount --bind "$3" "$6"; exec "$7"')
        argv = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script,
                "sh", *dirs, *POLKIT_DIRS, POLKITD]
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "DBUS_SYSTEM_BUS_ADDRESS": harness.bus.address, "LC_ALL": "C.UTF-8"}
        with open(self.log_path, "w") as log:
            self.proc = Process("polkitd", argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        harness.add_cleanup(self.stop)

        def owned():
            if self.proc.poll() is not None:
                raise TestFailure(f"polkitd exited with {self.proc.poll()}:\n{self.log()}")
            return harness.bus.name_owner(POLKIT_NAME)

        wait_until(owned, START_TIMEOUT, f"polkitd to own {POLKIT_NAME}")
        m = wait_until(lambda: re.search(r"executing (\d+) rules", self.log()), START_TIMEOUT,
                       "polkitd to load its rules")
        check_equal(int(m.group(1)), len(rules), f"rules polkitd loaded (log:\n{self.log()})")
        check(not re.search(r"error", self.log(), re.I), f"polkitd reports errors:\n{self.log()}")
        check_equal(self._system_files(), before, "the system's polkit directories")

    @staticmethod
    def _system_files():
        out = {}
        for d in POLKIT_DIRS:
            try:
                out[d] = sorted(os.listdir(d))
            except FileNotFoundError:
                out[d] = None
        return out

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        self.proc.stop()


# ---------------------------------------------------------------- cgroups


def systemd_cgroup_hierarchy():
    """(mount point, our own path) of systemd's cgroup hierarchy: the v1
    name=systemd one when there is one, else the unified one, as devauthd
    picks from /proc/PID/cgroup."""
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(rfields) < 3 or len(fields) < 5:
                continue
            fstype, options = rfields[0], rfields[2].split(",")
            if fstype == "cgroup" and "name=systemd" in options:
                mounts.setdefault("v1", fields[4])
            elif fstype == "cgroup2":
                mounts.setdefault("v2", fields[4])
    with open("/proc/self/cgroup") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    own = {("v1" if "name=systemd" in c.split(",") else "v2" if h == "0" else None): p
           for h, c, p in lines}
    for kind in ("v1", "v2"):
        if kind in mounts and kind in own:
            return mounts[kind], own[kind]
    raise TestFailure(f"no systemd cgroup hierarchy is mounted: {mounts}, {own}")


class Cgroup:
    """A cgroup in systemd's hierarchy at RELPATH ("system.slice/x.service"),
    with the directories that were missing created, and removed again at
    the end, after the processes left in it are moved back."""

    def __init__(self, harness, relpath):
        self.mount, self.origin = systemd_cgroup_hierarchy()
        self.relpath = relpath.strip("/")
        self.path = os.path.join(self.mount, self.relpath)
        self.created = []
        d = self.mount
        for part in self.relpath.split("/"):
            d = os.path.join(d, part)
            try:
                os.mkdir(d)
            except FileExistsError:
                continue
            self.created.append(d)
        harness.add_cleanup(self.remove)

    def add(self, pid):
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(f"{pid}\n")

    def pids(self, path=None):
        with open(os.path.join(path or self.path, "cgroup.procs")) as f:
            return [int(p) for p in f.read().split()]

    def remove(self):
        back = os.path.join(self.mount, self.origin.lstrip("/"), "cgroup.procs")
        for d in reversed(self.created):
            for pid in self.pids(d):
                try:
                    with open(back, "w") as f:
                        f.write(f"{pid}\n")
                except ProcessLookupError:
                    pass
            # an exiting process may hold it for a moment: bounded retries
            for attempt in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno not in (errno.EBUSY, errno.ENOTEMPTY) or attempt == 49:
                        raise
                    if any(os.path.isdir(os.path.join(d, c)) for c in os.listdir(d)):
                        # a cgroup of someone else's inside: theirs to remove
                        break
                    time.sleep(0.02)
        self.created = []


def polls_after(stats, t_ms):
    return [p for p in stats["polls"] if p["t"] > t_ms]


def requests_of(stats, path_suffix=None, grant_type=None):
    out = []
    for r in stats["requests"]:
        if path_suffix is not None and not r["path"].endswith(path_suffix):
            continue
        if grant_type is not None and r.get("grant_type") != grant_type:
            continue
        out.append(r)
    return out


DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def print_err(*args):
    print(*args, file=sys.stderr, flush=True)

