/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-clock.h"
#include "da-error.h"
#include "da-flow.h"
#include "da-hint.h"

struct _DaFlow {
	GObject parent_instance;
	DaIdp *idp;
	gchar *device_authorization_endpoint;
	gchar *token_endpoint;
	DaOidcClientAuth *auth; /* a copy: the flow may outlive the account's config */
	gchar *scope;
	DaSecret *code_verifier; /* PKCE, NULL when off */
	DaFlowDoneFunc done;
	gpointer done_data;

	DaOidcDeviceAuth *device_auth;
	gint64 expires_at; /* wall clock, unix seconds */
	guint interval;
	guint network_failures;
	guint polls;
	gchar *last_http_failure; /* the poll before failed with this HTTP status */
	guint timeout_id;
	GCancellable *cancellable;
	gboolean started;
	gboolean finished;
};

G_DEFINE_TYPE (DaFlow, da_flow, G_TYPE_OBJECT)

static void
da_flow_schedule_poll (DaFlow *self, guint delay_sec);

static void
da_flow_finish (DaFlow *self, DaOidcTokens *tokens, const GError *error)
{
	if (self->finished) {
		da_oidc_tokens_free (tokens);
		return;
	}
	/* the callback may drop the last reference of the caller */
	g_object_ref (self);
	self->finished = TRUE;
	g_clear_handle_id (&self->timeout_id, g_source_remove);
	g_cancellable_cancel (self->cancellable);
	/* the device code is never sent again */
	if (self->device_auth != NULL)
		g_clear_pointer (&self->device_auth->device_code, da_secret_free);
	g_clear_pointer (&self->code_verifier, da_secret_free);
	if (self->done != NULL)
		self->done (self, tokens, error, self->done_data);
	else
		da_oidc_tokens_free (tokens);
	g_object_unref (self);
}

static void
da_flow_finish_error (DaFlow *self, DaError code, const gchar *message)
{
	g_autoptr(GError) error = g_error_new_literal (DA_ERROR, code, message);
	da_flow_finish (self, NULL, error);
}

