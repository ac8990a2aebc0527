/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Verifies an OpenID Connect ID token, a compact JWS (RFC 7515), with a key
 * of the IdP's JWKS (RFC 7517) and checks its claims (OIDC Core 3.1.3.7).
 * Asymmetric algorithms only (RFC 7518 3.3-3.5, RFC 8037): RS*, PS*, ES*
 * and EdDSA with Ed25519; never "none" or an HMAC, whose "secret" would be
 * the IdP's public key. The header's jku, jwk, x5u and x5c are ignored: the
 * key always comes from the JWKS the caller fetched.
 *
 * Everything here is input from outside: every length is bounded before
 * it is read, and the claims are not looked at before the signature
 * verifies. Messages name keys, issuers and audiences, escaped and cut
 * short; never the token or its signature. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "da-error.h"
#include "da-json.h"
#include "da-text.h"
#include "da-jwt-private.h"

/* json-glib recurses once per level; a JWS header, a JWKS and ID token
 * claims need three or four */
static const JwsAlg jws_algs[] = {
	{"RS256", JWS_PKCS1, JWS_SHA256, "RSA", NULL, 0, NULL},
	{"RS384", JWS_PKCS1, JWS_SHA384, "RSA", NULL, 0, NULL},
	{"RS512", JWS_PKCS1, JWS_SHA512, "RSA", NULL, 0, NULL},
	{"PS256", JWS_PSS, JWS_SHA256, "RSA", NULL, 0, NULL},
	{"PS384", JWS_PSS, JWS_SHA384, "RSA", NULL, 0, NULL},
	{"PS512", JWS_PSS, JWS_SHA512, "RSA", NULL, 0, NULL},
	{"ES256", JWS_ECDSA, JWS_SHA256, "EC", "P-256", 32, nettle_get_secp_256r1},
	{"ES384", JWS_ECDSA, JWS_SHA384, "EC", "P-384", 48, nettle_get_secp_384r1},
	{"ES512", JWS_ECDSA, JWS_SHA512, "EC", "P-521", 66, nettle_get_secp_521r1},
	{"EdDSA", JWS_EDDSA, JWS_HASH_NONE, "OKP", "Ed25519", ED25519_KEY_SIZE, NULL},
};

void
da_id_claims_free (DaIdClaims *self)
{
	if (self == NULL)
		return;
	g_free (self->sub);
	g_free (self->preferred_username);
	g_free (self->name);
	g_free (self->email);
	g_free (self);
}

/* ---- base64url (RFC 4648 5, RFC 7515 2) ---- */

static gint
base64url_value (gchar c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Strict: the URL-safe alphabet without padding, and the unused bits of the
 * last character zero, so that each byte string has one encoding. NULL for
 * anything else; an empty input gives an empty (non-NULL) buffer. */
gchar *
da_jwt_base64url_encode (const guchar *data, gsize len)
{
	gchar *out = g_base64_encode (data, len);
	gsize n = strlen (out);

	while (n > 0 && out[n - 1] == '=')
		out[--n] = '\0';
	for (gsize i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

guchar *
da_jwt_base64url_decode (const gchar *in, gsize len, gsize *out_len)
{
	g_autofree guchar *out = NULL;
	guint acc = 0;
	guint bits = 0;
	gsize n = 0;

	g_return_val_if_fail (out_len != NULL, NULL);
	g_return_val_if_fail (in != NULL || len == 0, NULL);

	*out_len = 0;
	if (len % 4 == 1)
		return NULL;
	out = g_malloc (len / 4 * 3 + 3);
	for (gsize i = 0; i < len; i++) {
		gint v = base64url_value (in[i]);
		if (v < 0)
			return NULL;
		acc = ((acc << 6) | (guint) v) & 0xfff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (guchar) (acc >> bits);
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0)
		return NULL;
	*out_len = n;
	return g_steal_pointer (&out);
}

/* ---- JSON ---- */

/* @what names the document in messages ("ID token header"); json-glib's
 * own message is added only for the JWKS, which is public. */
static JsonParser *
parse_json_object (const gchar *data,
		   gsize len,
		   const gchar *what,
		   gboolean with_detail,
		   JsonObject **obj,
		   GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable ();
	g_autoptr(GError) error_local = NULL;
	JsonNode *root;

	if (len == 0 || memchr (data, '\0', len) != NULL ||
	    !g_utf8_validate (data, (gssize) len, NULL)) {
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE, "%s is not JSON text", what);
		return NULL;
	}
	if (da_json_text_problem (data, len, DA_JWT_JSON_DEPTH_MAX, DA_JWT_JSON_DIGITS_MAX) !=
	    NULL) {
		g_set_error (
			error, DA_ERROR, DA_JWT_ERROR_CODE,
			"%s is nested too deeply, has a \\u0000 or a number of more than %u digits",
			what, (guint) DA_JWT_JSON_DIGITS_MAX);
		return NULL;
	}
	if (!json_parser_load_from_data (parser, data, (gssize) len, &error_local)) {
		if (with_detail)
			g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE, "%s is not JSON: %s", what,
				     error_local->message);
		else
			g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE, "%s is not JSON", what);
		return NULL;
	}
	root = json_parser_get_root (parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE, "%s is not a JSON object", what);
		return NULL;
	}
	*obj = json_node_get_object (root);
	return g_steal_pointer (&parser);
}

