"""Tokens after sign-in: GetToken(Fd), refresh, restart, logout."""

import fcntl
import os
import time

from harness import account_conf, as_user, check, check_equal, env_path, run_process, wait_until

F_GET_SEALS = getattr(fcntl, "F_GET_SEALS", 1034)
F_SEAL_SEAL = getattr(fcntl, "F_SEAL_SEAL", 0x0001)
F_SEAL_SHRINK = getattr(fcntl, "F_SEAL_SHRINK", 0x0002)
F_SEAL_GROW = getattr(fcntl, "F_SEAL_GROW", 0x0004)
F_SEAL_WRITE = getattr(fcntl, "F_SEAL_WRITE", 0x0008)


def read_all(fd, limit=1 << 20):
    chunks = []
    size = 0
    while size < limit:
        data = os.read(fd, 65536)
        if not data:
            break
        chunks.append(data)
        size += len(data)
    return b"".join(chunks)


def test_get_token_fd(h):
    """GetTokenFd: the same token in a sealed memfd at offset 0."""
    h.setup("--interval", "1")
    h.sign_in()
    token, info = h.get_token()
    fd, fd_info = h.get_token_fd()
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
        check(target.startswith("/memfd:"), f"the fd is not a memfd: {target}")
        seals = fcntl.fcntl(fd, F_GET_SEALS)
        want = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL
        check_equal(seals, want, "seals of the memfd")
        check_equal(os.lseek(fd, 0, os.SEEK_CUR), 0, "offset of the memfd")
        check_equal(read_all(fd).decode(), token, "token in the memfd")
        try:
            os.pwrite(fd, b"x", 0)
        except PermissionError:
            pass
        else:
            check(False, "the memfd can be written")
    finally:
        os.close(fd)
    check_equal(fd_info.get("expires-at"), info.get("expires-at"), "expires-at of GetTokenFd")
    check_equal(fd_info.get("token-type"), info.get("token-type"), "token-type of GetTokenFd")


def test_refresh(h):
    """A token that is not valid long enough is refreshed, once."""
    # 10 s: shorter than min-validity, longer than the way to the refresh
    # (the proactive refresh comes at about 75 % of the life)
    h.setup("--interval", "1", "--access-ttl", "10")
    h.sign_in()
    first, first_info = h.get_token(min_validity=0)
    h.idp.reset_stats()
    second, second_info = h.get_token(min_validity=30)
    stats = h.idp.stats()
    check(second != first, "GetToken with min-validity 30 returned the old token")
    check_equal(stats["counters"]["token_refresh"], 1, "refresh requests")
    check_equal([r["result"] for r in stats["refreshes"]], ["tokens"], "refresh results")
    check_equal(stats["counters"]["device_authorization"] + stats["counters"]["token_device_code"],
                0, "device flow requests")
    check(second_info["expires-at"] >= first_info["expires-at"],
          f"the new token expires before the old one: {second_info} vs {first_info}")
    status, body = h.idp.userinfo(second)
    check_equal(status, 200, f"userinfo with the refreshed token ({body})")
    check_equal(body.get("sub"), "demo", "sub at userinfo")
    check_equal(h.properties()["AccessTokenExpiresAt"], second_info["expires-at"],
                "AccessTokenExpiresAt after refresh")


def test_restart(h):
    """A restarted daemon serves the same token from the keyring, with no request."""
    h.setup("--interval", "1")
    h.sign_in(sub="erin")
    token, info = h.get_token()
    ring = h.daemon.keyring_id()
    check(ring is not None, "the named keyring does not exist")
    for kind in ("access", "refresh"):
        check(h.daemon.key_id(f"devauthd:demo:{kind}") is not None, f"no {kind} key")
    h.idp.reset_stats()

    h.daemon.restart()
    props = h.properties()
    check_equal(props["State"], "signed-in", "State after restart")
    check_equal(props["Subject"], "erin", "Subject after restart")
    again, again_info = h.get_token()
    check_equal(again, token, "token after restart")
    check_equal(again_info.get("expires-at"), info.get("expires-at"), "expires-at after restart")
    check_equal(h.daemon.keyring_id(), ring, "keyring after restart")
    stats = h.idp.stats()
    check_equal(stats["requests"], [], "requests at the IdP across the restart")
    check(all(v == 0 for v in stats["counters"].values()), f"IdP counters: {stats['counters']}")