static void
da_flow_poll_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaFlow) self = user_data;
	g_autoptr(GError) error = NULL;
	DaOidcTokens *tokens;
	guint backoff;

	tokens = da_idp_tokens_finish (DA_IDP (source), res, &error);
	if (self->finished) {
		da_oidc_tokens_free (tokens);
		return;
	}
	if (tokens != NULL) {
		da_flow_finish (self, tokens, NULL);
		return;
	}
	if (error->domain != DA_OIDC_ERROR) {
		da_flow_finish_error (self, DA_ERROR_CANCELLED, "the sign-in was cancelled");
		return;
	}
	if (error->code != DA_OIDC_ERROR_HTTP && error->code != DA_OIDC_ERROR_INVALID_GRANT)
		g_clear_pointer (&self->last_http_failure, g_free);
	switch ((DaOidcError) error->code) {
	case DA_OIDC_ERROR_AUTHORIZATION_PENDING:
		self->network_failures = 0;
		da_flow_schedule_poll (self, self->interval);
		return;
	case DA_OIDC_ERROR_SLOW_DOWN:
		self->network_failures = 0;
		self->interval += DA_FLOW_SLOW_DOWN_STEP;
		g_debug ("IdP asked to slow down: polling every %u s", self->interval);
		da_flow_schedule_poll (self, self->interval);
		return;
	case DA_OIDC_ERROR_ACCESS_DENIED:
		da_flow_finish_error (self, DA_ERROR_LOGIN_DENIED, "the sign-in was denied");
		return;
	case DA_OIDC_ERROR_EXPIRED_TOKEN:
		da_flow_finish_error (self, DA_ERROR_LOGIN_EXPIRED, "the sign-in code expired");
		return;
	case DA_OIDC_ERROR_NETWORK:
	case DA_OIDC_ERROR_HTTP:
		g_free (self->last_http_failure);
		self->last_http_failure =
			error->code == DA_OIDC_ERROR_HTTP ? g_strdup (error->message) : NULL;
		/* RFC 8628 3.5: back off while the IdP cannot be reached */
		self->network_failures = MIN (self->network_failures + 1, 8);
		backoff = MIN (self->interval << self->network_failures, DA_FLOW_BACKOFF_MAX);
		g_message ("polling the token endpoint failed, retrying in %u s: %s", backoff,
			   error->message);
		da_flow_schedule_poll (self, MAX (backoff, self->interval));
		return;
	case DA_OIDC_ERROR_INVALID_GRANT:
	case DA_OIDC_ERROR_PROTOCOL:
	case DA_OIDC_ERROR_MALFORMED:
	default:
		/* after an answer we do not understand, never poll again: a
		 * device code replayed after success revokes the tokens */
		{
			DaHintClient client = {self->auth->client_id,
					       self->auth->client_secret != NULL,
					       self->code_verifier != NULL,
					       self->auth->method == DA_CLIENT_AUTH_TLS};
			g_autofree gchar *hint =
				da_hint_for_refusal (DA_HINT_DEVICE_POLL, error->message, &client);
			g_autofree gchar *msg = NULL;
			/* Keycloak 26 can fail (HTTP 500) on a poll that comes
			 * while the approval is being stored, and drop the code */
			if (error->code == DA_OIDC_ERROR_INVALID_GRANT &&
			    self->last_http_failure != NULL)
				msg = g_strdup_printf (
					"the IdP refused the sign-in: %s, after it had failed "
					"on the poll before (%s): the IdP lost the sign-in "
					"through a fault of its own; start it again",
					error->message, self->last_http_failure);
			else
				msg = g_strdup_printf ("the IdP refused the sign-in: %s%s%s",
						       error->message, hint != NULL ? "; " : "",
						       hint != NULL ? hint : "");
			da_flow_finish_error (self, DA_ERROR_IDP_ERROR, msg);
		}
		return;
	}
}

static gboolean
da_flow_poll_timeout_cb (gpointer user_data)
{
	DaFlow *self = DA_FLOW (user_data);

	self->timeout_id = 0;
	/* the daemon's time: a monotonic timer does not count a suspend */
	if (da_clock_now_sec () >= self->expires_at) {
		da_flow_finish_error (self, DA_ERROR_LOGIN_EXPIRED, "the sign-in code expired");
		return G_SOURCE_REMOVE;
	}
	self->polls++;
	da_idp_poll_device_async (self->idp, self->token_endpoint, self->auth,
				  self->device_auth->device_code, self->code_verifier,
				  self->cancellable, da_flow_poll_cb, g_object_ref (self));
	return G_SOURCE_REMOVE;
}

static void
da_flow_schedule_poll (DaFlow *self, guint delay_sec)
{
	gint64 left = self->expires_at - da_clock_now_sec ();
	guint64 delay_ms = (guint64) delay_sec * 1000;

	/* wake up at the expiry at the latest, to report it on time */
	if (left < 0)
		left = 0;
	if (delay_ms > (guint64) left * 1000)
		delay_ms = (guint64) left * 1000;
	g_clear_handle_id (&self->timeout_id, g_source_remove);
	self->timeout_id = da_clock_timeout_add ((guint) delay_ms, da_flow_poll_timeout_cb,
						 g_object_ref (self), g_object_unref);
}

static void
da_flow_device_auth_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	DaFlow *self = g_task_get_source_object (task);
	g_autoptr(GError) error = NULL;

	self->device_auth = da_idp_device_auth_finish (DA_IDP (source), res, &error);
	if (self->device_auth == NULL) {
		self->finished = TRUE;
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	self->expires_at = da_clock_now_sec () + self->device_auth->expires_in;
	self->interval = self->device_auth->interval > 0 ? self->device_auth->interval
							 : DA_FLOW_DEFAULT_INTERVAL;
	self->started = TRUE;
	da_flow_schedule_poll (self, self->interval);
	g_task_return_boolean (task, TRUE);
}

