/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/random.h>

#include "da-config.h"
#include "da-json.h"
#include "da-oidc.h"

#define DA_OIDC_JSON_DEPTH_MAX 32
#define DA_OIDC_TOKEN_MAX      (16 * 1024)
#define DA_OIDC_FIELD_MAX      2048
#define DA_OIDC_USER_CODE_MAX  64
#define DA_OIDC_READ_CHUNK     16384
/* most answers fit; a larger one grows the buffer by body_append() */
#define DA_OIDC_BODY_INITIAL 4096

G_DEFINE_QUARK (da - oidc - error - quark, da_oidc_error)

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

static gboolean
string_is_printable (const gchar *s)
{
	for (; *s != '\0'; s++) {
		if ((guchar) *s < 0x20 || *s == 0x7f)
			return FALSE;
	}
	return TRUE;
}

static gboolean
url_is_web (const gchar *url)
{
	return (g_str_has_prefix (url, "https://") || g_str_has_prefix (url, "http://")) &&
	       string_is_printable (url) && g_uri_is_valid (url, G_URI_FLAGS_NONE, NULL);
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
	if (description != NULL && string_is_printable (description))
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

static gchar *
strip_slash (const gchar *url)
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
	want = strip_slash (expected_issuer);
	got = strip_slash (issuer);
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
	if (!string_is_printable (user_code)) {
		g_set_error_literal (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
				     "\"user_code\" holds control characters");
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
				     "\"verification_uri\" is not an http(s) URL");
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

static gchar *
base64url_encode (const guchar *data, gsize len)
{
	gchar *s = g_base64_encode (data, len);
	gsize n = strlen (s);

	while (n > 0 && s[n - 1] == '=')
		s[--n] = '\0';
	for (gsize i = 0; i < n; i++) {
		if (s[i] == '+')
			s[i] = '-';
		else if (s[i] == '/')
			s[i] = '_';
	}
	return s;
}

DaSecret *
da_oidc_pkce_verifier_new (void)
{
	guchar raw[32];
	g_autofree gchar *encoded = NULL;
	DaSecret *verifier;

	if (getrandom (raw, sizeof raw, 0) != sizeof raw)
		g_error ("getrandom() failed");
	encoded = base64url_encode (raw, sizeof raw);
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
	return base64url_encode (digest, len);
}

/* ---- HTTP ---- */

#define DA_OIDC_RETRY_AFTER_MAX (3600)

struct _DaOidcClient {
	GObject parent_instance;
	SoupSession *session;
	guint timeout_sec;
	GHashTable *retry_at;	   /* host → wall-clock seconds, from Retry-After */
	GHashTable *discovered;	   /* issuer → DaOidcEndpoints: one discovery per IdP */
	GHashTable *discovering;   /* issuer → GPtrArray of GTask waiting for it */
	GHashTable *fetching_jwks; /* jwks_uri → GPtrArray of GTask waiting for it */
};

static gchar *
url_host (const gchar *url)
{
	g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
	if (uri == NULL || g_uri_get_host (uri) == NULL)
		return NULL;
	return g_strdup_printf ("%s:%d", g_uri_get_host (uri), g_uri_get_port (uri));
}

/* When the IdP last said (429 or 503 with Retry-After) to come back, in
 * unix seconds; 0 when it did not, or that time has passed. */
gint64
da_oidc_client_get_retry_at (DaOidcClient *self, const gchar *url)
{
	g_autofree gchar *host = url_host (url);
	gint64 at;

	if (host == NULL)
		return 0;
	at = GPOINTER_TO_SIZE (g_hash_table_lookup (self->retry_at, host));
	return at > g_get_real_time () / G_USEC_PER_SEC ? at : 0;
}

static void
note_retry_after (DaOidcClient *self, SoupMessage *msg)
{
	const gchar *value = soup_message_headers_get_one (soup_message_get_response_headers (msg),
							   "Retry-After");
	g_autofree gchar *host = NULL;
	guint64 delay = 0;
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;

	if (value == NULL)
		return;
	if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT32, &delay, NULL)) {
		g_autoptr(GDateTime) date = soup_date_time_new_from_http_string (value);
		if (date == NULL)
			return;
		delay = (guint64) MAX (g_date_time_to_unix (date) - now, 0);
	}
	delay = MIN (delay, DA_OIDC_RETRY_AFTER_MAX);
	{
		g_autofree gchar *url = g_uri_to_string (soup_message_get_uri (msg));
		host = url_host (url);
	}
	if (host == NULL)
		return;
	g_hash_table_replace (self->retry_at, g_steal_pointer (&host),
			      GSIZE_TO_POINTER ((gsize) (now + (gint64) delay)));
}

