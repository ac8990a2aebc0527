/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "da-vault.h"

static const guint8 key_material[] = "0123456789abcdef0123456789abcdef-test-key";

typedef struct {
	gchar *dir;
	DaVault *vault;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->dir = g_dir_make_tmp ("devauthd-vault-XXXXXX", &error);
	g_assert_no_error (error);
	f->vault = da_vault_new (f->dir, key_material, sizeof key_material - 1, &error);
	g_assert_no_error (error);
}

static void
teardown (Fixture *f, gconstpointer data)
{
	g_autoptr(GDir) dir = g_dir_open (f->dir, 0, NULL);
	const gchar *name;

	while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
		g_autofree gchar *path = g_build_filename (f->dir, name, NULL);
		g_unlink (path);
	}
	g_rmdir (f->dir);
	g_free (f->dir);
	da_vault_free (f->vault);
}

static void
test_roundtrip (Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) back = NULL;
	g_autofree gchar *path = da_vault_path (f->vault, "tv");
	g_autofree gchar *tmp = g_strconcat (path, ".tmp", NULL);
	g_autofree gchar *raw = NULL;
	gsize raw_len = 0;
	struct stat st;

	g_assert_true (da_vault_store (f->vault, "tv", "refresh-token-secret", 20, &error));
	g_assert_no_error (error);
	g_assert_cmpint (stat (path, &st), ==, 0);
	g_assert_cmpint (st.st_mode & 0777, ==, 0600);
	g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
	/* nothing of the plaintext on disk */
	g_assert_true (g_file_get_contents (path, &raw, &raw_len, NULL));
	g_assert_null (g_strstr_len (raw, (gssize) raw_len, "refresh-token"));

	back = da_vault_load (f->vault, "tv", &error);
	g_assert_no_error (error);
	g_assert_cmpmem (back->data, back->len, "refresh-token-secret", 20);

	/* a second store replaces the first */
	g_assert_true (da_vault_store (f->vault, "tv", "rotated", 7, &error));
	g_clear_pointer (&back, g_byte_array_unref);
	back = da_vault_load (f->vault, "tv", &error);
	g_assert_cmpmem (back->data, back->len, "rotated", 7);

	g_assert_true (da_vault_remove (f->vault, "tv", &error));
	g_clear_pointer (&back, g_byte_array_unref);
	back = da_vault_load (f->vault, "tv", &error);
	g_assert_null (back);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

/* every flipped byte, every truncation, another account's name or another
 * key: refused, never plaintext */
