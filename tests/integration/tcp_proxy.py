"""A loopback TCP forwarder with a fault switch, for outage tests.

    proxy = FaultProxy(idp_port)          # forwards 127.0.0.1:proxy.port → the IdP
    proxy.set_mode("reset")               # every connection is reset at once
    proxy.set_mode("hang")                # connections are accepted, never answered
    proxy.set_mode("pass")                # traffic flows again
    proxy.delay = 1.5                     # in "pass": hold each request that long
    proxy.connections_since(t)            # connection attempts (time, mode) after t
    proxy.stop()

It works below HTTP, so keep-alive, bodies and errors reach the daemon as
the IdP sent them. Switching the mode closes every connection of the other
modes (with a reset), so a kept-alive connection cannot outlive an outage
and a hanging one ends when traffic flows again. Loopback only; every
thread is bounded by stop().
"""

import select
import socket
import struct
import threading
import time

MODES = ("pass", "reset", "hang")
_HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ", b"OPTIONS ", b"PATCH ")


def reset_close(sock):
    """Closes with RST (SO_LINGER 0) rather than FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class FaultProxy:
    def __init__(self, target_port, target_host="127.0.0.1"):
        if target_host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"refusing a non-loopback target: {target_host}")
        self.target = (target_host, target_port)
        self.mode = "pass"
        self.delay = 0.0
        self._lock = threading.Lock()
        self._events = []  # {"t", "kind": "connect" | "request", "mode", "line"}
        self._live = {}  # socket → mode it was accepted in
        self._threads = []
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    # the switch

    def set_mode(self, mode):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        with self._lock:
            self.mode = mode
            stale = [s for s, m in self._live.items() if m != mode]
            for s in stale:
                del self._live[s]
        for s in stale:
            reset_close(s)

    # what it saw

    def events(self, kind=None, since=0.0):
        with self._lock:
            return [dict(e) for e in self._events
                    if e["t"] >= since and (kind is None or e["kind"] == kind)]

    def connections_since(self, since=0.0, mode=None):
        return [e for e in self.events("connect", since) if mode is None or e["mode"] == mode]

    def _record(self, kind, mode, line=None):
        with self._lock:
            self._events.append({"t": time.time(), "kind": kind, "mode": mode, "line": line})
            if len(self._events) > 100000:
                del self._events[:50000]

    # the work

    def _spawn(self, target, *args):
        t = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()]
            self._threads.append(t)
        t.start()

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                mode = self.mode
            self._record("connect", mode)
            if mode == "reset":
                reset_close(client)
            elif mode == "hang":
                with self._lock:
                    self._live[client] = "hang"
                self._spawn(self._hang, client)
            else:
                self._spawn(self._forward, client)

    def _hang(self, client):
        """Reads and drops whatever comes, never answers."""
        while not self._stopping.is_set():
            with self._lock:
                if client not in self._live:
                    return
            try:
                ready, _, _ = select.select([client], [], [], 0.1)
                if ready and not client.recv(65536):
                    break
            except (OSError, ValueError):
                break
        with self._lock:
            self._live.pop(client, None)
        reset_close(client)

    def _forward(self, client):
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            reset_close(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._live[client] = "pass"
            self._live[upstream] = "pass"
        new_request = True
        try:
            while not self._stopping.is_set():
                with self._lock:
                    if client not in self._live or upstream not in self._live:
                        break
                try:
                    ready, _, _ = select.select([client, upstream], [], [], 0.1)
                except (OSError, ValueError):
                    break
                done = False
                for s in ready:
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        done = True
                        break
                    if s is client:
                        if new_request and data.startswith(_HTTP_METHODS):
                            line = data.split(b"\r\n", 1)[0].decode("latin-1")
                            self._record("request", "pass", line)
                            if self.delay > 0:
                                time.sleep(self.delay)
                        new_request = False
                        upstream.sendall(data)
                    else:
                        new_request = True
                        client.sendall(data)
                if done:
                    break
        except OSError:
            pass
        finally:
            with self._lock:
                self._live.pop(client, None)
                self._live.pop(upstream, None)
            for s in (client, upstream):
                try:
                    s.close()
                except OSError:
                    pass

    def stop(self):
        self._stopping.set()
        try:
            self._listener.close()
        except OSError:
            pass
        self._accept_thread.join(5)
        with self._lock:
            live, self._live = list(self._live), {}
            threads = list(self._threads)
        for s in live:
            reset_close(s)
        for t in threads:
            t.join(5)