G_DEFINE_TYPE (DaOidcClient, da_oidc_client, G_TYPE_OBJECT)

typedef gpointer (*DaOidcParseFunc) (guint status,
				     const gchar *data,
				     gsize len,
				     const gchar *extra,
				     GError **error);

typedef struct {
	SoupMessage *msg;
	GInputStream *stream;
	GByteArray *body; /* secret: grown only by body_append() */
	gsize body_alloc;
	DaOidcParseFunc parse;
	GDestroyNotify free_result;
	gchar *extra;
	GCancellable *cancellable; /* cancelled by the caller or the deadline */
	GCancellable *caller_cancellable;
	gulong caller_handler;
	guint deadline_id;
	gboolean timed_out;
	gint64 sent_us; /* wall clock */
} DaOidcRequest;

/* A token's life counts from when its request left, not from when it was
 * queued: libsoup holds requests back while the host's connections are
 * busy, and a request queued for longer than 75 % of the life would come
 * back looking due for a refresh at once. */
static void
request_wrote_headers_cb (SoupMessage *msg, gpointer user_data)
{
	DaOidcRequest *req = user_data;

	req->sent_us = g_get_real_time ();
}

static void
da_oidc_request_free (DaOidcRequest *req)
{
	if (req->msg != NULL)
		g_signal_handlers_disconnect_by_data (req->msg, req);
	g_clear_handle_id (&req->deadline_id, g_source_remove);
	if (req->caller_handler != 0)
		g_cancellable_disconnect (req->caller_cancellable, req->caller_handler);
	g_clear_object (&req->caller_cancellable);
	g_clear_object (&req->cancellable);
	g_clear_object (&req->stream);
	g_clear_object (&req->msg);
	g_clear_pointer (&req->body, da_secret_byte_array_free);
	g_free (req->extra);
	g_free (req);
}

static void
request_fail (GTask *task, GError *error)
{
	DaOidcRequest *req = g_task_get_task_data (task);
	g_autoptr(GError) owned = error;

	if (req->timed_out && g_error_matches (owned, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		DaOidcClient *self = g_task_get_source_object (task);
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_NETWORK,
					 "no answer within %u s", self->timeout_sec);
		return;
	}
	if (owned->domain == DA_OIDC_ERROR ||
	    g_error_matches (owned, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_task_return_error (task, g_steal_pointer (&owned));
		return;
	}
	g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_NETWORK, "%s", owned->message);
}

static gboolean
content_type_is_json (SoupMessage *msg)
{
	const gchar *ct = soup_message_headers_get_content_type (
		soup_message_get_response_headers (msg), NULL);
	/* an absent type is tolerated; a wrong one is not */
	return ct == NULL || g_strcmp0 (ct, "application/json") == 0 ||
	       g_str_has_suffix (ct, "+json");
}

static gpointer
parse_tokens_cb (guint status, const gchar *data, gsize len, const gchar *extra, GError **error);

static void
request_done (GTask *task)
{
	DaOidcRequest *req = g_task_get_task_data (task);
	guint status = soup_message_get_status (req->msg);
	GError *error = NULL;
	gpointer result;

	if (status == 429 || status == 503)
		note_retry_after (g_task_get_source_object (task), req->msg);

	if (req->body->len > 0 && status < 500 && status != 429 &&
	    !content_type_is_json (req->msg)) {
		g_task_return_new_error (
			task, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
			"HTTP %u with a body that is not JSON (%s)", status,
			soup_message_headers_get_content_type (
				soup_message_get_response_headers (req->msg), NULL));
		return;
	}
	result = req->parse (status, (const gchar *) req->body->data, req->body->len, req->extra,
			     &error);
	if (result == NULL) {
		g_task_return_error (task, error);
		return;
	}
	if (req->parse == parse_tokens_cb)
		((DaOidcTokens *) result)->requested_at = req->sent_us;
	g_task_return_pointer (task, result, req->free_result);
}

