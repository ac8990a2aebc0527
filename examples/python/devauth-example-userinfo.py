#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""devauth-example-userinfo.py URL [ACCOUNT]

What an app on the device does to call an API as the signed-in person, in
Python with PyGObject (Debian: python3-gi): ask devauthd for the account's
access token over the system bus (GetTokenFd: the token comes in a sealed
memfd, never in a bus message), send it as a Bearer token to URL, print
what the API answered. Here the API is the IdP's userinfo endpoint. On a
401 the app asks once more for a token valid for at least a minute; it
never refreshes tokens itself and never sees a refresh token.
"""

import json
import os
import sys
import urllib.error
import urllib.request

from gi.repository import Gio, GLib

BUS_NAME = "org.devauth.DeviceAuth1"
OBJECT_PATH = "/org/devauth/DeviceAuth1"
INTERFACE = "org.devauth.DeviceAuth1.Manager"


def get_token(bus, account, min_validity=0):
    """The access token of ACCOUNT ("" for the default account)."""
    options = {"min-validity": GLib.Variant("u", min_validity)} if min_validity else {}
    reply, fds = bus.call_with_unix_fd_list_sync(
        BUS_NAME, OBJECT_PATH, INTERFACE, "GetTokenFd",
        GLib.Variant("(sa{sv})", (account, options)), GLib.VariantType("(ha{sv})"),
        Gio.DBusCallFlags.NONE, 60000, None, None)
    handle, _info = reply.unpack()
    fd = fds.get(handle)
    try:
        return os.pread(fd, 64 * 1024, 0).decode("ascii")
    finally:
        os.close(fd)


def call_api(url, token):
    """(HTTP status, body) of GET URL with the token; the proxy of the
    environment is not used, as devauthd does not use it."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main(argv):
    if len(argv) not in (2, 3):
        print(f"usage: {argv[0]} URL [ACCOUNT]", file=sys.stderr)
        return 2
    url = argv[1]
    account = argv[2] if len(argv) == 3 else ""
    try:
        bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    except GLib.Error as e:
        print(f"cannot reach the system bus: {e.message}", file=sys.stderr)
        return 1
    status, body = 0, b""
    for min_validity in (0, 60):
        try:
            token = get_token(bus, account, min_validity)
        except GLib.Error as e:
            name = Gio.DBusError.get_remote_error(e) or "?"
            message = e.message
            if name != "?" and message.startswith(f"GDBus.Error:{name}: "):
                message = message[len(f"GDBus.Error:{name}: "):]
            print(f"no token from devauthd: {message} ({name.rsplit('.', 1)[-1]})",
                  file=sys.stderr)
            return 1
        try:
            status, body = call_api(url, token)
        except OSError as e:
            print(f"cannot reach {url}: {e}", file=sys.stderr)
            return 1
        finally:
            del token
        if status != 401:
            break
    if status != 200:
        print(f"{url} answered HTTP {status}", file=sys.stderr)
        return 1
    try:
        person = json.loads(body)
    except ValueError:
        print(f"{url} did not answer JSON", file=sys.stderr)
        return 1
    sub = person.get("sub", "?")
    # the names the IdP gives with the profile scope, else the subject
    name = person.get("preferred_username") or person.get("name") or sub
    print(f"signed in as {name} (subject {sub})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
