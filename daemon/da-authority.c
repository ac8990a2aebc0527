/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <polkit/polkit.h>

#include "da-authority.h"
#include "da-error.h"

struct _DaAuthority {
	GObject parent_instance;
	PolkitAuthority *authority;
	GHashTable *per_name; /* bus name → checks in flight (GUINT_TO_POINTER) */
	guint in_flight;
};

G_DEFINE_TYPE (DaAuthority, da_authority, G_TYPE_OBJECT)

/* One check in flight: holds its slot until it completes. */
typedef struct {
	DaAuthority *authority; /* the GTask's source object */
	gchar *bus_name;
	gchar *what; /* "get a token for account 'tv'" */
} DaCheck;

static void
da_check_free (DaCheck *check)
{
	g_free (check->bus_name);
	g_free (check->what);
	g_free (check);
}

static void
da_authority_finalize (GObject *object)
{
	DaAuthority *self = DA_AUTHORITY (object);

	g_clear_object (&self->authority);
	g_clear_pointer (&self->per_name, g_hash_table_unref);
	G_OBJECT_CLASS (da_authority_parent_class)->finalize (object);
}

static void
da_authority_class_init (DaAuthorityClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = da_authority_finalize;
}

static void
da_authority_init (DaAuthority *self)
{
	self->per_name = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/* Connects to polkit on the system bus: once, at startup. */
DaAuthority *
da_authority_new (GError **error)
{
	g_autoptr(DaAuthority) self = g_object_new (DA_TYPE_AUTHORITY, NULL);

	self->authority = polkit_authority_get_sync (NULL, error);
	if (self->authority == NULL) {
		g_prefix_error (error, "cannot reach polkit: ");
		return NULL;
	}
	return g_steal_pointer (&self);
}

guint
da_authority_get_checks_in_flight (DaAuthority *self)
{
	g_return_val_if_fail (DA_IS_AUTHORITY (self), 0);
	return self->in_flight;
}

static gboolean
da_authority_take_slot (DaAuthority *self, const gchar *bus_name)
{
	guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_name, bus_name));

	if (self->in_flight >= DA_AUTHORITY_CHECKS_MAX || n >= DA_AUTHORITY_CHECKS_PER_NAME_MAX)
		return FALSE;
	g_hash_table_insert (self->per_name, g_strdup (bus_name), GUINT_TO_POINTER (n + 1));
	self->in_flight++;
	return TRUE;
}

static void
da_authority_release_slot (DaAuthority *self, const gchar *bus_name)
{
	guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_name, bus_name));

	g_return_if_fail (n > 0 && self->in_flight > 0);
	if (n == 1)
		g_hash_table_remove (self->per_name, bus_name);
	else
		g_hash_table_insert (self->per_name, g_strdup (bus_name), GUINT_TO_POINTER (n - 1));
	self->in_flight--;
}

/* What the caller wanted, for the error message. */
static gchar *
describe_action (const gchar *action_id, const gchar *account)
{
	const gchar *verb;

	if (g_strcmp0 (action_id, DA_ACTION_GET_TOKEN) == 0)
		verb = "get a token for";
	else if (g_strcmp0 (action_id, DA_ACTION_READ_STATUS) == 0)
		verb = "read the status of";
	else if (g_strcmp0 (action_id, DA_ACTION_LOGIN) == 0)
		verb = "sign in";
	else if (g_strcmp0 (action_id, DA_ACTION_LOGOUT) == 0)
		verb = "sign out";
	else
		return g_strdup_printf ("perform %s", action_id);
	if (account == NULL || account[0] == '\0')
		return g_strdup_printf ("%s the default account", verb);
	return g_strdup_printf ("%s account '%s'", verb, account);
}

/* polkitd is not on the bus and cannot be activated */
static gboolean
polkit_is_absent (const GError *error)
{
	return g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
	       g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
	       (error->domain == G_DBUS_ERROR && error->code >= G_DBUS_ERROR_SPAWN_EXEC_FAILED &&
		error->code <= G_DBUS_ERROR_SPAWN_FILE_INVALID);
}

