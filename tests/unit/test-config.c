/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "da-config.h"

static DaAccountConfig *
load (const gchar *name, const gchar *text, GError **error)
{
	return da_account_config_load_from_data (name, "/etc/devauthd/accounts.d/test.conf", text,
						 strlen (text), error);
}

static void
test_account_minimal (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaAccountConfig) c = load ("tv",
					      "[Account]\n"
					      "Issuer=https://idp.example.com/realms/tv\n"
					      "ClientId=tv-app\n",
					      &error);

	g_assert_no_error (error);
	g_assert_nonnull (c);
	g_assert_cmpstr (c->name, ==, "tv");
	g_assert_cmpstr (c->issuer, ==, "https://idp.example.com/realms/tv");
	g_assert_cmpstr (c->client_id, ==, "tv-app");
	/* default scopes: offline_access keeps a device signed in past the
	 * IdP's browser session */
	g_assert_cmpuint (g_strv_length (c->scopes), ==, 2);
	g_assert_cmpstr (c->scopes[0], ==, "openid");
	g_assert_cmpstr (c->scopes[1], ==, "offline_access");
	g_assert_false (c->auto_login);
	g_assert_false (c->pkce);
	g_assert_null (c->client_secret);
	g_assert_cmpint (c->grant, ==, DA_GRANT_DEVICE_CODE);
}

static void
test_account_full (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaAccountConfig) c = load ("kiosk",
					      "[Account]\n"
					      "Issuer=http://127.0.0.1:8080/realms/demo\n"
					      "ClientId=kiosk\n"
					      "Scopes=openid profile, offline_access\n"
					      "AutoLogin=yes\n"
					      "Pkce=true\n"
					      "TokenEndpoint=http://[::1]:8080/token\n"
					      "[Access]\n"
					      "AllowUsers=kiosk, tv\n"
					      "AllowUnits=kiosk-browser.service\n",
					      &error);

	g_assert_no_error (error);
	g_assert_cmpuint (g_strv_length (c->scopes), ==, 3);
	g_assert_cmpstr (c->scopes[2], ==, "offline_access");
	g_assert_true (c->auto_login);
	g_assert_true (c->pkce);
	g_assert_cmpstr (c->token_endpoint, ==, "http://[::1]:8080/token");
	g_assert_cmpuint (g_strv_length (c->allow_users), ==, 2);
	g_assert_cmpstr (c->allow_units[0], ==, "kiosk-browser.service");
}