gboolean
da_jwt_node_is_string (JsonNode *node)
{
	return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
	       json_node_get_value_type (node) == G_TYPE_STRING;
}

/* a string member, or NULL when absent or of another type */
const gchar *
da_jwt_member_string (JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member (obj, name);

	return da_jwt_node_is_string (node) ? json_node_get_string (node) : NULL;
}

gboolean
da_jwt_array_has_string (JsonArray *array, const gchar *value)
{
	guint n = json_array_get_length (array);

	for (guint i = 0; i < n; i++) {
		JsonNode *node = json_array_get_element (array, i);
		if (da_jwt_node_is_string (node) &&
		    g_strcmp0 (json_node_get_string (node), value) == 0)
			return TRUE;
	}
	return FALSE;
}

/* Non-empty valid UTF-8 of at most @max bytes, without control or
 * bidirectional characters (da-text.h). */
gboolean
da_jwt_text_is_printable (const gchar *s, gsize max)
{
	gsize len = strlen (s);

	if (len == 0 || len > max || !g_utf8_validate (s, (gssize) len, NULL))
		return FALSE;
	for (const gchar *p = s; *p != '\0'; p = g_utf8_next_char (p)) {
		if (da_text_char_is_unsafe (g_utf8_get_char (p)))
			return FALSE;
	}
	return TRUE;
}

/* An untrusted string for a message: escaped and cut short. */
gchar *
da_jwt_show (const gchar *s)
{
	g_autofree gchar *cut = NULL;
	g_autofree gchar *escaped = NULL;

	if (strlen (s) <= DA_JWT_SHOW_MAX)
		return g_strescape (s, NULL);
	cut = g_strndup (s, DA_JWT_SHOW_MAX);
	escaped = g_strescape (cut, NULL);
	return g_strconcat (escaped, "...", NULL);
}

gchar *
da_jwt_format_time (gint64 t)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (t);

	if (dt == NULL)
		return g_strdup_printf ("%" G_GINT64_FORMAT, t);
	return g_date_time_format (dt, "%Y-%m-%d %H:%M:%S UTC");
}

/* ---- the compact serialization ---- */

typedef struct {
	const gchar *header;
	gsize header_len;
	const gchar *payload;
	gsize payload_len;
	const gchar *sig;
	gsize sig_len;
} JwsParts;

static gboolean
split_compact (const gchar *jwt, JwsParts *parts, GError **error)
{
	gsize len = strnlen (jwt, DA_JWT_TOKEN_MAX + 1);
	const gchar *dot1;
	const gchar *dot2;

	if (len > DA_JWT_TOKEN_MAX) {
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE, "ID token is larger than %u KiB",
			     (guint) (DA_JWT_TOKEN_MAX / 1024));
		return FALSE;
	}
	dot1 = memchr (jwt, '.', len);
	dot2 = dot1 != NULL ? memchr (dot1 + 1, '.', len - (gsize) (dot1 + 1 - jwt)) : NULL;
	if (dot2 == NULL || memchr (dot2 + 1, '.', len - (gsize) (dot2 + 1 - jwt)) != NULL) {
		g_set_error_literal (
			error, DA_ERROR, DA_JWT_ERROR_CODE,
			"ID token is not a compact JWS (three base64url parts joined by dots)");
		return FALSE;
	}
	parts->header = jwt;
	parts->header_len = (gsize) (dot1 - jwt);
	parts->payload = dot1 + 1;
	parts->payload_len = (gsize) (dot2 - parts->payload);
	parts->sig = dot2 + 1;
	parts->sig_len = len - (gsize) (parts->sig - jwt);
	return TRUE;
}