/* Appends to the body, which may hold tokens: a full buffer is not
 * realloc()ed (that would leave a copy behind in freed memory) but copied
 * into one twice as large, and wiped. */
static void
body_append (DaOidcRequest *req, const guint8 *data, gsize len)
{
	if (req->body->len + len > req->body_alloc) {
		gsize alloc = req->body_alloc * 2;
		GByteArray *larger;

		while (alloc < req->body->len + len)
			alloc *= 2;
		larger = g_byte_array_sized_new ((guint) alloc);
		g_byte_array_append (larger, req->body->data, req->body->len);
		da_secret_byte_array_free (req->body);
		req->body = larger;
		req->body_alloc = alloc;
	}
	g_byte_array_append (req->body, data, (guint) len);
}

static void
request_read_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	DaOidcRequest *req = g_task_get_task_data (task);
	g_autoptr(GBytes) chunk = NULL;
	GError *error = NULL;
	gsize len;

	chunk = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), res, &error);
	if (chunk == NULL) {
		request_fail (task, error);
		return;
	}
	len = g_bytes_get_size (chunk);
	if (len == 0) {
		request_done (task);
		return;
	}
	if (req->body->len + len > DA_OIDC_BODY_MAX) {
		gsize wipe_len = 0;
		gpointer data = g_bytes_unref_to_data (g_steal_pointer (&chunk), &wipe_len);
		da_secret_wipe (data, wipe_len);
		g_free (data);
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
					 "response is larger than %d KiB", DA_OIDC_BODY_MAX / 1024);
		return;
	}
	body_append (req, g_bytes_get_data (chunk, NULL), len);
	da_secret_bytes_unref (g_steal_pointer (&chunk));
	g_input_stream_read_bytes_async (req->stream, DA_OIDC_READ_CHUNK, G_PRIORITY_DEFAULT,
					 req->cancellable, request_read_cb,
					 g_steal_pointer (&task));
}

static void
request_send_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	DaOidcRequest *req = g_task_get_task_data (task);
	GError *error = NULL;
	goffset declared;

	req->stream = soup_session_send_finish (SOUP_SESSION (source), res, &error);
	if (req->stream == NULL) {
		request_fail (task, error);
		return;
	}
	declared = soup_message_headers_get_content_length (
		soup_message_get_response_headers (req->msg));
	if (declared > DA_OIDC_BODY_MAX) {
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
					 "response is larger than %d KiB", DA_OIDC_BODY_MAX / 1024);
		return;
	}
	g_input_stream_read_bytes_async (req->stream, DA_OIDC_READ_CHUNK, G_PRIORITY_DEFAULT,
					 req->cancellable, request_read_cb,
					 g_steal_pointer (&task));
}

static gboolean
request_deadline_cb (gpointer user_data)
{
	DaOidcRequest *req = user_data;

	req->deadline_id = 0;
	req->timed_out = TRUE;
	g_cancellable_cancel (req->cancellable);
	return G_SOURCE_REMOVE;
}

static void
request_caller_cancelled_cb (GCancellable *caller, gpointer user_data)
{
	GCancellable *inner = user_data;
	g_cancellable_cancel (inner);
}

