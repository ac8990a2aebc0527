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
#include <math.h>
#include <nettle/bignum.h>
#include <nettle/dsa.h>
#include <nettle/ecc-curve.h>
#include <nettle/ecc.h>
#include <nettle/ecdsa.h>
#include <nettle/eddsa.h>
#include <nettle/rsa.h>
#include <nettle/sha2.h>
#include <string.h>

#include "da-error.h"
#include "da-json.h"
#include "da-jwt.h"

/* json-glib recurses once per level; a JWS header, a JWKS and ID token
 * claims need three or four */
#define DA_JWT_JSON_DEPTH_MAX 16
/* json-glib 1.6 reads larger integers as -1 (da-json.h); NumericDates have 12 */
#define DA_JWT_JSON_DIGITS_MAX 18
#define DA_JWT_KID_MAX	       256
#define DA_JWT_RSA_BITS_MIN    2048
#define DA_JWT_RSA_BITS_MAX    16384
/* 65537 in practice; a huge exponent would make verifying as slow as signing */
#define DA_JWT_RSA_E_BYTES_MAX 8
/* NumericDate up to 9999-12-31 23:59:59 UTC */
#define DA_JWT_TIME_MAX G_GINT64_CONSTANT (253402300799)
/* how much of an untrusted string a message shows */
#define DA_JWT_SHOW_MAX 64

/* the error for everything the IdP (or the token's bearer) got wrong */
#define DA_JWT_ERROR_CODE DA_ERROR_IDP_ERROR

typedef enum {
	JWS_SHA256,
	JWS_SHA384,
	JWS_SHA512,
	JWS_HASH_NONE,
} JwsHash;

typedef enum {
	JWS_PKCS1,
	JWS_PSS,
	JWS_ECDSA,
	JWS_EDDSA,
} JwsScheme;

typedef struct {
	const gchar *name;
	JwsScheme scheme;
	JwsHash hash;
	const gchar *kty;
	const gchar *crv;
	/* EC: the bytes of x, y, r and s; OKP: of x */
	gsize coord_len;
	const struct ecc_curve *(*curve) (void);
} JwsAlg;

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

/* RFC 8017 9.2 note 1: DER of the DigestInfo before a SHA-384 digest;
 * nettle 3.8 has no rsa_sha384_verify_digest() */
static const guint8 sha384_digest_info[] = {
	0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30,
};

/* What verifying one signature needs; all borrowed. */
typedef struct {
	const JwsAlg *alg;
	JsonObject *jwk;
	/* "key 'abc'" or "the one RSA key", for messages */
	const gchar *label;
	const gchar *signing_input;
	gsize signing_input_len;
	const guchar *sig;
	gsize sig_len;
} Verification;

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

static gboolean
node_is_string (JsonNode *node)
{
	return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
	       json_node_get_value_type (node) == G_TYPE_STRING;
}

/* a string member, or NULL when absent or of another type */
static const gchar *
member_string (JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member (obj, name);

	return node_is_string (node) ? json_node_get_string (node) : NULL;
}

static gboolean
array_has_string (JsonArray *array, const gchar *value)
{
	guint n = json_array_get_length (array);

	for (guint i = 0; i < n; i++) {
		JsonNode *node = json_array_get_element (array, i);
		if (node_is_string (node) && g_strcmp0 (json_node_get_string (node), value) == 0)
			return TRUE;
	}
	return FALSE;
}

/* Non-empty valid UTF-8 of at most @max bytes, without control characters. */
static gboolean
text_is_printable (const gchar *s, gsize max)
{
	gsize len = strlen (s);

	if (len == 0 || len > max || !g_utf8_validate (s, (gssize) len, NULL))
		return FALSE;
	for (const gchar *p = s; *p != '\0'; p = g_utf8_next_char (p)) {
		if (g_unichar_iscntrl (g_utf8_get_char (p)))
			return FALSE;
	}
	return TRUE;
}