def test_restart_from_disk(h):
    """Without the keyring (as after a reboot) the sign-in comes back from disk."""
    h.setup("--interval", "1")
    h.sign_in(sub="frank")
    token, _ = h.get_token()
    h.idp.reset_stats()
    rc = h.daemon.stop()
    check_equal(rc, 0, "devauthd's exit status on SIGTERM")
    h.daemon.unlink_keyring()
    h.daemon.start()
    props = h.properties()
    check_equal(props["State"], "signed-in", "State after restart without the keyring")
    check_equal(props["Subject"], "frank", "Subject")
    again, _ = h.get_token()
    check_equal(again, token, "token after restart without the keyring")
    check_equal(h.idp.stats()["requests"], [], "requests at the IdP")
    check(h.daemon.key_id("devauthd:demo:refresh") is not None,
          "the refresh token was not put back in the keyring")


def test_logout(h):
    """Logout revokes at the IdP and forgets every local copy."""
    h.setup("--interval", "1")
    h.sign_in()
    token, _ = h.get_token()
    status, _ = h.idp.userinfo(token)
    check_equal(status, 200, "userinfo before logout")
    for kind in ("access", "refresh"):
        check(h.daemon.key_id(f"devauthd:demo:{kind}") is not None, f"no {kind} key")
    h.idp.reset_stats()

    since = h.mark()
    h.logout()
    h.wait_status("signed-out", since=since)
    check(h.idp.stats()["counters"]["revocation"] >= 1, "no revocation request")
    status, body = h.idp.userinfo(token)
    check_equal(status, 401, f"userinfo with the token after logout ({body})")
    props = h.properties()
    check_equal(props["State"], "signed-out", "State after logout")
    check_equal(props["Subject"], "", "Subject after logout")
    check_equal(props["AccessTokenExpiresAt"], 0, "AccessTokenExpiresAt after logout")
    for kind in ("access", "refresh"):
        check(h.daemon.key_id(f"devauthd:demo:{kind}") is None,
              f"the {kind} key is still in the keyring")
    h.expect_error("NotSignedIn", h.get_token)
    h.expect_error("NotSignedIn", h.get_token_fd)

    # and it stays signed out across a restart (nothing left on disk)
    h.daemon.restart()
    check_equal(h.properties()["State"], "signed-out", "State after logout and restart")


def test_background_refresh(h):
    """The token is refreshed before it expires, with no caller asking."""
    h.setup("--interval", "1", "--access-ttl", "4")
    h.sign_in()
    first, _ = h.get_token(min_validity=0)
    first_expiry = h.properties()["AccessTokenExpiresAt"]
    h.idp.reset_stats()
    wait_until(lambda: h.idp.stats()["counters"]["token_refresh"] >= 1, 10,
               "a proactive refresh")
    check(time.time() < first_expiry, "the refresh came after the token expired")
    wait_until(lambda: h.properties()["AccessTokenExpiresAt"] > first_expiry, 5,
               "AccessTokenExpiresAt to move on")
    second, _ = h.get_token(min_validity=0)
    check(second != first, "the token did not change")
    status, _ = h.idp.userinfo(second)
    check_equal(status, 200, "userinfo with the refreshed token")


