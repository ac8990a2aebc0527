"""Token lifecycle under time and trouble: proactive refresh under load,
single-flight, outages, revocation, reboots, damaged state, crashes, many
accounts.

Short token lifetimes (3-8 s) make the lifecycle run in seconds. Timing
checks compare ratios or use wide margins, so that a loaded machine does
not fail them; every failure prints what is needed to see why (the
harness adds the daemon log and the IdP's last requests).
"""

import hashlib
import os
import random
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import harness  # first: it picks the GLib and Gio versions
from gi.repository import Gio, GLib  # noqa: E402
from harness import (ACCOUNT_IFACE, BUS_NAME, MANAGER_IFACE, MANAGER_PATH, DBusCallError,  # noqa: E402
                     account_conf, check, check_equal, print_err, requests_of, run_process,
                     wait_until)
from tcp_proxy import FaultProxy  # noqa: E402


# ---------------------------------------------------------------- helpers


def proxied_conf(idp, proxy, **extra):
    """An account whose every IdP request goes through the fault proxy.

    The issuer stays the IdP's own; explicit endpoints skip discovery."""
    settings = {
        "DeviceAuthorizationEndpoint": f"{proxy.origin}/device/auth",
        "TokenEndpoint": f"{proxy.origin}/token",
        "RevocationEndpoint": f"{proxy.origin}/token/revocation",
    }
    settings.update(extra)
    return account_conf(idp.issuer, extra=settings)


def start_proxy(h, idp):
    proxy = FaultProxy(idp.port)
    h.add_cleanup(proxy.stop)
    return proxy


def refreshes_between(stats, t0, t1=None):
    """The IdP's refresh events (ms timestamps) between two unix times (s)."""
    return [r for r in stats["refreshes"]
            if r["t"] >= t0 * 1000 and (t1 is None or r["t"] <= t1 * 1000)]


def device_flow_requests(stats):
    return stats["counters"]["device_authorization"] + stats["counters"]["token_device_code"]


def key_payload(h, description):
    """The payload of a key in the daemon's keyring, or None."""
    key = h.daemon.key_id(description)
    if key is None:
        return None
    rc, out, _ = run_process(["keyctl", "pipe", key], timeout=10)
    return out if rc == 0 else None


def record_field(record, name):
    """A field of a token record (devauthd-token-1, key=value lines)."""
    if record is None:
        return None
    for line in record.splitlines():
        key, sep, value = line.partition("=")
        if sep and key == name:
            return value
    return None


def keyring_token(h, account, kind):
    return record_field(key_payload(h, f"devauthd:{account}:{kind}"), "token")


def fingerprint(token):
    if token is None:
        return "(none)"
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:8]


def read_state_file(h, account):
    """Decrypts the account's state file as the daemon would: (refresh, access)
    tokens, or (None, reason). Diagnostics only: needs python3-cryptography."""
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    except ImportError:
        return None, "python3-cryptography is not installed"
    try:
        with open(os.path.join(h.daemon.config_dir, "storage.key"), "rb") as f:
            material = f.read()
        with open(os.path.join(h.daemon.state_dir, f"{account}.state"), "rb") as f:
            sealed = f.read()
    except OSError as e:
        return None, str(e)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"devauthd",
               info=b"devauthd storage key v1").derive(material)
    if sealed[:8] != b"DAVAULT1":
        return None, "no DAVAULT1 magic"
    try:
        plain = AESGCM(key).decrypt(sealed[8:20], sealed[20:],
                                    f"devauthd-vault-1:{account}".encode())
    except Exception as e:  # noqa: BLE001 - InvalidTag and friends
        return None, f"does not decrypt: {e!r}"
    text = plain.decode("utf-8", "replace")
    tokens = {}
    pos = text.find("\n") + 1
    while pos < len(text):
        nl = text.find("\n", pos)
        if nl < 0:
            break
        kind, _, size = text[pos:nl].partition(" ")
        record = text[nl + 1:nl + 1 + int(size)]
        tokens[kind] = record_field(record, "token")
        pos = nl + 1 + int(size)
    return (tokens.get("refresh"), tokens.get("access")), None


def introspect(h, token, client_id="devauth-demo"):
    """Whether the IdP holds the token as active (introspection does not use it up)."""
    status, body = h.idp.http("POST", h.idp.discovery()["introspection_endpoint"],
                              form={"token": token, "client_id": client_id})
    check(status == 200, f"introspection answered {status}: {body}")
    return bool(body.get("active"))


def daemon_log_lines(h, index=-1, exclude="GLib-GIO-DEBUG"):
    path = h.daemon.logs[index]
    try:
        with open(path, errors="replace") as f:
            return [line for line in f.read().splitlines() if exclude not in line]
    except FileNotFoundError:
        return []


def kill9(h):
    """SIGKILL devauthd and wait until the bus has let go of its name."""
    proc = h.daemon.proc
    check(proc is not None and proc.poll() is None, "devauthd is not running")
    t = time.time()
    os.kill(proc.pid, signal.SIGKILL)
    check(proc.wait(STOP_WAIT) is not None, "devauthd survived SIGKILL")
    check_equal(h.daemon.stop(), -signal.SIGKILL, "devauthd's exit status after SIGKILL")
    wait_until(lambda: h.bus.name_owner() is None, STOP_WAIT, "the bus name to be released")
    return t


STOP_WAIT = 10.0


class SignalRecorder:
    """Records one D-Bus signal (any object path) in a thread of its own."""

    def __init__(self, connection, interface, member, arg0=None):
        self.events = []  # (time, path, params)
        self._lock = threading.Lock()
        self._context = GLib.MainContext.new()
        self._loop = GLib.MainLoop.new(self._context, False)
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(connection, interface, member, arg0), daemon=True)
        self._thread.start()
        check(self._ready.wait(harness.START_TIMEOUT), "the signal thread did not start")

    def _on_signal(self, conn, sender, path, iface, member, params):
        with self._lock:
            self.events.append((time.time(), path, params.unpack()))

    def _run(self, connection, interface, member, arg0):
        self._context.push_thread_default()
        try:
            sub = connection.signal_subscribe(None, interface, member, None, arg0,
                                              Gio.DBusSignalFlags.NONE, self._on_signal)
            connection.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "GetId", None, None,
                                 Gio.DBusCallFlags.NONE, 15000, None)
            self._ready.set()
            self._loop.run()
            connection.signal_unsubscribe(sub)
        finally:
            self._context.pop_thread_default()

    def snapshot(self):
        with self._lock:
            return list(self.events)

    def stop(self):
        if self._thread.is_alive():
            self._context.invoke_full(GLib.PRIORITY_DEFAULT, lambda *a: self._loop.quit())
            self._thread.join(STOP_WAIT)