/* Each bad file gets a message that names the file, the key and the problem. */
static void
test_account_errors (void)
{
	const struct {
		const gchar *text;
		const gchar *expect;
	} cases[] = {
		{"[Account]\nIssuer=https://idp.example.com\n", "[Account] ClientId: missing"},
		{"[Account]\nClientId=x\n", "[Account] Issuer: missing"},
		{"[Account]\nIssuer=http://idp.example.com\nClientId=x\n",
		 "[Account] Issuer: 'http://idp.example.com' must use https://"},
		{"[Account]\nIssuer=not a url\nClientId=x\n",
		 "[Account] Issuer: 'not a url' is not a URL"},
		{"[Account]\nIssuer=https://user:pw@idp.example.com\nClientId=x\n",
		 "must not carry user information"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nAutoLogin=maybe\n",
		 "[Account] AutoLogin: 'maybe' is not a boolean"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=\n",
		 "[Account] ClientId: must not be empty"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nClientSecretFile=relative\n",
		 "[Account] ClientSecretFile: 'relative' is not an absolute path"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\n"
		 "ClientSecretFile=/nonexistent/secret\n",
		 "[Account] ClientSecretFile: cannot read '/nonexistent/secret'"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nCAFile=ca.pem\n",
		 "[Account] CAFile: 'ca.pem' is not an absolute path"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nCAFile=/nonexistent/ca.pem\n",
		 "[Account] CAFile: /nonexistent/ca.pem: "},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nCAFile=/etc/os-release\n",
		 "[Account] CAFile: /etc/os-release holds no PEM certificate"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nCAFile=/dev/null\n",
		 "[Account] CAFile: /dev/null: "},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nGrant=password\n",
		 "[Account] Grant: 'password' is not one of device_code, client_credentials"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nGrant=client_credentials\n",
		 "[Account] Grant=client_credentials needs the client's secret or key"},
		{"[Account]\nClientId=x\nGrant=client_credentials\n"
		 "DeviceAuthorizationEndpoint=https://idp.example.com/d\n",
		 "[Account] Issuer: missing (or set TokenEndpoint)"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nClientAuthMethod=tls\n",
		 "[Account] ClientAuthMethod: 'tls' is not one of client_secret_post, "
		 "client_secret_basic, private_key_jwt, tls_client_auth"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\n"
		 "ClientAuthMethod=private_key_jwt\n",
		 "[Account] ClientAuthMethod=private_key_jwt needs the client's key: set "
		 "ClientKeyFile= or ClientKeyCredential="},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\n"
		 "ClientAuthMethod=client_secret_basic\n",
		 "[Account] ClientAuthMethod=client_secret_basic needs the client's secret"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nClientKeyFile=/etc/os-release\n",
		 "[Account] ClientKeyFile: cannot read '/etc/os-release'"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nProxy=socks5://p:1080\n",
		 "[Account] Proxy: 'socks5://p:1080': a proxy is http:// or https://"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\n"
		 "Proxy=http://ann:pw@proxy:3128\n",
		 "carries credentials: put them in ProxyCredentialsFile="},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nProxy=http://proxy:3128/p\n",
		 "a proxy URL has no path, query or fragment"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nProxy=proxy:3128\n",
		 "[Account] Proxy: 'proxy:3128'"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\n"
		 "ProxyCredentialsFile=creds\n",
		 "[Account] ProxyCredentialsFile: 'creds' is not an absolute path"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\n"
		 "ClientAuthMethod=tls_client_auth\n",
		 "[Account] ClientAuthMethod=tls_client_auth needs the client's certificate and "
		 "its key: set ClientCertificateFile= and ClientKeyFile="},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\n"
		 "ClientCertificateFile=cert.pem\n",
		 "[Account] ClientCertificateFile: 'cert.pem' is not an absolute path"},
		{"[Account]\nIssuer=https://idp.example.com\nClientId=x\nAutoLogin=maybe\n",
		 "/etc/devauthd/accounts.d/test.conf:4: [Account] AutoLogin: 'maybe'"},
		{"# a typo\n[Account]\nIsuer=https://idp.example.com\nClientId=x\n",
		 "/etc/devauthd/accounts.d/test.conf:3: [Account] Isuer: unknown key; did you mean "
		 "Issuer? (Issuer is missing)"},
		{"[Account]\nIssuer=https://idp.example.com\n\n  clientid = x\n",
		 "/etc/devauthd/accounts.d/test.conf:4: [Account] clientid: unknown key; did you "
		 "mean ClientId? (ClientId is missing)"},
		{"this is not a key file\n", "/etc/devauthd/accounts.d/test.conf: "},
		{"[Access]\nAllowUsers=x\n", "[Account]: missing section"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(DaAccountConfig) c = load ("acc", cases[i].text, &error);

		g_assert_null (c);
		g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_assert_true (
			g_str_has_prefix (error->message, "/etc/devauthd/accounts.d/test.conf"));
		if (strstr (error->message, cases[i].expect) == NULL)
			g_error ("case %u: '%s' does not contain '%s'", i, error->message,
				 cases[i].expect);
	}
}

/* Grant=client_credentials: the IdP's default scopes, its token at start
 * (AutoLogin=yes unless set), a token endpoint enough without an issuer */
