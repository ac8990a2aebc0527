/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* devauthd.conf, and the configuration directory: devauthd.conf and every
 * account in accounts.d (da-config-account.c reads each). */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "da-config-private.h"
#include "da-file.h"

#define DA_ACCOUNTS_MAX	    4096
#define DA_HTTP_TIMEOUT_DEF 30
#define DA_HTTP_TIMEOUT_MAX 300

static const gchar *const daemon_keys[] = {
	"StorageKeyFile",	  "DefaultAccount", "KeyringName",	    "HttpTimeoutSec",
	"TokenRequestsPerSecond", "Proxy",	    "ProxyCredentialsFile", NULL,
};

static gboolean
keyring_name_is_valid (const gchar *name)
{
	return da_account_name_is_valid (name);
}

gboolean
da_config_load_daemon_data (DaConfig *self,
			    const gchar *path,
			    const gchar *data,
			    gsize len,
			    GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new ();
	g_autoptr(GError) error_local = NULL;
	g_auto(GStrv) groups = NULL;
	g_autofree gchar *timeout = NULL;
	g_autofree gchar *rate = NULL;

	if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, &error_local)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: %s", path,
			     error_local->message);
		return FALSE;
	}
	groups = g_key_file_get_groups (kf, NULL);
	for (guint i = 0; groups[i] != NULL; i++) {
		g_auto(GStrv) keys = NULL;
		if (g_strcmp0 (groups[i], "Daemon") != 0) {
			g_warning ("%s: [%s]: unknown section, ignored", path, groups[i]);
			continue;
		}
		keys = g_key_file_get_keys (kf, groups[i], NULL, NULL);
		for (guint k = 0; keys != NULL && keys[k] != NULL; k++) {
			if (!g_strv_contains (daemon_keys, keys[k]))
				g_warning ("%s: [Daemon] %s: unknown key, ignored", path, keys[k]);
		}
	}

	g_clear_pointer (&self->storage_key_file, g_free);
	self->storage_key_file = g_key_file_get_string (kf, "Daemon", "StorageKeyFile", NULL);
	if (self->storage_key_file != NULL &&
	    !g_path_is_absolute (g_strstrip (self->storage_key_file))) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "%s: [Daemon] StorageKeyFile: '%s' is not an absolute path", path,
			     self->storage_key_file);
		return FALSE;
	}
	g_clear_pointer (&self->default_account, g_free);
	self->default_account = g_key_file_get_string (kf, "Daemon", "DefaultAccount", NULL);
	if (self->default_account != NULL &&
	    !da_account_name_is_valid (g_strstrip (self->default_account))) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "%s: [Daemon] DefaultAccount: '%s' is not a valid account name", path,
			     self->default_account);
		return FALSE;
	}
	g_clear_pointer (&self->keyring_name, g_free);
	self->keyring_name = g_key_file_get_string (kf, "Daemon", "KeyringName", NULL);
	if (self->keyring_name == NULL) {
		self->keyring_name = g_strdup ("devauthd");
	} else if (!keyring_name_is_valid (g_strstrip (self->keyring_name))) {
		g_set_error (
			error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			"%s: [Daemon] KeyringName: '%s' is not valid (1 to %d of A-Z a-z 0-9 . _ -)",
			path, self->keyring_name, DA_ACCOUNT_NAME_MAX);
		return FALSE;
	}
	rate = g_key_file_get_string (kf, "Daemon", "TokenRequestsPerSecond", NULL);
	if (rate != NULL) {
		guint64 v = 0;
		if (!g_ascii_string_to_unsigned (g_strstrip (rate), 10, 1, 1000000, &v, NULL)) {
			g_set_error (
				error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				"%s: [Daemon] TokenRequestsPerSecond: '%s' is not a number from 1 "
				"to 1000000",
				path, rate);
			return FALSE;
		}
		self->token_requests_per_sec = (guint) v;
	}
	g_clear_pointer (&self->proxy, g_free);
	self->proxy = g_key_file_get_string (kf, "Daemon", "Proxy", NULL);
	if (self->proxy != NULL && !da_proxy_is_valid (g_strstrip (self->proxy), &error_local)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "%s: [Daemon] Proxy: %s", path, error_local->message);
		return FALSE;
	}
	g_clear_pointer (&self->proxy_credentials_file, g_free);
	self->proxy_credentials_file =
		g_key_file_get_string (kf, "Daemon", "ProxyCredentialsFile", NULL);
	if (self->proxy_credentials_file != NULL &&
	    !g_path_is_absolute (g_strstrip (self->proxy_credentials_file))) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "%s: [Daemon] ProxyCredentialsFile: '%s' is not an absolute path",
			     path, self->proxy_credentials_file);
		return FALSE;
	}
	timeout = g_key_file_get_string (kf, "Daemon", "HttpTimeoutSec", NULL);
	if (timeout != NULL) {
		guint64 v = 0;
		if (!g_ascii_string_to_unsigned (g_strstrip (timeout), 10, 1, DA_HTTP_TIMEOUT_MAX,
						 &v, NULL)) {
			g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				     "%s: [Daemon] HttpTimeoutSec: '%s' is not a number of seconds "
				     "from 1 to %d",
				     path, timeout, DA_HTTP_TIMEOUT_MAX);
			return FALSE;
		}
		self->http_timeout = (guint) v;
	}
	return TRUE;
}

