"""What a Keycloak case gets besides tests/integration/harness.py: the suite's
running Keycloak (keycloak.py started it; DEVAUTH_KEYCLOAK_STATE names its
state file), its realms and users, the approver, and a few calls a test
makes as an app or an observer would (userinfo, discovery; the admin API
only to look, never to approve)."""

import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import approver
import harness
import keycloak
from harness import TestFailure, check, check_equal  # noqa: F401 - for the cases

HERE = os.path.dirname(os.path.abspath(__file__))

# tests/keycloak/realm-devauth.json
PASSWORDS = {u: f"{u}-password" for u in ("alice", "bob", "carol")}
FULL_NAMES = {"alice": "Alice Liddell", "bob": "Bob Builder", "carol": "Carol Danvers"}
CONFIDENTIAL_SECRET = "tv-confidential-secret-test-only"
SERVICE_SECRET = "tv-service-secret-test-only"


def state_file():
    path = os.environ.get("DEVAUTH_KEYCLOAK_STATE")
    if not path:
        raise TestFailure(
            "no Keycloak: DEVAUTH_KEYCLOAK_STATE is not set. tools/run-suite starts one for the "
            "suite; by hand: tests/keycloak/keycloak.py start DIR, then "
            "DEVAUTH_KEYCLOAK_STATE=DIR/state.json meson test -C build --suite keycloak")
    return path


class Keycloak:
    """The running server, as its state file describes it."""

    def __init__(self):
        self.state_path = state_file()
        self.state_dir = os.path.dirname(self.state_path)
        self.reload()

    def reload(self):
        with open(self.state_path) as f:
            self.state = json.load(f)
        pid = self.state.get("pid")
        if not pid or not keycloak.process_alive(pid):
            raise TestFailure(f"Keycloak (pid {pid}) of {self.state_path} is not running")
        self.http_base = self.state["http"]
        self.https_base = self.state["https"]
        self.ca = self.state["ca"]

    def issuer(self, realm="devauth", https=False):
        return f"{self.https_base if https else self.http_base}/realms/{realm}"

    def log(self):
        try:
            with open(self.state["log"], errors="replace") as f:
                return f.read()
        except (OSError, KeyError):
            return ""

    def events(self, since=0, **match):
        """Keycloak's event log lines (org.keycloak.events) after offset
        since, as dicts, that carry every key=value of match."""
        out = []
        for line in self.log()[since:].splitlines():
            if "[org.keycloak.events]" not in line:
                continue
            fields = dict(kv.split("=", 1) for kv in
                          (p.strip().strip(",") for p in line.split(") ", 1)[-1].split(", "))
                          if "=" in kv)
            fields = {k: v.strip('"') for k, v in fields.items()}
            if all(fields.get(k) == v for k, v in match.items()):
                out.append(fields)
        return out

    def log_offset(self):
        return len(self.log())

    # HTTP, as an app or a browser would

    def http(self, method, url, form=None, headers=None, timeout=15):
        check(urllib.parse.urlsplit(url).hostname in approver.LOOPBACK,
              f"refusing a non-loopback URL: {url}")
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=self.ca)))
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

    def discovery(self, realm="devauth", https=False):
        status, body = self.http("GET", f"{self.issuer(realm, https)}/.well-known/openid-configuration")
        check_equal(status, 200, "discovery status")
        return body

    def userinfo(self, token, realm="devauth", https=False):
        return self.http("GET", self.discovery(realm, https)["userinfo_endpoint"],
                         headers={"Authorization": f"Bearer {token}"})

    def introspect(self, token, client_id, secret, realm="devauth"):
        """RFC 7662 at Keycloak, as the client: the token's claims, "active"."""
        status, body = self.http("POST", f"{self.issuer(realm)}/protocol/openid-connect/token/"
                                 "introspect", form={"token": token, "client_id": client_id,
                                                     "client_secret": secret})
        check_equal(status, 200, f"introspection ({body})")
        return body

    def approve(self, uri, user="alice", deny=False, user_code=None, https=False):
        """Keycloak's real pages, as the person would; returns the pages shown."""
        outcome, browser = approver.approve(uri, user=user, password=PASSWORDS.get(user),
                                            user_code=user_code, deny=deny,
                                            cafile=self.ca if https else None)
        check_equal(outcome, "denied" if deny else "approved", f"the approval of {uri}")
        return [kind for kind, _ in browser.pages]

    # the admin API: to observe, never to approve

    def admin_token(self):
        status, body = self.http("POST", f"{self.http_base}/realms/master/protocol/openid-connect/token",
                                 form={"grant_type": "password", "client_id": "admin-cli",
                                       "username": self.state["admin_user"],
                                       "password": self.state["admin_password"]})
        check_equal(status, 200, f"admin token ({body})")
        return body["access_token"]

    def admin(self, path):
        status, body = self.http("GET", f"{self.http_base}/admin/realms/{path}",
                                 headers={"Authorization": f"Bearer {self.admin_token()}"})
        check_equal(status, 200, f"admin GET {path} ({body})")
        return body

    def user_id(self, realm, username):
        users = self.admin(f"{realm}/users?username={urllib.parse.quote(username)}&exact=true")
        check_equal(len(users), 1, f"users named {username} in {realm}")
        return users[0]["id"]

    def restart(self):
        keycloak.restart(self.state_dir)
        self.reload()