static void
test_tamper (Fixture *f, gconstpointer data)
{
	const guint8 key[32] = {1, 2, 3};
	const guint8 other_key[32] = {9};
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) sealed = da_vault_seal (key, "tv", "secret", 6, &error);
	g_autoptr(GByteArray) ok = NULL;
	g_autoptr(GByteArray) wrong = NULL;

	g_assert_no_error (error);
	ok = da_vault_open (key, "tv", sealed->data, sealed->len, &error);
	g_assert_no_error (error);
	g_assert_cmpmem (ok->data, ok->len, "secret", 6);

	for (guint i = 0; i < sealed->len; i++) {
		g_autoptr(GError) e = NULL;
		g_autoptr(GByteArray) bad = NULL;
		sealed->data[i] ^= 0x40;
		bad = da_vault_open (key, "tv", sealed->data, sealed->len, &e);
		sealed->data[i] ^= 0x40;
		g_assert_null (bad);
		g_assert_error (e, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	}
	for (guint len = 0; len < sealed->len; len++) {
		g_autoptr(GError) e = NULL;
		g_autoptr(GByteArray) bad = da_vault_open (key, "tv", sealed->data, len, &e);
		g_assert_null (bad);
		g_assert_error (e, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	}
	wrong = da_vault_open (key, "kiosk", sealed->data, sealed->len, &error);
	g_assert_null (wrong);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error (&error);
	wrong = da_vault_open (other_key, "tv", sealed->data, sealed->len, &error);
	g_assert_null (wrong);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

/* a state file written by devauthd 0.1.0 (GnuTLS) with the fixture's key
 * material: the format and the key derivation did not change */
static void
test_old_file (Fixture *f, gconstpointer data)
{
	const gchar *plain = "{\"refresh_token\":\"old-format-refresh-token\",\"v\":1}";
	g_autofree gchar *src =
		g_test_build_filename (G_TEST_DIST, "data", "vault-v1-tv.state", NULL);
	g_autofree gchar *path = da_vault_path (f->vault, "tv");
	g_autofree gchar *other = da_vault_path (f->vault, "kiosk");
	g_autofree gchar *contents = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) back = NULL;
	g_autoptr(GByteArray) wrong = NULL;
	gsize len = 0;

	g_assert_true (g_file_get_contents (src, &contents, &len, &error));
	g_assert_no_error (error);
	g_assert_true (g_file_set_contents (path, contents, (gssize) len, &error));
	g_assert_no_error (error);
	back = da_vault_load (f->vault, "tv", &error);
	g_assert_no_error (error);
	g_assert_cmpmem (back->data, back->len, plain, strlen (plain));

	/* still bound to its account */
	g_assert_true (g_file_set_contents (other, contents, (gssize) len, &error));
	g_assert_no_error (error);
	wrong = da_vault_load (f->vault, "kiosk", &error);
	g_assert_null (wrong);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
test_short_key (void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaVault) vault =
		da_vault_new ("/nonexistent", (const guint8 *) "short", 5, &error);

	g_assert_null (vault);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

/* What others, or a crash, leave in the state directory: a FIFO, a link
 * or a 1 GiB file where a state file should be is refused at once (never
 * followed, never read, never waited on); stale temporary files, links and
 * FIFOs where earlier writes put their temporary file block no later
 * write and are cleaned up when the vault opens; a link's target is never
 * written. */
static void
test_hostile_files (Fixture *f, gconstpointer data)
{
	g_autofree gchar *path = da_vault_path (f->vault, "tv");
	g_autofree gchar *old_tmp = g_strconcat (path, ".tmp", NULL);
	g_autofree gchar *stale = g_strconcat (path, ".Ab12Cd.tmp", NULL);
	g_autofree gchar *victim = g_build_filename (f->dir, "victim", NULL);
	g_autofree gchar *victim_text = NULL;
	const struct {
		const gchar *what;
		const gchar *message;
	} cases[] = {
		{"fifo", "a FIFO, not a regular file"},
		{"link", "a symbolic link, which is not followed here"},
		{"huge", "larger than"},
	};

	g_assert_true (g_file_set_contents (victim, "precious", -1, NULL));
	for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GByteArray) back = NULL;

		g_unlink (path);
		if (i == 0) {
			g_assert_cmpint (mkfifo (path, 0600), ==, 0);
		} else if (i == 1) {
			g_assert_cmpint (symlink (victim, path), ==, 0);
		} else {
			FILE *file = fopen (path, "w");
			g_assert_nonnull (file);
			g_assert_cmpint (ftruncate (fileno (file), 1 << 30), ==, 0);
			fclose (file);
		}
		back = da_vault_load (f->vault, "tv", &error);
		g_assert_null (back);
		g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
		if (strstr (error->message, cases[i].message) == NULL ||
		    strstr (error->message, path) == NULL)
			g_error ("%s: %s", cases[i].what, error->message);
	}

	/* the temporary file of a write: a link to the victim, a FIFO, a
	 * directory; then a stale one of the new kind */
	g_assert_cmpint (symlink (victim, old_tmp), ==, 0);
	for (guint i = 0; i < 3; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GByteArray) back = NULL;
		g_autofree gchar *payload = g_strdup_printf ("state %u", i);

		if (i == 1) {
			g_unlink (old_tmp);
			g_assert_cmpint (mkfifo (old_tmp, 0600), ==, 0);
		} else if (i == 2) {
			g_unlink (old_tmp);
			g_assert_cmpint (g_mkdir (old_tmp, 0700), ==, 0);
		}
		g_assert_true (da_vault_store (f->vault, "tv", payload, strlen (payload), &error));
		g_assert_no_error (error);
		back = da_vault_load (f->vault, "tv", &error);
		g_assert_no_error (error);
		g_assert_cmpstr ((const gchar *) back->data, ==, payload);
	}
	g_assert_true (g_file_get_contents (victim, &victim_text, NULL, NULL));
	g_assert_cmpstr (victim_text, ==, "precious");

	/* a vault opened on the directory removes what writes left behind,
	 * but no directory and nothing a link points to */
	g_assert_cmpint (symlink (victim, stale), ==, 0);
	{
		g_autoptr(GError) error = NULL;
		DaVault *again =
			da_vault_new (f->dir, key_material, sizeof key_material - 1, &error);

		g_assert_no_error (error);
		da_vault_free (again);
	}
	g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS | G_FILE_TEST_IS_SYMLINK));
	g_assert_true (g_file_test (old_tmp, G_FILE_TEST_IS_DIR));
	g_assert_true (g_file_test (victim, G_FILE_TEST_IS_REGULAR));
	g_rmdir (old_tmp);
}