static gint
account_config_cmp (gconstpointer a, gconstpointer b)
{
	const DaAccountConfig *aa = *(DaAccountConfig *const *) a;
	const DaAccountConfig *bb = *(DaAccountConfig *const *) b;
	return g_strcmp0 (aa->name, bb->name);
}

/* by account, errors first; stable within one (g_ptr_array_sort is) */
static gint
config_note_cmp (gconstpointer a, gconstpointer b)
{
	const DaConfigNote *na = *(DaConfigNote *const *) a;
	const DaConfigNote *nb = *(DaConfigNote *const *) b;
	gint c = g_strcmp0 (na->account, nb->account);

	return c != 0 ? c : (nb->error - na->error);
}

static void
config_note_free (DaConfigNote *note)
{
	g_free (note->account);
	g_free (note->message);
	g_free (note);
}

void
da_config_note (DaConfig *self, const gchar *account, gboolean error, const gchar *message)
{
	DaConfigNote *note = g_new0 (DaConfigNote, 1);

	note->account = g_strdup (account);
	note->error = error;
	note->message = g_strdup (message);
	g_ptr_array_add (self->notes, note);
}

/* Levenshtein, ASCII case folded; stops counting past @limit */
static guint
edit_distance (const gchar *a, const gchar *b, guint limit)
{
	gsize la = strlen (a);
	gsize lb = strlen (b);
	g_autofree guint *prev = NULL;
	g_autofree guint *cur = NULL;

	if ((la > lb ? la - lb : lb - la) > limit || la > 256 || lb > 256)
		return limit + 1;
	prev = g_new (guint, lb + 1);
	cur = g_new (guint, lb + 1);
	for (gsize j = 0; j <= lb; j++)
		prev[j] = (guint) j;
	for (gsize i = 1; i <= la; i++) {
		cur[0] = (guint) i;
		for (gsize j = 1; j <= lb; j++) {
			guint cost = g_ascii_tolower (a[i - 1]) == g_ascii_tolower (b[j - 1]) ? 0
											      : 1;
			cur[j] = MIN (MIN (prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
		}
		memcpy (prev, cur, (lb + 1) * sizeof (guint));
	}
	return prev[lb];
}

const gchar *
da_config_suggest (const gchar *key, const gchar *const *known)
{
	const gchar *best = NULL;
	guint best_distance = 3;

	for (guint i = 0; known[i] != NULL; i++) {
		guint d = edit_distance (key, known[i], 2);
		if (d < best_distance && d < strlen (known[i])) {
			best = known[i];
			best_distance = d;
		}
	}
	return best;
}

guint
da_config_line_of (const gchar *data, gsize len, const gchar *group, const gchar *key)
{
	gboolean in_group = FALSE;
	gsize klen = strlen (key);
	guint line = 0;
	gsize pos = 0;

	while (pos < len) {
		const gchar *start = data + pos;
		const gchar *nl = memchr (start, '\n', len - pos);
		gsize n = nl != NULL ? (gsize) (nl - start) : len - pos;
		gsize i = 0;

		line++;
		pos += n + 1;
		while (i < n && (start[i] == ' ' || start[i] == '\t'))
			i++;
		if (i < n && start[i] == '[') {
			const gchar *end = memchr (start + i, ']', n - i);
			in_group = end != NULL && (gsize) (end - start - i - 1) == strlen (group) &&
				   strncmp (start + i + 1, group, strlen (group)) == 0;
			continue;
		}
		if (!in_group || n - i < klen || strncmp (start + i, key, klen) != 0)
			continue;
		i += klen;
		while (i < n && (start[i] == ' ' || start[i] == '\t'))
			i++;
		if (i < n && start[i] == '=')
			return line;
	}
	return 0;
}

static void
load_accounts (DaConfig *self)
{
	g_autofree gchar *dir_path = g_build_filename (self->config_dir, "accounts.d", NULL);
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *entry;

	dir = g_dir_open (dir_path, 0, &error);
	if (dir == NULL) {
		if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			g_ptr_array_add (self->problems,
					 g_strdup_printf ("%s: %s", dir_path, error->message));
		return;
	}
	while ((entry = g_dir_read_name (dir)) != NULL) {
		g_autofree gchar *name = NULL;
		g_autofree gchar *path = NULL;
		g_autoptr(GError) error_local = NULL;
		DaAccountConfig *account;

		if (!g_str_has_suffix (entry, ".conf") || entry[0] == '.')
			continue;
		path = g_build_filename (dir_path, entry, NULL);
		if (self->accounts->len >= DA_ACCOUNTS_MAX) {
			g_ptr_array_add (self->problems,
					 g_strdup_printf ("%s: ignored, more than %d accounts",
							  path, DA_ACCOUNTS_MAX));
			continue;
		}
		name = g_strndup (entry, strlen (entry) - strlen (".conf"));
		account = da_account_config_load_from_file (name, path, &error_local);
		if (account == NULL) {
			g_ptr_array_add (self->problems, g_strdup (error_local->message));
			da_config_note (self, name, TRUE, error_local->message);
			continue;
		}
		for (guint i = 0; i < account->warnings->len; i++)
			da_config_note (self, name, FALSE,
					g_ptr_array_index (account->warnings, i));
		g_ptr_array_add (self->accounts, account);
	}
	g_ptr_array_sort (self->accounts, account_config_cmp);
	g_ptr_array_sort (self->notes, config_note_cmp);
}

DaConfig *
da_config_load (const gchar *config_dir, GError **error)
{
	g_autoptr(DaConfig) self = g_new0 (DaConfig, 1);
	g_autofree gchar *path = g_build_filename (config_dir, "devauthd.conf", NULL);
	g_autofree gchar *data = NULL;
	gsize len = 0;
	g_autoptr(GError) error_local = NULL;

	self->config_dir = g_strdup (config_dir);
	self->keyring_name = g_strdup ("devauthd");
	self->http_timeout = DA_HTTP_TIMEOUT_DEF;
	self->token_requests_per_sec = DA_TOKEN_REQUESTS_PER_SEC_DEF;
	self->accounts = g_ptr_array_new_with_free_func ((GDestroyNotify) da_account_config_free);
	self->problems = g_ptr_array_new_with_free_func (g_free);
	self->notes = g_ptr_array_new_with_free_func ((GDestroyNotify) config_note_free);

	if (da_file_read (path, DA_CONFIG_FILE_MAX, DA_FILE_NONE, &data, &len, &error_local)) {
		if (!da_config_load_daemon_data (self, path, data, len, error))
			return NULL;
	} else if (!g_error_matches (error_local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: %s", path,
			     error_local->message);
		return NULL;
	}
	load_accounts (self);
	return g_steal_pointer (&self);
}

void
da_config_free (DaConfig *self)
{
	if (self == NULL)
		return;
	g_free (self->config_dir);
	g_free (self->storage_key_file);
	g_free (self->default_account);
	g_free (self->keyring_name);
	g_free (self->proxy);
	g_free (self->proxy_credentials_file);
	g_clear_pointer (&self->accounts, g_ptr_array_unref);
	g_clear_pointer (&self->problems, g_ptr_array_unref);
	g_clear_pointer (&self->notes, g_ptr_array_unref);
	g_free (self);
}