static void
da_authority_check_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK (user_data);
	DaCheck *check = g_task_get_task_data (task);
	g_autoptr(PolkitAuthorizationResult) result = NULL;
	g_autoptr(GError) error = NULL;

	da_authority_release_slot (check->authority, check->bus_name);
	result = polkit_authority_check_authorization_finish (POLKIT_AUTHORITY (source), res, &error);
	if (result == NULL) {
		gboolean cancelled;

		/* no polkit on this system (or it cannot be started): nobody
		 * it would have to vouch for is authorized, like systemd does */
		if (polkit_is_absent (error)) {
			g_task_return_new_error (task, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
						 "not authorized to %s: polkit is not available "
						 "to authorize this caller",
						 check->what);
			return;
		}
		g_dbus_error_strip_remote_error (error);
		cancelled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
			    g_error_matches (error, POLKIT_ERROR, POLKIT_ERROR_CANCELLED);
		g_task_return_new_error (task, DA_ERROR,
					 cancelled ? DA_ERROR_CANCELLED : DA_ERROR_INTERNAL,
					 "cannot check whether the caller may %s: %s", check->what,
					 error->message);
		return;
	}
	if (polkit_authorization_result_get_is_authorized (result)) {
		g_task_return_boolean (task, TRUE);
		return;
	}
	if (polkit_authorization_result_get_is_challenge (result)) {
		g_task_return_new_error (task, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
					 "not authorized to %s: authentication is required",
					 check->what);
		return;
	}
	g_task_return_new_error (task, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
				 "not authorized to %s", check->what);
}

static PolkitDetails *
make_details (const gchar *account, const gchar *app_id)
{
	PolkitDetails *details = polkit_details_new ();

	if (account != NULL)
		polkit_details_insert (details, "account", account);
	if (app_id != NULL)
		polkit_details_insert (details, "app-id", app_id);
	return details;
}

/* Asks polkit whether the peer @bus_name may do @action_id on @account,
 * with details "account" and "app-id" for rules to look at. Fails at once
 * with DA_ERROR_RATE_LIMITED when too many checks are in flight. */
void
da_authority_check_async (DaAuthority *self,
			  const gchar *bus_name,
			  const gchar *action_id,
			  const gchar *account,
			  const gchar *app_id,
			  gboolean allow_interaction,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(PolkitSubject) subject = NULL;
	g_autoptr(PolkitDetails) details = NULL;
	PolkitCheckAuthorizationFlags flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;
	DaCheck *check;

	g_return_if_fail (DA_IS_AUTHORITY (self));
	g_return_if_fail (bus_name != NULL && g_dbus_is_unique_name (bus_name));
	g_return_if_fail (action_id != NULL);

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, da_authority_check_async);
	check = g_new0 (DaCheck, 1);
	check->authority = self;
	check->bus_name = g_strdup (bus_name);
	check->what = describe_action (action_id, account);
	g_task_set_task_data (task, check, (GDestroyNotify) da_check_free);

	if (!da_authority_take_slot (self, bus_name)) {
		g_task_return_new_error (task, DA_ERROR, DA_ERROR_RATE_LIMITED,
					 "too many authorization checks in flight: cannot %s now",
					 check->what);
		return;
	}
	subject = polkit_system_bus_name_new (bus_name);
	details = make_details (account, app_id);
	if (allow_interaction)
		flags |= POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;
	polkit_authority_check_authorization (self->authority, subject, action_id, details, flags,
					      cancellable, da_authority_check_cb,
					      g_steal_pointer (&task));
}

/* TRUE when authorized; otherwise FALSE with DA_ERROR_PERMISSION_DENIED,
 * DA_ERROR_RATE_LIMITED, DA_ERROR_CANCELLED or DA_ERROR_INTERNAL. */
gboolean
da_authority_check_finish (DaAuthority *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), FALSE);
	g_return_val_if_fail (g_task_get_source_tag (G_TASK (res)) == da_authority_check_async,
			      FALSE);

	return g_task_propagate_boolean (G_TASK (res), error);
}
