"""What bench/bench.py and bench/soak.py share: worlds built with the
integration harness (tests/integration/harness.py, imported, not changed),
the bench executables, /proc readings and the machine's description.

Runs on Debian's /usr/bin/python3 with python3-gi."""

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "faults"))

import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402,F401

from gi.repository import Gio, GLib  # noqa: E402

FLOOR_NAME = "org.devauth.BenchFloor"
BENCH_POLICY = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- bench only: the transport floor may own its name; everyone may call it -->
<busconfig>
  <policy user="root">
    <allow own="org.devauth.BenchFloor"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.devauth.BenchFloor"/>
    <allow receive_sender="org.devauth.BenchFloor"/>
  </policy>
</busconfig>
"""


def build_dir():
    value = os.environ.get("BENCH_BUILD_DIR")
    if not value:
        raise SystemExit("BENCH_BUILD_DIR is not set (use bench/run or bench/soak)")
    return value


def exe(name):
    paths = {"devauthd": "daemon/devauthd", "devauthctl": "client/devauthctl",
             "devauthctl-bus": "client/devauthctl-bus",
             "bench-cli-gdbus": "bench/bench-cli-gdbus", "bench-cli-sdbus": "bench/bench-cli-sdbus",
             "bench-client": "bench/bench-client", "bench-floor": "bench/bench-floor"}
    path = os.path.join(build_dir(), paths[name])
    if not os.access(path, os.X_OK):
        raise SystemExit(f"{path} is not built")
    return path


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- worlds


DEFAULT_BUS_TEMPLATE = harness.BUS_CONF_TEMPLATE


def new_harness(name, extra_policy=BENCH_POLICY):
    """A harness whose bus also includes @extra_policy (a policy file of
    our own beside the project's): the bus template is copied with one more
    <include>, and the harness module is pointed at the copy."""
    h = harness.Harness(name)
    harness.BUS_CONF_TEMPLATE = DEFAULT_BUS_TEMPLATE
    if extra_policy:
        policy = os.path.join(h.tmp, "bench-policy.conf")
        with open(policy, "w") as f:
            f.write(extra_policy)
        with open(os.path.join(SOURCE_ROOT, "tests", "data", "system-bus.conf.in")) as f:
            template = f.read()
        template = template.replace("<include>@POLICY@</include>",
                                    f"<include>@POLICY@</include>\n  <include>{policy}</include>")
        path = os.path.join(h.tmp, "system-bus.conf.in")
        with open(path, "w") as f:
            f.write(template)
        harness.BUS_CONF_TEMPLATE = path
    return h


def quiet_daemon_wrapper(h):
    """A wrapper that starts devauthd without --verbose and without
    G_MESSAGES_DEBUG: debug logging is not what is being measured."""
    path = os.path.join(h.tmp, "devauthd-quiet")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                "unset G_MESSAGES_DEBUG G_DEBUG\n"
                "for a; do shift; [ \"$a\" = --verbose ] || set -- \"$@\" \"$a\"; done\n"
                f"exec '{exe('devauthd')}' \"$@\"\n")
    os.chmod(path, 0o755)
    return path


def start_daemon(h, accounts, settings=None, quiet=True):
    h.start_daemon(accounts, settings, start=False)
    if quiet:
        h.daemon.binary = quiet_daemon_wrapper(h)
    h.daemon.start()
    return h.daemon


def daemon_pid(h):
    return h.daemon.proc.pid


def start_floor(h, token_size, scope, expires_at):
    argv = [exe("bench-floor"), "--name", FLOOR_NAME, "--token-size", str(token_size),
            "--scope", scope or "", "--expires-at", str(expires_at)]
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=h.bus.address)
    env.pop("NOTIFY_SOCKET", None)
    logf = open(os.path.join(h.tmp, "floor.log"), "w")
    proc = harness.Process("bench-floor", argv, env=env, stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    h.add_cleanup(proc.stop)
    wait_until(lambda: h.bus.name_owner(FLOOR_NAME), 10, "the floor to own its name")
    return proc


def bench_client(h, *args, timeout=600, extra_env=None):
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=h.bus.address, **(extra_env or {}))
    rc, out, err = harness.run_process([exe("bench-client"), *args], timeout=timeout, env=env)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise harness.TestFailure(f"bench-client {' '.join(args)} failed ({rc}): {err}")
    result = json.loads(lines[-1])
    result["rc"] = rc
    result["stderr"] = err[-2000:]
    return result


def sign_in_many(h, names, per_connection=4, wave=400, timeout=120):
    """Signs in many accounts: devauthd lets one caller wait on at most 4
    sign-ins, so each connection starts 4; a wave's connections stay until
    its accounts are signed in (a flow is cancelled when its caller leaves)."""
    done = 0
    for start in range(0, len(names), wave):
        batch = names[start:start + wave]
        conns = []
        codes = []
        for i in range(0, len(batch), per_connection):
            conn = h.bus.connect()
            conns.append(conn)
            for name in batch[i:i + per_connection]:
                prompt = h.login(name, connection=conn, timeout=30)
                codes.append((name, prompt["user-code"]))
        since = h.mark()
        for name, code in codes:
            h.idp.approve(code, sub=name)
        deadline = time.monotonic() + timeout
        want = set(batch)

        def all_signed_in():
            seen = {s["account"] for s in list(h.signals.signals[since:])
                    if s["state"] == "signed-in"}
            return want <= seen

        while not all_signed_in():
            if time.monotonic() > deadline:
                raise harness.TestFailure("accounts did not all sign in in time")
            time.sleep(0.5)
        for conn in conns:
            conn.close_sync(None)
        done += len(batch)
        log(f"signed in {done}/{len(names)} accounts")


# ---------------------------------------------------------------- /proc


def smaps(pid):
    """Rss, Pss, Private_Dirty (KiB) from /proc/PID/smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            m = re.match(r"(\w+):\s+(\d+) kB", line)
            if m and m.group(1) in ("Rss", "Pss", "Private_Dirty", "Pss_Anon", "Anonymous"):
                out[m.group(1)] = int(m.group(2))
    return out


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children_of(pid):
    """PIDs of the direct children of a process."""
    out = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            out = [int(x) for x in f.read().split()]
    except FileNotFoundError:
        pass
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------- the machine


def _cmd(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr) else ""
    except (OSError, subprocess.SubprocessError):
        return "(not available)"


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
    os_release = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_release = line.split("=", 1)[1].strip().strip('"')
    except FileNotFoundError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "os": os_release,
        "glib": _cmd(["pkg-config", "--modversion", "glib-2.0"]),
        "libsoup": _cmd(["pkg-config", "--modversion", "libsoup-3.0"]),
        "json-glib": _cmd(["pkg-config", "--modversion", "json-glib-1.0"]),
        "dbus-daemon": _cmd(["dbus-daemon", "--version"]),
        "gcc": _cmd(["gcc", "--version"]),
        "node": _cmd(["node", "--version"]),
        "devauthd": _cmd([exe("devauthd"), "--version"]),
        "oidc-agent": _cmd(["oidc-agent", "--version"]) if shutil.which("oidc-agent") else "(not installed)",
        "hyperfine": _cmd(["hyperfine", "--version"]) if shutil.which("hyperfine") else "(not installed)",
        "buildtype": _buildtype(),
        "source": _cmd(["git", "-C", SOURCE_ROOT, "describe", "--always", "--dirty"]),
    }


