/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "da-authority.h"
#include "da-bus-callers.h"
#include "da-dbus-generated.h"
#include "da-dbus-service.h"
#include "da-error.h"

/* a caller may have this many sign-ins running at once */
#define DA_FLOWS_PER_CALLER_MAX 4

struct _DaService {
	GObject parent_instance;
	DaManager *manager;
	DaDBusManager *skeleton;
	GDBusObjectManagerServer *object_manager;
	DaBusCallers *callers;
	DaAuthority *authority; /* NULL: polkit unavailable, only root and [Access] */
	GHashTable *flow_owners; /* account name → GHashTable set of bus names */
};

G_DEFINE_TYPE (DaService, da_service, G_TYPE_OBJECT)

static void
register_errors (void)
{
	static gsize once = 0;

	if (!g_once_init_enter (&once))
		return;
	for (guint code = 0; code < DA_ERROR_LAST; code++)
		g_dbus_error_register_error (DA_ERROR, (gint) code, da_error_to_dbus_name (code));
	g_once_init_leave (&once, 1);
}

static gboolean
return_error (GDBusMethodInvocation *invocation, GError *error)
{
	da_error_convert (&error);
	g_dbus_method_invocation_take_error (invocation, error);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- options ---- */

static gboolean
parse_token_options (GVariant *options, guint *min_validity, GError **error)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	*min_validity = DA_GET_TOKEN_MIN_VALIDITY_DEFAULT;
	g_variant_iter_init (&iter, options);
	while (g_variant_iter_next (&iter, "{&sv}", &key, &value)) {
		g_autoptr(GVariant) owned = value;
		if (g_strcmp0 (key, "min-validity") != 0) {
			g_set_error (error, DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
				     "unknown option '%.64s'", key);
			return FALSE;
		}
		if (!g_variant_is_of_type (owned, G_VARIANT_TYPE_UINT32)) {
			g_set_error (error, DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
				     "option 'min-validity' must be of type u, not %s",
				     g_variant_get_type_string (owned));
			return FALSE;
		}
		*min_validity = g_variant_get_uint32 (owned);
		if (*min_validity > DA_GET_TOKEN_MIN_VALIDITY_MAX) {
			g_set_error (error, DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
				     "option 'min-validity' must be at most %d seconds",
				     DA_GET_TOKEN_MIN_VALIDITY_MAX);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
check_no_options (GVariant *options, GError **error)
{
	if (g_variant_n_children (options) == 0)
		return TRUE;
	g_set_error_literal (error, DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
			     "this method takes no options yet");
	return FALSE;
}

/* ---- tokens ---- */

static GVariant *
token_info (const DaToken *token)
{
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

	g_variant_builder_add (&b, "{sv}", "expires-at", g_variant_new_int64 (token->expires_at));
	g_variant_builder_add (&b, "{sv}", "token-type",
			       g_variant_new_string (token->token_type != NULL ? token->token_type
									: "Bearer"));
	if (token->scope != NULL)
		g_variant_builder_add (&b, "{sv}", "scope", g_variant_new_string (token->scope));
	return g_variant_builder_end (&b);
}

/* The token in a sealed memfd: no bus monitor or message dump sees it. */
static gint
token_memfd (const gchar *token, GError **error)
{
	gsize len = strlen (token);
	gsize done = 0;
	gint fd;

	fd = memfd_create ("devauthd-token", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		g_set_error (error, DA_ERROR, DA_ERROR_INTERNAL, "memfd_create: %s", g_strerror (errno));
		return -1;
	}
	while (done < len) {
		gssize n = write (fd, token + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g_set_error (error, DA_ERROR, DA_ERROR_INTERNAL, "memfd write: %s",
				     g_strerror (errno));
			close (fd);
			return -1;
		}
		done += (gsize) n;
	}
	if (fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
	    lseek (fd, 0, SEEK_SET) < 0) {
		g_set_error (error, DA_ERROR, DA_ERROR_INTERNAL, "memfd seal: %s", g_strerror (errno));
		close (fd);
		return -1;
	}
	return fd;
}

static void
complete_get_token (DaDBusManager *skeleton,
		    GDBusMethodInvocation *invocation,
		    gboolean as_fd,
		    const DaToken *token)
{
	g_autoptr(GUnixFDList) fd_list = NULL;
	g_autoptr(GError) error = NULL;
	gint fd;

	if (!as_fd) {
		da_dbus_manager_complete_get_token (skeleton, invocation, token->token,
						    token_info (token));
		return;
	}
	fd = token_memfd (token->token, &error);
	if (fd < 0) {
		return_error (invocation, g_steal_pointer (&error));
		return;
	}
	fd_list = g_unix_fd_list_new_from_array (&fd, 1);
	da_dbus_manager_complete_get_token_fd (skeleton, invocation, fd_list,
					       g_variant_new_handle (0), token_info (token));
}

/* ---- requests: who is calling, may they, then the work ---- */

typedef struct _DaRequest DaRequest;
typedef void (*DaRequestFunc) (DaRequest *req);

struct _DaRequest {
	DaService *self;
	GDBusMethodInvocation *invocation;
	DaAccount *account;
	const gchar *action; /* polkit action */
	DaRequestFunc run;   /* the work, once authorized */
	gboolean as_fd;
	guint min_validity;
};

static DaRequest *
da_request_new (DaService *self,
		GDBusMethodInvocation *invocation,
		DaAccount *account,
		const gchar *action,
		DaRequestFunc run)
{
	DaRequest *req = g_new0 (DaRequest, 1);

	req->self = g_object_ref (self);
	req->invocation = g_object_ref (invocation);
	req->account = g_object_ref (account);
	req->action = action;
	req->run = run;
	return req;
}

static void
da_request_free (DaRequest *req)
{
	g_object_unref (req->self);
	g_object_unref (req->invocation);
	g_object_unref (req->account);
	g_free (req);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaRequest, da_request_free)

static const gchar *
da_request_sender (DaRequest *req)
{
	return g_dbus_method_invocation_get_sender (req->invocation);
}

static void
da_request_fail (DaRequest *req, GError *error)
{
	return_error (req->invocation, error);
	da_request_free (req);
}

static void
da_request_authority_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	DaRequest *req = user_data;
	g_autoptr(GError) error = NULL;

	if (!da_authority_check_finish (DA_AUTHORITY (source), res, &error)) {
		g_debug ("%s refused for %s: %s", req->action, da_request_sender (req), error->message);
		da_request_fail (req, g_steal_pointer (&error));
		return;
	}
	req->run (req);
}

/* root; then the account's [Access] for tokens; then polkit */
static void
da_request_authorize (DaRequest *req, const DaCaller *caller)
{
	GDBusMessage *msg = g_dbus_method_invocation_get_message (req->invocation);
	gboolean interactive = (g_dbus_message_get_flags (msg) &
				G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;

	if (caller->uid == 0 ||
	    (g_strcmp0 (req->action, DA_ACTION_GET_TOKEN) == 0 &&
	     da_caller_is_allowed_by_config (caller, da_account_get_config (req->account)))) {
		req->run (req);
		return;
	}
	if (req->self->authority == NULL) {
		da_request_fail (req, g_error_new (DA_ERROR, DA_ERROR_PERMISSION_DENIED,
						   "not authorized (polkit is not available)"));
		return;
	}
	da_authority_check_async (req->self->authority, da_request_sender (req), req->action,
				  da_account_get_name (req->account), caller->app_id, interactive, NULL,
				  da_request_authority_cb, req);
}

static void
da_request_resolved_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	DaRequest *req = user_data;
	g_autoptr(GError) error = NULL;
	const DaCaller *caller;

	caller = da_bus_callers_resolve_finish (DA_BUS_CALLERS (source), res, &error);
	if (caller == NULL) {
		g_message ("%s", error->message);
		da_request_fail (req, g_steal_pointer (&error));
		return;
	}
	da_request_authorize (req, caller);
}

/* Takes @req; runs it once the caller is known and allowed. */
static void
da_request_start (DaRequest *req)
{
	const DaCaller *caller = da_bus_callers_lookup (req->self->callers, da_request_sender (req));

	if (caller != NULL) {
		da_request_authorize (req, caller);
		return;
	}
	da_bus_callers_resolve_async (req->self->callers, da_request_sender (req),
				      da_request_resolved_cb, req);
}

/* ---- tokens ---- */

static void
get_token_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaRequest) req = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(DaToken) token = NULL;

	token = da_account_get_token_finish (DA_ACCOUNT (source), res, &error);
	if (token == NULL) {
		return_error (req->invocation, g_steal_pointer (&error));
		return;
	}
	complete_get_token (req->self->skeleton, req->invocation, req->as_fd, token);
}

