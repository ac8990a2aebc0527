/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "da-oidc.h"
#include "da-tls-trust.h"

#define S(x) x, strlen (x)

static void
test_discovery (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaOidcEndpoints) e = NULL;
	const gchar *doc =
		"{\"issuer\":\"https://kc.example/realms/tv\","
		"\"device_authorization_endpoint\":\"https://kc.example/realms/tv/protocol/openid-connect/auth/device\","
		"\"token_endpoint\":\"https://kc.example/realms/tv/protocol/openid-connect/token\","
		"\"revocation_endpoint\":\"https://kc.example/realms/tv/protocol/openid-connect/revoke\","
		"\"grant_types_supported\":[\"urn:ietf:params:oauth:grant-type:device_code\"]}";

	e = da_oidc_parse_discovery (S (doc), "https://kc.example/realms/tv/", &error);
	g_assert_no_error (error);
	g_assert_cmpstr (e->token_endpoint, ==,
			 "https://kc.example/realms/tv/protocol/openid-connect/token");
	g_assert_cmpstr (e->device_authorization_endpoint, ==,
			 "https://kc.example/realms/tv/protocol/openid-connect/auth/device");
	g_assert_null (e->userinfo_endpoint);
}

static void
test_discovery_bad (void)
{
	const struct {
		const gchar *doc;
		const gchar *expect;
	} cases[] = {
		{"{\"issuer\":\"https://evil.example\",\"token_endpoint\":\"https://evil.example/t\"}",
		 "the IdP says its issuer is 'https://evil.example'"},
		{"{\"issuer\":\"https://kc.example\"}", "no \"token_endpoint\""},
		{"{\"issuer\":\"https://kc.example\",\"token_endpoint\":\"http://kc.example/t\"}",
		 "must use https://"},
		{"{\"issuer\":\"https://kc.example\",\"token_endpoint\":42}", "is not a string"},
		{"[1,2]", "not a JSON object"},
		{"{\"issuer\":", "not JSON"},
		{"", "empty response"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(DaOidcEndpoints) e =
			da_oidc_parse_discovery (S (cases[i].doc), "https://kc.example", &error);
		g_assert_null (e);
		g_assert_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED);
		if (strstr (error->message, cases[i].expect) == NULL)
			g_error ("case %u: '%s' lacks '%s'", i, error->message, cases[i].expect);
	}
}

static void
test_device_auth (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaOidcDeviceAuth) d = NULL;
	const gchar *doc =
		"{\"device_code\":\"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS\","
		"\"user_code\":\"WDJB-MJHT\","
		"\"verification_uri\":\"https://example.com/device\","
		"\"verification_uri_complete\":\"https://example.com/device?user_code=WDJB-MJHT\","
		"\"expires_in\":1800,\"interval\":5}";

	d = da_oidc_parse_device_auth (200, S (doc), &error);
	g_assert_no_error (error);
	g_assert_cmpstr (d->device_code, ==, "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS");
	g_assert_cmpstr (d->user_code, ==, "WDJB-MJHT");
	g_assert_cmpstr (d->verification_uri_complete, ==,
			 "https://example.com/device?user_code=WDJB-MJHT");
	g_assert_cmpint (d->expires_in, ==, 1800);
	g_assert_cmpuint (d->interval, ==, 5);
}

/* No interval (the client then uses 5 s), the draft's verification_url,
 * numbers as strings. */
static void
test_device_auth_variants (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaOidcDeviceAuth) d = NULL;
	const gchar *doc =
		"{\"device_code\":\"dc\",\"user_code\":\"ABCD\","
		"\"verification_url\":\"https://example.com/device\",\"expires_in\":\"600\"}";

	d = da_oidc_parse_device_auth (200, S (doc), &error);
	g_assert_no_error (error);
	g_assert_cmpuint (d->interval, ==, 0);
	g_assert_cmpint (d->expires_in, ==, 600);
	g_assert_null (d->verification_uri_complete);
	g_assert_cmpstr (d->verification_uri, ==, "https://example.com/device");
}