static void
test_account_service (void)
{
	g_autofree gchar *dir = g_dir_make_tmp ("devauthd-config-XXXXXX", NULL);
	g_autofree gchar *secret = g_build_filename (dir, "secret", NULL);
	g_autofree gchar *text = NULL;
	g_autofree gchar *text_no_auto = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(DaAccountConfig) c = NULL;
	g_autoptr(DaAccountConfig) no_auto = NULL;
	g_autoptr(DaAccountConfig) pkce = NULL;

	g_assert_true (g_file_set_contents_full (secret, "s3cret\n", -1, G_FILE_SET_CONTENTS_NONE,
						 0600, NULL));
	text = g_strdup_printf ("[Account]\nTokenEndpoint=https://idp.example.com/token\n"
				"ClientId=svc\nGrant=client_credentials\nClientSecretFile=%s\n",
				secret);
	c = load ("svc", text, &error);
	g_assert_no_error (error);
	g_assert_cmpint (c->grant, ==, DA_GRANT_CLIENT_CREDENTIALS);
	g_assert_cmpuint (g_strv_length (c->scopes), ==, 0);
	g_assert_true (c->auto_login);
	g_assert_nonnull (c->client_secret);

	text_no_auto = g_strdup_printf ("%sAutoLogin=no\nScopes=api\n", text);
	no_auto = load ("svc", text_no_auto, &error);
	g_assert_no_error (error);
	g_assert_false (no_auto->auto_login);
	g_assert_cmpstr (no_auto->scopes[0], ==, "api");

	g_free (text_no_auto);
	text_no_auto = g_strdup_printf ("%sPkce=yes\n", text);
	pkce = load ("svc", text_no_auto, &error);
	g_assert_null (pkce);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull (strstr (error->message, "Pkce=yes is for the device flow"));

	g_assert_cmpint (g_unlink (secret), ==, 0);
	g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_account_unknown_key (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaAccountConfig) c = NULL;

	g_test_expect_message (
		"devauthd", G_LOG_LEVEL_WARNING,
		"*test.conf:3: [Account] Isuer: unknown key, ignored (did you mean Issuer?)");
	c = load ("acc", "[Account]\nIssuer=https://a.example\nIsuer=x\nClientId=x\n", &error);
	g_test_assert_expected_messages ();
	g_assert_no_error (error);
	g_assert_nonnull (c);
	g_assert_cmpuint (c->warnings->len, ==, 1);
	g_assert_cmpstr (g_ptr_array_index (c->warnings, 0), ==,
			 "/etc/devauthd/accounts.d/test.conf:3: [Account] Isuer: unknown key, "
			 "ignored (did you mean Issuer?)");
	g_clear_pointer (&c, da_account_config_free);

	/* nothing near: no guess */
	g_test_expect_message ("devauthd", G_LOG_LEVEL_WARNING,
			       "*test.conf:5: [Access] Colour: unknown key, ignored");
	c = load ("acc", "[Account]\nIssuer=https://a.example\nClientId=x\n[Access]\nColour=x\n",
		  &error);
	g_test_assert_expected_messages ();
	g_assert_nonnull (c);
	g_assert_null (strstr (g_ptr_array_index (c->warnings, 0), "did you mean"));
	g_clear_pointer (&c, da_account_config_free);

	/* an empty but known section is no mistake; an unknown one is */
	g_test_expect_message ("devauthd", G_LOG_LEVEL_WARNING,
			       "*test.conf: [Acess]: unknown section, ignored");
	c = load ("acc", "[Account]\nIssuer=https://a.example\nClientId=x\n[Access]\n[Acess]\n",
		  &error);
	g_test_assert_expected_messages ();
	g_assert_no_error (error);
	g_assert_nonnull (c);
}