/* An untrusted string for a message: escaped and cut short. */
static gchar *
show (const gchar *s)
{
	g_autofree gchar *cut = NULL;
	g_autofree gchar *escaped = NULL;

	if (strlen (s) <= DA_JWT_SHOW_MAX)
		return g_strescape (s, NULL);
	cut = g_strndup (s, DA_JWT_SHOW_MAX);
	escaped = g_strescape (cut, NULL);
	return g_strconcat (escaped, "...", NULL);
}

static gchar *
format_time (gint64 t)
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
	const gchar *name = member_string (header, "alg");
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
	shown = show (name);
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
	if (!node_is_string (node) ||
	    !text_is_printable (json_node_get_string (node), DA_JWT_KID_MAX)) {
		g_set_error (
			error, DA_ERROR, DA_JWT_ERROR_CODE,
			"ID token header has a \"kid\" that is not a printable string of at most %u bytes",
			(guint) DA_JWT_KID_MAX);
		return FALSE;
	}
	*kid = json_node_get_string (node);
	return TRUE;
}

/* ---- the key ---- */

/* Whether @jwk may verify @alg signatures: kty and crv fit, and use, alg
 * and key_ops, when there, allow it. */
static gboolean
jwk_fits (JsonObject *jwk, const JwsAlg *alg)
{
	JsonNode *ops = json_object_get_member (jwk, "key_ops");

	if (g_strcmp0 (member_string (jwk, "kty"), alg->kty) != 0)
		return FALSE;
	if (alg->crv != NULL && g_strcmp0 (member_string (jwk, "crv"), alg->crv) != 0)
		return FALSE;
	if (json_object_has_member (jwk, "use") &&
	    g_strcmp0 (member_string (jwk, "use"), "sig") != 0)
		return FALSE;
	if (json_object_has_member (jwk, "alg") &&
	    g_strcmp0 (member_string (jwk, "alg"), alg->name) != 0)
		return FALSE;
	if (ops != NULL && !(JSON_NODE_HOLDS_ARRAY (ops) &&
			     array_has_string (json_node_get_array (ops), "verify")))
		return FALSE;
	return TRUE;
}

/* The one key among the first DA_JWT_KEYS_MAX of @keys that has @kid (any
 * when NULL) and fits @alg. */
static JsonObject *
select_key (JsonArray *keys, const JwsAlg *alg, const gchar *kid, GError **error)
{
	guint n_keys = json_array_get_length (keys);
	guint n_considered = MIN (n_keys, DA_JWT_KEYS_MAX);
	g_autofree gchar *shown = kid != NULL ? show (kid) : NULL;
	JsonObject *found = NULL;
	gboolean kid_seen = FALSE;
	guint n_fit = 0;

	if (kid == NULL && n_keys > DA_JWT_KEYS_MAX) {
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token names no key (kid) and the IdP's JWKS has %u keys: "
			     "cannot tell which one signed it",
			     n_keys);
		return NULL;
	}
	for (guint i = 0; i < n_considered; i++) {
		JsonNode *node = json_array_get_element (keys, i);
		JsonObject *jwk;

		if (!JSON_NODE_HOLDS_OBJECT (node))
			continue;
		jwk = json_node_get_object (node);
		if (kid != NULL && g_strcmp0 (member_string (jwk, "kid"), kid) != 0)
			continue;
		kid_seen = TRUE;
		if (!jwk_fits (jwk, alg))
			continue;
		if (found == NULL)
			found = jwk;
		n_fit++;
	}
	if (n_fit == 1)
		return found;
	if (n_fit > 1 && kid != NULL) {
		g_set_error (
			error, DA_ERROR, DA_JWT_ERROR_CODE,
			"the IdP's JWKS has %u %s keys '%s': cannot tell which one signed the ID token",
			n_fit, alg->name, shown);
	} else if (n_fit > 1) {
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token names no key (kid) and the IdP's JWKS has %u %s keys: "
			     "cannot tell which one signed it",
			     n_fit, alg->name);
	} else if (kid != NULL && kid_seen) {
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "key '%s' of the IdP's JWKS is not for %s signatures "
			     "(its kty, crv, use, alg or key_ops do not fit)",
			     shown, alg->name);
	} else if (kid != NULL && n_keys > n_considered) {
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "no key '%s' among the first %u keys of the IdP's JWKS (it has %u)",
			     shown, n_considered, n_keys);
	} else if (kid != NULL) {
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE, "no key '%s' in the IdP's JWKS",
			     shown);
	} else {
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "the IdP's JWKS has no key for %s signatures", alg->name);
	}
	return NULL;
}