static guchar *
decode_part (const gchar *text, gsize len, const gchar *what, gsize *out_len, GError **error)
{
	guchar *bytes = da_jwt_base64url_decode (text, len, out_len);

	if (bytes == NULL)
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE, "ID token %s is not base64url",
			     what);
	return bytes;
}

/* ---- the header ---- */

static const JwsAlg *
header_alg (JsonObject *header, GError **error)
{
	const gchar *name = da_jwt_member_string (header, "alg");
	g_autofree gchar *shown = NULL;

	if (name == NULL) {
		g_set_error_literal (error, DA_ERROR, DA_JWT_ERROR_CODE,
				     "ID token header has no \"alg\"");
		return NULL;
	}
	for (gsize i = 0; i < G_N_ELEMENTS (jws_algs); i++) {
		if (strcmp (name, jws_algs[i].name) == 0)
			return &jws_algs[i];
	}
	shown = da_jwt_show (name);
	if (g_ascii_strcasecmp (name, "none") == 0)
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token alg '%s' is not accepted (the token is not signed)", shown);
	else if (g_ascii_strncasecmp (name, "HS", 2) == 0)
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token alg '%s' is not accepted (asymmetric signatures only)",
			     shown);
	else
		g_set_error (
			error, DA_ERROR, DA_JWT_ERROR_CODE,
			"ID token alg '%s' is not supported (RS256, RS384, RS512, PS256, PS384, "
			"PS512, ES256, ES384, ES512 and EdDSA are)",
			shown);
	return NULL;
}

/* The header's kid: NULL with no error when it has none. */
static gboolean
header_kid (JsonObject *header, const gchar **kid, GError **error)
{
	JsonNode *node = json_object_get_member (header, "kid");

	*kid = NULL;
	if (node == NULL)
		return TRUE;
	if (!da_jwt_node_is_string (node) ||
	    !da_jwt_text_is_printable (json_node_get_string (node), DA_JWT_KID_MAX)) {
		g_set_error (
			error, DA_ERROR, DA_JWT_ERROR_CODE,
			"ID token header has a \"kid\" that is not a printable string of at most %u bytes",
			(guint) DA_JWT_KID_MAX);
		return FALSE;
	}
	*kid = json_node_get_string (node);
	return TRUE;
}

/* ---- all together ---- */

/* The key of @jwks that is to verify a token with @header. */
static JsonObject *
find_key (JsonObject *header,
	  const gchar *jwks,
	  gsize jwks_len,
	  const JwsAlg **alg,
	  JsonParser **jwks_parser,
	  GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	JsonObject *set = NULL;
	JsonNode *keys;
	const gchar *kid;
	JsonObject *jwk;

	*alg = header_alg (header, error);
	if (*alg == NULL)
		return NULL;
	if (json_object_has_member (header, "crit")) {
		g_set_error_literal (
			error, DA_ERROR, DA_JWT_ERROR_CODE,
			"ID token header has \"crit\" extensions, which are not supported");
		return NULL;
	}
	if (!header_kid (header, &kid, error))
		return NULL;
	if (jwks == NULL || jwks_len > DA_JWT_JWKS_MAX) {
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "the IdP's JWKS is empty or larger than %u KiB",
			     (guint) (DA_JWT_JWKS_MAX / 1024));
		return NULL;
	}
	parser = parse_json_object (jwks, jwks_len, "the IdP's JWKS", TRUE, &set, error);
	if (parser == NULL)
		return NULL;
	keys = json_object_get_member (set, "keys");
	if (keys == NULL || !JSON_NODE_HOLDS_ARRAY (keys)) {
		g_set_error_literal (error, DA_ERROR, DA_JWT_ERROR_CODE,
				     "the IdP's JWKS has no \"keys\" array");
		return NULL;
	}
	jwk = da_jwt_select_key (json_node_get_array (keys), *alg, kid, error);
	if (jwk == NULL)
		return NULL;
	*jwks_parser = g_steal_pointer (&parser);
	return jwk;
}

/* The claims of @jwt, an ID token, if a key of @jwks (the IdP's JWKS, as
 * fetched from its jwks_uri) signed it, and it is from @issuer, for
 * @client_id, and valid at @now_sec give or take @leeway_sec. Else
 * DA_ERROR_IDP_ERROR with a message for the administrator. */
