/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devauthctl login [ACCOUNT] [--force] [--no-qr] [--qr=unicode|ascii]
 *
 * The order matters, so that no outcome is missed:
 *  1. the manager proxy subscribes to StatusChanged when it is created;
 *  2. Login() starts (or joins) the device flow and returns the prompt;
 *  3. the account's State is read once more, for a flow that ended while
 *     Login() was on its way back;
 *  4. StatusChanged of the account ends the wait: signed in, or an error.
 */

#include "config.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "devauthctl-common.h"

/* How long to wait for devauthd's word after the code expired. */
#define DA_LOGIN_EXPIRY_GRACE 30
/* Login() unanswered this long: say that the identity provider is slow */
#define DA_LOGIN_SLOW_SEC 3
typedef struct {
	GMainLoop *loop;
	DaDBusManager *manager;
	GVariant *accounts;	   /* ListAccounts() */
	GCancellable *cancellable; /* of the Login() call */
	gchar *account;		   /* as asked for; "" is the default account */
	gchar *name;		   /* the account's own name, once known */
	gchar *user_code;	   /* of the prompt on screen */
	gint64 expires_at;	   /* of the code on screen; 0 when not known */
	DaPromptOptions prompt;
	gsize countdown_len; /* width of the countdown on the terminal line */
	guint countdown_id;
	guint fallback_id;
	guint slow_id;	   /* says that the identity provider is slow to answer */
	guint slow_said;   /* how often it said so */
	gint64 started_us; /* when Login() was sent (monotonic) */
	guint sigint_id;
	guint sigterm_id;
	gulong status_changed_id;
	gulong owner_id;
	gboolean finished;
	int exit_code;
} DaLogin;

static void
da_login_free (DaLogin *self)
{
	g_clear_handle_id (&self->countdown_id, g_source_remove);
	g_clear_handle_id (&self->fallback_id, g_source_remove);
	g_clear_handle_id (&self->slow_id, g_source_remove);
	g_clear_handle_id (&self->sigint_id, g_source_remove);
	g_clear_handle_id (&self->sigterm_id, g_source_remove);
	g_clear_signal_handler (&self->status_changed_id, self->manager);
	g_clear_signal_handler (&self->owner_id, self->manager);
	g_clear_object (&self->cancellable);
	g_clear_object (&self->manager);
	g_clear_pointer (&self->accounts, g_variant_unref);
	g_clear_pointer (&self->loop, g_main_loop_unref);
	g_free (self->account);
	g_free (self->name);
	g_free (self->user_code);
	g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaLogin, da_login_free)

/* the countdown */

static void
da_login_countdown_clear (DaLogin *self)
{
	g_autofree gchar *blank = NULL;

	if (self->countdown_len == 0)
		return;
	blank = g_strnfill (self->countdown_len, ' ');
	g_print ("\r%s\r", blank);
	fflush (stdout);
	self->countdown_len = 0;
}

static void
da_login_countdown_draw (DaLogin *self, gint64 remaining)
{
	g_autofree gchar *left = da_format_countdown (remaining);
	g_autofree gchar *line = NULL;

	if (remaining > 0)
		line = g_strdup_printf ("Code expires in %s", left);
	else
		line = g_strdup ("Code expired");
	da_login_countdown_clear (self);
	g_print ("%s", line);
	fflush (stdout);
	self->countdown_len = strlen (line);
}

/* Ends the wait with @exit_code; FALSE when it had ended already. The
 * caller prints the outcome when TRUE. */
static gboolean
da_login_finish (DaLogin *self, int exit_code)
{
	if (self->finished)
		return FALSE;
	self->finished = TRUE;
	da_login_countdown_clear (self);
	g_clear_handle_id (&self->countdown_id, g_source_remove);
	g_clear_handle_id (&self->fallback_id, g_source_remove);
	g_cancellable_cancel (self->cancellable);
	self->exit_code = exit_code;
	g_main_loop_quit (self->loop);
	return TRUE;
}