static void
request_async (DaOidcClient *self,
	       SoupMessage *msg,
	       DaOidcParseFunc parse,
	       GDestroyNotify free_result,
	       const gchar *extra,
	       GCancellable *cancellable,
	       gpointer source_tag,
	       GAsyncReadyCallback callback,
	       gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	DaOidcRequest *req;
	g_autofree gchar *url = g_uri_to_string (soup_message_get_uri (msg));
	gint64 retry_at = da_oidc_client_get_retry_at (self, url);

	g_task_set_source_tag (task, source_tag);
	if (retry_at > 0) {
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_HTTP,
					 "the IdP asked to wait %" G_GINT64_FORMAT
					 " s more (Retry-After)",
					 retry_at - g_get_real_time () / G_USEC_PER_SEC);
		return;
	}
	req = g_new0 (DaOidcRequest, 1);
	g_task_set_task_data (task, req, (GDestroyNotify) da_oidc_request_free);
	/* a redirect could carry a secret to another host: never follow one */
	soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
	req->msg = g_object_ref (msg);
	req->parse = parse;
	req->free_result = free_result;
	req->extra = g_strdup (extra);
	req->body = g_byte_array_sized_new (DA_OIDC_BODY_INITIAL);
	req->body_alloc = DA_OIDC_BODY_INITIAL;
	req->sent_us = g_get_real_time ();
	g_signal_connect (msg, "wrote-headers", G_CALLBACK (request_wrote_headers_cb), req);
	req->cancellable = g_cancellable_new ();
	if (cancellable != NULL) {
		req->caller_cancellable = g_object_ref (cancellable);
		req->caller_handler = g_cancellable_connect (
			cancellable, G_CALLBACK (request_caller_cancelled_cb),
			g_object_ref (req->cancellable), g_object_unref);
	}
	/* the session's timeout bounds each read; this bounds the whole exchange */
	req->deadline_id = g_timeout_add_seconds (self->timeout_sec * 2, request_deadline_cb, req);
	soup_session_send_async (self->session, msg, G_PRIORITY_DEFAULT, req->cancellable,
				 request_send_cb, g_steal_pointer (&task));
}

/* application/x-www-form-urlencoded, built in one allocation that is wiped
 * when libsoup is done with it: the form carries secrets. */
static gsize
form_escape (const gchar *s, gchar *out)
{
	static const gchar hex[] = "0123456789ABCDEF";
	gsize n = 0;

	for (; *s != '\0'; s++) {
		guchar c = (guchar) *s;
		if (g_ascii_isalnum (c) || c == '-' || c == '.' || c == '_' || c == '~') {
			if (out != NULL)
				out[n] = (gchar) c;
			n++;
		} else {
			if (out != NULL) {
				out[n] = '%';
				out[n + 1] = hex[c >> 4];
				out[n + 2] = hex[c & 0xf];
			}
			n += 3;
		}
	}
	return n;
}

static void
form_free (gpointer data)
{
	da_secret_free (data);
}

static GBytes *
form_encode (const gchar *const *pairs)
{
	gsize len = 0;
	gsize pos = 0;
	gchar *buf;

	for (guint i = 0; pairs[i] != NULL; i += 2) {
		if (pairs[i + 1] == NULL)
			continue;
		len += form_escape (pairs[i], NULL) + form_escape (pairs[i + 1], NULL) + 2;
	}
	buf = g_malloc (len + 1);
	for (guint i = 0; pairs[i] != NULL; i += 2) {
		if (pairs[i + 1] == NULL)
			continue;
		if (pos > 0)
			buf[pos++] = '&';
		pos += form_escape (pairs[i], buf + pos);
		buf[pos++] = '=';
		pos += form_escape (pairs[i + 1], buf + pos);
	}
	buf[pos] = '\0';
	return g_bytes_new_with_free_func (buf, pos, form_free, buf);
}

/* Client authentication is client_secret_post (RFC 6749 2.3.1), which
 * Keycloak and every certified IdP accept. Pairs with a NULL value are
 * left out. */
static SoupMessage *
form_message_new (const gchar *endpoint, const DaOidcClientAuth *auth, const gchar *const *pairs)
{
	g_autoptr(SoupMessage) msg = soup_message_new ("POST", endpoint);
	g_autoptr(GPtrArray) all = g_ptr_array_new ();
	g_autoptr(GBytes) body = NULL;

	if (msg == NULL)
		return NULL;
	for (guint i = 0; pairs[i] != NULL; i += 2) {
		g_ptr_array_add (all, (gpointer) pairs[i]);
		g_ptr_array_add (all, (gpointer) pairs[i + 1]);
	}
	g_ptr_array_add (all, (gpointer) "client_id");
	g_ptr_array_add (all, (gpointer) auth->client_id);
	g_ptr_array_add (all, (gpointer) "client_secret");
	g_ptr_array_add (all, (gpointer) auth->client_secret);
	g_ptr_array_add (all, NULL);
	body = form_encode ((const gchar *const *) all->pdata);
	soup_message_set_request_body_from_bytes (msg, "application/x-www-form-urlencoded", body);
	soup_message_headers_replace (soup_message_get_request_headers (msg), "Accept",
				      "application/json");
	return g_steal_pointer (&msg);
}

