/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A Varlink call read from its bytes: the request, GetToken's parameters,
 * and the caller's words echoed in an error; no connection, no pipeline. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <string.h>

#include "da-account.h"
#include "da-error.h"
#include "da-json.h"
#include "da-varlink-request.h"

static gboolean
get_bool_member (JsonObject *object, const gchar *key)
{
	JsonNode *node = json_object_get_member (object, key);

	return node != NULL && json_node_get_value_type (node) == G_TYPE_BOOLEAN &&
	       json_node_get_boolean (node);
}

DaVarlinkRequestResult
da_varlink_request_parse (const gchar *data,
			  gsize len,
			  DaVarlinkRequest *request,
			  const gchar **problem)
{
	JsonNode *root;
	JsonNode *node;
	JsonObject *object;

	memset (request, 0, sizeof *request);
	*problem = da_json_text_problem (data, len, DA_VARLINK_JSON_DEPTH_MAX, 0);
	if (*problem != NULL)
		return DA_VARLINK_REQUEST_NOT_A_CALL;
	request->parser = json_parser_new_immutable ();
	if (!g_utf8_validate (data, (gssize) len, NULL) ||
	    !json_parser_load_from_data (request->parser, data, (gssize) len, NULL) ||
	    (root = json_parser_get_root (request->parser)) == NULL ||
	    !JSON_NODE_HOLDS_OBJECT (root) ||
	    (node = json_object_get_member (json_node_get_object (root), "method")) == NULL ||
	    json_node_get_value_type (node) != G_TYPE_STRING)
		return DA_VARLINK_REQUEST_NOT_A_CALL;
	object = json_node_get_object (root);
	request->method = json_node_get_string (node);
	node = json_object_get_member (object, "parameters");
	if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
		request->params = json_node_get_object (node);
	else if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
		return DA_VARLINK_REQUEST_BAD_PARAMETERS;
	request->oneway = get_bool_member (object, "oneway");
	request->upgrade = get_bool_member (object, "upgrade");
	return DA_VARLINK_REQUEST_OK;
}

void
da_varlink_request_clear (DaVarlinkRequest *request)
{
	g_clear_object (&request->parser);
	memset (request, 0, sizeof *request);
}

/* InvalidParameter for a parameter of the wrong name or type; out of range,
 * the bus front's InvalidArgument with its message */
gboolean
da_varlink_parse_get_token (JsonObject *params,
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

gchar *
da_varlink_echo (const gchar *value)
{
	gchar *echo = g_utf8_make_valid (value, -1);

	if (strlen (echo) > DA_VARLINK_ECHO_MAX)
		*g_utf8_find_prev_char (echo, echo + DA_VARLINK_ECHO_MAX + 1) = '\0';
	return echo;
}
