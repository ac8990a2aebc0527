/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "da-secret.h"

G_BEGIN_DECLS

/* how long a client assertion is valid (RFC 7523 3: a short exp) */
#define DA_CLIENT_ASSERTION_LIFETIME_SEC 60

/* Checks that @pem (a PEM private key) is one devauthd signs with: RSA of
 * 2048 bits or more (RS256), or EC P-256 (ES256). */
gboolean
da_client_key_check (const DaSecret *pem, GError **error);

/* RFC 7523 2.2 / OIDC Core 9 private_key_jwt: a JWT signed with @pem whose
 * iss and sub are @client_id, aud @audience, with a fresh jti, iat @now and
 * exp @now + DA_CLIENT_ASSERTION_LIFETIME_SEC; the header names @key_id
 * when not NULL. */
gchar *
da_client_assertion_new (const DaSecret *pem,
			 const gchar *key_id,
			 const gchar *client_id,
			 const gchar *audience,
			 gint64 now,
			 GError **error);

G_END_DECLS
