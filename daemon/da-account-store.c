/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tokens an account holds: taken from the IdP's answer (with the ID
 * token checked), cached in the kernel keyring, written encrypted to disk,
 * restored at start, forgotten. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-account-private.h"
#include "da-error.h"
#include "da-vault.h"

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

static gboolean
da_account_persist_retry_cb (gpointer user_data);

/* A write failed (the disk is full, the state directory gone): LastError
 * says so while it lasts, and the write is tried again, with backoff,
 * until it succeeds; a rotated refresh token would otherwise be lost at
 * the next reboot. */
static void
da_account_persist_failed (DaAccount *self, const GError *error)
{
	guint delay = MIN (1u << MIN (self->persist_failures, 6), DA_PERSIST_RETRY_MAX_SEC);

	if (self->persist_failures == 0)
		g_warning ("account %s: the sign-in is not saved and would not survive a reboot: "
			   "%s; trying again until it is",
			   self->config->name, error->message);
	else
		g_debug ("account %s: the state file is still not written: %s; again in %u s",
			 self->config->name, error->message, delay);
	self->persist_failures++;
	g_free (self->persist_error);
	self->persist_error = g_strdup_printf ("the sign-in is not saved to disk (%s): it would "
					       "not survive a reboot; trying again",
					       error->message);
	da_account_set_last_error (self, self->persist_error);
	g_clear_handle_id (&self->persist_timer_id, g_source_remove);
	self->persist_timer_id =
		da_clock_timeout_add_seconds (delay, da_account_persist_retry_cb, self, NULL);
}

static void
da_account_persist_done (DaAccount *self)
{
	gboolean shown;

	g_clear_handle_id (&self->persist_timer_id, g_source_remove);
	if (self->persist_error == NULL)
		return;
	g_info ("account %s: the sign-in is saved again, after %u failed writes",
		self->config->name, self->persist_failures);
	shown = g_strcmp0 (self->last_error, self->persist_error) == 0;
	g_clear_pointer (&self->persist_error, g_free);
	self->persist_failures = 0;
	if (shown)
		da_account_set_last_error (self, NULL);
}

/* Writes the tokens to disk; FALSE when that failed (and will be tried
 * again). */
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
		da_account_persist_failed (self, error);
		return FALSE;
	}
	da_account_persist_done (self);
	return TRUE;
}

static gboolean
da_account_persist_retry_cb (gpointer user_data)
{
	DaAccount *self = DA_ACCOUNT (user_data);

	self->persist_timer_id = 0;
	if ((self->refresh != NULL || self->access != NULL) &&
	    da_account_persist (self, self->refresh, self->access))
		da_account_journal_end (self, TRUE);
	return G_SOURCE_REMOVE;
}

/* The tokens held, restored from disk or the journal, into the keyring
 * (an access token only while it is valid). */
static void
da_account_cache_held (DaAccount *self)
{
	da_account_cache_token (self, "refresh", self->refresh);
	if (self->access != NULL && self->access->expires_at > now_sec ())
		da_account_cache_token (self, "access", self->access);
}

/* ---- the clock a stored expiry was read on ---- */

/* @token's expiry is in the daemon's time as it stands */
static void
da_account_stamp_clock (DaToken *token)
{
	const gchar *origin = NULL;
	gint64 offset = da_clock_offset_us (&origin);

	da_token_set_clock (token, da_clock_boot_id (), offset, origin);
}

/* A restored token's expiry, read again: written in this boot, it moves
 * with the daemon's time since (its deadline on CLOCK_BOOTTIME holds,
 * whatever the wall clock did); the IdP's time the earlier process kept
 * is taken until an IdP answers. Written in another boot (or by an older
 * devauthd), its expiry means something only on a wall clock that is
 * known to be right: else the access token is not served, a refresh
 * comes first. */
