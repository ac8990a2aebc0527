/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Varlink front's methods and replies: GetToken (its caller from
 * SO_PEERCRED and friends, its parameters, the pipeline) and
 * org.varlink.service's GetInfo and GetInterfaceDescription; the replies
 * and errors written for them. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-clock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "da-error.h"
#include "da-json-string.h"
#include "da-secret.h"
#include "da-varlink-private.h"
#include "da-varlink-request.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

static const gchar da_varlink_description[] =
	"# devauthd: access tokens of this device's accounts.\n"
	"#\n"
	"# The D-Bus interface org.devauth.DeviceAuth1 on the system bus is the whole\n"
	"# API. This interface serves its hot path, GetToken, to callers that want a\n"
	"# token without a bus round trip. Callers are authorized as on the bus.\n"
	"interface org.devauth.DeviceAuth1\n"
	"\n"
	"# An access token of an account, as the D-Bus method GetToken gives it.\n"
	"# account: the account's name; empty or left out: the default account.\n"
	"# minValidity: seconds the token must stay valid (default 30, at most 3600).\n"
	"method GetToken(account: ?string, minValidity: ?int) -> (\n"
	"  token: string,\n"
	"  expiresAt: int,\n"
	"  tokenType: string,\n"
	"  scope: ?string\n"
	")\n"
	"\n"
	"error NoSuchAccount (message: string)\n"
	"error NotSignedIn (message: string)\n"
	"error PermissionDenied (message: string)\n"
	"error LoginInProgress (message: string)\n"
	"error LoginDenied (message: string)\n"
	"error LoginExpired (message: string)\n"
	"error IdpUnreachable (message: string)\n"
	"error IdpError (message: string)\n"
	"error InvalidArgument (message: string)\n"
	"error RateLimited (message: string)\n"
	"error Cancelled (message: string)\n"
	"error Internal (message: string)\n";

static const gchar da_varlink_service_description[] =
	"interface org.varlink.service\n"
	"method GetInfo() -> (vendor: string, product: string, version: string, url: string, "
	"interfaces: []string)\n"
	"method GetInterfaceDescription(interface: string) -> (description: string)\n"
	"error InterfaceNotFound (interface: string)\n"
	"error MethodNotFound (method: string)\n"
	"error MethodNotImplemented (method: string)\n"
	"error InvalidParameter (parameter: string)\n"
	"error PermissionDenied ()\n"
	"error ExpectedMore ()\n";

/* ---- GetToken ---- */

/* ---- replies ---- */

static void
gstring_sink (void *data, const char *bytes, size_t len)
{
	g_string_append_len (data, bytes, len);
}

/* A JSON string; each byte of invalid UTF-8 becomes U+FFFD. */
void
da_varlink_append_json_string (GString *out, const gchar *str)
{
	g_string_append_c (out, '"');
	da_json_write_string (str, strlen (str), TRUE, gstring_sink, out);
	g_string_append_c (out, '"');
}

void
da_varlink_conn_reply_error_message (DaVarlinkConn *conn,
				     const gchar *name,
				     const gchar *key,
				     const gchar *value)
{
	g_string_append (conn->out, "{\"error\":");
	da_varlink_append_json_string (conn->out, name);
	g_string_append (conn->out, ",\"parameters\":{");
	if (key != NULL) {
		/* a caller's own words (a parameter's name, a method's) echoed
		 * back in part only */
		g_autofree gchar *echo = da_varlink_echo (value);

		da_varlink_append_json_string (conn->out, key);
		g_string_append_c (conn->out, ':');
		da_varlink_append_json_string (conn->out, echo);
	}
	g_string_append (conn->out, "}}");
	da_varlink_conn_send (conn);
}

/* org.devauth.DeviceAuth1.Error.X on the bus is org.devauth.DeviceAuth1.X here */
void
da_varlink_conn_reply_gerror (DaVarlinkConn *conn, GError *error)
{
	const gchar *dbus_name;
	g_autofree gchar *name = NULL;

	da_error_convert (&error);
	dbus_name = da_error_to_dbus_name (error->code);
	name = g_strconcat (DA_VARLINK_INTERFACE ".", strrchr (dbus_name, '.') + 1, NULL);
	da_varlink_conn_reply_error_message (conn, name, "message", error->message);
	g_error_free (error);
}

/* Room for @more bytes without a realloc(), which would leave a copy of
 * what is already there (a token) in freed memory. */
static void
conn_reserve (DaVarlinkConn *conn, gsize more)
{
	GString *bigger;

	if (conn->out->allocated_len > conn->out->len + more)
		return;
	bigger = g_string_sized_new (conn->out->len + more);
	g_string_append_len (bigger, conn->out->str, (gssize) conn->out->len);
	da_secret_wipe (conn->out->str, conn->out->allocated_len);
	g_string_free (conn->out, TRUE);
	conn->out = bigger;
}

void
da_varlink_conn_reply_token (DaVarlinkConn *conn, const DaToken *token)
{
	/* escaped, a character takes at most 6 bytes */
	conn_reserve (conn, 6 * (strlen (token->token) +
				 (token->token_type != NULL ? strlen (token->token_type) : 6) +
				 (token->scope != NULL ? strlen (token->scope) : 0)) +
				    128);
	g_string_append (conn->out, "{\"parameters\":{\"token\":");
	da_varlink_append_json_string (conn->out, token->token);
	g_string_append_printf (conn->out, ",\"expiresAt\":%" G_GINT64_FORMAT ",\"tokenType\":",
				da_clock_to_system_sec (token->expires_at));
	da_varlink_append_json_string (conn->out,
				       token->token_type != NULL ? token->token_type : "Bearer");
	if (token->scope != NULL) {
		g_string_append (conn->out, ",\"scope\":");
		da_varlink_append_json_string (conn->out, token->scope);
	}
	g_string_append (conn->out, "}}");
	da_varlink_conn_send (conn);
}