def concurrent_get_tokens(connections, n, min_validity, timeout=30.0, account=""):
    """n GetToken calls sent at once, round robin over the connections, without
    waiting for answers in between. Returns [(ok, token or error, info, seconds)]."""
    context = GLib.MainContext.new()
    context.push_thread_default()
    results = [None] * n
    left = [n]
    start = time.monotonic()

    def done(conn, res, i):
        try:
            token, info = conn.call_finish(res).unpack()
            results[i] = (True, token, info, time.monotonic() - start)
        except GLib.Error as e:
            results[i] = (False, harness._dbus_error(e), None, time.monotonic() - start)
        left[0] -= 1

    try:
        options = {"min-validity": GLib.Variant("u", min_validity)}
        for i in range(n):
            conn = connections[i % len(connections)]
            conn.call(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "GetToken",
                      GLib.Variant("(sa{sv})", (account, options)), GLib.VariantType("(sa{sv})"),
                      Gio.DBusCallFlags.NO_AUTO_START, int(timeout * 1000), None, done, i)
        deadline = time.monotonic() + timeout + 5
        while left[0] > 0 and time.monotonic() < deadline:
            if not context.iteration(False):
                time.sleep(0.002)
    finally:
        context.pop_thread_default()
    check(left[0] == 0, f"{left[0]} of {n} GetToken calls never came back")
    return results


def show_refreshes(stats, t0):
    return ", ".join(f"{(r['t'] / 1000 - t0):+.3f}s {r['result']}" for r in stats["refreshes"])


# ---------------------------------------------------------------- 1


def test_continuous_get_token(h):
    """20 s of GetToken with 4 s rotated tokens: every answer is a token the
    IdP accepts, the refreshes come at the proactive rate, never a replay."""
    lifetime = 4
    duration = 20.0
    h.setup("--interval", "1", "--access-ttl", str(lifetime), "--rotate-refresh")
    h.sign_in()
    h.idp.reset_stats()
    t_start = time.time()
    calls = 0
    failures = []
    tokens = []  # distinct, in order
    checked = 0
    i = 0
    while time.time() - t_start < duration:
        i += 1
        t_call = time.time()
        try:
            token, info = h.get_token(min_validity=1)
        except DBusCallError as e:
            failures.append(f"{t_call - t_start:+.3f}s GetToken: {e}")
            time.sleep(0.05)
            continue
        calls += 1
        t_back = time.time()
        left = info["expires-at"] - t_back
        new = not tokens or tokens[-1] != token
        if new:
            tokens.append(token)
        # every new token, every one near its end, and a sample of the rest
        if new or left < 2.0 or i % 4 == 0:
            status, body = h.idp.userinfo(token)
            checked += 1
            if status != 200:
                failures.append(
                    f"{t_back - t_start:+.3f}s token {fingerprint(token)} (expires-at "
                    f"{info['expires-at'] - t_start:+.3f}s, {left:.3f} s left per the daemon) "
                    f"refused at userinfo: {status} {body}")
        if info["expires-at"] - t_call < 0:
            failures.append(f"{t_back - t_start:+.3f}s served a token that expired at "
                            f"{info['expires-at'] - t_start:+.3f}s")
        time.sleep(0.04)
    t_end = time.time()
    elapsed = t_end - t_start
    stats = h.idp.stats()
    refreshes = refreshes_between(stats, t_start, t_end)
    results = [r["result"] for r in stats["refreshes"]]
    print_err(f"{calls} calls, {checked} checked at userinfo, {len(tokens)} tokens, "
              f"{len(refreshes)} refreshes in {elapsed:.1f} s: {show_refreshes(stats, t_start)}")
    check(not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:20]))
    check(results and all(r == "tokens" for r in results),
          f"a refresh was refused (a replayed rotated refresh token?): {results}")
    check_equal(h.properties()["State"], "signed-in", "State")
    # proactive: at about 75 % of the life (jitter -10 %..+5 %)
    nominal = elapsed / (0.75 * lifetime)
    check(0.6 * nominal <= len(refreshes) <= 1.5 * nominal,
          f"{len(refreshes)} refreshes in {elapsed:.1f} s; the proactive rate gives about "
          f"{nominal:.1f} (accepted {0.6 * nominal:.1f}..{1.5 * nominal:.1f})")
    check(len(tokens) >= len(refreshes), f"{len(tokens)} distinct tokens for {len(refreshes)} refreshes")
    check_equal(device_flow_requests(stats), 0, "device flow requests")
    # the daemon holds the current refresh token: one more refresh works
    h.refresh()
    check_equal(h.idp.stats()["refreshes"][-1]["result"], "tokens", "a forced refresh at the end")


# ---------------------------------------------------------------- 2


def test_concurrent_get_token(h):
    """50 GetToken at once, all needing a refresh: one request to the IdP,
    one new token for everybody."""
    h.start_idp("--interval", "1", "--access-ttl", "60", "--rotate-refresh")
    proxy = start_proxy(h, h.idp)
    h.start_bus()
    h.start_daemon({"demo": proxied_conf(h.idp, proxy)})
    h.sign_in()
    old, old_info = h.get_token(min_validity=0)
    # 59 s asked: more than the old token has left two seconds after it
    # came, less than a new one of 60 s has while the burst is served
    wait_until(lambda: old_info["expires-at"] - time.time() < 57.5, 5, "the token to age 2 s")
    connections = [h.bus.connection] + [h.bus.connect() for _ in range(4)]
    # the IdP's answer is held 1.5 s: every call arrives while it is on its way
    proxy.delay = 1.5
    h.idp.reset_stats()
    t0 = time.time()
    results = concurrent_get_tokens(connections, 50, 59)
    proxy.delay = 0.0
    errors = [r[1] for r in results if not r[0]]
    check(not errors, f"{len(errors)} of 50 GetToken failed: {errors[:5]}")
    tokens = {r[1] for r in results}
    expiries = {r[2]["expires-at"] for r in results}
    latencies = sorted(r[3] for r in results)
    print_err(f"50 answers between {latencies[0]:.3f} s and {latencies[-1]:.3f} s")
    check_equal(len(tokens), 1, "distinct tokens among the 50 answers")
    (token,) = tokens
    check(token != old, "the 50 calls got the old token")
    check_equal(len(expiries), 1, "distinct expires-at among the 50 answers")
    # nothing else follows
    time.sleep(1.0)
    stats = h.idp.stats()
    check_equal([r["result"] for r in stats["refreshes"]], ["tokens"],
                f"refreshes at the IdP after the burst ({show_refreshes(stats, t0)})")
    check_equal(len([e for e in proxy.events("request", t0) if "/token" in e["line"]]), 1,
                "token requests through the proxy")
    status, _ = h.idp.userinfo(token)
    check_equal(status, 200, "userinfo with the shared new token")


