/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the IdP answers, read into plain structs: discovery (RFC 8414),
 * device authorization and token responses (RFC 8628, RFC 6749), error
 * responses, revocation; PKCE verifiers and challenges (RFC 7636). The
 * only code that reads the IdP's JSON, with da-jwt.c. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/random.h>

#include "da-config.h"
#include "da-json.h"
#include "da-jwt.h"
#include "da-text.h"
#include "da-oidc-private.h"

#define DA_OIDC_JSON_DEPTH_MAX 32
#define DA_OIDC_TOKEN_MAX      (16 * 1024)
#define DA_OIDC_FIELD_MAX      2048
#define DA_OIDC_USER_CODE_MAX  64

/* the name is stringified as written */
/* clang-format off */
G_DEFINE_QUARK (da-oidc-error-quark, da_oidc_error)
/* clang-format on */

/* ---- plain structs ---- */

/* Endpoints are reference counted: every account of an issuer shares the
 * discovered ones; da_oidc_endpoints_copy() makes a copy to change. */
DaOidcEndpoints *
da_oidc_endpoints_new (void)
{
	return g_rc_box_new0 (DaOidcEndpoints);
}

DaOidcEndpoints *
da_oidc_endpoints_ref (DaOidcEndpoints *self)
{
	return g_rc_box_acquire (self);
}

DaOidcEndpoints *
da_oidc_endpoints_copy (const DaOidcEndpoints *self)
{
	DaOidcEndpoints *copy = da_oidc_endpoints_new ();
	copy->issuer = g_strdup (self->issuer);
	copy->device_authorization_endpoint = g_strdup (self->device_authorization_endpoint);
	copy->token_endpoint = g_strdup (self->token_endpoint);
	copy->revocation_endpoint = g_strdup (self->revocation_endpoint);
	copy->userinfo_endpoint = g_strdup (self->userinfo_endpoint);
	copy->jwks_uri = g_strdup (self->jwks_uri);
	copy->token_endpoint_auth_methods = g_strdupv (self->token_endpoint_auth_methods);
	return copy;
}

static void
da_oidc_endpoints_clear (gpointer data)
{
	DaOidcEndpoints *self = data;

	g_free (self->issuer);
	g_free (self->device_authorization_endpoint);
	g_free (self->token_endpoint);
	g_free (self->revocation_endpoint);
	g_free (self->userinfo_endpoint);
	g_free (self->jwks_uri);
	g_strfreev (self->token_endpoint_auth_methods);
}

void
da_oidc_endpoints_unref (DaOidcEndpoints *self)
{
	if (self == NULL)
		return;
	g_rc_box_release_full (self, da_oidc_endpoints_clear);
}

void
da_oidc_device_auth_free (DaOidcDeviceAuth *self)
{
	if (self == NULL)
		return;
	da_secret_free (self->device_code);
	g_free (self->user_code);
	g_free (self->verification_uri);
	g_free (self->verification_uri_complete);
	g_free (self);
}

void
da_oidc_tokens_free (DaOidcTokens *self)
{
	if (self == NULL)
		return;
	da_secret_free (self->access_token);
	da_secret_free (self->refresh_token);
	da_secret_free (self->id_token);
	g_free (self->token_type);
	g_free (self->scope);
	g_free (self);
}

/* ---- JSON ---- */

static JsonParser *
parse_json_object (const gchar *data, gsize len, JsonObject **obj, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable ();
	g_autoptr(GError) error_local = NULL;
	JsonNode *root;
	const gchar *problem;

	if (len == 0) {
		g_set_error_literal (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
				     "empty response");
		return NULL;
	}
	if (len > DA_OIDC_BODY_MAX) {
		g_set_error_literal (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
				     "response is too large");
		return NULL;
	}
	problem = da_json_text_problem (data, len, DA_OIDC_JSON_DEPTH_MAX, 0);
	if (problem != NULL) {
		g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED, "response %s", problem);
		return NULL;
	}
	if (memchr (data, '\0', len) != NULL || !g_utf8_validate (data, len, NULL)) {
		g_set_error_literal (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
				     "response is not UTF-8 text");
		return NULL;
	}
	if (!json_parser_load_from_data (parser, data, (gssize) len, &error_local)) {
		g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
			     "response is not JSON: %s", error_local->message);
		return NULL;
	}
	root = json_parser_get_root (parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
		g_set_error_literal (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
				     "response is not a JSON object");
		return NULL;
	}
	*obj = json_node_get_object (root);
	return g_steal_pointer (&parser);
}

