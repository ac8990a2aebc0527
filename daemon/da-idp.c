/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-idp.h"

G_DEFINE_INTERFACE (DaIdp, da_idp, G_TYPE_OBJECT)

static void
da_idp_default_init (DaIdpInterface *iface)
{
}

gint64
da_idp_get_retry_at (DaIdp *self, const gchar *url)
{
	g_return_val_if_fail (DA_IS_IDP (self), 0);

	return DA_IDP_GET_IFACE (self)->get_retry_at (self, url);
}

void
da_idp_discover_async (DaIdp *self,
		       const gchar *issuer,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data)
{
	g_return_if_fail (DA_IS_IDP (self));

	DA_IDP_GET_IFACE (self)->discover_async (self, issuer, cancellable, callback, user_data);
}

DaOidcEndpoints *
da_idp_discover_finish (DaIdp *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	return g_task_propagate_pointer (G_TASK (res), error);
}

void
da_idp_device_auth_async (DaIdp *self,
			  const gchar *endpoint,
			  const DaOidcClientAuth *auth,
			  const gchar *scope,
			  const gchar *code_challenge,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data)
{
	g_return_if_fail (DA_IS_IDP (self));

	DA_IDP_GET_IFACE (self)->device_auth_async (self, endpoint, auth, scope, code_challenge,
						    cancellable, callback, user_data);
}

DaOidcDeviceAuth *
da_idp_device_auth_finish (DaIdp *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	return g_task_propagate_pointer (G_TASK (res), error);
}

void
da_idp_poll_device_async (DaIdp *self,
			  const gchar *endpoint,
			  const DaOidcClientAuth *auth,
			  const gchar *device_code,
			  const gchar *code_verifier,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data)
{
	g_return_if_fail (DA_IS_IDP (self));

	DA_IDP_GET_IFACE (self)->poll_device_async (
		self, endpoint, auth, device_code, code_verifier, cancellable, callback, user_data);
}

void
da_idp_refresh_async (DaIdp *self,
		      const gchar *endpoint,
		      const DaOidcClientAuth *auth,
		      const gchar *refresh_token,
		      GCancellable *cancellable,
		      GAsyncReadyCallback callback,
		      gpointer user_data)
{
	g_return_if_fail (DA_IS_IDP (self));

	DA_IDP_GET_IFACE (self)->refresh_async (self, endpoint, auth, refresh_token, cancellable,
						callback, user_data);
}

void
da_idp_client_credentials_async (DaIdp *self,
				 const gchar *endpoint,
				 const DaOidcClientAuth *auth,
				 const gchar *scope,
				 GCancellable *cancellable,
				 GAsyncReadyCallback callback,
				 gpointer user_data)
{
	g_return_if_fail (DA_IS_IDP (self));
	g_return_if_fail (DA_IDP_GET_IFACE (self)->client_credentials_async != NULL);

	DA_IDP_GET_IFACE (self)->client_credentials_async (self, endpoint, auth, scope, cancellable,
							   callback, user_data);
}

DaOidcTokens *
da_idp_tokens_finish (DaIdp *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	return g_task_propagate_pointer (G_TASK (res), error);
}

void
da_idp_revoke_async (DaIdp *self,
		     const gchar *endpoint,
		     const DaOidcClientAuth *auth,
		     const gchar *token,
		     const gchar *token_type_hint,
		     GCancellable *cancellable,
		     GAsyncReadyCallback callback,
		     gpointer user_data)
{
	g_return_if_fail (DA_IS_IDP (self));

	DA_IDP_GET_IFACE (self)->revoke_async (self, endpoint, auth, token, token_type_hint,
					       cancellable, callback, user_data);
}

gboolean
da_idp_revoke_finish (DaIdp *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), FALSE);
	return g_task_propagate_pointer (G_TASK (res), error) != NULL;
}

void
da_idp_fetch_jwks_async (DaIdp *self,
			 const gchar *jwks_uri,
			 GCancellable *cancellable,
			 GAsyncReadyCallback callback,
			 gpointer user_data)
{
	g_return_if_fail (DA_IS_IDP (self));

	DA_IDP_GET_IFACE (self)->fetch_jwks_async (self, jwks_uri, cancellable, callback,
						   user_data);
}

GBytes *
da_idp_fetch_jwks_finish (DaIdp *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	return g_task_propagate_pointer (G_TASK (res), error);
}
