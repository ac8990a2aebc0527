/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* client/devauthctl-varlink.c: devauthctl's Varlink request and reply */
#include "config.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "devauthctl-varlink.h"

#define GET_TOKEN "{\"method\":\"org.devauth.DeviceAuth1.GetToken\",\"parameters\":"

/* parses a copy (the parser writes into its buffer) */
static DaReplyKind
parse_len (const gchar *json, gsize len, DaReply *reply, gchar **copy)
{
	*copy = g_memdup2 (json, len + 1);
	return da_json_reply_parse (*copy, len, reply);
}

static DaReplyKind
parse (const gchar *json, DaReply *reply, gchar **copy)
{
	return parse_len (json, strlen (json), reply, copy);
}

static void
assert_token (const gchar *json, const gchar *token, gsize token_len)
{
	g_autofree gchar *copy = NULL;
	DaReply reply;

	g_assert_cmpint (parse (json, &reply, &copy), ==, DA_REPLY_TOKEN);
	g_assert_cmpmem (reply.token, reply.token_len, token, token_len);
	g_assert_null (reply.error);
}

static void
assert_malformed_len (const gchar *json, gsize len)
{
	g_autofree gchar *copy = NULL;
	DaReply reply;

	if (parse_len (json, len, &reply, &copy) != DA_REPLY_MALFORMED)
		g_error ("not malformed: %.*s", (int) len, json);
}

static void
assert_malformed (const gchar *json)
{
	assert_malformed_len (json, strlen (json));
}

static void
test_token (void)
{
	assert_token ("{\"parameters\":{\"token\":\"eyJ.abc\",\"expiresAt\":1790000000,"
		      "\"tokenType\":\"Bearer\",\"scope\":\"openid profile\"}}",
		      "eyJ.abc", 7);
	/* other orders, other keys, whitespace */
	assert_token ("{\"parameters\":{\"scope\":\"openid\",\"expiresAt\":1,\"token\":\"t1\"}}",
		      "t1", 2);
	assert_token ("{\"continues\":false,\"parameters\":{\"token\":\"t2\"}}", "t2", 2);
	assert_token (
		" \r\n\t{ \"parameters\" :\n{ \"token\" : \"t3\" ,\"tokenType\":\"Bearer\" } }\n ",
		"t3", 2);
	/* unknown members of any type are skipped, however nested */
	assert_token ("{\"x\":[1,{\"y\":[true,false,null,-1.5e+10,\"}]\\\"\"]},[]],\"z\":{},"
		      "\"parameters\":{\"extra\":{\"a\":[[{}],{\"token\":5}]},\"n\":null,"
		      "\"token\":\"t4\",\"message\":\"ignored\"},\"w\":\"\"}",
		      "t4", 2);
	/* the token's own bytes, 0x20 to 0x7e, all of them */
	assert_token ("{\"parameters\":{\"token\":\" !\\\"#~\"}}", " !\"#~", 5);
	/* an empty token is devauthctl's to refuse, not the parser's */
	assert_token ("{\"parameters\":{\"token\":\"\"}}", "", 0);
}

static void
test_error (void)
{
	g_autofree gchar *c1 = NULL;
	g_autofree gchar *c2 = NULL;
	g_autofree gchar *c3 = NULL;
	g_autofree gchar *c4 = NULL;
	DaReply reply;

	g_assert_cmpint (parse ("{\"error\":\"org.devauth.DeviceAuth1.NotSignedIn\",\"parameters\":"
				"{\"message\":\"account 'x' is not signed in\"}}",
				&reply, &c1),
			 ==, DA_REPLY_ERROR);
	g_assert_cmpmem (reply.error, reply.error_len, "org.devauth.DeviceAuth1.NotSignedIn", 35);
	g_assert_cmpmem (reply.message, reply.message_len, "account 'x' is not signed in", 28);

	/* parameters first; an error wins over a token */
	g_assert_cmpint (parse ("{\"parameters\":{\"message\":\"m\",\"token\":\"t\"},"
				"\"error\":\"org.devauth.DeviceAuth1.Internal\"}",
				&reply, &c2),
			 ==, DA_REPLY_ERROR);
	g_assert_cmpmem (reply.message, reply.message_len, "m", 1);

	/* Varlink's own errors carry other parameters, or none */
	g_assert_cmpint (parse ("{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":"
				"{\"method\":\"org.devauth.DeviceAuth1.GetToken\"}}",
				&reply, &c3),
			 ==, DA_REPLY_ERROR);
	g_assert_null (reply.message);
	g_assert_cmpint (parse ("{\"error\":\"org.varlink.service.ExpectedMore\"}", &reply, &c4),
			 ==, DA_REPLY_ERROR);
	g_assert_cmpmem (reply.error, reply.error_len, "org.varlink.service.ExpectedMore", 32);
	g_assert_null (reply.message);
}

