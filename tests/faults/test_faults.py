"""The fault matrix: devauthd against an IdP that misbehaves.

Most faults come from faultproxy.FaultProxy between devauthd and the real
loopback IdP (the IdP cannot be told to send a 502 or stall). For each
fault: devauthd stays up, its memory stays bounded, LastError names the
cause, the retries back off (requests counted at the proxy), and, the
fault being transient, the sign-in survives it: once the fault is gone,
GetToken works with no new login.

HttpTimeoutSec=2 in every world here, so a stall is over quickly.
"""

import fcntl
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

import certs
import harness
from harness import DBusCallError, account_conf, check, check_equal, wait_until
from faultproxy import FaultProxy

TIMEOUT_SETTINGS = {"HttpTimeoutSec": "2"}
# RSS may grow this much across repeated faults (allocator slack, first use
# of a code path); a leak per attempt or a buffered 10 MB body would not fit
RSS_SLACK_KIB = 2048
FAULTY_ATTEMPTS = 15
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


# ---------------------------------------------------------------- helpers


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def daemon_alive(h):
    check(h.daemon.proc is not None and h.daemon.proc.poll() is None,
          f"devauthd is not running (exit {h.daemon.proc.poll() if h.daemon.proc else None})")


def proxied_world(h, *idp_options, settings=None):
    """IdP, proxy in front of it, bus, devauthd (issuer = the proxy), signed in."""
    h.start_idp("--interval", "1", *idp_options)
    proxy = FaultProxy(h.idp.origin)
    h.add_cleanup(proxy.stop)
    issuer = proxy.origin + urllib.parse.urlsplit(h.idp.issuer).path
    h.start_bus()
    h.start_daemon({"demo": account_conf(issuer)}, dict(TIMEOUT_SETTINGS, **(settings or {})))
    h.sign_in()
    return proxy


def refresh_error(h):
    """Refresh() must fail; returns the DBusCallError."""
    try:
        h.refresh()
    except DBusCallError as e:
        return e
    raise harness.TestFailure("Refresh() succeeded while the IdP misbehaves")


def check_backoff(proxy, kind, since, window, most, what):
    """The background retries after a failure back off: 2 s, then ~4 s, ~8 s
    ... so a window of 7 s holds at most 2 of them, 12 s at most 3 (not one
    per call or per second, nor one every 2 s)."""
    time.sleep(window)
    n = proxy.count(kind, since=since)
    check(1 <= n <= most,
          f"{what}: {n} {kind} requests reached the IdP in the {window} s after a failure "
          f"(want 1..{most}: retries, backing off)")
    times = [round(t - since, 1) for t, _, _ in proxy.requests(kind, since=since)]
    gaps = [b - a for a, b in zip(times, times[1:])]
    check(all(g >= 1.0 for g in gaps), f"{what}: retries closer than 1 s: at {times}")
    return times


def check_recovers(h, proxy, old_token, since):
    """The fault is gone: a refresh works, no new sign-in was needed."""
    proxy.clear_faults()
    h.refresh()
    token, info = h.get_token(min_validity=0)
    check(token != old_token, "GetToken returned the old token after a successful refresh")
    props = h.properties()
    check_equal(props["State"], "signed-in", "State after the fault")
    check_equal(props["LastError"], "", "LastError after a successful refresh")
    check_equal(proxy.count("device", since=since) + proxy.count("poll", since=since), 0,
                "device flow requests (a new login) during and after the fault")
    status, _ = h.idp.userinfo(token)
    check_equal(status, 200, "userinfo with the token refreshed after the fault")


def refresh_fault_case(h, mode, error_pattern, dbus_errors=("IdpUnreachable", "IdpError"),
                       window=7, most=2, attempts=FAULTY_ATTEMPTS, **params):
    """The common course of a fault on the refresh request."""
    proxy = proxied_world(h)
    token, _ = h.get_token()
    pid = h.daemon.proc.pid
    t0 = time.time()
    proxy.set_fault("refresh", mode, **params)

    # a forced refresh fails, with the cause in the error and in LastError
    e = refresh_error(h)
    check(e.short_name in dbus_errors, f"Refresh() failed with {e.name}, want one of {dbus_errors}")
    check(re.search(error_pattern, e.message, re.I),
          f"the error does not name the cause ({error_pattern!r}): {e.message!r}")
    props = h.properties()
    check(re.search(error_pattern, props["LastError"], re.I),
          f"LastError does not name the cause ({error_pattern!r}): {props['LastError']!r}")
    check_equal(props["State"], "signed-in", "State during the fault")
    # the token, still valid, is still served
    again, _ = h.get_token(min_validity=0)
    check_equal(again, token, "GetToken during the fault")
    daemon_alive(h)

    # background retries back off
    check_backoff(proxy, "refresh", time.time(), window, most, mode)

    # memory stays bounded across repeated faulty exchanges
    rss_before = rss_kib(pid)
    for _ in range(attempts):
        try:
            h.refresh()
        except DBusCallError:
            pass
    rss_after = rss_kib(pid)
    check(rss_after - rss_before <= RSS_SLACK_KIB,
          f"RSS grew from {rss_before} to {rss_after} KiB over {attempts} faulty refreshes")
    daemon_alive(h)
    check_recovers(h, proxy, token, t0)
    return proxy


# ---------------------------------------------------------------- HTTP errors


def test_http_500(h):
    refresh_fault_case(h, "status", r"HTTP 500", status=500)


def test_http_502(h):
    refresh_fault_case(h, "status", r"HTTP 502", status=502, html=True)


def test_http_503(h):
    refresh_fault_case(h, "status", r"HTTP 503", status=503)


def test_http_429_retry_after(h):
    """429 with Retry-After: 8: nothing reaches the IdP before the 8 s are
    up, not even a forced refresh; then the retry comes by itself."""
    proxy = proxied_world(h)
    token, _ = h.get_token()
    t0 = time.time()
    proxy.set_fault("refresh", "status", status=429, retry_after=8)
    e = refresh_error(h)
    check_equal(e.short_name, "IdpUnreachable", "error of Refresh() after a 429")
    check("429" in e.message, f"the error does not say 429: {e.message!r}")
    t_first = time.time()
    check_equal(proxy.count("refresh", since=t0), 1, "refresh requests after the 429")
    # within Retry-After a forced refresh is refused here, without a request
    e = refresh_error(h)
    check("Retry-After" in e.message, f"a refresh within Retry-After: {e.message!r}")
    check_equal(h.get_token(min_validity=3600)[0], token, "GetToken within Retry-After")
    props = h.properties()
    check(re.search(r"429|Retry-After", props["LastError"]),
          f"LastError does not name the cause: {props['LastError']!r}")
    time.sleep(max(0, t_first + 6.5 - time.time()))
    check_equal(proxy.count("refresh", since=t0), 1,
                "refresh requests within Retry-After (8 s)")
    # the retry comes by itself once the time is up
    proxy.clear_faults()
    wait_until(lambda: proxy.count("refresh", since=t0) >= 2, 10,
               "a refresh after Retry-After ran out")
    wait_until(lambda: h.properties()["LastError"] == "", 10, "the refresh after Retry-After")
    # Retry-After is kept in whole seconds: the retry may come up to 1 s early
    first_retry = proxy.requests("refresh", since=t0)[1][0]
    check(first_retry - t_first >= 6.5,
          f"the retry came {first_retry - t_first:.1f} s after the 429 (Retry-After: 8)")
    new, _ = h.get_token(min_validity=0)
    check(new != token, "no new token after Retry-After")
    check_equal(proxy.count("device", since=t0), 0, "device flow requests")
    daemon_alive(h)


# ---------------------------------------------------------------- the connection


def test_stall(h):
    """The IdP accepts the request and never answers: the refresh gives up
    within the timeout, callers wait at most 10 s, and the retries back off."""
    proxy = proxied_world(h)
    token, _ = h.get_token()
    t0 = time.time()
    proxy.set_fault("refresh", "stall", seconds=60)
    start = time.monotonic()
    e = refresh_error(h)
    took = time.monotonic() - start
    check(took <= 2 * 2 + 2.5, f"a stalled refresh took {took:.1f} s (HttpTimeoutSec=2)")
    check_equal(e.short_name, "IdpUnreachable", "error of a stalled refresh")
    check(re.search(r"timed out|no answer|timeout", e.message, re.I),
          f"the error does not say it timed out: {e.message!r}")
    check(re.search(r"timed out|no answer|timeout", h.properties()["LastError"], re.I),
          f"LastError: {h.properties()['LastError']!r}")
    # a caller that needs a fresh token is answered within the bounded wait
    start = time.monotonic()
    again, _ = h.get_token(min_validity=3600, timeout=20)
    took = time.monotonic() - start
    check_equal(again, token, "GetToken while the IdP stalls (the cached, valid token)")
    check(took <= 10 + 2, f"GetToken waited {took:.1f} s (bound: 10 s)")
    check_backoff(proxy, "refresh", time.time(), 12, 3, "stall")
    rss_before = rss_kib(h.daemon.proc.pid)
    for _ in range(3):
        try:
            h.refresh()
        except DBusCallError:
            pass
    check(rss_kib(h.daemon.proc.pid) - rss_before <= RSS_SLACK_KIB, "RSS grew across stalls")
    daemon_alive(h)
    check_recovers(h, proxy, token, t0)


def test_reset_mid_body(h):
    refresh_fault_case(h, "reset", r"reset|terminated|closed|unexpected|connection")


# ---------------------------------------------------------------- the body


