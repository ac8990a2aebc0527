/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ID token verification against tokens and JWKS made by openssl
 * (data/jwt/make-fixtures.sh); the test passes its own "now", so that
 * they never go stale. */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "da-error.h"
#include "da-jwt.h"

#define ISSUER "https://idp.example/realms/tv"
#define CLIENT "tv-device"
/* what make-fixtures.sh calls NOW: 2023-11-14 22:13:20 UTC */
#define NOW    G_GINT64_CONSTANT (1700000000)
#define FAR    G_GINT64_CONSTANT (4102444800)
#define LEEWAY 60

typedef struct {
	const gchar *path;
	const gchar *token;
	const gchar *jwks;
	gint64 now;
	guint leeway;
	/* NULL: must be refused, with @expect in the message */
	const gchar *sub;
	const gchar *expect;
} FixtureCase;

static const FixtureCase fixture_cases[] = {
	/* one per algorithm */
	{"rs256", "rs256.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"rs384", "rs384.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"rs512", "rs512.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"ps256", "ps256.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"ps384", "ps384.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"ps512", "ps512.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"es256", "es256.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"es384", "es384.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"es512", "es512.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"eddsa", "eddsa.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},

	/* signatures */
	{"tampered-payload", "rs256-tampered-payload.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token signature does not verify with key 'rsa1' of the IdP's JWKS"},
	{"tampered-signature", "rs256-tampered-sig.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token signature does not verify with key 'rsa1' of the IdP's JWKS"},
	{"es256-der-signature", "es256-der.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "does not verify with key 'ec256' of the IdP's JWKS (it is"},
	{"kid-among-two-keys", "rs256.jwt", "jwks-two.json", NOW, LEEWAY, "user-1234", NULL},

	/* choosing the key */
	{"wrong-kid", "rs256-wrong-kid.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "no key 'rsa-unknown' in the IdP's JWKS"},
	{"no-kid-one-key", "rs256-no-kid.jwt", "jwks-one.json", NOW, LEEWAY, "user-1234", NULL},
	{"no-kid-two-keys", "rs256-no-kid.jwt", "jwks-two.json", NOW, LEEWAY, NULL,
	 "ID token names no key (kid) and the IdP's JWKS has 2 RS256 keys"},
	{"rsa-1024", "rs1024.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "key 'rsa1024' of the IdP's JWKS is a 1024-bit RSA key; at least 2048 bits are required"},
	{"key-alg-mismatch", "ps256-key-alg-rs256.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "key 'rsa1-rs256' of the IdP's JWKS is not for PS256 signatures"},
	{"key-use-enc", "rs256-enc-key.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "key 'enc1' of the IdP's JWKS is not for RS256 signatures"},
	{"key-ops-no-verify", "rs256-key-ops.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "key 'rsa1-no-verify' of the IdP's JWKS is not for RS256 signatures"},
	{"key-curve-mismatch", "es256-key-for-es384.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "key 'ec256' of the IdP's JWKS is not for ES384 signatures"},
	{"key-off-curve", "es256-off-curve.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "key 'ec-bad' of the IdP's JWKS is not a point on P-256"},

	/* the header */
	{"alg-none", "none.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token alg 'none' is not accepted"},
	{"alg-hs256-modulus", "hs256.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token alg 'HS256' is not accepted (asymmetric signatures only)"},
	{"alg-hs256-pem", "hs256-pem.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token alg 'HS256' is not accepted (asymmetric signatures only)"},
	{"crit", "rs256-crit.jwt", "jwks.json", NOW, LEEWAY, NULL, "\"crit\""},

	/* claims */
	{"wrong-iss", "wrong-iss.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token is from the issuer 'https://evil.example/realms/tv', not '" ISSUER "'"},
	{"iss-with-nul", "iss-nul.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token payload is nested too deeply, has a \\u0000"},
	{"no-iss", "no-iss.jwt", "jwks.json", NOW, LEEWAY, NULL, "ID token has no \"iss\" claim"},
	{"aud-mismatch", "aud-other.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token is for audience 'other-client', not the client '" CLIENT "'"},
	{"aud-array-azp", "aud-array-azp.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"aud-array-no-azp", "aud-array-no-azp.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token has 2 audiences but no \"azp\" claim naming the client '" CLIENT "'"},
	{"aud-array-one", "aud-array-one.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"aud-array-other", "aud-array-other.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token is for audience 'account' and 1 more, not the client '" CLIENT "'"},
	{"aud-number", "aud-number.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token has no \"aud\" claim"},
	{"no-aud", "no-aud.jwt", "jwks.json", NOW, LEEWAY, NULL, "ID token has no \"aud\" claim"},
	{"azp-mismatch", "azp-mismatch.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token was issued to the client 'other-client' (azp), not '" CLIENT "'"},
	/* exp is NOW + 300 */
	{"exp-valid", "exp-soon.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"exp-within-leeway", "exp-soon.jwt", "jwks.json", NOW + 330, LEEWAY, "user-1234", NULL},
	{"exp-at-leeway", "exp-soon.jwt", "jwks.json", NOW + 360, LEEWAY, NULL,
	 "ID token expired at 2023-11-14 22:18:20 UTC (now 2023-11-14 22:19:20 UTC, leeway 60 s)"},
	{"expired", "exp-soon.jwt", "jwks.json", NOW + 3600, LEEWAY, NULL,
	 "ID token expired at 2023-11-14 22:18:20 UTC"},
	{"expired-no-leeway", "exp-soon.jwt", "jwks.json", NOW + 300, 0, NULL,
	 "ID token expired at"},
	{"exp-string", "exp-string.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "\"exp\" claim of the ID token is not a time"},
	{"no-exp", "no-exp.jwt", "jwks.json", NOW, LEEWAY, NULL, "ID token has no \"exp\" claim"},
	{"no-iat", "no-iat.jwt", "jwks.json", NOW, LEEWAY, NULL, "ID token has no \"iat\" claim"},
	/* iat is NOW + 30 */
	{"iat-ahead-within-leeway", "iat-ahead.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"iat-ahead-beyond-leeway", "iat-ahead.jwt", "jwks.json", NOW, 10, NULL,
	 "ID token was issued in the future, at 2023-11-14 22:13:50 UTC"},
	{"iat-future", "iat-future.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token was issued in the future"},
	{"nbf-future", "nbf-future.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token is not valid before 2023-11-14 23:13:20 UTC"},
	{"nbf-past", "nbf-past.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"times-with-fraction", "times-fraction.jwt", "jwks.json", NOW, LEEWAY, "user-1234", NULL},
	{"no-sub", "no-sub.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token has no usable \"sub\" claim"},
	{"sub-control-char", "sub-control.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token has no usable \"sub\" claim"},
	{"sub-256-bytes", "sub-long.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token has no usable \"sub\" claim"},
	{"payload-not-json", "payload-not-json.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token payload is not JSON"},
	{"payload-array", "payload-array.jwt", "jwks.json", NOW, LEEWAY, NULL,
	 "ID token payload is not a JSON object"},
};

static gchar *
fixture (const gchar *name, gsize *len)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_test_build_filename (G_TEST_DIST, "data", "jwt", name, NULL);
	gchar *data = NULL;

	g_file_get_contents (path, &data, len, &error);
	g_assert_no_error (error);
	return data;
}

/* a token file, without its newline */
static gchar *
fixture_token (const gchar *name)
{
	gchar *token = fixture (name, NULL);

	return g_strchomp (token);
}

static DaIdClaims *
verify (const gchar *token, const gchar *jwks_name, gint64 now, guint leeway, GError **error)
{
	gsize jwks_len = 0;
	g_autofree gchar *jwks = fixture (jwks_name, &jwks_len);

	return da_jwt_verify_id_token (token, jwks, jwks_len, ISSUER, CLIENT, now, leeway, error);
}

static void
assert_refused (DaIdClaims *claims, const GError *error, const gchar *expect)
{
	g_assert_null (claims);
	g_assert_error (error, DA_ERROR, DA_ERROR_IDP_ERROR);
	if (strstr (error->message, expect) == NULL)
		g_error ("message \"%s\" lacks \"%s\"", error->message, expect);
}

static void
test_fixture (gconstpointer data)
{
	const FixtureCase *c = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(DaIdClaims) claims = NULL;
	g_autofree gchar *token = fixture_token (c->token);

	claims = verify (token, c->jwks, c->now, c->leeway, &error);
	if (c->sub == NULL) {
		assert_refused (claims, error, c->expect);
		/* never the token or its signature in a message */
		if (strrchr (token, '.')[1] != '\0')
			g_assert_null (strstr (error->message, strrchr (token, '.') + 1));
		g_assert_null (strstr (error->message, token));
		return;
	}
	g_assert_no_error (error);
	g_assert_nonnull (claims);
	g_assert_cmpstr (claims->sub, ==, c->sub);
}

static void
test_display_claims (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaIdClaims) claims = NULL;
	g_autofree gchar *token = fixture_token ("rs256.jwt");

	claims = verify (token, "jwks.json", NOW, LEEWAY, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (claims->sub, ==, "user-1234");
	g_assert_cmpstr (claims->preferred_username, ==, "zoe");
	g_assert_cmpstr (claims->name, ==, "Zo\xc3\xab Example");
	g_assert_cmpstr (claims->email, ==, "zoe@example.org");
	g_assert_cmpint (claims->exp, ==, FAR);
	g_assert_cmpint (claims->iat, ==, NOW - 10);
}

static void
test_display_claims_dropped (void)
{
	const gchar *names[] = {"bad-display.jwt", "min-claims.jwt"};

	for (gsize i = 0; i < G_N_ELEMENTS (names); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(DaIdClaims) claims = NULL;
		g_autofree gchar *token = fixture_token (names[i]);

		claims = verify (token, "jwks.json", NOW, LEEWAY, &error);
		g_assert_no_error (error);
		g_assert_cmpstr (claims->sub, ==, "user-1234");
		g_assert_null (claims->preferred_username);
		g_assert_null (claims->name);
		g_assert_null (claims->email);
	}
}

static void
test_sub_255 (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaIdClaims) claims = NULL;
	g_autofree gchar *token = fixture_token ("sub-255.jwt");

	claims = verify (token, "jwks.json", NOW, LEEWAY, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (strlen (claims->sub), ==, 255);
}

static void
test_times_with_fraction (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaIdClaims) claims = NULL;
	g_autofree gchar *token = fixture_token ("times-fraction.jwt");

	claims = verify (token, "jwks.json", NOW, LEEWAY, &error);
	g_assert_no_error (error);
	g_assert_cmpint (claims->exp, ==, FAR);
	g_assert_cmpint (claims->iat, ==, NOW - 11);
}

static gchar *
b64url (const gchar *text)
{
	gchar *s = g_base64_encode ((const guchar *) text, strlen (text));

	g_strdelimit (s, "+", '-');
	g_strdelimit (s, "/", '_');
	g_strdelimit (s, "=", '\0');
	return s;
}

static void
assert_malformed (const gchar *token, const gchar *jwks, gsize jwks_len, const gchar *expect)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaIdClaims) claims = NULL;

	claims =
		da_jwt_verify_id_token (token, jwks, jwks_len, ISSUER, CLIENT, NOW, LEEWAY, &error);
	assert_refused (claims, error, expect);
}

static void
test_malformed_token (void)
{
	gsize jwks_len = 0;
	g_autofree gchar *jwks = fixture ("jwks.json", &jwks_len);
	g_autofree gchar *good = fixture_token ("rs256.jwt");
	g_autofree gchar *four = g_strconcat (good, ".AAAA", NULL);
	g_autofree gchar *not_json = NULL;
	g_autofree gchar *array = NULL;
	g_autofree gchar *deep = NULL;
	g_autofree gchar *no_alg = NULL;
	g_autofree gchar *other_alg = NULL;
	g_autofree gchar *bad_kid = NULL;
	g_autofree gchar *huge = NULL;
	g_autofree gchar *h = NULL;
	const gchar *payload = strchr (good, '.');

	assert_malformed (NULL, jwks, jwks_len, "the IdP sent no ID token");
	assert_malformed ("", jwks, jwks_len, "not a compact JWS");
	assert_malformed ("abc", jwks, jwks_len, "not a compact JWS");
	assert_malformed ("a.b", jwks, jwks_len, "not a compact JWS");
	assert_malformed (four, jwks, jwks_len, "not a compact JWS");
	assert_malformed ("!!!!.e30.AAAA", jwks, jwks_len, "ID token header is not base64url");
	/* padding, the other alphabet ({"alg":"RS256","kid":"rsa1"} takes padding) */
	assert_malformed ("eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEifQ==.e30.AAAA", jwks, jwks_len,
			  "ID token header is not base64url");
	assert_malformed ("eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEifQ.e30.AA+A", jwks, jwks_len,
			  "ID token signature is not base64url");
	assert_malformed (".e30.AAAA", jwks, jwks_len, "ID token header is not JSON text");

	h = b64url ("not json");
	not_json = g_strconcat (h, payload, NULL);
	assert_malformed (not_json, jwks, jwks_len, "ID token header is not JSON");
	g_free (h);
	h = b64url ("[\"RS256\"]");
	array = g_strconcat (h, payload, NULL);
	assert_malformed (array, jwks, jwks_len, "ID token header is not a JSON object");
	g_free (h);
	h = b64url (
		"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}");
	deep = g_strconcat (h, payload, NULL);
	assert_malformed (deep, jwks, jwks_len, "ID token header is nested too deeply");
	g_free (h);
	h = b64url ("{\"typ\":\"JWT\",\"kid\":\"rsa1\"}");
	no_alg = g_strconcat (h, payload, NULL);
	assert_malformed (no_alg, jwks, jwks_len, "ID token header has no \"alg\"");
	g_free (h);
	h = b64url ("{\"alg\":\"RSA-OAEP\",\"kid\":\"rsa1\"}");
	other_alg = g_strconcat (h, payload, NULL);
	assert_malformed (other_alg, jwks, jwks_len, "ID token alg 'RSA-OAEP' is not supported");
	g_free (h);
	h = b64url ("{\"alg\":\"RS256\",\"kid\":\"rsa\\u0001\"}");
	bad_kid = g_strconcat (h, payload, NULL);
	assert_malformed (bad_kid, jwks, jwks_len,
			  "ID token header has a \"kid\" that is not a printable string");

	huge = g_malloc (DA_JWT_TOKEN_MAX + 2);
	memset (huge, 'A', DA_JWT_TOKEN_MAX + 1);
	huge[10] = '.';
	huge[20] = '.';
	huge[DA_JWT_TOKEN_MAX + 1] = '\0';
	assert_malformed (huge, jwks, jwks_len, "ID token is larger than 64 KiB");
}

static void
test_malformed_jwks (void)
{
	g_autofree gchar *token = fixture_token ("rs256.jwt");
	g_autofree gchar *no_kid = fixture_token ("rs256-no-kid.jwt");
	g_autoptr(GString) many = g_string_new ("{\"keys\":[");
	g_autoptr(GString) huge = g_string_new ("{\"keys\":[],\"x\":\"");

	assert_malformed (token, NULL, 0, "the IdP's JWKS is empty");
	assert_malformed (token, "", 0, "the IdP's JWKS is not JSON text");
	assert_malformed (token, "not json", 8, "the IdP's JWKS is not JSON: ");
	assert_malformed (token, "{\"keys\":[]", 10, "the IdP's JWKS is not JSON: ");
	assert_malformed (token, "[]", 2, "the IdP's JWKS is not a JSON object");
	assert_malformed (token, "{}", 2, "the IdP's JWKS has no \"keys\" array");
	assert_malformed (token, "{\"keys\":{}}", 11, "the IdP's JWKS has no \"keys\" array");
	assert_malformed (token, "{\"keys\":[1,null,\"x\",[]]}", 24,
			  "no key 'rsa1' in the IdP's JWKS");
	assert_malformed (token, "{\"keys\":[{\"kid\":\"rsa1\",\"kty\":\"RSA\"}]}", 37,
			  "key 'rsa1' of the IdP's JWKS has no \"n\"");
	assert_malformed (
		token,
		"{\"keys\":[{\"kid\":\"rsa1\",\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", 59,
		"key 'rsa1' of the IdP's JWKS is a 17-bit RSA key");
	assert_malformed (
		token,
		"{\"keys\":[{\"kid\":\"rsa1\",\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}\0",
		60, "the IdP's JWKS is not JSON text");
	assert_malformed (token, "{\"keys\":[],\"n\":123456789012345678901234567890}", 45,
			  "a number of more than 18 digits");

	/* 1000 keys; the token's is the last, beyond the ones looked at */
	for (guint i = 0; i < 1000; i++)
		g_string_append_printf (
			many, "{\"kty\":\"RSA\",\"kid\":\"k%u\",\"n\":\"AQAB\",\"e\":\"AQAB\"},",
			i);
	g_string_append (many,
			 "{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}");
	assert_malformed (token, many->str, many->len,
			  "no key 'rsa1' among the first 32 keys of the IdP's JWKS (it has 1001)");
	assert_malformed (no_kid, many->str, many->len,
			  "ID token names no key (kid) and the IdP's JWKS has 1001 keys");

	while (huge->len <= DA_JWT_JWKS_MAX)
		g_string_append (huge, "0123456789abcdef");
	g_string_append (huge, "\"}");
	assert_malformed (token, huge->str, huge->len,
			  "the IdP's JWKS is empty or larger than 256 KiB");
}

/* Every single-byte change of a good token is refused, without a crash. */
static void
test_mutations (void)
{
	gsize jwks_len = 0;
	g_autofree gchar *jwks = fixture ("jwks.json", &jwks_len);
	g_autofree gchar *good = fixture_token ("es256.jwt");
	gsize len = strlen (good);
	static const gchar replacements[] = {'A', '_', '.', '=', '\x01', '\xff'};

	for (gsize i = 0; i < len; i++) {
		for (gsize r = 0; r < G_N_ELEMENTS (replacements); r++) {
			g_autofree gchar *bad = g_strdup (good);
			g_autoptr(GError) error = NULL;
			g_autoptr(DaIdClaims) claims = NULL;

			if (bad[i] == replacements[r])
				continue;
			bad[i] = replacements[r];
			claims = da_jwt_verify_id_token (bad, jwks, jwks_len, ISSUER, CLIENT, NOW,
							 LEEWAY, &error);
			g_assert_null (claims);
			g_assert_error (error, DA_ERROR, DA_ERROR_IDP_ERROR);
		}
	}
}

/* for display only, when there is no JWKS: form and sub, nothing else */
static void
test_unverified_claims (void)
{
	g_autofree gchar *good = fixture_token ("rs256-tampered-payload.jwt");
	g_autofree gchar *none = fixture_token ("none.jwt");
	g_autofree gchar *no_sub = fixture_token ("no-sub.jwt");
	g_autofree gchar *with_nul = fixture_token ("iss-nul.jwt");
	g_autoptr(DaIdClaims) claims = NULL;
	g_autoptr(DaIdClaims) claims_none = NULL;

	claims = da_jwt_unverified_claims (good);
	g_assert_nonnull (claims);
	g_assert_cmpstr (claims->sub, ==, "admin");
	g_assert_cmpstr (claims->preferred_username, ==, "zoe");
	g_assert_cmpint (claims->exp, ==, FAR);
	claims_none = da_jwt_unverified_claims (none);
	g_assert_cmpstr (claims_none->sub, ==, "user-1234");
	g_assert_null (da_jwt_unverified_claims (no_sub));
	g_assert_null (da_jwt_unverified_claims (with_nul));
	g_assert_null (da_jwt_unverified_claims (NULL));
	g_assert_null (da_jwt_unverified_claims ("a.b"));
	g_assert_null (da_jwt_unverified_claims ("a.!.c"));
	g_assert_null (da_jwt_unverified_claims ("a.e30.c"));
}

/* A name or subject that would reorder what is around it on a screen
 * ("Signed in as …") is not taken: bidi overrides, isolates, marks, C1. */
static gchar *
unsigned_jwt (const gchar *payload)
{
	g_autofree gchar *b64 = g_base64_encode ((const guchar *) payload, strlen (payload));

	g_strdelimit (b64, "=", '\0');
	g_strdelimit (b64, "+", '-');
	g_strdelimit (b64, "/", '_');
	return g_strconcat ("eyJhbGciOiJub25lIn0.", b64, ".", NULL);
}

static void
test_unverified_claims_unsafe_text (void)
{
	const gchar *const unsafe[] = {"\xe2\x80\xae"
				       "eoz",
				       "zo\xe2\x81\xa7"
				       "e",
				       "zo\xe2\x80\x8f"
				       "e",
				       "zo\xc2\x85"
				       "e"};

	for (guint i = 0; i < G_N_ELEMENTS (unsafe); i++) {
		g_autofree gchar *name_doc = g_strdup_printf (
			"{\"sub\":\"user-1\",\"preferred_username\":\"%s\",\"name\":\"Zo\xc3\xab\"}",
			unsafe[i]);
		g_autofree gchar *sub_doc = g_strdup_printf ("{\"sub\":\"%s\"}", unsafe[i]);
		g_autofree gchar *name_jwt = unsigned_jwt (name_doc);
		g_autofree gchar *sub_jwt = unsigned_jwt (sub_doc);
		g_autoptr(DaIdClaims) claims = da_jwt_unverified_claims (name_jwt);

		g_assert_nonnull (claims);
		g_assert_cmpstr (claims->sub, ==, "user-1");
		g_assert_null (claims->preferred_username);
		/* other letters are text */
		g_assert_cmpstr (claims->name, ==, "Zo\xc3\xab");
		g_assert_null (da_jwt_unverified_claims (sub_jwt));
	}
}

static void
test_base64url (void)
{
	const struct {
		const gchar *in;
		const gchar *out;
	} good[] = {
		{"", ""},
		{"Zg", "f"},
		{"Zm8", "fo"},
		{"Zm9v", "foo"},
		{"Zm9vYg", "foob"},
		{"Zm9vYmE", "fooba"},
		{"Zm9vYmFy", "foobar"},
		{"-_8", "\xfb\xff"},
	};
	const gchar *bad[] = {
		"Z",		 /* a length that no bytes encode */
		"Zg==",		 /* padding */
		"Zm9v\n", "+/8", /* base64, not base64url */
		"Zh",		 /* unused bits set: "Zg" is the one encoding of "f" */
		"Zm9=",	  "Zm 9v",
	};

	for (gsize i = 0; i < G_N_ELEMENTS (good); i++) {
		gsize len = 99;
		g_autofree guchar *out =
			da_jwt_base64url_decode (good[i].in, strlen (good[i].in), &len);
		g_assert_nonnull (out);
		g_assert_cmpmem (out, len, good[i].out, strlen (good[i].out));
	}
	for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
		gsize len = 99;
		g_autofree guchar *out = da_jwt_base64url_decode (bad[i], strlen (bad[i]), &len);
		g_assert_null (out);
		g_assert_cmpuint (len, ==, 0);
	}
	/* a length, not a C string: the NUL inside is refused */
	{
		gsize len = 0;
		g_autofree guchar *out = da_jwt_base64url_decode ("Zm\0v", 4, &len);
		g_assert_null (out);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	for (gsize i = 0; i < G_N_ELEMENTS (fixture_cases); i++) {
		g_autofree gchar *path =
			g_strconcat ("/devauthd/jwt/", fixture_cases[i].path, NULL);
		g_test_add_data_func (path, &fixture_cases[i], test_fixture);
	}
	g_test_add_func ("/devauthd/jwt/display-claims", test_display_claims);
	g_test_add_func ("/devauthd/jwt/display-claims-dropped", test_display_claims_dropped);
	g_test_add_func ("/devauthd/jwt/sub-255-bytes", test_sub_255);
	g_test_add_func ("/devauthd/jwt/times-with-fraction-values", test_times_with_fraction);
	g_test_add_func ("/devauthd/jwt/malformed-token", test_malformed_token);
	g_test_add_func ("/devauthd/jwt/malformed-jwks", test_malformed_jwks);
	g_test_add_func ("/devauthd/jwt/mutations", test_mutations);
	g_test_add_func ("/devauthd/jwt/unverified-claims", test_unverified_claims);
	g_test_add_func ("/devauthd/jwt/unverified-claims-unsafe-text",
			 test_unverified_claims_unsafe_text);
	g_test_add_func ("/devauthd/jwt/base64url", test_base64url);
	return g_test_run ();
}