class RecordingProxy:
    """A loopback proxy in front of one Keycloak endpoint (a POST endpoint:
    token, device authorization, revocation). It forwards every request
    unchanged and records (time, grant_type, status, error) of each answer.

    hook(record), when set, runs after Keycloak answered and before the
    answer goes back to devauthd; if it returns False the answer is never
    sent (the connection is dropped), as when devauthd dies first."""

    FORWARDED = ("Content-Type", "Authorization", "Accept", "User-Agent", "DPoP")

    def __init__(self, target, cafile=None):
        import http.server
        import threading
        check(urllib.parse.urlsplit(target).hostname in approver.LOOPBACK,
              f"refusing a non-loopback target: {target}")
        self.target = target
        self.records = []
        self.hook = None
        self.rewrite = None  # fn(record, doc) -> doc, on 200 answers
        self.lock = threading.Lock()
        proxy = self
        context = ssl.create_default_context(cafile=cafile) if cafile else None

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 65536))
                form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                headers = {k: self.headers[k] for k in proxy.FORWARDED if self.headers.get(k)}
                req = urllib.request.Request(proxy.target, data=body, method="POST",
                                             headers=headers)
                opener = urllib.request.build_opener(
                    urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
                try:
                    with opener.open(req, timeout=30) as resp:
                        status, data = resp.status, resp.read()
                        ctype = resp.headers.get("Content-Type", "application/json")
                except urllib.error.HTTPError as e:
                    status, data = e.code, e.read()
                    ctype = e.headers.get("Content-Type", "application/json")
                try:
                    doc = json.loads(data) if data else {}
                except ValueError:
                    doc = {}
                record = {"t": time.monotonic(), "grant_type": (form.get("grant_type") or [""])[0],
                          "status": status, "error": doc.get("error") if status != 200 else None,
                          "error_description": doc.get("error_description")}
                with proxy.lock:
                    proxy.records.append(record)
                if status == 200 and proxy.rewrite is not None and doc:
                    data = json.dumps(proxy.rewrite(record, doc)).encode()
                if proxy.hook is not None and proxy.hook(record) is False:
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # devauthd killed mid-request, as some cases do on purpose
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/proxied"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def grants(self, grant_type):
        with self.lock:
            return [r for r in self.records if r["grant_type"] == grant_type]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def proxied(h, kc, endpoint, realm="devauth"):
    """A RecordingProxy in front of the realm's endpoint named by its
    discovery key (token_endpoint, device_authorization_endpoint, ...)."""
    proxy = RecordingProxy(kc.discovery(realm)[endpoint])
    h.add_cleanup(proxy.stop)
    return proxy


def world(h, realm="devauth", client="tv-device", scopes="openid offline_access", pkce=True,
          https=False, extra=None, accounts=None, daemon_settings=None, start=True):
    """The usual Keycloak world: the bus and devauthd with one account 'demo'
    (or the given accounts) at a realm of the suite's Keycloak."""
    kc = Keycloak()
    h.keycloak = kc
    h.keycloak_log_start = kc.log_offset()
    h.start_bus()
    if accounts is None:
        accounts = {h.account: harness.account_conf(kc.issuer(realm, https), client_id=client,
                                                    scopes=scopes, pkce=pkce, extra=extra)}
    h.start_daemon(accounts, daemon_settings, start=start)
    return kc


def reconfigure(h, text, account=None):
    """Rewrites an account's file and restarts devauthd to read it."""
    h.daemon.stop()
    with open(os.path.join(h.daemon.config_dir, "accounts.d", f"{account or h.account}.conf"),
              "w") as f:
        f.write(text)
    harness.wait_until(lambda: h.bus.name_owner() is None, harness.STOP_TIMEOUT,
                       "the bus name to be released")
    h.daemon.start()


def keycloak_diagnostics(h):
    kc = getattr(h, "keycloak", None)
    if kc is None:
        return ""
    lines = [line for line in kc.log()[getattr(h, "keycloak_log_start", 0):].splitlines()
             if "[org.keycloak.events]" in line or " ERROR " in line]
    return "---- Keycloak's events during the case (last 20) ----\n" + "\n".join(lines[-20:])


def sign_in(h, user="alice", account=None, https=False):
    """Login, approve through Keycloak's pages, wait for signed-in."""
    since = h.mark()
    prompt = h.login(account or "")
    h.keycloak.approve(prompt["verification-uri-complete"], user=user, https=https)
    sig = h.wait_status("signed-in", account=account, since=since, timeout=30 * harness.SLOWDOWN)
    return prompt, sig


def wait(predicate, timeout, what):
    return harness.wait_until(predicate, timeout * harness.SLOWDOWN, what, interval=0.1)


def sleep_until(t):
    while time.time() < t:
        time.sleep(min(0.5, max(0.0, t - time.time())))


def run(argv, timeout=30, env=None):
    return harness.run_process(argv, timeout=timeout, env=env)


__all__ = ["Keycloak", "world", "sign_in", "wait", "check", "check_equal", "TestFailure",
           "subprocess"]
