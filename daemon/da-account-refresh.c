/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An account's refreshes: planned before the access token runs out (with
 * backoff while the IdP cannot be reached), single-flight, and GetToken,
 * which answers from the cache or waits for one. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-account-private.h"
#include "da-error.h"
#include "da-hint.h"

static void
da_account_refresh_paced_async (DaAccount *self,
				gboolean paced,
				GCancellable *cancellable,
				GAsyncReadyCallback callback,
				gpointer user_data);

/* ---- proactive refresh ---- */

static void
da_account_refresh_timer_start (DaAccount *self);

static void
da_account_background_refresh_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;

	/* failures were logged and scheduled for a retry by the refresh itself */
	da_account_refresh_finish (DA_ACCOUNT (source), res, &error);
}

static gboolean
da_account_refresh_timer_cb (gpointer user_data)
{
	DaAccount *self = DA_ACCOUNT (user_data);

	self->refresh_timer_id = 0;
	if (self->refresh_due == 0)
		return G_SOURCE_REMOVE;
	if (now_us () < self->refresh_due) {
		da_account_refresh_timer_start (self);
		return G_SOURCE_REMOVE;
	}
	self->refresh_due = 0;
	da_account_refresh_paced_async (self, TRUE, NULL, da_account_background_refresh_cb, NULL);
	return G_SOURCE_REMOVE;
}

static void
da_account_refresh_timer_start (DaAccount *self)
{
	gint64 wait_ms;

	g_clear_handle_id (&self->refresh_timer_id, g_source_remove);
	if (self->refresh_due == 0 || !da_account_can_renew (self))
		return;
	wait_ms = CLAMP ((self->refresh_due - now_us () + 999) / 1000, 0,
			 DA_REFRESH_TIMER_MAX_SEC * 1000);
	self->refresh_timer_id =
		da_clock_timeout_add ((guint) wait_ms, da_account_refresh_timer_cb, self, NULL);
}

static gint64
random_us (gint64 from, gint64 to)
{
	if (to <= from)
		return from;
	return from + (gint64) (g_random_double () * (gdouble) (to - from));
}

/* At about 75% of the token's life, with jitter (-10% .. +5% of the
 * lifetime, in microseconds) so that many accounts and many devices behind
 * one IdP do not refresh together; no sooner than DA_REFRESH_MIN_GAP_SEC
 * after the last tokens came; and no later than just after the end of the
 * sign-in that the IdP announced (SignInExpiresAt), so that the account
 * says at that moment whether it is still signed in, not minutes later
 * when its access token, which the IdP may have let outlive the session,
 * runs out. */
void
da_account_plan_refresh (DaAccount *self)
{
	gint64 now = now_us ();

	self->refresh_failures = 0;
	if (!da_account_can_renew (self)) {
		self->refresh_due = 0;
	} else if (self->access == NULL) {
		self->refresh_due = now + random_us (0, SEC_US (2));
	} else {
		gint64 expires = self->access_expires_us;
		gint64 lifetime = SEC_US (self->token_lifetime);
		gint64 at;

		if (self->access_received_us > 0 && lifetime > 0) {
			at = self->access_received_us + lifetime * 3 / 4;
		} else {
			/* restored: only the time left is known */
			lifetime = MAX (expires - now, 0);
			at = expires - lifetime / 4;
		}
		at += random_us (-lifetime / 10, lifetime / 20);
		if (self->refresh != NULL && self->refresh->expires_at > 0)
			at = MIN (at, SEC_US (self->refresh->expires_at) + G_USEC_PER_SEC);
		self->refresh_due =
			CLAMP (at, now + 1000, MAX (expires - G_USEC_PER_SEC / 4, now + 1000));
		if (self->access_received_us > 0)
			self->refresh_due =
				MAX (self->refresh_due,
				     self->access_received_us + SEC_US (DA_REFRESH_MIN_GAP_SEC));
	}
	da_account_refresh_timer_start (self);
}

/* After a failed refresh: exponential backoff with jitter, or what the
 * IdP asked for with Retry-After. */
static void
da_account_plan_retry (DaAccount *self)
{
	gint64 now = now_us ();
	gint64 delay = SEC_US (MIN (DA_REFRESH_BACKOFF_MIN_SEC << MIN (self->refresh_failures, 8),
				    DA_REFRESH_BACKOFF_MAX_SEC));
	gint64 retry_at;

	self->refresh_failures++;
	delay += random_us (0, delay / 4);
	retry_at = self->endpoints != NULL
			   ? da_idp_get_retry_at (self->idp, self->endpoints->token_endpoint)
			   : 0;
	self->refresh_due = MAX (now + delay, SEC_US (retry_at));
	g_debug ("account %s: next refresh attempt in %.1f s", self->config->name,
		 (gdouble) (self->refresh_due - now) / G_USEC_PER_SEC);
	da_account_refresh_timer_start (self);
}

