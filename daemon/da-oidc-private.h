/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What da-oidc.c (the requests: discovery, device authorization, tokens,
 * revocation, the JWKS; the object) and da-oidc-request.c (one HTTP
 * exchange: deadline, body limits, Retry-After, the form) share. */

#include <libsoup/soup.h>

#include "da-oidc.h"

G_BEGIN_DECLS

struct _DaOidcClient {
	GObject parent_instance;
	SoupSession *session;
	guint timeout_sec;
	gchar *ca_file;			     /* the one CA trusted; NULL: the system's store */
	GTlsDatabase *ca_database;	     /* of ca_file */
	gchar *proxy;			     /* what Proxy= said, for errors; NULL: direct */
	DaSecret *proxy_credentials;	     /* USER:PASSWORD, for the proxy's 407 */
	GTlsCertificate *client_certificate; /* tls_client_auth; NULL: none */
	GHashTable *retry_at;		     /* host → wall-clock seconds, from Retry-After */
	GHashTable *discovered;		     /* issuer → DaOidcEndpoints: one discovery per IdP */
	GHashTable *discovering;	     /* issuer → GPtrArray of GTask waiting for it */
	GHashTable *fetching_jwks;	     /* jwks_uri → GPtrArray of GTask waiting for it */
};

gint64
da_oidc_client_get_retry_at (DaOidcClient *self, const gchar *url);

typedef gpointer (*DaOidcParseFunc) (guint status,
				     const gchar *data,
				     gsize len,
				     const gchar *extra,
				     GError **error);

typedef enum {
	DA_OIDC_REQUEST_NONE = 0,
	/* the result is a DaOidcTokens: stamp it with when the request left */
	DA_OIDC_REQUEST_TOKENS = 1 << 0,
} DaOidcRequestFlags;

/* Sends @msg (never following a redirect), reads at most DA_OIDC_BODY_MAX
 * and returns what @parse makes of the answer, freed with @free_result. */
void
da_oidc_request_async (DaOidcClient *self,
		       SoupMessage *msg,
		       DaOidcParseFunc parse,
		       DaOidcRequestFlags flags,
		       GDestroyNotify free_result,
		       const gchar *extra,
		       GCancellable *cancellable,
		       gpointer source_tag,
		       GAsyncReadyCallback callback,
		       gpointer user_data);
SoupMessage *
da_oidc_form_message_new (const gchar *endpoint,
			  const DaOidcClientAuth *auth,
			  const gchar *const *pairs,
			  GError **error);
void
da_oidc_return_error (DaOidcClient *self,
		      GError *error,
		      gpointer source_tag,
		      GAsyncReadyCallback callback,
		      gpointer user_data);
gchar *
da_oidc_strip_slash (const gchar *url);

G_END_DECLS