/* Wipes every string value of a parsed response that may hold secrets. */
static void
wipe_json_strings (JsonObject *obj)
{
	JsonObjectIter iter;
	const gchar *name;
	JsonNode *node;

	json_object_iter_init (&iter, obj);
	while (json_object_iter_next (&iter, &name, &node)) {
		const gchar *value;
		if (!JSON_NODE_HOLDS_VALUE (node) ||
		    json_node_get_value_type (node) != G_TYPE_STRING)
			continue;
		value = json_node_get_string (node);
		if (value != NULL)
			da_secret_wipe ((gpointer) value, strlen (value));
	}
}

typedef enum {
	FIELD_OPTIONAL,
	FIELD_REQUIRED,
} FieldNeed;

/* A string member: NULL with no error when optional and absent. */
static const gchar *
get_string (JsonObject *obj, const gchar *name, FieldNeed need, gsize max, GError **error)
{
	JsonNode *node = json_object_get_member (obj, name);
	const gchar *value;

	if (node == NULL || JSON_NODE_HOLDS_NULL (node)) {
		if (need == FIELD_REQUIRED)
			g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
				     "response has no \"%s\"", name);
		return NULL;
	}
	if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
		g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
			     "\"%s\" in the response is not a string", name);
		return NULL;
	}
	value = json_node_get_string (node);
	if (value == NULL || value[0] == '\0' || strlen (value) > max) {
		g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
			     "\"%s\" in the response is empty or longer than %" G_GSIZE_FORMAT
			     " bytes",
			     name, max);
		return NULL;
	}
	return value;
}

/* A non-negative integer member; some IdPs send numbers as strings.
 * Returns -1 when absent, -2 (and @error) when malformed. */
static gint64
get_seconds (JsonObject *obj, const gchar *name, gint64 max, GError **error)
{
	JsonNode *node = json_object_get_member (obj, name);
	gint64 value = -1;

	if (node == NULL || JSON_NODE_HOLDS_NULL (node))
		return -1;
	if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64) {
		value = json_node_get_int (node);
	} else if (JSON_NODE_HOLDS_VALUE (node) &&
		   json_node_get_value_type (node) == G_TYPE_DOUBLE) {
		gdouble d = json_node_get_double (node);
		if (d >= 0 && d <= (gdouble) max)
			value = (gint64) d;
	} else if (JSON_NODE_HOLDS_VALUE (node) &&
		   json_node_get_value_type (node) == G_TYPE_STRING) {
		guint64 v = 0;
		if (g_ascii_string_to_unsigned (json_node_get_string (node), 10, 0, (guint64) max,
						&v, NULL))
			value = (gint64) v;
	}
	if (value < 0 || value > max) {
		g_set_error (
			error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
			"\"%s\" in the response is not a number of seconds from 0 to %" G_GINT64_FORMAT,
			name, max);
		return -2;
	}
	return value;
}

/* for tokens and protocol words, which are ASCII: no control characters */
static gboolean
string_is_printable (const gchar *s)
{
	for (; *s != '\0'; s++) {
		if ((guchar) *s < 0x20 || *s == 0x7f)
			return FALSE;
	}
	return TRUE;
}

/* for what people are shown: valid UTF-8 without controls of any kind
 * (da-text.h) */
static gboolean
text_is_displayable (const gchar *s)
{
	if (!g_utf8_validate (s, -1, NULL))
		return FALSE;
	for (; *s != '\0'; s = g_utf8_next_char (s)) {
		if (da_text_char_is_unsafe (g_utf8_get_char (s)))
			return FALSE;
	}
	return TRUE;
}

/* A URI a person is sent to: https://, or http:// on a loopback host only
 * (a test IdP on this machine); never one that hides what it shows. */
static gboolean
url_is_web (const gchar *url)
{
	return text_is_displayable (url) && da_url_is_acceptable (url, NULL);
}

/* ---- error responses (RFC 6749 5.2, RFC 8628 3.5) ---- */

