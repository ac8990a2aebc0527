/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One account: its state, properties and status signal, its endpoints
 * (configured or discovered), logout, the object. The device flow, the
 * refreshes and the tokens held are in da-account-{login,refresh,store}.c. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-account-private.h"
#include "da-error.h"
#include "da-hint.h"

static GParamSpec *props[N_PROPS];

enum {
	SIGNAL_STATUS_CHANGED,
	N_SIGNALS,
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (DaAccount, da_account, G_TYPE_OBJECT)

void
da_account_notify (DaAccount *self, guint prop)
{
	g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

const gchar *
da_account_state_to_string (DaAccountState state)
{
	switch (state) {
	case DA_ACCOUNT_STATE_SIGNED_OUT:
		return "signed-out";
	case DA_ACCOUNT_STATE_AWAITING_USER:
		return "awaiting-user";
	case DA_ACCOUNT_STATE_SIGNED_IN:
		return "signed-in";
	case DA_ACCOUNT_STATE_REAUTH_REQUIRED:
		return "reauth-required";
	default:
		return "unknown";
	}
}

const gchar *
da_account_get_name (DaAccount *self)
{
	return self->config->name;
}

const DaAccountConfig *
da_account_get_config (DaAccount *self)
{
	return self->config;
}

DaAccountState
da_account_get_state (DaAccount *self)
{
	return self->state;
}

const gchar *
da_account_get_subject (DaAccount *self)
{
	if (self->refresh != NULL && self->refresh->subject != NULL)
		return self->refresh->subject;
	if (self->access != NULL && self->access->subject != NULL)
		return self->access->subject;
	return "";
}

/* The person, as people know them: the ID token's preferred_username, else
 * its name, else its email; "" when the IdP sent none of them. */
const gchar *
da_account_get_user_name (DaAccount *self)
{
	if (self->refresh != NULL && self->refresh->name != NULL)
		return self->refresh->name;
	if (self->access != NULL && self->access->name != NULL)
		return self->access->name;
	return "";
}

/* When the sign-in ends unless it is renewed first (Keycloak's
 * refresh_expires_in: the SSO idle time, capped at SSO Session Max); 0 when
 * the IdP set no end (offline tokens) or said nothing. */
gint64
da_account_get_sign_in_expires_at (DaAccount *self)
{
	return self->refresh != NULL ? self->refresh->expires_at : 0;
}

/* ---- state, properties and the status signal ---- */

/* @message "" or NULL: nothing is wrong (but a full keyring) */
void
da_account_set_last_error (DaAccount *self, const gchar *message)
{
	if ((message == NULL || message[0] == '\0') && self->persist_error != NULL)
		message = self->persist_error;
	else if ((message == NULL || message[0] == '\0') && self->keyring_full_logged)
		message = DA_ACCOUNT_KEYRING_FULL_MESSAGE;
	if (g_strcmp0 (self->last_error, message) == 0)
		return;
	g_free (self->last_error);
	self->last_error = g_strdup (message);
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LAST_ERROR]);
}

/* Takes @status. */
void
da_account_emit_status (DaAccount *self, DaStatus *status)
{
	g_autoptr(DaStatus) owned = status;

	g_signal_emit (self, signals[SIGNAL_STATUS_CHANGED], 0,
		       da_account_state_to_string (self->state), owned);
}

void
da_account_set_state (DaAccount *self, DaAccountState state)
{
	if (self->state == state)
		return;
	g_info ("account %s: %s → %s", self->config->name, da_account_state_to_string (self->state),
		da_account_state_to_string (state));
	self->state = state;
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
}

DaStatus *
da_account_build_prompt (DaAccount *self)
{
	DaStatus *status = da_status_new (DA_STATUS_PROMPT, self->config->name);

	status->user_code = g_strdup (da_flow_get_user_code (self->flow));
	status->verification_uri = g_strdup (da_flow_get_verification_uri (self->flow));
	status->verification_uri_complete =
		g_strdup (da_flow_get_verification_uri_complete (self->flow));
	status->expires_at = da_clock_to_system_sec (da_flow_get_expires_at (self->flow));
	status->interval = da_flow_get_interval (self->flow);
	if (self->qr_modules != NULL) {
		status->qr_size = self->qr_size;
		status->qr_modules = g_bytes_ref (self->qr_modules);
	}
	return status;
}

