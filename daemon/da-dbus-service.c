/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The D-Bus front: the Manager interface. Who calls (da-bus-callers.c),
 * the call unpacked and handed to the pipeline, the answer packed; errors
 * as D-Bus error names; StatusChanged. The account objects are in
 * da-dbus-objects.c. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-clock.h"

#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "da-bus-callers.h"
#include "da-dbus-generated.h"
#include "da-dbus-objects.h"
#include "da-dbus-service.h"
#include "da-error.h"
#include "da-pipeline.h"

struct _DaService {
	GObject parent_instance;
	DaManager *manager;
	DaDBusManager *skeleton;
	GDBusConnection *connection; /* NULL until exported */
	DaBusObjects *objects;	     /* the accounts' objects, the ObjectManager */
	DaBusCallers *callers;
	DaPipeline *pipeline;
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

/* ---- tokens ---- */

static GVariant *
token_info (const DaToken *token)
{
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

	g_variant_builder_add (&b, "{sv}", "expires-at",
			       g_variant_new_int64 (da_clock_to_system_sec (token->expires_at)));
	g_variant_builder_add (
		&b, "{sv}", "token-type",
		g_variant_new_string (token->token_type != NULL ? token->token_type : "Bearer"));
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
		g_set_error (error, DA_ERROR, DA_ERROR_INTERNAL, "memfd_create: %s",
			     g_strerror (errno));
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
		g_set_error (error, DA_ERROR, DA_ERROR_INTERNAL, "memfd seal: %s",
			     g_strerror (errno));
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

/* ---- status: StatusChanged's details and Login's prompt ---- */

static void
add_string (GVariantBuilder *b, const gchar *key, const gchar *value)
{
	if (value != NULL)
		g_variant_builder_add (b, "{sv}", key, g_variant_new_string (value));
}

static GVariant *
status_details (const DaStatus *status)
{
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

	switch (status->kind) {
	case DA_STATUS_EMPTY:
		break;
	case DA_STATUS_PROMPT:
		add_string (&b, "account", status->account);
		add_string (&b, "user-code", status->user_code);
		add_string (&b, "verification-uri", status->verification_uri);
		add_string (&b, "verification-uri-complete", status->verification_uri_complete);
		g_variant_builder_add (&b, "{sv}", "expires-at",
				       g_variant_new_int64 (status->expires_at));
		g_variant_builder_add (&b, "{sv}", "interval",
				       g_variant_new_uint32 (status->interval));
		if (status->qr_modules != NULL) {
			g_variant_builder_add (&b, "{sv}", "qr-size",
					       g_variant_new_uint32 (status->qr_size));
			g_variant_builder_add (&b, "{sv}", "qr-modules",
					       g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING,
									 status->qr_modules, TRUE));
		}
		break;
	case DA_STATUS_SIGNED_IN:
		add_string (&b, "subject", status->subject);
		add_string (&b, "user-name", status->user_name);
		if (status->expires_at != 0)
			g_variant_builder_add (&b, "{sv}", "expires-at",
					       g_variant_new_int64 (status->expires_at));
		g_variant_builder_add (&b, "{sv}", "sign-in-expires-at",
				       g_variant_new_int64 (status->sign_in_expires_at));
		break;
	case DA_STATUS_FAILURE:
		add_string (&b, "error", status->error);
		add_string (&b, "error-description", status->error_description);
		break;
	}
	return g_variant_builder_end (&b);
}

/* ---- requests: who is calling, then the pipeline ---- */

typedef enum {
	BUS_GET_TOKEN,
	BUS_GET_TOKEN_FD,
	BUS_LOGIN,
	BUS_CANCEL_LOGIN,
	BUS_LOGOUT,
	BUS_REFRESH,
} DaBusMethod;

/* one method call, until the caller is known and the pipeline is called */
typedef struct {
	DaService *self;
	GDBusMethodInvocation *invocation;
	DaBusMethod method;
	gchar *account;
	guint min_validity;
	DaPipelineFlags flags; /* besides the bus's interactive flag */
} DaBusCall;

static void
da_bus_call_free (DaBusCall *call)
{
	g_object_unref (call->self);
	g_object_unref (call->invocation);
	g_free (call->account);
	g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaBusCall, da_bus_call_free)

static void
get_token_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaBusCall) call = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(DaToken) token =
		da_pipeline_get_token_finish (DA_PIPELINE (source), res, &error);

	if (token == NULL) {
		return_error (call->invocation, g_steal_pointer (&error));
		return;
	}
	complete_get_token (call->self->skeleton, call->invocation,
			    call->method == BUS_GET_TOKEN_FD, token);
}

