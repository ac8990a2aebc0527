/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <gio/gunixfdlist.h>
#include <unistd.h>

#include "da-bus-callers.h"
#include "da-error.h"

/* more distinct callers than this are served without a cache */
#define DA_BUS_CALLERS_MAX 4096

struct _DaBusCallers {
	GObject parent_instance;
	GDBusConnection *connection;
	GHashTable *entries; /* unique name → DaCaller */
	guint subscription_id;
};

enum {
	SIGNAL_VANISHED,
	N_SIGNALS,
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (DaBusCallers, da_bus_callers, G_TYPE_OBJECT)

const DaCaller *
da_bus_callers_lookup (DaBusCallers *self, const gchar *bus_name)
{
	return g_hash_table_lookup (self->entries, bus_name);
}

static DaCaller *
caller_from_credentials (const gchar *bus_name, GVariant *creds, GUnixFDList *fds, GError **error)
{
	g_autoptr(GVariant) gids_v = NULL;
	g_autoptr(GVariant) label = NULL;
	g_autoptr(DaCaller) caller = NULL;
	const guint32 *gids = NULL;
	gsize n_gids = 0;
	guint32 uid = 0;
	guint32 pid = 0;
	gint32 fd_index = -1;

	if (!g_variant_lookup (creds, "UnixUserID", "u", &uid)) {
		g_set_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
			     "the bus does not say who %s is", bus_name);
		return NULL;
	}
	g_variant_lookup (creds, "ProcessID", "u", &pid);
	gids_v = g_variant_lookup_value (creds, "UnixGroupIDs", G_VARIANT_TYPE ("au"));
	if (gids_v != NULL)
		gids = g_variant_get_fixed_array (gids_v, &n_gids, sizeof (guint32));
	caller = da_caller_new (bus_name, uid, gids, (guint) n_gids, pid);
	label = g_variant_lookup_value (creds, "LinuxSecurityLabel", G_VARIANT_TYPE_BYTESTRING);
	if (label != NULL) {
		gsize len = 0;
		const gchar *data = g_variant_get_fixed_array (label, &len, 1);
		da_caller_set_security_label (caller, data, len);
	}
	if (fds != NULL && g_variant_lookup (creds, "ProcessFD", "h", &fd_index)) {
		gint fd = g_unix_fd_list_get (fds, fd_index, NULL);
		if (fd >= 0)
			da_caller_take_pidfd (caller, fd);
	}
	if (!da_caller_resolve (caller, "/proc", error))
		return NULL;
	return g_steal_pointer (&caller);
}

static void
get_credentials_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	DaBusCallers *self = g_task_get_source_object (task);
	const gchar *bus_name = g_task_get_task_data (task);
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) creds = NULL;
	g_autoptr(GUnixFDList) fds = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *description = NULL;
	const DaCaller *known;
	DaCaller *caller;

	reply = g_dbus_connection_call_with_unix_fd_list_finish (G_DBUS_CONNECTION (source), &fds,
								 res, &error);
	if (reply == NULL) {
		g_task_return_new_error (task, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
					 "cannot identify the caller %s: %s", bus_name,
					 error->message);
		return;
	}
	g_variant_get (reply, "(@a{sv})", &creds);
	caller = caller_from_credentials (bus_name, creds, fds, &error);
	if (caller == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	description = da_caller_describe (caller);
	g_debug ("caller %s", description);
	known = g_hash_table_lookup (self->entries, bus_name);
	if (known != NULL) {
		/* two calls resolved it at once */
		da_caller_free (caller);
	} else if (g_hash_table_size (self->entries) >= DA_BUS_CALLERS_MAX) {
		/* too many callers to remember: this one is used once, and
		 * freed with the task, after the callback */
		g_object_set_data_full (G_OBJECT (task), "caller", caller,
					(GDestroyNotify) da_caller_free);
		known = caller;
	} else {
		g_hash_table_insert (self->entries, g_strdup (bus_name), caller);
		known = caller;
	}
	g_task_return_pointer (task, (gpointer) known, NULL);
}

void
da_bus_callers_resolve_async (DaBusCallers *self,
			      const gchar *bus_name,
			      GAsyncReadyCallback callback,
			      gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);

	g_task_set_source_tag (task, da_bus_callers_resolve_async);
	g_task_set_task_data (task, g_strdup (bus_name), g_free);
	g_dbus_connection_call_with_unix_fd_list (
		self->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
		"org.freedesktop.DBus", "GetConnectionCredentials", g_variant_new ("(s)", bus_name),
		G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, NULL,
		get_credentials_cb, g_steal_pointer (&task));
}

/* The caller, valid until its name leaves the bus (use it at once). */
const DaCaller *
da_bus_callers_resolve_finish (DaBusCallers *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	return g_task_propagate_pointer (G_TASK (res), error);
}

static void
name_owner_changed_cb (GDBusConnection *connection,
		       const gchar *sender,
		       const gchar *path,
		       const gchar *interface,
		       const gchar *signal,
		       GVariant *parameters,
		       gpointer user_data)
{
	DaBusCallers *self = DA_BUS_CALLERS (user_data);
	const gchar *name;
	const gchar *old_owner;
	const gchar *new_owner;

	if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sss)")))
		return;
	g_variant_get (parameters, "(&s&s&s)", &name, &old_owner, &new_owner);
	if (name[0] != ':' || new_owner[0] != '\0')
		return;
	g_hash_table_remove (self->entries, name);
	g_signal_emit (self, signals[SIGNAL_VANISHED], 0, name);
}

static void
da_bus_callers_finalize (GObject *object)
{
	DaBusCallers *self = DA_BUS_CALLERS (object);

	if (self->subscription_id != 0)
		g_dbus_connection_signal_unsubscribe (self->connection, self->subscription_id);
	g_clear_object (&self->connection);
	g_clear_pointer (&self->entries, g_hash_table_unref);
	G_OBJECT_CLASS (da_bus_callers_parent_class)->finalize (object);
}

static void
da_bus_callers_class_init (DaBusCallersClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = da_bus_callers_finalize;
	signals[SIGNAL_VANISHED] =
		g_signal_new ("vanished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
			      NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
da_bus_callers_init (DaBusCallers *self)
{
	self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
					       (GDestroyNotify) da_caller_free);
}

DaBusCallers *
da_bus_callers_new (GDBusConnection *connection)
{
	DaBusCallers *self = g_object_new (DA_TYPE_BUS_CALLERS, NULL);

	self->connection = g_object_ref (connection);
	self->subscription_id = g_dbus_connection_signal_subscribe (
		connection, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
		"/org/freedesktop/DBus", NULL, G_DBUS_SIGNAL_FLAGS_NONE, name_owner_changed_cb,
		self, NULL);
	return self;
}