static void
da_login_fail (DaLogin *self, int exit_code, const gchar *message)
{
	g_autofree gchar *safe = da_sanitize (message);

	if (da_login_finish (self, exit_code))
		g_printerr ("devauthctl: %s\n", safe);
}

static void
da_login_fail_error (DaLogin *self, const GError *error)
{
	if (da_login_finish (self, da_exit_code_for_error (error)))
		da_print_error (error);
}

static gboolean
da_login_countdown_tick (gpointer user_data)
{
	DaLogin *self = user_data;
	gint64 remaining = self->expires_at - da_now ();

	if (remaining < -DA_LOGIN_EXPIRY_GRACE) {
		self->countdown_id = 0;
		da_login_fail (self, DA_EXIT_EXPIRED, "the sign-in code expired");
		return G_SOURCE_REMOVE;
	}
	if (da_stdout_is_tty ())
		da_login_countdown_draw (self, remaining);
	return G_SOURCE_CONTINUE;
}

static void
da_login_countdown_start (DaLogin *self)
{
	g_clear_handle_id (&self->countdown_id, g_source_remove);
	if (self->expires_at <= 0)
		return;
	if (!da_stdout_is_tty ()) {
		g_autofree gchar *left = da_format_countdown (self->expires_at - da_now ());
		g_autofree gchar *when = da_format_time (self->expires_at);

		g_print ("Code expires in %s (%s)\n", left, when);
		fflush (stdout);
	}
	da_login_countdown_tick (self);
	self->countdown_id = g_timeout_add_seconds (1, da_login_countdown_tick, self);
}

/* the prompt */

static void
da_login_show_prompt (DaLogin *self, GVariant *prompt)
{
	da_login_countdown_clear (self);
	g_free (self->user_code);
	self->user_code = g_strdup (da_details_lookup_string (prompt, "user-code"));
	self->expires_at = 0;
	g_variant_lookup (prompt, "expires-at", "x", &self->expires_at);
	da_prompt_print (prompt, &self->prompt);
	fflush (stdout);
	da_login_countdown_start (self);
}

/* outcomes */

static int
da_login_exit_code_for (const gchar *error)
{
	if (g_str_equal (error, "denied"))
		return DA_EXIT_DENIED;
	if (g_str_equal (error, "expired"))
		return DA_EXIT_EXPIRED;
	if (g_str_equal (error, "cancelled"))
		return DA_EXIT_CANCELLED;
	return DA_EXIT_ERROR;
}

/* the person by name; the subject (often a UUID) only when the IdP said no name */
static void
da_login_succeed (DaLogin *self, const gchar *user_name, const gchar *subject)
{
	g_autofree gchar *safe =
		da_sanitize (user_name != NULL && user_name[0] != '\0' ? user_name : subject);

	if (!da_login_finish (self, DA_EXIT_OK))
		return;
	if (safe[0] != '\0')
		g_print ("Signed in as %s.\n", safe);
	else
		g_print ("Signed in.\n");
}

static void
da_login_on_status_changed (DaDBusManager *manager,
			    const gchar *account,
			    const gchar *state,
			    GVariant *details,
			    gpointer user_data)
{
	DaLogin *self = user_data;
	const gchar *error = da_details_lookup_string (details, "error");
	const gchar *description = da_details_lookup_string (details, "error-description");

	if (self->finished || self->name == NULL || !g_str_equal (account, self->name))
		return;
	if (g_str_equal (state, "awaiting-user")) {
		/* before the Login() reply the prompt is on its way anyway */
		const gchar *code = da_details_lookup_string (details, "user-code");
		if (self->user_code == NULL || g_str_equal (code, self->user_code))
			return;
		da_login_countdown_clear (self);
		g_print ("\nA new code was issued.\n\n");
		da_login_show_prompt (self, details);
		return;
	}
	if (error[0] != '\0') {
		da_login_fail (self, da_login_exit_code_for (error),
			       description[0] != '\0' ? description : error);
		return;
	}
	if (g_str_equal (state, "signed-in")) {
		da_login_succeed (self, da_details_lookup_string (details, "user-name"),
				  da_details_lookup_string (details, "subject"));
		return;
	}
	da_login_fail (self, DA_EXIT_ERROR, "the sign-in stopped");
}