static gchar *
key_label (JsonObject *jwk, const JwsAlg *alg)
{
	const gchar *kid = member_string (jwk, "kid");
	g_autofree gchar *shown = NULL;

	if (kid == NULL)
		return g_strdup_printf ("the one %s key", alg->kty);
	shown = show (kid);
	return g_strdup_printf ("key '%s'", shown);
}

static gboolean G_GNUC_PRINTF (3, 4)
	bad_key (const Verification *v, GError **error, const gchar *format, ...)
{
	g_autofree gchar *what = NULL;
	va_list args;

	va_start (args, format);
	what = g_strdup_vprintf (format, args);
	va_end (args);
	g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE, "%s of the IdP's JWKS %s", v->label, what);
	return FALSE;
}

static gboolean
bad_signature (const Verification *v, GError **error)
{
	g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
		     "ID token signature does not verify with %s of the IdP's JWKS", v->label);
	return FALSE;
}

static gboolean
bad_signature_length (const Verification *v, gsize expected, GError **error)
{
	g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
		     "ID token signature does not verify with %s of the IdP's JWKS "
		     "(it is %" G_GSIZE_FORMAT " bytes, not %" G_GSIZE_FORMAT ")",
		     v->label, v->sig_len, expected);
	return FALSE;
}

/* The base64url member @name of the key: 1 to @max bytes, or exactly @max
 * when @exact. */
static guchar *
jwk_bytes (const Verification *v,
	   const gchar *name,
	   gsize max,
	   gboolean exact,
	   gsize *len,
	   GError **error)
{
	const gchar *text = member_string (v->jwk, name);
	g_autofree guchar *bytes = NULL;

	*len = 0;
	if (text != NULL && strlen (text) <= (max + 2) / 3 * 4)
		bytes = da_jwt_base64url_decode (text, strlen (text), len);
	if (bytes != NULL && *len > 0 && (exact ? *len == max : *len <= max))
		return g_steal_pointer (&bytes);
	if (exact)
		bad_key (v, error, "has no \"%s\" of %" G_GSIZE_FORMAT " bytes (base64url)", name,
			 max);
	else
		bad_key (v, error, "has no \"%s\" of at most %" G_GSIZE_FORMAT " bytes (base64url)",
			 name, max);
	return NULL;
}

static gsize
hash_signing_input (const Verification *v, guint8 digest[SHA512_DIGEST_SIZE])
{
	const guint8 *data = (const guint8 *) v->signing_input;
	gsize len = v->signing_input_len;

	switch (v->alg->hash) {
	case JWS_SHA256: {
		struct sha256_ctx ctx;
		sha256_init (&ctx);
		sha256_update (&ctx, len, data);
		sha256_digest (&ctx, SHA256_DIGEST_SIZE, digest);
		return SHA256_DIGEST_SIZE;
	}
	case JWS_SHA384: {
		struct sha384_ctx ctx;
		sha384_init (&ctx);
		sha384_update (&ctx, len, data);
		sha384_digest (&ctx, SHA384_DIGEST_SIZE, digest);
		return SHA384_DIGEST_SIZE;
	}
	case JWS_SHA512: {
		struct sha512_ctx ctx;
		sha512_init (&ctx);
		sha512_update (&ctx, len, data);
		sha512_digest (&ctx, SHA512_DIGEST_SIZE, digest);
		return SHA512_DIGEST_SIZE;
	}
	case JWS_HASH_NONE:
		break;
	}
	return 0;
}

