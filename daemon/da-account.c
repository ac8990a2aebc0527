/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-account.h"
#include "da-error.h"
#include "da-flow.h"
#include "da-hint.h"
#include "da-jwt.h"
#include "da-qr.h"
#include "da-vault.h"

/* when the IdP does not say how long an access token lives */
#define DA_ACCESS_TOKEN_ASSUMED_LIFETIME 300
/* a timer never sleeps longer than this before it looks at the wall clock
 * again: monotonic time stops while the device is suspended */
#define DA_REFRESH_TIMER_MAX_SEC   60
#define DA_REFRESH_BACKOFF_MIN_SEC 2
#define DA_REFRESH_BACKOFF_MAX_SEC 300
/* after a failed refresh, callers wait this long for the next attempt, so
 * that apps asking in a loop cannot hammer an IdP that is down */
#define DA_REFRESH_CALLER_GAP_SEC 2
/* background refreshes come no closer than this after new tokens, however
 * short-lived the IdP makes them (Keycloak's last ones before SSO Session
 * Max live a second or less) */
#define DA_REFRESH_MIN_GAP_SEC 1
/* at most one refresh this often for callers whose min-validity the IdP's
 * token lifetime cannot meet */
#define DA_DEMAND_REFRESH_QUIET_SEC 5
/* a token is not handed out in its last second: it would be dead by the
 * time the caller used it (and clocks differ a little) */
#define DA_EXPIRY_MARGIN_US (G_USEC_PER_SEC)
/* clock difference between device and IdP allowed on an ID token's exp and iat */
#define DA_ID_TOKEN_LEEWAY_SEC 120

struct _DaAccount {
	GObject parent_instance;
	DaAccountConfig *config;
	DaOidcClient *client;
	DaKeyring *keyring; /* NULL: tokens in memory only */
	DaVault *vault;	    /* NULL: nothing survives a reboot */
	DaOidcEndpoints *endpoints;
	GBytes *jwks; /* the IdP's signing keys at the last sign-in; NULL: not fetched */

	DaAccountState state;
	DaToken *access;
	DaToken *refresh;
	gchar *last_error;

	DaFlow *flow;
	DaAccountState state_before_flow;
	GBytes *qr_modules;
	guint qr_size;
	GPtrArray *login_waiters; /* of GTask, waiting for the flow's prompt; NULL: none */

	GPtrArray *refresh_waiters; /* of GTask, sharing one refresh; NULL: none */
	gboolean refreshing;	    /* a refresh request is on its way */
	gint64 refresh_failed_us;   /* when the last failed refresh ended */
	gint64 demand_refresh_us;   /* when a refresh a caller asked for ended */
	gboolean demand_pending;    /* the refresh under way is a caller's */
	gint64 token_lifetime;	    /* of the current access token, seconds */
	gint64 access_expires_us;   /* of the current access token, wall clock */
	gint64 access_received_us;  /* when it arrived; 0 when restored */
	gint64 refresh_due;	    /* wall clock, µs; 0: no refresh planned */
	guint refresh_timer_id;
	guint refresh_failures;
	gboolean keyring_full_logged;
};

enum {
	PROP_0,
	PROP_NAME,
	PROP_ISSUER,
	PROP_CLIENT_ID,
	PROP_SCOPES,
	PROP_STATE,
	PROP_SUBJECT,
	PROP_ACCESS_TOKEN_EXPIRES_AT,
	PROP_LOGIN_EXPIRES_AT,
	PROP_LAST_ERROR,
	PROP_USER_NAME,
	PROP_SIGN_IN_EXPIRES_AT,
	N_PROPS,
};

static GParamSpec *props[N_PROPS];