static GPtrArray *
journal_read (Fixture *f, const gchar *account)
{
	g_autoptr(GError) error = NULL;
	GPtrArray *records = da_vault_journal_read (f->vault, account, &error);

	g_assert_no_error (error);
	return records;
}

static void
assert_record (GPtrArray *records, guint i, const gchar *text)
{
	GByteArray *record;

	g_assert_cmpuint (records->len, >, i);
	record = g_ptr_array_index (records, i);
	g_assert_cmpmem (record->data, record->len, text, strlen (text));
}

/* The journal of a refresh: its records come back in order, sealed (no
 * plaintext on disk), bound to the account; a record cut short or
 * tampered with ends the list, the records before it stay; ended with
 * @remove it is gone, without it stays. */
static void
test_journal (Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_build_filename (f->dir, "tv.journal", NULL);
	g_autofree gchar *other = g_build_filename (f->dir, "radio.journal", NULL);
	g_autofree gchar *raw = NULL;
	gsize raw_len = 0;
	DaVaultJournal *journal;
	GPtrArray *records;
	struct stat st;

	records = da_vault_journal_read (f->vault, "tv", &error);
	g_assert_null (records);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error (&error);

	journal = da_vault_journal_begin (f->vault, "tv", "in-flight", 9, &error);
	g_assert_no_error (error);
	g_assert_cmpint (stat (path, &st), ==, 0);
	g_assert_cmpint (st.st_mode & 0777, ==, 0600);
	records = journal_read (f, "tv");
	g_assert_cmpuint (records->len, ==, 1);
	assert_record (records, 0, "in-flight");
	g_ptr_array_unref (records);

	g_assert_true (da_vault_journal_append (journal, "rotated-refresh-token", 21, &error));
	g_assert_no_error (error);
	records = journal_read (f, "tv");
	g_assert_cmpuint (records->len, ==, 2);
	assert_record (records, 1, "rotated-refresh-token");
	g_ptr_array_unref (records);
	g_assert_true (g_file_get_contents (path, &raw, &raw_len, NULL));
	g_assert_null (g_strstr_len (raw, (gssize) raw_len, "rotated"));
	g_assert_null (g_strstr_len (raw, (gssize) raw_len, "in-flight"));

	/* at most DA_VAULT_JOURNAL_RECORDS_MAX records */
	g_assert_true (da_vault_journal_append (journal, "3", 1, &error));
	g_assert_true (da_vault_journal_append (journal, "4", 1, &error));
	g_assert_false (da_vault_journal_append (journal, "5", 1, &error));
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
	g_clear_error (&error);
	da_vault_journal_end (journal, FALSE);
	g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));

	/* another account's name does not open it */
	g_assert_cmpint (rename (path, other), ==, 0);
	records = journal_read (f, "radio");
	g_assert_cmpuint (records->len, ==, 0);
	g_ptr_array_unref (records);
	g_assert_cmpint (rename (other, path), ==, 0);

	/* cut short in its second record (a power cut in the write): the
	 * first stays */
	g_assert_cmpint (truncate (path, (off_t) raw_len - 3), ==, 0);
	records = journal_read (f, "tv");
	g_assert_cmpuint (records->len, ==, 1);
	assert_record (records, 0, "in-flight");
	g_ptr_array_unref (records);

	/* tampered with in its first record: nothing */
	raw[20] ^= 1;
	g_assert_true (g_file_set_contents (path, raw, (gssize) raw_len, NULL));
	records = journal_read (f, "tv");
	g_assert_cmpuint (records->len, ==, 0);
	g_ptr_array_unref (records);

	/* a new journal replaces whatever is there, never follows a link,
	 * and is removed at its end */
	g_unlink (path);
	g_assert_cmpint (symlink (other, path), ==, 0);
	g_assert_true (g_file_set_contents (other, "precious", -1, NULL));
	journal = da_vault_journal_begin (f->vault, "tv", "again", 5, &error);
	g_assert_no_error (error);
	g_assert_false (g_file_test (path, G_FILE_TEST_IS_SYMLINK));
	records = journal_read (f, "tv");
	g_assert_cmpuint (records->len, ==, 1);
	assert_record (records, 0, "again");
	g_ptr_array_unref (records);
	da_vault_journal_end (journal, TRUE);
	g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
	g_clear_pointer (&raw, g_free);
	g_assert_true (g_file_get_contents (other, &raw, NULL, NULL));
	g_assert_cmpstr (raw, ==, "precious");

	/* a FIFO in its place is neither read nor in the way */
	g_assert_cmpint (mkfifo (path, 0600), ==, 0);
	records = da_vault_journal_read (f->vault, "tv", &error);
	g_assert_null (records);
	g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
	g_assert_nonnull (strstr (error->message, "FIFO"));
	g_clear_error (&error);
	journal = da_vault_journal_begin (f->vault, "tv", "fifo gone", 9, &error);
	g_assert_no_error (error);
	da_vault_journal_end (journal, TRUE);
	da_vault_journal_remove (f->vault, "tv");
	g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