static void
login_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaBusCall) call = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(DaStatus) prompt = da_pipeline_login_finish (DA_PIPELINE (source), res, &error);

	if (prompt == NULL) {
		return_error (call->invocation, g_steal_pointer (&error));
		return;
	}
	da_dbus_manager_complete_login (call->self->skeleton, call->invocation,
					status_details (prompt));
}

static void
run_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaBusCall) call = user_data;
	g_autoptr(GError) error = NULL;
	DaDBusManager *skeleton = call->self->skeleton;

	if (!da_pipeline_run_finish (DA_PIPELINE (source), res, &error)) {
		return_error (call->invocation, g_steal_pointer (&error));
		return;
	}
	if (call->method == BUS_CANCEL_LOGIN)
		da_dbus_manager_complete_cancel_login (skeleton, call->invocation);
	else if (call->method == BUS_LOGOUT)
		da_dbus_manager_complete_logout (skeleton, call->invocation);
	else
		da_dbus_manager_complete_refresh (skeleton, call->invocation);
}

/* Takes @call. */
static void
da_bus_call_run (DaBusCall *call, const DaCaller *caller)
{
	DaPipeline *pipeline = call->self->pipeline;
	GDBusMessage *msg = g_dbus_method_invocation_get_message (call->invocation);
	DaPipelineFlags flags =
		call->flags | ((g_dbus_message_get_flags (msg) &
				G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0
				       ? DA_PIPELINE_FLAGS_INTERACTIVE
				       : DA_PIPELINE_FLAGS_NONE);

	switch (call->method) {
	case BUS_GET_TOKEN:
	case BUS_GET_TOKEN_FD:
		da_pipeline_get_token_async (pipeline, caller, call->account, call->min_validity,
					     flags, NULL, get_token_cb, call);
		break;
	case BUS_LOGIN:
		da_pipeline_login_async (pipeline, caller, call->account, flags, NULL, login_cb,
					 call);
		break;
	case BUS_CANCEL_LOGIN:
		da_pipeline_run_async (pipeline, caller, DA_PIPELINE_CANCEL_LOGIN, call->account,
				       flags, NULL, run_cb, call);
		break;
	case BUS_LOGOUT:
		da_pipeline_run_async (pipeline, caller, DA_PIPELINE_LOGOUT, call->account, flags,
				       NULL, run_cb, call);
		break;
	case BUS_REFRESH:
		da_pipeline_run_async (pipeline, caller, DA_PIPELINE_REFRESH, call->account, flags,
				       NULL, run_cb, call);
		break;
	}
}

static void
caller_resolved_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaBusCall) call = user_data;
	g_autoptr(GError) error = NULL;
	const DaCaller *caller;

	caller = da_bus_callers_resolve_finish (DA_BUS_CALLERS (source), res, &error);
	if (caller == NULL) {
		g_message ("%s", error->message);
		return_error (call->invocation, g_steal_pointer (&error));
		return;
	}
	da_bus_call_run (g_steal_pointer (&call), caller);
}