enum {
	SIGNAL_STATUS_CHANGED,
	N_SIGNALS,
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (DaAccount, da_account, G_TYPE_OBJECT)

static void
da_account_plan_refresh (DaAccount *self);
static void
da_account_refresh_paced_async (DaAccount *self,
				gboolean paced,
				GCancellable *cancellable,
				GAsyncReadyCallback callback,
				gpointer user_data);

/* The waiters' arrays exist only while someone waits: with many accounts,
 * most wait for nothing. */
static void
waiters_add (GPtrArray **waiters, GTask *task)
{
	if (*waiters == NULL)
		*waiters = g_ptr_array_new_with_free_func (g_object_unref);
	g_ptr_array_add (*waiters, task);
}

static gint64
now_sec (void)
{
	return g_get_real_time () / G_USEC_PER_SEC;
}

/* whole seconds are too coarse to time refreshes or to tell an expired
 * token from a valid one */
static gint64
now_us (void)
{
	return g_get_real_time ();
}

#define SEC_US(s) ((gint64) (s) *G_USEC_PER_SEC)

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

static const gchar *
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
static const gchar *
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
static gint64
da_account_get_sign_in_expires_at (DaAccount *self)
{
	return self->refresh != NULL ? self->refresh->expires_at : 0;
}

/* ---- state, properties and the status signal ---- */

/* LastError while the tokens cannot go to the keyring and nothing worse is
 * wrong: the account works, but an admin should know */
#define DA_ACCOUNT_KEYRING_FULL_MESSAGE                                                            \
	"the tokens are kept in memory and on disk only: the key quota of this user is "           \
	"exhausted (raise kernel.keys.maxbytes)"

/* @message "" or NULL: nothing is wrong (but a full keyring) */
static void
da_account_set_last_error (DaAccount *self, const gchar *message)
{
	if ((message == NULL || message[0] == '\0') && self->keyring_full_logged)
		message = DA_ACCOUNT_KEYRING_FULL_MESSAGE;
	if (g_strcmp0 (self->last_error, message) == 0)
		return;
	g_free (self->last_error);
	self->last_error = g_strdup (message);
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LAST_ERROR]);
}

/* Takes @status. */
static void
da_account_emit_status (DaAccount *self, DaStatus *status)
{
	g_autoptr(DaStatus) owned = status;

	g_signal_emit (self, signals[SIGNAL_STATUS_CHANGED], 0,
		       da_account_state_to_string (self->state), owned);
}

static void
da_account_set_state (DaAccount *self, DaAccountState state)
{
	if (self->state == state)
		return;
	g_info ("account %s: %s → %s", self->config->name, da_account_state_to_string (self->state),
		da_account_state_to_string (state));
	self->state = state;
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
}

static DaStatus *
da_account_build_prompt (DaAccount *self)
{
	DaStatus *status = da_status_new (DA_STATUS_PROMPT, self->config->name);

	status->user_code = g_strdup (da_flow_get_user_code (self->flow));
	status->verification_uri = g_strdup (da_flow_get_verification_uri (self->flow));
	status->verification_uri_complete =
		g_strdup (da_flow_get_verification_uri_complete (self->flow));
	status->expires_at = da_flow_get_expires_at (self->flow);
	status->interval = da_flow_get_interval (self->flow);
	if (self->qr_modules != NULL) {
		status->qr_size = self->qr_size;
		status->qr_modules = g_bytes_ref (self->qr_modules);
	}
	return status;
}

static DaStatus *
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
		status->expires_at = self->access->expires_at;
	status->sign_in_expires_at = da_account_get_sign_in_expires_at (self);
	return status;
}

static DaStatus *
da_account_build_failure (DaAccount *self, const gchar *error_name, const gchar *description)
{
	DaStatus *status = da_status_new (DA_STATUS_FAILURE, self->config->name);

	status->error = g_strdup (error_name);
	status->error_description = g_strdup (description);
	return status;
}

/* ---- the keyring cache ---- */

static gchar *
key_description (DaAccount *self, const gchar *kind)
{
	return g_strdup_printf ("devauthd:%s:%s", self->config->name, kind);
}

static void
da_account_keyring_failed (DaAccount *self, const GError *error)
{
	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE)) {
		if (!self->keyring_full_logged)
			g_warning ("account %s: %s; keeping its tokens in memory only",
				   self->config->name, error->message);
		self->keyring_full_logged = TRUE;
		if (self->last_error == NULL || self->last_error[0] == '\0')
			da_account_set_last_error (self, NULL);
		return;
	}
	g_warning ("account %s: %s", self->config->name, error->message);
}