static void
return_bad_url (DaOidcClient *self,
		const gchar *url,
		gpointer source_tag,
		GAsyncReadyCallback callback,
		gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
	g_task_set_source_tag (task, source_tag);
	g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED, "'%s' is not a URL",
				 url);
}

static gpointer
parse_discovery_cb (guint status, const gchar *data, gsize len, const gchar *issuer, GError **error)
{
	if (status != 200) {
		g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_HTTP, "discovery failed: HTTP %u",
			     status);
		return NULL;
	}
	return da_oidc_parse_discovery (data, len, issuer, error);
}

/* ---- requests that callers share while one is under way ---- */

/* Joins @task to the request for @key under way in @in_flight; FALSE when
 * there is none. */
static gboolean
shared_join (GHashTable *in_flight, const gchar *key, GTask **task)
{
	GPtrArray *waiters = g_hash_table_lookup (in_flight, key);

	if (waiters == NULL)
		return FALSE;
	g_ptr_array_add (waiters, g_steal_pointer (task));
	return TRUE;
}

static void
shared_begin (GHashTable *in_flight, const gchar *key, GTask **task)
{
	GPtrArray *waiters = g_ptr_array_new_with_free_func (g_object_unref);

	g_ptr_array_add (waiters, g_steal_pointer (task));
	g_hash_table_insert (in_flight, g_strdup (key), waiters);
}

/* Ends the request for @key: each of its callers gets a reference to
 * @result (from @ref) or, without one, a copy of @error. */
static void
shared_end (GHashTable *in_flight,
	    const gchar *key,
	    gpointer result,
	    gpointer (*ref) (gpointer),
	    GDestroyNotify unref,
	    const GError *error)
{
	g_autoptr(GPtrArray) waiters = NULL;
	g_autofree gchar *stolen = NULL;

	g_hash_table_steal_extended (in_flight, key, (gpointer *) &stolen, (gpointer *) &waiters);
	for (guint i = 0; waiters != NULL && i < waiters->len; i++) {
		GTask *task = g_ptr_array_index (waiters, i);
		if (result != NULL)
			g_task_return_pointer (task, ref (result), unref);
		else
			g_task_return_error (task, g_error_copy (error));
	}
}

static void
discover_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	DaOidcClient *self = DA_OIDC_CLIENT (source);
	g_autofree gchar *issuer = user_data;
	g_autoptr(GError) error = NULL;
	DaOidcEndpoints *found;

	found = g_task_propagate_pointer (G_TASK (res), &error);
	if (found != NULL)
		g_hash_table_replace (self->discovered, g_strdup (issuer), found);
	shared_end (self->discovering, issuer, found,
		    (gpointer (*) (gpointer)) da_oidc_endpoints_ref,
		    (GDestroyNotify) da_oidc_endpoints_unref, error);
}

/* One discovery per issuer, shared by every account that names it, and
 * kept for the life of the daemon. */
void
da_oidc_client_discover_async (DaOidcClient *self,
			       const gchar *issuer,
			       GCancellable *cancellable,
			       GAsyncReadyCallback callback,
			       gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	g_autofree gchar *base = strip_slash (issuer);
	g_autofree gchar *url = g_strconcat (base, "/.well-known/openid-configuration", NULL);
	g_autoptr(SoupMessage) msg = NULL;
	const DaOidcEndpoints *cached = g_hash_table_lookup (self->discovered, issuer);

	g_task_set_source_tag (task, da_oidc_client_discover_async);
	if (cached != NULL) {
		g_task_return_pointer (task, da_oidc_endpoints_ref ((DaOidcEndpoints *) cached),
				       (GDestroyNotify) da_oidc_endpoints_unref);
		return;
	}
	if (shared_join (self->discovering, issuer, &task))
		return;
	msg = soup_message_new ("GET", url);
	if (msg == NULL) {
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
					 "'%s' is not a URL", url);
		return;
	}
	shared_begin (self->discovering, issuer, &task);
	soup_message_headers_replace (soup_message_get_request_headers (msg), "Accept",
				      "application/json");
	request_async (self, msg, parse_discovery_cb, (GDestroyNotify) da_oidc_endpoints_unref,
		       issuer, NULL, discover_done_cb, discover_done_cb, g_strdup (issuer));
}

DaOidcEndpoints *
da_oidc_client_discover_finish (DaOidcClient *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	return g_task_propagate_pointer (G_TASK (res), error);
}

