"""devauthd against the real Keycloak (tests/keycloak/README.md says what
each case found out about the server). One meson test per case; every case
uses the suite's one Keycloak and signs in through Keycloak's own pages."""

import os
import re
import signal
import time

import harness
import kc
from harness import account_conf, check, check_equal
from kc import DEVICE_GRANT


def check_in(needle, haystack, what):
    check(needle in haystack, f"{what}: {needle!r} not in {haystack!r}")


def test_signin(h):
    """Sign-in end to end through Keycloak's pages; Keycloak's userinfo
    accepts the token; devauthctl shows the person."""
    keycloak = kc.world(h)
    props = h.properties()
    check_equal(props["State"], "signed-out", "State before sign-in")

    since = h.mark()
    prompt = h.login()
    issuer = keycloak.issuer()
    check(prompt["verification-uri"] == f"{issuer}/device",
          f"verification-uri {prompt['verification-uri']!r} is not Keycloak's device page")
    check(prompt["verification-uri-complete"].startswith(f"{issuer}/device?user_code="),
          f"verification-uri-complete: {prompt['verification-uri-complete']!r}")
    check_equal(prompt["interval"], 1, "interval (the client's oauth2.device.polling.interval)")
    pages = keycloak.approve(prompt["verification-uri-complete"], user="alice")
    # the grant page comes for every device sign-in, consent required or not
    check_equal(pages, ["login", "grant", "success"], "pages Keycloak showed")
    h.wait_status("signed-in", since=since, timeout=30 * harness.SLOWDOWN)

    token, info = h.get_token()
    check_equal(info.get("token-type"), "Bearer", "token-type")
    check(info.get("expires-at", 0) > time.time() + 200,
          f"expires-at is not Keycloak's 300 s away: {info}")
    status, body = keycloak.userinfo(token)
    check_equal(status, 200, f"Keycloak's userinfo ({body})")
    check_equal(body.get("preferred_username"), "alice", "preferred_username at userinfo")
    check_equal(body.get("sub"), keycloak.user_id("devauth", "alice"), "sub at userinfo")
    props = h.properties()
    check_equal(props["Subject"], body["sub"], "Subject property")
    # the person by name, from the ID token that the daemon verified with
    # Keycloak's JWKS (RS256)
    check_equal(props["UserName"], "alice", "UserName property")
    sig = h.wait_status("signed-in", since=since, timeout=1)
    check_equal(sig["details"].get("user-name"), "alice", "user-name in StatusChanged")
    # offline_access (the default scopes): Keycloak sets no end
    check_equal(props["SignInExpiresAt"], 0, "SignInExpiresAt of an offline sign-in")

    rc, out, err = h.ctl("token")
    check_equal(rc, 0, f"devauthctl token ({err})")
    check_equal(out.strip(), token, "devauthctl token")
    rc, out, err = h.ctl("status")
    check_equal(rc, 0, f"devauthctl status ({err})")
    check_in("signed-in", out, "devauthctl status")
    check(re.search(r"^ +User: alice$", out, re.M), f"devauthctl status names alice:\n{out}")
    check(re.search(r"^ +Sign-in: no end announced by the IdP$", out, re.M),
          f"devauthctl status: the sign-in's end:\n{out}")
    rc, out, err = h.ctl("login")
    check_equal((rc, out.strip()), (0, "Already signed in as alice."), f"devauthctl login ({err})")


def test_denied(h):
    """"No" on Keycloak's grant page: the flow ends with access_denied."""
    keycloak = kc.world(h)
    since = h.mark()
    prompt = h.login()
    pages = keycloak.approve(prompt["verification-uri-complete"], user="bob", deny=True)
    check_equal(pages[:2], ["login", "grant"], "pages before the denial")
    sig = h.wait_status("signed-out", error="denied", since=since,
                        timeout=20 * harness.SLOWDOWN)
    check(sig["details"].get("error-description"), f"no error-description: {sig['details']}")
    h.expect_error("NotSignedIn", h.get_token)
    check_equal(h.properties()["State"], "signed-out", "State after the denial")


