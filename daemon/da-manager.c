/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-clock.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "da-error.h"
#include "da-manager.h"

struct _DaManager {
	GObject parent_instance;
	DaConfig *config;
	DaOidcClient *client;
	GHashTable *ca_clients; /* (CAFile=, Proxy=, ProxyCredentialsFile=) → DaOidcClient */
	DaKeyring *keyring;
	DaVault *vault;
	GPtrArray *accounts; /* of DaAccount, sorted by name */
	GHashTable *by_name; /* name → borrowed DaAccount */
	GNetworkMonitor *network_monitor;
	gboolean network_available;
};

G_DEFINE_TYPE (DaManager, da_manager, G_TYPE_OBJECT)

enum {
	SIGNAL_ACCOUNT_STATUS_CHANGED,
	N_SIGNALS,
};
static guint signals[N_SIGNALS];

/* One handler per account, here; whoever wants every account's status
 * connects once to the manager (a handler costs about 250 bytes). */
static void
account_status_changed_cb (DaAccount *account,
			   const gchar *state,
			   const DaStatus *details,
			   DaManager *self)
{
	g_signal_emit (self, signals[SIGNAL_ACCOUNT_STATUS_CHANGED], 0, account, state, details);
}

const DaConfig *
da_manager_get_config (DaManager *self)
{
	return self->config;
}

GPtrArray *
da_manager_get_accounts (DaManager *self)
{
	return self->accounts;
}

guint
da_manager_count_signed_in (DaManager *self)
{
	guint n = 0;

	for (guint i = 0; i < self->accounts->len; i++) {
		DaAccount *account = g_ptr_array_index (self->accounts, i);
		if (da_account_get_state (account) == DA_ACCOUNT_STATE_SIGNED_IN)
			n++;
	}
	return n;
}

/* "" is the default account: DefaultAccount=, else the only one. */
DaAccount *
da_manager_lookup (DaManager *self, const gchar *name, GError **error)
{
	DaAccount *account;

	if (name[0] == '\0') {
		if (self->config->default_account != NULL)
			return da_manager_lookup (self, self->config->default_account, error);
		if (self->accounts->len == 1)
			return g_ptr_array_index (self->accounts, 0);
		g_set_error (error, DA_ERROR, DA_ERROR_NO_SUCH_ACCOUNT,
			     "no default account: %u accounts are configured and DefaultAccount= "
			     "is not set; name one",
			     self->accounts->len);
		return NULL;
	}
	if (!da_account_name_is_valid (name)) {
		g_set_error (error, DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
			     "not a valid account name (1 to %d of A-Z a-z 0-9 . _ -)",
			     DA_ACCOUNT_NAME_MAX);
		return NULL;
	}
	account = g_hash_table_lookup (self->by_name, name);
	if (account == NULL) {
		g_set_error (error, DA_ERROR, DA_ERROR_NO_SUCH_ACCOUNT, "no account '%s'", name);
		return NULL;
	}
	return account;
}

/* After a resume, a clock jump or the network coming back: let every
 * account look at the wall clock again. */
void
da_manager_recheck (DaManager *self, gboolean network_back)
{
	for (guint i = 0; i < self->accounts->len; i++)
		da_account_recheck (g_ptr_array_index (self->accounts, i), network_back);
}

static void
network_changed (DaManager *self, GNetworkMonitor *monitor)
{
	gboolean available = g_network_monitor_get_network_available (monitor);
	gboolean back = available && !self->network_available;

	self->network_available = available;
	if (back) {
		g_info ("the network is back");
		da_manager_recheck (self, TRUE);
	}
}

/* routes changed (netlink) */
static void
network_changed_cb (GNetworkMonitor *monitor, gboolean available, DaManager *self)
{
	network_changed (self, monitor);
}

/* NetworkManager's state changed: GIO's NetworkManager monitor says it only so */
static void
network_available_cb (GNetworkMonitor *monitor, GParamSpec *pspec, DaManager *self)
{
	network_changed (self, monitor);
}

static void
da_manager_finalize (GObject *object)
{
	DaManager *self = DA_MANAGER (object);

	if (self->network_monitor != NULL)
		g_signal_handlers_disconnect_by_data (self->network_monitor, self);
	g_clear_object (&self->network_monitor);
	g_clear_pointer (&self->by_name, g_hash_table_unref);
	g_clear_pointer (&self->accounts, g_ptr_array_unref);
	g_clear_object (&self->client);
	g_clear_pointer (&self->ca_clients, g_hash_table_unref);
	g_clear_pointer (&self->keyring, da_keyring_free);
	g_clear_pointer (&self->vault, da_vault_free);
	g_clear_pointer (&self->config, da_config_free);
	G_OBJECT_CLASS (da_manager_parent_class)->finalize (object);
}