def test_truncated_json(h):
    refresh_fault_case(h, "truncated", r"not JSON", dbus_errors=("IdpError",))


def test_malformed_json(h):
    refresh_fault_case(h, "malformed", r"not JSON", dbus_errors=("IdpError",))


def test_huge_body(h):
    """10 MB, chunked: devauthd stops reading at its cap and does not keep it."""
    refresh_fault_case(h, "huge", r"larger than", dbus_errors=("IdpError",), attempts=8)


def test_wrong_content_type(h):
    """A 200 in text/html (a captive portal, a login page)."""
    refresh_fault_case(h, "html", r"not JSON.*text/html", dbus_errors=("IdpError",))


# ---------------------------------------------------------------- discovery, device flow


def test_discovery_500(h):
    """Discovery fails at the first Login: a clear error; then it works."""
    h.start_idp("--interval", "1")
    proxy = FaultProxy(h.idp.origin)
    h.add_cleanup(proxy.stop)
    h.start_bus()
    h.start_daemon({"demo": account_conf(proxy.origin)}, TIMEOUT_SETTINGS)
    proxy.set_fault("discovery", "status", status=500, html=True)
    e = h.expect_error("IdpUnreachable", h.login)
    check("HTTP 500" in e.message or "discover" in e.message, f"Login error: {e.message!r}")
    check(re.search(r"discover", h.properties()["LastError"]),
          f"LastError: {h.properties()['LastError']!r}")
    daemon_alive(h)
    proxy.clear_faults()
    h.sign_in()
    h.get_token()


BIDI_AND_CONTROLS = ("\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
                     "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f", "\u061c",
                     "\u0085", "\u009b", "\u001b", "\u007f")


def test_device_auth_unsafe_text(h):
    """A device authorization whose user code or URI would not read on a
    screen as it is (bidi overrides and isolates, marks, C0 and C1
    controls), whose page is plain http off loopback, or whose code has no
    stated lifetime: the sign-in is refused with a message that says which
    field, nothing of it reaches the bus or devauthctl's output, and the
    next genuine sign-in works."""
    h.start_idp("--interval", "1")
    proxy = FaultProxy(h.idp.origin)
    h.add_cleanup(proxy.stop)
    h.start_bus()
    h.start_daemon({"demo": account_conf(proxy.origin)}, TIMEOUT_SETTINGS)
    variants = [({"set": {"user_code": f"WDJB{c}MJHT"}}, r"user_code.*bidirectional")
                for c in BIDI_AND_CONTROLS]
    variants += [
        ({"set": {"user_code": "\u202eTHJM-BJDW"}}, r"user_code"),
        ({"set": {"verification_uri": "https://idp.example/\u202edevice"}}, r"verification_uri"),
        ({"set": {"verification_uri": "http://idp.example.com/device"}},
         r"verification_uri.*https://.*loopback"),
        ({"set": {"verification_uri": "http://192.168.1.10:8080/device"}}, r"verification_uri"),
        ({"set": {"expires_in": 0}}, r"expires_in.*missing or zero"),
        ({"drop": ["expires_in"]}, r"expires_in.*missing or zero"),
    ]
    since = h.mark()
    for change, pattern in variants:
        proxy.set_fault("device", "rewrite", **change)
        e = h.expect_error("IdpError", h.login)
        check(re.search(pattern, e.message), f"Login() with {change!r}: {e.message!r}")
        check(not any(c in e.message for c in BIDI_AND_CONTROLS),
              f"the error carries the IdP's text raw: {e.message!r}")
        check_equal(h.properties()["State"], "signed-out", f"State after {change!r}")
    check_equal([s for s in h.signals.signals[since:] if s["state"] == "awaiting-user"], [],
                "prompts on the bus")
    # devauthctl says so, in text a terminal shows as it is
    proxy.set_fault("device", "rewrite", set={"user_code": "WDJB\u202eMJHT"})
    rc, out, err = h.ctl("login")
    check(rc != 0, f"devauthctl login exit status {rc}")
    check("user_code" in err and not any(c in out + err for c in BIDI_AND_CONTROLS),
          f"devauthctl login printed {out!r} {err!r}")
    daemon_alive(h)
    proxy.clear_faults()
    prompt, _ = h.sign_in()
    check_equal(prompt["verification-uri"].startswith("http://127.0.0.1:"), True,
                f"the loopback IdP's verification URI {prompt['verification-uri']!r}")
    h.get_token()


def test_device_poll_503(h):
    """503 on the polls of a running sign-in: the flow backs off and goes
    on; once the IdP answers again the sign-in completes."""
    h.start_idp("--interval", "1")
    proxy = FaultProxy(h.idp.origin)
    h.add_cleanup(proxy.stop)
    h.start_bus()
    h.start_daemon({"demo": account_conf(proxy.origin)}, TIMEOUT_SETTINGS)
    since = h.mark()
    prompt = h.login()
    t0 = time.time()
    proxy.set_fault("poll", "status", status=503)
    h.idp.approve(prompt["user-code"])
    time.sleep(8)
    n = proxy.count("poll", since=t0)
    check(1 <= n <= 4, f"{n} polls in 8 s against a 503 (interval 1 s; want backoff: 1..4)")
    check_equal(h.properties()["State"], "awaiting-user", "State while the polls fail")
    daemon_alive(h)
    proxy.clear_faults()
    h.wait_status("signed-in", since=since, timeout=40)
    h.get_token()


def test_device_poll_success_lost(h):
    """The IdP takes the approved device code and answers 500 (Keycloak
    26 does so when a poll comes while the approval is being stored); the
    next poll is refused with invalid_grant. The sign-in ends at once, and
    the error says that the IdP lost it after its own failure and that
    the sign-in must start again (not a hint about the client's setup)."""
    h.start_idp("--interval", "1")
    proxy = FaultProxy(h.idp.origin)
    h.add_cleanup(proxy.stop)
    h.start_bus()
    h.start_daemon({"demo": account_conf(proxy.origin)}, TIMEOUT_SETTINGS)
    since = h.mark()
    prompt = h.login()
    proxy.set_fault("poll", "lose_success")
    h.idp.approve(prompt["user-code"])
    h.wait_status("signed-out", error="idp-error", since=since, timeout=30)
    err = h.properties()["LastError"]
    for words in ("invalid_grant", "HTTP 500", "lost the sign-in", "start it again"):
        check(words in err, f"LastError does not say {words!r}: {err!r}")
    check(proxy.fault_for("poll") is None, "the lost success happened")
    daemon_alive(h)


# ---------------------------------------------------------------- the ID token


def test_id_token_forged(h):
    """An ID token changed on its way (another subject or audience with the
    signature kept, a flipped signature byte, an unsigned token): the
    sign-in fails and says why, and no token is served. The IdP's keys
    unreachable: the sign-in does not start. Then a genuine sign-in works
    and names the person from the verified token."""
    h.start_idp("--interval", "1")
    proxy = FaultProxy(h.idp.origin)
    h.add_cleanup(proxy.stop)
    issuer = proxy.origin + urllib.parse.urlsplit(h.idp.issuer).path
    h.start_bus()
    h.start_daemon({"demo": account_conf(issuer, scopes="openid profile offline_access")},
                   TIMEOUT_SETTINGS)
    # first, the keys cannot be fetched: the sign-in does not start, and says why
    proxy.set_fault("jwks", "status", status=500)
    t0 = time.time()
    try:
        h.login()
    except DBusCallError as e:
        check(re.search(r"keys.*jwks_uri.*HTTP 500", e.message),
              f"Login() with the IdP's keys unreachable: {e.message!r}")
    else:
        raise harness.TestFailure("Login() started without the IdP's keys")
    check_equal(proxy.count("device", since=t0), 0, "device requests without the IdP's keys")
    proxy.clear_faults()

    reasons = {"sub": r"signature", "signature": r"signature", "aud": r"signature|audience",
               "alg-none": r"alg 'none'"}
    for change, reason in reasons.items():
        proxy.set_fault("poll", "id_token", change=change)
        since = h.mark()
        prompt = h.login()
        h.idp.approve(prompt["user-code"])
        sig = h.wait_status(error="idp-error", since=since, timeout=20 * harness.SLOWDOWN)
        description = sig["details"].get("error-description", "")
        check(re.search(r"ID token", description) and re.search(reason, description),
              f"{change}: the failure does not say why ({reason!r}): {description!r}")
        props = h.properties()
        check_equal(props["State"], "signed-out", f"State after a forged ID token ({change})")
        check_equal((props["Subject"], props["UserName"]), ("", ""),
                    f"the person after a forged ID token ({change})")
        check(re.search(reason, props["LastError"]), f"LastError ({change}): {props['LastError']!r}")
        try:
            h.get_token()
        except DBusCallError as e:
            check_equal(e.short_name, "NotSignedIn", f"GetToken after a forged ID token ({change})")
        else:
            raise harness.TestFailure(f"a token was served after a forged ID token ({change})")
    proxy.clear_faults()

    _, sig = h.sign_in(sub="carol")
    check_equal(sig["details"].get("user-name"), "carol", "user-name of a verified sign-in")
    props = h.properties()
    check_equal((props["Subject"], props["UserName"]), ("carol", "carol"), "the person")
    check(proxy.count("jwks") >= 1, "the IdP's keys were never fetched")
    daemon_alive(h)


# ---------------------------------------------------------------- TLS