static void
da_account_cache_token (DaAccount *self, const gchar *kind, const DaToken *token)
{
	g_autofree gchar *desc = key_description (self, kind);
	g_autoptr(DaSecret) payload = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	guint timeout = 0;

	if (self->keyring == NULL)
		return;
	if (token == NULL) {
		if (!da_keyring_remove (self->keyring, desc, &error))
			da_account_keyring_failed (self, error);
		return;
	}
	/* an access key vanishes from the keyring when the token expires */
	if (token->expires_at > 0)
		timeout = (guint) CLAMP (token->expires_at - now_sec (), 1, G_MAXINT32);
	payload = da_token_serialize (token, &len);
	if (!da_keyring_store (self->keyring, desc, payload, len, timeout, &error))
		da_account_keyring_failed (self, error);
	else if (self->keyring_full_logged) {
		self->keyring_full_logged = FALSE;
		g_info ("account %s: the keyring takes its tokens again", self->config->name);
		if (g_strcmp0 (self->last_error, DA_ACCOUNT_KEYRING_FULL_MESSAGE) == 0)
			da_account_set_last_error (self, NULL);
	}
}

static DaToken *
da_account_load_cached (DaAccount *self, const gchar *kind)
{
	g_autofree gchar *desc = key_description (self, kind);
	g_autoptr(DaSecret) payload = NULL;
	g_autoptr(GError) error = NULL;
	DaToken *token;

	payload = da_keyring_load (self->keyring, desc, &error);
	if (payload == NULL) {
		if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
			g_warning ("account %s: %s", self->config->name, error->message);
		return NULL;
	}
	token = da_token_parse (payload, strlen (payload), &error);
	if (token == NULL)
		g_warning ("account %s: key %s: %s; ignored", self->config->name, desc,
			   error->message);
	return token;
}

/* Writes the tokens to disk; FALSE (and a log line) when that failed. */
static gboolean
da_account_persist (DaAccount *self, const DaToken *refresh, const DaToken *access)
{
	g_autoptr(DaSecret) state = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = 0;

	if (self->vault == NULL)
		return TRUE;
	state = da_token_pack_state (refresh, access, &len);
	if (!da_vault_store (self->vault, self->config->name, state, len, &error)) {
		g_warning ("account %s: the sign-in will not survive a reboot: %s",
			   self->config->name, error->message);
		return FALSE;
	}
	return TRUE;
}

static void
da_account_restore_from_disk (DaAccount *self)
{
	g_autoptr(GByteArray) state = NULL;
	g_autoptr(GError) error = NULL;
	DaToken *refresh = NULL;
	DaToken *access = NULL;

	state = da_vault_load (self->vault, self->config->name, &error);
	if (state == NULL) {
		if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
			return;
		g_warning ("account %s: %s; it must sign in again", self->config->name,
			   error->message);
		da_account_set_last_error (self,
					   "the stored sign-in cannot be read; sign in again");
		self->state = DA_ACCOUNT_STATE_REAUTH_REQUIRED;
		return;
	}
	if (!da_token_unpack_state ((const gchar *) state->data, state->len, &refresh, &access,
				    &error)) {
		da_secret_wipe (state->data, state->len);
		g_warning ("account %s: stored state: %s; it must sign in again",
			   self->config->name, error->message);
		da_account_set_last_error (self,
					   "the stored sign-in cannot be read; sign in again");
		self->state = DA_ACCOUNT_STATE_REAUTH_REQUIRED;
		return;
	}
	da_secret_wipe (state->data, state->len);
	self->refresh = refresh;
	self->access = access;
	da_account_cache_token (self, "refresh", self->refresh);
	if (self->access != NULL && self->access->expires_at > now_sec ())
		da_account_cache_token (self, "access", self->access);
	g_info ("account %s: signed in from the state directory", self->config->name);
}

