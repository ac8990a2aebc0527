/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An account's sign-in: one RFC 8628 device flow at a time, its prompt
 * (user code, URIs, QR code), its end in tokens or in a failure that leaves
 * a previous sign-in as it was; AutoLogin=. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-account-private.h"
#include "da-error.h"
#include "da-qr.h"

/* ---- the device flow ---- */

static void
da_account_complete_login_waiters (DaAccount *self, const GError *error)
{
	g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->login_waiters);

	for (guint i = 0; waiters != NULL && i < waiters->len; i++) {
		GTask *task = g_ptr_array_index (waiters, i);
		if (error != NULL)
			g_task_return_error (task, g_error_copy (error));
		else
			g_task_return_pointer (task,
					       da_account_is_service (self)
						       ? da_account_build_signed_in (self)
						       : da_account_build_prompt (self),
					       (GDestroyNotify) da_status_free);
	}
}

static void
da_account_set_login_expires (DaAccount *self)
{
	da_account_notify (self, PROP_LOGIN_EXPIRES_AT);
}

static const gchar *
flow_error_name (const GError *error)
{
	if (g_error_matches (error, DA_ERROR, DA_ERROR_LOGIN_DENIED))
		return "denied";
	if (g_error_matches (error, DA_ERROR, DA_ERROR_LOGIN_EXPIRED))
		return "expired";
	if (g_error_matches (error, DA_ERROR, DA_ERROR_CANCELLED))
		return "cancelled";
	if (g_error_matches (error, DA_ERROR, DA_ERROR_IDP_UNREACHABLE))
		return "idp-unreachable";
	return "idp-error";
}

static void
da_account_flow_failed (DaAccount *self, const GError *error)
{
	DaAccountState back;

	g_info ("account %s: sign-in ended: %s", self->config->name, error->message);
	/* a failed sign-in leaves a previous one as it was */
	back = self->state_before_flow;
	if (back == DA_ACCOUNT_STATE_SIGNED_IN && self->access == NULL && self->refresh == NULL)
		back = DA_ACCOUNT_STATE_SIGNED_OUT;
	da_account_set_last_error (self, error->message);
	da_account_set_state (self, back);
	da_account_emit_status (
		self, da_account_build_failure (self, flow_error_name (error), error->message));
	/* a code that expired while the UI was waiting is replaced by a fresh one */
	if (g_error_matches (error, DA_ERROR, DA_ERROR_LOGIN_EXPIRED))
		da_account_auto_login (self);
}

/* a sign-in's tokens taken: the account is signed in, and says so */
static void
da_account_signed_in (DaAccount *self, DaOidcTokens *tokens, const DaIdClaims *claims)
{
	da_account_take_tokens (self, tokens, claims);
	da_account_set_last_error (self, "");
	da_account_set_state (self, DA_ACCOUNT_STATE_SIGNED_IN);
	da_account_emit_status (self, da_account_build_signed_in (self));
}

static void
da_account_flow_done (DaFlow *flow, DaOidcTokens *tokens, const GError *error, gpointer user_data)
{
	DaAccount *self = DA_ACCOUNT (user_data);
	g_autoptr(DaOidcTokens) owned = tokens;
	g_autoptr(DaFlow) done_flow = NULL;

	if (flow != self->flow)
		return;
	done_flow = g_steal_pointer (&self->flow);
	g_clear_pointer (&self->qr_modules, g_bytes_unref);
	da_account_set_login_expires (self);

	if (owned != NULL) {
		g_autoptr(GError) claims_error = NULL;
		g_autoptr(DaIdClaims) claims = da_account_id_claims (self, owned, &claims_error);

		if (claims_error != NULL) {
			g_autoptr(GError) bad = g_error_new (DA_ERROR, DA_ERROR_IDP_ERROR,
							      "the IdP's ID token is not valid: %s",
							      claims_error->message);
			da_account_flow_failed (self, bad);
			return;
		}
		g_info ("account %s: signed in after %u polls", self->config->name,
			da_flow_get_poll_count (flow));
		da_account_check_offline (self, owned);
		da_account_signed_in (self, owned, claims);
		return;
	}
	da_account_flow_failed (self, error);
}

