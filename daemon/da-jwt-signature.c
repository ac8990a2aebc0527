/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An ID token's signature: the key picked from the IdP's JWKS (by kid, alg
 * and kty) and the JWS checked with it: RSASSA-PKCS1-v1_5, RSASSA-PSS,
 * ECDSA on P-256/384/521, Ed25519 (nettle and hogweed). */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <nettle/bignum.h>
#include <nettle/dsa.h>
#include <nettle/ecc.h>
#include <nettle/ecdsa.h>
#include <nettle/rsa.h>
#include <nettle/sha2.h>
#include <string.h>

#include "da-jwt-private.h"

/* RFC 8017 9.2 note 1: DER of the DigestInfo before a SHA-384 digest;
 * nettle 3.8 has no rsa_sha384_verify_digest() */
static const guint8 sha384_digest_info[] = {
	0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30,
};

/* ---- the key ---- */

/* Whether @jwk may verify @alg signatures: kty and crv fit, and use, alg
 * and key_ops, when there, allow it. */
static gboolean
jwk_fits (JsonObject *jwk, const JwsAlg *alg)
{
	JsonNode *ops = json_object_get_member (jwk, "key_ops");

	if (g_strcmp0 (da_jwt_member_string (jwk, "kty"), alg->kty) != 0)
		return FALSE;
	if (alg->crv != NULL && g_strcmp0 (da_jwt_member_string (jwk, "crv"), alg->crv) != 0)
		return FALSE;
	if (json_object_has_member (jwk, "use") &&
	    g_strcmp0 (da_jwt_member_string (jwk, "use"), "sig") != 0)
		return FALSE;
	if (json_object_has_member (jwk, "alg") &&
	    g_strcmp0 (da_jwt_member_string (jwk, "alg"), alg->name) != 0)
		return FALSE;
	if (ops != NULL && !(JSON_NODE_HOLDS_ARRAY (ops) &&
			     da_jwt_array_has_string (json_node_get_array (ops), "verify")))
		return FALSE;
	return TRUE;
}

/* The one key among the first DA_JWT_KEYS_MAX of @keys that has @kid (any
 * when NULL) and fits @alg. */
JsonObject *
da_jwt_select_key (JsonArray *keys, const JwsAlg *alg, const gchar *kid, GError **error)
{
	guint n_keys = json_array_get_length (keys);
	guint n_considered = MIN (n_keys, DA_JWT_KEYS_MAX);
	g_autofree gchar *shown = kid != NULL ? da_jwt_show (kid) : NULL;
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
		if (kid != NULL && g_strcmp0 (da_jwt_member_string (jwk, "kid"), kid) != 0)
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

gchar *
da_jwt_key_label (JsonObject *jwk, const JwsAlg *alg)
{
	const gchar *kid = da_jwt_member_string (jwk, "kid");
	g_autofree gchar *shown = NULL;

	if (kid == NULL)
		return g_strdup_printf ("the one %s key", alg->kty);
	shown = da_jwt_show (kid);
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
	const gchar *text = da_jwt_member_string (v->jwk, name);
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

gboolean
da_jwt_verify_signature (const Verification *v, GError **error)
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