static void
da_account_restore (DaAccount *self)
{
	if (self->keyring != NULL) {
		self->refresh = da_account_load_cached (self, "refresh");
		self->access = da_account_load_cached (self, "access");
		if (self->refresh != NULL || self->access != NULL)
			g_info ("account %s: signed in from the keyring", self->config->name);
	}
	if (self->refresh == NULL && self->access == NULL && self->vault != NULL)
		da_account_restore_from_disk (self);
	if (self->access != NULL && self->access->expires_at > 0 &&
	    self->access->expires_at <= now_sec ())
		g_clear_pointer (&self->access, da_token_free);
	if (self->access != NULL) {
		self->access_expires_us = SEC_US (self->access->expires_at);
		self->access_received_us = 0;
	}
	if (self->refresh != NULL || self->access != NULL) {
		self->state = DA_ACCOUNT_STATE_SIGNED_IN;
		da_account_plan_refresh (self);
	}
}

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
	if (self->refresh_due == 0 || self->refresh == NULL)
		return;
	wait_ms = CLAMP ((self->refresh_due - now_us () + 999) / 1000, 0,
			 DA_REFRESH_TIMER_MAX_SEC * 1000);
	self->refresh_timer_id = g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) wait_ms,
						     da_account_refresh_timer_cb, self, NULL);
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
static void
da_account_plan_refresh (DaAccount *self)
{
	gint64 now = now_us ();

	self->refresh_failures = 0;
	if (self->refresh == NULL) {
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
		if (self->refresh->expires_at > 0)
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
	retry_at = self->endpoints != NULL ? da_oidc_client_get_retry_at (
						     self->client, self->endpoints->token_endpoint)
					   : 0;
	self->refresh_due = MAX (now + delay, SEC_US (retry_at));
	g_debug ("account %s: next refresh attempt in %.1f s", self->config->name,
		 (gdouble) (self->refresh_due - now) / G_USEC_PER_SEC);
	da_account_refresh_timer_start (self);
}

/* The network came back, or the device woke up, or the clock jumped. */
void
da_account_recheck (DaAccount *self, gboolean network_back)
{
	if (network_back && self->refresh_failures > 0 && self->refresh != NULL)
		self->refresh_due = now_us ();
	da_account_refresh_timer_start (self);
}

/* What the ID token says about the person, when it verifies: its
 * signature with the IdP's JWKS, its iss, aud, azp and exp (OIDC Core
 * 3.1.3.7). Without a JWKS (no discovery) nothing is verified, and the
 * claims are taken for display only, as the token came straight from the
 * token endpoint over TLS. */
static DaIdClaims *
da_account_id_claims (DaAccount *self, DaOidcTokens *tokens, GError **error)
{
	const gchar *issuer;
	gsize len = 0;
	const gchar *jwks;

	if (tokens->id_token == NULL)
		return NULL;
	if (self->jwks == NULL) {
		DaIdClaims *claims = da_jwt_unverified_claims (tokens->id_token);
		if (claims == NULL)
			g_set_error_literal (error, DA_ERROR, DA_ERROR_IDP_ERROR,
					     "the ID token is not a JWT with a subject");
		return claims;
	}
	issuer = self->endpoints != NULL && self->endpoints->issuer != NULL
			 ? self->endpoints->issuer
			 : self->config->issuer;
	jwks = g_bytes_get_data (self->jwks, &len);
	return da_jwt_verify_id_token (tokens->id_token, jwks, len, issuer, self->config->client_id,
				       now_sec (), DA_ID_TOKEN_LEEWAY_SEC, error);
}

/* The person's name as people know them */
static const gchar *
da_id_claims_display_name (const DaIdClaims *claims)
{
	if (claims->preferred_username != NULL)
		return claims->preferred_username;
	if (claims->name != NULL)
		return claims->name;
	return claims->email;
}

/* Takes new tokens from the IdP: the refresh token first, so that a
 * rotated one is kept before the new access token is handed out. @claims
 * are the verified ones of the tokens' ID token, or NULL to keep what is
 * known about the person. */
static void
da_account_take_tokens (DaAccount *self, DaOidcTokens *tokens, const DaIdClaims *claims)
{
	g_autofree gchar *subject = NULL;
	g_autofree gchar *name = NULL;
	g_autofree gchar *fingerprint = da_secret_fingerprint (tokens->access_token);
	/* only a token of no stated lifetime gets the assumed one: Keycloak's
	 * last tokens of an SSO session say 0 */
	gint64 lifetime = tokens->expires_in >= 0 ? tokens->expires_in
						  : DA_ACCESS_TOKEN_ASSUMED_LIFETIME;
	/* counted from when the request left, which is no later than when the
	 * IdP started its clock */
	gint64 sent = tokens->requested_at > 0 ? tokens->requested_at : now_us ();
	/* IdPs count expiry in whole seconds (a JWT's exp): rounding the
	 * start down keeps ours no later than theirs */
	gint64 expires_at = sent / G_USEC_PER_SEC + lifetime;
	gint64 sign_in_expires_at = 0;
	const gchar *granted = tokens->scope;
	g_autoptr(DaToken) refresh = NULL;
	g_autoptr(DaToken) access = NULL;

	if (claims != NULL) {
		subject = g_strdup (claims->sub);
		name = g_strdup (da_id_claims_display_name (claims));
	} else {
		subject = g_strdup (da_account_get_subject (self));
		name = g_strdup (da_account_get_user_name (self));
	}
	if (subject[0] == '\0')
		g_clear_pointer (&subject, g_free);
	if (name != NULL && name[0] == '\0')
		g_clear_pointer (&name, g_free);
	/* Keycloak's word on how long the refresh token lasts: 0 is "no end" */
	if (tokens->refresh_expires_in > 0)
		sign_in_expires_at = sent / G_USEC_PER_SEC + tokens->refresh_expires_in;
	else if (tokens->refresh_expires_in < 0 && tokens->refresh_token == NULL &&
		 self->refresh != NULL)
		sign_in_expires_at = self->refresh->expires_at;
	if (granted == NULL && self->refresh != NULL)
		granted = self->refresh->scope;

	access = da_token_new (tokens->access_token, expires_at, tokens->token_type, tokens->scope,
			       subject);
	if (tokens->refresh_token != NULL)
		refresh = da_token_new (tokens->refresh_token, sign_in_expires_at, NULL, granted,
					subject);
	else if (self->refresh != NULL)
		refresh = da_token_new (self->refresh->token, sign_in_expires_at, NULL, granted,
					subject);
	da_token_set_name (access, name);
	if (refresh != NULL)
		da_token_set_name (refresh, name);

	/* disk first: a rotated refresh token must outlive a crash before
	 * anything uses the new tokens */
	da_account_persist (self, refresh, access);
	da_account_cache_token (self, "refresh", refresh);
	da_account_cache_token (self, "access", access);
	g_clear_pointer (&self->refresh, da_token_free);
	g_clear_pointer (&self->access, da_token_free);
	self->refresh = g_steal_pointer (&refresh);
	self->access = g_steal_pointer (&access);
	self->token_lifetime = lifetime;
	self->access_expires_us = SEC_US (expires_at);
	self->access_received_us = now_us ();
	da_account_plan_refresh (self);
	g_debug ("account %s: new access token %s, valid for %" G_GINT64_FORMAT " s; "
		 "refresh_expires_in %" G_GINT64_FORMAT,
		 self->config->name, fingerprint, lifetime, tokens->refresh_expires_in);
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_ACCESS_TOKEN_EXPIRES_AT]);
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_SUBJECT]);
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_USER_NAME]);
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_SIGN_IN_EXPIRES_AT]);
}