DaIdClaims *
da_jwt_verify_id_token (const gchar *jwt,
			const gchar *jwks,
			gsize jwks_len,
			const gchar *issuer,
			const gchar *client_id,
			gint64 now_sec,
			guint leeway_sec,
			GError **error)
{
	g_autoptr(JsonParser) header_parser = NULL;
	g_autoptr(JsonParser) jwks_parser = NULL;
	g_autoptr(JsonParser) claims_parser = NULL;
	g_autofree guchar *header = NULL;
	g_autofree guchar *sig = NULL;
	g_autofree guchar *payload = NULL;
	g_autofree gchar *label = NULL;
	JsonObject *header_obj = NULL;
	JsonObject *claims = NULL;
	const JwsAlg *alg = NULL;
	JsonObject *jwk;
	Verification v = {0};
	JwsParts parts;
	gsize header_len = 0;
	gsize sig_len = 0;
	gsize payload_len = 0;

	g_return_val_if_fail (issuer != NULL, NULL);
	g_return_val_if_fail (client_id != NULL, NULL);
	g_return_val_if_fail (error == NULL || *error == NULL, NULL);

	if (jwt == NULL) {
		g_set_error_literal (error, DA_ERROR, DA_JWT_ERROR_CODE,
				     "the IdP sent no ID token");
		return NULL;
	}
	if (!split_compact (jwt, &parts, error))
		return NULL;
	header = decode_part (parts.header, parts.header_len, "header", &header_len, error);
	if (header == NULL)
		return NULL;
	header_parser = parse_json_object ((const gchar *) header, header_len, "ID token header",
					   FALSE, &header_obj, error);
	if (header_parser == NULL)
		return NULL;
	jwk = find_key (header_obj, jwks, jwks_len, &alg, &jwks_parser, error);
	if (jwk == NULL)
		return NULL;
	sig = decode_part (parts.sig, parts.sig_len, "signature", &sig_len, error);
	if (sig == NULL)
		return NULL;

	label = da_jwt_key_label (jwk, alg);
	v.alg = alg;
	v.jwk = jwk;
	v.label = label;
	v.signing_input = jwt;
	v.signing_input_len = (gsize) (parts.sig - 1 - jwt);
	v.sig = sig;
	v.sig_len = sig_len;
	if (!da_jwt_verify_signature (&v, error))
		return NULL;

	payload = decode_part (parts.payload, parts.payload_len, "payload", &payload_len, error);
	if (payload == NULL)
		return NULL;
	claims_parser = parse_json_object ((const gchar *) payload, payload_len, "ID token payload",
					   FALSE, &claims, error);
	if (claims_parser == NULL)
		return NULL;
	return da_jwt_check_claims (claims, issuer, client_id, now_sec, leeway_sec, error);
}

/* The claims of @jwt WITHOUT verifying anything but its form and its sub:
 * for display only, when there is no JWKS to verify with and the token
 * came straight from the token endpoint over TLS (OIDC Core 3.1.3.7).
 * exp and iat are 0 when absent or malformed. NULL when @jwt is not a
 * compact JWS whose payload has a usable sub. */
DaIdClaims *
da_jwt_unverified_claims (const gchar *jwt)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(DaIdClaims) self = NULL;
	g_autofree guchar *payload = NULL;
	JsonObject *claims = NULL;
	const gchar *sub;
	JwsParts parts;
	gsize len = 0;

	if (jwt == NULL || !split_compact (jwt, &parts, NULL))
		return NULL;
	payload = da_jwt_base64url_decode (parts.payload, parts.payload_len, &len);
	if (payload == NULL)
		return NULL;
	parser = parse_json_object ((const gchar *) payload, len, "ID token payload", FALSE,
				    &claims, NULL);
	if (parser == NULL)
		return NULL;
	sub = da_jwt_member_string (claims, "sub");
	if (sub == NULL || !da_jwt_text_is_printable (sub, DA_JWT_CLAIM_MAX))
		return NULL;
	self = g_new0 (DaIdClaims, 1);
	self->sub = g_strdup (sub);
	self->preferred_username = da_jwt_display_claim (claims, "preferred_username");
	self->name = da_jwt_display_claim (claims, "name");
	self->email = da_jwt_display_claim (claims, "email");
	self->exp = MAX (da_jwt_claim_time (claims, "exp", NULL), 0);
	self->iat = MAX (da_jwt_claim_time (claims, "iat", NULL), 0);
	return g_steal_pointer (&self);
}
