/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <dlfcn.h>
#include <polkit/polkit.h>

#include "da-authority.h"
#include "da-error.h"

/* libpolkit-gobject-1 is opened on the first check that needs it, never at
 * start: it links libsystemd, and with it gcrypt, gpg-error, lzma, zstd, lz4
 * and cap, about 130 KiB of private dirty pages in a daemon whose callers
 * are often root or in [Access] only (docs/architecture.md). We are built
 * against its headers and take what we call from it with dlsym(). */
#define DA_POLKIT_LIBRARY "libpolkit-gobject-1.so.0"

/* after polkit could not be reached, checks are refused at once for this
 * long before it is tried again (each try may make the bus spawn polkitd) */
#define DA_AUTHORITY_RETRY_USEC (10 * G_USEC_PER_SEC)

#define DA_POLKIT_SYMBOL(name) static typeof (name) *sym_##name
DA_POLKIT_SYMBOL (polkit_authority_get_async);
DA_POLKIT_SYMBOL (polkit_authority_get_finish);
DA_POLKIT_SYMBOL (polkit_authority_check_authorization);
DA_POLKIT_SYMBOL (polkit_authority_check_authorization_finish);
DA_POLKIT_SYMBOL (polkit_authorization_result_get_is_authorized);
DA_POLKIT_SYMBOL (polkit_authorization_result_get_is_challenge);
DA_POLKIT_SYMBOL (polkit_system_bus_name_new);
DA_POLKIT_SYMBOL (polkit_unix_process_new_for_owner);
DA_POLKIT_SYMBOL (polkit_details_new);
DA_POLKIT_SYMBOL (polkit_details_insert);
DA_POLKIT_SYMBOL (polkit_error_quark);

/* clang-format off */
#define DA_POLKIT_SYMBOL_ENTRY(name) {#name, (gpointer *) &sym_##name}
/* clang-format on */
static const struct {
	const gchar *name;
	gpointer *where;
} polkit_symbols[] = {
	DA_POLKIT_SYMBOL_ENTRY (polkit_authority_get_async),
	DA_POLKIT_SYMBOL_ENTRY (polkit_authority_get_finish),
	DA_POLKIT_SYMBOL_ENTRY (polkit_authority_check_authorization),
	DA_POLKIT_SYMBOL_ENTRY (polkit_authority_check_authorization_finish),
	DA_POLKIT_SYMBOL_ENTRY (polkit_authorization_result_get_is_authorized),
	DA_POLKIT_SYMBOL_ENTRY (polkit_authorization_result_get_is_challenge),
	DA_POLKIT_SYMBOL_ENTRY (polkit_system_bus_name_new),
	DA_POLKIT_SYMBOL_ENTRY (polkit_unix_process_new_for_owner),
	DA_POLKIT_SYMBOL_ENTRY (polkit_details_new),
	DA_POLKIT_SYMBOL_ENTRY (polkit_details_insert),
	DA_POLKIT_SYMBOL_ENTRY (polkit_error_quark),
};

/* Opens the library and finds every symbol, once per process (main thread
 * only). Once it worked the library stays: it has registered its GTypes. */
static gboolean
load_polkit (GError **error)
{
	static gboolean tried = FALSE;
	static gchar *failure = NULL; /* why it cannot be used */
	gpointer handle;

	if (!tried) {
		tried = TRUE;
		handle = dlopen (DA_POLKIT_LIBRARY, RTLD_NOW | RTLD_LOCAL);
		if (handle == NULL)
			failure = g_strdup_printf ("cannot load %s", dlerror ());
		for (gsize i = 0; handle != NULL && i < G_N_ELEMENTS (polkit_symbols); i++) {
			*polkit_symbols[i].where = dlsym (handle, polkit_symbols[i].name);
			if (*polkit_symbols[i].where == NULL) {
				failure = g_strdup_printf ("%s has no %s", DA_POLKIT_LIBRARY,
							   polkit_symbols[i].name);
				for (gsize j = 0; j < G_N_ELEMENTS (polkit_symbols); j++)
					*polkit_symbols[j].where = NULL;
				dlclose (handle);
				handle = NULL;
			}
		}
		if (failure == NULL)
			g_debug ("loaded %s", DA_POLKIT_LIBRARY);
	}
	if (failure != NULL) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, failure);
		return FALSE;
	}
	return TRUE;
}