static void
test_escapes (void)
{
	g_autofree gchar *copy = NULL;
	DaReply reply;

	assert_token ("{\"parameters\":{\"token\":\"a\\/b\\\\c\\\"d\"}}", "a/b\\c\"d", 7);
	assert_token ("{\"parameters\":{\"token\":\"\\b\\f\\n\\r\\t\"}}", "\b\f\n\r\t", 5);
	assert_token ("{\"parameters\":{\"token\":\"caf\\u00e9 \\u00E9\"}}", "caf\xc3\xa9 \xc3\xa9",
		      8);
	assert_token ("{\"parameters\":{\"token\":\"\\u0041\\u20ac\"}}", "A\xe2\x82\xac", 4);
	/* a surrogate pair: one code point, four bytes */
	assert_token ("{\"parameters\":{\"token\":\"<\\ud83d\\ude00>\"}}", "<\xf0\x9f\x98\x80>", 6);
	assert_token ("{\"parameters\":{\"token\":\"\\uDBFF\\uDFFF\"}}", "\xf4\x8f\xbf\xbf", 4);
	/* NUL is data, hence the lengths */
	assert_token ("{\"parameters\":{\"token\":\"a\\u0000b\"}}", "a\0b", 3);
	/* raw UTF-8, and raw bytes that are not (devauthctl prints them as \xNN) */
	assert_token ("{\"parameters\":{\"token\":\"\xc3\xa9\xff\"}}", "\xc3\xa9\xff", 3);

	/* strings are unescaped where they were */
	g_assert_cmpint (parse ("{\"parameters\":{\"token\":\"x\\u00e9\"}}", &reply, &copy), ==,
			 DA_REPLY_TOKEN);
	g_assert_true (reply.token > copy &&
		       reply.token < copy + strlen ("{\"parameters\":{\"token\":\"x"));

	assert_malformed ("{\"parameters\":{\"token\":\"\\x41\"}}");
	assert_malformed ("{\"parameters\":{\"token\":\"\\U00e9\"}}");
	assert_malformed ("{\"parameters\":{\"token\":\"\\u00e\"}}");
	assert_malformed ("{\"parameters\":{\"token\":\"\\u00eg\"}}");
	assert_malformed ("{\"parameters\":{\"token\":\"\\ud800\"}}");
	assert_malformed ("{\"parameters\":{\"token\":\"\\ud800x\"}}");
	assert_malformed ("{\"parameters\":{\"token\":\"\\ud800\\u0041\"}}");
	assert_malformed ("{\"parameters\":{\"token\":\"\\ud800\\ud800\"}}");
	assert_malformed ("{\"parameters\":{\"token\":\"\\udc00\"}}");
	assert_malformed ("{\"parameters\":{\"token\":\"\\ude00\\ud83d\"}}");
	assert_malformed ("{\"parameters\":{\"token\":\"a\tb\"}}"); /* raw control character */
	assert_malformed ("{\"parameters\":{\"token\":\"a\nb\"}}");
	assert_malformed ("{\"parameters\":{\"token\":\"\\\"}}");
	/* in keys and skipped values too */
	assert_malformed ("{\"x\":\"\\q\",\"parameters\":{\"token\":\"t\"}}");
	assert_malformed ("{\"\\u12\":1,\"parameters\":{\"token\":\"t\"}}");
	assert_token ("{\"\\u0070arameters\":{\"tok\\u0065n\":\"t\"}}", "t", 1);
}

static void
test_truncated (void)
{
	const gchar *replies[] = {
		"{\"parameters\":{\"token\":\"eyJ\\u00e9.x\",\"expiresAt\":1790000000,"
		"\"tokenType\":\"Bearer\",\"scope\":\"openid\",\"x\":[true,null,{\"y\":-1.5e3}]}}",
		"{\"error\":\"org.devauth.DeviceAuth1.NotSignedIn\",\"parameters\":"
		"{\"message\":\"account 'x' is not signed in\"}}",
	};

	for (gsize i = 0; i < G_N_ELEMENTS (replies); i++) {
		gsize len = strlen (replies[i]);

		for (gsize cut = 0; cut < len; cut++)
			assert_malformed_len (replies[i], cut);
	}
}