static void
get_token_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	DaVarlinkConn *conn = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(DaToken) token =
		da_pipeline_get_token_finish (DA_PIPELINE (source), res, &error);

	if (token == NULL)
		da_varlink_conn_reply_gerror (conn, g_steal_pointer (&error));
	else
		da_varlink_conn_reply_token (conn, token);
	da_varlink_conn_unref (conn);
}

/* The caller, from what the kernel says about the peer; once per connection. */
gboolean
da_varlink_conn_resolve_caller (DaVarlinkConn *conn, GError **error)
{
	struct ucred cred = {0};
	socklen_t len = sizeof (cred);
	g_autoptr(DaCaller) caller = NULL;
	gid_t gids[256];
	socklen_t gids_len = sizeof (gids);
	guint n_gids = 0;
	gchar label[256];
	socklen_t label_len = sizeof (label) - 1;
	gint pidfd = -1;
	socklen_t pidfd_len = sizeof (pidfd);

	if (conn->caller != NULL)
		return TRUE;
	if (getsockopt (conn->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		g_set_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
			     "cannot identify the caller: %s", g_strerror (errno));
		return FALSE;
	}
	/* root may have every token, whatever unit or app it is: no need to
	 * know more (the hot path of devauthctl token run by root) */
	if (cred.uid == 0) {
		conn->caller = da_caller_new (NULL, 0, NULL, 0, (guint32) cred.pid);
		return TRUE;
	}
	/* more than 256 groups: those are left out, which can only deny */
	if (getsockopt (conn->fd, SOL_SOCKET, SO_PEERGROUPS, gids, &gids_len) == 0)
		n_gids = gids_len / sizeof (gid_t);
	caller = da_caller_new (NULL, cred.uid, (const guint32 *) gids, n_gids, (guint32) cred.pid);
	if (getsockopt (conn->fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &pidfd_len) == 0 && pidfd >= 0)
		da_caller_take_pidfd (caller, pidfd);
	if (getsockopt (conn->fd, SOL_SOCKET, SO_PEERSEC, label, &label_len) == 0)
		da_caller_set_security_label (caller, label, label_len);
	if (!da_caller_resolve (caller, "/proc", error)) {
		g_prefix_error (error, "cannot identify the caller: ");
		return FALSE;
	}
	if (g_log_get_debug_enabled ()) {
		g_autofree gchar *description = da_caller_describe (caller);
		g_debug ("varlink: caller %s", description);
	}
	conn->caller = g_steal_pointer (&caller);
	return TRUE;
}

void
da_varlink_handle_get_token (DaVarlinkConn *conn, JsonObject *params)
{
	DaVarlinkServer *self = conn->server;
	g_autoptr(GError) error = NULL;
	const gchar *name = NULL;
	const gchar *bad = NULL;
	guint min_validity = 0;

	if (!da_varlink_parse_get_token (params, &name, &min_validity, &bad, &error)) {
		if (error != NULL)
			da_varlink_conn_reply_gerror (conn, g_steal_pointer (&error));
		else
			da_varlink_conn_reply_error_message (
				conn, DA_VARLINK_SERVICE_ERROR "InvalidParameter", "parameter",
				bad);
		return;
	}
	if (!da_varlink_conn_resolve_caller (conn, &error)) {
		g_message ("varlink: %s", error->message);
		da_varlink_conn_reply_gerror (conn, g_steal_pointer (&error));
		return;
	}
	da_pipeline_get_token_async (self->pipeline, conn->caller, name, min_validity,
				     DA_PIPELINE_FLAGS_NONE, conn->cancellable, get_token_cb,
				     da_varlink_conn_ref (conn));
}

/* ---- org.varlink.service ---- */

void
da_varlink_handle_get_info (DaVarlinkConn *conn)
{
	g_string_append (conn->out,
			 "{\"parameters\":{\"vendor\":\"devauth\",\"product\":\"devauthd\","
			 "\"version\":");
	da_varlink_append_json_string (conn->out, PACKAGE_VERSION);
	g_string_append (conn->out, ",\"url\":\"\",\"interfaces\":[\"" DA_VARLINK_SERVICE
				    "\",\"" DA_VARLINK_INTERFACE "\"]}}");
	da_varlink_conn_send (conn);
}

void
da_varlink_handle_get_interface_description (DaVarlinkConn *conn, JsonObject *params)
{
	JsonNode *node = params != NULL ? json_object_get_member (params, "interface") : NULL;
	const gchar *interface;

	if (node == NULL || json_node_get_value_type (node) != G_TYPE_STRING) {
		da_varlink_conn_reply_error_message (conn,
						     DA_VARLINK_SERVICE_ERROR "InvalidParameter",
						     "parameter", "interface");
		return;
	}
	interface = json_node_get_string (node);
	if (g_str_equal (interface, DA_VARLINK_INTERFACE) ||
	    g_str_equal (interface, DA_VARLINK_SERVICE)) {
		g_string_append (conn->out, "{\"parameters\":{\"description\":");
		da_varlink_append_json_string (conn->out,
					       g_str_equal (interface, DA_VARLINK_INTERFACE)
						       ? da_varlink_description
						       : da_varlink_service_description);
		g_string_append (conn->out, "}}");
		da_varlink_conn_send (conn);
		return;
	}
	da_varlink_conn_reply_error_message (conn, DA_VARLINK_SERVICE_ERROR "InterfaceNotFound",
					     "interface", interface);
}