DaStatus *
da_account_build_signed_in (DaAccount *self)
{
	DaStatus *status = da_status_new (DA_STATUS_SIGNED_IN, self->config->name);
	const gchar *subject = da_account_get_subject (self);
	const gchar *user_name = da_account_get_user_name (self);

	if (subject[0] != '\0')
		status->subject = g_strdup (subject);
	if (user_name[0] != '\0')
		status->user_name = g_strdup (user_name);
	if (self->access != NULL)
		status->expires_at = da_clock_to_system_sec (self->access->expires_at);
	status->sign_in_expires_at =
		da_clock_to_system_sec (da_account_get_sign_in_expires_at (self));
	return status;
}

DaStatus *
da_account_build_failure (DaAccount *self, const gchar *error_name, const gchar *description)
{
	DaStatus *status = da_status_new (DA_STATUS_FAILURE, self->config->name);

	status->error = g_strdup (error_name);
	status->error_description = g_strdup (description);
	return status;
}

/* ---- endpoints: from the configuration or from discovery ---- */

static DaOidcEndpoints *
da_account_configured_endpoints (DaAccount *self)
{
	DaOidcEndpoints *endpoints;

	/* a service account needs no device authorization endpoint */
	if ((self->config->device_authorization_endpoint == NULL &&
	     !da_account_is_service (self)) ||
	    self->config->token_endpoint == NULL)
		return NULL;
	endpoints = da_oidc_endpoints_new ();
	endpoints->issuer = g_strdup (self->config->issuer);
	endpoints->device_authorization_endpoint =
		g_strdup (self->config->device_authorization_endpoint);
	endpoints->token_endpoint = g_strdup (self->config->token_endpoint);
	endpoints->revocation_endpoint = g_strdup (self->config->revocation_endpoint);
	return endpoints;
}

static void
da_account_take_discovered (DaAccount *self, DaOidcEndpoints *found)
{
	/* explicit settings win over what discovery says; the discovered
	 * endpoints are shared by the issuer's accounts, so change a copy */
	if (self->config->device_authorization_endpoint != NULL ||
	    self->config->token_endpoint != NULL || self->config->revocation_endpoint != NULL) {
		DaOidcEndpoints *copy = da_oidc_endpoints_copy (found);

		da_oidc_endpoints_unref (found);
		found = copy;
	}
	if (self->config->device_authorization_endpoint != NULL) {
		g_free (found->device_authorization_endpoint);
		found->device_authorization_endpoint =
			g_strdup (self->config->device_authorization_endpoint);
	}
	if (self->config->token_endpoint != NULL) {
		g_free (found->token_endpoint);
		found->token_endpoint = g_strdup (self->config->token_endpoint);
	}
	if (self->config->revocation_endpoint != NULL) {
		g_free (found->revocation_endpoint);
		found->revocation_endpoint = g_strdup (self->config->revocation_endpoint);
	}
	da_oidc_endpoints_unref (self->endpoints);
	self->endpoints = found;
}

GError *
da_account_idp_error (const GError *error, const gchar *what)
{
	DaError code = DA_ERROR_IDP_ERROR;

	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return g_error_new (DA_ERROR, DA_ERROR_CANCELLED, "%s: cancelled", what);
	if (g_error_matches (error, DA_OIDC_ERROR, DA_OIDC_ERROR_NETWORK) ||
	    g_error_matches (error, DA_OIDC_ERROR, DA_OIDC_ERROR_HTTP))
		code = DA_ERROR_IDP_UNREACHABLE;
	return g_error_new (DA_ERROR, code, "%s: %s", what, error->message);
}

