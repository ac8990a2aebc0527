/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "da-qr.h"
#include "da-token.h"

static void
test_roundtrip (void)
{
	g_autoptr(DaToken) t = da_token_new ("eyJ.token-value", 1790000000, "Bearer",
					      "openid profile", "0c1d5f3e-alice");
	g_autoptr(DaSecret) data = NULL;
	g_autoptr(DaToken) back = NULL;
	g_autoptr(DaToken) copy = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = 0;

	da_token_set_name (t, "Alice Liddell ✓");
	da_token_set_clock (t, "0f6a2c1e-1b1d-4f6e-9a55-2d0c3f4b5a69", -86400123456,
			    "https://idp.example:8443");
	data = da_token_serialize (t, &len);
	g_assert_cmpuint (strlen (data), ==, len);
	back = da_token_parse (data, len, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (back->token, ==, "eyJ.token-value");
	g_assert_cmpint (back->expires_at, ==, 1790000000);
	g_assert_cmpstr (back->token_type, ==, "Bearer");
	g_assert_cmpstr (back->scope, ==, "openid profile");
	g_assert_cmpstr (back->subject, ==, "0c1d5f3e-alice");
	g_assert_cmpstr (back->name, ==, "Alice Liddell ✓");
	g_assert_cmpstr (back->boot_id, ==, "0f6a2c1e-1b1d-4f6e-9a55-2d0c3f4b5a69");
	g_assert_cmpint (back->clock_offset_us, ==, -86400123456);
	g_assert_cmpstr (back->clock_origin, ==, "https://idp.example:8443");
	copy = da_token_copy (back);
	g_assert_cmpstr (copy->name, ==, "Alice Liddell ✓");
	g_assert_cmpstr (copy->boot_id, ==, back->boot_id);
	g_assert_cmpint (copy->clock_offset_us, ==, back->clock_offset_us);

	/* on the system clock: no IdP named */
	da_token_set_clock (t, "0f6a2c1e-1b1d-4f6e-9a55-2d0c3f4b5a69", 1733600000000000, NULL);
	g_clear_pointer (&data, da_secret_free);
	g_clear_pointer (&back, da_token_free);
	data = da_token_serialize (t, &len);
	back = da_token_parse (data, len, &error);
	g_assert_no_error (error);
	g_assert_cmpint (back->clock_offset_us, ==, 1733600000000000);
	g_assert_null (back->clock_origin);
}

static void
test_optional_fields (void)
{
	g_autoptr(DaToken) t = da_token_new ("rt", 0, NULL, NULL, NULL);
	g_autoptr(DaSecret) data = NULL;
	g_autoptr(DaToken) back = NULL;
	gsize len = 0;

	data = da_token_serialize (t, &len);
	back = da_token_parse (data, len, NULL);
	g_assert_nonnull (back);
	g_assert_cmpstr (back->token, ==, "rt");
	g_assert_null (back->subject);
	g_assert_null (back->name);
	g_assert_cmpint (back->expires_at, ==, 0);
}

static void
test_bad_records (void)
{
	const gchar *cases[] = {
		"",
		"token=abc\n",
		"devauthd-token-1\nexpires-at=1\n",
		"devauthd-token-1\ntoken=abc",
		"devauthd-token-1\nexpires-at=-5\ntoken=abc\n",
		"devauthd-token-1\nsubject=a\x01\ntoken=abc\n",
		"devauthd-token-1\nclock=b00t\ntoken=abc\n",
		"devauthd-token-1\nclock=b00t 12x\ntoken=abc\n",
		"devauthd-token-1\nclock= 12\ntoken=abc\n",
	};

	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(DaToken) t = da_token_parse (cases[i], strlen (cases[i]), &error);
		g_assert_null (t);
		g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	}
}

static void
test_state (void)
{
	g_autoptr(DaToken) refresh = da_token_new ("rt-1", 0, NULL, NULL, "alice");
	g_autoptr(DaToken) access = da_token_new ("at-1", 1790000000, "Bearer", "openid", "alice");
	g_autoptr(DaSecret) packed = NULL;
	g_autoptr(GError) error = NULL;
	DaToken *r = NULL;
	DaToken *a = NULL;
	gsize len = 0;

	packed = da_token_pack_state (refresh, access, &len);
	g_assert_true (da_token_unpack_state (packed, len, &r, &a, &error));
	g_assert_no_error (error);
	g_assert_cmpstr (r->token, ==, "rt-1");
	g_assert_cmpstr (a->token, ==, "at-1");
	g_assert_cmpint (a->expires_at, ==, 1790000000);
	da_token_free (r);
	da_token_free (a);

	/* every truncation is refused or yields less, never garbage */
	for (gsize cut = 0; cut < len; cut++) {
		g_autoptr(GError) e = NULL;
		r = a = NULL;
		if (da_token_unpack_state (packed, cut, &r, &a, &e)) {
			g_assert_true (r == NULL || g_strcmp0 (r->token, "rt-1") == 0);
			g_assert_null (a);
		}
		da_token_free (r);
		da_token_free (a);
	}
	g_clear_pointer (&packed, da_secret_free);
	packed = da_token_pack_state (refresh, NULL, &len);
	g_assert_true (da_token_unpack_state (packed, len, &r, &a, &error));
	g_assert_nonnull (r);
	g_assert_null (a);
	da_token_free (r);
}

static void
test_secret_fingerprint (void)
{
	g_autofree gchar *a = da_secret_fingerprint ("token-a");
	g_autofree gchar *b = da_secret_fingerprint ("token-b");
	g_autofree gchar *none = da_secret_fingerprint (NULL);

	g_assert_true (g_str_has_prefix (a, "sha256:"));
	g_assert_cmpuint (strlen (a), ==, strlen ("sha256:") + 8);
	g_assert_cmpstr (a, !=, b);
	g_assert_null (strstr (a, "token"));
	g_assert_cmpstr (none, ==, "(none)");
}

static void
test_qr (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) modules = NULL;
	g_autoptr(GString) huge = g_string_new (NULL);
	const guint8 *m;
	guint size = 0;
	gsize len = 0;

	modules = da_qr_encode ("http://127.0.0.1:3000/device?user_code=BCDF-GHJK", &size, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (size, >=, 21);
	g_assert_cmpuint ((size - 17) % 4, ==, 0);
	m = g_bytes_get_data (modules, &len);
	g_assert_cmpuint (len, ==, size * size);
	/* the finder pattern: the top-left 7x7 has a dark border */
	for (guint i = 0; i < 7; i++) {
		g_assert_cmpuint (m[i], ==, 1);
		g_assert_cmpuint (m[i * size], ==, 1);
	}
	g_assert_cmpuint (m[1 * size + 1], ==, 0);
	for (gsize i = 0; i < len; i++)
		g_assert_cmpuint (m[i], <=, 1);

	for (guint i = 0; i < 2000; i++)
		g_string_append_c (huge, 'x');
	g_assert_null (da_qr_encode (huge->str, &size, NULL));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/devauthd/token/roundtrip", test_roundtrip);
	g_test_add_func ("/devauthd/token/optional-fields", test_optional_fields);
	g_test_add_func ("/devauthd/token/bad-records", test_bad_records);
	g_test_add_func ("/devauthd/token/state", test_state);
	g_test_add_func ("/devauthd/secret/fingerprint", test_secret_fingerprint);
	g_test_add_func ("/devauthd/qr/encode", test_qr);
	return g_test_run ();
}