static void
test_garbage (void)
{
	const gchar *cases[] = {
		"",
		" ",
		"null",
		"[]",
		"\"token\"",
		"{}",
		"{\"parameters\":{}}",
		"{\"parameters\":[]}",
		"{\"parameters\":\"x\"}",
		"{\"parameters\":null}",
		"{\"parameters\":{\"token\":\"t\"}}x",
		"{\"parameters\":{\"token\":\"t\"}}{}",
		"{\"parameters\":{\"token\":\"t\"}},",
		"{\"parameters\":{\"token\":\"t\"}}\"",
		"{\"parameters\":{\"token\":\"t\"},}",
		"{\"parameters\":{\"token\":\"t\",}}",
		"{,\"parameters\":{\"token\":\"t\"}}",
		"{\"parameters\":{\"token\" \"t\"}}",
		"{\"parameters\":{\"token\":\"t\" \"x\":1}}",
		"{\"parameters\":{token:\"t\"}}",
		"{'parameters':{'token':'t'}}",
		"{\"x\":[1,],\"parameters\":{\"token\":\"t\"}}",
		"{\"x\":[,1],\"parameters\":{\"token\":\"t\"}}",
		"{\"x\":[1 2],\"parameters\":{\"token\":\"t\"}}",
		"{\"x\":tru,\"parameters\":{\"token\":\"t\"}}",
		"{\"x\":nul,\"parameters\":{\"token\":\"t\"}}",
		"{\"x\":True,\"parameters\":{\"token\":\"t\"}}",
		"{\"x\":undefined,\"parameters\":{\"token\":\"t\"}}",
		/* a token that is not a string */
		"{\"parameters\":{\"token\":5}}",
		"{\"parameters\":{\"token\":null}}",
		"{\"parameters\":{\"token\":true}}",
		"{\"parameters\":{\"token\":[\"t\"]}}",
		"{\"parameters\":{\"token\":{\"value\":\"t\"}}}",
		/* nor an error name, nor a message */
		"{\"error\":1}",
		"{\"error\":null,\"parameters\":{\"token\":\"t\"}}",
		"{\"error\":\"\"}",
		"{\"error\":\"org.devauth.DeviceAuth1.Internal\",\"parameters\":{\"message\":7}}",
		/* the same member twice */
		"{\"parameters\":{\"token\":\"t\",\"token\":\"u\"}}",
		"{\"parameters\":{\"token\":\"t\"},\"parameters\":{\"token\":\"u\"}}",
		"{\"error\":\"a.B\",\"error\":\"a.C\"}",
		"{\"error\":\"a.B\",\"parameters\":{\"message\":\"m\",\"message\":\"n\"}}",
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
		assert_malformed (cases[i]);
}

static void
test_numbers (void)
{
	const gchar *good[] = {
		"0",
		"-0",
		"1790000000",
		"-1",
		"0.5",
		"-0.0e-0",
		"1E+2",
		"1e-2",
		"123456789012345678901234567890123456789012345678901234567890",
		"1e999999999",
		"-1.7976931348623157e309",
	};
	const gchar *bad[] = {
		"01",  "-01",  "1.",  ".5",	  "+1",	  "-",	 "1e",
		"1e+", "0x10", "NaN", "Infinity", "1.e3", "--1", "1-",
	};

	for (gsize i = 0; i < G_N_ELEMENTS (good); i++) {
		g_autofree gchar *json = g_strdup_printf (
			"{\"parameters\":{\"expiresAt\":%s,\"token\":\"t\"}}", good[i]);
		assert_token (json, "t", 1);
	}
	for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autofree gchar *json = g_strdup_printf (
			"{\"parameters\":{\"expiresAt\":%s,\"token\":\"t\"}}", bad[i]);
		assert_malformed (json);
	}
}

/* a member "x" of @depth arrays, each holding the next */
static gchar *
nested (guint depth)
{
	GString *s = g_string_new ("{\"parameters\":{\"token\":\"t\"},\"x\":");

	for (guint i = 0; i < depth; i++)
		g_string_append_c (s, '[');
	for (guint i = 0; i < depth; i++)
		g_string_append_c (s, ']');
	g_string_append_c (s, '}');
	return g_string_free (s, FALSE);
}

static void
test_depth (void)
{
	g_autofree gchar *ok = nested (32);
	g_autofree gchar *deep = nested (33);
	g_autofree gchar *huge = nested (1000000);
	g_autofree gchar *objects = NULL;
	GString *s;

	assert_token (ok, "t", 1);
	assert_malformed (deep);
	/* no stack overflow, however deep */
	assert_malformed (huge);

	/* objects count as well */
	s = g_string_new ("{\"parameters\":{\"token\":\"t\"},\"x\":");
	for (guint i = 0; i < 40; i++)
		g_string_append (s, "{\"a\":");
	g_string_append (s, "1");
	for (guint i = 0; i < 40; i++)
		g_string_append_c (s, '}');
	g_string_append_c (s, '}');
	objects = g_string_free (s, FALSE);
	assert_malformed (objects);
}