/* An IdP's refusal, with the hint that says what to change when there is one */
GError *
da_account_refusal_error (DaAccount *self,
			  DaHintRequest request,
			  const GError *error,
			  const gchar *what)
{
	DaHintClient client = {self->config->client_id, self->config->client_secret != NULL,
			       self->config->pkce,
			       self->config->client_auth_method == DA_CLIENT_AUTH_TLS};
	g_autofree gchar *hint = NULL;
	GError *mapped = da_account_idp_error (error, what);

	if (error->domain == DA_OIDC_ERROR)
		hint = da_hint_for_refusal (request, error->message, &client);
	if (hint != NULL) {
		g_autofree gchar *msg = g_strdup_printf ("%s; %s", mapped->message, hint);
		g_free (mapped->message);
		mapped->message = g_steal_pointer (&msg);
	}
	return mapped;
}

static void
da_account_discover_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	DaAccount *self = g_task_get_source_object (task);
	g_autoptr(GError) error = NULL;
	DaOidcEndpoints *found;

	found = da_idp_discover_finish (DA_IDP (source), res, &error);
	if (found == NULL) {
		g_autoptr(GError) mapped = da_account_idp_error (error, "cannot discover the IdP");
		da_account_set_last_error (self, mapped->message);
		g_task_return_error (task, g_steal_pointer (&mapped));
		return;
	}
	da_account_take_discovered (self, found);
	g_task_return_boolean (task, TRUE);
}

void
da_account_ensure_endpoints_async (DaAccount *self,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

	g_task_set_source_tag (task, da_account_ensure_endpoints_async);
	if (self->endpoints == NULL)
		self->endpoints = da_account_configured_endpoints (self);
	if (self->endpoints != NULL) {
		g_task_return_boolean (task, TRUE);
		return;
	}
	da_idp_discover_async (self->idp, self->config->issuer, cancellable, da_account_discover_cb,
			       g_steal_pointer (&task));
}

gboolean
da_account_ensure_endpoints_finish (DaAccount *self, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean (G_TASK (res), error);
}

/* ClientAuthMethod= unset, with a secret: client_secret_post, unless
 * discovery lists methods without it and with client_secret_basic */
static DaClientAuthMethod
da_account_auth_method (DaAccount *self)
{
	const gchar *const *offered;

	if (self->config->client_auth_method != DA_CLIENT_AUTH_AUTO)
		return self->config->client_auth_method;
	offered = self->endpoints != NULL
			  ? (const gchar *const *) self->endpoints->token_endpoint_auth_methods
			  : NULL;
	if (self->config->client_secret != NULL && offered != NULL &&
	    !g_strv_contains (offered, "client_secret_post") &&
	    g_strv_contains (offered, "client_secret_basic"))
		return DA_CLIENT_AUTH_SECRET_BASIC;
	return DA_CLIENT_AUTH_SECRET_POST;
}

DaOidcClientAuth
da_account_client_auth (DaAccount *self)
{
	DaOidcClientAuth auth = {self->config->client_id,
				 self->config->client_secret,
				 da_account_auth_method (self),
				 self->config->client_key,
				 self->config->client_key_id,
				 self->endpoints != NULL ? self->endpoints->token_endpoint : NULL};
	return auth;
}

/* ---- logout ---- */

typedef struct {
	DaToken *refresh;
	DaToken *access;
} DaLogoutData;

static void
da_logout_data_free (DaLogoutData *data)
{
	da_token_free (data->refresh);
	da_token_free (data->access);
	g_free (data);
}

static void
da_account_logout_revoke_next (GTask *task);

static void
da_account_logout_revoked_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	DaAccount *self = g_task_get_source_object (task);
	g_autoptr(GError) error = NULL;

	if (!da_idp_revoke_finish (DA_IDP (source), res, &error))
		g_message ("account %s: revocation at the IdP failed: %s", self->config->name,
			   error->message);
	da_account_logout_revoke_next (g_steal_pointer (&task));
}

/* RFC 7009: the refresh token first (it ends the grant), then the access
 * token, for IdPs that keep access tokens alive past their grant. */