static void
run_get_token (DaRequest *req)
{
	g_autoptr(DaToken) cached = da_account_get_cached_token (req->account, req->min_validity);

	if (cached != NULL) {
		complete_get_token (req->self->skeleton, req->invocation, req->as_fd, cached);
		da_request_free (req);
		return;
	}
	da_account_get_token_async (req->account, req->min_validity, NULL, get_token_cb, req);
}

static gboolean
handle_get_token_common (DaService *self,
			 GDBusMethodInvocation *invocation,
			 const gchar *name,
			 GVariant *options,
			 gboolean as_fd)
{
	g_autoptr(GError) error = NULL;
	const gchar *sender = g_dbus_method_invocation_get_sender (invocation);
	DaAccount *account;
	DaRequest *req;
	guint min_validity = 0;

	if (!parse_token_options (options, &min_validity, &error))
		return return_error (invocation, g_steal_pointer (&error));
	account = da_manager_lookup (self->manager, name, &error);
	if (account == NULL)
		return return_error (invocation, g_steal_pointer (&error));
	if (!da_bus_callers_take_token (self->callers, sender))
		return return_error (invocation,
				     g_error_new (DA_ERROR, DA_ERROR_RATE_LIMITED,
						  "too many token requests; slow down"));
	req = da_request_new (self, invocation, account, DA_ACTION_GET_TOKEN, run_get_token);
	req->as_fd = as_fd;
	req->min_validity = min_validity;
	da_request_start (req);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_token (DaDBusManager *skeleton,
		  GDBusMethodInvocation *invocation,
		  const gchar *name,
		  GVariant *options,
		  DaService *self)
{
	return handle_get_token_common (self, invocation, name, options, FALSE);
}

static gboolean
handle_get_token_fd (DaDBusManager *skeleton,
		     GDBusMethodInvocation *invocation,
		     GUnixFDList *fd_list,
		     const gchar *name,
		     GVariant *options,
		     DaService *self)
{
	return handle_get_token_common (self, invocation, name, options, TRUE);
}

/* ---- sign-in ---- */

/* Who waits on each account's flow: a flow whose callers all left the bus
 * is cancelled, unless the device itself (AutoLogin) started it. */
static GHashTable *
flow_owners_of (DaService *self, const gchar *account_name, gboolean create)
{
	GHashTable *owners = g_hash_table_lookup (self->flow_owners, account_name);

	if (owners == NULL && create) {
		owners = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
		g_hash_table_insert (self->flow_owners, g_strdup (account_name), owners);
	}
	return owners;
}

static guint
flows_of_caller (DaService *self, const gchar *sender)
{
	GHashTableIter iter;
	gpointer value;
	guint n = 0;

	g_hash_table_iter_init (&iter, self->flow_owners);
	while (g_hash_table_iter_next (&iter, NULL, &value)) {
		if (g_hash_table_contains (value, sender))
			n++;
	}
	return n;
}

static void
login_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaRequest) req = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) prompt = NULL;

	prompt = da_account_login_finish (DA_ACCOUNT (source), res, &error);
	if (prompt == NULL) {
		GHashTable *owners = flow_owners_of (req->self, da_account_get_name (req->account), FALSE);
		if (owners != NULL)
			g_hash_table_remove (owners, da_request_sender (req));
		return_error (req->invocation, g_steal_pointer (&error));
		return;
	}
	da_dbus_manager_complete_login (req->self->skeleton, req->invocation, prompt);
}