static gpointer
parse_device_auth_cb (guint status,
		      const gchar *data,
		      gsize len,
		      const gchar *extra,
		      GError **error)
{
	return da_oidc_parse_device_auth (status, data, len, error);
}

void
da_oidc_client_device_auth_async (DaOidcClient *self,
				  const gchar *endpoint,
				  const DaOidcClientAuth *auth,
				  const gchar *scope,
				  const gchar *code_challenge,
				  GCancellable *cancellable,
				  GAsyncReadyCallback callback,
				  gpointer user_data)
{
	const gchar *pairs[] = {
		"scope",
		scope,
		"code_challenge",
		code_challenge,
		"code_challenge_method",
		code_challenge != NULL ? "S256" : NULL,
		NULL,
	};
	g_autoptr(SoupMessage) msg = form_message_new (endpoint, auth, pairs);

	if (msg == NULL) {
		return_bad_url (self, endpoint, da_oidc_client_device_auth_async, callback,
				user_data);
		return;
	}
	request_async (self, msg, parse_device_auth_cb, (GDestroyNotify) da_oidc_device_auth_free,
		       NULL, cancellable, da_oidc_client_device_auth_async, callback, user_data);
}

DaOidcDeviceAuth *
da_oidc_client_device_auth_finish (DaOidcClient *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	return g_task_propagate_pointer (G_TASK (res), error);
}

static gpointer
parse_tokens_cb (guint status, const gchar *data, gsize len, const gchar *extra, GError **error)
{
	return da_oidc_parse_tokens (status, data, len, error);
}

static void
token_request_async (DaOidcClient *self,
		     const gchar *endpoint,
		     const DaOidcClientAuth *auth,
		     const gchar *const *pairs,
		     GCancellable *cancellable,
		     GAsyncReadyCallback callback,
		     gpointer user_data)
{
	g_autoptr(SoupMessage) msg = form_message_new (endpoint, auth, pairs);

	if (msg == NULL) {
		return_bad_url (self, endpoint, token_request_async, callback, user_data);
		return;
	}
	request_async (self, msg, parse_tokens_cb, (GDestroyNotify) da_oidc_tokens_free, NULL,
		       cancellable, token_request_async, callback, user_data);
}

void
da_oidc_client_poll_device_async (DaOidcClient *self,
				  const gchar *endpoint,
				  const DaOidcClientAuth *auth,
				  const gchar *device_code,
				  const gchar *code_verifier,
				  GCancellable *cancellable,
				  GAsyncReadyCallback callback,
				  gpointer user_data)
{
	const gchar *pairs[] = {
		"grant_type",
		"urn:ietf:params:oauth:grant-type:device_code",
		"device_code",
		device_code,
		"code_verifier",
		code_verifier,
		NULL,
	};
	token_request_async (self, endpoint, auth, pairs, cancellable, callback, user_data);
}

void
da_oidc_client_refresh_async (DaOidcClient *self,
			      const gchar *endpoint,
			      const DaOidcClientAuth *auth,
			      const gchar *refresh_token,
			      GCancellable *cancellable,
			      GAsyncReadyCallback callback,
			      gpointer user_data)
{
	const gchar *pairs[] = {
		"grant_type", "refresh_token", "refresh_token", refresh_token, NULL,
	};
	token_request_async (self, endpoint, auth, pairs, cancellable, callback, user_data);
}

DaOidcTokens *
da_oidc_client_tokens_finish (DaOidcClient *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	return g_task_propagate_pointer (G_TASK (res), error);
}

static gpointer
parse_revocation_cb (guint status, const gchar *data, gsize len, const gchar *extra, GError **error)
{
	if (!da_oidc_parse_revocation (status, data, len, error))
		return NULL;
	return GINT_TO_POINTER (1);
}

void
da_oidc_client_revoke_async (DaOidcClient *self,
			     const gchar *endpoint,
			     const DaOidcClientAuth *auth,
			     const gchar *token,
			     const gchar *token_type_hint,
			     GCancellable *cancellable,
			     GAsyncReadyCallback callback,
			     gpointer user_data)
{
	const gchar *pairs[] = {
		"token", token, "token_type_hint", token_type_hint, NULL,
	};
	g_autoptr(SoupMessage) msg = form_message_new (endpoint, auth, pairs);

	if (msg == NULL) {
		return_bad_url (self, endpoint, da_oidc_client_revoke_async, callback, user_data);
		return;
	}
	request_async (self, msg, parse_revocation_cb, NULL, NULL, cancellable,
		       da_oidc_client_revoke_async, callback, user_data);
}

