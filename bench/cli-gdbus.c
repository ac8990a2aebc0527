/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-cli-gdbus: what `devauthctl token` costs with GDBus and nothing
 * else: one connection, one GetTokenFd call (no GDBusProxy, so no AddMatch,
 * GetNameOwner or GetAll round trips), the token to stdout. A yardstick
 * for the CLI benchmark, not a tool: no error handling beyond the exit code.
 */
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <unistd.h>

int
main (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
	g_autoptr(GUnixFDList) fds = NULL;
	g_autoptr(GVariant) reply = NULL;
	char buf[65536];
	gint32 handle = 0;
	ssize_t n;
	int fd;

	if (bus == NULL)
		return 1;
	reply = g_dbus_connection_call_with_unix_fd_list_sync (
		bus, "org.devauth.DeviceAuth1", "/org/devauth/DeviceAuth1",
		"org.devauth.DeviceAuth1.Manager", "GetTokenFd",
		g_variant_new ("(sa{sv})", "", NULL), G_VARIANT_TYPE ("(ha{sv})"),
		G_DBUS_CALL_FLAGS_NONE, 25000, NULL, &fds, NULL, &error);
	if (reply == NULL) {
		g_printerr ("%s\n", error->message);
		return 1;
	}
	g_variant_get (reply, "(h@a{sv})", &handle, NULL);
	fd = g_unix_fd_list_get (fds, handle, NULL);
	n = fd >= 0 ? pread (fd, buf, sizeof buf - 1, 0) : -1;
	if (n <= 0)
		return 1;
	buf[n++] = '\n';
	return write (1, buf, (size_t) n) == n ? 0 : 1;
}
