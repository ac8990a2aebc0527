/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Varlink front's methods: GetToken (its caller from SO_PEERCRED and
 * friends, its parameters, the pipeline) and org.varlink.service's
 * GetInfo and GetInterfaceDescription. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "da-error.h"
#include "da-varlink-private.h"

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

/* InvalidParameter for a parameter of the wrong name or type; out of range,
 * the bus front's InvalidArgument with its message */
static gboolean
parse_get_token (JsonObject *params,
		 const gchar **account,
		 guint *min_validity,
		 const gchar **bad,
		 GError **error)
{
	g_autoptr(GList) members = params != NULL ? json_object_get_members (params) : NULL;

	*account = "";
	*min_validity = DA_GET_TOKEN_MIN_VALIDITY_DEFAULT;
	for (GList *l = members; l != NULL; l = l->next) {
		const gchar *key = l->data;
		JsonNode *node = json_object_get_member (params, key);

		*bad = key;
		if (g_str_equal (key, "account")) {
			if (JSON_NODE_HOLDS_NULL (node))
				continue;
			if (json_node_get_value_type (node) != G_TYPE_STRING)
				return FALSE;
			*account = json_node_get_string (node);
		} else if (g_str_equal (key, "minValidity")) {
			gint64 v;

			if (JSON_NODE_HOLDS_NULL (node))
				continue;
			if (json_node_get_value_type (node) != G_TYPE_INT64)
				return FALSE;
			v = json_node_get_int (node);
			if (v < 0 || v > DA_GET_TOKEN_MIN_VALIDITY_MAX) {
				g_set_error (error, DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
					     "option 'min-validity' must be at most %d seconds",
					     DA_GET_TOKEN_MIN_VALIDITY_MAX);
				return FALSE;
			}
			*min_validity = (guint) v;
		} else {
			return FALSE;
		}
	}
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

	if (!parse_get_token (params, &name, &min_validity, &bad, &error)) {
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
