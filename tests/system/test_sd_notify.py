#!/usr/bin/python3
"""sd_notify as systemd sees it: devauthd on a private bus with NOTIFY_SOCKET
pointing at the test's own datagram socket, WATCHDOG_USEC=2000000 and
WATCHDOG_PID set to devauthd's PID.

- READY=1 only once the bus name is owned: devauthd reaches the bus through
  a relay that holds back the answer to its RequestName; READY=1 must not
  come before that answer, and when it comes the name is owned and the
  objects answer; when the name is taken, devauthd exits 1 without READY=1;
- STATUS= a person can read, "Signed in: N of M accounts", updated by a
  sign-in;
- WATCHDOG=1 at least every second (half of WATCHDOG_USEC), and none when
  WATCHDOG_PID names another process;
- STOPPING=1 on SIGTERM, then exit 0;
- every message comes from devauthd's own PID (NotifyAccess=main).
"""

import os
import re
import socket
import struct
import subprocess
import threading
import time

import systest
from systest import check, check_equal, harness, wait_until
from gi.repository import Gio, GLib

BUS_NAME = harness.BUS_NAME
WATCHDOG_USEC = 2000000
HOLD = 1.5  # seconds the answer to RequestName is held back
STATUS_RE = re.compile(r"^Signed in: (\d+) of (\d+) accounts?$")


class NotifySocket:
    """An AF_UNIX datagram socket as systemd's; collects (time, pid, line)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.1)
        self.messages = []
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            pid = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid, _, _ = struct.unpack("iII", payload[:12])
            with self._cond:
                for line in data.decode("utf-8", "replace").split("\n"):
                    if line:
                        self.messages.append((now, pid, line))
                self._cond.notify_all()

    def stop(self):
        self._stop = True
        self._thread.join(5)
        self.sock.close()

    def snapshot(self):
        with self._cond:
            return list(self.messages)

    def wait_for(self, predicate, timeout, what, since=0):
        """Waits for a message (index >= since) whose line satisfies predicate."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, (t, pid, line) in enumerate(self.messages[since:], since):
                    if predicate(line):
                        return i, t, pid, line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise systest.TestFailure(
                        f"no {what} within {timeout} s; messages: "
                        f"{[m[2] for m in self.messages if m[2] != 'WATCHDOG=1']}")
                self._cond.wait(min(left, 0.2))


class BusGate:
    """A byte-for-byte relay between devauthd and the bus socket that, once
    devauthd's side carries a RequestName call, holds back everything from
    the bus for HOLD seconds. (No file descriptors cross it: fine for this
    test, which never calls GetTokenFd.)"""

    def __init__(self, path, bus_socket):
        self.path = path
        self.address = f"unix:path={path}"
        self.bus_socket = bus_socket
        self.t_request = None
        self.t_release = None
        self._socks = []
        self._stop = threading.Event()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.listener.bind(path)
        self.listener.listen(4)
        self.listener.settimeout(0.1)
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            bus = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            bus.connect(self.bus_socket)
            self._socks += [client, bus]
            for args in ((client, bus, True), (bus, client, False)):
                t = threading.Thread(target=self._pump, args=args, daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src, dst, from_client):
        tail = b""
        src.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            if from_client and self.t_request is None and b"RequestName" in tail + data:
                self.t_request = time.monotonic()
                self.t_release = self.t_request + HOLD
            tail = data[-32:]
            if not from_client and self.t_release is not None:
                # bounded: at most HOLD seconds
                delay = self.t_release - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(5)
        for s in self._socks + [self.listener]:
            s.close()