static void
da_account_restore_clock (DaAccount *self, DaToken *token, gboolean is_access)
{
	const gchar *boot_id = da_clock_boot_id ();
	gint64 offset;

	if (token == NULL)
		return;
	if (token->boot_id != NULL && boot_id[0] != '\0' && g_str_equal (token->boot_id, boot_id)) {
		da_clock_note_earlier_offset (token->clock_offset_us, token->clock_origin);
		offset = da_clock_offset_us (NULL);
		if (token->expires_at > 0)
			token->expires_at += (offset - token->clock_offset_us) / G_USEC_PER_SEC;
		da_account_stamp_clock (token);
		return;
	}
	if (!is_access || da_clock_is_trusted ())
		return;
	g_info ("account %s: the access token was stored %s, and the system clock is not "
		"synchronised: its expiry cannot be judged, so it is not served; a refresh first",
		self->config->name,
		token->boot_id != NULL ? "in another boot" : "by an older devauthd");
	g_clear_pointer (&self->access, da_token_free);
}

/* ---- the journal of a refresh on its way ---- */

static void
da_account_build_tokens (DaAccount *self,
			 DaOidcTokens *tokens,
			 const DaIdClaims *claims,
			 DaToken **refresh_out,
			 DaToken **access_out);

#define DA_JOURNAL_MAGIC "devauthd-journal 1\n"

/* which refresh token a journal belongs to: the one the refresh sent */
static gchar *
da_account_journal_binding (const DaToken *refresh)
{
	return g_compute_checksum_for_string (G_CHECKSUM_SHA256, refresh->token, -1);
}

/* Before a refresh request leaves: the journal says one is on its way,
 * with the refresh token it sends, so that a restart after a crash knows
 * the IdP may have replaced that token already. */
void
da_account_journal_begin (DaAccount *self)
{
	g_autofree gchar *binding = NULL;
	g_autofree gchar *record = NULL;
	g_autoptr(GError) error = NULL;

	da_account_journal_end (self, FALSE);
	if (self->vault == NULL || self->refresh == NULL)
		return;
	binding = da_account_journal_binding (self->refresh);
	record = g_strdup_printf (DA_JOURNAL_MAGIC "in-flight %" G_GINT64_FORMAT " %s\n",
				  now_sec (), binding);
	self->journal = da_vault_journal_begin (self->vault, self->config->name, record,
						strlen (record), &error);
	if (self->journal == NULL)
		g_message ("account %s: the refresh goes on without a journal: %s",
			   self->config->name, error->message);
}

/* The answer's tokens, into the journal the moment they arrive: before
 * the ID token is checked, before the state file's fsync and rename. */
void
da_account_journal_tokens (DaAccount *self, DaOidcTokens *tokens)
{
	g_autoptr(DaToken) refresh = NULL;
	g_autoptr(DaToken) access = NULL;
	g_autoptr(DaSecret) state = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = 0;

	if (self->journal == NULL || self->refresh == NULL)
		return;
	da_account_build_tokens (self, tokens, NULL, &refresh, &access);
	state = da_token_pack_state (refresh, access, &len);
	if (!da_vault_journal_append (self->journal, state, len, &error))
		g_message ("account %s: the new tokens are not in the journal: %s",
			   self->config->name, error->message);
}

/* @remove: the refresh is over (its tokens saved, or the sign-in gone);
 * else the journal stays on disk: the request may have reached the IdP,
 * and a restart is to try again at once. */
void
da_account_journal_end (DaAccount *self, gboolean remove)
{
	if (self->journal != NULL)
		da_vault_journal_end (g_steal_pointer (&self->journal), remove);
	else if (remove && self->vault != NULL)
		da_vault_journal_remove (self->vault, self->config->name);
}