# ---------------------------------------------------------------- 3


def test_idp_outage(h):
    """The IdP goes away for longer than a token lives, then comes back."""
    lifetime = 5
    h.start_idp("--interval", "1", "--access-ttl", str(lifetime))
    proxy = start_proxy(h, h.idp)
    h.start_bus()
    # a hanging request is bounded by the HTTP timeout: longer than the 10 s
    # that GetToken waits, so that GetToken's own bound is what is seen
    h.start_daemon({"demo": proxied_conf(h.idp, proxy)}, daemon_settings={"HttpTimeoutSec": "30"})
    h.sign_in()
    token, info = h.get_token(min_validity=0)
    expires_at = info["expires-at"]

    # 1. the IdP stops answering (connections accepted, never answered)
    proxy.set_mode("hang")
    t_out = time.time()
    served = 0
    failure = None
    stale = []
    log = []
    deadline = expires_at + 25
    while time.time() < deadline:
        t_call = time.time()
        try:
            got, got_info = h.get_token(min_validity=0, timeout=40)
        except DBusCallError as e:
            failure = (e, t_call, time.time())
            break
        t_back = time.time()
        check_equal(got, token, "token while the IdP does not answer")
        status, body = h.idp.userinfo(got)  # the IdP itself, past the proxy
        log.append(f"{t_call - t_out:+.2f}s..{t_back - t_out:+.2f}s served, userinfo {status}")
        if status != 200 or t_call >= expires_at:
            # checked at the end, so that one run shows every problem
            stale.append(f"a token past its end was served at {t_call - t_out:+.2f}s "
                         f"(expires-at {expires_at - t_out:+.2f}s), userinfo {status} {body}")
        check_equal(h.properties()["State"], "signed-in", "State during the outage")
        served += 1
        time.sleep(0.2)
    check(failure is not None, f"GetToken still served a token {deadline - expires_at:.0f} s after "
          "it expired")
    error, t_call, t_back = failure
    print_err(f"served {served} times; GetToken failed after {t_back - t_call:.2f} s at "
              f"{t_back - t_out:+.2f}s (token expires-at {expires_at - t_out:+.2f}s): {error}")
    check_equal(error.short_name, "IdpUnreachable", f"error after expiry ({error})")
    # the daemon stops serving a token 1 s before its end (its expiry
    # margin); t_call is taken before the call reaches it, so the call's
    # own trip (slower under the sanitizers) is allowed on top of that
    slack = 1.0 + 0.25 * harness.SLOWDOWN
    check(t_call >= expires_at - slack,
          f"GetToken failed at {t_call - t_out:+.2f}s, more than {slack:.2f} s before the "
          f"token expired ({expires_at - t_out:+.2f}s)")
    check(t_back - t_call < 15.0,
          f"GetToken took {t_back - t_call:.2f} s to fail (bound: 10 s, accepted < 15 s)")
    check(served >= 1, "the cached token was never served during the outage")

    # 2. connections are now reset: attempts fail at once, and back off
    proxy.set_mode("reset")  # also ends the hanging request
    t_reset = time.time()
    last_error = wait_until(lambda: h.properties()["LastError"], 10,
                            "LastError after the refresh failed")
    print_err(f"LastError: {last_error!r}")
    check("refresh" in last_error.lower(), f"LastError does not say the refresh failed: {last_error!r}")
    attempts = []

    def three_attempts():
        nonlocal attempts
        times = [e["t"] for e in proxy.connections_since(t_reset, mode="reset")]
        attempts = []
        for t in times:  # a client may open two connections for one attempt
            if not attempts or t - attempts[-1] > 0.5:
                attempts.append(t)
        props = h.properties()
        check_equal(props["State"], "signed-in", "State during the outage")
        check(props["LastError"] != "", "LastError was cleared during the outage")
        return len(attempts) >= 3

    wait_until(three_attempts, 30, "three refresh attempts during the outage", interval=0.5)
    points = [t_reset] + attempts[:3]
    gaps = [b - a for a, b in zip(points, points[1:])]
    print_err("attempts at " + ", ".join(f"{t - t_reset:+.2f}s" for t in attempts)
              + "; gaps " + ", ".join(f"{g:.2f}" for g in gaps))
    check(gaps[0] >= 1.0, f"the first retry came {gaps[0]:.2f} s after the failure")
    for a, b in zip(gaps, gaps[1:]):
        check(b >= 1.4 * a, f"the retries do not back off: gaps {', '.join(f'{g:.2f}' for g in gaps)} s")

    # 3. the IdP is back: the account recovers with no sign-in
    h.idp.reset_stats()
    proxy.set_mode("pass")
    fresh, fresh_info = h.get_token(min_validity=1)
    check(fresh != token, "GetToken returned the expired token after the outage")
    status, _ = h.idp.userinfo(fresh)
    check_equal(status, 200, "userinfo with the token after the outage")
    props = h.properties()
    check_equal(props["State"], "signed-in", "State after the outage")
    check_equal(props["LastError"], "", "LastError after the recovery")
    stats = h.idp.stats()
    check_equal(device_flow_requests(stats), 0, "device flow requests after the outage")
    check_equal([r["result"] for r in stats["refreshes"]], ["tokens"], "refreshes after the outage")
    check(not stale, "while the IdP did not answer, GetToken (min-validity 0) served the "
          "cached token after it had expired:\n" + "\n".join(stale + ["calls:"] + log[-6:]))


# ---------------------------------------------------------------- 4


def autologin_world(h, *idp_options):
    h.start_idp("--interval", "1", *idp_options)
    h.start_bus()
    since = h.mark()
    h.start_daemon({"demo": account_conf(h.idp.issuer, extra={"AutoLogin": "yes"})})
    return since