static void
run_login (DaRequest *req)
{
	const gchar *sender = da_request_sender (req);
	GHashTable *owners = flow_owners_of (req->self, da_account_get_name (req->account), TRUE);

	if (!g_hash_table_contains (owners, sender) &&
	    flows_of_caller (req->self, sender) >= DA_FLOWS_PER_CALLER_MAX) {
		da_request_fail (req, g_error_new (DA_ERROR, DA_ERROR_RATE_LIMITED,
						   "this caller already waits on %d sign-ins",
						   DA_FLOWS_PER_CALLER_MAX));
		return;
	}
	g_hash_table_add (owners, g_strdup (sender));
	da_account_login_async (req->account, NULL, login_cb, req);
}

static gboolean
handle_login (DaDBusManager *skeleton,
	      GDBusMethodInvocation *invocation,
	      const gchar *name,
	      GVariant *options,
	      DaService *self)
{
	g_autoptr(GError) error = NULL;
	DaAccount *account;

	if (!check_no_options (options, &error))
		return return_error (invocation, g_steal_pointer (&error));
	account = da_manager_lookup (self->manager, name, &error);
	if (account == NULL)
		return return_error (invocation, g_steal_pointer (&error));
	da_request_start (da_request_new (self, invocation, account, DA_ACTION_LOGIN, run_login));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
run_cancel_login (DaRequest *req)
{
	g_autoptr(GError) error = NULL;

	if (!da_account_cancel_login (req->account, &error)) {
		da_request_fail (req, g_steal_pointer (&error));
		return;
	}
	da_dbus_manager_complete_cancel_login (req->self->skeleton, req->invocation);
	da_request_free (req);
}

static gboolean
lookup_and_start (DaService *self,
		  GDBusMethodInvocation *invocation,
		  const gchar *name,
		  const gchar *action,
		  DaRequestFunc run)
{
	g_autoptr(GError) error = NULL;
	DaAccount *account = da_manager_lookup (self->manager, name, &error);

	if (account == NULL)
		return return_error (invocation, g_steal_pointer (&error));
	da_request_start (da_request_new (self, invocation, account, action, run));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_cancel_login (DaDBusManager *skeleton,
		     GDBusMethodInvocation *invocation,
		     const gchar *name,
		     DaService *self)
{
	return lookup_and_start (self, invocation, name, DA_ACTION_LOGIN, run_cancel_login);
}

static void
logout_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaRequest) req = user_data;
	g_autoptr(GError) error = NULL;

	if (!da_account_logout_finish (DA_ACCOUNT (source), res, &error)) {
		return_error (req->invocation, g_steal_pointer (&error));
		return;
	}
	da_dbus_manager_complete_logout (req->self->skeleton, req->invocation);
}