/* RSASSA-PKCS1-v1_5 or RSASSA-PSS with a salt as long as the hash
 * (RFC 7518 3.5); @key and @s are initialized */
static gboolean
rsa_verify_with (const Verification *v, struct rsa_public_key *key, mpz_t s, GError **error)
{
	g_autofree guchar *n = NULL;
	g_autofree guchar *e = NULL;
	guint8 digest[SHA512_DIGEST_SIZE];
	guint8 digest_info[sizeof sha384_digest_info + SHA384_DIGEST_SIZE];
	gsize n_len = 0;
	gsize e_len = 0;
	gsize digest_len;
	gsize bits;
	int ok = 0;

	/* one more byte than the largest modulus: a leading zero */
	n = jwk_bytes (v, "n", DA_JWT_RSA_BITS_MAX / 8 + 1, FALSE, &n_len, error);
	if (n == NULL)
		return FALSE;
	e = jwk_bytes (v, "e", DA_JWT_RSA_E_BYTES_MAX, FALSE, &e_len, error);
	if (e == NULL)
		return FALSE;
	nettle_mpz_set_str_256_u (key->n, n_len, n);
	nettle_mpz_set_str_256_u (key->e, e_len, e);
	bits = mpz_sizeinbase (key->n, 2);
	if (bits < DA_JWT_RSA_BITS_MIN)
		return bad_key (v, error,
				"is a %" G_GSIZE_FORMAT
				"-bit RSA key; at least %u bits are required",
				bits, (guint) DA_JWT_RSA_BITS_MIN);
	if (bits > DA_JWT_RSA_BITS_MAX)
		return bad_key (v, error,
				"is a %" G_GSIZE_FORMAT
				"-bit RSA key; at most %u bits are supported",
				bits, (guint) DA_JWT_RSA_BITS_MAX);
	if (mpz_even_p (key->e) || mpz_cmp_ui (key->e, 3) < 0 || mpz_even_p (key->n) ||
	    !rsa_public_key_prepare (key))
		return bad_key (v, error, "is not a valid RSA public key");
	/* RFC 8017 8.1.2, 8.2.2: exactly as long as the modulus */
	if (v->sig_len != key->size)
		return bad_signature_length (v, key->size, error);
	nettle_mpz_set_str_256_u (s, v->sig_len, v->sig);

	digest_len = hash_signing_input (v, digest);
	switch (v->alg->scheme) {
	case JWS_PKCS1:
		if (v->alg->hash == JWS_SHA256) {
			ok = rsa_sha256_verify_digest (key, digest, s);
		} else if (v->alg->hash == JWS_SHA384) {
			memcpy (digest_info, sha384_digest_info, sizeof sha384_digest_info);
			memcpy (digest_info + sizeof sha384_digest_info, digest,
				SHA384_DIGEST_SIZE);
			ok = rsa_pkcs1_verify (key, sizeof digest_info, digest_info, s);
		} else if (v->alg->hash == JWS_SHA512) {
			ok = rsa_sha512_verify_digest (key, digest, s);
		}
		break;
	case JWS_PSS:
		if (v->alg->hash == JWS_SHA256)
			ok = rsa_pss_sha256_verify_digest (key, digest_len, digest, s);
		else if (v->alg->hash == JWS_SHA384)
			ok = rsa_pss_sha384_verify_digest (key, digest_len, digest, s);
		else if (v->alg->hash == JWS_SHA512)
			ok = rsa_pss_sha512_verify_digest (key, digest_len, digest, s);
		break;
	case JWS_ECDSA:
	case JWS_EDDSA:
		break;
	}
	return ok ? TRUE : bad_signature (v, error);
}

static gboolean
verify_rsa (const Verification *v, GError **error)
{
	struct rsa_public_key key;
	mpz_t s;
	gboolean ok;

	rsa_public_key_init (&key);
	mpz_init (s);
	ok = rsa_verify_with (v, &key, s, error);
	mpz_clear (s);
	rsa_public_key_clear (&key);
	return ok;
}

