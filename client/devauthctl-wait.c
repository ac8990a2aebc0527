/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devauthctl wait [ACCOUNT…] [--timeout SECONDS]
 *
 * Blocks until every named account (default: every account) is signed in
 * and holds an access token that has not expired (AccessTokenExpiresAt,
 * in the system clock's terms, ahead of it), as devauth-wait-online.service
 * does at boot: a token stored before a reboot whose expiry devauthd
 * cannot judge yet is not ready until a refresh has replaced it. Each account proxy
 * subscribes to PropertiesChanged before it reads the properties, so no
 * change is lost between reading State and waiting for it; the proxies
 * also reload when devauthd restarts.
 */

#include "config.h"

#include "devauthctl-common.h"

typedef struct {
	GMainLoop *loop;
	GPtrArray *accounts; /* DaDBusAccount */
	guint timeout_id;
	int exit_code;
} DaWait;

static gboolean
da_wait_is_signed_in (DaDBusAccount *account)
{
	return g_strcmp0 (da_dbus_account_get_state (account), "signed-in") == 0 &&
	       da_dbus_account_get_access_token_expires_at (account) >
		       g_get_real_time () / G_USEC_PER_SEC;
}

static gboolean
da_wait_all_signed_in (DaWait *self)
{
	for (guint i = 0; i < self->accounts->len; i++) {
		if (!da_wait_is_signed_in (g_ptr_array_index (self->accounts, i)))
			return FALSE;
	}
	return TRUE;
}

static void
da_wait_on_state (GObject *object, GParamSpec *pspec, gpointer user_data)
{
	DaWait *self = user_data;

	if (!da_wait_all_signed_in (self))
		return;
	self->exit_code = DA_EXIT_OK;
	g_main_loop_quit (self->loop);
}

static gboolean
da_wait_on_timeout (gpointer user_data)
{
	DaWait *self = user_data;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
	g_autofree gchar *list = NULL;

	for (guint i = 0; i < self->accounts->len; i++) {
		DaDBusAccount *account = g_ptr_array_index (self->accounts, i);
		if (!da_wait_is_signed_in (account))
			g_ptr_array_add (names, da_sanitize (da_dbus_account_get_name (account)));
	}
	g_ptr_array_add (names, NULL);
	list = g_strjoinv (", ", (gchar **) names->pdata);
	self->timeout_id = 0;
	g_printerr ("devauthctl: timed out waiting for %s to sign in and hold a valid access "
		    "token\n",
		    list);
	self->exit_code = DA_EXIT_TIMEOUT;
	g_main_loop_quit (self->loop);
	return G_SOURCE_REMOVE;
}

/* g_timeout_add_seconds() rounds to whole seconds and may fire up to a
 * quarter of a second early, but --timeout waits at least SECONDS. */
static guint
da_wait_timeout_add (guint seconds, GSourceFunc func, gpointer user_data)
{
	if (seconds <= G_MAXUINT / 1000)
		return g_timeout_add (seconds * 1000, func, user_data);
	return g_timeout_add_seconds (seconds, func, user_data);
}

static gboolean
da_wait_add_account (DaWait *self, DaDBusManager *manager, const gchar *path, GError **error)
{
	/* PropertiesChanged comes with the properties; Account has no signals */
	g_autoptr(DaDBusAccount) account = da_account_proxy_new (
		manager, path, G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS, error);

	if (account == NULL)
		return FALSE;
	g_signal_connect (account, "notify::state", G_CALLBACK (da_wait_on_state), self);
	g_signal_connect (account, "notify::access-token-expires-at", G_CALLBACK (da_wait_on_state),
			  self);
	g_ptr_array_add (self->accounts, g_steal_pointer (&account));
	return TRUE;
}

/* The proxies of the accounts in @names, or of every account when empty. */
static gboolean
da_wait_add_accounts (DaWait *self, DaDBusManager *manager, char **names, GError **error)
{
	g_autoptr(GVariant) accounts = da_list_accounts (manager, error);
	GVariantIter iter;
	const gchar *path;

	if (accounts == NULL)
		return FALSE;
	for (gsize i = 0; names[i] != NULL; i++) {
		g_autofree gchar *found = da_find_account_path (accounts, names[i], error);
		if (found == NULL || !da_wait_add_account (self, manager, found, error))
			return FALSE;
	}
	if (names[0] != NULL)
		return TRUE;
	g_variant_iter_init (&iter, accounts);
	while (g_variant_iter_next (&iter, "(&s&o)", NULL, &path)) {
		if (!da_wait_add_account (self, manager, path, error))
			return FALSE;
	}
	return TRUE;
}

static void
da_wait_clear (DaWait *self)
{
	for (guint i = 0; self->accounts != NULL && i < self->accounts->len; i++) {
		g_signal_handlers_disconnect_by_func (g_ptr_array_index (self->accounts, i),
						      da_wait_on_state, self);
	}
	g_clear_handle_id (&self->timeout_id, g_source_remove);
	g_clear_pointer (&self->accounts, g_ptr_array_unref);
	g_clear_pointer (&self->loop, g_main_loop_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DaWait, da_wait_clear)

int
da_cmd_wait (int argc, char **argv)
{
	g_autofree gchar *timeout_str = NULL;
	const GOptionEntry entries[] = {
		{"timeout", 0, 0, G_OPTION_ARG_STRING, &timeout_str,
		 "Give up after SECONDS (default: 0, never)", "SECONDS"},
		G_OPTION_ENTRY_NULL,
	};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(DaDBusManager) manager = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(DaWait) self = {NULL, NULL, 0, DA_EXIT_ERROR};
	guint timeout = 0;

	context = da_option_context_new (
		"[ACCOUNT…]", "Wait until every ACCOUNT (default: every account) is signed in with "
			      "a valid access token.");
	g_option_context_add_main_entries (context, entries, NULL);
	if (!da_option_context_parse (context, "wait", &argc, &argv))
		return DA_EXIT_USAGE;
	if (timeout_str != NULL && !da_parse_seconds (timeout_str, &timeout))
		return da_usage_error ("wait", "invalid number of seconds '%s'", timeout_str);

	manager = da_manager_proxy_new (DA_MANAGER_CALLS_ONLY, &error);
	if (manager == NULL)
		return da_fail (error);
	self.accounts = g_ptr_array_new_with_free_func (g_object_unref);
	if (!da_wait_add_accounts (&self, manager, argv + 1, &error))
		return da_fail (error);
	if (da_wait_all_signed_in (&self))
		return DA_EXIT_OK;

	self.loop = g_main_loop_new (NULL, FALSE);
	if (timeout > 0)
		self.timeout_id = da_wait_timeout_add (timeout, da_wait_on_timeout, &self);
	g_main_loop_run (self.loop);
	return self.exit_code;
}