static void
run_logout (DaRequest *req)
{
	da_account_logout_async (req->account, NULL, logout_cb, req);
}

static gboolean
handle_logout (DaDBusManager *skeleton,
	       GDBusMethodInvocation *invocation,
	       const gchar *name,
	       DaService *self)
{
	return lookup_and_start (self, invocation, name, DA_ACTION_LOGOUT, run_logout);
}

static void
refresh_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaRequest) req = user_data;
	g_autoptr(GError) error = NULL;

	if (!da_account_refresh_finish (DA_ACCOUNT (source), res, &error)) {
		return_error (req->invocation, g_steal_pointer (&error));
		return;
	}
	da_dbus_manager_complete_refresh (req->self->skeleton, req->invocation);
}

static void
run_refresh (DaRequest *req)
{
	da_account_refresh_async (req->account, NULL, refresh_cb, req);
}

static gboolean
handle_refresh (DaDBusManager *skeleton,
		GDBusMethodInvocation *invocation,
		const gchar *name,
		DaService *self)
{
	return lookup_and_start (self, invocation, name, DA_ACTION_LOGIN, run_refresh);
}

static void
caller_vanished_cb (DaBusCallers *callers, const gchar *bus_name, DaService *self)
{
	GHashTableIter iter;
	gpointer key;
	gpointer value;
	g_autoptr(GPtrArray) orphaned = g_ptr_array_new_with_free_func (g_free);

	g_hash_table_iter_init (&iter, self->flow_owners);
	while (g_hash_table_iter_next (&iter, &key, &value)) {
		if (g_hash_table_remove (value, bus_name) && g_hash_table_size (value) == 0)
			g_ptr_array_add (orphaned, g_strdup (key));
	}
	for (guint i = 0; i < orphaned->len; i++) {
		const gchar *name = g_ptr_array_index (orphaned, i);
		DaAccount *account = da_manager_lookup (self->manager, name, NULL);
		if (account == NULL || !da_account_cancel_login (account, NULL))
			continue;
		g_info ("account %s: the sign-in was cancelled: %s, who started it, left the bus", name,
			bus_name);
	}
}

/* ---- accounts ---- */

static gchar *
account_object_path (DaAccount *account)
{
	g_autofree gchar *escaped = g_dbus_escape_object_path (da_account_get_name (account));
	return g_strconcat (DA_MANAGER_OBJECT_PATH "/account/", escaped, NULL);
}