/* ECDSA over P-256, P-384 or P-521; the JWS signature is r || s, each as
 * long as a coordinate (RFC 7518 3.4), not DER; all initialized */
static gboolean
ecdsa_verify_with (const Verification *v,
		   struct ecc_point *pub,
		   struct dsa_signature *rs,
		   mpz_t x,
		   mpz_t y,
		   GError **error)
{
	gsize coord_len = v->alg->coord_len;
	g_autofree guchar *xb = NULL;
	g_autofree guchar *yb = NULL;
	guint8 digest[SHA512_DIGEST_SIZE];
	gsize digest_len;
	gsize len = 0;

	xb = jwk_bytes (v, "x", coord_len, TRUE, &len, error);
	if (xb == NULL)
		return FALSE;
	yb = jwk_bytes (v, "y", coord_len, TRUE, &len, error);
	if (yb == NULL)
		return FALSE;
	nettle_mpz_set_str_256_u (x, coord_len, xb);
	nettle_mpz_set_str_256_u (y, coord_len, yb);
	if (!ecc_point_set (pub, x, y))
		return bad_key (v, error, "is not a point on %s", v->alg->crv);
	if (v->sig_len != 2 * coord_len)
		return bad_signature_length (v, 2 * coord_len, error);
	nettle_mpz_set_str_256_u (rs->r, coord_len, v->sig);
	nettle_mpz_set_str_256_u (rs->s, coord_len, v->sig + coord_len);
	digest_len = hash_signing_input (v, digest);
	if (!ecdsa_verify (pub, digest_len, digest, rs))
		return bad_signature (v, error);
	return TRUE;
}

static gboolean
verify_ecdsa (const Verification *v, GError **error)
{
	struct ecc_point pub;
	struct dsa_signature rs;
	mpz_t x;
	mpz_t y;
	gboolean ok;

	ecc_point_init (&pub, v->alg->curve ());
	dsa_signature_init (&rs);
	mpz_init (x);
	mpz_init (y);
	ok = ecdsa_verify_with (v, &pub, &rs, x, y, error);
	mpz_clear (y);
	mpz_clear (x);
	dsa_signature_clear (&rs);
	ecc_point_clear (&pub);
	return ok;
}

/* RFC 8037: the message itself, not a digest */
static gboolean
verify_ed25519 (const Verification *v, GError **error)
{
	g_autofree guchar *pub = NULL;
	gsize len = 0;

	pub = jwk_bytes (v, "x", ED25519_KEY_SIZE, TRUE, &len, error);
	if (pub == NULL)
		return FALSE;
	if (v->sig_len != ED25519_SIGNATURE_SIZE)
		return bad_signature_length (v, ED25519_SIGNATURE_SIZE, error);
	if (!ed25519_sha512_verify (pub, v->signing_input_len, (const guint8 *) v->signing_input,
				    v->sig))
		return bad_signature (v, error);
	return TRUE;
}

static gboolean
verify_signature (const Verification *v, GError **error)
{
	switch (v->alg->scheme) {
	case JWS_PKCS1:
	case JWS_PSS:
		return verify_rsa (v, error);
	case JWS_ECDSA:
		return verify_ecdsa (v, error);
	case JWS_EDDSA:
		return verify_ed25519 (v, error);
	}
	g_return_val_if_reached (FALSE);
}

/* ---- the claims ---- */

/* A NumericDate claim (seconds since 1970, maybe with a fraction), cut to
 * whole seconds; -1 with no error when absent. */
static gint64
claim_time (JsonObject *claims, const gchar *name, GError **error)
{
	JsonNode *node = json_object_get_member (claims, name);
	gint64 value = -1;

	if (node == NULL)
		return -1;
	if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64) {
		value = json_node_get_int (node);
	} else if (JSON_NODE_HOLDS_VALUE (node) &&
		   json_node_get_value_type (node) == G_TYPE_DOUBLE) {
		gdouble d = json_node_get_double (node);
		if (isfinite (d) && d >= 0 && d <= (gdouble) DA_JWT_TIME_MAX)
			value = (gint64) d;
	}
	if (value < 0 || value > DA_JWT_TIME_MAX) {
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "\"%s\" claim of the ID token is not a time (seconds since 1970)",
			     name);
		return -2;
	}
	return value;
}