void
da_flow_start_async (DaFlow *self,
		     GCancellable *cancellable,
		     GAsyncReadyCallback callback,
		     gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	g_autofree gchar *challenge = NULL;

	g_task_set_source_tag (task, da_flow_start_async);
	if (self->code_verifier != NULL)
		challenge = da_oidc_pkce_challenge (self->code_verifier);
	da_idp_device_auth_async (self->idp, self->device_authorization_endpoint, self->auth,
				  self->scope, challenge, self->cancellable, da_flow_device_auth_cb,
				  g_steal_pointer (&task));
}

gboolean
da_flow_start_finish (DaFlow *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), FALSE);
	return g_task_propagate_boolean (G_TASK (res), error);
}

void
da_flow_cancel (DaFlow *self)
{
	if (!self->started) {
		g_cancellable_cancel (self->cancellable);
		return;
	}
	da_flow_finish_error (self, DA_ERROR_CANCELLED, "the sign-in was cancelled");
}

gboolean
da_flow_is_started (DaFlow *self)
{
	return self->started;
}

const gchar *
da_flow_get_user_code (DaFlow *self)
{
	return self->device_auth != NULL ? self->device_auth->user_code : NULL;
}

const gchar *
da_flow_get_verification_uri (DaFlow *self)
{
	return self->device_auth != NULL ? self->device_auth->verification_uri : NULL;
}

const gchar *
da_flow_get_verification_uri_complete (DaFlow *self)
{
	return self->device_auth != NULL ? self->device_auth->verification_uri_complete : NULL;
}

gint64
da_flow_get_expires_at (DaFlow *self)
{
	return self->expires_at;
}

guint
da_flow_get_interval (DaFlow *self)
{
	return self->interval;
}

guint
da_flow_get_poll_count (DaFlow *self)
{
	return self->polls;
}

static void
da_flow_dispose (GObject *object)
{
	DaFlow *self = DA_FLOW (object);

	g_clear_handle_id (&self->timeout_id, g_source_remove);
	if (self->cancellable != NULL)
		g_cancellable_cancel (self->cancellable);
	G_OBJECT_CLASS (da_flow_parent_class)->dispose (object);
}

static void
da_flow_finalize (GObject *object)
{
	DaFlow *self = DA_FLOW (object);

	g_clear_object (&self->idp);
	g_clear_object (&self->cancellable);
	g_free (self->device_authorization_endpoint);
	g_free (self->token_endpoint);
	da_oidc_client_auth_free (self->auth);
	g_free (self->scope);
	g_free (self->last_http_failure);
	da_secret_free (self->code_verifier);
	da_oidc_device_auth_free (self->device_auth);
	G_OBJECT_CLASS (da_flow_parent_class)->finalize (object);
}

static void
da_flow_class_init (DaFlowClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = da_flow_dispose;
	object_class->finalize = da_flow_finalize;
}

static void
da_flow_init (DaFlow *self)
{
	self->cancellable = g_cancellable_new ();
}

DaFlow *
da_flow_new (DaIdp *idp,
	     const gchar *device_authorization_endpoint,
	     const gchar *token_endpoint,
	     const DaOidcClientAuth *auth,
	     const gchar *scope,
	     gboolean pkce,
	     DaFlowDoneFunc done,
	     gpointer user_data)
{
	DaFlow *self = g_object_new (DA_TYPE_FLOW, NULL);

	self->idp = g_object_ref (idp);
	self->device_authorization_endpoint = g_strdup (device_authorization_endpoint);
	self->token_endpoint = g_strdup (token_endpoint);
	self->auth = da_oidc_client_auth_copy (auth);
	self->scope = g_strdup (scope);
	self->code_verifier = pkce ? da_oidc_pkce_verifier_new () : NULL;
	self->done = done;
	self->done_data = user_data;
	return self;
}