/* ---- the request ---- */

static gchar *
build (const gchar *account, gint64 min_validity, gsize *len)
{
	gchar buf[1024];

	*len = da_json_request_build (buf, sizeof (buf), account, min_validity);
	if (*len == 0)
		return NULL;
	g_assert_cmpint (buf[*len - 1], ==, '\0');
	g_assert_cmpuint (strlen (buf), ==, *len - 1);
	return g_strdup (buf);
}

static void
assert_request (const gchar *account, gint64 min_validity, const gchar *expected)
{
	gsize len;
	g_autofree gchar *req = build (account, min_validity, &len);

	g_assert_cmpstr (req, ==, expected);
}

static void
test_request (void)
{
	assert_request (NULL, -1, GET_TOKEN "{}}");
	assert_request ("", -1, GET_TOKEN "{}}");
	assert_request ("alice", -1, GET_TOKEN "{\"account\":\"alice\"}}");
	assert_request (NULL, 0, GET_TOKEN "{\"minValidity\":0}}");
	assert_request ("tv", 600, GET_TOKEN "{\"account\":\"tv\",\"minValidity\":600}}");
	assert_request ("", 4294967295LL, GET_TOKEN "{\"minValidity\":4294967295}}");
	assert_request ("a\"b\\c/d\n\t\x01\x1f\x7f"
			"caf\xc3\xa9\xf0\x9f\x98\x80",
			1,
			GET_TOKEN "{\"account\":\"a\\\"b\\\\c/d\\u000a\\u0009\\u0001\\u001f\\u007f"
				  "caf\xc3\xa9\xf0\x9f\x98\x80\",\"minValidity\":1}}");
}

/* What devauthd reads back is what was given, whatever it is. */
static void
test_request_roundtrip (void)
{
	const gchar *accounts[] = {
		"alice", "\"",	     "\\",	     "\\\"",	     "\\u0041",
		"'",	 "a b",	     "}}",	     "\x01\x02\x03", "\n\r\t\b\f",
		"\x7f",	 "\xc2\x85", "\xe2\x80\xa8", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf",
		"-",	 "--help",
	};

	for (gsize i = 0; i < G_N_ELEMENTS (accounts); i++) {
		g_autoptr(JsonParser) parser = json_parser_new ();
		g_autoptr(GError) error = NULL;
		gsize len;
		g_autofree gchar *req = build (accounts[i], 42, &len);
		JsonObject *root;
		JsonObject *params;

		g_assert_nonnull (req);
		g_assert_true (json_parser_load_from_data (parser, req, (gssize) len - 1, &error));
		g_assert_no_error (error);
		root = json_node_get_object (json_parser_get_root (parser));
		g_assert_cmpstr (json_object_get_string_member (root, "method"), ==,
				 "org.devauth.DeviceAuth1.GetToken");
		params = json_object_get_object_member (root, "parameters");
		g_assert_cmpstr (json_object_get_string_member (params, "account"), ==,
				 accounts[i]);
		g_assert_cmpint (json_object_get_int_member (params, "minValidity"), ==, 42);
		g_assert_cmpuint (json_object_get_size (params), ==, 2);
	}
}

static void
test_request_refused (void)
{
	const gchar *not_utf8[] = {
		"\xff",	    "a\x80",	    "\xc0\xaf",		"\xc3",
		"\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80",
	};
	gchar buf[256];
	gsize len;

	for (gsize i = 0; i < G_N_ELEMENTS (not_utf8); i++)
		g_assert_cmpuint (da_json_request_build (buf, sizeof (buf), not_utf8[i], -1), ==,
				  0);

	/* exactly as long as the buffer, then one byte short */
	len = da_json_request_build (buf, sizeof (buf), "alice", 5);
	g_assert_cmpuint (len, >, 0);
	g_assert_cmpuint (da_json_request_build (buf, len, "alice", 5), ==, len);
	g_assert_cmpuint (da_json_request_build (buf, len - 1, "alice", 5), ==, 0);
	g_assert_cmpuint (da_json_request_build (buf, 0, NULL, -1), ==, 0);
}

/* ---- UTF-8, as the sanitizer of messages reads it ---- */