static void
da_login_on_owner_changed (GObject *object, GParamSpec *pspec, gpointer user_data)
{
	DaLogin *self = user_data;
	g_autofree gchar *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (object));

	if (owner == NULL)
		da_login_fail (self, DA_EXIT_ERROR, "devauthd stopped");
}

/* Ctrl-C: this person stops waiting. devauthctl leaves the bus, and
 * devauthd cancels the sign-in when nobody else waits on it; another
 * person's `devauthctl login` on the same flow goes on (`devauthctl
 * cancel` stops it for all). */
static gboolean
da_login_on_signal (gpointer user_data)
{
	DaLogin *self = user_data;
	GDBusConnection *bus = g_dbus_proxy_get_connection (G_DBUS_PROXY (self->manager));

	if (self->finished)
		return G_SOURCE_CONTINUE;
	/* errors do not matter: the bus may be gone already */
	g_dbus_connection_close_sync (bus, NULL, NULL);
	if (da_login_finish (self, DA_EXIT_CANCELLED))
		g_print ("Stopped waiting: the sign-in is cancelled unless someone else waits "
			 "on it.\n");
	return G_SOURCE_CONTINUE;
}

/* the account */

static DaDBusAccount *
da_login_account_new (DaLogin *self, const gchar *name, GError **error)
{
	g_autofree gchar *path = da_find_account_path (self->accounts, name, error);

	if (path == NULL)
		return NULL;
	return da_account_proxy_new (self->manager, path, G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
				     error);
}

/* When "" names one of several accounts: the prompt says which one if
 * devauthd sends "account", else it is the one account whose running flow
 * has the prompt's expiry. */
static gchar *
da_login_resolve_default (DaLogin *self, GVariant *prompt, GError **error)
{
	const gchar *named = da_details_lookup_string (prompt, "account");
	g_autofree gchar *found = NULL;
	guint n_found = 0;
	gint64 expires_at = 0;
	GVariantIter iter;
	const gchar *name;
	const gchar *path;

	if (named[0] != '\0')
		return g_strdup (named);
	g_variant_lookup (prompt, "expires-at", "x", &expires_at);
	g_variant_iter_init (&iter, self->accounts);
	while (expires_at > 0 && g_variant_iter_next (&iter, "(&s&o)", &name, &path)) {
		g_autoptr(DaDBusAccount) account = da_account_proxy_new (
			self->manager, path, G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS, NULL);

		if (account == NULL || da_dbus_account_get_login_expires_at (account) != expires_at)
			continue;
		n_found++;
		g_free (found);
		found = g_strdup (name);
	}
	if (n_found != 1) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
				     "several accounts are configured; name the one to sign in");
		return NULL;
	}
	return g_steal_pointer (&found);
}

/* No StatusChanged told the outcome of a flow that ended before Login()
 * returned: the properties tell it. */
static gboolean
da_login_fallback (gpointer user_data)
{
	DaLogin *self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(DaDBusAccount) account = da_login_account_new (self, self->name, &error);
	const gchar *last_error;

	self->fallback_id = 0;
	if (account == NULL) {
		da_login_fail_error (self, error);
		return G_SOURCE_REMOVE;
	}
	if (g_strcmp0 (da_dbus_account_get_state (account), "signed-in") == 0) {
		da_login_succeed (self, da_dbus_account_get_user_name (account),
				  da_dbus_account_get_subject (account));
		return G_SOURCE_REMOVE;
	}
	last_error = da_dbus_account_get_last_error (account);
	da_login_fail (self, DA_EXIT_ERROR,
		       last_error != NULL && last_error[0] != '\0' ? last_error
								   : "the sign-in stopped");
	return G_SOURCE_REMOVE;
}

