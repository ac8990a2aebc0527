"""A loopback proxy in front of the IdP's device authorization endpoint.

It forwards each POST unchanged and rewrites the `interval` of a successful
answer: the IdP then advertises an interval shorter than the one it
enforces, a fault the harness IdP cannot be told to make by itself."""

import http.server
import json
import threading
import urllib.error
import urllib.parse
import urllib.request

FORWARDED_HEADERS = ("Content-Type", "Authorization", "Accept", "User-Agent")


class IntervalRewritingProxy:
    def __init__(self, target, interval):
        parts = urllib.parse.urlsplit(target)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"refusing a non-loopback target: {target}")
        self.target = target
        self.interval = interval
        self.requests = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 65536))
                headers = {h: self.headers[h] for h in FORWARDED_HEADERS if self.headers.get(h)}
                req = urllib.request.Request(proxy.target, data=body, method="POST",
                                             headers=headers)
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                try:
                    with opener.open(req, timeout=10) as resp:
                        status, data = resp.status, resp.read()
                        ctype = resp.headers.get("Content-Type", "application/json")
                except urllib.error.HTTPError as e:
                    status, data = e.code, e.read()
                    ctype = e.headers.get("Content-Type", "application/json")
                proxy.requests += 1
                if status == 200:
                    doc = json.loads(data)
                    doc["interval"] = proxy.interval
                    data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/device/auth"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