/* Restored after a stop in the middle of a refresh: the IdP may take the
 * token held for a short while only (a grace period, or one reuse). */
void
da_account_refresh_soon (DaAccount *self)
{
	self->refresh_due = now_us ();
	da_account_refresh_timer_start (self);
}

/* The network came back, or the device woke up, or the clock jumped. */
void
da_account_recheck (DaAccount *self, gboolean network_back)
{
	if (network_back && self->refresh_failures > 0 && da_account_can_renew (self))
		self->refresh_due = now_us ();
	da_account_refresh_timer_start (self);
}

/* ---- tokens and refresh ---- */

DaToken *
da_account_get_cached_token (DaAccount *self, guint min_validity)
{
	gint64 now = now_us ();
	gint64 left;
	gint64 quiet;

	if (self->access == NULL)
		return NULL;
	left = self->access_expires_us - DA_EXPIRY_MARGIN_US - now;
	if (left >= SEC_US (min_validity))
		return da_token_copy (self->access);
	/* an IdP that issues tokens shorter than asked for cannot do better
	 * by being asked again at once: after a refresh for a caller, a token
	 * that is still valid is good enough for a while */
	quiet = MIN (SEC_US (DA_DEMAND_REFRESH_QUIET_SEC), SEC_US (self->token_lifetime) / 2);
	if (left > 0 && !self->refreshing && self->demand_refresh_us > 0 &&
	    now - self->demand_refresh_us < quiet)
		return da_token_copy (self->access);
	return NULL;
}

static GError *
da_account_not_signed_in (DaAccount *self)
{
	if (self->state == DA_ACCOUNT_STATE_REAUTH_REQUIRED)
		return g_error_new (DA_ERROR, DA_ERROR_NOT_SIGNED_IN,
				    "account %s must sign in again", self->config->name);
	return g_error_new (DA_ERROR, DA_ERROR_NOT_SIGNED_IN, "account %s is not signed in",
			    self->config->name);
}

static void
da_account_complete_refresh_waiters (DaAccount *self, const GError *error)
{
	g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->refresh_waiters);

	self->refreshing = FALSE;
	if (error != NULL)
		self->refresh_failed_us = now_us ();
	/* failed or not, a caller's refresh buys the others a quiet while */
	if (self->demand_pending)
		self->demand_refresh_us = now_us ();
	self->demand_pending = FALSE;
	for (guint i = 0; waiters != NULL && i < waiters->len; i++) {
		GTask *task = g_ptr_array_index (waiters, i);
		if (error != NULL)
			g_task_return_error (task, g_error_copy (error));
		else
			g_task_return_boolean (task, TRUE);
	}
}

/* What a failed renewal is called: a refresh, or for a service account a
 * new token with the client's credentials */
typedef struct {
	DaHintRequest hint;
	const gchar *credential; /* what the IdP refused */
	const gchar *refused;	 /* LastError's start when it is for good */
	const gchar *next;	 /* what to do then */
	const gchar *failed;	 /* LastError's start when it may pass */
} DaRenewalWords;

static const DaRenewalWords refresh_words = {DA_HINT_REFRESH, "refresh token",
					     "the IdP no longer accepts the sign-in",
					     "sign in again", "cannot refresh the token"};
static const DaRenewalWords service_words = {
	DA_HINT_CLIENT_CREDENTIALS, "client's credentials",
	"the IdP no longer accepts the client's credentials",
	"once the client is mended, run devauthctl login",
	"cannot get a new token with the client's credentials"};

static void
da_account_refresh_failed (DaAccount *self, const GError *error)
{
	g_autoptr(GError) mapped = NULL;
	gboolean service = da_account_is_service (self);
	const DaRenewalWords *words = service ? &service_words : &refresh_words;

	/* a service account's credentials refused (invalid_client,
	 * unauthorized_client, ...) are as final as a refused refresh token */
	if (g_error_matches (error, DA_OIDC_ERROR, DA_OIDC_ERROR_INVALID_GRANT) ||
	    (service && g_error_matches (error, DA_OIDC_ERROR, DA_OIDC_ERROR_PROTOCOL))) {
		/* after a stop in the middle of a refresh, the IdP had most
		 * likely replaced the token: that is what people must know */
		g_autoptr(GError) refused = da_account_refusal_error (
			self, words->hint, error,
			self->refresh_interrupted
				? "devauthd stopped while a refresh was on its way, and the IdP "
				  "does not take the refresh token it had replaced again"
				: words->refused);
		g_autofree gchar *last_error =
			g_strdup_printf ("%s; %s", refused->message, words->next);
		g_info ("account %s: the IdP no longer accepts the %s (%s)", self->config->name,
			words->credential, error->message);
		da_account_forget_tokens (self);
		da_account_set_last_error (self, last_error);
		if (self->flow == NULL) {
			da_account_set_state (self, DA_ACCOUNT_STATE_REAUTH_REQUIRED);
			da_account_emit_status (self,
						da_account_build_failure (self, "reauth-required",
									  self->last_error));
			da_account_auto_login (self);
		} else {
			self->state_before_flow = DA_ACCOUNT_STATE_REAUTH_REQUIRED;
		}
		mapped = da_account_not_signed_in (self);
	} else {
		/* the request may have reached the IdP: the journal stays,
		 * so that a restart tries again at once */
		da_account_journal_end (self, FALSE);
		mapped = da_account_refusal_error (self, words->hint, error, words->failed);
		da_account_set_last_error (self, mapped->message);
		g_message ("account %s: %s", self->config->name, mapped->message);
		da_account_plan_retry (self);
	}
	da_account_complete_refresh_waiters (self, mapped);
}

