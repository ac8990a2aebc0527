/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-oidc.h"

G_BEGIN_DECLS

/* The identity provider as the core sees it: the requests an account and a
 * device flow make. DaOidcClient (da-oidc.c) speaks HTTP to a real one; the
 * unit tests script one (tests/unit/test-idp.c).
 *
 * Each *_async completes a GTask whose source object is @self with a
 * pointer: the endpoints, the device authorization, the tokens, the JWKS
 * bytes, or for a revocation any non-NULL pointer. The *_finish functions
 * read it. Errors are of
 * DA_OIDC_ERROR, or G_IO_ERROR_CANCELLED. */
#define DA_TYPE_IDP (da_idp_get_type ())
G_DECLARE_INTERFACE (DaIdp, da_idp, DA, IDP, GObject)

struct _DaIdpInterface {
	GTypeInterface parent_iface;

	/* wall-clock seconds before which @url's host asked not to be asked
	 * again (Retry-After); 0: none */
	gint64 (*get_retry_at) (DaIdp *self, const gchar *url);
	void (*discover_async) (DaIdp *self,
				const gchar *issuer,
				GCancellable *cancellable,
				GAsyncReadyCallback callback,
				gpointer user_data);
	void (*device_auth_async) (DaIdp *self,
				   const gchar *endpoint,
				   const DaOidcClientAuth *auth,
				   const gchar *scope,
				   const gchar *code_challenge,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data);
	void (*poll_device_async) (DaIdp *self,
				   const gchar *endpoint,
				   const DaOidcClientAuth *auth,
				   const gchar *device_code,
				   const gchar *code_verifier,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data);
	void (*refresh_async) (DaIdp *self,
			       const gchar *endpoint,
			       const DaOidcClientAuth *auth,
			       const gchar *refresh_token,
			       GCancellable *cancellable,
			       GAsyncReadyCallback callback,
			       gpointer user_data);
	/* RFC 6749 4.4: a token for the client itself; @scope NULL: the
	 * IdP's defaults */
	void (*client_credentials_async) (DaIdp *self,
					  const gchar *endpoint,
					  const DaOidcClientAuth *auth,
					  const gchar *scope,
					  GCancellable *cancellable,
					  GAsyncReadyCallback callback,
					  gpointer user_data);
	void (*revoke_async) (DaIdp *self,
			      const gchar *endpoint,
			      const DaOidcClientAuth *auth,
			      const gchar *token,
			      const gchar *token_type_hint,
			      GCancellable *cancellable,
			      GAsyncReadyCallback callback,
			      gpointer user_data);
	/* the IdP's JWKS (RFC 7517), as it came: da-jwt.c reads it */
	void (*fetch_jwks_async) (DaIdp *self,
				  const gchar *jwks_uri,
				  GCancellable *cancellable,
				  GAsyncReadyCallback callback,
				  gpointer user_data);
};

gint64
da_idp_get_retry_at (DaIdp *self, const gchar *url);

void
da_idp_discover_async (DaIdp *self,
		       const gchar *issuer,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data);
DaOidcEndpoints *
da_idp_discover_finish (DaIdp *self, GAsyncResult *res, GError **error);

void
da_idp_device_auth_async (DaIdp *self,
			  const gchar *endpoint,
			  const DaOidcClientAuth *auth,
			  const gchar *scope,
			  const gchar *code_challenge,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data);
DaOidcDeviceAuth *
da_idp_device_auth_finish (DaIdp *self, GAsyncResult *res, GError **error);

/* poll_device and refresh both end in tokens */
void
da_idp_poll_device_async (DaIdp *self,
			  const gchar *endpoint,
			  const DaOidcClientAuth *auth,
			  const gchar *device_code,
			  const gchar *code_verifier,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data);
void
da_idp_refresh_async (DaIdp *self,
		      const gchar *endpoint,
		      const DaOidcClientAuth *auth,
		      const gchar *refresh_token,
		      GCancellable *cancellable,
		      GAsyncReadyCallback callback,
		      gpointer user_data);
void
da_idp_client_credentials_async (DaIdp *self,
				 const gchar *endpoint,
				 const DaOidcClientAuth *auth,
				 const gchar *scope,
				 GCancellable *cancellable,
				 GAsyncReadyCallback callback,
				 gpointer user_data);
DaOidcTokens *
da_idp_tokens_finish (DaIdp *self, GAsyncResult *res, GError **error);

void
da_idp_revoke_async (DaIdp *self,
		     const gchar *endpoint,
		     const DaOidcClientAuth *auth,
		     const gchar *token,
		     const gchar *token_type_hint,
		     GCancellable *cancellable,
		     GAsyncReadyCallback callback,
		     gpointer user_data);
gboolean
da_idp_revoke_finish (DaIdp *self, GAsyncResult *res, GError **error);

void
da_idp_fetch_jwks_async (DaIdp *self,
			 const gchar *jwks_uri,
			 GCancellable *cancellable,
			 GAsyncReadyCallback callback,
			 gpointer user_data);
GBytes *
da_idp_fetch_jwks_finish (DaIdp *self, GAsyncResult *res, GError **error);

G_END_DECLS