static gint64
required_claim_time (JsonObject *claims, const gchar *name, GError **error)
{
	gint64 value = claim_time (claims, name, error);

	if (value == -1)
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE, "ID token has no \"%s\" claim",
			     name);
	return value;
}

static gboolean
check_issuer (JsonObject *claims, const gchar *issuer, GError **error)
{
	const gchar *iss = member_string (claims, "iss");
	g_autofree gchar *shown = NULL;

	if (iss == NULL) {
		g_set_error_literal (error, DA_ERROR, DA_JWT_ERROR_CODE,
				     "ID token has no \"iss\" claim");
		return FALSE;
	}
	if (strcmp (iss, issuer) != 0) {
		shown = show (iss);
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token is from the issuer '%s', not '%s'", shown, issuer);
		return FALSE;
	}
	return TRUE;
}

/* aud is the client or a list with it; azp, needed with several
 * audiences, is the client */
static gboolean
check_audience (JsonObject *claims, const gchar *client_id, GError **error)
{
	JsonNode *aud = json_object_get_member (claims, "aud");
	JsonNode *azp_node = json_object_get_member (claims, "azp");
	const gchar *first = NULL;
	g_autofree gchar *shown = NULL;
	gboolean ours = FALSE;
	guint n_aud = 0;

	if (node_is_string (aud)) {
		first = json_node_get_string (aud);
		n_aud = 1;
		ours = strcmp (first, client_id) == 0;
	} else if (aud != NULL && JSON_NODE_HOLDS_ARRAY (aud)) {
		JsonArray *array = json_node_get_array (aud);
		n_aud = json_array_get_length (array);
		for (guint i = 0; i < n_aud; i++) {
			JsonNode *node = json_array_get_element (array, i);
			if (!node_is_string (node)) {
				g_set_error_literal (
					error, DA_ERROR, DA_JWT_ERROR_CODE,
					"\"aud\" claim of the ID token is not a string "
					"or an array of strings");
				return FALSE;
			}
			if (first == NULL)
				first = json_node_get_string (node);
		}
		ours = array_has_string (array, client_id);
	}
	if (first == NULL) {
		g_set_error_literal (error, DA_ERROR, DA_JWT_ERROR_CODE,
				     "ID token has no \"aud\" claim");
		return FALSE;
	}
	if (!ours) {
		shown = show (first);
		if (n_aud == 1)
			g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
				     "ID token is for audience '%s', not the client '%s'", shown,
				     client_id);
		else
			g_set_error (
				error, DA_ERROR, DA_JWT_ERROR_CODE,
				"ID token is for audience '%s' and %u more, not the client '%s'",
				shown, n_aud - 1, client_id);
		return FALSE;
	}
	if (azp_node != NULL && !node_is_string (azp_node)) {
		g_set_error_literal (error, DA_ERROR, DA_JWT_ERROR_CODE,
				     "\"azp\" claim of the ID token is not a string");
		return FALSE;
	}
	if (azp_node == NULL && n_aud > 1) {
		g_set_error (
			error, DA_ERROR, DA_JWT_ERROR_CODE,
			"ID token has %u audiences but no \"azp\" claim naming the client '%s'",
			n_aud, client_id);
		return FALSE;
	}
	if (azp_node != NULL && strcmp (json_node_get_string (azp_node), client_id) != 0) {
		shown = show (json_node_get_string (azp_node));
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token was issued to the client '%s' (azp), not '%s'", shown,
			     client_id);
		return FALSE;
	}
	return TRUE;
}