static void
test_device_auth_bad (void)
{
	const gchar *cases[] = {
		"{\"user_code\":\"A\",\"verification_uri\":\"https://e/d\",\"expires_in\":5}",
		"{\"device_code\":\"d\",\"verification_uri\":\"https://e/d\",\"expires_in\":5}",
		"{\"device_code\":\"d\",\"user_code\":\"A\",\"expires_in\":5}",
		"{\"device_code\":\"d\",\"user_code\":\"A\",\"verification_uri\":\"https://e/d\"}",
		"{\"device_code\":\"d\",\"user_code\":\"A\",\"verification_uri\":\"https://e/d\",\"expires_in\":-1}",
		"{\"device_code\":\"d\",\"user_code\":\"A\",\"verification_uri\":\"javascript:x\",\"expires_in\":5}",
		"{\"device_code\":\"d\",\"user_code\":\"A\\u001b[2J\",\"verification_uri\":\"https://e/d\",\"expires_in\":5}",
		"{\"device_code\":\"d\",\"user_code\":\"A\",\"verification_uri\":\"https://e/d\",\"expires_in\":5,\"interval\":\"x\"}",
		/* codes and URIs that read as other ones: a C1 control, bidi
		 * overrides and isolates, marks, invalid UTF-8 */
		"{\"device_code\":\"d\",\"user_code\":\"AB\\u0085CD\",\"verification_uri\":\"https://e/d\",\"expires_in\":5}",
		"{\"device_code\":\"d\",\"user_code\":\"\\u202eDCBA\",\"verification_uri\":\"https://e/d\",\"expires_in\":5}",
		"{\"device_code\":\"d\",\"user_code\":\"AB\\u2067CD\\u2069\",\"verification_uri\":\"https://e/d\",\"expires_in\":5}",
		"{\"device_code\":\"d\",\"user_code\":\"AB\\u200fCD\",\"verification_uri\":\"https://e/d\",\"expires_in\":5}",
		"{\"device_code\":\"d\",\"user_code\":\"AB\xc3"
		"CD\",\"verification_uri\":\"https://e/d\",\"expires_in\":5}",
		"{\"device_code\":\"d\",\"user_code\":\"A\",\"verification_uri\":\"https://e/\\u202ed\",\"expires_in\":5}",
		/* plain http off loopback: the page where the person signs in */
		"{\"device_code\":\"d\",\"user_code\":\"A\",\"verification_uri\":\"http://idp.example.com/device\",\"expires_in\":5}",
		"{\"device_code\":\"d\",\"user_code\":\"A\",\"verification_uri\":\"http://192.168.1.5/device\",\"expires_in\":5}",
		/* expires_in 0 or missing: never an assumed lifetime */
		"{\"device_code\":\"d\",\"user_code\":\"A\",\"verification_uri\":\"https://e/d\",\"expires_in\":0}",
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(DaOidcDeviceAuth) d =
			da_oidc_parse_device_auth (200, S (cases[i]), &error);
		g_assert_null (d);
		g_assert_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED);
	}
}

/* http:// is fine on loopback (an IdP on this machine); a
 * verification_uri_complete that could not be shown as it is is dropped,
 * and the plain URI is shown instead. */
static void
test_device_auth_loopback_and_complete (void)
{
	const gchar *doc = "{\"device_code\":\"d\",\"user_code\":\"A\",\"verification_uri\":"
			   "\"http://127.0.0.1:8080/device\",\"verification_uri_complete\":"
			   "\"http://127.0.0.1:8080/device?user_code=\\u202eA\",\"expires_in\":5}";
	g_autoptr(GError) error = NULL;
	g_autoptr(DaOidcDeviceAuth) d = da_oidc_parse_device_auth (200, S (doc), &error);

	g_assert_no_error (error);
	g_assert_cmpstr (d->verification_uri, ==, "http://127.0.0.1:8080/device");
	g_assert_null (d->verification_uri_complete);
}