static void
da_account_logout_revoke_next (GTask *task)
{
	DaAccount *self = g_task_get_source_object (task);
	DaLogoutData *data = g_task_get_task_data (task);
	DaOidcClientAuth auth = da_account_client_auth (self);
	g_autoptr(DaToken) token = NULL;
	const gchar *hint = "refresh_token";

	if (data->refresh != NULL) {
		token = g_steal_pointer (&data->refresh);
	} else if (data->access != NULL) {
		token = g_steal_pointer (&data->access);
		hint = "access_token";
	}
	if (token == NULL || self->endpoints == NULL ||
	    self->endpoints->revocation_endpoint == NULL) {
		g_task_return_boolean (task, TRUE);
		g_object_unref (task);
		return;
	}
	da_idp_revoke_async (self->idp, self->endpoints->revocation_endpoint, &auth, token->token,
			     hint, NULL, da_account_logout_revoked_cb, task);
}

static void
da_account_logout_endpoints_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	DaAccount *self = g_task_get_source_object (task);
	g_autoptr(GError) error = NULL;

	if (!da_account_ensure_endpoints_finish (self, res, &error))
		g_message ("account %s: cannot revoke at the IdP: %s", self->config->name,
			   error->message);
	else if (self->endpoints->revocation_endpoint == NULL)
		g_info ("account %s: the IdP has no revocation endpoint", self->config->name);
	da_account_logout_revoke_next (task);
}

void
da_account_logout_async (DaAccount *self,
			 GCancellable *cancellable,
			 GAsyncReadyCallback callback,
			 gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	DaLogoutData *data = g_new0 (DaLogoutData, 1);
	gboolean had_tokens = self->access != NULL || self->refresh != NULL;

	g_task_set_source_tag (task, da_account_logout_async);
	g_task_set_task_data (task, data, (GDestroyNotify) da_logout_data_free);
	if (self->flow != NULL) {
		self->state_before_flow = DA_ACCOUNT_STATE_SIGNED_OUT;
		da_flow_cancel (self->flow);
	}
	/* local state goes at once; revocation follows with copies */
	data->refresh = self->refresh != NULL ? da_token_copy (self->refresh) : NULL;
	data->access = self->access != NULL ? da_token_copy (self->access) : NULL;
	da_account_forget_tokens (self);
	da_account_set_last_error (self, "");
	if (had_tokens || self->state != DA_ACCOUNT_STATE_SIGNED_OUT) {
		da_account_set_state (self, DA_ACCOUNT_STATE_SIGNED_OUT);
		da_account_emit_status (self, da_status_new (DA_STATUS_EMPTY, self->config->name));
	}
	if (!had_tokens) {
		g_task_return_boolean (task, TRUE);
		return;
	}
	g_info ("account %s: signed out", self->config->name);
	da_account_ensure_endpoints_async (self, NULL, da_account_logout_endpoints_cb,
					   g_steal_pointer (&task));
}

gboolean
da_account_logout_finish (DaAccount *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), FALSE);
	return g_task_propagate_boolean (G_TASK (res), error);
}

/* ---- GObject ---- */

static void
da_account_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
	DaAccount *self = DA_ACCOUNT (object);

	switch (prop_id) {
	case PROP_NAME:
		g_value_set_string (value, self->config->name);
		break;
	case PROP_ISSUER:
		g_value_set_string (value, self->config->issuer);
		break;
	case PROP_CLIENT_ID:
		g_value_set_string (value, self->config->client_id);
		break;
	case PROP_SCOPES:
		g_value_set_boxed (value, self->config->scopes);
		break;
	case PROP_STATE:
		g_value_set_string (value, da_account_state_to_string (self->state));
		break;
	case PROP_SUBJECT:
		g_value_set_string (value, da_account_get_subject (self));
		break;
	case PROP_ACCESS_TOKEN_EXPIRES_AT:
		g_value_set_int64 (value, self->access != NULL ? da_clock_to_system_sec (
									 self->access->expires_at)
							       : 0);
		break;
	case PROP_LOGIN_EXPIRES_AT:
		g_value_set_int64 (value, self->flow != NULL && da_flow_is_started (self->flow)
						  ? da_clock_to_system_sec (
							    da_flow_get_expires_at (self->flow))
						  : 0);
		break;
	case PROP_LAST_ERROR:
		g_value_set_string (value, self->last_error != NULL ? self->last_error : "");
		break;
	case PROP_USER_NAME:
		g_value_set_string (value, da_account_get_user_name (self));
		break;
	case PROP_SIGN_IN_EXPIRES_AT:
		g_value_set_int64 (
			value, da_clock_to_system_sec (da_account_get_sign_in_expires_at (self)));
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
		break;
	}
}