static void
da_manager_class_init (DaManagerClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = da_manager_finalize;

	/* DaManager::account-status-changed: (account, state, details), an
	 * account's DaAccount::status-changed */
	signals[SIGNAL_ACCOUNT_STATUS_CHANGED] = g_signal_new (
		"account-status-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
		NULL, NULL, G_TYPE_NONE, 3, DA_TYPE_ACCOUNT, G_TYPE_STRING, G_TYPE_POINTER);
}

static void
da_manager_init (DaManager *self)
{
	self->accounts = g_ptr_array_new_with_free_func (g_object_unref);
	self->by_name = g_hash_table_new (g_str_hash, g_str_equal);
	self->ca_clients = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}

/* The storage key: StorageKeyFile=, else the systemd credential. */
static DaVault *
open_vault (DaConfig *config, const gchar *state_dir)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key_file = g_strdup (config->storage_key_file);
	const gchar *creds = g_getenv ("CREDENTIALS_DIRECTORY");
	DaVault *vault;

	if (key_file == NULL && creds != NULL) {
		key_file = g_build_filename (creds, "devauthd.storage-key", NULL);
		if (!g_file_test (key_file, G_FILE_TEST_EXISTS))
			g_clear_pointer (&key_file, g_free);
	}
	if (key_file == NULL) {
		g_message (
			"no storage key (StorageKeyFile= or the credential devauthd.storage-key): "
			"sign-ins are kept in the keyring only and do not survive a reboot");
		return NULL;
	}
	if (g_mkdir_with_parents (state_dir, 0700) != 0)
		g_warning ("cannot create %s: %s", state_dir, g_strerror (errno));
	vault = da_vault_new_from_key_file (state_dir, key_file, &error);
	if (vault == NULL)
		g_warning ("%s; sign-ins do not survive a reboot", error->message);
	return vault;
}

/* The user keyring lives as long as the kernel; should it come from
 * another boot (a container, a restored image), its cache is dropped and
 * the state directory is the truth. */
static void
check_boot_id (DaKeyring *keyring)
{
	const gchar *boot_id = da_clock_boot_id ();
	g_autoptr(DaSecret) cached = NULL;
	g_autoptr(GError) error = NULL;

	if (boot_id[0] == '\0')
		return;
	cached = da_keyring_load (keyring, "devauthd:boot-id", NULL);
	if (cached != NULL && g_strcmp0 (cached, boot_id) != 0) {
		g_info ("the keyring cache is from another boot; dropping it");
		if (!da_keyring_clear (keyring, &error))
			g_warning ("%s", error->message);
	}
	if (cached == NULL || g_strcmp0 (cached, boot_id) != 0) {
		if (!da_keyring_store (keyring, "devauthd:boot-id", boot_id, strlen (boot_id), 0,
				       &error))
			g_warning ("%s", error->message);
	}
}

/* an account whose file loaded but that cannot work: said in the log and
 * on the bus (ConfigProblems) */
static void
manager_left_out (DaManager *self,
		  const DaAccountConfig *account_config,
		  const gchar *what,
		  const GError *error)
{
	g_autofree gchar *message = g_strdup_printf ("%s: %s%s; the account is left out",
						     account_config->path, what, error->message);

	g_warning ("%s", message);
	da_config_note (self->config, account_config->name, TRUE, message);
}

/* The HTTP client of an account: the shared one, or one of its own way
 * out (CAFile=, the proxy, the client certificate), shared by the accounts
 * with the same; NULL when it cannot be made (said, and the account left
 * out). */
