#!/usr/bin/python3
"""A devauthd client for the tests that run callers as other users.

    bus_client.py ADDRESS OPS_JSON

Connects once to the bus at ADDRESS (so every operation comes from the same
unique name), runs the operations of the JSON list in order and prints one
JSON object: {"name": <unique name>, "results": [...]}, one result for each
operation. A failed D-Bus call is a result {"error": <D-Bus error name>,
"message": ...}, not a failure of this program.

Operations ({"op": ..., ...}):
  wait-stdin                 read a line from stdin first (the test moves
                             this process into a cgroup meanwhile)
  GetToken / GetTokenFd      "account", optional "options" ({key: [type, value]});
                             the result is {"token": ...} (GetTokenFd: read from
                             the file descriptor)
  Login                      "account" → {"prompt": {...}}
  CancelLogin / Logout / Refresh   "account" → {"ok": true}
  ListAccounts               → {"accounts": [[name, path], ...]}
  Properties                 "account" → {"properties": {...}} (GetAll of the account)
  own                        "name", optional "flags" → {"reply": RequestName's reply}
  flood                      "account", "count": that many calls at once of
                             "method" (GetToken, the default; GetTokenFd; Login) →
                             {"counts": {"ok": n, <error name>: n, ...}}

Every call has a timeout ("timeout" seconds per operation, default 15).
Runs on Debian's /usr/bin/python3 with python3-gi.
"""

import json
import os
import re
import sys
import time

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire_names  # noqa: E402 (common/da-names.h)

BUS_NAME = wire_names.BUS_NAME
MANAGER_PATH = wire_names.MANAGER_OBJECT_PATH
MANAGER_IFACE = wire_names.MANAGER_INTERFACE
ACCOUNT_IFACE = wire_names.ACCOUNT_INTERFACE
DEFAULT_TIMEOUT = 15.0


def connect(address):
    conn = Gio.DBusConnection.new_for_address_sync(
        address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)
    conn.set_exit_on_close(False)
    return conn


def error_name(e):
    return Gio.DBusError.get_remote_error(e) or f"{GLib.quark_to_string(e.domain)}.{e.code}"


def error_result(e):
    return {"error": error_name(e), "message": re.sub(r"^GDBus\.Error:[^:\s]+:\s*", "", e.message)}


def options_variant(options):
    return {key: GLib.Variant(t, value) for key, (t, value) in (options or {}).items()}


def _plain(value):
    """A GVariant's unpacked value, made JSON-able."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def read_fd(fd, limit=1 << 20):
    chunks = []
    size = 0
    while size < limit:
        data = os.read(fd, 65536)
        if not data:
            break
        chunks.append(data)
        size += len(data)
    return b"".join(chunks).decode("utf-8", "replace")


def call(conn, method, params, reply_type, timeout, path=MANAGER_PATH, iface=MANAGER_IFACE):
    return conn.call_sync(BUS_NAME, path, iface, method, params,
                          GLib.VariantType(reply_type) if reply_type else None,
                          Gio.DBusCallFlags.NO_AUTO_START, int(timeout * 1000), None)


def account_path(conn, account, timeout):
    (accounts,) = call(conn, "ListAccounts", None, "(a(so))", timeout).unpack()
    for name, path in accounts:
        if name == account:
            return path
    raise LookupError(f"no account {account!r}")


def flood(conn, account, count, timeout=DEFAULT_TIMEOUT, options=None, method="GetToken"):
    """COUNT calls of METHOD (GetToken, GetTokenFd or Login) at once on CONN;
    returns {"ok": n, error name: n}."""
    context = GLib.MainContext.new()
    context.push_thread_default()
    counts = {}
    pending = [count]

    def done(c, res, _data):
        try:
            c.call_with_unix_fd_list_finish(res)
            key = "ok"
        except GLib.Error as e:
            key = error_name(e)
        counts[key] = counts.get(key, 0) + 1
        pending[0] -= 1

    try:
        params = GLib.Variant("(sa{sv})", (account, options_variant(options)))
        for _ in range(count):
            conn.call_with_unix_fd_list(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, method, params,
                                        None, Gio.DBusCallFlags.NO_AUTO_START,
                                        int(timeout * 1000), None, None, done, None)
        # every call ends by its own timeout at the latest
        deadline = time.monotonic() + timeout + 5
        while pending[0] > 0 and time.monotonic() < deadline:
            context.iteration(False) or time.sleep(0.002)
    finally:
        context.pop_thread_default()
    if pending[0] > 0:
        counts["unanswered"] = pending[0]
    return counts


def run_op(conn, op):
    kind = op["op"]
    timeout = float(op.get("timeout", DEFAULT_TIMEOUT))
    account = op.get("account", "")
    try:
        if kind == "wait-stdin":
            sys.stdin.readline()
            return {"ok": True}
        if kind == "GetToken":
            token, info = call(conn, "GetToken", GLib.Variant(
                "(sa{sv})", (account, options_variant(op.get("options")))),
                "(sa{sv})", timeout).unpack()
            return {"token": token, "info": _plain(info)}
        if kind == "GetTokenFd":
            reply, fds = conn.call_with_unix_fd_list_sync(
                BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "GetTokenFd",
                GLib.Variant("(sa{sv})", (account, options_variant(op.get("options")))),
                GLib.VariantType("(ha{sv})"), Gio.DBusCallFlags.NO_AUTO_START,
                int(timeout * 1000), None, None)
            handle, info = reply.unpack()
            fd = fds.steal_fds()[handle]
            try:
                return {"token": read_fd(fd), "info": _plain(info)}
            finally:
                os.close(fd)
        if kind == "Login":
            (prompt,) = call(conn, "Login", GLib.Variant("(sa{sv})", (account, {})), "(a{sv})",
                             timeout).unpack()
            return {"prompt": _plain(prompt)}
        if kind in ("CancelLogin", "Logout", "Refresh"):
            call(conn, kind, GLib.Variant("(s)", (account,)), None, timeout)
            return {"ok": True}
        if kind == "ListAccounts":
            (accounts,) = call(conn, "ListAccounts", None, "(a(so))", timeout).unpack()
            return {"accounts": _plain(accounts)}
        if kind == "Properties":
            path = account_path(conn, account, timeout)
            (props,) = call(conn, "GetAll", GLib.Variant("(s)", (ACCOUNT_IFACE,)), "(a{sv})",
                            timeout, path=path, iface="org.freedesktop.DBus.Properties").unpack()
            return {"properties": _plain(props)}
        if kind == "own":
            reply = conn.call_sync(
                "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "RequestName", GLib.Variant("(su)", (op["name"], int(op.get("flags", 0)))),
                GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, int(timeout * 1000), None)
            return {"reply": reply.unpack()[0]}
        if kind == "flood":
            return {"counts": flood(conn, account, int(op["count"]), timeout, op.get("options"),
                                    op.get("method", "GetToken"))}
    except GLib.Error as e:
        return error_result(e)
    raise ValueError(f"unknown operation {kind!r}")


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    ops = json.loads(argv[2])
    conn = connect(argv[1])
    results = [run_op(conn, op) for op in ops]
    print(json.dumps({"name": conn.get_unique_name(), "uid": os.getuid(), "results": results}),
          flush=True)
    conn.close_sync(None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