static const struct {
	const gchar *name;
	DaOidcError code;
} oauth_errors[] = {
	{"authorization_pending", DA_OIDC_ERROR_AUTHORIZATION_PENDING},
	{"slow_down", DA_OIDC_ERROR_SLOW_DOWN},
	{"access_denied", DA_OIDC_ERROR_ACCESS_DENIED},
	{"expired_token", DA_OIDC_ERROR_EXPIRED_TOKEN},
	{"invalid_grant", DA_OIDC_ERROR_INVALID_GRANT},
};

static GError *
error_from_response (guint status, const gchar *data, gsize len)
{
	g_autoptr(JsonParser) parser = NULL;
	JsonObject *obj = NULL;
	const gchar *name;
	const gchar *description;
	g_autofree gchar *safe_desc = NULL;

	if (status >= 500 || status == 429 || status < 400)
		return g_error_new (DA_OIDC_ERROR, DA_OIDC_ERROR_HTTP, "HTTP %u %s", status,
				    soup_status_get_phrase (status) != NULL
					    ? soup_status_get_phrase (status)
					    : "");
	parser = parse_json_object (data, len, &obj, NULL);
	name = parser != NULL ? get_string (obj, "error", FIELD_REQUIRED, 128, NULL) : NULL;
	if (name == NULL || !string_is_printable (name))
		return g_error_new (DA_OIDC_ERROR, DA_OIDC_ERROR_HTTP, "HTTP %u %s", status,
				    soup_status_get_phrase (status) != NULL
					    ? soup_status_get_phrase (status)
					    : "");
	description = get_string (obj, "error_description", FIELD_OPTIONAL, 512, NULL);
	if (description != NULL && text_is_displayable (description))
		safe_desc = g_strdup_printf (" (%s)", description);
	for (guint i = 0; i < G_N_ELEMENTS (oauth_errors); i++) {
		if (g_strcmp0 (name, oauth_errors[i].name) == 0)
			return g_error_new (DA_OIDC_ERROR, oauth_errors[i].code, "%s%s", name,
					    safe_desc != NULL ? safe_desc : "");
	}
	return g_error_new (DA_OIDC_ERROR, DA_OIDC_ERROR_PROTOCOL, "%s%s", name,
			    safe_desc != NULL ? safe_desc : "");
}

/* ---- parsers ---- */

/* @url without one trailing slash */
gchar *
da_oidc_strip_slash (const gchar *url)
{
	gsize len = strlen (url);
	if (len > 0 && url[len - 1] == '/')
		len--;
	return g_strndup (url, len);
}

static gboolean
copy_endpoint (JsonObject *obj, const gchar *name, FieldNeed need, gchar **out, GError **error)
{
	const gchar *value = get_string (obj, name, need, DA_OIDC_FIELD_MAX, error);
	g_autoptr(GError) error_local = NULL;

	if (value == NULL)
		return need == FIELD_OPTIONAL && (error == NULL || *error == NULL);
	if (!da_url_is_acceptable (value, &error_local)) {
		g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED, "\"%s\": %s", name,
			     error_local->message);
		return FALSE;
	}
	*out = g_strdup (value);
	return TRUE;
}

/* token_endpoint_auth_methods_supported: the printable names, at most 16
 * of at most 64 bytes; NULL when absent or not an array */