def test_rotated_refresh_restart(h):
    """A rotated refresh token is kept, in the keyring and on disk."""
    h.setup("--interval", "1", "--rotate-refresh")
    h.sign_in()
    h.refresh()
    h.daemon.restart()
    h.refresh()
    h.daemon.stop()
    h.daemon.unlink_keyring()
    h.daemon.start()
    h.refresh()
    results = [r["result"] for r in h.idp.stats()["refreshes"]]
    check_equal(results, ["tokens"] * 3, "refresh results")
    check_equal(h.properties()["State"], "signed-in", "State")
    status, _ = h.idp.userinfo(h.get_token()[0])
    check_equal(status, 200, "userinfo")


def test_reauth_required(h):
    """The IdP rejects the refresh token: reauth-required, tokens forgotten."""
    h.setup("--interval", "1")
    h.sign_in()
    h.idp.revoke_all()
    since = h.mark()
    h.expect_error("NotSignedIn", h.refresh)
    h.wait_status("reauth-required", since=since)
    props = h.properties()
    check_equal(props["State"], "reauth-required", "State")
    check(props["LastError"] != "", "LastError is empty")
    check_equal(props["AccessTokenExpiresAt"], 0, "AccessTokenExpiresAt")
    h.expect_error("NotSignedIn", h.get_token)
    for kind in ("access", "refresh"):
        check(h.daemon.key_id(f"devauthd:demo:{kind}") is None,
              f"the {kind} key is still in the keyring")
    rc, out, _ = h.ctl("status", "demo", "--json")
    check_equal(rc, 0, "devauthctl status exit status")
    # and a new sign-in repairs it
    h.sign_in(sub="ivan")
    check_equal(h.properties()["State"], "signed-in", "State after signing in again")


def test_idp_unreachable(h):
    """The IdP is down: a valid cached token is still served; refresh fails clearly."""
    h.setup("--interval", "1")
    h.sign_in()
    token, _ = h.get_token()
    h.idp.stop()
    again, _ = h.get_token(min_validity=3600)
    check_equal(again, token, "token while the IdP is down")
    props = h.properties()
    check_equal(props["State"], "signed-in", "State while the IdP is down")
    check(props["LastError"] != "", "LastError is empty after a failed refresh")
    h.expect_error("IdpUnreachable", h.refresh)
    rc, out, err = h.ctl("token")
    check_equal(rc, 0, f"devauthctl token while the IdP is down ({err!r})")
    check_equal(out, token + "\n", "devauthctl token output")


def proc_keys_timeout(key_id):
    """The timeout column of /proc/keys for the key, as the kernel shows it
    ("perm", "59s", "4m", "expd"), or None when the key is not there."""
    with open("/proc/keys") as f:
        for line in f:
            fields = line.split()
            if int(fields[0], 16) == int(key_id):
                return fields[3]
    return None


def test_keyring_timeout(h):
    """The access token's key in the kernel keyring expires with the token:
    the kernel shows its timeout and counts it down, and after the token's
    end (devauthd stopped, so nothing refreshes it) the key is gone while
    the refresh token's key stays."""
    lifetime = 6
    h.setup("--interval", "1", "--access-ttl", str(lifetime))
    h.sign_in()
    _, info = h.get_token(min_validity=0)
    access = h.daemon.key_id(f"devauthd:{h.account}:access")
    refresh = h.daemon.key_id(f"devauthd:{h.account}:refresh")
    check(access is not None and refresh is not None, f"keys access={access} refresh={refresh}")
    timeout = proc_keys_timeout(access)
    check(timeout is not None and timeout.endswith("s") and 1 <= int(timeout[:-1]) <= lifetime,
          f"the access key's timeout in /proc/keys: {timeout!r} (the token lives {lifetime} s)")
    # the kernel counts it down: not a fixed value written once
    time.sleep(2)
    later = proc_keys_timeout(access)
    check(later is not None and int(later[:-1]) < int(timeout[:-1]),
          f"the access key's timeout 2 s later: {later!r} (was {timeout!r})")
    # devauthd stopped, nothing refreshes it: the key ends with the token
    check_equal(h.daemon.stop(), 0, "devauthd's exit status on SIGTERM")
    wait_until(lambda: time.time() > info["expires-at"] + 1.5, lifetime + 5, "the token's end")
    gone = proc_keys_timeout(access)
    check(gone in (None, "expd"), f"the access key after the token's end: {gone!r}")
    check(proc_keys_timeout(refresh) is not None, "the refresh key went with the access key")