struct _DaAuthority {
	GObject parent_instance;
	PolkitAuthority *authority; /* NULL until polkit is reached */
	gboolean getting;	    /* polkit_authority_get_async() in flight */
	GQueue waiting;		    /* GTasks of the checks waiting for it */
	gint64 failed_at;	    /* monotonic time of the last failure to reach it, or 0 */
	gboolean warned;	    /* that polkit is not available */
	GHashTable *per_name;	    /* caller key → checks in flight (GUINT_TO_POINTER) */
	guint in_flight;
};

static void
da_authority_authorizer_init (DaAuthorizerInterface *iface);

G_DEFINE_TYPE_WITH_CODE (DaAuthority,
			 da_authority,
			 G_TYPE_OBJECT,
			 G_IMPLEMENT_INTERFACE (DA_TYPE_AUTHORIZER, da_authority_authorizer_init))

/* One check, from da_authority_check_async() until it completes (waiting
 * for polkit to be reached included): holds its slot until then. */
typedef struct {
	DaAuthority *authority; /* the GTask's source object */
	gchar *key;		/* the bus name, else "pid:<N>" */
	gchar *bus_name;	/* NULL: a process, by pid and uid */
	guint32 pid;
	guint32 uid;
	gchar *action_id;
	gchar *account;
	gchar *app_id;
	PolkitCheckAuthorizationFlags flags;
	gchar *what; /* "get a token for account 'tv'" */
	gboolean holds_slot;
} DaCheck;

static void
da_check_free (DaCheck *check)
{
	g_free (check->key);
	g_free (check->bus_name);
	g_free (check->action_id);
	g_free (check->account);
	g_free (check->app_id);
	g_free (check->what);
	g_free (check);
}

static void
da_authority_finalize (GObject *object)
{
	DaAuthority *self = DA_AUTHORITY (object);

	/* every waiting check holds a reference to us */
	g_warn_if_fail (g_queue_is_empty (&self->waiting));
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
	g_queue_init (&self->waiting);
	self->per_name = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/* Cheap: polkit is loaded and reached on the first check that needs it. */
DaAuthority *
da_authority_new (void)
{
	return g_object_new (DA_TYPE_AUTHORITY, NULL);
}

guint
da_authority_get_checks_in_flight (DaAuthority *self)
{
	g_return_val_if_fail (DA_IS_AUTHORITY (self), 0);
	return self->in_flight;
}

static gboolean
da_authority_take_slot (DaAuthority *self, DaCheck *check)
{
	guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_name, check->key));

	if (self->in_flight >= DA_AUTHORITY_CHECKS_MAX || n >= DA_AUTHORITY_CHECKS_PER_NAME_MAX)
		return FALSE;
	g_hash_table_insert (self->per_name, g_strdup (check->key), GUINT_TO_POINTER (n + 1));
	self->in_flight++;
	check->holds_slot = TRUE;
	return TRUE;
}

static void
da_authority_release_slot (DaAuthority *self, DaCheck *check)
{
	guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_name, check->key));

	if (!check->holds_slot)
		return;
	check->holds_slot = FALSE;
	g_return_if_fail (n > 0 && self->in_flight > 0);
	if (n == 1)
		g_hash_table_remove (self->per_name, check->key);
	else
		g_hash_table_insert (self->per_name, g_strdup (check->key),
				     GUINT_TO_POINTER (n - 1));
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