static gchar **
auth_methods (JsonObject *obj)
{
	JsonNode *node = json_object_get_member (obj, "token_endpoint_auth_methods_supported");
	g_autoptr(GPtrArray) out = NULL;
	JsonArray *array;

	if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
		return NULL;
	array = json_node_get_array (node);
	out = g_ptr_array_new_with_free_func (g_free);
	for (guint i = 0; i < json_array_get_length (array) && out->len < 16; i++) {
		JsonNode *e = json_array_get_element (array, i);
		const gchar *name;

		if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
			continue;
		name = json_node_get_string (e);
		if (strlen (name) <= 64 && string_is_printable (name))
			g_ptr_array_add (out, g_strdup (name));
	}
	g_ptr_array_add (out, NULL);
	return (gchar **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

DaOidcEndpoints *
da_oidc_parse_discovery (const gchar *data, gsize len, const gchar *expected_issuer, GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(DaOidcEndpoints) self = da_oidc_endpoints_new ();
	g_autofree gchar *want = NULL;
	g_autofree gchar *got = NULL;
	JsonObject *obj = NULL;
	const gchar *issuer;

	parser = parse_json_object (data, len, &obj, error);
	if (parser == NULL)
		return NULL;
	issuer = get_string (obj, "issuer", FIELD_REQUIRED, DA_OIDC_FIELD_MAX, error);
	if (issuer == NULL)
		return NULL;
	want = da_oidc_strip_slash (expected_issuer);
	got = da_oidc_strip_slash (issuer);
	if (g_strcmp0 (want, got) != 0) {
		g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
			     "the IdP says its issuer is '%s', not '%s'",
			     string_is_printable (issuer) ? issuer : "(unprintable)",
			     expected_issuer);
		return NULL;
	}
	self->issuer = g_strdup (issuer);
	if (!copy_endpoint (obj, "device_authorization_endpoint", FIELD_OPTIONAL,
			    &self->device_authorization_endpoint, error) ||
	    !copy_endpoint (obj, "token_endpoint", FIELD_REQUIRED, &self->token_endpoint, error) ||
	    !copy_endpoint (obj, "revocation_endpoint", FIELD_OPTIONAL, &self->revocation_endpoint,
			    error) ||
	    !copy_endpoint (obj, "userinfo_endpoint", FIELD_OPTIONAL, &self->userinfo_endpoint,
			    error) ||
	    !copy_endpoint (obj, "jwks_uri", FIELD_OPTIONAL, &self->jwks_uri, error))
		return NULL;
	self->token_endpoint_auth_methods = auth_methods (obj);
	return g_steal_pointer (&self);
}

DaOidcDeviceAuth *
da_oidc_parse_device_auth (guint status, const gchar *data, gsize len, GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(DaOidcDeviceAuth) self = g_new0 (DaOidcDeviceAuth, 1);
	JsonObject *obj = NULL;
	const gchar *device_code;
	const gchar *user_code;
	const gchar *uri;
	const gchar *uri_complete;
	gint64 expires_in;
	gint64 interval;

	if (status != 200) {
		g_propagate_error (error, error_from_response (status, data, len));
		return NULL;
	}
	parser = parse_json_object (data, len, &obj, error);
	if (parser == NULL)
		return NULL;
	device_code = get_string (obj, "device_code", FIELD_REQUIRED, DA_OIDC_TOKEN_MAX, error);
	if (device_code == NULL)
		return NULL;
	self->device_code = da_secret_new (device_code);
	da_secret_wipe ((gpointer) device_code, strlen (device_code));

	user_code = get_string (obj, "user_code", FIELD_REQUIRED, DA_OIDC_USER_CODE_MAX, error);
	if (user_code == NULL)
		return NULL;
	if (!text_is_displayable (user_code)) {
		g_set_error_literal (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
				     "\"user_code\" holds control or bidirectional characters");
		return NULL;
	}
	uri = get_string (obj, "verification_uri", FIELD_OPTIONAL, DA_OIDC_FIELD_MAX, error);
	/* an early draft of RFC 8628, still spoken by some IdPs */
	if (uri == NULL && (error == NULL || *error == NULL))
		uri = get_string (obj, "verification_url", FIELD_REQUIRED, DA_OIDC_FIELD_MAX,
				  error);
	if (uri == NULL)
		return NULL;
	if (!url_is_web (uri)) {
		g_set_error_literal (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
				     "\"verification_uri\" is not an https:// URL (http:// only "
				     "on loopback) that can be shown as it is");
		return NULL;
	}
	uri_complete = get_string (obj, "verification_uri_complete", FIELD_OPTIONAL,
				   DA_OIDC_FIELD_MAX, NULL);
	if (uri_complete != NULL && !url_is_web (uri_complete))
		uri_complete = NULL;
	expires_in = get_seconds (obj, "expires_in", 24 * 3600, error);
	if (expires_in == -2)
		return NULL;
	if (expires_in <= 0) {
		g_set_error_literal (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
				     "\"expires_in\" is missing or zero");
		return NULL;
	}
	interval = get_seconds (obj, "interval", 3600, error);
	if (interval == -2)
		return NULL;

	self->user_code = g_strdup (user_code);
	self->verification_uri = g_strdup (uri);
	self->verification_uri_complete = g_strdup (uri_complete);
	self->expires_in = expires_in;
	self->interval = interval > 0 ? (guint) interval : 0;
	return g_steal_pointer (&self);
}

DaOidcTokens *
da_oidc_parse_tokens (guint status, const gchar *data, gsize len, GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(DaOidcTokens) self = g_new0 (DaOidcTokens, 1);
	JsonObject *obj = NULL;
	const gchar *access_token;
	const gchar *refresh_token;
	const gchar *id_token;
	const gchar *token_type;
	const gchar *scope;
	gint64 expires_in;
	g_autoptr(GError) error_local = NULL;

	if (status != 200) {
		g_propagate_error (error, error_from_response (status, data, len));
		return NULL;
	}
	parser = parse_json_object (data, len, &obj, error);
	if (parser == NULL)
		return NULL;

	access_token =
		get_string (obj, "access_token", FIELD_REQUIRED, DA_OIDC_TOKEN_MAX, &error_local);
	refresh_token = get_string (obj, "refresh_token", FIELD_OPTIONAL, DA_OIDC_TOKEN_MAX,
				    error_local == NULL ? &error_local : NULL);
	id_token = get_string (obj, "id_token", FIELD_OPTIONAL, DA_OIDC_TOKEN_MAX, NULL);
	token_type = get_string (obj, "token_type", FIELD_OPTIONAL, 64, NULL);
	scope = get_string (obj, "scope", FIELD_OPTIONAL, DA_OIDC_FIELD_MAX, NULL);
	expires_in = get_seconds (obj, "expires_in", G_MAXINT32,
				  error_local == NULL ? &error_local : NULL);
	if (error_local == NULL &&
	    (!string_is_printable (access_token) ||
	     (refresh_token != NULL && !string_is_printable (refresh_token))))
		g_set_error_literal (&error_local, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
				     "a token holds control characters");
	if (error_local == NULL) {
		self->access_token = da_secret_new (access_token);
		self->refresh_token = refresh_token != NULL ? da_secret_new (refresh_token) : NULL;
		self->id_token = id_token != NULL ? da_secret_new (id_token) : NULL;
		self->token_type = g_strdup (token_type != NULL && string_is_printable (token_type)
						     ? token_type
						     : "Bearer");
		self->scope = scope != NULL && string_is_printable (scope) ? g_strdup (scope)
									   : NULL;
		self->expires_in = expires_in >= 0 ? expires_in : -1;
		/* not in any RFC: a bad value is as good as none */
		self->refresh_expires_in =
			get_seconds (obj, "refresh_expires_in", G_MAXINT32, NULL);
		if (self->refresh_expires_in < 0)
			self->refresh_expires_in = -1;
	}
	wipe_json_strings (obj);
	if (error_local != NULL) {
		g_propagate_error (error, g_steal_pointer (&error_local));
		return NULL;
	}
	return g_steal_pointer (&self);
}

gboolean
da_oidc_parse_revocation (guint status, const gchar *data, gsize len, GError **error)
{
	/* RFC 7009 2.2: 200 whether or not the token was valid */
	if (status == 200)
		return TRUE;
	g_propagate_error (error, error_from_response (status, data, len));
	return FALSE;
}

DaSecret *
da_oidc_pkce_verifier_new (void)
{
	guchar raw[32];
	g_autofree gchar *encoded = NULL;
	DaSecret *verifier;

	if (getrandom (raw, sizeof raw, 0) != sizeof raw)
		g_error ("getrandom() failed");
	encoded = da_jwt_base64url_encode (raw, sizeof raw);
	da_secret_wipe (raw, sizeof raw);
	verifier = da_secret_new (encoded);
	da_secret_wipe (encoded, strlen (encoded));
	return verifier;
}

gchar *
da_oidc_pkce_challenge (const gchar *verifier)
{
	g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
	guint8 digest[32];
	gsize len = sizeof digest;

	g_checksum_update (sum, (const guchar *) verifier, (gssize) strlen (verifier));
	g_checksum_get_digest (sum, digest, &len);
	return da_jwt_base64url_encode (digest, len);
}