static gboolean
check_times (JsonObject *claims, gint64 now, guint leeway, gint64 *exp, gint64 *iat, GError **error)
{
	g_autofree gchar *now_str = format_time (now);
	g_autofree gchar *when = NULL;
	gint64 nbf;

	*exp = required_claim_time (claims, "exp", error);
	if (*exp < 0)
		return FALSE;
	*iat = required_claim_time (claims, "iat", error);
	if (*iat < 0)
		return FALSE;
	nbf = claim_time (claims, "nbf", error);
	if (nbf == -2)
		return FALSE;
	/* the claims are at most DA_JWT_TIME_MAX and leeway a guint: no overflow */
	if (now >= *exp + (gint64) leeway) {
		when = format_time (*exp);
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token expired at %s (now %s, leeway %u s)", when, now_str, leeway);
		return FALSE;
	}
	if (*iat - (gint64) leeway > now) {
		when = format_time (*iat);
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token was issued in the future, at %s (now %s, leeway %u s): "
			     "is this machine's clock or the IdP's wrong?",
			     when, now_str, leeway);
		return FALSE;
	}
	if (nbf >= 0 && nbf - (gint64) leeway > now) {
		when = format_time (nbf);
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token is not valid before %s (now %s, leeway %u s)", when, now_str,
			     leeway);
		return FALSE;
	}
	return TRUE;
}

/* an optional claim for display: a copy, or NULL when absent or unusable */
static gchar *
display_claim (JsonObject *claims, const gchar *name)
{
	const gchar *value = member_string (claims, name);

	if (value == NULL || !text_is_printable (value, DA_JWT_CLAIM_MAX))
		return NULL;
	return g_strdup (value);
}

static DaIdClaims *
check_claims (JsonObject *claims,
	      const gchar *issuer,
	      const gchar *client_id,
	      gint64 now,
	      guint leeway,
	      GError **error)
{
	g_autoptr(DaIdClaims) self = g_new0 (DaIdClaims, 1);
	const gchar *sub;

	if (!check_issuer (claims, issuer, error))
		return NULL;
	if (!check_audience (claims, client_id, error))
		return NULL;
	if (!check_times (claims, now, leeway, &self->exp, &self->iat, error))
		return NULL;
	sub = member_string (claims, "sub");
	if (sub == NULL || !text_is_printable (sub, DA_JWT_CLAIM_MAX)) {
		g_set_error (
			error, DA_ERROR, DA_JWT_ERROR_CODE,
			"ID token has no usable \"sub\" claim (a printable string of at most %u bytes)",
			(guint) DA_JWT_CLAIM_MAX);
		return NULL;
	}
	self->sub = g_strdup (sub);
	self->preferred_username = display_claim (claims, "preferred_username");
	self->name = display_claim (claims, "name");
	self->email = display_claim (claims, "email");
	return g_steal_pointer (&self);
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
	jwk = select_key (json_node_get_array (keys), *alg, kid, error);
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

	label = key_label (jwk, alg);
	v.alg = alg;
	v.jwk = jwk;
	v.label = label;
	v.signing_input = jwt;
	v.signing_input_len = (gsize) (parts.sig - 1 - jwt);
	v.sig = sig;
	v.sig_len = sig_len;
	if (!verify_signature (&v, error))
		return NULL;

	payload = decode_part (parts.payload, parts.payload_len, "payload", &payload_len, error);
	if (payload == NULL)
		return NULL;
	claims_parser = parse_json_object ((const gchar *) payload, payload_len, "ID token payload",
					   FALSE, &claims, error);
	if (claims_parser == NULL)
		return NULL;
	return check_claims (claims, issuer, client_id, now_sec, leeway_sec, error);
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
	sub = member_string (claims, "sub");
	if (sub == NULL || !text_is_printable (sub, DA_JWT_CLAIM_MAX))
		return NULL;
	self = g_new0 (DaIdClaims, 1);
	self->sub = g_strdup (sub);
	self->preferred_username = display_claim (claims, "preferred_username");
	self->name = display_claim (claims, "name");
	self->email = display_claim (claims, "email");
	self->exp = MAX (claim_time (claims, "exp", NULL), 0);
	self->iat = MAX (claim_time (claims, "iat", NULL), 0);
	return g_steal_pointer (&self);
}