/* Once the caller is known (once per bus name), the pipeline answers. */
static gboolean
da_bus_call_start (DaService *self,
		   GDBusMethodInvocation *invocation,
		   DaBusMethod method,
		   const gchar *account,
		   guint min_validity,
		   DaPipelineFlags flags)
{
	DaBusCall *call = g_new0 (DaBusCall, 1);
	const gchar *sender = g_dbus_method_invocation_get_sender (invocation);
	const DaCaller *caller = da_bus_callers_lookup (self->callers, sender);

	call->self = g_object_ref (self);
	call->invocation = g_object_ref (invocation);
	call->method = method;
	call->account = g_strdup (account);
	call->min_validity = min_validity;
	call->flags = flags;
	if (caller != NULL)
		da_bus_call_run (call, caller);
	else
		da_bus_callers_resolve_async (self->callers, sender, caller_resolved_cb, call);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_token_common (DaService *self,
			 GDBusMethodInvocation *invocation,
			 const gchar *name,
			 GVariant *options,
			 DaBusMethod method)
{
	g_autoptr(GError) error = NULL;
	guint min_validity = 0;

	if (!parse_token_options (options, &min_validity, &error))
		return return_error (invocation, g_steal_pointer (&error));
	return da_bus_call_start (self, invocation, method, name, min_validity, 0);
}

static gboolean
handle_get_token (DaDBusManager *skeleton,
		  GDBusMethodInvocation *invocation,
		  const gchar *name,
		  GVariant *options,
		  DaService *self)
{
	return handle_get_token_common (self, invocation, name, options, BUS_GET_TOKEN);
}

static gboolean
handle_get_token_fd (DaDBusManager *skeleton,
		     GDBusMethodInvocation *invocation,
		     GUnixFDList *fd_list,
		     const gchar *name,
		     GVariant *options,
		     DaService *self)
{
	return handle_get_token_common (self, invocation, name, options, BUS_GET_TOKEN_FD);
}

static gboolean
handle_login (DaDBusManager *skeleton,
	      GDBusMethodInvocation *invocation,
	      const gchar *name,
	      GVariant *options,
	      DaService *self)
{
	g_autoptr(GError) error = NULL;
	GVariantIter iter;
	const gchar *key;
	GVariant *value;
	DaPipelineFlags flags = DA_PIPELINE_FLAGS_NONE;

	/* "join" (b): only join the sign-in that waits for the user */
	g_variant_iter_init (&iter, options);
	while (g_variant_iter_next (&iter, "{&sv}", &key, &value)) {
		g_autoptr(GVariant) owned = value;
		if (!g_str_equal (key, "join")) {
			g_set_error (&error, DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
				     "unknown option '%s' (Login takes \"join\", a boolean)", key);
			return return_error (invocation, g_steal_pointer (&error));
		}
		if (!g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN)) {
			g_set_error_literal (&error, DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
					     "the option \"join\" is a boolean");
			return return_error (invocation, g_steal_pointer (&error));
		}
		if (g_variant_get_boolean (value))
			flags |= DA_PIPELINE_FLAGS_JOIN_ONLY;
	}
	return da_bus_call_start (self, invocation, BUS_LOGIN, name, 0, flags);
}

static gboolean
handle_cancel_login (DaDBusManager *skeleton,
		     GDBusMethodInvocation *invocation,
		     const gchar *name,
		     DaService *self)
{
	return da_bus_call_start (self, invocation, BUS_CANCEL_LOGIN, name, 0, 0);
}

static gboolean
handle_logout (DaDBusManager *skeleton,
	       GDBusMethodInvocation *invocation,
	       const gchar *name,
	       DaService *self)
{
	return da_bus_call_start (self, invocation, BUS_LOGOUT, name, 0, 0);
}

static gboolean
handle_refresh (DaDBusManager *skeleton,
		GDBusMethodInvocation *invocation,
		const gchar *name,
		DaService *self)
{
	return da_bus_call_start (self, invocation, BUS_REFRESH, name, 0, 0);
}

/* a caller that leaves the bus stops waiting on its sign-ins */
static void
caller_vanished_cb (DaBusCallers *callers, const gchar *bus_name, DaService *self)
{
	da_pipeline_forget_caller (self->pipeline, bus_name);
}

/* ---- accounts ---- */