# ---------------------------------------------------------------- service accounts

SERVICE_SECRET = "s3rvice-secret"


def _service_world(h, secret=SERVICE_SECRET, access_ttl="8", extra=None):
    """A client_credentials client at the test IdP, and devauthd with one
    service account 'demo' for it (AllowUsers=daemon)."""
    h.start_idp("--client", f"tv-service:client_secret_post:{SERVICE_SECRET}",
                "--access-ttl", access_ttl)
    path = os.path.join(h.tmp, "service-secret")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(secret + "\n")
    h.start_bus(public=True)
    conf = account_conf(h.idp.issuer, client_id="tv-service", scopes=None,
                        extra={"Grant": "client_credentials", "ClientSecretFile": path,
                               **(extra or {})})
    h.start_daemon({"demo": conf + "[Access]\nAllowUsers=daemon\n"})


def _service_introspect(h, token):
    status, body = h.idp.http("POST", h.idp.discovery()["introspection_endpoint"],
                              form={"token": token, "client_id": "tv-service",
                                    "client_secret": SERVICE_SECRET})
    check_equal(status, 200, f"introspection ({body})")
    return body


def test_service_account(h):
    """Grant=client_credentials: the device's own identity. devauthd gets
    its token at start (no code, no person), serves it as any account's
    to the callers [Access] lets in, renews it before it runs out with the
    client's credentials (never a refresh token), keeps it across a
    restart, and logout revokes it; devauthctl login gets a new one."""
    _service_world(h)
    wait_until(lambda: h.properties()["State"] == "signed-in", 10,
               "the service account to get its token at start")
    stats = h.idp.stats()["counters"]
    check_equal((stats["token_client_credentials"], stats["device_authorization"],
                 stats["token_device_code"]), (1, 0, 0),
                "client_credentials, device authorization and device code requests at start")

    rc, out, err = run_process([*as_user("daemon"), env_path("DEVAUTHCTL"), "token", "demo",
                                "--min-validity", "0"], timeout=30, env=h.ctl_env())
    check_equal(rc, 0, f"devauthctl token as daemon (stderr {err!r})")
    token = out.strip()
    body = _service_introspect(h, token)
    check(body.get("active") is True and body.get("client_id") == "tv-service",
          f"introspection of the token: {body}")
    rc, out, err = run_process([*as_user("nobody"), env_path("DEVAUTHCTL"), "token", "demo"],
                               timeout=30, env=h.ctl_env())
    check_equal((rc, out), (1, ""), f"devauthctl token as nobody (stderr {err!r})")
    check("not authorized" in err.lower() or "permission" in err.lower(),
          f"the refusal does not say why: {err!r}")

    # a restart serves the same token, with no request
    h.idp.reset_stats()
    h.daemon.restart()
    again, _ = h.get_token("demo", min_validity=0)
    check_equal(again, token, "the token after a restart")
    check_equal(h.idp.stats()["counters"]["token_client_credentials"], 0,
                "token requests across the restart")

    # renewed in the background before it runs out (8 s tokens)
    first_expiry = h.properties()["AccessTokenExpiresAt"]
    wait_until(lambda: h.properties()["AccessTokenExpiresAt"] > first_expiry, 15,
               "the token to be renewed")
    stats = h.idp.stats()["counters"]
    check(stats["token_client_credentials"] >= 1, f"no client_credentials request: {stats}")
    check_equal(stats["token_refresh"], 0, "refresh requests")
    renewed, _ = h.get_token("demo", min_validity=0)
    check(renewed != token, "the renewed token is the old one")
    check_equal(_service_introspect(h, renewed).get("active"), True, "the renewed token")
    # a caller that wants more than is left gets a new one at once
    h.idp.reset_stats()
    wanted, _ = h.get_token("demo", min_validity=7)
    check(wanted != renewed, "min-validity 7 got the token held")
    check_equal(h.idp.stats()["counters"]["token_client_credentials"], 1,
                "requests for a caller's min-validity")

    # logout revokes; login gets a new token and says so
    held, _ = h.get_token("demo", min_validity=0)
    h.logout("demo")
    check_equal(h.properties()["State"], "signed-out", "State after logout")
    wait_until(lambda: _service_introspect(h, held).get("active") is False, 10,
               "the IdP to hold the token revoked")
    h.expect_error("NotSignedIn", h.get_token, "demo")
    rc, out, err = h.ctl("login", "demo")
    check_equal((rc, out.strip()), (0, "Signed in."), f"devauthctl login (stderr {err!r})")
    fresh, _ = h.get_token("demo", min_validity=0)
    check_equal(_service_introspect(h, fresh).get("active"), True, "the token after login")