/* An error_description that would reorder or recolour a screen is left out
 * of the message; the error itself stays. */
static void
test_error_description_unsafe (void)
{
	const gchar *const descriptions[] = {"\\u202eyad a sdnah", "red\\u001b[31m", "x\\u0085y"};

	for (guint i = 0; i < G_N_ELEMENTS (descriptions); i++) {
		g_autofree gchar *doc = g_strdup_printf (
			"{\"error\":\"access_denied\",\"error_description\":\"%s\"}",
			descriptions[i]);
		g_autoptr(GError) error = NULL;
		g_autoptr(DaOidcTokens) t = da_oidc_parse_tokens (400, S (doc), &error);

		g_assert_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_ACCESS_DENIED);
		g_assert_cmpstr (error->message, ==, "access_denied");
	}
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(DaOidcTokens) t = da_oidc_parse_tokens (
			400,
			S ("{\"error\":\"access_denied\",\"error_description\":\"caf\\u00e9 "
			   "\\u05e9\\u05dc\\u05d5\\u05dd\"}"),
			&error);
		/* other scripts, right-to-left ones too, are text */
		g_assert_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_ACCESS_DENIED);
		g_assert_cmpstr (error->message, ==,
				 "access_denied (caf\xc3\xa9 \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d)");
	}
}

static void
test_tokens (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaOidcTokens) t = NULL;
	const gchar *doc =
		"{\"access_token\":\"at-1\",\"refresh_token\":\"rt-1\",\"token_type\":\"Bearer\","
		"\"expires_in\":300,\"scope\":\"openid offline_access\"}";

	t = da_oidc_parse_tokens (200, S (doc), &error);
	g_assert_no_error (error);
	g_assert_cmpstr (t->access_token, ==, "at-1");
	g_assert_cmpstr (t->refresh_token, ==, "rt-1");
	g_assert_cmpstr (t->token_type, ==, "Bearer");
	g_assert_cmpint (t->expires_in, ==, 300);
	g_assert_cmpstr (t->scope, ==, "openid offline_access");
	g_assert_cmpint (t->refresh_expires_in, ==, -1);
}

/* expires_in 0 is a token that is over (Keycloak's in the last second of
 * an SSO session), not one of unknown lifetime */
static void
test_tokens_expires_in_zero (void)
{
	const struct {
		const gchar *doc;
		gint64 expected;
	} cases[] = {
		{"{\"access_token\":\"at\",\"expires_in\":0,\"refresh_expires_in\":0}", 0},
		{"{\"access_token\":\"at\"}", -1},
		{"{\"access_token\":\"at\",\"expires_in\":null}", -1},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(DaOidcTokens) t =
			da_oidc_parse_tokens (200, cases[i].doc, strlen (cases[i].doc), &error);

		g_assert_no_error (error);
		g_assert_cmpint (t->expires_in, ==, cases[i].expected);
	}
}

/* Keycloak's refresh_expires_in: the SSO idle time for online sessions,
 * 0 for offline ones; a bad value is ignored, not a failure */
static void
test_tokens_refresh_expires_in (void)
{
	const struct {
		const gchar *value;
		gint64 expected;
	} cases[] = {
		{"1800", 1800}, {"0", 0},     {"\"60\"", 60}, {"-5", -1},
		{"\"x\"", -1},	{"null", -1}, {"1e12", -1},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *doc = g_strdup_printf (
			"{\"access_token\":\"at\",\"expires_in\":300,\"refresh_expires_in\":%s}",
			cases[i].value);
		g_autoptr(DaOidcTokens) t = da_oidc_parse_tokens (200, doc, strlen (doc), &error);

		g_assert_no_error (error);
		g_assert_cmpint (t->refresh_expires_in, ==, cases[i].expected);
	}
}