/* "in-flight TIME SHA256\n": when the refresh left, and the token it sent */
static gboolean
da_journal_parse_begin (GByteArray *record, gint64 *started, gchar **binding)
{
	g_autofree gchar *text = NULL;
	g_auto(GStrv) parts = NULL;
	gsize magic_len = strlen (DA_JOURNAL_MAGIC);
	guint64 t = 0;

	if (record->len <= magic_len || memcmp (record->data, DA_JOURNAL_MAGIC, magic_len) != 0 ||
	    record->data[record->len - 1] != '\n')
		return FALSE;
	text = g_strndup ((const gchar *) record->data + magic_len, record->len - magic_len - 1);
	parts = g_strsplit (text, " ", 0);
	if (g_strv_length (parts) != 3 || g_strcmp0 (parts[0], "in-flight") != 0 ||
	    !g_ascii_string_to_unsigned (parts[1], 10, 0, G_MAXINT64, &t, NULL) ||
	    strlen (parts[2]) != 64)
		return FALSE;
	*started = (gint64) t;
	*binding = g_strdup (parts[2]);
	return TRUE;
}

/* After a crash or a SIGKILL in the middle of a refresh: the journal
 * holds the answer's tokens (taken: nothing is lost), or only that a
 * request had left (the IdP may have replaced the token devauthd holds:
 * the account tries again at once, which an IdP that allows one reuse,
 * or a grace period, takes; if it does not, the error says why). */
static void
da_account_restore_journal (DaAccount *self)
{
	g_autoptr(GPtrArray) records = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *binding = NULL;
	g_autofree gchar *held = NULL;
	DaToken *refresh = NULL;
	DaToken *access = NULL;
	gint64 started = 0;
	g_autoptr(GDateTime) started_time = NULL;
	g_autofree gchar *started_text = NULL;

	records = da_vault_journal_read (self->vault, self->config->name, &error);
	if (records == NULL) {
		if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
			g_warning ("account %s: the journal of its last refresh: %s; ignored",
				   self->config->name, error->message);
		return;
	}
	if (records->len == 0 ||
	    !da_journal_parse_begin (g_ptr_array_index (records, 0), &started, &binding)) {
		g_warning ("account %s: the journal of its last refresh does not decrypt or "
			   "is not one; ignored",
			   self->config->name);
		da_account_journal_end (self, TRUE);
		return;
	}
	if (self->refresh != NULL)
		held = da_account_journal_binding (self->refresh);
	if (g_strcmp0 (held, binding) != 0) {
		/* the tokens held came after that refresh */
		g_debug ("account %s: the journal belongs to an older refresh token; removed",
			 self->config->name);
		da_account_journal_end (self, TRUE);
		return;
	}
	if (records->len >= 2) {
		GByteArray *state = g_ptr_array_index (records, 1);
		if (da_token_unpack_state ((const gchar *) state->data, state->len, &refresh,
					   &access, &error) &&
		    refresh != NULL) {
			g_clear_pointer (&self->refresh, da_token_free);
			g_clear_pointer (&self->access, da_token_free);
			self->refresh = refresh;
			self->access = access;
			g_info ("account %s: devauthd stopped while it saved the tokens of a "
				"refresh; they are taken from the journal",
				self->config->name);
			/* the keyring before the journal goes: at the next start it
			 * comes first */
			da_account_cache_held (self);
			if (da_account_persist (self, self->refresh, self->access))
				da_account_journal_end (self, TRUE);
			return;
		}
		if (refresh == NULL)
			da_token_free (access);
		g_warning ("account %s: the journal's tokens cannot be read%s%s; ignored",
			   self->config->name, error != NULL ? ": " : "",
			   error != NULL ? error->message : "");
	}
	self->refresh_interrupted = TRUE;
	started_time = g_date_time_new_from_unix_utc (started);
	started_text = started_time != NULL ? g_date_time_format_iso8601 (started_time)
					    : g_strdup ("an unknown time");
	g_info ("account %s: devauthd stopped while a refresh was on its way (it left at %s); "
		"trying again at once with the refresh token held",
		self->config->name, started_text);
}

/* The state file's tokens (its plaintext wiped); G_IO_ERROR_NOT_FOUND
 * when there is none */
static gboolean
da_account_read_state (DaAccount *self, DaToken **refresh, DaToken **access, GError **error)
{
	g_autoptr(GByteArray) state = da_vault_load (self->vault, self->config->name, error);
	gboolean ok;

	if (state == NULL)
		return FALSE;
	ok = da_token_unpack_state ((const gchar *) state->data, state->len, refresh, access,
				    error);
	da_secret_wipe (state->data, state->len);
	if (!ok)
		g_prefix_error (error, "stored state: ");
	return ok;
}