static void
da_account_flow_started_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaAccount) self = user_data;
	DaFlow *flow = DA_FLOW (source);
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) qr_error = NULL;
	const gchar *qr_text;

	if (flow != self->flow)
		return;
	if (!da_flow_start_finish (flow, res, &error)) {
		g_autoptr(GError) mapped = da_account_refusal_error (
			self, DA_HINT_DEVICE_REQUEST, error, "cannot start the sign-in");
		g_clear_object (&self->flow);
		da_account_set_last_error (self, mapped->message);
		da_account_complete_login_waiters (self, mapped);
		return;
	}
	qr_text = da_flow_get_verification_uri_complete (flow);
	if (qr_text == NULL)
		qr_text = da_flow_get_verification_uri (flow);
	self->qr_modules = da_qr_encode (qr_text, &self->qr_size, &qr_error);
	/* without libqrencode, da-qr.c has said so once */
	if (self->qr_modules == NULL &&
	    !g_error_matches (qr_error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
		g_warning ("account %s: no QR code: %s", self->config->name, qr_error->message);
	g_info ("account %s: sign-in started, user code %s, expires in %" G_GINT64_FORMAT " s",
		self->config->name, da_flow_get_user_code (flow),
		da_flow_get_expires_at (flow) - now_sec ());
	da_account_set_last_error (self, "");
	da_account_set_state (self, DA_ACCOUNT_STATE_AWAITING_USER);
	da_account_set_login_expires (self);
	da_account_emit_status (self, da_account_build_prompt (self));
	da_account_complete_login_waiters (self, NULL);
}

static void
da_account_start_flow (DaAccount *self)
{
	g_autofree gchar *scope = g_strjoinv (" ", self->config->scopes);
	DaOidcClientAuth auth = da_account_client_auth (self);

	self->state_before_flow = self->state;
	self->flow = da_flow_new (self->idp, self->endpoints->device_authorization_endpoint,
				  self->endpoints->token_endpoint, &auth, scope, self->config->pkce,
				  da_account_flow_done, self);
	da_flow_start_async (self->flow, NULL, da_account_flow_started_cb, g_object_ref (self));
}

static void
da_account_login_jwks_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaAccount) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) jwks = da_idp_fetch_jwks_finish (DA_IDP (source), res, &error);

	if (jwks == NULL) {
		g_autoptr(GError) mapped = da_account_idp_error (
			error, "cannot fetch the IdP's keys for ID tokens (jwks_uri)");
		da_account_set_last_error (self, mapped->message);
		da_account_complete_login_waiters (self, mapped);
		return;
	}
	g_clear_pointer (&self->jwks, g_bytes_unref);
	self->jwks = g_steal_pointer (&jwks);
	da_account_start_flow (self);
}

/* ---- a service account's sign-in: one token request ---- */

/* Grant=client_credentials: a token for the client itself (RFC 6749 4.4),
 * for a sign-in and for each renewal; @callback gets a ref of @self. */
void
da_account_request_service_token (DaAccount *self, GAsyncReadyCallback callback)
{
	g_autofree gchar *scope = g_strjoinv (" ", self->config->scopes);
	DaOidcClientAuth auth = da_account_client_auth (self);

	da_idp_client_credentials_async (self->idp, self->endpoints->token_endpoint, &auth,
					 scope[0] != '\0' ? scope : NULL, NULL, callback,
					 g_object_ref (self));
}