/* the library is missing, or polkit could not be reached */
static void
da_check_fail_unavailable (GTask *task)
{
	DaCheck *check = g_task_get_task_data (task);

	da_authority_release_slot (check->authority, check);
	g_task_return_new_error (task, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
				 "not authorized (polkit is not available)");
	g_object_unref (task);
}

static void
da_authority_check_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK (user_data);
	DaCheck *check = g_task_get_task_data (task);
	g_autoptr(PolkitAuthorizationResult) result = NULL;
	g_autoptr(GError) error = NULL;

	da_authority_release_slot (check->authority, check);
	result = sym_polkit_authority_check_authorization_finish ((PolkitAuthority *) source, res,
								  &error);
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
		cancelled =
			g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
			g_error_matches (error, sym_polkit_error_quark (), POLKIT_ERROR_CANCELLED);
		g_task_return_new_error (
			task, DA_ERROR, cancelled ? DA_ERROR_CANCELLED : DA_ERROR_INTERNAL,
			"cannot check whether the caller may %s: %s", check->what, error->message);
		return;
	}
	if (sym_polkit_authorization_result_get_is_authorized (result)) {
		g_task_return_boolean (task, TRUE);
		return;
	}
	if (sym_polkit_authorization_result_get_is_challenge (result)) {
		g_task_return_new_error (task, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
					 "not authorized to %s: authentication is required",
					 check->what);
		return;
	}
	g_task_return_new_error (task, DA_ERROR, DA_ERROR_PERMISSION_DENIED, "not authorized to %s",
				 check->what);
}

/* Takes @task; polkit has been reached. */
static void
da_check_start (GTask *task)
{
	DaCheck *check = g_task_get_task_data (task);
	DaAuthority *self = check->authority;
	g_autoptr(PolkitSubject) subject = NULL;
	g_autoptr(PolkitDetails) details = NULL;
	g_autoptr(GError) error = NULL;

	/* cancelled while it waited for polkit */
	if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task), &error)) {
		da_authority_release_slot (self, check);
		g_task_return_new_error (task, DA_ERROR, DA_ERROR_CANCELLED,
					 "cannot check whether the caller may %s: %s", check->what,
					 error->message);
		g_object_unref (task);
		return;
	}
	if (check->bus_name != NULL)
		subject = sym_polkit_system_bus_name_new (check->bus_name);
	else
		/* start time 0: polkit reads it from /proc, and polkitd
		 * refuses a subject whose process is gone or was replaced */
		subject = sym_polkit_unix_process_new_for_owner ((gint) check->pid, 0,
								 (gint) check->uid);
	details = sym_polkit_details_new ();
	if (check->account != NULL)
		sym_polkit_details_insert (details, "account", check->account);
	if (check->app_id != NULL)
		sym_polkit_details_insert (details, "app-id", check->app_id);
	sym_polkit_authority_check_authorization (
		self->authority, subject, check->action_id, details, check->flags,
		g_task_get_cancellable (task), da_authority_check_cb, task);
}

static void
da_authority_got_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaAuthority) self = DA_AUTHORITY (user_data);
	g_autoptr(GError) error = NULL;
	GTask *task;

	self->getting = FALSE;
	self->authority = sym_polkit_authority_get_finish (res, &error);
	if (self->authority == NULL) {
		self->failed_at = g_get_monotonic_time ();
		if (!self->warned)
			g_warning ("polkit is not available, only root and the callers in [Access] "
				   "are served: cannot reach polkit: %s",
				   error->message);
		else
			g_debug ("cannot reach polkit: %s", error->message);
		self->warned = TRUE;
	} else {
		g_debug ("polkit reached");
	}
	/* each is taken off the queue before it completes: a callback may
	 * start another check */
	while ((task = g_queue_pop_head (&self->waiting)) != NULL) {
		if (self->authority != NULL)
			da_check_start (task);
		else
			da_check_fail_unavailable (task);
	}
}