/* Scopes= asked for offline_access and the IdP left it out: the sign-in
 * then ends with the IdP's browser session. Said at each sign-in. */
static void
da_account_check_offline (DaAccount *self, DaOidcTokens *tokens)
{
	g_auto(GStrv) granted = NULL;

	if (tokens->scope == NULL ||
	    !g_strv_contains ((const gchar *const *) self->config->scopes, "offline_access"))
		return;
	granted = g_strsplit (tokens->scope, " ", -1);
	if (g_strv_contains ((const gchar *const *) granted, "offline_access"))
		return;
	g_warning ("account %s: the IdP did not grant offline_access: the sign-in ends with "
		   "the IdP's session%s (Keycloak: \"SSO Session Max\"; give the client %s the "
		   "client scope offline_access, Clients → %s → Client scopes)",
		   self->config->name,
		   tokens->refresh_expires_in > 0 ? ", see SignInExpiresAt" : "",
		   self->config->client_id, self->config->client_id);
}

static void
da_account_forget_tokens (DaAccount *self)
{
	g_autoptr(GError) error = NULL;

	if (self->vault != NULL && !da_vault_remove (self->vault, self->config->name, &error))
		g_warning ("account %s: %s", self->config->name, error->message);
	da_account_cache_token (self, "access", NULL);
	da_account_cache_token (self, "refresh", NULL);
	g_clear_pointer (&self->access, da_token_free);
	g_clear_pointer (&self->refresh, da_token_free);
	self->refresh_due = 0;
	g_clear_handle_id (&self->refresh_timer_id, g_source_remove);
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_ACCESS_TOKEN_EXPIRES_AT]);
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_SUBJECT]);
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_USER_NAME]);
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_SIGN_IN_EXPIRES_AT]);
}