static void
da_account_service_login_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaAccount) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(DaOidcTokens) tokens = da_idp_tokens_finish (DA_IDP (source), res, &error);

	if (tokens == NULL) {
		g_autoptr(GError) mapped = da_account_refusal_error (
			self, DA_HINT_CLIENT_CREDENTIALS, error,
			"cannot get a token with the client's credentials");
		da_account_set_last_error (self, mapped->message);
		da_account_complete_login_waiters (self, mapped);
		return;
	}
	g_info ("account %s: signed in with the client's credentials", self->config->name);
	da_account_signed_in (self, tokens, NULL);
	da_account_complete_login_waiters (self, NULL);
}

static void
da_account_login_endpoints_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaAccount) self = user_data;
	g_autoptr(GError) error = NULL;

	if (!da_account_ensure_endpoints_finish (self, res, &error)) {
		da_account_complete_login_waiters (self, error);
		return;
	}
	if (da_account_is_service (self)) {
		da_account_request_service_token (self, da_account_service_login_cb);
		return;
	}
	if (self->endpoints->device_authorization_endpoint == NULL) {
		g_autoptr(GError) no_device =
			g_error_new (DA_ERROR, DA_ERROR_IDP_ERROR,
				     "the IdP announces no device_authorization_endpoint; set "
				     "DeviceAuthorizationEndpoint= in %s",
				     self->config->path);
		da_account_set_last_error (self, no_device->message);
		da_account_complete_login_waiters (self, no_device);
		return;
	}
	/* the keys that will sign the ID token, fetched for each sign-in: an
	 * IdP that rotated its keys (or was set up again) since the last one
	 * signs with a key that an older copy lacks */
	if (self->endpoints->jwks_uri != NULL &&
	    g_strv_contains ((const gchar *const *) self->config->scopes, "openid")) {
		da_idp_fetch_jwks_async (self->idp, self->endpoints->jwks_uri, NULL,
					 da_account_login_jwks_cb, g_object_ref (self));
		return;
	}
	da_account_start_flow (self);
}

void
da_account_login_async (DaAccount *self,
			GCancellable *cancellable,
			GAsyncReadyCallback callback,
			gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	gboolean starting = self->login_waiters != NULL && self->login_waiters->len > 0;

	g_task_set_source_tag (task, da_account_login_async);
	/* one flow per account: a second Login joins the running one */
	if (self->flow != NULL && da_flow_is_started (self->flow)) {
		g_task_return_pointer (task, da_account_build_prompt (self),
				       (GDestroyNotify) da_status_free);
		return;
	}
	waiters_add (&self->login_waiters, g_steal_pointer (&task));
	if (starting)
		return;
	da_account_ensure_endpoints_async (self, NULL, da_account_login_endpoints_cb,
					   g_object_ref (self));
}

DaStatus *
da_account_login_finish (DaAccount *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	return g_task_propagate_pointer (G_TASK (res), error);
}

static void
da_account_auto_login_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	DaAccount *self = DA_ACCOUNT (source);
	g_autoptr(DaStatus) prompt = NULL;
	g_autoptr(GError) error = NULL;

	prompt = da_account_login_finish (self, res, &error);
	if (prompt == NULL)
		g_warning ("account %s: cannot start the automatic sign-in: %s", self->config->name,
			   error->message);
}

/* AutoLogin=yes: a device flow whenever the account is not signed in; its
 * prompt goes out in StatusChanged for the on-device UI. */
void
da_account_auto_login (DaAccount *self)
{
	if (!self->config->auto_login || self->flow != NULL ||
	    self->state == DA_ACCOUNT_STATE_SIGNED_IN)
		return;
	g_info ("account %s: starting the automatic sign-in", self->config->name);
	da_account_login_async (self, NULL, da_account_auto_login_cb, NULL);
}

gboolean
da_account_cancel_login (DaAccount *self, GError **error)
{
	if (self->flow == NULL || !da_flow_is_started (self->flow)) {
		g_set_error (error, DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
			     "account %s has no sign-in running", self->config->name);
		return FALSE;
	}
	da_flow_cancel (self->flow);
	return TRUE;
}