/* A storage key that others may read is not used: the error names the
 * file and its mode. */
static void
test_key_file_mode (void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp ("devauthd-vault-XXXXXX", &error);
	g_autofree gchar *key = g_build_filename (dir, "storage-key", NULL);
	DaVault *vault;

	g_assert_no_error (error);
	g_assert_true (g_file_set_contents (key, (const gchar *) key_material, -1, NULL));
	for (guint i = 0; i < 3; i++) {
		const guint modes[] = {0644, 0640, 0602};
		g_autofree gchar *expected = g_strdup_printf ("(mode %04o)", modes[i]);

		g_assert_cmpint (g_chmod (key, modes[i]), ==, 0);
		vault = da_vault_new_from_key_file (dir, key, &error);
		g_assert_null (vault);
		g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_assert_nonnull (strstr (error->message, key));
		g_assert_nonnull (strstr (error->message, expected));
		g_clear_error (&error);
	}
	g_assert_cmpint (g_chmod (key, 0400), ==, 0);
	vault = da_vault_new_from_key_file (dir, key, &error);
	g_assert_no_error (error);
	da_vault_free (vault);
	g_unlink (key);
	g_rmdir (dir);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add ("/devauthd/vault/roundtrip", Fixture, NULL, setup, test_roundtrip, teardown);
	g_test_add ("/devauthd/vault/tamper", Fixture, NULL, setup, test_tamper, teardown);
	g_test_add ("/devauthd/vault/old-file", Fixture, NULL, setup, test_old_file, teardown);
	g_test_add_func ("/devauthd/vault/short-key", test_short_key);
	g_test_add ("/devauthd/vault/hostile-files", Fixture, NULL, setup, test_hostile_files,
		    teardown);
	g_test_add_func ("/devauthd/vault/key-file-mode", test_key_file_mode);
	g_test_add ("/devauthd/vault/journal", Fixture, NULL, setup, test_journal, teardown);
	return g_test_run ();
}