static void
da_account_refresh_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaAccount) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) claims_error = NULL;
	g_autoptr(DaOidcTokens) tokens = NULL;
	g_autoptr(DaIdClaims) claims = NULL;

	tokens = da_idp_tokens_finish (DA_IDP (source), res, &error);
	/* before anything else: a rotated refresh token is in the journal
	 * once this returns */
	if (tokens != NULL)
		da_account_journal_tokens (self, tokens);
	if (tokens == NULL) {
		da_account_refresh_failed (self, error);
		return;
	}
	if (!da_account_can_renew (self)) {
		/* logged out while the refresh was on its way */
		g_autoptr(GError) gone = da_account_not_signed_in (self);
		da_account_complete_refresh_waiters (self, gone);
		return;
	}
	/* a service account has no person for an ID token to name */
	if (!da_account_is_service (self))
		claims = da_account_id_claims (self, tokens, &claims_error);
	if (claims_error != NULL) {
		/* the grant is good; what the ID token says is not taken */
		g_message ("account %s: the ID token of the refresh is not taken: %s",
			   self->config->name, claims_error->message);
	} else if (claims != NULL && g_strcmp0 (claims->sub, da_account_get_subject (self)) != 0 &&
		   da_account_get_subject (self)[0] != '\0') {
		/* OIDC Core 12.2: the same sub as at the sign-in */
		g_message ("account %s: the ID token of the refresh names another subject; "
			   "not taken",
			   self->config->name);
		g_clear_pointer (&claims, da_id_claims_free);
	}
	if (self->refresh_interrupted)
		g_info ("account %s: the refresh cut short by the stop is done: the IdP took "
			"the refresh token again",
			self->config->name);
	self->refresh_interrupted = FALSE;
	da_account_take_tokens (self, tokens, claims);
	da_account_set_last_error (self, "");
	da_account_complete_refresh_waiters (self, NULL);
}

static void
da_account_refresh_endpoints_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaAccount) self = user_data;
	g_autoptr(GError) error = NULL;
	DaOidcClientAuth auth = da_account_client_auth (self);

	if (!da_account_ensure_endpoints_finish (self, res, &error)) {
		da_account_plan_retry (self);
		da_account_complete_refresh_waiters (self, error);
		return;
	}
	if (!da_account_can_renew (self)) {
		g_autoptr(GError) gone = da_account_not_signed_in (self);
		da_account_complete_refresh_waiters (self, gone);
		return;
	}
	if (da_account_is_service (self)) {
		g_debug ("account %s: a new access token with the client's credentials",
			 self->config->name);
		da_account_request_service_token (self, da_account_refresh_cb);
		return;
	}
	g_debug ("account %s: refreshing the access token", self->config->name);
	da_account_journal_begin (self);
	da_idp_refresh_async (self->idp, self->endpoints->token_endpoint, &auth,
			      self->refresh->token, NULL, da_account_refresh_cb,
			      g_object_ref (self));
}

/* @paced: wait out the gap after a failed attempt (callers asking in a
 * loop); an explicit Refresh is not paced. */
static void
da_account_refresh_paced_async (DaAccount *self,
				gboolean paced,
				GCancellable *cancellable,
				GAsyncReadyCallback callback,
				gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	gint64 allowed_at = self->refresh_failed_us + SEC_US (DA_REFRESH_CALLER_GAP_SEC);

	g_task_set_source_tag (task, da_account_refresh_async);
	if (!da_account_can_renew (self)) {
		g_task_return_error (task, da_account_not_signed_in (self));
		return;
	}
	/* single flight: every caller shares the one request */
	waiters_add (&self->refresh_waiters, g_steal_pointer (&task));
	if (self->refreshing)
		return;
	/* right after a failure: the timer starts the next attempt */
	if (paced && self->refresh_failures > 0 && now_us () < allowed_at) {
		if (self->refresh_due == 0 || self->refresh_due > allowed_at)
			self->refresh_due = allowed_at;
		da_account_refresh_timer_start (self);
		return;
	}
	self->refreshing = TRUE;
	da_account_ensure_endpoints_async (self, NULL, da_account_refresh_endpoints_cb,
					   g_object_ref (self));
}