/* The State once more, now that Login() has returned. */
static void
da_login_recheck (DaLogin *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaDBusAccount) account = da_login_account_new (self, self->name, &error);

	if (account == NULL) {
		da_login_fail_error (self, error);
		return;
	}
	if (da_dbus_account_get_login_expires_at (account) != 0 ||
	    g_strcmp0 (da_dbus_account_get_state (account), "awaiting-user") == 0)
		return;
	/* The flow ended already. Its StatusChanged, with the outcome, came
	 * before the reply just read, so it is dispatched before this idle. */
	self->fallback_id = g_idle_add_full (G_PRIORITY_LOW, da_login_fallback, self, NULL);
}

static void
da_login_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	DaLogin *self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) prompt = NULL;

	reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);
	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	g_clear_handle_id (&self->slow_id, g_source_remove);
	if (self->finished)
		return;
	if (reply == NULL) {
		da_login_fail_error (self, error);
		return;
	}
	prompt = g_variant_get_child_value (reply, 0);
	/* a service account (Grant=client_credentials) has no prompt: Login()
	 * returns once it holds its token */
	if (da_details_lookup_string (prompt, "user-code")[0] == '\0') {
		da_login_succeed (self, da_details_lookup_string (prompt, "user-name"),
				  da_details_lookup_string (prompt, "subject"));
		return;
	}
	if (self->name == NULL) {
		self->name = da_login_resolve_default (self, prompt, &error);
		if (self->name == NULL) {
			da_login_fail_error (self, error);
			return;
		}
	}
	da_login_show_prompt (self, prompt);
	da_login_recheck (self);
}

/* Login() has not come back: devauthd is still asking the identity
 * provider (a network that drops packets, a slow IdP). Said on stderr,
 * every few seconds, until the answer or devauthd's own timeout. */
static gboolean
da_login_on_slow (gpointer user_data)
{
	DaLogin *self = user_data;
	gint64 waited = (g_get_monotonic_time () - self->started_us) / G_USEC_PER_SEC;
	g_autofree gchar *issuer = NULL;

	if (self->name != NULL) {
		g_autoptr(DaDBusAccount) account = da_login_account_new (self, self->name, NULL);
		if (account != NULL)
			issuer = da_sanitize (da_dbus_account_get_issuer (account));
	}
	if (self->slow_said++ == 0)
		g_printerr ("Waiting for the identity provider%s%s to answer…\n",
			    issuer != NULL && issuer[0] != '\0' ? " at " : "",
			    issuer != NULL ? issuer : "");
	else
		g_printerr ("Still waiting (%" G_GINT64_FORMAT " s); devauthd gives up after its "
			    "HttpTimeoutSec= and says why.\n",
			    waited);
	return G_SOURCE_CONTINUE;
}

static void
da_login_start (DaLogin *self)
{
	self->status_changed_id = g_signal_connect (self->manager, "status-changed",
						    G_CALLBACK (da_login_on_status_changed), self);
	self->owner_id = g_signal_connect (self->manager, "notify::g-name-owner",
					   G_CALLBACK (da_login_on_owner_changed), self);
	self->sigint_id = g_unix_signal_add (SIGINT, da_login_on_signal, self);
	self->sigterm_id = g_unix_signal_add (SIGTERM, da_login_on_signal, self);
	self->started_us = g_get_monotonic_time ();
	self->slow_id = g_timeout_add (DA_LOGIN_SLOW_SEC * 1000, da_login_on_slow, self);
	g_dbus_proxy_call (
		G_DBUS_PROXY (self->manager), "Login",
		g_variant_new ("(s@a{sv})", self->account, g_variant_new ("a{sv}", NULL)),
		da_call_flags (), G_MAXINT, self->cancellable, da_login_done, self);
}