def test_code_expired(h):
    """A device code that lives 8 s (the client's oauth2.device.code.lifespan):
    the flow ends at its expiry, and a new login gets a new code."""
    kc.world(h, client="tv-short-code", pkce=False)
    since = h.mark()
    prompt = h.login()
    check(prompt["expires-at"] - time.time() <= 9, f"expires-at: {prompt['expires-at']}")
    sig = h.wait_status("signed-out", since=since, timeout=20 * harness.SLOWDOWN)
    check_in(sig["details"].get("error"), ("expired_token", "expired"), "error at expiry")
    check(time.time() >= prompt["expires-at"] - 1,
          f"the flow ended {prompt['expires-at'] - time.time():.1f} s before the code expired")
    again = h.login()
    check(again["user-code"] != prompt["user-code"], "the new login reused the old code")
    h.cancel_login()


def test_slow_down(h):
    """Keycloak's slow_down, as Keycloak sends it: a poll sooner than the
    client's interval (3 s) after the last one. A proxy in front of the
    device endpoint advertises 1 s; devauthd adds 5 s and signs in."""
    keycloak = kc.Keycloak()
    device = kc.proxied(h, keycloak, "device_authorization_endpoint")
    device.rewrite = lambda record, doc: dict(doc, interval=1)
    token = kc.proxied(h, keycloak, "token_endpoint")
    kc.world(h, client="tv-slow", pkce=False,
             extra={"DeviceAuthorizationEndpoint": device.url, "TokenEndpoint": token.url})
    since = h.mark()
    prompt = h.login()
    check_equal(prompt["interval"], 1, "interval in the prompt (as rewritten)")
    kc.wait(lambda: any(r["error"] == "slow_down" for r in token.grants(DEVICE_GRANT)), 20,
            "Keycloak to answer slow_down")
    keycloak.approve(prompt["verification-uri-complete"], user="alice")
    h.wait_status("signed-in", since=since, timeout=30 * harness.SLOWDOWN)
    polls = token.grants(DEVICE_GRANT)
    i = next(i for i, p in enumerate(polls) if p["error"] == "slow_down")
    check(i + 1 < len(polls), f"no poll after slow_down: {polls}")
    gap = polls[i + 1]["t"] - polls[i]["t"]
    check(gap >= 5.9, f"the poll after slow_down came {gap:.2f} s later (expected >= 6 s)")
    check_equal(sum(p["error"] == "slow_down" for p in polls), 1,
                f"slow_down answers (interval 6 s > Keycloak's 3 s): {polls}")
    check_equal(polls[-1]["status"], 200, "the last poll")


def test_pkce_required(h):
    """A client with PKCE S256 required, and devauthd told Pkce=no: a clear
    error that names the setting; with Pkce=yes the same client works."""
    keycloak = kc.world(h, pkce=False)
    e = h.expect_error("IdpError", h.login)
    check_in("Pkce=yes", e.message, "the error for a PKCE-required client")
    check_equal(h.properties()["State"], "signed-out", "State")
    kc.reconfigure(h, account_conf(keycloak.issuer(), client_id="tv-device", pkce=True))
    kc.sign_in(h, user="bob")


def test_no_device_grant(h):
    """A client without the device grant: the error names the Keycloak
    setting to turn on, on the bus and in devauthctl."""
    kc.world(h, client="tv-nogrant", pkce=False)
    e = h.expect_error("IdpError", h.login)
    check_in("OAuth 2.0 Device Authorization Grant", e.message, "the error on the bus")
    check_in("tv-nogrant", e.message, "the error on the bus")
    rc, out, err = h.ctl("login")
    check(rc != 0, f"devauthctl login succeeded: {out}")
    check_in("OAuth 2.0 Device Authorization Grant", err, "devauthctl login's message")
    check_in("unauthorized_client", h.properties()["LastError"], "LastError")