/* Takes @task; polkit has not been reached yet. */
static void
da_authority_wait (DaAuthority *self, GTask *task)
{
	g_autoptr(GError) error = NULL;

	if (!load_polkit (&error)) {
		if (!self->warned)
			g_warning ("polkit is not available, only root and the callers in [Access] "
				   "are served: %s",
				   error->message);
		self->warned = TRUE;
		da_check_fail_unavailable (task);
		return;
	}
	if (!self->getting && self->failed_at != 0 &&
	    g_get_monotonic_time () - self->failed_at < DA_AUTHORITY_RETRY_USEC) {
		da_check_fail_unavailable (task);
		return;
	}
	/* every check that comes meanwhile waits for the same one */
	g_queue_push_tail (&self->waiting, task);
	if (self->getting)
		return;
	self->getting = TRUE;
	/* polkit makes its proxy in a worker thread: nothing blocks here */
	sym_polkit_authority_get_async (NULL, da_authority_got_cb, g_object_ref (self));
}

/* Asks polkit whether @caller may do @action_id on @account, with details
 * "account" and "app-id" for rules to look at; the subject is the caller's
 * bus name, or its process (pid and uid) when it has none. Fails at once
 * with DA_ERROR_RATE_LIMITED when too many checks are in flight. */
void
da_authority_check_async (DaAuthority *self,
			  const DaCaller *caller,
			  const gchar *action_id,
			  const gchar *account,
			  const gchar *app_id,
			  gboolean allow_interaction,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	DaCheck *check;

	g_return_if_fail (DA_IS_AUTHORITY (self));
	g_return_if_fail (caller != NULL);
	g_return_if_fail (caller->bus_name == NULL || g_dbus_is_unique_name (caller->bus_name));
	g_return_if_fail (action_id != NULL);

	task = g_task_new (self, cancellable, callback, user_data);
	g_task_set_source_tag (task, da_authority_check_async);
	check = g_new0 (DaCheck, 1);
	check->authority = self;
	check->bus_name = g_strdup (caller->bus_name);
	check->key = caller->bus_name != NULL ? g_strdup (caller->bus_name)
					      : g_strdup_printf ("pid:%u", caller->pid);
	check->pid = caller->pid;
	check->uid = caller->uid;
	check->action_id = g_strdup (action_id);
	check->account = g_strdup (account);
	check->app_id = g_strdup (app_id);
	check->flags = allow_interaction ? POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION
					 : POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;
	check->what = describe_action (action_id, account);
	g_task_set_task_data (task, check, (GDestroyNotify) da_check_free);

	/* a process polkit could not tell from any other */
	if (caller->bus_name == NULL && caller->pid == 0) {
		g_task_return_new_error (task, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
					 "not authorized to %s: the caller's process is not known",
					 check->what);
		return;
	}
	if (!da_authority_take_slot (self, check)) {
		g_task_return_new_error (task, DA_ERROR, DA_ERROR_RATE_LIMITED,
					 "too many authorization checks in flight: cannot %s now",
					 check->what);
		return;
	}
	if (self->authority != NULL)
		da_check_start (g_steal_pointer (&task));
	else
		da_authority_wait (self, g_steal_pointer (&task));
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

static void
authorizer_check_async (DaAuthorizer *authorizer,
			const DaCaller *caller,
			const gchar *action_id,
			const gchar *account,
			gboolean allow_interaction,
			GCancellable *cancellable,
			GAsyncReadyCallback callback,
			gpointer user_data)
{
	da_authority_check_async (DA_AUTHORITY (authorizer), caller, action_id, account,
				  caller->app_id, allow_interaction, cancellable, callback,
				  user_data);
}

static gboolean
authorizer_check_finish (DaAuthorizer *authorizer, GAsyncResult *res, GError **error)
{
	return da_authority_check_finish (DA_AUTHORITY (authorizer), res, error);
}

static void
da_authority_authorizer_init (DaAuthorizerInterface *iface)
{
	iface->check_async = authorizer_check_async;
	iface->check_finish = authorizer_check_finish;
}