static void
test_account_names (void)
{
	g_assert_true (da_account_name_is_valid ("tv"));
	g_assert_true (da_account_name_is_valid ("my-tv_1.prod"));
	g_assert_true (da_account_name_is_valid (
		"a234567890123456789012345678901234567890123456789012345678901234"));
	g_assert_false (da_account_name_is_valid (
		"a2345678901234567890123456789012345678901234567890123456789012345"));
	g_assert_false (da_account_name_is_valid (""));
	g_assert_false (da_account_name_is_valid ("."));
	g_assert_false (da_account_name_is_valid (".."));
	g_assert_false (da_account_name_is_valid ("a/b"));
	g_assert_false (da_account_name_is_valid ("a b"));
	g_assert_false (da_account_name_is_valid ("tv\n"));
	g_assert_false (da_account_name_is_valid ("é"));
}

static void
test_loopback_urls (void)
{
	g_assert_true (da_url_is_acceptable ("http://127.0.0.1:8080/x", NULL));
	g_assert_true (da_url_is_acceptable ("http://127.1.2.3/", NULL));
	g_assert_true (da_url_is_acceptable ("http://localhost:1/", NULL));
	g_assert_true (da_url_is_acceptable ("http://[::1]:9/", NULL));
	g_assert_true (da_url_is_acceptable ("https://idp.example.com", NULL));
	g_assert_false (da_url_is_acceptable ("http://10.0.0.1/", NULL));
	g_assert_false (da_url_is_acceptable ("http://localhost.example.com/", NULL));
	g_assert_false (da_url_is_acceptable ("ftp://127.0.0.1/", NULL));
	g_assert_false (da_url_is_acceptable ("https:///nohost", NULL));
}

static void
write_file (const gchar *dir, const gchar *name, const gchar *text)
{
	g_autofree gchar *path = g_build_filename (dir, name, NULL);
	g_autoptr(GError) error = NULL;

	g_file_set_contents (path, text, -1, &error);
	g_assert_no_error (error);
}

/* A bad account file is reported and the good ones load. */
static void
test_config_dir (void);

/* Files that would hang the daemon, fill its memory or give a secret away:
 * a FIFO and a device where an account file or a secret should be, an
 * account file larger than the limit, a secret that others may read. Each
 * is reported with its file and what is wrong, and the good account
 * loads; nothing blocks (the test would hang). */
