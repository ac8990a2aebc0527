/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the files of the ID token check share: da-jwt.c (the compact
 * serialization, the header, the JSON, all together), da-jwt-signature.c
 * (the key from the JWKS and the JWS signature, with nettle and hogweed),
 * da-jwt-claims.c (iss, aud, azp, exp, iat, nbf, the person's name). */

#include <json-glib/json-glib.h>
#include <nettle/ecc-curve.h>
#include <nettle/eddsa.h>

#include "da-error.h"
#include "da-jwt.h"

G_BEGIN_DECLS

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

gboolean
da_jwt_node_is_string (JsonNode *node);
const gchar *
da_jwt_member_string (JsonObject *obj, const gchar *name);
gboolean
da_jwt_array_has_string (JsonArray *array, const gchar *value);
gboolean
da_jwt_text_is_printable (const gchar *s, gsize max);
gchar *
da_jwt_show (const gchar *s);
gchar *
da_jwt_format_time (gint64 t);
JsonObject *
da_jwt_select_key (JsonArray *keys, const JwsAlg *alg, const gchar *kid, GError **error);
gchar *
da_jwt_key_label (JsonObject *jwk, const JwsAlg *alg);
gboolean
da_jwt_verify_signature (const Verification *v, GError **error);
gint64
da_jwt_claim_time (JsonObject *claims, const gchar *name, GError **error);
gchar *
da_jwt_display_claim (JsonObject *claims, const gchar *name);
DaIdClaims *
da_jwt_check_claims (JsonObject *claims,
		     const gchar *issuer,
		     const gchar *client_id,
		     gint64 now,
		     guint leeway,
		     GError **error);

G_END_DECLS
