/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Limits on what the IdP (or whoever handed us the token) controls. */
#define DA_JWT_TOKEN_MAX (64 * 1024)
#define DA_JWT_JWKS_MAX	 (256 * 1024)
#define DA_JWT_KEYS_MAX	 32
#define DA_JWT_CLAIM_MAX 255

/* The claims of an ID token: verified by da_jwt_verify_id_token(), or only
 * parsed, for display, by da_jwt_unverified_claims(). @sub is always set;
 * the display claims are NULL when absent or unusable (not printable UTF-8,
 * or longer than DA_JWT_CLAIM_MAX bytes). */
typedef struct {
	gchar *sub;
	gchar *preferred_username;
	gchar *name;
	gchar *email;
	gint64 exp;
	gint64 iat;
} DaIdClaims;

void
da_id_claims_free (DaIdClaims *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaIdClaims, da_id_claims_free)

DaIdClaims *
da_jwt_verify_id_token (const gchar *jwt,
			const gchar *jwks,
			gsize jwks_len,
			const gchar *issuer,
			const gchar *client_id,
			gint64 now_sec,
			guint leeway_sec,
			GError **error);

DaIdClaims *
da_jwt_unverified_claims (const gchar *jwt);

/* RFC 7515 base64url, without padding */
gchar *
da_jwt_base64url_encode (const guchar *data, gsize len);
guchar *
da_jwt_base64url_decode (const gchar *in, gsize len, gsize *out_len);

G_END_DECLS