void
da_account_refresh_async (DaAccount *self,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data)
{
	da_account_refresh_paced_async (self, FALSE, cancellable, callback, user_data);
}

gboolean
da_account_refresh_finish (DaAccount *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), FALSE);
	return g_task_propagate_boolean (G_TASK (res), error);
}

/* A GetToken that waits for a refresh waits this long at most; the
 * refresh itself goes on. */
#define DA_GET_TOKEN_WAIT_MAX_SEC 10

typedef struct {
	guint timeout_id;
	gboolean returned;
} DaTokenWait;

static void
da_token_wait_free (DaTokenWait *wait)
{
	g_clear_handle_id (&wait->timeout_id, g_source_remove);
	g_free (wait);
}

/* while the IdP cannot be reached, a token that is still valid is better
 * than none */
static void
da_account_return_token_or (DaAccount *self, GTask *task, GError *error)
{
	DaTokenWait *wait = g_task_get_task_data (task);

	wait->returned = TRUE;
	g_clear_handle_id (&wait->timeout_id, g_source_remove);
	if (error == NULL) {
		if (self->access == NULL) {
			g_task_return_error (task, da_account_not_signed_in (self));
			return;
		}
		/* a fresh token, even if the IdP issues them shorter than asked */
		g_task_return_pointer (task, da_token_copy (self->access),
				       (GDestroyNotify) da_token_free);
		return;
	}
	if (!g_error_matches (error, DA_ERROR, DA_ERROR_NOT_SIGNED_IN) && self->access != NULL &&
	    self->access_expires_us - DA_EXPIRY_MARGIN_US > now_us ()) {
		g_error_free (error);
		g_task_return_pointer (task, da_token_copy (self->access),
				       (GDestroyNotify) da_token_free);
		return;
	}
	g_task_return_error (task, error);
}

static void
da_account_get_token_refreshed_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	DaAccount *self = DA_ACCOUNT (source);
	DaTokenWait *wait = g_task_get_task_data (task);
	GError *error = NULL;

	da_account_refresh_finish (self, res, &error);
	if (wait->returned) {
		g_clear_error (&error);
		return;
	}
	da_account_return_token_or (self, task, error);
}

static gboolean
da_account_get_token_timeout_cb (gpointer user_data)
{
	GTask *task = G_TASK (user_data);
	DaAccount *self = g_task_get_source_object (task);
	DaTokenWait *wait = g_task_get_task_data (task);

	wait->timeout_id = 0;
	da_account_set_last_error (self, "cannot refresh the token: the IdP does not answer");
	da_account_return_token_or (
		self, task,
		g_error_new (
			DA_ERROR, DA_ERROR_IDP_UNREACHABLE,
			"the IdP did not answer within %d s; the token of account %s has expired",
			DA_GET_TOKEN_WAIT_MAX_SEC, self->config->name));
	return G_SOURCE_REMOVE;
}

void
da_account_get_token_async (DaAccount *self,
			    guint min_validity,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	DaTokenWait *wait = g_new0 (DaTokenWait, 1);
	DaToken *cached;

	g_task_set_source_tag (task, da_account_get_token_async);
	g_task_set_task_data (task, wait, (GDestroyNotify) da_token_wait_free);
	cached = da_account_get_cached_token (self, min_validity);
	if (cached != NULL) {
		g_task_return_pointer (task, cached, (GDestroyNotify) da_token_free);
		return;
	}
	if (!da_account_can_renew (self)) {
		if (self->access != NULL)
			g_task_return_new_error (
				task, DA_ERROR, DA_ERROR_NOT_SIGNED_IN,
				"the access token of account %s expires sooner than "
				"asked and the IdP gave no refresh token; sign in again",
				self->config->name);
		else
			g_task_return_error (task, da_account_not_signed_in (self));
		return;
	}
	self->demand_pending = TRUE;
	wait->timeout_id = da_clock_timeout_add_seconds (DA_GET_TOKEN_WAIT_MAX_SEC,
							 da_account_get_token_timeout_cb,
							 g_object_ref (task), g_object_unref);
	da_account_refresh_paced_async (self, TRUE, NULL, da_account_get_token_refreshed_cb,
					g_steal_pointer (&task));
}

DaToken *
da_account_get_token_finish (DaAccount *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	return g_task_propagate_pointer (G_TASK (res), error);
}