def test_revoked_autologin(h):
    """The IdP drops every grant: the next background refresh finds out,
    reauth-required, and with AutoLogin=yes a new code comes by itself."""
    lifetime = 4
    since = autologin_world(h, "--access-ttl", str(lifetime))
    first = h.wait_status("awaiting-user", since=since)
    since = h.mark()
    h.idp.approve(first["details"]["user-code"])
    h.wait_status("signed-in", since=since)
    token, _ = h.get_token(min_validity=0)

    h.idp.reset_stats()
    since = h.mark()
    t0 = time.time()
    h.idp.revoke_all()
    # no call of ours: the proactive refresh is what finds out
    reauth = h.wait_status("reauth-required", since=since, timeout=lifetime + 10)
    check(reauth["t"] - t0 <= lifetime + 3,
          f"reauth-required came {reauth['t'] - t0:.1f} s after the revocation")
    check(reauth["details"].get("error") == "reauth-required"
          and reauth["details"].get("error-description"),
          f"reauth-required without error and error-description: {reauth['details']}")
    prompt = h.wait_status("awaiting-user", since=since, timeout=10)
    code = prompt["details"].get("user-code")
    check(code and code != first["details"]["user-code"],
          f"the new prompt has no new user-code: {prompt['details']}")
    for key in ("verification-uri", "expires-at", "qr-size"):
        check(key in prompt["details"], f"the new prompt has no {key}: {prompt['details']}")
    stats = h.idp.stats()
    check_equal([r["result"] for r in stats["refreshes"]], ["invalid_grant"],
                "refreshes after the revocation")
    # (LastError is cleared once the new sign-in has started: the prompt is
    # what matters then; the reason went out with reauth-required)
    check_equal(h.properties()["State"], "awaiting-user", "State after the revocation")
    h.expect_error("NotSignedIn", h.get_token)
    for kind in ("access", "refresh"):
        check(h.daemon.key_id(f"devauthd:demo:{kind}") is None,
              f"the {kind} key is still in the keyring")
    status, _ = h.idp.userinfo(token)
    check_equal(status, 401, "userinfo with the revoked token")

    # the user approves the new code
    since = h.mark()
    h.idp.approve(code, sub="ursula")
    h.wait_status("signed-in", since=since)
    fresh, _ = h.get_token(min_validity=0)
    status, body = h.idp.userinfo(fresh)
    check_equal(status, 200, "userinfo after signing in again")
    check_equal(body.get("sub"), "ursula", "sub after signing in again")


def test_autologin_code_expires(h):
    """AutoLogin=yes and a code nobody approves: a fresh code each time the
    old one expires, no tighter than the code lifetime; the last one works."""
    ttl = 3
    since = autologin_world(h, "--device-code-ttl", str(ttl))
    t0 = time.time()
    codes = []
    prompts = []
    deadline = time.monotonic() + 4 * ttl + 15
    while len(codes) < 3:
        left = deadline - time.monotonic()
        check(left > 0, f"only {len(codes)} codes within {4 * ttl + 15} s: {codes}")
        s = h.wait_status("awaiting-user", since=since, timeout=left)
        since = h.signals.signals.index(s) + 1
        code = s["details"]["user-code"]
        check(code not in codes, f"user-code {code} came twice")
        codes.append(code)
        prompts.append(s)
    times = [p["t"] - t0 for p in prompts]
    print_err("codes at " + ", ".join(f"{t:+.2f}s" for t in times))
    for a, b in zip(times, times[1:]):
        check(b - a >= ttl - 1.0, f"a new code came {b - a:.2f} s after the previous one "
              f"(the code lives {ttl} s)")
        check(b - a <= ttl + 8.0, f"a new code came only {b - a:.2f} s after the previous one")
    expired = [s for s in h.signals.signals if s["account"] == "demo"
               and s["details"].get("error") == "expired"]
    check(len(expired) >= 2, f"no StatusChanged with error 'expired' between codes: "
          f"{[(s['state'], s['details'].get('error')) for s in h.signals.signals]}")
    stats = h.idp.stats()
    check(stats["counters"]["device_authorization"] <= len(codes) + 1,
          f"{stats['counters']['device_authorization']} device authorizations for "
          f"{len(codes)} codes")
    # the last code is the live one
    since = h.mark()
    h.idp.approve(codes[-1])
    h.wait_status("signed-in", since=since)
    token, _ = h.get_token(min_validity=0)
    status, _ = h.idp.userinfo(token)
    check_equal(status, 200, "userinfo after approving the latest code")


# ---------------------------------------------------------------- 5


def test_reboot(h):
    """A reboot: the keyring is gone, the access token expired meanwhile, the
    refresh token was rotated; then a keyring left over from another boot."""
    lifetime = 4
    h.setup("--interval", "1", "--access-ttl", str(lifetime), "--rotate-refresh")
    h.sign_in(sub="rita")
    h.refresh()  # the refresh token on disk is a rotated one
    _, info = h.get_token(min_validity=0)
    check_equal(h.daemon.stop(), 0, "devauthd's exit status on SIGTERM")
    h.daemon.unlink_keyring()
    wait_until(lambda: time.time() > info["expires-at"] + 1, lifetime + 3,
               "the access token to expire while the device is off")
    h.idp.reset_stats()

    h.daemon.start()
    props = h.properties()
    check_equal(props["State"], "signed-in", "State after the reboot")
    check_equal(props["Subject"], "rita", "Subject after the reboot")
    token, _ = h.get_token(min_validity=1)
    status, body = h.idp.userinfo(token)
    check_equal(status, 200, f"userinfo with the token after the reboot ({body})")
    stats = h.idp.stats()
    check_equal(device_flow_requests(stats), 0, "device flow requests after the reboot")
    check(stats["refreshes"] and all(r["result"] == "tokens" for r in stats["refreshes"]),
          f"refreshes after the reboot: {stats['refreshes']}")
    check(any("from the state directory" in line for line in daemon_log_lines(h)),
          "the log does not say the sign-in came from the state directory")

    # a keyring from another boot (a restored image, a container): its cache
    # must not be trusted; the state directory is the truth
    check_equal(h.daemon.stop(), 0, "devauthd's exit status on SIGTERM")
    ring = h.daemon.keyring_id()
    check(ring is not None, "the keyring is gone")
    stale = ("devauthd-token-1\nexpires-at=%d\ntoken-type=Bearer\nsubject=mallory\n"
             "token=stale-token-from-another-boot\n" % (int(time.time()) + 3600))
    for desc, payload in (("devauthd:boot-id", "00000000-0000-4000-8000-000000000000"),
                          ("devauthd:demo:access", stale)):
        rc, _, err = run_process(["keyctl", "padd", "user", desc, ring], timeout=10,
                                 input_text=payload)
        check_equal(rc, 0, f"keyctl padd {desc} ({err})")
    h.idp.reset_stats()
    h.daemon.start()
    props = h.properties()
    check_equal(props["State"], "signed-in", "State with a keyring from another boot")
    check_equal(props["Subject"], "rita", "Subject with a keyring from another boot")
    token, _ = h.get_token(min_validity=1)
    check(token != "stale-token-from-another-boot", "the token of another boot was served")
    status, _ = h.idp.userinfo(token)
    check_equal(status, 200, "userinfo with a keyring from another boot")
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot_id = f.read().strip()
    check_equal(key_payload(h, "devauthd:boot-id"), boot_id, "boot id in the keyring")
    check(any("another boot" in line for line in daemon_log_lines(h)),
          "the log does not say the keyring was from another boot")
    check_equal(device_flow_requests(h.idp.stats()), 0, "device flow requests")