def make_self_signed(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    rc, out, err = harness.run_process(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        timeout=60)
    check(rc == 0, f"openssl failed: {err}")
    return cert, key


def test_untrusted_tls(h):
    """An https issuer with a self-signed certificate: refused, and the
    error says it is the certificate."""
    h.start_idp("--interval", "1")
    proxy = FaultProxy(h.idp.origin, tls=make_self_signed(h.tmp))
    h.add_cleanup(proxy.stop)
    h.start_bus()
    h.start_daemon({"demo": account_conf(proxy.origin)})
    try:
        h.login()
    except DBusCallError as e:
        error = e
    else:
        raise harness.TestFailure("Login succeeded against an untrusted certificate")
    check(error.short_name in ("IdpUnreachable", "IdpError"), f"Login error {error.name}")
    check(re.search(r"certificate", error.message, re.I),
          f"the error does not mention the certificate: {error.message!r}")
    last = h.properties()["LastError"]
    check(re.search(r"certificate", last, re.I),
          f"LastError does not mention the certificate: {last!r}")
    check_equal(proxy.count(), 0, "requests that got through the TLS handshake")
    check_equal(h.properties()["State"], "signed-out", "State")
    daemon_alive(h)


def test_login_progress(h):
    """An identity provider that takes the request and does not answer:
    devauthctl login says after a few seconds that it waits, and for whom
    (the issuer), and again while it waits, then fails within devauthd's
    HttpTimeoutSec= with an error that says so; never a silent wait."""
    h.start_idp("--interval", "1")
    proxy = FaultProxy(h.idp.origin)
    h.add_cleanup(proxy.stop)
    h.start_bus()
    timeout = 8
    h.start_daemon({"demo": account_conf(proxy.origin)}, {"HttpTimeoutSec": str(timeout)})
    proxy.set_fault("discovery", "stall", seconds=60)
    started = time.monotonic()
    rc, out, err = h.ctl("login", timeout=4 * timeout)
    took = time.monotonic() - started
    print(f"devauthctl login, {took:.1f} s: {err!r}")
    check_equal(rc, 1, f"devauthctl login against a silent IdP ({out}{err})")
    check(f"Waiting for the identity provider at {proxy.origin} to answer…\n" in err,
          f"devauthctl login did not say it waits: {err!r}")
    check("Still waiting (" in err, f"devauthctl login did not say it still waits: {err!r}")
    check(f"no answer within {timeout} s from {proxy.origin}/.well-known/openid-configuration "
          "(HttpTimeoutSec= in devauthd.conf)" in err, f"the final error: {err!r}")
    check(took < 2 * timeout + 5, f"devauthctl login took {took:.1f} s")


def _login_error(h, account):
    """The error of a Login that must fail, and how long it took."""
    started = time.monotonic()
    try:
        h.login(account)
    except DBusCallError as e:
        return e, time.monotonic() - started
    raise harness.TestFailure(f"Login of {account} succeeded")


def test_ca_file(h):
    """CAFile= in [Account]: the IdP behind TLS with a certificate from a
    throw-away CA that the system does not trust. With CAFile= naming that
    CA the device signs in and refreshes; naming another CA, or without
    CAFile=, the sign-in fails at once (within the exchange's deadline) with an
    error that names the host, the problem and the key to set. With the CA
    added to the system's store (in a mount namespace of devauthd's own),
    the account without CAFile= works, and the one whose CAFile= names
    another CA still fails: CAFile= is the only anchor trusted. A
    certificate for another host name and an expired one each get their
    own words, with CAFile= and with the system's store."""
    ca = certs.Authority(h.tmp, "idp")
    other = certs.Authority(h.tmp, "other")
    h.start_idp("--interval", "1")
    proxies = {
        "good": FaultProxy(h.idp.origin, tls=ca.issue("leaf")),
        "wrong-host": FaultProxy(h.idp.origin, tls=ca.issue("elsewhere", hosts=("idp.example",))),
        "expired": FaultProxy(h.idp.origin, tls=ca.issue("old", valid_from=-7200, valid_for=3600)),
    }
    for proxy in proxies.values():
        h.add_cleanup(proxy.stop)
    good = proxies["good"]
    host = good.origin.split("//", 1)[1]
    accounts = {
        "pinned": account_conf(good.origin, extra={"CAFile": ca.cert}),
        "other": account_conf(good.origin, extra={"CAFile": other.cert}),
        "system": account_conf(good.origin),
        "wrong-host": account_conf(proxies["wrong-host"].origin, extra={"CAFile": ca.cert}),
        "expired": account_conf(proxies["expired"].origin, extra={"CAFile": ca.cert}),
        "system-wrong-host": account_conf(proxies["wrong-host"].origin),
        "system-expired": account_conf(proxies["expired"].origin),
    }
    h.start_bus()
    h.start_daemon(accounts, TIMEOUT_SETTINGS)
    timeout = float(TIMEOUT_SETTINGS["HttpTimeoutSec"])

    expected = {
        "other": (f"the certificate of {host} is refused: it is not signed by the CA of "
                  f"CAFile={other.cert}"),
        "system": (f"the certificate of {host} is refused: it is not signed by a CA the "
                   f"system trusts (set CAFile="),
        "wrong-host": "is refused: it is made out for another host name",
        "expired": "is refused: it has expired",
    }
    for account, words in expected.items():
        e, took = _login_error(h, account)
        check_equal(e.short_name, "IdpUnreachable", f"{account}: the error")
        check(words in e.message, f"{account}: the error does not say {words!r}: {e.message!r}")
        # no hang: inside the exchange's deadline (twice HttpTimeoutSec)
        check(took < 2 * timeout * harness.SLOWDOWN,
              f"{account}: the certificate error took {took:.1f} s")
        last = h.properties(account)["LastError"]
        check(words in last, f"{account}: LastError does not say {words!r}: {last!r}")
    h.sign_in(account="pinned")
    h.refresh("pinned")
    token, _ = h.get_token("pinned")
    status, body = h.idp.userinfo(token)
    check_equal(status, 200, f"userinfo with the token got over TLS with CAFile= ({body})")


    # the CA in the system's store too: CAFile= still names the only anchor
    check_equal(h.daemon.stop(), 0, "devauthd's exit status on SIGTERM")
    wait_until(lambda: h.bus.name_owner() is None, harness.STOP_TIMEOUT,
               "the bus name to be released")
    h.daemon.wrapper = harness.unshared_ca_bundle(h, ca.cert)
    h.daemon.start()
    h.sign_in(account="system")
    e, _ = _login_error(h, "other")
    check(expected["other"] in e.message, f"other, with the CA in the system's store: "
          f"{e.message!r}")
    # the system's store checks the host name and the validity times too
    for account, words in (("system-wrong-host", expected["wrong-host"]),
                           ("system-expired", expected["expired"])):
        e, _ = _login_error(h, account)
        check(words in e.message, f"{account}, with the CA in the system's store: "
              f"{e.message!r}")
    daemon_alive(h)


def test_tls_client_auth(h):
    """ClientAuthMethod=tls_client_auth (RFC 8705): the client's certificate
    (ClientCertificateFile=, its key in ClientKeyFile=) in the TLS handshake
    with an https:// IdP whose TLS front asks for one and passes it on (the
    test IdP checks the subject DN registered for the client). A device
    flow, its refresh and its revocation, and a service account: every
    form carries the client_id and no secret or assertion. A certificate of
    another subject is refused with the IdP's invalid_client and a hint
    that names ClientCertificateFile=, and its connections show its own
    certificate, never a TLS session resumed from the other account's."""
    ca = certs.Authority(h.tmp, "idp")
    cert, key = ca.issue_client("tv-mtls", "tv-mtls")
    other_cert, other_key = ca.issue_client("intruder", "intruder")
    h.start_idp("--interval", "1", "--client", "tv-mtls:tls_client_auth:CN=tv-mtls")
    front = FaultProxy(h.idp.origin, tls=ca.issue("leaf"), client_ca=ca.cert)
    h.add_cleanup(front.stop)

    def conf(cert, key, **extra):
        return account_conf(front.origin, client_id="tv-mtls",
                            scopes=extra.pop("scopes", "openid offline_access"),
                            extra=dict({"CAFile": ca.cert, "ClientAuthMethod": "tls_client_auth",
                                        "ClientCertificateFile": cert, "ClientKeyFile": key},
                                       **extra))
    h.start_bus()
    h.start_daemon({"device": conf(cert, key),
                    "service": conf(cert, key, scopes=None, Grant="client_credentials"),
                    "intruder": conf(other_cert, other_key)}, TIMEOUT_SETTINGS)
    h.sign_in(account="device")
    h.refresh("device")
    token, _ = h.get_token("device", min_validity=0)
    check_equal(h.idp.userinfo(token)[0], 200, "userinfo with the device's token")
    wait_until(lambda: h.properties("service")["State"] == "signed-in", 10,
               "the service account's token")
    service_token, _ = h.get_token("service")
    check(service_token, "no token for the service account")
    h.logout("device")
    check_equal(h.idp.userinfo(token)[0], 401, "userinfo after the logout (revoked)")
    forms = [urllib.parse.parse_qs(request.decode())
             for kind in ("device", "poll", "refresh", "revoke")
             for request, _ in front.exchanges(kind)]
    check(len(forms) >= 4, f"the forms sent: {forms}")
    for form in forms:
        check_equal(form.get("client_id"), ["tv-mtls"], f"client_id in a form: {form}")
        check(not {"client_secret", "client_assertion"} & set(form),
              f"a secret or an assertion beside the certificate: {form}")
    check(all(cn == "tv-mtls" for _, cn in front.client_subjects),
          f"the certificates shown: {front.client_subjects}")
    shown = len(front.client_subjects)
    e = h.expect_error("IdpError", h.login, "intruder")
    print(f"a certificate of another subject: {e.message}")
    check("invalid_client" in e.message, f"another subject's certificate: {e.message!r}")
    check("ClientCertificateFile= must be the certificate the IdP has" in e.message,
          f"the hint for another subject's certificate: {e.message!r}")
    check(all(cn == "intruder" for _, cn in front.client_subjects[shown:]),
          f"a connection of the intruder showed another certificate (a resumed TLS session): "
          f"{front.client_subjects[shown:]}")


# ---------------------------------------------------------------- proxies


class Tinyproxy:
    """Debian's tinyproxy on loopback (in the foreground, stopped by its
    PID), with @auth ("USER PASSWORD") for Basic proxy authentication; its
    log tells what went through it."""

    def __init__(self, h, auth=None):
        binary = shutil.which("tinyproxy")
        check(binary is not None, "tinyproxy is missing (apt install tinyproxy-bin)")
        self.dir = tempfile.mkdtemp(prefix="tinyproxy-", dir=h.tmp)
        self.log_path = os.path.join(self.dir, "tinyproxy.log")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        conf = os.path.join(self.dir, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write(f"Port {self.port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\n"
                    f"Allow 127.0.0.1\nLogFile \"{self.log_path}\"\nLogLevel Connect\n"
                    "DisableViaHeader Yes\n" + (f"BasicAuth {auth}\n" if auth else ""))
        self.out = open(os.path.join(self.dir, "stdout"), "w")
        self.proc = harness.Process("tinyproxy", [binary, "-d", "-c", conf],
                                    stdout=self.out, stderr=subprocess.STDOUT)
        h.add_cleanup(self.stop)

        def listening():
            check(self.proc.poll() is None, f"tinyproxy exited: {_read(self.out.name)}")
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0
        wait_until(listening, 10, "tinyproxy to listen")

    def requests(self):
        """The request lines it was sent: "GET http://…", "CONNECT host:port"."""
        try:
            text = _read(self.log_path)
        except FileNotFoundError:
            return []
        return [m.group(1) for m in re.finditer(r"Request \(file descriptor \d+\): (.*?)"
                                                 r"(?: HTTP/1\.[01])?$", text, re.M)]

    def stop(self):
        self.proc.stop()
        self.out.close()


def _proxy_credentials(h, name, text):
    path = os.path.join(h.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def test_proxy_http(h):
    """[Daemon] Proxy=http://… (tinyproxy on loopback): discovery, the
    device authorization, the polls and refreshes go through it (its log
    has them, as absolute URLs), and the token works at the IdP. A proxy
    in devauthd's environment (http_proxy, pointing nowhere) is ignored
    without Proxy=env."""
    proxy = Tinyproxy(h)
    h.start_idp("--interval", "1")
    h.start_bus()
    daemon = h.start_daemon({"demo": account_conf(h.idp.issuer)},
                            dict(TIMEOUT_SETTINGS, Proxy=proxy.url), start=False)
    daemon.extra_env = {"http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
                        "https_proxy": "http://127.0.0.1:9"}
    daemon.start()
    h.sign_in()
    h.refresh()
    token, _ = h.get_token()
    status, body = h.idp.userinfo(token)
    check_equal(status, 200, f"userinfo with the token got through the proxy ({body})")
    seen = proxy.requests()
    print("through tinyproxy: " + "; ".join(seen))
    origin = h.idp.origin
    for what, pattern in (("discovery", r"GET .*/\.well-known/openid-configuration$"),
                          ("the device authorization", r"POST .*device"),
                          ("the token requests", r"POST .*token")):
        check(any(r.startswith(("GET " + origin, "POST " + origin)) and re.match(pattern, r)
                  for r in seen), f"{what} did not go through the proxy: {seen}")


def test_proxy_env(h):
    """Proxy=env in [Daemon]: http_proxy of devauthd's environment is used
    by an account that says nothing, and not by one with Proxy= empty
    (direct). Without Proxy=env, the same environment is ignored."""
    proxy = Tinyproxy(h)
    h.start_idp("--interval", "1")
    h.start_bus()
    accounts = {"inherits": account_conf(h.idp.issuer),
                "direct": account_conf(h.idp.issuer, extra={"Proxy": ""})}
    daemon = h.start_daemon(accounts, dict(TIMEOUT_SETTINGS, Proxy="env"), start=False)
    daemon.extra_env = {"http_proxy": proxy.url, "no_proxy": ""}
    daemon.start()
    h.sign_in(account="direct")
    check_equal(proxy.requests(), [], "requests through the proxy for Proxy= (direct)")
    h.sign_in(account="inherits")
    check(len(proxy.requests()) >= 3,
          f"the account under [Daemon] Proxy=env did not use http_proxy: {proxy.requests()}")

    # the same environment, no Proxy=env: direct
    check_equal(daemon.stop(), 0, "devauthd's exit status on SIGTERM")
    conf = os.path.join(daemon.config_dir, "devauthd.conf")
    text = _read(conf)
    check("Proxy=env\n" in text, f"no Proxy=env in devauthd.conf: {text}")
    with open(conf, "w") as f:
        f.write(text.replace("Proxy=env\n", ""))
    before = len(proxy.requests())
    daemon.start()
    h.refresh(account="inherits")
    check_equal(h.properties("inherits")["State"], "signed-in", "State after the refresh")
    check_equal(len(proxy.requests()), before,
                f"requests through http_proxy without Proxy=env: {proxy.requests()[before:]}")


def test_proxy_connect(h):
    """An https:// IdP (a throw-away CA, CAFile=) through tinyproxy, which
    wants Basic credentials: with ProxyCredentialsFile= the CONNECT tunnel
    is made (the log has it) and the device signs in and refreshes over it.
    With wrong credentials, none, and with a proxy that is not there, the
    sign-in fails at once with an error that names the proxy and what to
    set. (tinyproxy 1.11 answers wrong credentials with 401, not 407.)"""
    proxy = Tinyproxy(h, auth="ann s3cr3t-pw")
    ca = certs.Authority(h.tmp, "idp")
    h.start_idp("--interval", "1")
    tls = FaultProxy(h.idp.origin, tls=ca.issue("leaf"))
    h.add_cleanup(tls.stop)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{sock.getsockname()[1]}"
    good = _proxy_credentials(h, "proxy-good", "ann:s3cr3t-pw\n")
    bad = _proxy_credentials(h, "proxy-bad", "ann:wrong\n")
    accounts = {
        "demo": account_conf(tls.origin, extra={"CAFile": ca.cert, "Proxy": proxy.url,
                                                "ProxyCredentialsFile": good}),
        "refused": account_conf(tls.origin, extra={"CAFile": ca.cert, "Proxy": proxy.url,
                                                   "ProxyCredentialsFile": bad}),
        "nowhere": account_conf(tls.origin, extra={"CAFile": ca.cert, "Proxy": nowhere}),
        "anonymous": account_conf(tls.origin, extra={"CAFile": ca.cert, "Proxy": proxy.url}),
    }
    h.start_bus()
    h.start_daemon(accounts, TIMEOUT_SETTINGS)
    h.sign_in(account="demo")
    h.refresh("demo")
    token, _ = h.get_token("demo")
    status, body = h.idp.userinfo(token)
    check_equal(status, 200, f"userinfo with the token got through the tunnel ({body})")
    host = tls.origin.split("//", 1)[1]
    check(f"CONNECT {host}" in proxy.requests(), f"no CONNECT {host} in tinyproxy's log: "
          f"{proxy.requests()}")
    for account, words in (("refused", f"from the proxy {proxy.url}: it refused the credentials "
                                       "of ProxyCredentialsFile="),
                           ("nowhere", f"through the proxy {nowhere}"),
                           ("anonymous", f"HTTP 407 from the proxy {proxy.url}: it asks for "
                                         "credentials (set ProxyCredentialsFile=)")):
        e, took = _login_error(h, account)
        print(f"{account}: {e.message} ({took:.1f} s)")
        check_equal(e.short_name, "IdpUnreachable", f"{account}: the error")
        check(words in e.message, f"{account}: the error does not say {words!r}: {e.message!r}")
        check(took < 2 * float(TIMEOUT_SETTINGS["HttpTimeoutSec"]) + 5,
              f"{account}: the error took {took:.1f} s")


class TlsRelay:
    """An https:// proxy: TLS on loopback (@cert, a (certfile, keyfile)
    pair) in front of tinyproxy, every connection relayed byte for byte."""

    def __init__(self, h, target_port, cert):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*cert)
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.handshakes = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        h.add_cleanup(self.stop)

    def _serve(self):
        self.listener.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn):
        try:
            conn.settimeout(30)
            tls = self.context.wrap_socket(conn, server_side=True)
            self.handshakes += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
        except OSError:
            conn.close()
            return

        def pump(src, dst):
            try:
                while not self.stopped.is_set():
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        back = threading.Thread(target=pump, args=(upstream, tls), daemon=True)
        back.start()
        pump(tls, upstream)
        back.join(31)
        tls.close()
        upstream.close()

    def stop(self):
        self.stopped.set()
        self.listener.close()
        self.thread.join(5)


def test_proxy_https(h):
    """Proxy=https://… (TLS to the proxy itself, its certificate from a CA
    the system store holds), an https:// IdP behind it (CAFile=): the
    CONNECT goes inside the proxy's TLS, and the device signs in."""
    proxy = Tinyproxy(h)
    ca = certs.Authority(h.tmp, "idp")
    relay = TlsRelay(h, proxy.port, ca.issue("proxy"))
    h.start_idp("--interval", "1")
    tls = FaultProxy(h.idp.origin, tls=ca.issue("leaf"))
    h.add_cleanup(tls.stop)
    h.start_bus()
    daemon = h.start_daemon({"demo": account_conf(tls.origin, extra={"CAFile": ca.cert,
                                                                     "Proxy": relay.url})},
                            TIMEOUT_SETTINGS, start=False)
    daemon.wrapper = harness.unshared_ca_bundle(h, ca.cert)
    daemon.start()
    h.sign_in()
    token, _ = h.get_token()
    status, body = h.idp.userinfo(token)
    check_equal(status, 200, f"userinfo with the token got through the https proxy ({body})")
    host = tls.origin.split("//", 1)[1]
    check(f"CONNECT {host}" in proxy.requests(), f"no CONNECT {host} in tinyproxy's log: "
          f"{proxy.requests()}")
    check(relay.handshakes >= 1, "no TLS handshake with the https proxy")


# ---------------------------------------------------------------- the IdP itself


def test_idp_restarted(h):
    """The IdP goes away and comes back empty (its grants were in memory):
    while it is away the token is served and LastError says why; once it is
    back, the refresh token is refused and the account needs a new login."""
    h.setup("--interval", "1", daemon_settings=TIMEOUT_SETTINGS)
    h.sign_in()
    token, _ = h.get_token()
    port = h.idp.port
    h.idp.stop()
    e = refresh_error(h)
    check_equal(e.short_name, "IdpUnreachable", "Refresh() while the IdP is away")
    last = h.properties()["LastError"]
    check(re.search(r"connect|refused", last, re.I), f"LastError while the IdP is away: {last!r}")
    check_equal(h.get_token(min_validity=0)[0], token, "GetToken while the IdP is away")
    check_equal(h.properties()["State"], "signed-in", "State while the IdP is away")

    h.idp = None
    h.start_idp("--interval", "1", "--port", str(port))
    check_equal(h.idp.port, port, "port of the restarted IdP")
    since = h.mark()
    h.expect_error("NotSignedIn", h.refresh)
    h.wait_status("reauth-required", since=since)
    props = h.properties()
    check_equal(props["State"], "reauth-required", "State after the IdP lost its grants")
    check(re.search(r"sign in again", props["LastError"]), f"LastError: {props['LastError']!r}")
    h.expect_error("NotSignedIn", h.get_token)
    daemon_alive(h)
    h.sign_in(sub="after-restart")
    h.get_token()


# ---------------------------------------------------------------- the clock


def faketime_env(rc_file, unsynced=False):
    """The environment of a process on the wall clock of @rc_file (its
    monotonic and boot clocks left alone); @unsynced: one the kernel calls
    unsynchronised (tests/faults/unsynced-clock.c)"""
    preload = LIBFAKETIME + (" " + harness.env_path("UNSYNCED_CLOCK") if unsynced else "")
    return {"LD_PRELOAD": preload, "FAKETIME_TIMESTAMP_FILE": rc_file, "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1", "DONT_FAKE_MONOTONIC": "1"}


def faketime_wrapper(h, rc_file, unsynced=False):
    """devauthd under faketime_env()"""
    path = os.path.join(h.tmp, "devauthd-faketime")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                + "".join(f"export {k}='{v}'\n"
                          for k, v in faketime_env(rc_file, unsynced).items())
                + f"exec '{harness.env_path('DEVAUTHD')}' \"$@\"\n")
    os.chmod(path, 0o755)
    return path


