/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

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
		{"this is not a key file\n", "/etc/devauthd/accounts.d/test.conf: "},
		{"[Access]\nAllowUsers=x\n", "[Account]: missing section"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(DaAccountConfig) c = load ("acc", cases[i].text, &error);

		g_assert_null (c);
		g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_assert_true (
			g_str_has_prefix (error->message, "/etc/devauthd/accounts.d/test.conf: "));
		if (strstr (error->message, cases[i].expect) == NULL)
			g_error ("case %u: '%s' does not contain '%s'", i, error->message,
				 cases[i].expect);
	}
}

static void
test_account_unknown_key (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaAccountConfig) c = NULL;

	g_test_expect_message ("devauthd", G_LOG_LEVEL_WARNING,
			       "*test.conf: [Account] Isuer: unknown key, ignored");
	c = load ("acc", "[Account]\nIssuer=https://a.example\nIsuer=x\nClientId=x\n", &error);
	g_test_assert_expected_messages ();
	g_assert_no_error (error);
	g_assert_nonnull (c);
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
		    "[Daemon]\nKeyringName=devauthd-unit\nDefaultAccount=good\nHttpTimeoutSec=7\n");
	write_file (accounts, "good.conf", "[Account]\nIssuer=http://127.0.0.1:1\nClientId=a\n");
	write_file (accounts, "bad.conf", "[Account]\nIssuer=http://example.com\nClientId=a\n");
	write_file (accounts, "bad name.conf",
		    "[Account]\nIssuer=http://127.0.0.1:1\nClientId=a\n");
	write_file (accounts, "ignored.txt", "nothing");
	write_file (dir, "secret", "s3cret\n");
	with_secret = g_strdup_printf ("[Account]\nIssuer=http://127.0.0.1:1\nClientId=a\n"
				       "ClientSecretFile=%s\n",
				       secret_path);
	write_file (accounts, "confidential.conf", with_secret);

	config = da_config_load (dir, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (config->keyring_name, ==, "devauthd-unit");
	g_assert_cmpstr (config->default_account, ==, "good");
	g_assert_cmpuint (config->http_timeout, ==, 7);
	g_assert_cmpuint (config->accounts->len, ==, 2);
	c = g_ptr_array_index (config->accounts, 0);
	g_assert_cmpstr (c->name, ==, "confidential");
	g_assert_cmpstr (c->client_secret, ==, "s3cret");
	c = g_ptr_array_index (config->accounts, 1);
	g_assert_cmpstr (c->name, ==, "good");
	g_assert_cmpuint (config->problems->len, ==, 2);
	for (guint i = 0; i < config->problems->len; i++) {
		const gchar *p = g_ptr_array_index (config->problems, i);
		g_assert_true (
			strstr (p, "bad.conf: [Account] Issuer:") != NULL ||
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
	g_test_add_func ("/devauthd/config/account-unknown-key", test_account_unknown_key);
	g_test_add_func ("/devauthd/config/account-names", test_account_names);
	g_test_add_func ("/devauthd/config/loopback-urls", test_loopback_urls);
	g_test_add_func ("/devauthd/config/directory", test_config_dir);
	g_test_add_func ("/devauthd/config/daemon-errors", test_daemon_config_errors);
	return g_test_run ();
}