def start_daemon(h, notify_path, watchdog_pid_self=True, bus_address=None):
    """Starts devauthd as harness.Daemon.start() does, plus the notify
    variables. WATCHDOG_PID must be devauthd's own PID, known only once it
    runs: a shell exports its own $$ and execs devauthd in its place."""
    d = h.daemon
    log_path = os.path.join(h.tmp, f"devauthd-{len(d.logs) + 1}.log")
    d.logs.append(log_path)
    env = dict(os.environ)
    for var in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "CONFIGURATION_DIRECTORY",
                "RUNTIME_DIRECTORY", "WATCHDOG_PID", "G_DBUS_DEBUG"):
        env.pop(var, None)
    env.update({"DBUS_SYSTEM_BUS_ADDRESS": bus_address or h.bus.address,
                "G_MESSAGES_DEBUG": "all",
                "G_DEBUG": "fatal-criticals", "LC_ALL": "C.UTF-8",
                "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    argv = [d.binary, "--config-dir", d.config_dir, "--state-dir", d.state_dir,
            "--runtime-dir", d.runtime_dir, "--verbose"]
    if watchdog_pid_self:
        script = 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"'
    else:
        # another process: the one that started it
        env["WATCHDOG_PID"] = str(os.getpid())
        script = 'exec "$@"'
    with open(log_path, "w") as log:
        d.proc = harness.Process("devauthd", ["/bin/sh", "-c", script, "sh", *argv], env=env,
                                 stdout=log, stderr=subprocess.STDOUT)
    return d.proc


def own_name(conn, flags=0):
    (reply,) = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "RequestName",
                              GLib.Variant("(su)", (BUS_NAME, flags)), GLib.VariantType("(u)"),
                              Gio.DBusCallFlags.NONE, 10000, None).unpack()
    return reply


def release_name(conn):
    (reply,) = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "ReleaseName",
                              GLib.Variant("(s)", (BUS_NAME,)), GLib.VariantType("(u)"),
                              Gio.DBusCallFlags.NONE, 10000, None).unpack()
    return reply