def test_service_account_refused(h):
    """A wrong client secret: the account stays signed out, LastError and
    devauthctl login say that the IdP refused the client's credentials, and
    no device flow is ever started."""
    _service_world(h, secret="not-the-secret")
    wait_until(lambda: h.properties()["LastError"] != "", 10, "the refusal at start")
    props = h.properties()
    check_equal(props["State"], "signed-out", "State with a wrong secret")
    check("client's credentials" in props["LastError"] and "invalid_client" in props["LastError"],
          f"LastError: {props['LastError']!r}")
    rc, out, err = h.ctl("login", "demo")
    check(rc != 0, f"devauthctl login exited {rc} (stdout {out!r})")
    check("invalid_client" in err, f"devauthctl login's error: {err!r}")
    stats = h.idp.stats()["counters"]
    check_equal((stats["device_authorization"], stats["token_device_code"]), (0, 0),
                "device flow requests")
    check_equal(stats["token_client_credentials"], 2, "client_credentials requests (start, login)")
    h.expect_error("NotSignedIn", h.get_token, "demo")


# ---------------------------------------------------------------- client authentication


def _b64url_int(n):
    import base64
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _client_key(h, name, kind, kid):
    """A private key file (0600) for devauthd and a JWKS file of its public
    key for the test IdP: (key path, JWKS path)."""
    import json
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    if kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
        nums = key.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": _b64url_int(nums.x).rjust(43, "A"),
               "y": _b64url_int(nums.y).rjust(43, "A")}
        fmt = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
        nums = key.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": _b64url_int(nums.n), "e": _b64url_int(nums.e)}
        fmt = serialization.PrivateFormat.PKCS8
    jwk["kid"] = kid
    pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    key_path = os.path.join(h.tmp, f"{name}.pem")
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(pem)
    jwks_path = os.path.join(h.tmp, f"{name}.jwks")
    with open(jwks_path, "w") as f:
        json.dump({"keys": [jwk]}, f)
    return key_path, jwks_path