gboolean
da_oidc_client_revoke_finish (DaOidcClient *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), FALSE);
	return g_task_propagate_pointer (G_TASK (res), error) != NULL;
}

static gpointer
parse_jwks_cb (guint status, const gchar *data, gsize len, const gchar *extra, GError **error)
{
	if (status != 200) {
		g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_HTTP,
			     "the IdP's keys (jwks_uri) answered HTTP %u", status);
		return NULL;
	}
	return g_bytes_new (data, len);
}

static void
fetch_jwks_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	DaOidcClient *self = DA_OIDC_CLIENT (source);
	g_autofree gchar *jwks_uri = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) jwks = g_task_propagate_pointer (G_TASK (res), &error);

	shared_end (self->fetching_jwks, jwks_uri, jwks, (gpointer (*) (gpointer)) g_bytes_ref,
		    (GDestroyNotify) g_bytes_unref, error);
}

/* The keys are fetched anew for each caller (an IdP may have rotated them
 * since), but callers that ask while a fetch is under way share it: the
 * sign-ins of many accounts of one IdP make one request, not one each. */
void
da_oidc_client_fetch_jwks_async (DaOidcClient *self,
				 const gchar *jwks_uri,
				 GCancellable *cancellable,
				 GAsyncReadyCallback callback,
				 gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	g_autoptr(SoupMessage) msg = NULL;

	g_task_set_source_tag (task, da_oidc_client_fetch_jwks_async);
	if (shared_join (self->fetching_jwks, jwks_uri, &task))
		return;
	msg = soup_message_new ("GET", jwks_uri);
	if (msg == NULL) {
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
					 "'%s' is not a URL", jwks_uri);
		return;
	}
	shared_begin (self->fetching_jwks, jwks_uri, &task);
	soup_message_headers_replace (soup_message_get_request_headers (msg), "Accept",
				      "application/jwk-set+json, application/json");
	request_async (self, msg, parse_jwks_cb, (GDestroyNotify) g_bytes_unref, NULL, NULL,
		       fetch_jwks_done_cb, fetch_jwks_done_cb, g_strdup (jwks_uri));
}

GBytes *
da_oidc_client_fetch_jwks_finish (DaOidcClient *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	return g_task_propagate_pointer (G_TASK (res), error);
}

static void
da_oidc_client_finalize (GObject *object)
{
	DaOidcClient *self = DA_OIDC_CLIENT (object);

	g_clear_object (&self->session);
	g_clear_pointer (&self->retry_at, g_hash_table_unref);
	g_clear_pointer (&self->discovered, g_hash_table_unref);
	g_clear_pointer (&self->discovering, g_hash_table_unref);
	g_clear_pointer (&self->fetching_jwks, g_hash_table_unref);
	G_OBJECT_CLASS (da_oidc_client_parent_class)->finalize (object);
}

static void
da_oidc_client_class_init (DaOidcClientClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = da_oidc_client_finalize;
}

static void
da_oidc_client_init (DaOidcClient *self)
{
	self->retry_at = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	self->discovered = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
						  (GDestroyNotify) da_oidc_endpoints_unref);
	self->discovering = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
						   (GDestroyNotify) g_ptr_array_unref);
	self->fetching_jwks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
						     (GDestroyNotify) g_ptr_array_unref);
}

DaOidcClient *
da_oidc_client_new (guint timeout_sec)
{
	DaOidcClient *self = g_object_new (DA_TYPE_OIDC_CLIENT, NULL);

	self->timeout_sec = timeout_sec > 0 ? timeout_sec : 30;
	self->session = soup_session_new_with_options (
		"timeout", self->timeout_sec, "idle-timeout", 60, "max-conns", 64,
		"max-conns-per-host", 8, "user-agent", "devauthd/" PACKAGE_VERSION, NULL);
	/* no proxy from the environment of whoever started the daemon */
	soup_session_set_proxy_resolver (self->session, NULL);
	return self;
}