static void
test_token_errors (void)
{
	const struct {
		guint status;
		const gchar *doc;
		DaOidcError code;
	} cases[] = {
		{400, "{\"error\":\"authorization_pending\"}", DA_OIDC_ERROR_AUTHORIZATION_PENDING},
		{400, "{\"error\":\"slow_down\"}", DA_OIDC_ERROR_SLOW_DOWN},
		{400, "{\"error\":\"access_denied\",\"error_description\":\"no\"}",
		 DA_OIDC_ERROR_ACCESS_DENIED},
		{400, "{\"error\":\"expired_token\"}", DA_OIDC_ERROR_EXPIRED_TOKEN},
		{400, "{\"error\":\"invalid_grant\"}", DA_OIDC_ERROR_INVALID_GRANT},
		{401, "{\"error\":\"invalid_client\"}", DA_OIDC_ERROR_PROTOCOL},
		{400, "<html>bad</html>", DA_OIDC_ERROR_HTTP},
		{503, "{\"error\":\"access_denied\"}", DA_OIDC_ERROR_HTTP},
		{429, "", DA_OIDC_ERROR_HTTP},
		{200, "{\"refresh_token\":\"x\"}", DA_OIDC_ERROR_MALFORMED},
		{200, "{\"access_token\":\"a\\nb\"}", DA_OIDC_ERROR_MALFORMED},
		{200, "{\"access_token\":\"a\",\"expires_in\":\"soon\"}", DA_OIDC_ERROR_MALFORMED},
		{200, "not json", DA_OIDC_ERROR_MALFORMED},
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(DaOidcTokens) t =
			da_oidc_parse_tokens (cases[i].status, S (cases[i].doc), &error);
		g_assert_null (t);
		if (!g_error_matches (error, DA_OIDC_ERROR, (gint) cases[i].code))
			g_error ("case %u: got %s (%d)", i, error->message, error->code);
	}
}

/* json-glib recurses per level: a deep document must be refused before it
 * reaches the parser, and a large one must not get through. */
static void
test_hostile_json (void)
{
	g_autoptr(GString) deep = g_string_new ("{\"a\":");
	g_autoptr(GError) error = NULL;
	g_autoptr(DaOidcTokens) t = NULL;

	for (guint i = 0; i < 100000; i++)
		g_string_append_c (deep, '[');
	t = da_oidc_parse_tokens (200, deep->str, deep->len, &error);
	g_assert_null (t);
	g_assert_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED);

	/* json-glib 1.6 would cut the token at its \u0000 and read "at" */
	{
		const gchar *doc = "{\"access_token\":\"at\\u0000xyz\",\"expires_in\":300}";
		g_autoptr(GError) bad = NULL;
		g_autoptr(DaOidcTokens) cut = da_oidc_parse_tokens (200, doc, strlen (doc), &bad);

		g_assert_null (cut);
		g_assert_error (bad, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED);
		g_assert_nonnull (strstr (bad->message, "\\u0000"));
	}
}

/* RFC 7636 appendix B */
static void
test_pkce (void)
{
	g_autofree gchar *challenge =
		da_oidc_pkce_challenge ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
	g_autoptr(DaSecret) v1 = da_oidc_pkce_verifier_new ();
	g_autoptr(DaSecret) v2 = da_oidc_pkce_verifier_new ();

	g_assert_cmpstr (challenge, ==, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	g_assert_cmpuint (strlen (v1), ==, 43);
	g_assert_cmpstr (v1, !=, v2);
	for (const gchar *p = v1; *p != '\0'; p++)
		g_assert_true (g_ascii_isalnum (*p) || *p == '-' || *p == '_');
}

static void
test_revocation (void)
{
	g_autoptr(GError) error = NULL;

	g_assert_true (da_oidc_parse_revocation (200, "", 0, &error));
	g_assert_no_error (error);
	g_assert_false (da_oidc_parse_revocation (400, S ("{\"error\":\"unsupported_token_type\"}"),
						  &error));
	g_assert_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_PROTOCOL);
}

/* A self-signed certificate for 127.0.0.1, valid until 2126: no CA of the
 * system's store signed it */