def faketime_daemon(h, rc_file, offset, settings=TIMEOUT_SETTINGS, accounts=None):
    check(os.path.exists(LIBFAKETIME), f"{LIBFAKETIME} is missing (apt install libfaketime)")
    with open(rc_file, "w") as f:
        f.write(f"{offset}\n")
    h.start_daemon(accounts, settings, start=False)
    h.daemon.binary = faketime_wrapper(h, rc_file)
    h.daemon.start()


def another_boot(h):
    """A command prefix: devauthd in a mount namespace of its own whose
    /proc/sys/kernel/random/boot_id is new, as after a reboot."""
    path = os.path.join(h.tmp, "boot_id")
    with open(path, "w") as f:
        f.write(f"{uuid.uuid4()}\n")
    return harness.bind_mounted(path, "/proc/sys/kernel/random/boot_id")


def _faketime_signed_in(h, offset):
    """devauthd on a wall clock shifted by @offset, signed in to an IdP of
    300 s tokens: (the faketime file, the token, its info)"""
    rc_file = os.path.join(h.tmp, "faketime.rc")
    h.start_idp("--interval", "1", "--access-ttl", "300")
    h.start_bus()
    faketime_daemon(h, rc_file, offset)
    h.sign_in()
    token, info = h.get_token()
    return rc_file, token, info