static void
test_config_hostile_files (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp ("devauthd-test-XXXXXX", &error);
	g_autofree gchar *accounts = g_build_filename (dir, "accounts.d", NULL);
	g_autofree gchar *fifo = g_build_filename (accounts, "fifo.conf", NULL);
	g_autofree gchar *device = g_build_filename (accounts, "null.conf", NULL);
	g_autofree gchar *big = g_build_filename (accounts, "big.conf", NULL);
	g_autofree gchar *open_secret = g_build_filename (dir, "open-secret", NULL);
	g_autofree gchar *fifo_secret = g_build_filename (dir, "fifo-secret", NULL);
	g_autofree gchar *text = NULL;
	g_autoptr(DaConfig) config = NULL;
	const gchar *expected[] = {
		"big.conf: larger than 65536 bytes",
		"fifo.conf: a FIFO, not a regular file",
		"leaky.conf:4: [Account] ClientSecretFile: cannot read '@': group or others may "
		"use it (mode 0644)",
		"null.conf: a character device, not a regular file",
		"piped.conf:4: [Account] ClientSecretFile: cannot read '@': a FIFO, not a regular file",
	};
	FILE *f;

	g_assert_no_error (error);
	g_assert_cmpint (g_mkdir (accounts, 0700), ==, 0);
	write_file (accounts, "good.conf", "[Account]\nIssuer=http://127.0.0.1:1\nClientId=a\n");
	g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
	g_assert_cmpint (symlink ("/dev/null", device), ==, 0);
	f = fopen (big, "w");
	g_assert_nonnull (f);
	g_assert_cmpint (ftruncate (fileno (f), 1 << 30), ==, 0); /* 1 GiB, sparse */
	fclose (f);
	write_file (dir, "open-secret", "s3cret\n");
	g_assert_cmpint (g_chmod (open_secret, 0644), ==, 0);
	g_assert_cmpint (mkfifo (fifo_secret, 0600), ==, 0);
	text = g_strdup_printf ("[Account]\nIssuer=http://127.0.0.1:1\nClientId=a\n"
				"ClientSecretFile=%s\n",
				open_secret);
	write_file (accounts, "leaky.conf", text);
	g_free (text);
	text = g_strdup_printf ("[Account]\nIssuer=http://127.0.0.1:1\nClientId=a\n"
				"ClientSecretFile=%s\n",
				fifo_secret);
	write_file (accounts, "piped.conf", text);

	config = da_config_load (dir, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (config->accounts->len, ==, 1);
	g_assert_cmpstr (((DaAccountConfig *) g_ptr_array_index (config->accounts, 0))->name, ==,
			 "good");
	g_assert_cmpuint (config->problems->len, ==, G_N_ELEMENTS (expected));
	for (guint i = 0; i < G_N_ELEMENTS (expected); i++) {
		g_auto(GStrv) parts = g_strsplit (expected[i], "@", -1);
		g_autofree gchar *want = g_strjoinv (i == 2 ? open_secret : fifo_secret, parts);
		gboolean found = FALSE;

		for (guint j = 0; j < config->problems->len; j++)
			found |= strstr (g_ptr_array_index (config->problems, j), want) != NULL;
		if (!found)
			g_error ("no problem says \"%s\"", want);
	}

	{
		const gchar *names[] = {"good.conf", "fifo.conf",  "null.conf",
					"big.conf",  "leaky.conf", "piped.conf"};
		for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
			g_autofree gchar *path = g_build_filename (accounts, names[i], NULL);
			g_assert_cmpint (g_unlink (path), ==, 0);
		}
	}
	g_unlink (open_secret);
	g_unlink (fifo_secret);
	g_assert_cmpint (g_rmdir (accounts), ==, 0);
	g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_config_dir (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp ("devauthd-test-XXXXXX", &error);
	g_autofree gchar *accounts = g_build_filename (dir, "accounts.d", NULL);
	g_autoptr(DaConfig) config = NULL;
	g_autofree gchar *secret_path = g_build_filename (dir, "secret", NULL);
	g_autofree gchar *with_secret = NULL;
	const DaAccountConfig *c;

	g_assert_no_error (error);
	g_assert_cmpint (g_mkdir (accounts, 0700), ==, 0);
	write_file (dir, "devauthd.conf",
		    "[Daemon]\nKeyringName=devauthd-unit\nDefaultAccount=good\nHttpTimeoutSec=7\n"
		    "Proxy=http://127.0.0.1:3128\nProxyCredentialsFile=/etc/devauthd/proxy\n");
	write_file (accounts, "good.conf",
		    "[Account]\nIssuer=http://127.0.0.1:1\nClientId=a\nProxy=\n");
	write_file (accounts, "bad.conf", "[Account]\nIssuer=http://example.com\nClientId=a\n");
	write_file (accounts, "bad name.conf",
		    "[Account]\nIssuer=http://127.0.0.1:1\nClientId=a\n");
	write_file (accounts, "ignored.txt", "nothing");
	write_file (dir, "secret", "s3cret\n");
	g_assert_cmpint (g_chmod (secret_path, 0600), ==, 0);
	with_secret = g_strdup_printf ("[Account]\nIssuer=http://127.0.0.1:1\nClientId=a\n"
				       "ClientSecretFile=%s\n",
				       secret_path);
	write_file (accounts, "confidential.conf", with_secret);

	config = da_config_load (dir, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (config->keyring_name, ==, "devauthd-unit");
	g_assert_cmpstr (config->default_account, ==, "good");
	g_assert_cmpuint (config->http_timeout, ==, 7);
	g_assert_cmpstr (config->proxy, ==, "http://127.0.0.1:3128");
	g_assert_cmpstr (config->proxy_credentials_file, ==, "/etc/devauthd/proxy");
	g_assert_cmpuint (config->accounts->len, ==, 2);
	c = g_ptr_array_index (config->accounts, 0);
	g_assert_cmpstr (c->name, ==, "confidential");
	g_assert_cmpstr (c->client_secret, ==, "s3cret");
	g_assert_null (c->proxy); /* the daemon's */
	c = g_ptr_array_index (config->accounts, 1);
	g_assert_cmpstr (c->name, ==, "good");
	g_assert_cmpstr (c->proxy, ==, ""); /* direct */
	g_assert_cmpuint (config->problems->len, ==, 2);
	/* the same, by account, for the bus */
	g_assert_cmpuint (config->notes->len, ==, 2);
	for (guint i = 0; i < config->notes->len; i++) {
		const DaConfigNote *note = g_ptr_array_index (config->notes, i);
		g_assert_true (note->error);
		g_assert_true (g_str_equal (note->account, "bad") ||
			       g_str_equal (note->account, "bad name"));
		g_assert_nonnull (strstr (note->message, ".conf"));
	}
	for (guint i = 0; i < config->problems->len; i++) {
		const gchar *p = g_ptr_array_index (config->problems, i);
		g_assert_true (
			strstr (p, "bad.conf:2: [Account] Issuer:") != NULL ||
			strstr (p, "bad name.conf: 'bad name' is not a valid account name") !=
				NULL);
	}
	for (guint i = 0; i < 4; i++) {
		const gchar *names[] = {"good.conf", "bad.conf", "bad name.conf", "ignored.txt"};
		g_autofree gchar *path = g_build_filename (accounts, names[i], NULL);
		g_assert_cmpint (g_unlink (path), ==, 0);
	}
	g_unlink (secret_path);
	{
		g_autofree gchar *path = g_build_filename (accounts, "confidential.conf", NULL);
		g_autofree gchar *conf = g_build_filename (dir, "devauthd.conf", NULL);
		g_unlink (path);
		g_unlink (conf);
	}
	g_assert_cmpint (g_rmdir (accounts), ==, 0);
	g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_daemon_config_errors (void)
{
	const gchar *cases[] = {
		"[Daemon]\nHttpTimeoutSec=0\n",	     "[Daemon]\nHttpTimeoutSec=1000\n",
		"[Daemon]\nHttpTimeoutSec=ten\n",    "[Daemon]\nStorageKeyFile=relative/key\n",
		"[Daemon]\nKeyringName=has space\n", "[Daemon]\nDefaultAccount=../x\n",
		"[Daemon]\nProxy=ftp://proxy:21\n",  "[Daemon]\nProxyCredentialsFile=creds\n",
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(DaConfig) config = g_new0 (DaConfig, 1);
		g_autoptr(GError) error = NULL;

		config->accounts = g_ptr_array_new ();
		config->problems = g_ptr_array_new ();
		g_assert_false (da_config_load_daemon_data (config, "/etc/devauthd/devauthd.conf",
							    cases[i], strlen (cases[i]), &error));
		g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_assert_true (g_str_has_prefix (error->message,
						 "/etc/devauthd/devauthd.conf: [Daemon] "));
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/devauthd/config/account-minimal", test_account_minimal);
	g_test_add_func ("/devauthd/config/account-full", test_account_full);
	g_test_add_func ("/devauthd/config/account-errors", test_account_errors);
	g_test_add_func ("/devauthd/config/account-service", test_account_service);
	g_test_add_func ("/devauthd/config/account-unknown-key", test_account_unknown_key);
	g_test_add_func ("/devauthd/config/account-names", test_account_names);
	g_test_add_func ("/devauthd/config/loopback-urls", test_loopback_urls);
	g_test_add_func ("/devauthd/config/directory", test_config_dir);
	g_test_add_func ("/devauthd/config/hostile-files", test_config_hostile_files);
	g_test_add_func ("/devauthd/config/daemon-errors", test_daemon_config_errors);
	return g_test_run ();
}