def test_confidential(h):
    """A confidential client: with its secret the device signs in and
    refreshes; without it, the error says that the client wants one."""
    keycloak = kc.world(h, client="tv-confidential", pkce=False)
    e = h.expect_error("IdpError", h.login)
    check_in("ClientSecretFile=", e.message, "the error without a secret")
    secret = os.path.join(h.tmp, "client-secret")
    with open(os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write("not-the-secret\n")
    kc.reconfigure(h, account_conf(keycloak.issuer(), client_id="tv-confidential",
                                   extra={"ClientSecretFile": secret}))
    e = h.expect_error("IdpError", h.login)
    check_in("refused the client secret", e.message, "the error with a wrong secret")
    with open(secret, "w") as f:
        f.write(kc.CONFIDENTIAL_SECRET + "\n")
    kc.reconfigure(h, account_conf(keycloak.issuer(), client_id="tv-confidential",
                                   extra={"ClientSecretFile": secret}))
    kc.sign_in(h, user="alice")
    before, _ = h.get_token()
    h.refresh()
    after, _ = h.get_token()
    check(after != before, "Refresh gave the same access token")
    status, body = keycloak.userinfo(after)
    check_equal(status, 200, f"userinfo with the refreshed token ({body})")


def _service_conf(keycloak, h, client, secret):
    path = os.path.join(h.tmp, f"secret-{client}")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(secret + "\n")
    return account_conf(keycloak.issuer(), client_id=client, scopes=None,
                        extra={"Grant": "client_credentials", "ClientSecretFile": path})


def test_service_account(h):
    """Grant=client_credentials against Keycloak's service account of the
    client tv-service: the token comes at start with no person, Keycloak
    holds it active for service-account-tv-service, a Refresh asks for a
    new one with the client's credentials (Keycloak gives no refresh
    token); a wrong secret ends the account's token (the client's
    credentials are refused) and a client without service accounts never
    gets one, each with Keycloak's refusal and the setting to change."""
    keycloak = kc.Keycloak()
    kc.world(h, accounts={"demo": _service_conf(keycloak, h, "tv-service", kc.SERVICE_SECRET)})
    kc.wait(lambda: h.properties()["State"] == "signed-in", 15,
            "the service account's token at start")
    token, info = h.get_token(min_validity=0)
    body = keycloak.introspect(token, "tv-service", kc.SERVICE_SECRET)
    print(f"introspection: active={body.get('active')} username={body.get('username')} "
          f"client_id={body.get('client_id')} azp={body.get('azp')} exp-iat="
          f"{body.get('exp', 0) - body.get('iat', 0)}")
    check_equal((body.get("active"), body.get("username")),
                (True, "service-account-tv-service"), "Keycloak's introspection of the token")
    check(h.daemon.key_id("devauthd:demo:refresh") is None,
          "a refresh token is kept for a service account")
    h.refresh()
    renewed, renewed_info = h.get_token(min_validity=0)
    check(renewed != token, "Refresh kept the token")
    check(renewed_info["expires-at"] >= info["expires-at"], "the renewed token expires sooner")
    check_equal(keycloak.introspect(renewed, "tv-service", kc.SERVICE_SECRET).get("active"),
                True, "the renewed token at Keycloak")

    kc.reconfigure(h, _service_conf(keycloak, h, "tv-service", "not-the-secret"))
    check_equal(h.get_token(min_validity=0)[0], renewed, "the token held across the restart")
    h.expect_error("NotSignedIn", h.refresh)
    wrong = h.properties()
    print(f"wrong secret: {wrong['LastError']}")
    check_equal(wrong["State"], "reauth-required", "State once the secret is refused")
    h.expect_error("NotSignedIn", h.get_token)
    # Keycloak 26.5.6 answers a wrong secret with unauthorized_client (not
    # RFC 6749's invalid_client)
    check_in("(Invalid client or Invalid client credentials)", wrong["LastError"],
             "LastError with a wrong secret")
    check_in("Credentials", wrong["LastError"], "the hint names Keycloak's setting")

    h.logout()
    kc.reconfigure(h, _service_conf(keycloak, h, "tv-confidential", kc.CONFIDENTIAL_SECRET))
    kc.wait(lambda: h.properties()["LastError"] != "", 15,
            "the refusal of a client without service accounts")
    no_service = h.properties()
    print(f"no service accounts: {no_service['LastError']}")
    check_equal(no_service["State"], "signed-out", "State")
    check_in("unauthorized_client", no_service["LastError"], "LastError")
    check_in("Service accounts roles", no_service["LastError"], "the hint")


def test_signed_jwt(h):
    """Keycloak's "Signed JWT" client authenticator (private_key_jwt) with
    the client's certificate in the realm and its key in ClientKeyFile=:
    a device flow signs in, refreshes and logs out with assertions, and a
    service account of the same client gets its token; a key that is not
    the client's is refused with Keycloak's answer."""
    keycloak = kc.Keycloak()
    key = keycloak.state["client_jwt_key"]
    kc.world(h, accounts={
        "demo": account_conf(keycloak.issuer(), client_id="tv-jwt", pkce=False,
                             extra={"ClientKeyFile": key}),
        "service": account_conf(keycloak.issuer(), client_id="tv-jwt", scopes=None,
                                extra={"Grant": "client_credentials", "ClientKeyFile": key}),
    })
    kc.sign_in(h, user="alice", account="demo")
    h.refresh("demo")
    token, _ = h.get_token("demo", min_validity=0)
    status, body = keycloak.userinfo(token)
    check_equal((status, body.get("preferred_username")), (200, "alice"), "userinfo")
    h.logout("demo")
    check_equal(keycloak.userinfo(token)[0], 401, "userinfo after the logout")
    kc.wait(lambda: h.properties("service")["State"] == "signed-in", 15,
            "the service account's token")
    check_equal(h.properties("service")["LastError"], "", "the service account's LastError")

    other = os.path.join(h.tmp, "other.key")
    harness.run_process(["openssl", "genpkey", "-algorithm", "RSA", "-out", other], timeout=30)
    os.chmod(other, 0o600)
    kc.reconfigure(h, account_conf(keycloak.issuer(), client_id="tv-jwt", pkce=False,
                                   extra={"ClientKeyFile": other}))
    e = h.expect_error("IdpError", h.login, "demo")
    print(f"another key: {e.message}")
    # measured with Keycloak 26.5.6: invalid_client (Client authentication
    # with signed JWT failed: Signature on JWT token failed validation)
    check_in("Signature on JWT token failed validation", e.message, "the refusal of another key")
    check_in("ClientKeyFile= must hold the key", e.message, "the hint")


def test_x509(h):
    """Keycloak's "X509 Certificate" client authenticator (tls_client_auth,
    RFC 8705) over HTTPS: the client's certificate of the test CA in
    ClientCertificateFile=, its key in ClientKeyFile=; a device flow signs
    in, refreshes and logs out, and a service account of the same client
    gets its token; a certificate of another subject is refused with
    Keycloak's answer."""
    keycloak = kc.Keycloak()
    cert, key = keycloak.state["client_x509"]
    issuer = keycloak.issuer(https=True)

    def conf(cert, key, **extra):
        return account_conf(issuer, client_id="tv-x509", pkce=False,
                            scopes=extra.pop("scopes", "openid offline_access"),
                            extra=dict({"CAFile": keycloak.ca,
                                        "ClientAuthMethod": "tls_client_auth",
                                        "ClientCertificateFile": cert, "ClientKeyFile": key},
                                       **extra))
    kc.world(h, accounts={"demo": conf(cert, key),
                          "service": conf(cert, key, scopes=None, Grant="client_credentials")})
    kc.sign_in(h, user="alice", account="demo", https=True)
    h.refresh("demo")
    token, _ = h.get_token("demo", min_validity=0)
    status, body = keycloak.userinfo(token, https=True)
    check_equal((status, body.get("preferred_username")), (200, "alice"), "userinfo")
    h.logout("demo")
    check_equal(keycloak.userinfo(token, https=True)[0], 401, "userinfo after the logout")
    kc.wait(lambda: h.properties("service")["State"] == "signed-in", 15,
            "the service account's token")
    check_equal(h.properties("service")["LastError"], "", "the service account's LastError")

    other_cert, other_key = keycloak.state["client_x509_other"]
    kc.reconfigure(h, conf(other_cert, other_key))
    e = h.expect_error("IdpError", h.login, "demo")
    print(f"a certificate of another subject: {e.message}")
    # measured with Keycloak 26.5.6: invalid_client (Invalid client or Invalid
    # client credentials)
    check_in("invalid_client", e.message, "the refusal of another subject's certificate")
    check_in("ClientCertificateFile= must be the certificate", e.message, "the hint")


def test_consent(h):
    """A client with consent required: the grant page lists what the client
    asks for; accepting signs in, and the consent is remembered by Keycloak."""
    keycloak = kc.world(h, client="tv-consent", pkce=False)
    since = h.mark()
    prompt = h.login()
    pages = keycloak.approve(prompt["verification-uri-complete"], user="bob")
    check_equal(pages, ["login", "grant", "success"], "pages")
    h.wait_status("signed-in", since=since, timeout=30 * harness.SLOWDOWN)
    consents = keycloak.admin(f"devauth/users/{keycloak.user_id('devauth', 'bob')}/consents")
    check(any(c.get("clientId") == "tv-consent" for c in consents),
          f"Keycloak has no consent of bob for tv-consent: {consents}")


def test_offline_not_allowed(h):
    """A user without Keycloak's offline_access role approves a device that
    asks for offline_access: Keycloak refuses the tokens after the approval,
    and the error says which role to give or which scope to drop."""
    keycloak = kc.world(h)
    since = h.mark()
    prompt = h.login()
    keycloak.approve(prompt["verification-uri-complete"], user="carol")
    sig = h.wait_status("signed-out", since=since, timeout=20 * harness.SLOWDOWN)
    text = sig["details"].get("error-description", "")
    check_in("not_allowed", text, "the error after the approval")
    check_in("offline_access", text, "the hint after the approval")
    check_in("offline_access", h.properties()["LastError"], "LastError")
    # without offline_access the same person signs in, for as long as the
    # browser session lasts
    kc.reconfigure(h, account_conf(keycloak.issuer(), client_id="tv-device", scopes="openid",
                                   pkce=True))
    kc.sign_in(h, user="carol")


def _refresh_and_check(h, keycloak, account, realm, times):
    tokens = set()
    for _ in range(times):
        h.refresh(account)
        token, _ = h.get_token(account)
        check(token not in tokens, f"{account}: Refresh gave a token seen before")
        tokens.add(token)
        status, body = keycloak.userinfo(token, realm=realm)
        check_equal(status, 200, f"{account}: userinfo after a refresh ({body})")


def test_refresh_rotation(h):
    """Refreshes in three realms: rotation off (Keycloak's default), "Revoke
    Refresh Token" with max reuse 0, and with max reuse 1. Keycloak sends a
    new refresh token every time; devauthd always uses the newest, also
    after a restart, so no realm ever sees a token twice."""
    keycloak = kc.Keycloak()
    realms = {"off": "devauth", "reuse0": "devauth-rotate", "reuse1": "devauth-reuse1"}
    proxies = {name: kc.proxied(h, keycloak, "token_endpoint", realm)
               for name, realm in realms.items()}
    kc.world(h, accounts={
        name: account_conf(keycloak.issuer(realm), client_id="tv-device", pkce=True,
                           extra={"TokenEndpoint": proxies[name].url})
        for name, realm in realms.items()})
    for name in realms:
        kc.sign_in(h, user="alice", account=name)
    for name, realm in realms.items():
        _refresh_and_check(h, keycloak, name, realm, 3)
    h.daemon.restart()
    for name, realm in realms.items():
        _refresh_and_check(h, keycloak, name, realm, 2)
        check_equal(h.properties(name)["State"], "signed-in", f"{name}: State")
        refreshes = proxies[name].grants("refresh_token")
        check_equal([r["status"] for r in refreshes], [200] * 5, f"{name}: refresh answers")


def _kill_at_refresh(h, proxy, deliver):
    """Refresh; devauthd is killed with SIGKILL when Keycloak has rotated the
    token: before the reply reaches it (deliver False), or right after."""
    pid = h.daemon.proc.pid
    killed = []

    def kill(record):
        if record["grant_type"] == "refresh_token" and record["status"] == 200 and not killed:
            if deliver:
                # let the reply go out, then kill: the race a crash wins
                import threading
                threading.Timer(0.0, lambda: os.kill(pid, signal.SIGKILL)).start()
            else:
                os.kill(pid, signal.SIGKILL)
            killed.append(record)
            return deliver
        return True

    proxy.hook = kill
    try:
        h.refresh()
    except harness.DBusCallError:
        pass
    kc.wait(lambda: h.daemon.proc.poll() is not None, 10, "devauthd to die")
    proxy.hook = None
    check_equal(len(killed), 1, "rotated refresh replies before the kill")
    h.daemon.stop()
    harness.wait_until(lambda: h.bus.name_owner() is None, harness.STOP_TIMEOUT,
                       "the bus name to be released")
    h.daemon.start()


def _restart_log(h):
    with open(h.daemon.logs[-1], errors="replace") as f:
        return f.read()


# what devauthd logs when it restarts after a kill in the middle of a refresh
JOURNAL_RETRY = "trying again at once with the refresh token held"


def test_kill9_after_rotation(h):
    """SIGKILL of devauthd when Keycloak has rotated the refresh token but
    devauthd never got (or never stored) the reply. The restart finds the
    journal of the refresh and refreshes at once, with the token it holds.
    With "Refresh Token Max Reuse" 1 the device stays signed in: the old
    token may be used once. With max reuse 0 Keycloak ends the sign-in at
    that refresh, and the error says that devauthd stopped in a refresh and
    which realm setting to change."""
    keycloak = kc.Keycloak()
    proxy = kc.proxied(h, keycloak, "token_endpoint", "devauth-reuse1")
    kc.world(h, realm="devauth-reuse1", extra={"TokenEndpoint": proxy.url})
    kc.sign_in(h, user="bob")
    for deliver in (False, True):
        before = len(proxy.grants("refresh_token"))
        _kill_at_refresh(h, proxy, deliver)
        if not deliver:
            check_in(JOURNAL_RETRY, _restart_log(h), "devauthd's log after the restart")
            # the restart's own refresh, with the old token, which Keycloak
            # takes once more
            kc.wait(lambda: len(proxy.grants("refresh_token")) >= before + 2,
                    10 * harness.SLOWDOWN, "the refresh of the restart")
            check_equal(proxy.grants("refresh_token")[before + 1]["status"], 200,
                        "Keycloak's answer to the old token after the kill")
            print("max reuse 1, kill before the answer: Keycloak's answers to the refresh "
                  "and to the restart's retry with the old token: " +
                  str([r["status"] for r in proxy.grants("refresh_token")[before:before + 2]]))
        h.refresh()
        token, _ = h.get_token()
        status, body = keycloak.userinfo(token, realm="devauth-reuse1")
        check_equal(status, 200, f"userinfo after the kill (reply delivered: {deliver}) ({body})")
        check_equal(h.properties()["State"], "signed-in", "State after the kill")

    # max reuse 0: a lost reply ends the sign-in, at the restart's refresh
    h2 = harness.Harness("keycloak.kill9_after_rotation-reuse0")
    h.add_cleanup(lambda: _close(h2))
    proxy0 = kc.proxied(h2, keycloak, "token_endpoint", "devauth-rotate")
    kc.world(h2, realm="devauth-rotate", extra={"TokenEndpoint": proxy0.url})
    kc.sign_in(h2, user="bob")
    since = h2.mark()
    _kill_at_refresh(h2, proxy0, deliver=False)
    sig = h2.wait_status("reauth-required", since=since, timeout=10 * harness.SLOWDOWN)
    last_error = h2.properties()["LastError"]
    print(f"max reuse 0, kill before the answer: LastError after the restart's retry: "
          f"{last_error}")
    check_in("devauthd stopped while a refresh was on its way", last_error,
             "LastError after a lost rotation")
    check_in("Max Reuse", last_error, "LastError after a lost rotation")
    check_in("reuse exceeded", sig["details"].get("error-description", ""), "the signal")
    h2.expect_error("NotSignedIn", h2.refresh)


def _close(other):
    problems = other.close()
    if problems:
        raise harness.TestFailure("teardown of the second world failed:\n" + "\n".join(problems))


def test_sso_session_max(h):
    """A realm whose browser sessions end after 45 s (SSO Session Idle and
    Max) with 15 s access tokens. Without offline_access the refresh token
    ends with that session: Keycloak's refresh_expires_in says so, and the
    first refresh after it fails with a hint. With offline_access the
    device stays signed in past it."""
    keycloak = kc.world(h, accounts={
        "online": account_conf(kc.Keycloak().issuer("devauth-short"), client_id="tv-device",
                               scopes="openid", pkce=True),
        "offline": account_conf(kc.Keycloak().issuer("devauth-short"), client_id="tv-device",
                                scopes="openid offline_access", pkce=True)})
    signed_in_at = time.time()
    kc.sign_in(h, user="alice", account="online")
    online_done = time.time()
    kc.sign_in(h, user="bob", account="offline")
    # said beforehand: when the online sign-in ends (Keycloak's
    # refresh_expires_in, the session's 45 s), and that the offline one
    # has no end
    ends = h.properties("online")["SignInExpiresAt"]
    # the session starts at the login in the browser, between the two
    # moments (whole seconds on both sides)
    check(signed_in_at + 44 <= ends <= online_done + 46,
          f"SignInExpiresAt is {ends - signed_in_at:+.0f} s from the start of the sign-in "
          f"({online_done - signed_in_at:.1f} s long), not the session's 45 s")
    check_equal(h.properties("offline")["SignInExpiresAt"], 0, "SignInExpiresAt (offline)")
    rc, out, err = h.ctl("status", "online")
    check(rc == 0 and re.search(r"^ +Sign-in: ends .* unless renewed$", out, re.M),
          f"devauthctl status says when the sign-in ends ({err}):\n{out}")
    # a refresh does not move it past SSO Session Max
    h.refresh("online")
    moved = h.properties("online")["SignInExpiresAt"]
    check(abs(moved - ends) <= 2,
          f"SignInExpiresAt moved from {ends - signed_in_at:+.0f} s to {moved - signed_in_at:+.0f} s "
          "after a refresh, past SSO Session Max")
    # background refreshes at ~75% of 15 s keep both going until the
    # browser session's end at 45 s
    since = h.mark()
    sig = h.wait_status("reauth-required", account="online", since=since,
                        timeout=60 * harness.SLOWDOWN)
    ended = time.time() - signed_in_at
    check(ended >= 40, f"the online sign-in ended after {ended:.0f} s, before the session's 45 s")
    check_in("SSO Session", sig["details"].get("error-description", ""), "the hint at the end")
    check_in("offline_access", h.properties("online")["LastError"], "LastError at the end")
    kc.sleep_until(signed_in_at + 50)
    h.refresh("offline")
    token, _ = h.get_token("offline")
    status, body = keycloak.userinfo(token, realm="devauth-short")
    check_equal(status, 200, f"userinfo with the offline account's token after 50 s ({body})")
    check_equal(h.properties("offline")["State"], "signed-in", "the offline account's State")


def test_keycloak_restart(h):
    """Keycloak restarted (dev-file database, so it keeps its data): the
    offline session still refreshes, and so does a browser-session one
    (Keycloak 26 keeps user sessions in the database). Runs alone: the
    other cases share this Keycloak."""
    keycloak = kc.world(h, accounts={
        "offline": account_conf(kc.Keycloak().issuer(), client_id="tv-device", pkce=True),
        "online": account_conf(kc.Keycloak().issuer(), client_id="tv-device", scopes="openid",
                               pkce=True)})
    kc.sign_in(h, user="alice", account="offline")
    kc.sign_in(h, user="bob", account="online")
    before = {a: h.get_token(a)[0] for a in ("offline", "online")}
    keycloak.restart()
    for account in ("offline", "online"):
        h.refresh(account)
        token, _ = h.get_token(account)
        check(token != before[account], f"{account}: the same token after Refresh")
        status, body = keycloak.userinfo(token)
        check_equal(status, 200, f"{account}: userinfo after Keycloak's restart ({body})")


def test_logout_two_devices(h):
    """Two devices (two devauthd) of one person, approved in one browser.
    With offline_access (the default) each device has a session of its
    own: logging one out leaves the other signed in. With only openid both
    hang on the one browser session, and the revocation of one device's
    refresh token ends that session: the other device's token is refused
    at once and its next refresh says why."""
    keycloak = kc.Keycloak()
    for scopes, shared in (("openid offline_access", False), ("openid", True)):
        devices = [h, harness.Harness(f"keycloak.logout_two_devices-{len(scopes)}")]
        if h.daemon is not None:
            devices[0] = harness.Harness(f"keycloak.logout_two_devices-first-{len(scopes)}")
        for d in devices:
            if d is not h:
                h.add_cleanup(lambda d=d: _close(d))
            kc.world(d, scopes=scopes)
        browser = None
        pages = []
        for d in devices:
            since = d.mark()
            prompt = d.login()
            outcome, browser = kc.approver.approve(
                prompt["verification-uri-complete"], user="alice",
                password=kc.PASSWORDS["alice"], browser=browser)
            check_equal(outcome, "approved", "the approval")
            pages.append([k for k, _ in browser.pages])
            d.wait_status("signed-in", since=since, timeout=30 * harness.SLOWDOWN)
        # Keycloak asks to sign in again for an offline token; with openid
        # the second device rides on the browser session
        check_equal(pages[1], ["grant", "success"] if shared else ["login", "grant", "success"],
                    f"pages for the second device ({scopes})")
        first_token = devices[0].get_token()[0]
        second_token = devices[1].get_token()[0]
        devices[0].logout()
        check_equal(devices[0].properties()["State"], "signed-out", "State after Logout")
        status, _ = keycloak.userinfo(first_token)
        check_equal(status, 401, f"userinfo with the logged-out device's token ({scopes})")
        status, _ = keycloak.userinfo(second_token)
        check_equal(status, 401 if shared else 200,
                    f"userinfo with the other device's token ({scopes})")
        if shared:
            since = devices[1].mark()
            devices[1].expect_error("NotSignedIn", devices[1].refresh)
            sig = devices[1].wait_status("reauth-required", since=since,
                                         timeout=10 * harness.SLOWDOWN)
            check_in("offline_access", sig["details"].get("error-description", ""),
                     "the other device's hint")
        else:
            devices[1].refresh()
            status, body = keycloak.userinfo(devices[1].get_token()[0])
            check_equal(status, 200, f"the other device after a refresh ({body})")


def _https_sign_in(h, keycloak, issuer):
    """alice signs in over Keycloak's HTTPS listener; a refresh, and the
    token works at userinfo over HTTPS."""
    since = h.mark()
    prompt = h.login()
    check(prompt["verification-uri"].startswith(issuer), f"verification-uri {prompt}")
    keycloak.approve(prompt["verification-uri-complete"], user="alice", https=True)
    h.wait_status("signed-in", since=since, timeout=30 * harness.SLOWDOWN)
    h.refresh()
    token, _ = h.get_token()
    status, body = keycloak.userinfo(token, https=True)
    check_equal(status, 200, f"userinfo over HTTPS ({body})")
    check_equal(body.get("preferred_username"), "alice", "preferred_username")


def test_https_ca_file(h):
    """The issuer on Keycloak's HTTPS listener, with CAFile= naming the test
    CA that signed its certificate, and the system's store left as it is
    (it does not hold that CA): the sign-in, a refresh and the token work;
    the same account without CAFile= fails with an error that names the
    host and says to set CAFile=."""
    keycloak = kc.Keycloak()
    issuer = keycloak.issuer(https=True)
    kc.world(h, https=True, extra={"CAFile": keycloak.ca})
    _https_sign_in(h, keycloak, issuer)
    h.logout()
    kc.reconfigure(h, account_conf(issuer, client_id="tv-device", pkce=True))
    e = h.expect_error("IdpUnreachable", h.login)
    host = issuer.split("//", 1)[1].split("/", 1)[0]
    print(f"without CAFile=: {e.message}")
    check_in(f"the certificate of {host} is refused: it is not signed by a CA the system "
             f"trusts (set CAFile=", e.message, "the error without CAFile=")


def test_https_issuer(h):
    """The issuer on Keycloak's HTTPS listener, its certificate from a test
    CA that devauthd finds in the system trust store (Debian's bundle, in a
    mount namespace of devauthd's own). Without the CA there, the sign-in
    fails with a certificate error, never a hang."""
    keycloak = kc.Keycloak()
    issuer = keycloak.issuer(https=True)
    check(issuer.startswith("https://127.0.0.1:"), f"issuer {issuer}")
    kc.world(h, https=True, start=False)
    h.daemon.wrapper = harness.unshared_ca_bundle(h, keycloak.ca)
    h.daemon.start()
    _https_sign_in(h, keycloak, issuer)

    check_equal(h.daemon.stop(), 0, "devauthd's exit status on SIGTERM")
    harness.wait_until(lambda: h.bus.name_owner() is None, harness.STOP_TIMEOUT,
                       "the bus name to be released")
    h.daemon.wrapper = []
    h.daemon.start()
    h.logout()
    started = time.monotonic()
    e = h.expect_error("IdpUnreachable", h.login)
    check(time.monotonic() - started < 12 * harness.SLOWDOWN,
          f"the certificate error took {time.monotonic() - started:.1f} s")
    check(any(w in e.message.lower() for w in ("certificate", "tls")),
          f"the error does not say it is the certificate: {e.message}")