static void
da_account_restore_from_disk (DaAccount *self)
{
	g_autoptr(GError) error = NULL;
	DaToken *refresh = NULL;
	DaToken *access = NULL;

	if (!da_account_read_state (self, &refresh, &access, &error)) {
		if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
			return;
		g_warning ("account %s: %s; it must sign in again", self->config->name,
			   error->message);
		da_account_set_last_error (self,
					   "the stored sign-in cannot be read; sign in again");
		self->state = DA_ACCOUNT_STATE_REAUTH_REQUIRED;
		return;
	}
	self->refresh = refresh;
	self->access = access;
	da_account_cache_held (self);
	g_info ("account %s: signed in from the state directory", self->config->name);
}

/* Signed in from the keyring: the state file must hold the same refresh
 * token, or a reboot would bring back an older one. It is behind when
 * devauthd was killed after the keyring took a refresh's tokens and
 * before the state file did, or while the disk was full. */
static void
da_account_disk_in_step (DaAccount *self)
{
	g_autoptr(GError) error = NULL;
	DaToken *refresh = NULL;
	DaToken *access = NULL;
	gboolean same;

	if (self->refresh == NULL)
		return;
	if (!da_account_read_state (self, &refresh, &access, &error)) {
		if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
			/* another storage key, a damaged file: left as it is */
			g_message ("account %s: the state file cannot be compared with the "
				   "keyring: %s",
				   self->config->name, error->message);
			return;
		}
	} else {
		same = refresh != NULL && g_strcmp0 (refresh->token, self->refresh->token) == 0;
		da_token_free (refresh);
		da_token_free (access);
		if (same)
			return;
	}
	g_info ("account %s: the state file is behind the keyring; written again",
		self->config->name);
	da_account_persist (self, self->refresh, self->access);
}

void
da_account_restore (DaAccount *self)
{
	if (self->keyring != NULL) {
		self->refresh = da_account_load_cached (self, "refresh");
		self->access = da_account_load_cached (self, "access");
		if (self->refresh != NULL || self->access != NULL)
			g_info ("account %s: signed in from the keyring", self->config->name);
		if (self->vault != NULL)
			da_account_disk_in_step (self);
	}
	if (self->refresh == NULL && self->access == NULL && self->vault != NULL)
		da_account_restore_from_disk (self);
	if (self->vault != NULL)
		da_account_restore_journal (self);
	da_account_restore_clock (self, self->refresh, FALSE);
	da_account_restore_clock (self, self->access, TRUE);
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
		if (self->refresh_interrupted)
			da_account_refresh_soon (self);
	}
}

/* What the ID token says about the person, when it verifies: its
 * signature with the IdP's JWKS, its iss, aud, azp and exp (OIDC Core
 * 3.1.3.7). Without a JWKS (no discovery) nothing is verified, and the
 * claims are taken for display only, as the token came straight from the
 * token endpoint over TLS. */
DaIdClaims *
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

/* The tokens to keep from an answer of the IdP: the refresh token (the
 * rotated one, or the one held), the access token, with their expiry,
 * scope and the person they belong to. @claims are the verified ones of
 * the answer's ID token, or NULL to keep what is known about the person. */
static void
da_account_build_tokens (DaAccount *self,
			 DaOidcTokens *tokens,
			 const DaIdClaims *claims,
			 DaToken **refresh_out,
			 DaToken **access_out)
{
	g_autofree gchar *subject = NULL;
	g_autofree gchar *name = NULL;
	gint64 lifetime = da_oidc_tokens_lifetime (tokens);
	/* counted from when the request left, which is no later than when the
	 * IdP started its clock */
	gint64 sent = tokens->requested_at > 0 ? tokens->requested_at : now_us ();
	/* IdPs count expiry in whole seconds (a JWT's exp): rounding the
	 * start down keeps ours no later than theirs */
	gint64 expires_at = sent / G_USEC_PER_SEC + lifetime;
	gint64 sign_in_expires_at = 0;
	const gchar *granted = tokens->scope;
	DaToken *refresh = NULL;
	DaToken *access;

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
	da_account_stamp_clock (access);
	if (refresh != NULL) {
		da_token_set_name (refresh, name);
		da_account_stamp_clock (refresh);
	}
	*refresh_out = refresh;
	*access_out = access;
}