static void
assert_utf8_like_glib (const gchar *s, gsize len)
{
	gunichar g = g_utf8_get_char_validated (s, (gssize) len);
	uint32_t cp = 0;
	gsize n = da_utf8_next (s, len, &cp);

	if (g == (gunichar) -1 || g == (gunichar) -2) {
		g_assert_cmpuint (n, ==, 0);
		return;
	}
	g_assert_cmpuint (n, ==, (gsize) (g_utf8_next_char (s) - s));
	g_assert_cmpuint (cp, ==, g);
}

static void
test_utf8 (void)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed (20240601);
	guchar buf[4];

	/* every first and second byte, with continuation-looking tails */
	for (guint a = 1; a < 256; a++) {
		for (guint b = 0; b < 256; b++) {
			buf[0] = (guchar) a;
			buf[1] = (guchar) b;
			buf[2] = 0x80 | (b & 0x3f);
			buf[3] = 0xbf;
			for (gsize len = 1; len <= 4; len++)
				assert_utf8_like_glib ((const gchar *) buf, len);
		}
	}
	for (guint i = 0; i < 200000; i++) {
		guint32 r = g_rand_int (rand);

		memcpy (buf, &r, 4);
		if (buf[0] == 0)
			continue;
		assert_utf8_like_glib ((const gchar *) buf, 4);
	}
}

static void
gstring_sink (void *data, const char *bytes, size_t len)
{
	g_string_append_len (data, bytes, len);
}

/* common/da-json-string.c, the escaper of both hand-written JSON writers:
 * every byte string that is UTF-8 comes out as printable JSON that
 * json-glib reads back to the same string; the rest is refused, or each bad
 * byte replaced by U+FFFD. */
static void
test_escape (void)
{
	static const char *const valid[] = {
		"",
		"plain",
		"a\"b\\c",
		"\x01\x1f\x7f\n\t",
		"caf\xc3\xa9",
		"\xf0\x9f\x98\x80",
		"\xef\xbf\xbf",
		"\xe2\x80\xa8",
		"eyJhbGciOiJSUzI1NiJ9.e30.sig-_",
	};
	static const struct {
		const char *s;
		const char *replaced;
	} invalid[] = {
		{"ab\xff", "ab\xef\xbf\xbd"},
		{"\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd"},
		{"x\xed\xa0\x80y", "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy"},
		{"\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"},
	};

	for (guint i = 0; i < G_N_ELEMENTS (valid) + G_N_ELEMENTS (invalid); i++) {
		gboolean is_valid = i < G_N_ELEMENTS (valid);
		const char *in = is_valid ? valid[i] : invalid[i - G_N_ELEMENTS (valid)].s;
		const char *expected = is_valid ? in : invalid[i - G_N_ELEMENTS (valid)].replaced;
		g_autoptr(GString) json = g_string_new ("\"");
		g_autoptr(GString) refused = g_string_new (NULL);
		g_autoptr(JsonParser) parser = json_parser_new ();
		g_autoptr(GError) error = NULL;

		g_assert_true (da_json_write_string (in, strlen (in), true, gstring_sink, json));
		g_assert_cmpint (
			da_json_write_string (in, strlen (in), false, gstring_sink, refused), ==,
			is_valid);
		g_string_append_c (json, '"');
		for (gsize k = 0; k < json->len; k++)
			g_assert_true ((unsigned char) json->str[k] >= 0x20 &&
				       json->str[k] != 0x7f);
		g_assert_true (json_parser_load_from_data (parser, json->str, json->len, &error));
		g_assert_no_error (error);
		g_assert_cmpstr (json_node_get_string (json_parser_get_root (parser)), ==,
				 expected);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/devauthctl-varlink/reply/token", test_token);
	g_test_add_func ("/devauthctl-varlink/reply/error", test_error);
	g_test_add_func ("/devauthctl-varlink/reply/escapes", test_escapes);
	g_test_add_func ("/devauthctl-varlink/reply/truncated", test_truncated);
	g_test_add_func ("/devauthctl-varlink/reply/garbage", test_garbage);
	g_test_add_func ("/devauthctl-varlink/reply/numbers", test_numbers);
	g_test_add_func ("/devauthctl-varlink/reply/depth", test_depth);
	g_test_add_func ("/devauthctl-varlink/request/build", test_request);
	g_test_add_func ("/devauthctl-varlink/request/roundtrip", test_request_roundtrip);
	g_test_add_func ("/devauthctl-varlink/request/refused", test_request_refused);
	g_test_add_func ("/utf8/like-glib", test_utf8);
	g_test_add_func ("/json-string/escape", test_escape);
	return g_test_run ();
}