static void
da_account_dispose (GObject *object)
{
	DaAccount *self = DA_ACCOUNT (object);

	/* stolen first, so that its end reports to nobody */
	g_autoptr(DaFlow) flow = g_steal_pointer (&self->flow);

	g_clear_handle_id (&self->refresh_timer_id, g_source_remove);
	g_clear_handle_id (&self->persist_timer_id, g_source_remove);
	if (flow != NULL)
		da_flow_cancel (flow);
	G_OBJECT_CLASS (da_account_parent_class)->dispose (object);
}

static void
da_account_finalize (GObject *object)
{
	DaAccount *self = DA_ACCOUNT (object);

	da_account_config_free (self->config);
	g_clear_object (&self->idp);
	da_oidc_endpoints_unref (self->endpoints);
	g_clear_pointer (&self->jwks, g_bytes_unref);
	da_token_free (self->access);
	da_token_free (self->refresh);
	g_free (self->last_error);
	g_free (self->persist_error);
	/* a journal left open (a refresh that never ended) stays on disk */
	da_account_journal_end (self, FALSE);
	g_clear_pointer (&self->qr_modules, g_bytes_unref);
	g_clear_pointer (&self->login_waiters, g_ptr_array_unref);
	g_clear_pointer (&self->refresh_waiters, g_ptr_array_unref);
	G_OBJECT_CLASS (da_account_parent_class)->finalize (object);
}

static void
da_account_class_init (DaAccountClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);
	GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

	object_class->get_property = da_account_get_property;
	object_class->dispose = da_account_dispose;
	object_class->finalize = da_account_finalize;

	props[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, flags);
	props[PROP_ISSUER] = g_param_spec_string ("issuer", NULL, NULL, NULL, flags);
	props[PROP_CLIENT_ID] = g_param_spec_string ("client-id", NULL, NULL, NULL, flags);
	props[PROP_SCOPES] = g_param_spec_boxed ("scopes", NULL, NULL, G_TYPE_STRV, flags);
	props[PROP_STATE] = g_param_spec_string ("state", NULL, NULL, NULL, flags);
	props[PROP_SUBJECT] = g_param_spec_string ("subject", NULL, NULL, NULL, flags);
	props[PROP_ACCESS_TOKEN_EXPIRES_AT] =
		g_param_spec_int64 ("access-token-expires-at", NULL, NULL, 0, G_MAXINT64, 0, flags);
	props[PROP_LOGIN_EXPIRES_AT] =
		g_param_spec_int64 ("login-expires-at", NULL, NULL, 0, G_MAXINT64, 0, flags);
	props[PROP_LAST_ERROR] = g_param_spec_string ("last-error", NULL, NULL, NULL, flags);
	props[PROP_USER_NAME] = g_param_spec_string ("user-name", NULL, NULL, NULL, flags);
	props[PROP_SIGN_IN_EXPIRES_AT] =
		g_param_spec_int64 ("sign-in-expires-at", NULL, NULL, 0, G_MAXINT64, 0, flags);
	g_object_class_install_properties (object_class, N_PROPS, props);

	signals[SIGNAL_STATUS_CHANGED] =
		g_signal_new ("status-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
			      NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_POINTER);
}

static void
da_account_init (DaAccount *self)
{
}

/* Takes ownership of @config. */
DaAccount *
da_account_new (DaAccountConfig *config, DaIdp *idp, DaKeyring *keyring, DaVault *vault)
{
	DaAccount *self = g_object_new (DA_TYPE_ACCOUNT, NULL);

	self->config = config;
	self->idp = g_object_ref (idp);
	self->keyring = keyring;
	self->vault = vault;
	da_account_restore (self);
	return self;
}