static gboolean
handle_list_accounts (DaDBusManager *skeleton, GDBusMethodInvocation *invocation, DaService *self)
{
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a(so)"));
	GPtrArray *accounts = da_manager_get_accounts (self->manager);

	for (guint i = 0; i < accounts->len; i++) {
		DaAccount *account = g_ptr_array_index (accounts, i);
		g_autofree gchar *path = da_bus_account_object_path (account);
		g_variant_builder_add (&b, "(so)", da_account_get_name (account), path);
	}
	da_dbus_manager_complete_list_accounts (skeleton, invocation, g_variant_builder_end (&b));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* any account's status, from the manager: one handler for all of them */
static void
account_status_changed_cb (DaManager *manager,
			   DaAccount *account,
			   const gchar *state,
			   const DaStatus *details,
			   DaService *self)
{
	da_dbus_manager_emit_status_changed (self->skeleton, da_account_get_name (account), state,
					     status_details (details));
}

gboolean
da_service_export (DaService *self, GDBusConnection *connection, GError **error)
{
	if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->skeleton),
					       connection, DA_MANAGER_OBJECT_PATH, error))
		return FALSE;
	self->connection = g_object_ref (connection);
	self->callers = da_bus_callers_new (connection);
	g_signal_connect (self->callers, "vanished", G_CALLBACK (caller_vanished_cb), self);
	return da_bus_objects_export (self->objects, connection, error);
}

static void
da_service_finalize (GObject *object)
{
	DaService *self = DA_SERVICE (object);

	/* never exported when the bus could not be reached */
	if (self->skeleton != NULL && g_dbus_interface_skeleton_get_connection (
					      G_DBUS_INTERFACE_SKELETON (self->skeleton)) != NULL)
		g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->skeleton));
	g_clear_pointer (&self->objects, da_bus_objects_free);
	g_clear_object (&self->skeleton);
	g_clear_object (&self->connection);
	g_clear_object (&self->callers);
	g_clear_object (&self->pipeline);
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

/* a(sss): the account files' errors and warnings (DaConfigNote) */
static GVariant *
config_problems (DaManager *manager)
{
	const DaConfig *config = da_manager_get_config (manager);
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a(sss)"));

	for (guint i = 0; config->notes != NULL && i < config->notes->len; i++) {
		const DaConfigNote *note = g_ptr_array_index (config->notes, i);
		g_variant_builder_add (&b, "(sss)", note->account,
				       note->error ? "error" : "warning", note->message);
	}
	return g_variant_builder_end (&b);
}

DaService *
da_service_new (DaPipeline *pipeline)
{
	DaService *self = g_object_new (DA_TYPE_SERVICE, NULL);

	register_errors ();
	self->pipeline = g_object_ref (pipeline);
	self->manager = g_object_ref (da_pipeline_get_manager (pipeline));
	self->objects = da_bus_objects_new (self->manager);
	g_signal_connect_object (self->manager, "account-status-changed",
				 G_CALLBACK (account_status_changed_cb), self, 0);
	self->skeleton = da_dbus_manager_skeleton_new ();
	da_dbus_manager_set_version (self->skeleton, PACKAGE_VERSION);
	da_dbus_manager_set_config_problems (self->skeleton, config_problems (self->manager));
	g_signal_connect (self->skeleton, "handle-get-token", G_CALLBACK (handle_get_token), self);
	g_signal_connect (self->skeleton, "handle-get-token-fd", G_CALLBACK (handle_get_token_fd),
			  self);
	g_signal_connect (self->skeleton, "handle-login", G_CALLBACK (handle_login), self);
	g_signal_connect (self->skeleton, "handle-cancel-login", G_CALLBACK (handle_cancel_login),
			  self);
	g_signal_connect (self->skeleton, "handle-logout", G_CALLBACK (handle_logout), self);
	g_signal_connect (self->skeleton, "handle-refresh", G_CALLBACK (handle_refresh), self);
	g_signal_connect (self->skeleton, "handle-list-accounts", G_CALLBACK (handle_list_accounts),
			  self);
	return self;
}