/* Takes new tokens from the IdP: the refresh token first, so that a
 * rotated one is kept before the new access token is handed out. @claims
 * are the verified ones of the tokens' ID token, or NULL to keep what is
 * known about the person. */
void
da_account_take_tokens (DaAccount *self, DaOidcTokens *tokens, const DaIdClaims *claims)
{
	g_autofree gchar *fingerprint = da_secret_fingerprint (tokens->access_token);
	gint64 lifetime = da_oidc_tokens_lifetime (tokens);
	g_autoptr(DaToken) refresh = NULL;
	g_autoptr(DaToken) access = NULL;
	gboolean saved;

	da_account_build_tokens (self, tokens, claims, &refresh, &access);
	/* The keyring, then the disk, then the journal goes: a restart
	 * reads the keyring first, so it is never older than the state file.
	 * Killed between the two, the restart finds the state file behind the
	 * keyring and writes it again (da_account_disk_in_step); after a
	 * reboot the journal still holds the answer. Nothing uses the new
	 * tokens before both are written. */
	da_account_cache_token (self, "refresh", refresh);
	da_account_cache_token (self, "access", access);
	saved = da_account_persist (self, refresh, access);
	/* the state file and the keyring hold them: the journal has done its
	 * work (kept while the state file is not written) */
	if (saved)
		da_account_journal_end (self, TRUE);
	g_clear_pointer (&self->refresh, da_token_free);
	g_clear_pointer (&self->access, da_token_free);
	self->refresh = g_steal_pointer (&refresh);
	self->access = g_steal_pointer (&access);
	self->token_lifetime = lifetime;
	self->access_expires_us = SEC_US (self->access->expires_at);
	self->access_received_us = now_us ();
	da_account_plan_refresh (self);
	g_debug ("account %s: new access token %s, valid for %" G_GINT64_FORMAT " s; "
		 "refresh_expires_in %" G_GINT64_FORMAT,
		 self->config->name, fingerprint, lifetime, tokens->refresh_expires_in);
	da_account_notify (self, PROP_ACCESS_TOKEN_EXPIRES_AT);
	da_account_notify (self, PROP_SUBJECT);
	da_account_notify (self, PROP_USER_NAME);
	da_account_notify (self, PROP_SIGN_IN_EXPIRES_AT);
}

/* Scopes= asked for offline_access and the IdP left it out: the sign-in
 * then ends with the IdP's browser session. Said at each sign-in. */
void
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

void
da_account_forget_tokens (DaAccount *self)
{
	g_autoptr(GError) error = NULL;

	if (self->vault != NULL && !da_vault_remove (self->vault, self->config->name, &error))
		g_warning ("account %s: %s", self->config->name, error->message);
	da_account_journal_end (self, TRUE);
	self->refresh_interrupted = FALSE;
	/* nothing left to save */
	g_clear_handle_id (&self->persist_timer_id, g_source_remove);
	g_clear_pointer (&self->persist_error, g_free);
	self->persist_failures = 0;
	da_account_cache_token (self, "access", NULL);
	da_account_cache_token (self, "refresh", NULL);
	g_clear_pointer (&self->access, da_token_free);
	g_clear_pointer (&self->refresh, da_token_free);
	self->refresh_due = 0;
	g_clear_handle_id (&self->refresh_timer_id, g_source_remove);
	da_account_notify (self, PROP_ACCESS_TOKEN_EXPIRES_AT);
	da_account_notify (self, PROP_SUBJECT);
	da_account_notify (self, PROP_USER_NAME);
	da_account_notify (self, PROP_SIGN_IN_EXPIRES_AT);
}