static gboolean
handle_list_accounts (DaDBusManager *skeleton, GDBusMethodInvocation *invocation, DaService *self)
{
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a(so)"));
	GPtrArray *accounts = da_manager_get_accounts (self->manager);

	for (guint i = 0; i < accounts->len; i++) {
		DaAccount *account = g_ptr_array_index (accounts, i);
		g_autofree gchar *path = account_object_path (account);
		g_variant_builder_add (&b, "(so)", da_account_get_name (account), path);
	}
	da_dbus_manager_complete_list_accounts (skeleton, invocation, g_variant_builder_end (&b));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
account_status_changed_cb (DaAccount *account, const gchar *state, GVariant *details, DaService *self)
{
	const gchar *name = da_account_get_name (account);

	if (g_strcmp0 (state, "awaiting-user") != 0) {
		g_hash_table_remove (self->flow_owners, name);
	} else {
		GHashTable *owners = flow_owners_of (self, name, TRUE);
		/* no bus caller asked for it: the device did (AutoLogin) */
		if (g_hash_table_size (owners) == 0)
			g_hash_table_add (owners, g_strdup ("(device)"));
	}
	da_dbus_manager_emit_status_changed (self->skeleton, da_account_get_name (account), state,
					     details);
}

static void
export_account (DaService *self, DaAccount *account)
{
	static const gchar *const bound[] = {
		"name", "issuer", "client-id", "scopes", "state", "subject",
		"access-token-expires-at", "login-expires-at", "last-error",
	};
	g_autofree gchar *path = account_object_path (account);
	g_autoptr(DaDBusObjectSkeleton) object = da_dbus_object_skeleton_new (path);
	g_autoptr(DaDBusAccount) iface = da_dbus_account_skeleton_new ();

	for (guint i = 0; i < G_N_ELEMENTS (bound); i++)
		g_object_bind_property (account, bound[i], iface, bound[i], G_BINDING_SYNC_CREATE);
	da_dbus_object_skeleton_set_account (object, iface);
	g_dbus_object_manager_server_export (self->object_manager, G_DBUS_OBJECT_SKELETON (object));
	g_signal_connect_object (account, "status-changed", G_CALLBACK (account_status_changed_cb),
				 self, 0);
}

gboolean
da_service_export (DaService *self, GDBusConnection *connection, GError **error)
{
	GPtrArray *accounts = da_manager_get_accounts (self->manager);

	g_autoptr(GError) error_local = NULL;

	if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->skeleton), connection,
					       DA_MANAGER_OBJECT_PATH, error))
		return FALSE;
	self->callers = da_bus_callers_new (
		connection, da_manager_get_config (self->manager)->token_requests_per_sec);
	g_signal_connect (self->callers, "vanished", G_CALLBACK (caller_vanished_cb), self);
	self->authority = da_authority_new (&error_local);
	if (self->authority == NULL)
		g_warning ("polkit is not available, only root and the callers in [Access] are "
			   "served: %s",
			   error_local->message);
	self->object_manager = g_dbus_object_manager_server_new (DA_MANAGER_OBJECT_PATH);
	for (guint i = 0; i < accounts->len; i++)
		export_account (self, g_ptr_array_index (accounts, i));
	g_dbus_object_manager_server_set_connection (self->object_manager, connection);
	return TRUE;
}

static void
da_service_finalize (GObject *object)
{
	DaService *self = DA_SERVICE (object);

	/* never exported when the bus could not be reached */
	if (self->skeleton != NULL &&
	    g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (self->skeleton)) != NULL)
		g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->skeleton));
	g_clear_object (&self->skeleton);
	g_clear_object (&self->object_manager);
	g_clear_object (&self->callers);
	g_clear_object (&self->authority);
	g_clear_pointer (&self->flow_owners, g_hash_table_unref);
	g_clear_object (&self->manager);
	G_OBJECT_CLASS (da_service_parent_class)->finalize (object);
}

static void
da_service_class_init (DaServiceClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = da_service_finalize;
}

static void
da_service_init (DaService *self)
{
	self->flow_owners = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
						   (GDestroyNotify) g_hash_table_unref);
}

DaService *
da_service_new (DaManager *manager)
{
	DaService *self = g_object_new (DA_TYPE_SERVICE, NULL);

	register_errors ();
	self->manager = g_object_ref (manager);
	self->skeleton = da_dbus_manager_skeleton_new ();
	da_dbus_manager_set_version (self->skeleton, PACKAGE_VERSION);
	g_signal_connect (self->skeleton, "handle-get-token", G_CALLBACK (handle_get_token), self);
	g_signal_connect (self->skeleton, "handle-get-token-fd", G_CALLBACK (handle_get_token_fd), self);
	g_signal_connect (self->skeleton, "handle-login", G_CALLBACK (handle_login), self);
	g_signal_connect (self->skeleton, "handle-cancel-login", G_CALLBACK (handle_cancel_login), self);
	g_signal_connect (self->skeleton, "handle-logout", G_CALLBACK (handle_logout), self);
	g_signal_connect (self->skeleton, "handle-refresh", G_CALLBACK (handle_refresh), self);
	g_signal_connect (self->skeleton, "handle-list-accounts", G_CALLBACK (handle_list_accounts),
			  self);
	return self;
}