def test_clock_jump(h):
    """The wall clock jumps forward ten minutes, past the 300 s token's
    expiry (CLOCK_REALTIME cannot be namespaced, and the machine's clock is
    not ours to change: libfaketime moves devauthd's own view of it; the
    monotonic and boot clocks stay). The IdP's clock did not move, so the
    token is still valid there: devauthd keeps the IdP's time (its Date
    agreed with the system clock before the jump), serves the same token
    without a refresh, and says its expiry in the system clock's terms, ten
    minutes on, so that an app comparing with its own clock sees it valid."""
    rc_file, token, info = _faketime_signed_in(h, "+0")
    check(abs(info["expires-at"] - (time.time() + 300)) < 15, f"expires-at before the jump: {info}")
    h.idp.reset_stats()

    with open(rc_file, "w") as f:
        f.write("+600\n")  # ten minutes on, on devauthd's wall clock only
    same, same_info = h.get_token(min_validity=0)
    check_equal(same, token, "the token served after the wall clock jumped")
    check_equal(h.idp.stats()["counters"]["token_refresh"], 0, "refreshes after the jump")
    check(abs(same_info["expires-at"] - (info["expires-at"] + 600)) <= 2,
          f"expires-at after the jump is not in the system clock's terms: {info} then {same_info}")
    status, _ = h.idp.userinfo(same)
    check_equal(status, 200, "userinfo with the token served after the jump")
    # the next answer's Date shows the offset, and it is said once
    h.refresh()
    new, new_info = h.get_token(min_validity=0)
    check(new != token, "Refresh after the jump left the old token")
    check(abs(new_info["expires-at"] - (time.time() + 600 + 300)) < 15,
          f"expires-at of the token fetched after the jump: {new_info}")
    harness.wait_until(lambda: "s ahead of the clock of 127.0.0.1" in h.daemon.log(), 10,
                       "devauthd to say that the system clock is ahead of the IdP's")
    check_equal(h.properties()["State"], "signed-in", "State after the jump")
    daemon_alive(h)


def test_clock_behind_at_boot(h):
    """A device without an RTC starts a day in the past, before NTP
    answers. The IdP's Date shows the offset at the first answer; the ID
    token (iat and exp a day in devauthd's future) is accepted, the sign-in
    works, the token's expiry is said in the system clock's terms (300 s
    from the wrong 'now' that the device's apps share), and the log says
    the clock is behind. Without the IdP's time the ID token would be
    refused as issued in the future."""
    _, token, info = _faketime_signed_in(h, "-1d")
    fake_now = time.time() - 86400
    check(abs(info["expires-at"] - (fake_now + 300)) < 15,
          f"expires-at is not 300 s on the system clock's (a day behind): {info}")
    status, _ = h.idp.userinfo(token)
    check_equal(status, 200, "userinfo with the token got a day behind")
    harness.wait_until(lambda: "s behind the clock of 127.0.0.1" in h.daemon.log(), 10,
                       "devauthd to say that the system clock is behind the IdP's")
    props = h.properties()
    check_equal(props["State"], "signed-in", "State")
    check(abs(props["AccessTokenExpiresAt"] - (fake_now + 300)) < 15,
          f"AccessTokenExpiresAt is not in the system clock's terms: {props}")
    daemon_alive(h)


def test_clock_behind_restart(h):
    """devauthd a day behind the IdP (no RTC, no NTP yet) restarts in the
    same boot: the earlier process's IdP time is taken from the state, so
    the same token is served without a refresh, its expiry still in the
    system clock's terms (300 s from the wrong 'now'), and the log says
    the clock is behind before any IdP has answered."""
    rc_file, token, info = _faketime_signed_in(h, "-1d")
    fake_now = time.time() - 86400
    check_equal(h.daemon.stop(), 0, "devauthd's exit status on SIGTERM")
    h.idp.reset_stats()
    h.daemon.start()
    same, same_info = h.get_token(min_validity=0)
    check_equal(same, token, "the token served after the restart")
    check(abs(same_info["expires-at"] - info["expires-at"]) <= 2,
          f"expires-at moved at the restart: {info} then {same_info}")
    check(abs(h.properties()["AccessTokenExpiresAt"] - (fake_now + 300)) < 15,
          f"AccessTokenExpiresAt after the restart: {h.properties()}")
    check_equal(h.idp.stats()["counters"]["token_refresh"], 0, "refreshes after the restart")
    check("s behind the clock of 127.0.0.1" in _read(h.daemon.logs[-1]),
          "the restarted devauthd does not say the clock is behind")