def _buildtype():
    try:
        with open(os.path.join(build_dir(), "meson-info", "intro-buildoptions.json")) as f:
            for opt in json.load(f):
                if opt["name"] == "buildtype":
                    return opt["value"]
    except (OSError, ValueError):
        pass
    return "unknown"


def median(values):
    values = sorted(values)
    n = len(values)
    if n == 0:
        return float("nan")
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def dbus_call(conn, dest, method, params, reply_type, timeout=15):
    return conn.call_sync(dest, harness.MANAGER_PATH, harness.MANAGER_IFACE, method, params,
                          GLib.VariantType(reply_type), Gio.DBusCallFlags.NO_AUTO_START,
                          int(timeout * 1000), None).unpack()


# ---------------------------------------------------------------- a recording reverse proxy


class OriginProxy:
    """A loopback reverse proxy in front of a whole origin (Keycloak's
    http://127.0.0.1:PORT): every request goes through unchanged, Host
    included, so Keycloak (start-dev: hostname not fixed, URLs from the
    request) names the proxy's origin as the issuer and every endpoint, and
    a client configured with that issuer sends all its requests here:
    discovery, JWKS, device authorization, polls, token, userinfo; the
    approver's page loads too. Redirects are passed back, not followed.

    Records (t0, t1 monotonic, method, path, grant_type, client, status,
    error) per request; the upstream connection is kept per client
    connection, so the proxy adds one loopback hop and no handshakes."""

    HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
           "upgrade", "content-length"}

    def __init__(self, target, name=""):
        import base64
        import http.client
        import http.server
        import threading
        import urllib.parse
        parts = urllib.parse.urlsplit(target)
        check(parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"),
              f"refusing a non-loopback target: {target}")
        self.name = name
        self.records = []
        self.lock = threading.Lock()
        proxy = self
        host, port = parts.hostname, parts.port

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            upstream = None

            def log_message(self, fmt, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1 << 20)) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in proxy.HOP}
                form = {}
                if body and "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
                    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                client = (form.get("client_id") or [""])[0]
                auth = self.headers.get("Authorization") or ""
                if not client and auth.startswith("Basic "):
                    try:
                        client = urllib.parse.unquote(
                            base64.b64decode(auth[6:]).decode().split(":", 1)[0])
                    except ValueError:
                        client = "?"
                t0 = time.monotonic()
                for attempt in (0, 1):
                    if self.upstream is None:
                        self.upstream = http.client.HTTPConnection(host, port, timeout=30)
                    try:
                        self.upstream.request(self.command, self.path, body=body, headers=headers)
                        resp = self.upstream.getresponse()
                        data = resp.read()
                        break
                    except (http.client.HTTPException, OSError):
                        # Keycloak closed a kept connection: once more on a new one
                        self.upstream.close()
                        self.upstream = None
                        if attempt:
                            raise
                t1 = time.monotonic()
                error = None
                if resp.status >= 400 and data[:1] == b"{":
                    try:
                        error = json.loads(data).get("error")
                    except ValueError:
                        pass
                with proxy.lock:
                    proxy.records.append({
                        "t0": t0, "t1": t1, "wall": time.time(), "method": self.command,
                        "path": self.path.split("?", 1)[0],
                        "grant_type": (form.get("grant_type") or [""])[0], "client": client,
                        "status": resp.status, "error": error})
                self.send_response_only(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in proxy.HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_HEAD = _forward

            def finish(self):
                super().finish()
                if self.upstream is not None:
                    self.upstream.close()

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def since(self, t=0.0):
        with self.lock:
            return [r for r in self.records if r["t0"] >= t]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
