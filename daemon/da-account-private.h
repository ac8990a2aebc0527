/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the files of DaAccount share, and nothing outside them uses:
 *   da-account.c          state, properties, the status signal, endpoints,
 *                         logout, the object
 *   da-account-login.c    the device flow and its prompt
 *   da-account-refresh.c  the refresh schedule, single-flight refreshes,
 *                         GetToken
 *   da-account-store.c    the tokens held: taken from the IdP, cached in the
 *                         keyring, written to disk, restored, forgotten */

#include "da-account.h"
#include "da-clock.h"
#include "da-flow.h"
#include "da-hint.h"
#include "da-jwt.h"
#include "da-vault.h"

G_BEGIN_DECLS

/* when the IdP does not say how long an access token lives */
#define DA_ACCESS_TOKEN_ASSUMED_LIFETIME 300

/* An answer's access token lifetime, seconds: only a token of no stated
 * lifetime gets the assumed one (Keycloak's last tokens of an SSO session
 * say 0). */
static inline gint64
da_oidc_tokens_lifetime (const DaOidcTokens *tokens)
{
	return tokens->expires_in >= 0 ? tokens->expires_in : DA_ACCESS_TOKEN_ASSUMED_LIFETIME;
}
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

/* writes of the state file that failed are tried again after 1, 2, 4 … s,
 * at most this long apart */
#define DA_PERSIST_RETRY_MAX_SEC 60

/* LastError while the tokens cannot go to the keyring and nothing worse is
 * wrong: the account works, but an admin should know */
#define DA_ACCOUNT_KEYRING_FULL_MESSAGE                                                            \
	"the tokens are kept in memory and on disk only: the key quota of this user is "           \
	"exhausted (raise kernel.keys.maxbytes)"

struct _DaAccount {
	GObject parent_instance;
	DaAccountConfig *config;
	DaIdp *idp;
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
	gint64 access_expires_us;   /* of the current access token, da_clock_now_us () */
	gint64 access_received_us;  /* when it arrived; 0 when restored */
	gint64 refresh_due;	    /* wall clock, µs; 0: no refresh planned */
	guint refresh_timer_id;
	guint refresh_failures;
	gboolean keyring_full_logged;
	/* the tokens could not be written to disk (a full disk): LastError
	 * says so, and the write is tried again until it succeeds */
	gchar *persist_error;
	guint persist_timer_id;
	guint persist_failures;
	/* the journal of the refresh on its way; NULL: none, or none kept */
	DaVaultJournal *journal;
	/* restored after a stop in the middle of a refresh, not retried yet */
	gboolean refresh_interrupted;
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

/* Grant=client_credentials: the device's own identity, no person */
static inline gboolean
da_account_is_service (DaAccount *self)
{
	return self->config->grant == DA_GRANT_CLIENT_CREDENTIALS;
}

/* A new access token can come without a person: with the refresh token,
 * or, for a service account that holds a token, with the client's
 * credentials (it has no refresh token; logging out drops the token). */
static inline gboolean
da_account_can_renew (DaAccount *self)
{
	return self->refresh != NULL || (da_account_is_service (self) && self->access != NULL);
}

/* The waiters' arrays exist only while someone waits: with many accounts,
 * most wait for nothing. */
static inline void
waiters_add (GPtrArray **waiters, GTask *task)
{
	if (*waiters == NULL)
		*waiters = g_ptr_array_new_with_free_func (g_object_unref);
	g_ptr_array_add (*waiters, task);
}

static inline gint64
now_sec (void)
{
	return da_clock_now_sec ();
}

/* whole seconds are too coarse to time refreshes or to tell an expired
 * token from a valid one */
static inline gint64
now_us (void)
{
	return da_clock_now_us ();
}

#define SEC_US(s) (G_USEC_PER_SEC * (gint64) (s))

void
da_account_notify (DaAccount *self, guint prop);
const gchar *
da_account_get_subject (DaAccount *self);
const gchar *
da_account_get_user_name (DaAccount *self);
gint64
da_account_get_sign_in_expires_at (DaAccount *self);
void
da_account_set_last_error (DaAccount *self, const gchar *message);
void
da_account_emit_status (DaAccount *self, DaStatus *status);
void
da_account_set_state (DaAccount *self, DaAccountState state);
DaStatus *
da_account_build_prompt (DaAccount *self);
DaStatus *
da_account_build_signed_in (DaAccount *self);
DaStatus *
da_account_build_failure (DaAccount *self, const gchar *error_name, const gchar *description);
GError *
da_account_idp_error (const GError *error, const gchar *what);
GError *
da_account_refusal_error (DaAccount *self,
			  DaHintRequest request,
			  const GError *error,
			  const gchar *what);
void
da_account_ensure_endpoints_async (DaAccount *self,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data);
gboolean
da_account_ensure_endpoints_finish (DaAccount *self, GAsyncResult *res, GError **error);
DaOidcClientAuth
da_account_client_auth (DaAccount *self);
void
da_account_restore (DaAccount *self);
DaIdClaims *
da_account_id_claims (DaAccount *self, DaOidcTokens *tokens, GError **error);
void
da_account_take_tokens (DaAccount *self, DaOidcTokens *tokens, const DaIdClaims *claims);
void
da_account_check_offline (DaAccount *self, DaOidcTokens *tokens);
void
da_account_forget_tokens (DaAccount *self);
void
da_account_plan_refresh (DaAccount *self);
void
da_account_refresh_soon (DaAccount *self);
void
da_account_request_service_token (DaAccount *self, GAsyncReadyCallback callback);
void
da_account_journal_begin (DaAccount *self);
void
da_account_journal_tokens (DaAccount *self, DaOidcTokens *tokens);
void
da_account_journal_end (DaAccount *self, gboolean remove);

G_END_DECLS
