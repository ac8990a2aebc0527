"""A fault-injecting HTTP proxy between devauthd and the loopback IdP.

Python standard library only; it listens on 127.0.0.1 and forwards to a
loopback target only. Every request is classified by endpoint:

    discovery   GET  .../.well-known/openid-configuration
    device      POST the device authorization endpoint
    poll        POST the token endpoint, grant_type device_code
    refresh     POST the token endpoint, grant_type refresh_token
    revoke      POST the revocation endpoint
    jwks        GET  the IdP's keys (.../certs, .../jwks)
    other       anything else

and counted (with its arrival time). A fault set for a kind answers that
kind's requests instead of the IdP (``set_fault(kind, mode, **params)``,
``clear_faults()``):

    status      HTTP ``status`` (500, 502, 503, 429, ...) with a small JSON or
                HTML body; ``retry_after`` adds a Retry-After header
    stall       reads the request, then answers nothing for ``seconds``
                (bounded; ends early when the fault is cleared or the proxy
                stops), then closes the connection
    reset       200 with Content-Length 4096, 100 bytes of the body, then a
                TCP reset (SO_LINGER 0)
    truncated   200, application/json, a token response cut in half (the
                Content-Length matches what is sent: the JSON itself is cut)
    malformed   200, application/json, a body that is not JSON
    huge        200, application/json, ``size`` bytes (default 10 MB) of a
                valid-looking JSON string, chunked (no Content-Length), so
                only a reader that stops counting itself is safe
    html        200, text/html, an HTML page
    id_token    forwards, then changes the ID token of a token response:
                ``change`` "sub" (another subject, the signature kept),
                "signature" (one signature byte flipped), "alg-none" (an
                unsigned token) or "aud" (another audience, signature kept)

``set_down(True)`` closes the listening socket and every open connection (as
an IdP that went away: connection refused); ``set_down(False)`` listens on
the same port again. ``drop`` mode (``set_fault("*", "stall")``) is a
firewall that drops packets: requests get no answer.

Discovery answers are rewritten so that the endpoints point at the proxy
(the IdP's own origin is replaced by the proxy's), so the daemon's issuer
is the proxy's URL and every request comes through here. As the issuer
changes, so must the ID tokens' "iss": the proxy signs them again (RS256)
with a key of its own, and answers the JWKS requests with that key. With ``tls`` (a
(certfile, keyfile) pair) the proxy speaks HTTPS; with ``client_ca`` as well it
asks for a client certificate of that CA and passes it on in X-Client-Cert
(URL-encoded PEM), as a TLS front does for RFC 8705.
"""

import base64
import http.client
import http.server
import json
import os
import signal
import socket
import socketserver
import ssl
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tcp_proxy import reset_close  # tests/integration: the same reset