# ---------------------------------------------------------------- 6


def two_account_world(h, *idp_options):
    h.start_idp("--interval", "1", *idp_options)
    h.start_bus()
    h.start_daemon({name: account_conf(h.idp.issuer) for name in ("alpha", "beta")},
                   daemon_settings={"DefaultAccount": "alpha"})


def sign_in_account(h, account, sub):
    since = h.mark()
    prompt = h.login(account)
    h.idp.approve(prompt["user-code"], sub=sub)
    h.wait_status("signed-in", account=account, since=since)


def check_serves(h, account, what):
    token, _ = h.get_token(account, min_validity=1)
    status, _ = h.idp.userinfo(token)
    check_equal(status, 200, f"userinfo with {account}'s token {what}")
    check_equal(h.properties(account)["State"], "signed-in", f"State of {account} {what}")


def check_unreadable(h, account, path, what, log_from):
    props = h.properties(account)
    check_equal(props["State"], "reauth-required", f"State of {account} {what}")
    check("sign in again" in props["LastError"],
          f"LastError of {account} {what} does not say to sign in again: {props['LastError']!r}")
    h.expect_error("NotSignedIn", h.get_token, account)
    log = "\n".join(daemon_log_lines(h)[log_from:])
    check(any(path in line and account in line for line in log.splitlines()),
          f"no log line names {path} {what}:\n{log[-3000:]}")
    check(h.daemon.proc.poll() is None, f"devauthd exited {what}")


def test_damaged_state(h):
    """One account's state file is tampered with, truncated, emptied or
    swapped for another account's: that account must sign in again, the
    other one goes on, the file is left for the admin."""
    two_account_world(h)
    sign_in_account(h, "alpha", "ann")
    sign_in_account(h, "beta", "bob")
    state = h.daemon.state_dir
    alpha = os.path.join(state, "alpha.state")
    beta = os.path.join(state, "beta.state")
    with open(alpha, "rb") as f:
        good = f.read()
    with open(beta, "rb") as f:
        other = f.read()
    check_equal(h.daemon.stop(), 0, "devauthd's exit status on SIGTERM")
    middle = len(good) // 2
    variants = [
        ("tampered", good[:middle] + bytes([good[middle] ^ 0x01]) + good[middle + 1:]),
        ("truncated", good[:middle]),
        ("cut to its header", good[:12]),
        ("empty", b""),
        ("another account's", other),
    ]
    for what, data in variants:
        what = f"with a {what} state file"
        with open(alpha, "wb") as f:
            f.write(data)
        os.chmod(alpha, 0o600)
        h.daemon.unlink_keyring()  # a reboot: only the disk is left
        h.daemon.start()
        check_unreadable(h, "alpha", alpha, what, 0)
        check_serves(h, "beta", what)
        with open(alpha, "rb") as f:
            check(f.read() == data, f"the damaged file was changed {what}")
        check_equal(h.daemon.stop(), 0, f"devauthd's exit status on SIGTERM {what}")

    # the admin repairs it by signing in again
    h.daemon.unlink_keyring()
    h.daemon.start()
    sign_in_account(h, "alpha", "ann")
    check_serves(h, "alpha", "after signing in again")
    check_serves(h, "beta", "after alpha signed in again")


def test_wrong_storage_key(h):
    """The storage key changed (an admin mistake): the sign-in stored under
    the old key is reauth-required and its file is kept; another account
    signs in under the new key and works; the old key brings it back."""
    two_account_world(h)
    sign_in_account(h, "alpha", "ann")
    key_file = os.path.join(h.daemon.config_dir, "storage.key")
    alpha = os.path.join(h.daemon.state_dir, "alpha.state")
    with open(key_file, "rb") as f:
        old_key = f.read()
    with open(alpha, "rb") as f:
        sealed = f.read()
    check_equal(h.daemon.stop(), 0, "devauthd's exit status on SIGTERM")
    with open(key_file, "wb") as f:
        f.write(os.urandom(32))
    h.daemon.unlink_keyring()
    h.daemon.start()
    check_unreadable(h, "alpha", alpha, "under another storage key", 0)
    sign_in_account(h, "beta", "bob")
    check_serves(h, "beta", "under the new storage key")
    with open(alpha, "rb") as f:
        check(f.read() == sealed, "the state file sealed with the old key was changed")

    # the old key is back: alpha is back (beta was sealed with the other key)
    check_equal(h.daemon.stop(), 0, "devauthd's exit status on SIGTERM")
    with open(key_file, "wb") as f:
        f.write(old_key)
    h.daemon.unlink_keyring()
    h.daemon.start()
    check_serves(h, "alpha", "with the old storage key back")
    check_unreadable(h, "beta", os.path.join(h.daemon.state_dir, "beta.state"),
                     "with the old storage key back", 0)


# ---------------------------------------------------------------- 7


