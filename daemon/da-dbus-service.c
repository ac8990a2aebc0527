/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "da-dbus-generated.h"
#include "da-dbus-service.h"
#include "da-error.h"

struct _DaService {
	GObject parent_instance;
	DaManager *manager;
	DaDBusManager *skeleton;
	GDBusObjectManagerServer *object_manager;
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
	g_dbus_method_invocation_return_gerror (invocation, error);
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
			g_set_error (error, DA_ERROR, DA_ERROR_INVALID_ARGUMENT, "unknown option '%s'",
				     key);
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

typedef struct {
	DaService *self;
	GDBusMethodInvocation *invocation;
	gboolean as_fd;
} DaCall;

static DaCall *
da_call_new (DaService *self, GDBusMethodInvocation *invocation, gboolean as_fd)
{
	DaCall *call = g_new0 (DaCall, 1);
	call->self = g_object_ref (self);
	call->invocation = g_object_ref (invocation);
	call->as_fd = as_fd;
	return call;
}

static void
da_call_free (DaCall *call)
{
	g_object_unref (call->self);
	g_object_unref (call->invocation);
	g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaCall, da_call_free)

static void
get_token_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaCall) call = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(DaToken) token = NULL;

	token = da_account_get_token_finish (DA_ACCOUNT (source), res, &error);
	if (token == NULL) {
		return_error (call->invocation, g_steal_pointer (&error));
		return;
	}
	complete_get_token (call->self->skeleton, call->invocation, call->as_fd, token);
}

static gboolean
handle_get_token_common (DaService *self,
			 GDBusMethodInvocation *invocation,
			 const gchar *name,
			 GVariant *options,
			 gboolean as_fd)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaToken) cached = NULL;
	DaAccount *account;
	guint min_validity = 0;

	if (!parse_token_options (options, &min_validity, &error))
		return return_error (invocation, g_steal_pointer (&error));
	account = da_manager_lookup (self->manager, name, &error);
	if (account == NULL)
		return return_error (invocation, g_steal_pointer (&error));
	/* the hot path: no task, no allocation beyond the reply */
	cached = da_account_get_cached_token (account, min_validity);
	if (cached != NULL) {
		complete_get_token (self->skeleton, invocation, as_fd, cached);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	da_account_get_token_async (account, min_validity, NULL, get_token_cb,
				    da_call_new (self, invocation, as_fd));
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

static void
login_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaCall) call = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) prompt = NULL;

	prompt = da_account_login_finish (DA_ACCOUNT (source), res, &error);
	if (prompt == NULL) {
		return_error (call->invocation, g_steal_pointer (&error));
		return;
	}
	da_dbus_manager_complete_login (call->self->skeleton, call->invocation, prompt);
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
	da_account_login_async (account, NULL, login_cb, da_call_new (self, invocation, FALSE));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_cancel_login (DaDBusManager *skeleton,
		     GDBusMethodInvocation *invocation,
		     const gchar *name,
		     DaService *self)
{
	g_autoptr(GError) error = NULL;
	DaAccount *account = da_manager_lookup (self->manager, name, &error);

	if (account == NULL || !da_account_cancel_login (account, &error))
		return return_error (invocation, g_steal_pointer (&error));
	da_dbus_manager_complete_cancel_login (skeleton, invocation);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
logout_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaCall) call = user_data;
	g_autoptr(GError) error = NULL;

	if (!da_account_logout_finish (DA_ACCOUNT (source), res, &error)) {
		return_error (call->invocation, g_steal_pointer (&error));
		return;
	}
	da_dbus_manager_complete_logout (call->self->skeleton, call->invocation);
}

static gboolean
handle_logout (DaDBusManager *skeleton,
	       GDBusMethodInvocation *invocation,
	       const gchar *name,
	       DaService *self)
{
	g_autoptr(GError) error = NULL;
	DaAccount *account = da_manager_lookup (self->manager, name, &error);

	if (account == NULL)
		return return_error (invocation, g_steal_pointer (&error));
	da_account_logout_async (account, NULL, logout_cb, da_call_new (self, invocation, FALSE));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
refresh_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaCall) call = user_data;
	g_autoptr(GError) error = NULL;

	if (!da_account_refresh_finish (DA_ACCOUNT (source), res, &error)) {
		return_error (call->invocation, g_steal_pointer (&error));
		return;
	}
	da_dbus_manager_complete_refresh (call->self->skeleton, call->invocation);
}

static gboolean
handle_refresh (DaDBusManager *skeleton,
		GDBusMethodInvocation *invocation,
		const gchar *name,
		DaService *self)
{
	g_autoptr(GError) error = NULL;
	DaAccount *account = da_manager_lookup (self->manager, name, &error);

	if (account == NULL)
		return return_error (invocation, g_steal_pointer (&error));
	da_account_refresh_async (account, NULL, refresh_cb, da_call_new (self, invocation, FALSE));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
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

	if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->skeleton), connection,
					       DA_MANAGER_OBJECT_PATH, error))
		return FALSE;
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

	if (self->skeleton != NULL)
		g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->skeleton));
	g_clear_object (&self->skeleton);
	g_clear_object (&self->object_manager);
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
