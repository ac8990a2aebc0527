/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-floor: the transport floor for the GetToken benchmarks.
 *
 * A bare GDBus service (g_dbus_connection_register_object, no codegen, no
 * caller lookup, no authorization, no rate limit) that answers the same two
 * methods as devauthd's Manager with replies of the same shape and size:
 *
 *   GetToken(s, a{sv})   -> (s token, a{sv} info)   a string of --token-size bytes
 *   GetTokenFd(s, a{sv}) -> (h fd, a{sv} info)      the same bytes in a sealed memfd
 *
 * info holds expires-at (x), token-type (s) and scope (s), as devauthd's does.
 * It owns --name on the system bus ($DBUS_SYSTEM_BUS_ADDRESS) and says
 * READY=1 to $NOTIFY_SOCKET once the name is acquired, so that its start-up
 * can be timed the same way as devauthd's. SIGTERM or SIGINT end it (exit 0).
 *
 * Not installed; used by bench/run only.
 */

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

static const gchar introspection_xml[] = "<node>"
					 " <interface name='org.devauth.DeviceAuth1.Manager'>"
					 "  <method name='GetToken'>"
					 "   <arg type='s' name='account' direction='in'/>"
					 "   <arg type='a{sv}' name='options' direction='in'/>"
					 "   <arg type='s' name='token' direction='out'/>"
					 "   <arg type='a{sv}' name='info' direction='out'/>"
					 "  </method>"
					 "  <method name='GetTokenFd'>"
					 "   <arg type='s' name='account' direction='in'/>"
					 "   <arg type='a{sv}' name='options' direction='in'/>"
					 "   <arg type='h' name='fd' direction='out'/>"
					 "   <arg type='a{sv}' name='info' direction='out'/>"
					 "  </method>"
					 " </interface>"
					 "</node>";

typedef struct {
	GMainLoop *loop;
	gchar *token;
	gchar *scope;
	gint64 expires_at;
	guint registration_id;
	int exit_code;
} Floor;

static GVariant *
info_new (Floor *f)
{
	GVariantBuilder b;

	g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add (&b, "{sv}", "expires-at", g_variant_new_int64 (f->expires_at));
	g_variant_builder_add (&b, "{sv}", "token-type", g_variant_new_string ("Bearer"));
	if (f->scope != NULL && f->scope[0] != '\0')
		g_variant_builder_add (&b, "{sv}", "scope", g_variant_new_string (f->scope));
	return g_variant_builder_end (&b);
}

static int
token_memfd (const gchar *token)
{
	gsize len = strlen (token);
	gsize done = 0;
	int fd = memfd_create ("bench-floor-token", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	while (done < len) {
		ssize_t n = write (fd, token + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close (fd);
			return -1;
		}
		done += (gsize) n;
	}
	if (fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
	    lseek (fd, 0, SEEK_SET) < 0) {
		close (fd);
		return -1;
	}
	return fd;
}

static void
method_call_cb (GDBusConnection *connection,
		const gchar *sender,
		const gchar *object_path,
		const gchar *interface_name,
		const gchar *method_name,
		GVariant *parameters,
		GDBusMethodInvocation *invocation,
		gpointer user_data)
{
	Floor *f = user_data;

	if (g_strcmp0 (method_name, "GetToken") == 0) {
		g_dbus_method_invocation_return_value (
			invocation, g_variant_new ("(s@a{sv})", f->token, info_new (f)));
		return;
	}
	if (g_strcmp0 (method_name, "GetTokenFd") == 0) {
		int fd = token_memfd (f->token);
		GUnixFDList *fds;

		if (fd < 0) {
			g_dbus_method_invocation_return_error (invocation, G_IO_ERROR,
							       G_IO_ERROR_FAILED, "memfd: %s",
							       g_strerror (errno));
			return;
		}
		fds = g_unix_fd_list_new_from_array (&fd, 1);
		g_dbus_method_invocation_return_value_with_unix_fd_list (
			invocation, g_variant_new ("(h@a{sv})", 0, info_new (f)), fds);
		g_object_unref (fds);
		return;
	}
	g_dbus_method_invocation_return_error (
		invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD, "no method %s", method_name);
}

static const GDBusInterfaceVTable vtable = {method_call_cb, NULL, NULL, {0}};

static void
bus_acquired_cb (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	Floor *f = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusNodeInfo) node = g_dbus_node_info_new_for_xml (introspection_xml, &error);

	g_assert_no_error (error);
	f->registration_id =
		g_dbus_connection_register_object (connection, "/org/devauth/DeviceAuth1",
						   node->interfaces[0], &vtable, f, NULL, &error);
	if (f->registration_id == 0) {
		g_printerr ("bench-floor: cannot register the object: %s\n", error->message);
		f->exit_code = 1;
		g_main_loop_quit (f->loop);
	}
}

static void
name_acquired_cb (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	sd_notify (0, "READY=1");
}

static void
name_lost_cb (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	Floor *f = user_data;

	g_printerr ("bench-floor: cannot own %s\n", name);
	f->exit_code = 1;
	g_main_loop_quit (f->loop);
}

static gboolean
quit_cb (gpointer user_data)
{
	Floor *f = user_data;

	g_main_loop_quit (f->loop);
	return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
	Floor f = {0};
	g_autofree gchar *name = NULL;
	gint token_size = 0;
	gint64 expires_at = 0;
	g_autoptr(GOptionContext) ctx = g_option_context_new ("- a bare GDBus GetToken service");
	g_autoptr(GError) error = NULL;
	const GOptionEntry entries[] = {
		{"name", 0, 0, G_OPTION_ARG_STRING, &name, "Bus name to own", "NAME"},
		{"token-size", 0, 0, G_OPTION_ARG_INT, &token_size, "Bytes in the token", "N"},
		{"scope", 0, 0, G_OPTION_ARG_STRING, &f.scope, "scope in the info", "S"},
		{"expires-at", 0, 0, G_OPTION_ARG_INT64, &expires_at, "expires-at in the info",
		 "T"},
		{NULL},
	};
	guint owner_id;

	g_option_context_add_main_entries (ctx, entries, NULL);
	if (!g_option_context_parse (ctx, &argc, &argv, &error) || name == NULL ||
	    token_size <= 0 || token_size > 65536) {
		g_printerr (
			"usage: bench-floor --name NAME --token-size N [--scope S] [--expires-at T]%s%s\n",
			error != NULL ? ": " : "", error != NULL ? error->message : "");
		return 2;
	}
	f.token = g_malloc (token_size + 1);
	memset (f.token, 'x', token_size);
	f.token[token_size] = '\0';
	f.expires_at = expires_at;
	f.loop = g_main_loop_new (NULL, FALSE);
	g_unix_signal_add (SIGTERM, quit_cb, &f);
	g_unix_signal_add (SIGINT, quit_cb, &f);
	owner_id = g_bus_own_name (G_BUS_TYPE_SYSTEM, name, G_BUS_NAME_OWNER_FLAGS_NONE,
				   bus_acquired_cb, name_acquired_cb, name_lost_cb, &f, NULL);
	g_main_loop_run (f.loop);
	g_bus_unown_name (owner_id);
	g_main_loop_unref (f.loop);
	g_free (f.token);
	g_free (f.scope);
	return f.exit_code;
}