def test_kill9_loop(h):
    """SIGKILL at random moments of the refresh cycle, 8 times, with 3 s
    rotated tokens: every restart is signed in and serves a good token.

    The one loss allowed is a refresh the IdP answered that the daemon had
    not yet written to disk when it died. After every kill the refresh
    tokens in the keyring and on disk are asked at the IdP (introspection
    does not use them up), so such a loss is told apart from a bug."""
    lifetime = 3
    cycle = 0.75 * lifetime
    seed = int(os.environ.get("DEVAUTH_TEST_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    print_err(f"seed {seed} (DEVAUTH_TEST_SEED={seed} repeats the kill times)")
    h.setup("--interval", "1", "--access-ttl", str(lifetime), "--rotate-refresh")
    t0 = time.time()
    h.sign_in()
    allowed_losses = []
    report = []
    iterations = 8
    for i in range(iterations):
        time.sleep(rng.uniform(0, cycle))
        started = len(h.daemon.logs) - 1
        t_kill = kill9(h)
        # a refresh the daemon sent just before it died still reaches the IdP
        time.sleep(0.5)
        ring_refresh = keyring_token(h, "demo", "refresh")
        disk, why = read_state_file(h, "demo")
        disk_refresh = disk[0] if disk else None
        ring_ok = ring_refresh is not None and introspect(h, ring_refresh)
        disk_ok = disk_refresh is not None and introspect(h, disk_refresh)
        line = (f"#{i} kill at {t_kill - t0:+.3f}s: keyring refresh {fingerprint(ring_refresh)} "
                f"{'active' if ring_ok else 'NOT active'}, disk refresh "
                + (f"{fingerprint(disk_refresh)} {'active' if disk_ok else 'NOT active'}"
                   if disk is not None else f"unknown ({why})"))
        report.append(line)

        def around_kill():
            return ("IdP refreshes (relative to the kill): "
                    + ", ".join(f"{r['t'] / 1000 - t_kill:+.3f}s {r['result']}"
                                for r in h.idp.stats()["refreshes"][-6:]))

        def diagnosis(problem):
            killed_log = daemon_log_lines(h, started)
            return (f"{problem}\nseed {seed}\n" + "\n".join(report) + "\n" + around_kill()
                    + "\nend of the killed daemon's log:\n" + "\n".join(killed_log[-12:]))

        if not ring_ok:
            if disk_ok:
                raise harness.TestFailure(diagnosis(
                    "the disk holds the current refresh token but the keyring a stale one: "
                    "a restart trusts the keyring (da_account_restore) and replays it"))
            if disk is None and why and "cryptography" in why:
                raise harness.TestFailure(diagnosis(
                    "the keyring's refresh token is no longer active and the state file "
                    "cannot be checked"))
            # neither is current: the IdP's answer was lost before the durable write
            last = [r for r in h.idp.stats()["refreshes"] if r["t"] / 1000 <= t_kill + 0.5]
            check(last and last[-1]["result"] == "tokens" and t_kill - last[-1]["t"] / 1000 < 1.0,
                  diagnosis("the refresh token is lost, but no refresh was answered just "
                            "before the kill"))
            allowed_losses.append(f"allowed loss (the IdP answered, the daemon died before "
                                  f"writing): {line}; {around_kill()}")
            print_err(allowed_losses[-1])
            h.daemon.start()
            since = h.mark()
            prompt = h.login()
            h.idp.approve(prompt["user-code"])
            h.wait_status("signed-in", since=since)
            continue
        if disk is not None and disk_refresh != ring_refresh:
            report[-1] += " (keyring and disk differ)"
        h.daemon.start()
        props = h.properties()
        check(props["State"] == "signed-in",
              diagnosis(f"State {props['State']!r} after restart #{i} ({props['LastError']!r})"))
        try:
            token, _ = h.get_token(min_validity=1)
        except DBusCallError as e:
            raise harness.TestFailure(diagnosis(f"GetToken after restart #{i}: {e}")) from None
        status, body = h.idp.userinfo(token)
        check(status == 200, diagnosis(f"userinfo after restart #{i}: {status} {body}"))
    # one more refresh proves the daemon holds the live refresh token
    h.refresh()
    stats = h.idp.stats()
    results = [r["result"] for r in stats["refreshes"]]
    print_err("\n".join(report))
    print_err(f"{len(results)} refreshes: {show_refreshes(stats, t0)}")
    refused = [r for r in stats["refreshes"] if r["result"] != "tokens"]
    check(len(refused) <= len(allowed_losses),
          f"{len(refused)} refreshes refused, {len(allowed_losses)} explained losses: {results}")
    check(len(allowed_losses) <= 2,
          f"{len(allowed_losses)} of {iterations} kills lost the sign-in; the window between the "
          f"IdP's answer and the disk write should be a few milliseconds:\n"
          + "\n".join(allowed_losses))
    check_equal(h.properties()["State"], "signed-in", "State at the end")


# ---------------------------------------------------------------- 8


def test_no_token_on_disk(h):
    """After refreshes with rotation, no access or refresh token that was
    ever issued is in a file of the state, configuration or runtime
    directory, nor in the log; state files are 0600."""
    lifetime = 3
    h.setup("--interval", "1", "--access-ttl", str(lifetime), "--rotate-refresh")
    h.sign_in()
    access = set()
    refresh = set()
    t_end = time.time() + 3 * lifetime
    while time.time() < t_end:
        token, _ = h.get_token(min_validity=0)
        access.add(token)
        value = keyring_token(h, "demo", "refresh")
        if value:
            refresh.add(value)
        time.sleep(0.25)
    h.refresh()
    access.add(h.get_token(min_validity=0)[0])
    refresh.add(keyring_token(h, "demo", "refresh"))
    refresh.discard(None)
    print_err(f"{len(access)} access tokens, {len(refresh)} refresh tokens collected")
    check(len(access) >= 3, f"only {len(access)} access tokens in {3 * lifetime} s")
    check(len(refresh) >= 3, f"only {len(refresh)} refresh tokens in {3 * lifetime} s: "
          "no rotation?")
    # what a file must not contain: each token, and any 16-character piece of it
    needles = []
    for kind, tokens in (("access", access), ("refresh", refresh)):
        for token in tokens:
            check(len(token) >= 16, f"a short {kind} token: {len(token)} characters")
            pieces = {token[j:j + 16].encode() for j in range(0, len(token) - 15, 8)}
            needles.append((kind, token, pieces))
    dirs = [h.daemon.state_dir, h.daemon.config_dir, h.daemon.runtime_dir]
    files = []
    for d in dirs:
        for root, _, names in os.walk(d):
            # regular files: the runtime directory holds a socket too
            files.extend(p for p in (os.path.join(root, n) for n in names) if os.path.isfile(p))
    files.extend(h.daemon.logs)
    found = []
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        for kind, token, pieces in needles:
            if any(p in data for p in pieces):
                found.append(f"{path}: a {kind} token {fingerprint(token)}")
    check(not found, "tokens in plain text:\n" + "\n".join(found))
    states = [n for n in os.listdir(h.daemon.state_dir)]
    check_equal(states, ["demo.state"], "files in the state directory")
    for name in states:
        mode = os.stat(os.path.join(h.daemon.state_dir, name)).st_mode & 0o7777
        check_equal(oct(mode), oct(0o600), f"mode of {name}")
    # the state on disk is the live one (diagnostic when python3-cryptography is there)
    disk, why = read_state_file(h, "demo")
    if disk is None:
        print_err(f"state file not checked against the keyring: {why}")
    else:
        check_equal(fingerprint(disk[0]), fingerprint(keyring_token(h, "demo", "refresh")),
                    "refresh token on disk vs in the keyring")


# ---------------------------------------------------------------- 9


def test_many_accounts(h):
    """200 accounts signed in at about the same time with 8 s tokens: their
    refreshes are spread out, not a burst every 6 s."""
    n = 200
    lifetime = 8
    h.start_idp("--interval", "1", "--access-ttl", str(lifetime))
    h.start_bus()
    names = [f"acct{i:03d}" for i in range(n)]
    # one client for all: each device flow is a grant of its own
    accounts = {name: account_conf(h.idp.issuer, extra={"AutoLogin": "yes"}) for name in names}
    changes = SignalRecorder(h.bus.connection, "org.freedesktop.DBus.Properties",
                             "PropertiesChanged", ACCOUNT_IFACE)
    h.add_cleanup(changes.stop)
    t_boot = time.time()
    h.start_daemon(accounts)

    def prompts():
        codes = {}
        for s in list(h.signals.signals):
            if s["state"] == "awaiting-user" and "user-code" in s["details"]:
                codes[s["account"]] = s["details"]["user-code"]
        return codes if len(codes) == n else None

    # one discovery, a few key fetches and 200 device requests, then 200 accounts
    # polling each second: the sanitizer build needs its slowdown here
    codes = wait_until(prompts, 30 + 15 * harness.SLOWDOWN, f"{n} automatic sign-ins to show a code",
                       interval=0.2)
    t_prompts = time.time()
    # one IdP: the sign-ins that start together share discovery and the key
    # fetch (a fetch of 200 at once outlasts the request timeout)
    stats = h.idp.stats()
    discoveries = len(requests_of(stats, "/.well-known/openid-configuration"))
    key_fetches = len(requests_of(stats, "/jwks"))
    check(discoveries == 1, f"{discoveries} discoveries for {n} accounts of one IdP")
    check(1 <= key_fetches <= n // 10, f"{key_fetches} key fetches for {n} sign-ins started together")
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda name: h.idp.approve(codes[name], sub=name), names))
    t_approved = time.time()

    def signed_in():
        out = {}
        for s in list(h.signals.signals):
            if s["state"] == "signed-in" and s["account"] not in out:
                out[s["account"]] = s
        return out if len(out) == n else None

    signins = wait_until(signed_in, 20 + 10 * harness.SLOWDOWN, f"{n} sign-ins", interval=0.2)
    t_signins = sorted(s["t"] for s in signins.values())
    print_err(f"codes after {t_prompts - t_boot:.1f} s ({key_fetches} key fetches), "
              f"approved in {t_approved - t_prompts:.1f} s, "
              f"sign-ins spread over {t_signins[-1] - t_signins[0]:.2f} s")
    paths = {path: name for name, path in h.list_accounts()}

    first = {}

    def first_refreshes():
        for t, path, (iface, changed, _) in changes.snapshot():
            name = paths.get(path)
            if name is None or name in first or "AccessTokenExpiresAt" not in changed:
                continue
            s = signins[name]
            if t > s["t"] and changed["AccessTokenExpiresAt"] > s["details"]["expires-at"]:
                first[name] = t
        return len(first) == n

    wait_until(first_refreshes, lifetime + 10, f"a refresh of each of the {n} accounts",
               interval=0.2)
    window_end = t_signins[-1] + 2 * lifetime + 0.5
    time.sleep(max(0.0, window_end - time.time()))
    stats = h.idp.stats()
    refreshes = refreshes_between(stats, t_signins[0], window_end)
    refused = [r for r in refreshes if r["result"] != "tokens"]
    check(not refused, f"{len(refused)} refreshes refused: {refused[:5]}")

    # When each account's refresh timer fired, from the daemon's log: the
    # moment it asked the IdP, before any queue at the IdP or in the daemon
    # (a burst makes the answers late, which would look like a spread).
    taken, fired = {}, {}
    for line in daemon_log_lines(h):
        m = LOG_EVENT.search(line)
        if not m:
            continue
        hh, mm, ss, ms, name, what = m.groups()
        t = int(hh) * 3600 + int(mm) * 60 + int(ss) + int(ms) / 1000
        if what == "new access token" and name not in taken:
            taken[name] = t
        elif what == "refreshing the access token" and name in taken and name not in fired:
            fired[name] = t
    missing = [name for name in names if name not in fired]
    check(not missing, f"no 'refreshing the access token' line in the log for {missing[:5]} "
          f"({len(missing)} accounts)")
    delays = sorted((fired[name] - taken[name]) % 86400 for name in names)
    # the middle 80 %: one account whose timer rounded another way is no spread
    spread = delays[n * 9 // 10] - delays[n // 10]
    done = sorted(first[name] - signins[name]["t"] for name in names)
    # half-second buckets of the IdP's arrival times
    buckets = {}
    for r in refreshes:
        b = int(2 * (r["t"] / 1000 - refreshes[0]["t"] / 1000))
        buckets[b] = buckets.get(b, 0) + 1
    busiest = max(buckets.values())
    histogram = " ".join(f"{b / 2:.1f}s:{buckets[b]}" for b in sorted(buckets))
    print_err(f"first refresh asked {delays[0]:.2f}..{delays[-1]:.2f} s after sign-in "
              f"(median {delays[n // 2]:.2f}, 10th..90th percentile within {spread:.2f} s = "
              f"{spread / lifetime:.0%} of the life), done {done[0]:.2f}..{done[-1]:.2f} s after; "
              f"{len(refreshes)} refreshes at the IdP, per half second: {histogram}")
    for name in names:
        check_equal(h.properties(name)["State"], "signed-in", f"State of {name}")
    problems = []
    # 65 %..80 % of the life; expires-at has a resolution of 1 s, and the
    # machine may be loaded
    low, high = 0.65 * lifetime - 1.5, 0.80 * lifetime + 1.0
    if not (delays[0] >= low and delays[-1] <= high):
        problems.append(f"first refreshes asked {delays[0]:.2f}..{delays[-1]:.2f} s after sign-in; "
                        f"expected within {low:.1f}..{high:.1f} s (75 % of {lifetime} s, "
                        f"jitter -10 %..+5 %)")
    # jitter -10 %..+5 % of the life: the middle 80 % of 200 accounts span
    # about 12 % (80 % of 15 %); without jitter they span almost nothing
    if spread < 0.08 * lifetime:
        problems.append(f"the first refreshes of {n} accounts were asked {delays[0]:.2f}.."
                        f"{delays[-1]:.2f} s after their sign-ins, the middle 80 % within "
                        f"{spread:.2f} s = {spread / lifetime:.1%} of the life (expected >= 8 %): "
                        f"no jitter")
    # with 8 s tokens the jitter spans 1.2 s: half a second may hold at most
    # half of the accounts (without jitter it holds nearly all of them)
    if busiest > 0.5 * n:
        problems.append(f"{busiest} refreshes in half a second ({busiest / n:.0%} of the accounts; "
                        f"accepted <= 50 %): a burst; per half second: {histogram}")
    # and no account was left with an expired token meanwhile
    if done[-1] > lifetime + 1.0:
        problems.append(f"a first refresh was done {done[-1]:.2f} s after sign-in: the token of "
                        f"{lifetime} s had expired")
    check(not problems, "\n".join(problems))


LOG_EVENT = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d{3}): account (\S+): "
                       r"(new access token|refreshing the access token)")