static DaOidcClient *
manager_client_for (DaManager *self, DaAccountConfig *account_config)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *key = NULL;
	const gchar *proxy = account_config->proxy != NULL ? account_config->proxy
							   : self->config->proxy;
	const gchar *credentials_file = account_config->proxy_credentials_file != NULL
						? account_config->proxy_credentials_file
						: self->config->proxy_credentials_file;
	const gchar *cert_file = account_config->client_auth_method == DA_CLIENT_AUTH_TLS
					 ? account_config->client_certificate_file
					 : NULL;
	DaSecret *credentials = NULL;
	DaOidcClient *client;

	if (proxy != NULL && proxy[0] == '\0')
		proxy = NULL;
	if (proxy == NULL)
		credentials_file = NULL;
	if (account_config->ca_file == NULL && proxy == NULL && cert_file == NULL)
		return self->client;
	/* one HTTP session (its connections, its TLS trust, the certificate
	 * it shows) per way out */
	key = g_strdup_printf ("%s\n%s\n%s\n%s",
			       account_config->ca_file ? account_config->ca_file : "",
			       proxy ? proxy : "", credentials_file ? credentials_file : "",
			       cert_file ? cert_file : "");
	client = g_hash_table_lookup (self->ca_clients, key);
	if (client != NULL)
		return client;
	if (credentials_file != NULL) {
		credentials = da_proxy_credentials_read (credentials_file, &error);
		if (credentials == NULL) {
			manager_left_out (self, account_config, "ProxyCredentialsFile: ", error);
			return NULL;
		}
	}
	if (account_config->ca_file != NULL)
		client = da_oidc_client_new_with_ca (self->config->http_timeout,
						     account_config->ca_file, &error);
	else
		client = da_oidc_client_new (self->config->http_timeout);
	if (client == NULL) {
		da_secret_free (credentials);
		manager_left_out (self, account_config, "", error);
		return NULL;
	}
	da_oidc_client_set_proxy (client, proxy, credentials);
	da_oidc_client_set_certificate (
		client, cert_file != NULL ? account_config->client_certificate : NULL);
	g_hash_table_insert (self->ca_clients, g_steal_pointer (&key), client);
	return client;
}

/* Takes ownership of @config. Bad account files were already refused by
 * da_config_load(); they are reported here, once, and the others work. */
DaManager *
da_manager_new (DaConfig *config, const gchar *state_dir)
{
	DaManager *self = g_object_new (DA_TYPE_MANAGER, NULL);
	g_autoptr(GError) error = NULL;

	self->config = config;
	self->client = da_oidc_client_new (config->http_timeout);
	self->keyring = da_keyring_open (config->keyring_name, &error);
	if (self->keyring == NULL)
		g_warning ("kernel keyring unavailable, tokens are kept in memory only: %s",
			   error->message);
	else
		check_boot_id (self->keyring);
	self->vault = open_vault (config, state_dir);
	for (guint i = 0; i < config->problems->len; i++)
		g_warning ("%s", (const gchar *) g_ptr_array_index (config->problems, i));

	while (config->accounts->len > 0) {
		DaAccountConfig *account_config = g_ptr_array_steal_index (config->accounts, 0);
		DaOidcClient *client = manager_client_for (self, account_config);
		DaAccount *account;

		if (client == NULL) {
			da_account_config_free (account_config);
			continue;
		}
		account = da_account_new (account_config, DA_IDP (client), self->keyring,
					  self->vault);
		g_ptr_array_add (self->accounts, account);
		g_signal_connect_object (account, "status-changed",
					 G_CALLBACK (account_status_changed_cb), self, 0);
		g_hash_table_insert (self->by_name, (gpointer) da_account_get_name (account),
				     account);
	}
	if (config->default_account != NULL &&
	    g_hash_table_lookup (self->by_name, config->default_account) == NULL)
		g_warning ("devauthd.conf: [Daemon] DefaultAccount: no account '%s'",
			   config->default_account);
	g_info ("%u accounts loaded", self->accounts->len);
	return self;
}

/* Starts following the network, for an immediate retry when it comes back.
 * Called once the daemon is ready: GIO's default monitor asks NetworkManager
 * over the bus, synchronously, which start-up need not wait for. */
void
da_manager_watch_network (DaManager *self)
{
	g_return_if_fail (DA_IS_MANAGER (self));

	if (self->network_monitor != NULL)
		return;
	self->network_monitor = g_object_ref (g_network_monitor_get_default ());
	self->network_available = g_network_monitor_get_network_available (self->network_monitor);
	g_signal_connect (self->network_monitor, "network-changed", G_CALLBACK (network_changed_cb),
			  self);
	g_signal_connect (self->network_monitor, "notify::network-available",
			  G_CALLBACK (network_available_cb), self);
	g_debug ("following the network with %s", G_OBJECT_TYPE_NAME (self->network_monitor));
}