/* ---- endpoints: from the configuration or from discovery ---- */

static DaOidcEndpoints *
da_account_configured_endpoints (DaAccount *self)
{
	DaOidcEndpoints *endpoints;

	if (self->config->device_authorization_endpoint == NULL ||
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

static GError *
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
static GError *
da_account_refusal_error (DaAccount *self,
			  DaHintRequest request,
			  const GError *error,
			  const gchar *what)
{
	DaHintClient client = {self->config->client_id, self->config->client_secret != NULL,
			       self->config->pkce};
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

	found = da_oidc_client_discover_finish (DA_OIDC_CLIENT (source), res, &error);
	if (found == NULL) {
		g_autoptr(GError) mapped = da_account_idp_error (error, "cannot discover the IdP");
		da_account_set_last_error (self, mapped->message);
		g_task_return_error (task, g_steal_pointer (&mapped));
		return;
	}
	da_account_take_discovered (self, found);
	g_task_return_boolean (task, TRUE);
}

static void
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
	da_oidc_client_discover_async (self->client, self->config->issuer, cancellable,
				       da_account_discover_cb, g_steal_pointer (&task));
}

static gboolean
da_account_ensure_endpoints_finish (DaAccount *self, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean (G_TASK (res), error);
}

static DaOidcClientAuth
da_account_client_auth (DaAccount *self)
{
	DaOidcClientAuth auth = {self->config->client_id, self->config->client_secret};
	return auth;
}

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
			g_task_return_pointer (task, da_account_build_prompt (self),
					       (GDestroyNotify) da_status_unref);
	}
}

static void
da_account_set_login_expires (DaAccount *self)
{
	g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LOGIN_EXPIRES_AT]);
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
		da_account_take_tokens (self, owned, claims);
		da_account_set_last_error (self, "");
		da_account_set_state (self, DA_ACCOUNT_STATE_SIGNED_IN);
		da_account_emit_status (self, da_account_build_signed_in (self));
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
	self->flow = da_flow_new (self->client, self->endpoints->device_authorization_endpoint,
				  self->endpoints->token_endpoint, &auth, scope, self->config->pkce,
				  da_account_flow_done, self);
	da_flow_start_async (self->flow, NULL, da_account_flow_started_cb, g_object_ref (self));
}

static void
da_account_login_jwks_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaAccount) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) jwks =
		da_oidc_client_fetch_jwks_finish (DA_OIDC_CLIENT (source), res, &error);

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