static const gchar self_signed_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBkDCCATagAwIBAgIUEoIpmlLEZup/EeXOphoRuzaObdEwCgYIKoZIzj0EAwIw\n"
	"FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTIwODAwNTYxNFoYDzIxMjYxMTE0\n"
	"MDA1NjE0WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO\n"
	"PQMBBwNCAATYPKA1BmD0GopUT0l2LMrc/pTMqDbMzzwS8nkM/DuwCVt2E3K1eKfI\n"
	"ZKieCqp4Jt8VquV1LaBbZRPBSend6q3so2QwYjAdBgNVHQ4EFgQUJBpfHmxeusgw\n"
	"nKL59brDoBS7Hf4wHwYDVR0jBBgwFoAUJBpfHmxeusgwnKL59brDoBS7Hf4wDwYD\n"
	"VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC\n"
	"IQDKNQwN5zYU2UudPZloaf2VSYeqUuf8z6znO8ERSnGQtAIgb8iHzo1jDm35Z1bt\n"
	"W6PhLpMmX4TX6rS0mY5jU9hyUNU=\n"
	"-----END CERTIFICATE-----\n";

/* The backend's default database once installed: devauthd's own, which
 * reads the system's store for the check (and keeps nothing to look up) */
static void
test_tls_trust (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GTlsCertificate) cert =
		g_tls_certificate_new_from_pem (self_signed_pem, -1, &error);
	g_autoptr(GTlsDatabase) database = NULL;
	g_autoptr(GSocketConnectable) identity = g_network_address_new ("127.0.0.1", 443);
	g_autoptr(GTlsCertificate) issuer = NULL;
	GTlsCertificateFlags flags;

	g_assert_no_error (error);
	da_tls_trust_install ();
	da_tls_trust_install ();
	database = g_tls_backend_get_default_database (g_tls_backend_get_default ());
	g_assert_nonnull (database);
	g_assert_cmpstr (G_OBJECT_TYPE_NAME (database), ==, "DaTlsTrust");
	for (guint i = 0; i < 2; i++) {
		/* the second time, the first check's answer */
		flags = g_tls_database_verify_chain (
			database, cert, G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER, identity, NULL,
			G_TLS_DATABASE_VERIFY_NONE, NULL, &error);
		g_assert_no_error (error);
		g_assert_true (flags & G_TLS_CERTIFICATE_UNKNOWN_CA);
	}
	issuer = g_tls_database_lookup_certificate_issuer (
		database, cert, NULL, G_TLS_DATABASE_LOOKUP_NONE, NULL, &error);
	g_assert_no_error (error);
	g_assert_null (issuer);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/devauthd/oidc/discovery", test_discovery);
	g_test_add_func ("/devauthd/oidc/discovery-bad", test_discovery_bad);
	g_test_add_func ("/devauthd/oidc/device-auth", test_device_auth);
	g_test_add_func ("/devauthd/oidc/device-auth-variants", test_device_auth_variants);
	g_test_add_func ("/devauthd/oidc/device-auth-bad", test_device_auth_bad);
	g_test_add_func ("/devauthd/oidc/device-auth-loopback-and-complete",
			 test_device_auth_loopback_and_complete);
	g_test_add_func ("/devauthd/oidc/error-description-unsafe", test_error_description_unsafe);
	g_test_add_func ("/devauthd/oidc/tokens", test_tokens);
	g_test_add_func ("/devauthd/oidc/tokens-refresh-expires-in",
			 test_tokens_refresh_expires_in);
	g_test_add_func ("/devauthd/oidc/tokens-expires-in-zero", test_tokens_expires_in_zero);
	g_test_add_func ("/devauthd/oidc/token-errors", test_token_errors);
	g_test_add_func ("/devauthd/oidc/hostile-json", test_hostile_json);
	g_test_add_func ("/devauthd/oidc/pkce", test_pkce);
	g_test_add_func ("/devauthd/oidc/revocation", test_revocation);
	g_test_add_func ("/devauthd/oidc/tls-trust", test_tls_trust);
	return g_test_run ();
}