def test_clock_behind_after_reboot(h):
    """Signed in with 8 s access tokens, devauthd stops; the device reboots
    (a new boot id, the keyring gone) with its wall clock an hour behind
    and not synchronised, after the access token has expired at the IdP.
    By the stored expiry and that clock the token has an hour to live:
    devauthd must not serve it. While the IdP cannot be reached, GetToken
    fails and says why, AccessTokenExpiresAt is 0 and `devauthctl wait`
    times out; once the IdP answers, a refresh brings a token it accepts,
    and the wait ends."""
    h.start_idp("--interval", "1", "--access-ttl", "8")
    proxy = FaultProxy(h.idp.origin)
    h.add_cleanup(proxy.stop)
    h.start_bus()
    daemon = h.start_daemon({"demo": account_conf(proxy.origin)}, TIMEOUT_SETTINGS)
    h.sign_in()
    token, _ = h.get_token()
    check_equal(daemon.stop(), 0, "devauthd's exit status on SIGTERM")
    daemon.unlink_keyring()
    wait_until(lambda: h.idp.userinfo(token)[0] == 401, 15,
               "the access token to expire at the IdP")

    proxy.set_down(True)
    rc_file = os.path.join(h.tmp, "faketime.rc")
    with open(rc_file, "w") as f:
        f.write("-1h\n")
    daemon.binary = faketime_wrapper(h, rc_file, unsynced=True)
    daemon.wrapper = another_boot(h)
    daemon.start()
    props = h.properties()
    check_equal(props["State"], "signed-in", "State after the reboot (the refresh token is held)")
    check_equal(props["AccessTokenExpiresAt"], 0,
                "AccessTokenExpiresAt of a token whose expiry cannot be judged")
    try:
        served, _ = h.get_token(min_validity=0)
    except DBusCallError as e:
        print(f"GetToken with the IdP away after the reboot: {e}")
        check("127.0.0.1" in str(e), f"the error does not name the IdP: {e}")
    else:
        raise harness.TestFailure(
            "GetToken served " + ("the token stored before the reboot, expired at the IdP"
                                  if served == token else "a token") + " with the IdP away")
    def ctl_wait(timeout):
        # on the device's clock, as the boot's devauth-wait-online.service
        env = dict(h.ctl_env(), **faketime_env(rc_file))
        return harness.run_process([harness.env_path("DEVAUTHCTL"), "wait", "--timeout",
                                    str(timeout)], timeout=timeout + 10, env=env)

    rc, out, err = ctl_wait(2)
    check_equal(rc, 6, f"devauthctl wait with no valid access token ({out}{err})")
    check("valid access token" in err, f"devauthctl wait's message: {err!r}")
    check("stored in another boot" in _read(daemon.logs[-1]),
          "devauthd's log does not say why the stored access token is not served")

    proxy.set_down(False)
    rc, out, err = ctl_wait(30)
    check_equal(rc, 0, f"devauthctl wait once the IdP answers ({out}{err})")
    fresh, _ = h.get_token(min_validity=0)
    check(fresh != token, "the token stored before the reboot was served")
    status, body = h.idp.userinfo(fresh)
    check_equal(status, 200, f"userinfo with the token after the reboot ({body})")


# ---------------------------------------------------------------- the keyring


TEST_USER = "devauthd-faults"
QUOTA_LINE = "key quota of this user is exhausted"
TEST_USER_LOCK = "/tmp/devauthd-faults-user.lock"


def ensure_test_user():
    """The dedicated test user (created once per machine, like the package's
    own devauthd user would be; dbus-daemon refuses uids it cannot look up).
    Returns its uid."""
    try:
        return pwd.getpwnam(TEST_USER).pw_uid
    except KeyError:
        pass
    rc, out, err = harness.run_process(
        ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", "--comment", "devauthd fault tests", TEST_USER],
        timeout=30)
    try:
        return pwd.getpwnam(TEST_USER).pw_uid
    except KeyError:
        raise harness.TestFailure(f"cannot create the user {TEST_USER} ({rc}): {err}") from None


PROBE_SESSION = "devauthd-faults-probe"


def as_uid(uid, script, session=None, timeout=60):
    """Runs a shell script as @uid.  With @session, in that named session
    keyring (which must exist already: joining one allocates nothing, so this
    works with a full key quota); without, in the caller's session, so that
    only the user's own permissions count."""
    argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    if session:
        argv += ["keyctl", "session", session]
    return harness.run_process(argv + ["sh", "-c", script], timeout=timeout)


def hold_probe_session(h, uid):
    """Creates, before the quota is filled, a named session keyring of @uid
    that links the uid's user keyring (so that keys under it are possessed
    by whoever joins it) and that the uid may join; a process holds it for
    the length of the test."""
    holder = harness.Process(
        "probe-session",
        ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
         "keyctl", "session", PROBE_SESSION, "sh", "-c",
         "keyctl link @u @s && keyctl setperm @s 0x3f3f0000 && echo ready && exec sleep 600"],
        stdout=subprocess.PIPE)
    h.add_cleanup(holder.stop)
    line = holder.popen.stdout.readline().decode().strip()
    check_equal(line, "ready", "the probe session keyring of the test uid")


FILL_QUOTA = """
ring=$(keyctl newring junk @u) || exit 3
keyctl setperm $ring 0x3f3f0000 || exit 3
for size in 4000 1000 250 60 15 1; do
  i=0
  while [ $i -lt 400 ]; do
    head -c $size /dev/zero | tr '\\0' x | keyctl padd user "j$size.$i" $ring >/dev/null 2>&1 || break
    i=$((i+1))
  done
done
head -c 1 /dev/zero | tr '\\0' x | keyctl padd user probe $ring >/dev/null 2>&1 && exit 4
echo $ring
"""


def test_keyring_quota(h):
    """devauthd as an unprivileged user (its bus policy allows that uid here)
    whose key quota is full of junk: the tokens are kept in memory and on
    disk, with a log line that names the quota; the sign-in works, and
    survives a restart; once there is room again, the keys are written."""
    # one such test at a time on this machine: the user's quota is shared
    lock = open(TEST_USER_LOCK, "w")
    h.add_cleanup(lock.close)
    fcntl.flock(lock, fcntl.LOCK_EX)
    uid = ensure_test_user()
    policy = os.path.join(h.tmp, "uid-policy.conf")
    with open(policy, "w") as f:
        f.write('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"\n'
                ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
                f'<busconfig><policy user="{TEST_USER}"><allow own="org.devauth.DeviceAuth1"/>'
                '</policy></busconfig>\n')
    with open(harness.BUS_CONF_TEMPLATE) as f:
        template = f.read().replace("<include>@POLICY@</include>",
                                    f"<include>@POLICY@</include>\n  <include>{policy}</include>")
    template_path = os.path.join(h.tmp, "system-bus.conf.in")
    with open(template_path, "w") as f:
        f.write(template)
    saved = harness.BUS_CONF_TEMPLATE
    harness.BUS_CONF_TEMPLATE = template_path
    try:
        h.start_idp("--interval", "1")
        h.start_bus()
    finally:
        harness.BUS_CONF_TEMPLATE = saved
    h.add_cleanup(lambda: as_uid(uid, "keyctl clear @u"))

    h.start_daemon(None, TIMEOUT_SETTINGS, start=False)
    d = h.daemon
    os.chmod(h.tmp, 0o711)
    os.chmod(h.bus.socket, 0o666)  # the bus is root's; its socket is 0755
    for top in (d.config_dir, d.state_dir, d.runtime_dir):
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, uid)
        os.chown(top, uid, uid)
    wrapper = os.path.join(h.tmp, "devauthd-as-uid")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                f"exec setpriv --reuid={uid} --regid={uid} --clear-groups -- "
                f"keyctl session - '{harness.env_path('DEVAUTHD')}' \"$@\"\n")
    os.chmod(wrapper, 0o755)
    d.binary = wrapper
    d.start()
    with open(f"/proc/{d.proc.pid}/status") as f:
        check(re.search(rf"^Uid:\s+{uid}\s", f.read(), re.M), "devauthd does not run as the test uid")
    wait_until(lambda: "keyring" in d.log(), 10, "devauthd to open its keyring")
    check("keyring unavailable" not in d.log(), f"the keyring did not open:\n{d.log()}")

    hold_probe_session(h, uid)
    rc, out, err = as_uid(uid, FILL_QUOTA)
    check(rc == 0, f"filling the key quota of uid {uid} failed ({rc}): {err}")
    junk = out.strip()

    h.sign_in()
    token, _ = h.get_token()
    wait_until(lambda: QUOTA_LINE in d.log(), 5, "a log line about the key quota")
    lines = [line for line in d.log().splitlines() if QUOTA_LINE in line]
    check(len(lines) == 1, f"the full quota was logged {len(lines)} times, want once:\n"
          + "\n".join(lines))
    props = h.properties()
    check_equal(props["State"], "signed-in", "State with a full key quota")
    check("key quota" in props["LastError"],
          f"LastError does not name the full key quota: {props['LastError']!r}")
    rc, out, err = as_uid(uid, f"ring=$(keyctl search @u keyring {d.keyring_name}) || exit 90; "
                               f"keyctl search $ring user devauthd:demo:refresh",
                          session=PROBE_SESSION)
    check(rc != 90, f"the keyring {d.keyring_name} is not under the user keyring: {err}")
    check(rc != 0, "the refresh key was stored although the quota is full")
    # repeated refreshes with a full quota: no log flood, no growth (after
    # two refreshes that warm the allocator's size classes for the ID
    # token's verification)
    for _ in range(2):
        h.refresh()
    rss_before = rss_kib(d.proc.pid)
    for _ in range(10):
        h.refresh()
    rss_after = rss_kib(d.proc.pid)
    check(rss_after - rss_before <= RSS_SLACK_KIB,
          f"RSS grew from {rss_before} to {rss_after} KiB across 10 refreshes")
    check_equal(len([line for line in d.log().splitlines() if QUOTA_LINE in line]), 1,
                "log lines about the quota after 12 refreshes")
    # the sign-in survives a restart (from disk)
    d.restart()
    props = h.properties()
    check_equal(props["State"], "signed-in", "State after a restart with a full quota")
    check("key quota" in props["LastError"],
          f"LastError after a restart does not name the full key quota: {props['LastError']!r}")
    token2, _ = h.get_token(min_validity=0)
    daemon_alive(h)

    # room again: the next refresh writes the keys
    rc, _, err = as_uid(uid, f"keyctl clear {junk} && keyctl unlink {junk} @u")
    check(rc == 0, f"cannot free the junk keys: {err}")

    def stored():
        h.refresh()
        rc, _, _ = as_uid(uid, f"ring=$(keyctl search @u keyring {d.keyring_name}) && "
                               f"keyctl search $ring user devauthd:demo:refresh",
                          session=PROBE_SESSION)
        return rc == 0

    wait_until(stored, 20, "the refresh key in the keyring once there is room", interval=1)
    check(h.get_token(min_validity=0)[0] != token2, "no new token after the quota cleared")
    wait_until(lambda: h.properties()["LastError"] == "", 5, "LastError cleared once there is room")