# ---------------------------------------------------------------- resume

LOGIN1_POLICY = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root">
    <allow own="org.freedesktop.login1"/>
  </policy>
</busconfig>
"""


def check_prompt_retry(h, proxy, what, event, before_outage=None):
    """Refreshes fail (the proxy resets them) until the backoff has grown;
    then the IdP is reachable again and nothing says so but @event: the
    refresh must come at once, sooner than the backoff would have let it."""
    if before_outage is not None:
        before_outage()
    proxy.set_mode("reset")
    t_reset = time.time()
    attempts = []

    def three_attempts():
        nonlocal attempts
        attempts = []
        for e in proxy.connections_since(t_reset, mode="reset"):
            if not attempts or e["t"] - attempts[-1] > 0.5:
                attempts.append(e["t"])
        return len(attempts) >= 3

    wait_until(three_attempts, 40, "three failed refresh attempts", interval=0.2)
    check(h.properties()["LastError"] != "", "LastError is empty after failed refreshes")
    gap = attempts[2] - attempts[1]

    h.idp.reset_stats()
    proxy.set_mode("pass")
    time.sleep(0.3)
    check_equal(h.idp.stats()["refreshes"], [], f"refreshes before {what}")
    t_event = time.time()
    event()
    wait_until(lambda: [r["result"] for r in h.idp.stats()["refreshes"]] == ["tokens"], 5,
               f"a refresh right after {what}", interval=0.1)
    took = time.time() - t_event
    print_err(f"retries {gap:.1f} s apart before; refreshed {took:.2f} s after {what}")
    check(took < gap, f"the refresh came {took:.2f} s after {what}, no sooner than the "
          f"backoff ({gap:.1f} s) would have")
    wait_until(lambda: h.properties()["LastError"] == "", 5, "LastError cleared")
    token, _ = h.get_token(min_validity=1)
    status, _ = h.idp.userinfo(token)
    check_equal(status, 200, f"userinfo with the token after {what}")


def test_resume(h):
    """A device that wakes up (logind's PrepareForSleep(false)) looks at
    its tokens at once instead of sleeping out its backoff."""
    h.start_idp("--interval", "1", "--access-ttl", "6")
    policy = os.path.join(h.tmp, "login1.conf")
    with open(policy, "w") as f:
        f.write(LOGIN1_POLICY)
    h.start_bus(extra_policies=[policy])
    proxy = start_proxy(h, h.idp)
    h.start_daemon({"demo": proxied_conf(h.idp, proxy)})
    h.sign_in()

    # a stand-in for logind on the private bus
    logind = h.bus.connect()
    reply = logind.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                             "org.freedesktop.DBus", "RequestName",
                             GLib.Variant("(su)", ("org.freedesktop.login1", 0)),
                             GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 5000, None)
    check_equal(reply.unpack()[0], 1, "owning org.freedesktop.login1 on the private bus")

    def wake_up():
        for sleeping in (True, False):
            logind.emit_signal(None, "/org/freedesktop/login1", "org.freedesktop.login1.Manager",
                               "PrepareForSleep", GLib.Variant("(b)", (sleeping,)))

    check_prompt_retry(h, proxy, "the wake-up", wake_up)


# NetworkManager's D-Bus API as far as GIO's network monitor reads it
NM_XML = """<node><interface name="org.freedesktop.NetworkManager">
  <property name="State" type="u" access="read"/>
  <property name="Connectivity" type="u" access="read"/>
</interface></node>"""
NM_POLICY = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root">
    <allow own="org.freedesktop.NetworkManager"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.NetworkManager"/>
  </policy>
</busconfig>
"""
NM_STATE_DISCONNECTED, NM_STATE_CONNECTED_GLOBAL = 20, 70
NM_CONNECTIVITY_NONE, NM_CONNECTIVITY_FULL = 1, 4


class StandInNetworkManager:
    """org.freedesktop.NetworkManager on the private bus: the State and
    Connectivity properties, and PropertiesChanged when they change."""

    PATH = "/org/freedesktop/NetworkManager"
    IFACE = "org.freedesktop.NetworkManager"

    def __init__(self, h):
        self.props = {"State": NM_STATE_CONNECTED_GLOBAL, "Connectivity": NM_CONNECTIVITY_FULL}
        self.ready = threading.Event()
        self.context = GLib.MainContext.new()
        self.loop = GLib.MainLoop.new(self.context, False)
        self.thread = threading.Thread(target=self._run, args=(h,), daemon=True)
        self.thread.start()
        check(self.ready.wait(harness.START_TIMEOUT), "the stand-in NetworkManager did not start")
        check(self.owned, "owning org.freedesktop.NetworkManager on the private bus")

    def _run(self, h):
        self.context.push_thread_default()
        self.conn = h.bus.connect()
        info = Gio.DBusNodeInfo.new_for_xml(NM_XML).interfaces[0]
        self.conn.register_object(self.PATH, info, None,
                                  lambda *a: GLib.Variant("u", self.props[a[4]]), None)
        reply = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                    "org.freedesktop.DBus", "RequestName",
                                    GLib.Variant("(su)", (self.IFACE, 0)),
                                    GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 5000, None)
        self.owned = reply.unpack()[0] == 1
        self.ready.set()
        self.loop.run()

    def set(self, **props):
        def emit():
            self.props.update(props)
            changed = {k: GLib.Variant("u", v) for k, v in props.items()}
            self.conn.emit_signal(None, self.PATH, "org.freedesktop.DBus.Properties",
                                  "PropertiesChanged",
                                  GLib.Variant("(sa{sv}as)", (self.IFACE, changed, [])))
            return False
        self.context.invoke_full(GLib.PRIORITY_DEFAULT, emit)

    def stop(self):
        self.loop.quit()
        self.thread.join(5)


def test_network_back(h):
    """NetworkManager says the network is back: every account looks at its
    tokens at once instead of sleeping out its backoff."""
    h.start_idp("--interval", "1", "--access-ttl", "6")
    policy = os.path.join(h.tmp, "nm.conf")
    with open(policy, "w") as f:
        f.write(NM_POLICY)
    h.start_bus(extra_policies=[policy])
    nm = StandInNetworkManager(h)
    h.add_cleanup(nm.stop)
    proxy = start_proxy(h, h.idp)
    h.start_daemon({"demo": proxied_conf(h.idp, proxy)})
    wait_until(lambda: "following the network with GNetworkMonitorNM" in h.daemon.log(), 10,
               "devauthd to follow the network through NetworkManager")
    h.sign_in()

    check_prompt_retry(
        h, proxy, "the network came back",
        lambda: nm.set(State=NM_STATE_CONNECTED_GLOBAL, Connectivity=NM_CONNECTIVITY_FULL),
        before_outage=lambda: nm.set(State=NM_STATE_DISCONNECTED,
                                     Connectivity=NM_CONNECTIVITY_NONE))
    check("the network is back" in h.daemon.log(), "no log line about the network")