def main(h):
    h.start_idp("--interval", "1")
    h.start_bus()
    issuer = h.idp.issuer
    h.start_daemon(accounts={"demo": harness.account_conf(issuer),
                             "other": harness.account_conf(issuer)}, start=False)
    notify = NotifySocket(os.path.join(h.tmp, "notify"))
    h.add_cleanup(notify.stop)

    # the name is taken (and not to be replaced): devauthd gives up, exit 1,
    # without ever saying READY=1
    holder = h.bus.connect()
    check_equal(own_name(holder), 1, "RequestName by the test (1 = primary owner)")
    proc = start_daemon(h, notify.path)
    rc = proc.wait(15)
    check_equal(rc, 1, "devauthd's exit status when the bus name is taken")
    h.daemon.proc = None
    check("cannot own" in h.daemon.log(), f"no message about the taken name:\n{h.daemon.log()}")
    check(not [m for m in notify.snapshot() if m[2] == "READY=1"],
          "READY=1 although the bus name was taken")
    check_equal(release_name(holder), 1, "ReleaseName by the test (1 = released)")

    # READY=1 waits for the name: devauthd talks to the bus through a gate
    # that holds the bus's answer to RequestName for HOLD seconds; nothing
    # but watchdog pings may come meanwhile, READY=1 only after it
    gate = BusGate(os.path.join(h.tmp, "gate"), h.bus.socket)
    h.add_cleanup(gate.stop)
    mark = mark_first = len(notify.snapshot())
    t_start = time.monotonic()
    proc = start_daemon(h, notify.path, bus_address=gate.address)
    wait_until(lambda: gate.t_request is not None or proc.poll() is not None, 15,
               "devauthd to request its bus name")
    check(proc.poll() is None, f"devauthd exited with {proc.poll()}:\n{h.daemon.log()}")
    i_ready, t_ready, _, _ = notify.wait_for(lambda line: line == "READY=1", 15 + HOLD,
                                             "READY=1", since=mark)
    early = [line for t, _, line in notify.snapshot()[mark:i_ready] if line != "WATCHDOG=1"]
    check(not early, f"devauthd notified {early} before READY=1")
    check(t_ready >= gate.t_release,
          f"READY=1 came {gate.t_release - t_ready:.2f} s before the bus answered RequestName")
    owner = h.bus.name_owner()
    check(owner is not None, "nobody owns the bus name at READY=1")
    accounts = sorted(name for name, _ in h.list_accounts())
    check_equal(accounts, ["demo", "other"], "ListAccounts() at READY=1")
    h.daemon.unique_name = owner

    # STATUS= for people
    _, _, _, line = notify.wait_for(lambda line: line.startswith("STATUS="), 5, "a STATUS= line",
                                    since=i_ready)
    check_equal(line, "STATUS=Signed in: 0 of 2 accounts", "STATUS= after READY=1")
    mark = len(notify.snapshot())
    h.sign_in(sub="alice", account="demo")
    notify.wait_for(lambda line: line == "STATUS=Signed in: 1 of 2 accounts", 10,
                    "STATUS=Signed in: 1 of 2 accounts", since=mark)

    # let the watchdog tick for a while longer, then stop
    time.sleep(max(0.0, t_ready + 3.5 - time.monotonic()))
    mark = len(notify.snapshot())
    t_term = time.monotonic()
    rc = h.daemon.stop()
    check_equal(rc, 0, "devauthd's exit status on SIGTERM")
    notify.wait_for(lambda line: line == "STOPPING=1", 5, "STOPPING=1", since=mark)
    messages = notify.snapshot()

    # the watchdog: every second (half of WATCHDOG_USEC) from start to
    # SIGTERM; a little slack for a busy machine, none for a missed ping
    pings = [t for t, _, line in messages if line == "WATCHDOG=1" and t <= t_term]
    check(len(pings) >= 4, f"only {len(pings)} WATCHDOG=1 in {t_term - t_start:.1f} s")
    gaps = sorted(b - a for a, b in zip(pings, pings[1:]))
    median = gaps[len(gaps) // 2]
    gaps.append(t_term - pings[-1])
    gaps.sort()
    print(f"{len(pings)} watchdog pings, first after {pings[0] - t_start:.3f} s, "
          f"median gap {median:.3f} s, longest {gaps[-1]:.3f} s")
    check(pings[0] - t_start <= 1.5, f"the first WATCHDOG=1 came {pings[0] - t_start:.2f} s "
          "after the start")
    check(0.9 <= median <= 1.05, f"WATCHDOG=1 every {median:.2f} s, expected every 1 s "
          f"(WATCHDOG_USEC={WATCHDOG_USEC})")
    check(gaps[-1] <= 1.5, f"{gaps[-1]:.2f} s without WATCHDOG=1: {gaps}")
    senders = {pid for _, pid, _ in messages[mark_first:]}
    check_equal(senders, {proc.pid}, "the PIDs that sent notifications")
    after_stop = [line for t, _, line in messages if t > t_term and line == "READY=1"]
    check(not after_stop, "READY=1 after SIGTERM")
    statuses = [line for _, _, line in messages if line.startswith("STATUS=")]
    for status in statuses:
        check(STATUS_RE.match(status[len("STATUS="):]), f"not a readable status: {status!r}")

    # WATCHDOG_PID of another process: that watchdog is not devauthd's
    wait_until(lambda: h.bus.name_owner() is None, 10, "the bus name to be released")
    mark = len(notify.snapshot())
    proc = start_daemon(h, notify.path, watchdog_pid_self=False)
    i_ready, t_ready, _, _ = notify.wait_for(lambda line: line == "READY=1", 15,
                                             "READY=1 (second start)", since=mark)
    time.sleep(2.5)
    pings = [m for m in notify.snapshot()[mark:] if m[2] == "WATCHDOG=1"]
    check(not pings, f"{len(pings)} WATCHDOG=1 although WATCHDOG_PID is another process")
    mark = len(notify.snapshot())
    check_equal(h.daemon.stop(), 0, "devauthd's exit status on SIGTERM (second start)")
    notify.wait_for(lambda line: line == "STOPPING=1", 5, "STOPPING=1 (second start)", since=mark)


if __name__ == "__main__":
    systest.run(main)