# ---------------------------------------------------------------- callers that ask too often
# Both failed before bd786a1 (a caller's refresh now buys the others a quiet
# while, and callers wait 2 s between failed attempts).


def _refresh_on_full_disk(h):
    """Signed in against the test IdP (rotating refresh tokens) with the
    state directory on a 256 KiB tmpfs, which is then filled up, and a
    refresh made: (daemon, state file, its bytes before, the filler)."""
    h.start_idp("--interval", "1", "--rotate-refresh")
    h.start_bus()
    daemon = h.start_daemon(start=False)
    # a file system of its own for the state directory: 256 KiB of tmpfs
    rc, out, err = harness.run_process(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700",
                                        "devauthd-test-state", daemon.state_dir], timeout=10)
    check(rc == 0, f"mount: {out}{err}")
    h.add_cleanup(lambda: harness.run_process(["umount", "-l", daemon.state_dir], timeout=10))
    daemon.start()
    h.sign_in(sub="rita")
    state_file = os.path.join(daemon.state_dir, "demo.state")
    check(os.path.exists(state_file), "no state file after the sign-in")
    on_disk = open(state_file, "rb").read()

    filler = os.path.join(daemon.state_dir, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(1024):  # 256 KiB in 4 KiB writes, and then some
            os.write(fd, b"\0" * 4096)
        raise harness.TestFailure("the state file system did not fill up")
    except OSError as e:
        check_equal(e.errno, 28, "the error that filled the file system (ENOSPC)")
    finally:
        os.close(fd)
    h.refresh()
    props = h.properties()
    check(re.search(r"not saved to disk.*No space left on device.*reboot", props["LastError"]),
          f"LastError with the disk full: {props['LastError']!r}")
    check_equal(props["State"], "signed-in", "State with the disk full")
    check_equal(open(state_file, "rb").read(), on_disk, "the state file with the disk full")
    return daemon, state_file, on_disk, filler


def _works_after_reboot(h, daemon):
    """devauthd stopped, the keyring gone (a reboot), started: the state
    file's refresh token is the live one."""
    check_equal(daemon.stop(), 0, "devauthd's exit status on SIGTERM")
    daemon.unlink_keyring()
    daemon.start()
    check_equal(h.properties()["State"], "signed-in", "State after the reboot")
    h.refresh()
    token, _ = h.get_token()
    status, body = h.idp.userinfo(token)
    check_equal(status, 200, f"userinfo with the token after the reboot ({body})")


def test_disk_full(h):
    """The state directory's file system is full when a refresh rotates the
    refresh token: LastError says the sign-in is not saved, tokens are still
    served, and once there is room again the write is made without another
    refresh, so that after a reboot (keyring gone) the rotated refresh token
    is the one on disk and the IdP accepts it."""
    daemon, state_file, on_disk, filler = _refresh_on_full_disk(h)
    refreshes = h.idp.stats()["counters"]["token_refresh"]
    h.get_token()
    time.sleep(3)
    check("not saved" in h.properties()["LastError"], "LastError while the disk stays full")

    os.unlink(filler)
    wait_until(lambda: h.properties()["LastError"] == "", 70,
               "LastError to clear once there is room")
    check(open(state_file, "rb").read() != on_disk, "the state file was not written again")
    check_equal(h.idp.stats()["counters"]["token_refresh"], refreshes,
                "refreshes: the write came without another one")
    _works_after_reboot(h, daemon)


def test_disk_full_then_killed(h):
    """As disk_full, but devauthd is killed (SIGKILL) while the disk is
    full, with the rotated refresh token in the keyring alone: the restart
    finds the state file behind the keyring and writes it again, so that a
    reboot after it does not bring back the consumed token."""
    daemon, state_file, on_disk, filler = _refresh_on_full_disk(h)
    h.expect_daemon_failure = True
    os.kill(daemon.proc.pid, signal.SIGKILL)
    wait_until(lambda: daemon.proc.poll() is not None, 10, "devauthd to be killed")
    daemon.stop()
    wait_until(lambda: h.bus.name_owner() is None, harness.STOP_TIMEOUT,
               "the bus name to be released")
    h.expect_daemon_failure = False
    os.unlink(filler)
    refreshes = h.idp.stats()["counters"]["token_refresh"]
    daemon.start()
    check_equal(h.properties()["State"], "signed-in", "State after the restart")
    check(open(state_file, "rb").read() != on_disk,
          "the state file behind the keyring was not written again at the restart")
    check("the state file is behind the keyring; written again" in _read(daemon.logs[-1]),
          "devauthd's log does not say it wrote the state file again")
    check_equal(h.properties()["LastError"], "", "LastError after the restart")
    check_equal(h.idp.stats()["counters"]["token_refresh"], refreshes,
                "refreshes: the restart wrote the file without another one")
    _works_after_reboot(h, daemon)


def test_no_redirects(h):
    """A redirect from the token endpoint (307, which would repeat the POST
    with the refresh token or device code in it) is never followed: the
    place it points to gets nothing, the refresh fails and says so, and the
    sign-in is as it was."""
    h.start_idp("--interval", "1")
    proxy = FaultProxy(h.idp.origin)
    elsewhere = FaultProxy(h.idp.origin)
    h.add_cleanup(proxy.stop)
    h.add_cleanup(elsewhere.stop)
    h.start_bus()
    h.start_daemon({"demo": account_conf(proxy.origin)}, TIMEOUT_SETTINGS)
    h.sign_in()
    token, _ = h.get_token()
    for status in (307, 308, 302):
        path = urllib.parse.urlsplit(h.idp.discovery()["token_endpoint"]).path
        proxy.set_fault("refresh", "redirect", status=status, location=elsewhere.origin + path)
        try:
            h.refresh()
        except DBusCallError as e:
            check(re.search(rf"HTTP {status}", e.message), f"Refresh after a {status}: {e.message!r}")
        else:
            raise harness.TestFailure(f"Refresh succeeded through a {status}")
        check_equal(elsewhere.count(), 0, f"requests where the {status} pointed")
        check_equal(h.properties()["State"], "signed-in", f"State after a {status}")
        check_equal(h.get_token()[0], token, f"the token after a {status}")
    # the device flow's polls too
    proxy.clear_faults()
    h.logout()
    since = h.mark()
    prompt = h.login()
    path = urllib.parse.urlsplit(h.idp.discovery()["token_endpoint"]).path
    proxy.set_fault("poll", "redirect", status=307, location=elsewhere.origin + path)
    h.idp.approve(prompt["user-code"])
    time.sleep(4)
    check_equal(elsewhere.count(), 0, "polls where the 307 pointed")
    check_equal(h.properties()["State"], "awaiting-user", "State while the polls are redirected")
    proxy.clear_faults()
    h.wait_status("signed-in", since=since, timeout=40)


MEMORY_REGION_MAX = 1 << 32
MEMORY_CHUNK = 1 << 20


def memory_hits(pid, needles):
    """{needle: [mapping, ...]} for each needle found in the readable
    memory of process @pid (read through /proc/PID/mem, as root)."""
    hits = {}
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else "[anon]"
            # what is never the heap: the kernel's pages, and regions too
            # large to be anything but reserved address space (the
            # sanitizers' shadow memory: terabytes)
            if "r" not in fields[1] or name in ("[vvar]", "[vsyscall]") or \
                    end - start > MEMORY_REGION_MAX:
                continue
            # in chunks that overlap by the longest needle
            overlap = max(len(n) for n in needles)
            at = start
            while at < end:
                try:
                    mem.seek(at)
                    data = mem.read(min(MEMORY_CHUNK + overlap, end - at))
                except (OSError, OverflowError, ValueError):
                    break
                for needle in needles:
                    if needle in data and name not in hits.get(needle, []):
                        hits.setdefault(needle, []).append(name)
                at += MEMORY_CHUNK
    return hits


def test_secrets_wiped(h):
    """After a sign-in, a refresh, GetToken on the bus and on the socket,
    and Logout, no access, refresh or ID token that the IdP ever issued is
    left anywhere in devauthd's memory (read through /proc/PID/mem): what
    devauthd frees it wipes, and what the libraries free (a GDBus reply
    with the token in it) the allocator overwrites."""
    h.start_idp("--interval", "1")
    proxy = FaultProxy(h.idp.origin)
    h.add_cleanup(proxy.stop)
    h.start_bus()
    h.start_daemon({"demo": account_conf(proxy.origin)}, TIMEOUT_SETTINGS)
    h.sign_in()
    h.get_token()
    h.refresh()
    h.get_token()
    rc, out, err = h.ctl("token")
    check_equal(rc, 0, f"devauthctl token ({err!r})")
    secrets = {}  # token -> what it was
    for kind in ("poll", "refresh"):
        for _, answer in proxy.exchanges(kind):
            doc = json.loads(answer)
            for name in ("access_token", "refresh_token", "id_token"):
                if isinstance(doc.get(name), str):
                    secrets[doc[name].encode()] = f"{name} of a {kind}"
    check(len(secrets) >= 4, f"the tokens the IdP issued: {sorted(secrets.values())}")
    h.logout()
    time.sleep(1)
    hits = memory_hits(h.daemon.proc.pid, secrets)
    check_equal({secrets[k]: v for k, v in hits.items()}, {},
                "tokens left in devauthd's memory after Logout")


def test_scopes_as_written(h):
    """Scopes= reach the IdP as written: the scope of the device
    authorization request is the configured list, in its order."""
    h.start_idp("--interval", "1")
    proxy = FaultProxy(h.idp.origin)
    h.add_cleanup(proxy.stop)
    h.start_bus()
    scopes = "profile offline_access openid email"
    h.start_daemon({"demo": account_conf(proxy.origin, scopes=scopes)}, TIMEOUT_SETTINGS)
    h.sign_in()
    (request, _), = proxy.exchanges("device")
    form = urllib.parse.parse_qs(request.decode())
    check_equal(form.get("scope"), [scopes], "the scope sent with the device authorization")


# what LastError says when a stop in the middle of a refresh lost the sign-in
INTERRUPTED_REFRESH = "devauthd stopped while a refresh was on its way"
# what devauthd logs when it restarts after such a stop
JOURNAL_TOKENS_TAKEN = "they are taken from the journal"
JOURNAL_RETRY = "trying again at once with the refresh token held"


def _kill_in_refresh(h, proxy, daemon, fault, **params):
    """A refresh during which devauthd gets SIGKILL (the fault proxy's
    @fault), then devauthd started again; returns the log of the new
    start."""
    proxy.set_fault("refresh", fault, pid=daemon.proc.pid, **params)
    try:
        h.refresh()
    except DBusCallError:
        pass
    wait_until(lambda: daemon.proc.poll() is not None, 10, "devauthd to be killed")
    daemon.stop()
    proxy.clear_faults()
    wait_until(lambda: h.bus.name_owner() is None, harness.STOP_TIMEOUT,
               "the bus name to be released")
    daemon.start()
    return daemon.logs[-1]


def _rotation_world(h, *idp_args):
    """The test IdP (@idp_args), the fault proxy before it, devauthd signed
    in, and killing it expected: (proxy, daemon)."""
    h.start_idp("--interval", "1", *idp_args)
    proxy = FaultProxy(h.idp.origin)
    h.add_cleanup(proxy.stop)
    h.start_bus()
    daemon = h.start_daemon({"demo": account_conf(proxy.origin)}, TIMEOUT_SETTINGS)
    h.expect_daemon_failure = True
    h.sign_in()
    return proxy, daemon


def _read(path):
    with open(path, errors="replace") as f:
        return f.read()


def test_rotation_window(h):
    """devauthd killed (SIGKILL) in the middle of a refresh that rotates the
    refresh token, against the test IdP in its --rotate-refresh mode (the
    old token consumed at once, the strictest there is): before the answer
    reaches devauthd, and at delays after it left the IdP's side. Reports
    how often the sign-in was lost and how the restart found the journal.
    Killed before the answer came, the sign-in cannot be kept (the IdP
    takes no token twice): the error must say why. Once the answer has
    been read, its tokens are in the journal: nothing may be lost."""
    proxy, daemon = _rotation_world(h, "--rotate-refresh")
    delays = [None, 0.0, 0.001, 0.005, 0.02, 0.5 * harness.SLOWDOWN]
    tries = 3
    lost = {d: 0 for d in delays}
    taken = {d: 0 for d in delays}
    retried = {d: 0 for d in delays}
    for delay in delays:
        for _ in range(tries):
            if delay is None:
                log = _kill_in_refresh(h, proxy, daemon, "kill_before_answer")
            else:
                log = _kill_in_refresh(h, proxy, daemon, "kill_after", delay=delay)
            try:
                h.refresh()
                kept = h.properties()["State"] == "signed-in"
            except DBusCallError:
                kept = False
            text = _read(log)
            taken[delay] += JOURNAL_TOKENS_TAKEN in text
            retried[delay] += JOURNAL_RETRY in text
            if not kept:
                lost[delay] += 1
                last_error = h.properties()["LastError"]
                check(INTERRUPTED_REFRESH in last_error,
                      f"LastError after a sign-in lost to a kill (delay {delay}): {last_error!r}")
                h.sign_in()

    def name(d):
        return "before the answer" if d is None else f"{d * 1000:g} ms"
    print("rotation window, of " + str(tries) + " kills each: " + "; ".join(
        f"{name(d)}: lost {lost[d]}, tokens from the journal {taken[d]}, "
        f"retried {retried[d]}" for d in delays))
    check_equal(retried[None], tries, "restarts after a kill before the answer that retried")
    check_equal(lost[delays[-1]], 0, f"sign-ins lost {delays[-1]} s after the answer ({lost})")
    h.expect_daemon_failure = False


def test_rotation_retry_at_once(h):
    """An IdP that keeps a replaced refresh token valid for 20 s (Okta's and
    Auth0's rotation with a grace period): devauthd killed after the IdP
    rotated the token and before the answer reached it. The restart finds
    the journal of the refresh, and refreshes at once with the token it
    holds, inside the grace period, without a caller asking: the sign-in
    is kept, 3 times of 3. (Waiting for the planned refresh, minutes later,
    would lose it.)"""
    proxy, daemon = _rotation_world(h, "--refresh-tokens", "grace:20")
    for i in range(3):
        since = time.time()
        before, _ = h.get_token()
        log = _kill_in_refresh(h, proxy, daemon, "kill_before_answer")
        # the killed refresh, then the restart's own (no caller asks): its
        # token is the one served
        wait_until(lambda: h.get_token()[0] != before, 5 * harness.SLOWDOWN,
                   f"kill {i + 1}: a new token from the refresh after the restart")
        check_equal(h.properties()["State"], "signed-in", f"kill {i + 1}: State")
        check_equal(h.properties()["LastError"], "", f"kill {i + 1}: LastError")
        check_equal(proxy.count("refresh", since=since), 2,
                    f"kill {i + 1}: refreshes (the killed one and the retry)")
        check(JOURNAL_RETRY in _read(log), f"kill {i + 1}: devauthd's log after the restart "
              f"does not say it retries the refresh")
        status, body = h.idp.userinfo(h.get_token()[0])
        check_equal(status, 200, f"kill {i + 1}: userinfo with the token of the retry ({body})")
    h.expect_daemon_failure = False


def test_get_token_respects_backoff(h):
    """A caller asking for more validity than the cached token has (GetToken
    min-validity) during an outage: one app calling 10 times a second must
    not send 10 refreshes a second to the IdP; at most a few attempts."""
    proxy = proxied_world(h)
    token, _ = h.get_token()
    proxy.set_fault("refresh", "status", status=500)
    t0 = time.time()
    for _ in range(20):
        check_equal(h.get_token(min_validity=3600)[0], token, "GetToken during the fault")
        time.sleep(0.1)
    n = proxy.count("refresh", since=t0)
    check(n <= 3, f"20 GetToken calls in 2 s during an outage sent {n} refreshes to the IdP")


def test_one_second_tokens(h):
    """An IdP whose access tokens live a second (as Keycloak's last ones
    before SSO Session Max do): the background refreshes keep one a second
    at most, not one per main-loop turn in the token's last quarter."""
    h.setup("--interval", "1", "--access-ttl", "1", daemon_settings=TIMEOUT_SETTINGS)
    h.sign_in()
    h.idp.reset_stats()
    time.sleep(5)
    n = h.idp.stats()["counters"]["token_refresh"]
    check(1 <= n <= 7, f"{n} refreshes in 5 s of 1 s tokens")
    check_equal(h.properties()["State"], "signed-in", "State after 5 s of 1 s tokens")


def test_short_lifetime_no_refresh_storm(h):
    """When the IdP issues access tokens that live less than the default
    min-validity (30 s), GetToken must not refresh on every call: a token
    that was just refreshed is served for a while."""
    h.setup("--interval", "1", "--access-ttl", "5", daemon_settings=TIMEOUT_SETTINGS)
    h.sign_in()
    h.idp.reset_stats()
    for _ in range(20):
        h.get_token()
        time.sleep(0.1)
    n = h.idp.stats()["counters"]["token_refresh"]
    check(n <= 2, f"20 GetToken calls in 2 s on 5 s tokens sent {n} refreshes to the IdP")