LOOPBACK = ("127.0.0.1", "localhost", "::1")
FORWARDED_HEADERS = ("Content-Type", "Authorization", "Accept", "User-Agent")
STALL_MAX = 120.0


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forge_id_token(jwt, change):
    """The ID token as an attacker (or a broken IdP) would change it."""
    header, payload, signature = jwt.split(".")
    claims = json.loads(_unb64url(payload))
    if change == "sub":
        claims.update(sub="mallory", preferred_username="mallory")
        return ".".join((header, _b64url(json.dumps(claims).encode()), signature))
    if change == "aud":
        claims["aud"] = "another-client"
        return ".".join((header, _b64url(json.dumps(claims).encode()), signature))
    if change == "signature":
        raw = bytearray(_unb64url(signature))
        raw[len(raw) // 2] ^= 0x01
        return ".".join((header, payload, _b64url(bytes(raw))))
    if change == "alg-none":
        claims.update(sub="mallory")
        return ".".join((_b64url(b'{"alg":"none","typ":"JWT"}'),
                         _b64url(json.dumps(claims).encode()), ""))
    raise ValueError(f"unknown ID token change {change!r}")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class FaultProxy:
    def __init__(self, target_origin, port=0, tls=None, client_ca=None):
        parts = urllib.parse.urlsplit(target_origin)
        if parts.hostname not in LOOPBACK:
            raise ValueError(f"refusing a non-loopback target: {target_origin}")
        self.target_host = parts.hostname
        self.target_port = parts.port
        self.tls = tls
        self.client_ca = client_ca
        self.client_subjects = []  # (path, the client certificate's CN or None)
        self._lock = threading.Lock()
        self._faults = {}
        self._log = []  # (time, kind, answer)
        self._exchanges = []  # (kind, request body, response body) forwarded
        self._conns = set()
        self._stopping = threading.Event()
        self._fault_changed = threading.Event()
        self._server = None
        self._thread = None
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.port = port
        self._listen()
        scheme = "https" if tls else "http"
        self.origin = f"{scheme}://127.0.0.1:{self.port}"

    # ------------------------------------------------------------ control

    def retarget(self, target_origin):
        parts = urllib.parse.urlsplit(target_origin)
        if parts.hostname not in LOOPBACK:
            raise ValueError(f"refusing a non-loopback target: {target_origin}")
        with self._lock:
            self.target_host, self.target_port = parts.hostname, parts.port

    def set_fault(self, kind, mode, **params):
        """kind: one of the kinds above, or '*' for every request."""
        with self._lock:
            self._faults[kind] = dict(params, mode=mode)
        self._fault_changed.set()

    def clear_faults(self):
        with self._lock:
            self._faults.clear()
        self._fault_changed.set()

    def fault_for(self, kind):
        with self._lock:
            return self._faults.get(kind) or self._faults.get("*")

    def requests(self, kind=None, since=0.0):
        """[(time, kind, answer)] of the requests that arrived after @since."""
        with self._lock:
            return [r for r in self._log if r[0] >= since and (kind is None or r[1] == kind)]

    def exchanges(self, kind=None):
        """[(request body, response body)] of the requests forwarded to the
        IdP, in bytes, as they passed (the last 1000)."""
        with self._lock:
            return [(q, a) for k, q, a in self._exchanges if kind is None or k == kind]

    def count(self, kind=None, since=0.0):
        return len(self.requests(kind, since))

    def set_down(self, down):
        """True: stop listening and drop every connection; False: listen again
        on the same port."""
        if down:
            self._close_server()
        elif self._server is None:
            for _ in range(50):  # bounded: the port may linger a moment
                try:
                    self._listen()
                    return
                except OSError:
                    time.sleep(0.1)
            raise RuntimeError(f"cannot listen on port {self.port} again")

    def stop(self):
        self._stopping.set()
        self._fault_changed.set()
        self._close_server()

    # ------------------------------------------------------------ internals

    def jwks(self):
        numbers = self._key.public_key().public_numbers()

        def b64int(n):
            return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "faultproxy",
                          "n": b64int(numbers.n), "e": b64int(numbers.e)}]}

    def resign_id_token(self, jwt):
        """The IdP's ID token, issued by the proxy's origin and signed by it."""
        _, payload, _ = jwt.split(".")
        claims = json.loads(_unb64url(payload))
        theirs = f"http://{self.target_host}:{self.target_port}"
        claims["iss"] = claims.get("iss", "").replace(theirs, self.origin)
        signing_input = ".".join((_b64url(b'{"alg":"RS256","typ":"JWT","kid":"faultproxy"}'),
                                  _b64url(json.dumps(claims).encode())))
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def _record(self, kind, request, response):
        with self._lock:
            self._exchanges.append((kind, request, response))
            del self._exchanges[:-1000]

    def _note(self, kind, answer):
        with self._lock:
            self._log.append((time.time(), kind, answer))
            if len(self._log) > 100000:
                del self._log[:50000]

    def _listen(self):
        proxy = self

        class Handler(_Handler):
            pass

        Handler.proxy = proxy
        server = _Server(("127.0.0.1", self.port), Handler)
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            if self.client_ca:
                # asks for a client certificate; one that is not of this
                # CA fails the handshake, as at a TLS front
                ctx.verify_mode = ssl.CERT_OPTIONAL
                ctx.load_verify_locations(self.client_ca)
            server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                            do_handshake_on_connect=False)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _close_server(self):
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            reset_close(c)
        if self._thread is not None:
            self._thread.join(10)

    def _classify(self, method, path, body):
        if path.endswith("/.well-known/openid-configuration"):
            return "discovery"
        if method == "POST" and (path.endswith("/auth/device") or path.endswith("/device/auth")):
            return "device"
        if method == "POST" and path.endswith("/token"):
            grant = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("grant_type", [""])[0]
            if grant == "refresh_token":
                return "refresh"
            if grant.endswith("device_code"):
                return "poll"
            return "token"
        if method == "POST" and (path.endswith("/revoke") or path.endswith("/revocation")):
            return "revoke"
        if method == "GET" and (path.endswith("/certs") or path.endswith("/jwks")):
            return "jwks"
        return "other"

    def _forward(self, method, path, headers, body):
        with self._lock:
            host, port = self.target_host, self.target_port
        conn = http.client.HTTPConnection(host, port, timeout=15)
        try:
            conn.request(method, path, body=body if method == "POST" else None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheader("Content-Type", "application/json"), data, \
                resp.getheader("Retry-After")
        finally:
            conn.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy = None
    timeout = 60

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with self.proxy._lock:
            self.proxy._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        with self.proxy._lock:
            self.proxy._conns.discard(self.connection)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _send(self, status, ctype, data, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method):
        proxy = self.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20)) if length > 0 else b""
        path = self.path
        kind = proxy._classify(method, urllib.parse.urlsplit(path).path, body)
        self._kind = kind
        self._body = body
        fault = proxy.fault_for(kind)
        mode = fault["mode"] if fault else None
        proxy._note(kind, mode or "forwarded")
        try:
            if mode is None:
                self._forward(method, path, body)
            else:
                getattr(self, f"_fault_{mode}")(fault)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def _forward(self, method, path, body):
        headers = {h: self.headers[h] for h in FORWARDED_HEADERS if self.headers.get(h)}
        if self.proxy.client_ca:
            der = self.connection.getpeercert(binary_form=True)
            subject = dict(x[0] for x in self.connection.getpeercert().get("subject", ())) \
                if der else {}
            with self.proxy._lock:
                self.proxy.client_subjects.append((path, subject.get("commonName")))
            if der:
                headers["X-Client-Cert"] = urllib.parse.quote(ssl.DER_cert_to_PEM_cert(der))
        try:
            status, ctype, data, retry_after = self.proxy._forward(method, path, headers, body)
        except OSError:
            # the IdP is down behind us: as a gateway would say
            self._send(502, "text/plain", b"bad gateway\n")
            return
        if urllib.parse.urlsplit(path).path.endswith("/.well-known/openid-configuration") \
                and status == 200:
            ours = self.proxy.origin
            theirs = f"http://{self.proxy.target_host}:{self.proxy.target_port}"
            data = data.replace(theirs.encode(), ours.encode())
        elif self._kind == "jwks" and status == 200:
            data = json.dumps(self.proxy.jwks()).encode()
        elif self._kind in ("poll", "refresh", "token") and status == 200:
            data = self._resign(data)
        extra = {"Retry-After": retry_after} if retry_after else None
        self.proxy._record(self._kind, body, data)
        self._send(status, ctype, data, extra)

    # the faults

    def _fault_status(self, fault):
        status = int(fault.get("status", 500))
        extra = {}
        if fault.get("retry_after") is not None:
            extra["Retry-After"] = str(fault["retry_after"])
        if fault.get("html"):
            self._send(status, "text/html", b"<html><body><h1>Service Unavailable</h1></body></html>",
                       extra)
        else:
            self._send(status, "application/json",
                       json.dumps({"error": "server_error",
                                   "error_description": "injected"}).encode(), extra)

    def _fault_lose_success(self, fault):
        """Keycloak 26's fault on a poll that comes while the approval is
        being stored: the IdP takes the request (the device code is used
        up), then answers 500. Answers other than a success pass through;
        the first success is lost and the fault ends."""
        headers = {h: self.headers[h] for h in FORWARDED_HEADERS if self.headers.get(h)}
        status, ctype, data, _ = self.proxy._forward(self.command, self.path, headers, self._body)
        if status != 200:
            self.proxy._record(self._kind, self._body, data)
            self._send(status, ctype, data)
            return
        with self.proxy._lock:
            self.proxy._faults.pop(self._kind, None)
        self._send(500, "application/json", json.dumps({"error": "unknown_error"}).encode())

    def _fault_stall(self, fault):
        seconds = min(float(fault.get("seconds", 30)), STALL_MAX)
        deadline = time.monotonic() + seconds
        self.connection.settimeout(0.1)
        while time.monotonic() < deadline and not self.proxy._stopping.is_set():
            if self.proxy.fault_for(self._kind) is None:
                break  # the fault was cleared: the stalled request ends too
            try:
                # a closed peer ends the stall early
                if self.connection.recv(1, socket.MSG_PEEK) == b"":
                    break
            except (socket.timeout, BlockingIOError):
                pass
            except OSError:
                break
        self.close_connection = True
        reset_close(self.connection)

    def _fault_reset(self, fault):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "4096")
        self.end_headers()
        self.wfile.write(b'{"access_token":"' + b"a" * 83)
        self.wfile.flush()
        self.close_connection = True
        reset_close(self.connection)

    def _resign(self, data):
        try:
            doc = json.loads(data)
        except ValueError:
            return data
        if not isinstance(doc, dict) or not isinstance(doc.get("id_token"), str):
            return data
        doc["id_token"] = self.proxy.resign_id_token(doc["id_token"])
        return json.dumps(doc).encode()

    def _upstream_post(self):
        """The IdP's answer to this POST: (status, content type, body)."""
        headers = {h: self.headers[h] for h in FORWARDED_HEADERS if self.headers.get(h)}
        status, ctype, data, _ = self.proxy._forward("POST", self.path, headers, self._body)
        return status, ctype, data

    def _fault_id_token(self, fault):
        status, ctype, data = self._upstream_post()
        if status == 200:
            doc = json.loads(self._resign(data))
            if "id_token" in doc:
                doc["id_token"] = forge_id_token(doc["id_token"], fault.get("change", "sub"))
            data = json.dumps(doc).encode()
        self._send(status, ctype, data)

    def _fault_kill_after(self, fault):
        """Forwarded; then, fault["delay"] seconds after the answer left,
        SIGKILL to fault["pid"] (devauthd killed in the rotation window)."""
        status, ctype, data = self._upstream_post()
        if status == 200:
            data = self._resign(data)
        self._send(status, ctype, data)
        self.wfile.flush()
        time.sleep(float(fault.get("delay", 0)))
        try:
            os.kill(int(fault["pid"]), signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _fault_kill_before_answer(self, fault):
        """Forwarded, and SIGKILL to fault["pid"] before any of the IdP's
        answer leaves (devauthd killed while the answer is on its way: the
        IdP has replaced the token, devauthd never sees the new one)."""
        self._upstream_post()
        try:
            os.kill(int(fault["pid"]), signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.close_connection = True

    def _fault_redirect(self, fault):
        """A redirect (307 by default) to fault["location"]."""
        self.send_response(int(fault.get("status", 307)))
        self.send_header("Location", fault["location"])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _fault_rewrite(self, fault):
        """The IdP's answer, forwarded, with fields set ("set": {name: value})
        or left out ("drop": [name, ...])."""
        status, ctype, data = self._upstream_post()
        if status == 200:
            doc = json.loads(data)
            doc.update(fault.get("set", {}))
            for name in fault.get("drop", ()):
                doc.pop(name, None)
            data = json.dumps(doc).encode()
        self._send(status, ctype, data)

    def _fault_truncated(self, fault):
        full = json.dumps({"access_token": "x" * 40, "token_type": "Bearer", "expires_in": 300,
                           "refresh_token": "y" * 40, "scope": "openid"}).encode()
        self._send(200, "application/json", full[:len(full) // 2])

    def _fault_malformed(self, fault):
        self._send(200, "application/json", b'{"access_token": , "expires_in": 300,,}')

    def _fault_html(self, fault):
        self._send(200, "text/html; charset=utf-8",
                   b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
                   b"<body><form>captive portal</form></body></html>")

    def _fault_huge(self, fault):
        size = int(fault.get("size", 10 * 1024 * 1024))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"a" * 65536
        sent = 0
        head = b'{"access_token":"'
        self.wfile.write(b"%x\r\n%s\r\n" % (len(head), head))
        deadline = time.monotonic() + 60
        while sent < size and time.monotonic() < deadline:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        tail = b'","expires_in":300}'
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
        self.wfile.flush()


# socketserver swallows errors of a handler that the peer reset; keep quiet
socketserver.BaseServer.handle_error = lambda self, request, client_address: None