def test_client_auth_methods(h):
    """ClientAuthMethod=: client_secret_basic chosen from discovery when the
    IdP does not list client_secret_post (the IdP enforces each client's
    method: a post to a basic client is refused); private_key_jwt with an
    RSA key (RS256, PKCS #8) for a service account and an EC P-256 key
    (ES256, SEC 1) for a device flow: every assertion has iss = sub = the
    client, aud = the token endpoint (at every endpoint: OIDC Core 9), a
    jti never used before, and lives 60 s;
    a key devauthd cannot sign with leaves its account out, saying why."""
    rsa_key, rsa_jwks = _client_key(h, "rsa", "rsa2048", "rsa-1")
    ec_key, ec_jwks = _client_key(h, "ec", "ec", "ec-1")
    small_key, _ = _client_key(h, "small", "rsa1024", "small-1")
    h.start_idp("--interval", "1",
                "--client", f"tv-basic:client_secret_basic:{SERVICE_SECRET}",
                "--client", f"tv-jwt:private_key_jwt:{rsa_jwks}",
                "--client", f"tv-jwt-ec:private_key_jwt:{ec_jwks}",
                "--auth-methods", "client_secret_basic,private_key_jwt,none")
    secret = os.path.join(h.tmp, "basic-secret")
    with open(os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(SERVICE_SECRET + "\n")
    issuer = h.idp.issuer
    h.start_bus()
    h.start_daemon({
        "basic": account_conf(issuer, client_id="tv-basic",
                              extra={"ClientSecretFile": secret}),
        "post": account_conf(issuer, client_id="tv-basic",
                             extra={"ClientSecretFile": secret,
                                    "ClientAuthMethod": "client_secret_post"}),
        "jwt": account_conf(issuer, client_id="tv-jwt", scopes=None,
                            extra={"Grant": "client_credentials", "ClientKeyFile": rsa_key,
                                   "ClientKeyId": "rsa-1"}),
        "jwt-ec": account_conf(issuer, client_id="tv-jwt-ec",
                               extra={"ClientKeyFile": ec_key, "ClientKeyId": "ec-1"}),
        "small": account_conf(issuer, client_id="tv-jwt", scopes=None,
                              extra={"Grant": "client_credentials", "ClientKeyFile": small_key}),
    })
    names = [name for name, _ in h.list_accounts()]
    check_equal(sorted(names), ["basic", "jwt", "jwt-ec", "post"], "accounts loaded")
    check("RSA of 2048 bits or more" in h.daemon.log() and "small.conf" in h.daemon.log(),
          "the log does not say why the account with a 1024-bit key is left out")

    # client_secret_basic, from discovery
    h.sign_in(account="basic")
    h.refresh("basic")
    token, _ = h.get_token("basic", min_validity=0)
    check_equal(h.idp.userinfo(token)[0], 200, "userinfo with the basic client's token")
    e = h.expect_error("IdpError", h.login, "post")
    check("invalid_client" in e.message, f"a post to a basic client: {e.message!r}")

    # private_key_jwt: a service account with RS256 ...
    wait_until(lambda: h.properties("jwt")["State"] == "signed-in", 10,
               "the RS256 service account's token")
    h.refresh("jwt")
    # ... and a device flow, its refresh and its revocation with ES256
    h.sign_in(account="jwt-ec")
    h.refresh("jwt-ec")
    ec_token, _ = h.get_token("jwt-ec", min_validity=0)
    check_equal(h.idp.userinfo(ec_token)[0], 200, "userinfo with the ES256 client's token")
    h.logout("jwt-ec")
    check_equal(h.idp.userinfo(ec_token)[0], 401, "userinfo after the ES256 client's logout")

    assertions = h.idp.stats()["assertions"]
    endpoints = h.idp.discovery()
    print(f"{len(assertions)} assertions; the first: {assertions[:1]}")
    # the RS256 service account: start, Refresh; the ES256 device: device
    # authorization, polls, Refresh, revocation
    for client, alg, kid, routes in (("tv-jwt", "RS256", "rsa-1", {"token"}),
                                     ("tv-jwt-ec", "ES256", "ec-1",
                                      {"device_authorization", "token", "revocation"})):
        mine = [a for a in assertions if a.get("iss") == client]
        check_equal({a["route"] for a in mine}, routes, f"the endpoints {client} asserted to")
        for a in mine:
            check(a["result"] in ("ok", "authorization_pending"), f"an assertion refused: {a}")
            check_equal((a["alg"], a["kid"], a["sub"], a["aud"], a["exp"] - a["iat"]),
                        (alg, kid, client, endpoints["token_endpoint"], 60),
                        f"an assertion of {client}")
        check_equal(len({a["jti"] for a in mine}), len(mine), f"distinct jti of {client}")