/* For `devauthctl login` without --force: TRUE when there is nothing to do. */
static gboolean
da_login_already_signed_in (DaLogin *self, GError **error)
{
	g_autoptr(DaDBusAccount) account = da_login_account_new (self, self->name, error);
	g_autofree gchar *subject = NULL;
	const gchar *user_name;

	if (account == NULL)
		return FALSE;
	if (g_strcmp0 (da_dbus_account_get_state (account), "signed-in") != 0)
		return FALSE;
	user_name = da_dbus_account_get_user_name (account);
	subject = da_sanitize (user_name != NULL && user_name[0] != '\0'
				       ? user_name
				       : da_dbus_account_get_subject (account));
	if (subject[0] != '\0')
		g_print ("Already signed in as %s.\n", subject);
	else
		g_print ("Already signed in.\n");
	return TRUE;
}

static DaLogin *
da_login_new (DaDBusManager *manager, const gchar *account, const DaPromptOptions *prompt)
{
	DaLogin *self = g_new0 (DaLogin, 1);

	self->loop = g_main_loop_new (NULL, FALSE);
	self->manager = g_object_ref (manager);
	self->cancellable = g_cancellable_new ();
	self->account = g_strdup (account);
	self->prompt = *prompt;
	self->exit_code = DA_EXIT_ERROR;
	return self;
}

/* The account's own name, or NULL (no error) when "" is one of several. */
static gboolean
da_login_resolve_name (DaLogin *self, GError **error)
{
	g_autofree gchar *path = NULL;
	gsize n_accounts;

	self->accounts = da_list_accounts (self->manager, error);
	if (self->accounts == NULL)
		return FALSE;
	n_accounts = g_variant_n_children (self->accounts);
	if (self->account[0] == '\0' && n_accounts > 1)
		return TRUE;
	path = da_find_account_path (self->accounts, self->account, error);
	if (path == NULL)
		return FALSE;
	if (self->account[0] != '\0') {
		self->name = g_strdup (self->account);
		return TRUE;
	}
	g_variant_get_child (self->accounts, 0, "(s&o)", &self->name, NULL);
	return TRUE;
}

int
da_cmd_login (int argc, char **argv)
{
	gboolean force = FALSE;
	gboolean no_qr = FALSE;
	g_autofree gchar *qr_style = NULL;
	const GOptionEntry entries[] = {
		{"force", 0, 0, G_OPTION_ARG_NONE, &force, "Sign in again even when signed in",
		 NULL},
		{"no-qr", 0, 0, G_OPTION_ARG_NONE, &no_qr, "Do not show a QR code", NULL},
		{"qr", 0, 0, G_OPTION_ARG_STRING, &qr_style,
		 "Draw the QR code with unicode half blocks (default) or ascii", "STYLE"},
		G_OPTION_ENTRY_NULL,
	};
	DaPromptOptions prompt = {TRUE, DA_QR_STYLE_UNICODE};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(DaDBusManager) manager = NULL;
	g_autoptr(DaLogin) self = NULL;
	g_autoptr(GError) error = NULL;

	context = da_option_context_new (
		"[ACCOUNT]", "Sign ACCOUNT (default: the default account) in: show a web address,\n"
			     "a code and a QR code, and wait until the sign-in is approved on\n"
			     "another device. Ctrl-C stops waiting; the sign-in stops too unless\n"
			     "someone else waits on it.");
	g_option_context_add_main_entries (context, entries, NULL);
	if (!da_option_context_parse (context, "login", &argc, &argv))
		return DA_EXIT_USAGE;
	if (argc > 2)
		return da_usage_error ("login", "too many arguments");
	if (qr_style != NULL && !da_parse_qr_style (qr_style, &prompt.qr_style))
		return da_usage_error ("login", "unknown QR code style '%s'", qr_style);
	prompt.show_qr = !no_qr;

	manager = da_manager_proxy_new (G_DBUS_PROXY_FLAGS_NONE, &error);
	if (manager == NULL)
		return da_fail (error);
	self = da_login_new (manager, argc == 2 ? argv[1] : "", &prompt);
	if (!da_login_resolve_name (self, &error))
		return da_fail (error);
	if (!force && self->name != NULL) {
		if (da_login_already_signed_in (self, &error))
			return DA_EXIT_OK;
		if (error != NULL)
			return da_fail (error);
	}

	da_login_start (self);
	g_main_loop_run (self->loop);
	return self->exit_code;
}