static void
da_account_login_endpoints_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(DaAccount) self = user_data;
	g_autoptr(GError) error = NULL;

	if (!da_account_ensure_endpoints_finish (self, res, &error)) {
		da_account_complete_login_waiters (self, error);
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
		da_oidc_client_fetch_jwks_async (self->client, self->endpoints->jwks_uri, NULL,
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
				       (GDestroyNotify) da_status_unref);
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

static void
da_account_refresh_failed (DaAccount *self, const GError *error)
{
	g_autoptr(GError) mapped = NULL;

	if (g_error_matches (error, DA_OIDC_ERROR, DA_OIDC_ERROR_INVALID_GRANT)) {
		g_autoptr(GError) refused = da_account_refusal_error (
			self, DA_HINT_REFRESH, error, "the IdP no longer accepts the sign-in");
		g_autofree gchar *last_error =
			g_strdup_printf ("%s; sign in again", refused->message);
		g_info ("account %s: the IdP no longer accepts the refresh token (%s)",
			self->config->name, error->message);
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
		mapped = da_account_refusal_error (self, DA_HINT_REFRESH, error,
						   "cannot refresh the token");
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

	tokens = da_oidc_client_tokens_finish (DA_OIDC_CLIENT (source), res, &error);
	if (tokens == NULL) {
		da_account_refresh_failed (self, error);
		return;
	}
	if (self->refresh == NULL) {
		/* logged out while the refresh was on its way */
		g_autoptr(GError) gone = da_account_not_signed_in (self);
		da_account_complete_refresh_waiters (self, gone);
		return;
	}
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
	if (self->refresh == NULL) {
		g_autoptr(GError) gone = da_account_not_signed_in (self);
		da_account_complete_refresh_waiters (self, gone);
		return;
	}
	g_debug ("account %s: refreshing the access token", self->config->name);
	da_oidc_client_refresh_async (self->client, self->endpoints->token_endpoint, &auth,
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
	if (self->refresh == NULL) {
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
	if (self->refresh == NULL) {
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
	wait->timeout_id = g_timeout_add_seconds_full (
		G_PRIORITY_DEFAULT, DA_GET_TOKEN_WAIT_MAX_SEC, da_account_get_token_timeout_cb,
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

	if (!da_oidc_client_revoke_finish (DA_OIDC_CLIENT (source), res, &error))
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
	da_oidc_client_revoke_async (self->client, self->endpoints->revocation_endpoint, &auth,
				     token->token, hint, NULL, da_account_logout_revoked_cb, task);
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
		g_value_set_int64 (value, self->access != NULL ? self->access->expires_at : 0);
		break;
	case PROP_LOGIN_EXPIRES_AT:
		g_value_set_int64 (value, self->flow != NULL && da_flow_is_started (self->flow)
						  ? da_flow_get_expires_at (self->flow)
						  : 0);
		break;
	case PROP_LAST_ERROR:
		g_value_set_string (value, self->last_error != NULL ? self->last_error : "");
		break;
	case PROP_USER_NAME:
		g_value_set_string (value, da_account_get_user_name (self));
		break;
	case PROP_SIGN_IN_EXPIRES_AT:
		g_value_set_int64 (value, da_account_get_sign_in_expires_at (self));
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
	if (flow != NULL)
		da_flow_cancel (flow);
	G_OBJECT_CLASS (da_account_parent_class)->dispose (object);
}

static void
da_account_finalize (GObject *object)
{
	DaAccount *self = DA_ACCOUNT (object);

	da_account_config_free (self->config);
	g_clear_object (&self->client);
	da_oidc_endpoints_unref (self->endpoints);
	g_clear_pointer (&self->jwks, g_bytes_unref);
	da_token_free (self->access);
	da_token_free (self->refresh);
	g_free (self->last_error);
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
da_account_new (DaAccountConfig *config, DaOidcClient *client, DaKeyring *keyring, DaVault *vault)
{
	DaAccount *self = g_object_new (DA_TYPE_ACCOUNT, NULL);

	self->config = config;
	self->client = g_object_ref (client);
	self->keyring = keyring;
	self->vault = vault;
	da_account_restore (self);
	return self;
}
