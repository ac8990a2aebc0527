/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <nettle/gcm.h>
#include <nettle/hkdf.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "da-file.h"
#include "da-vault.h"

/* file: magic (8) | nonce (12) | ciphertext | tag (16)
 * AES-256-GCM (nettle; the format GnuTLS wrote before, byte for byte) */
#define DA_VAULT_MAGIC	   "DAVAULT1"
#define DA_VAULT_MAGIC_LEN 8
#define DA_VAULT_NONCE_LEN GCM_IV_SIZE
#define DA_VAULT_TAG_LEN   GCM_DIGEST_SIZE
#define DA_VAULT_KEY_LEN   32
#define DA_VAULT_AD_PREFIX "devauthd-vault-1:"
#define DA_VAULT_FILE_MAX                                                                          \
	(DA_VAULT_MAGIC_LEN + DA_VAULT_NONCE_LEN + DA_VAULT_PLAINTEXT_MAX + DA_VAULT_TAG_LEN)
#define DA_VAULT_KEY_FILE_MAX	4096
#define DA_VAULT_TMP_SUFFIX	".tmp"
#define DA_VAULT_JOURNAL_SUFFIX ".journal"
/* a journal record: its length (4 bytes, big endian), then it sealed */
#define DA_VAULT_JOURNAL_FRAME_LEN 4
#define DA_VAULT_JOURNAL_FILE_MAX                                                                  \
	(DA_VAULT_JOURNAL_RECORDS_MAX * (DA_VAULT_JOURNAL_FRAME_LEN + DA_VAULT_FILE_MAX))
#define DA_VAULT_HKDF_SALT "devauthd"
#define DA_VAULT_HKDF_INFO "devauthd storage key v1"

G_STATIC_ASSERT (DA_VAULT_KEY_LEN == AES256_KEY_SIZE);
G_STATIC_ASSERT (DA_VAULT_KEY_LEN == SHA256_DIGEST_SIZE);

struct _DaVault {
	gchar *dir;
	guint8 key[DA_VAULT_KEY_LEN];
};

static gchar *
associated_data (const gchar *account)
{
	return g_strconcat (DA_VAULT_AD_PREFIX, account, NULL);
}

/* a GCM context keyed, with its nonce and the associated data for @account;
 * the caller wipes it (it holds the expanded key) */
static void
cipher_init (struct gcm_aes256_ctx *ctx,
	     const guint8 key[32],
	     const guint8 *nonce,
	     const gchar *account)
{
	g_autofree gchar *ad = associated_data (account);

	gcm_aes256_set_key (ctx, key);
	gcm_aes256_set_iv (ctx, DA_VAULT_NONCE_LEN, nonce);
	gcm_aes256_update (ctx, strlen (ad), (const guint8 *) ad);
}

static gboolean
random_nonce (guint8 *nonce, gsize len, GError **error)
{
	while (len > 0) {
		gssize n = getrandom (nonce, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int errsv = errno;
			g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
				     "cannot get random bytes: %s", g_strerror (errsv));
			return FALSE;
		}
		nonce += n;
		len -= (gsize) n;
	}
	return TRUE;
}

GByteArray *
da_vault_seal (const guint8 key[32],
	       const gchar *account,
	       const gchar *data,
	       gsize len,
	       GError **error)
{
	g_autoptr(GByteArray) out = NULL;
	struct gcm_aes256_ctx ctx;
	gsize file_len = DA_VAULT_MAGIC_LEN + DA_VAULT_NONCE_LEN + len + DA_VAULT_TAG_LEN;
	guint8 *nonce;
	guint8 *ct;

	if (len > DA_VAULT_PLAINTEXT_MAX) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "state is too large");
		return NULL;
	}
	out = g_byte_array_sized_new ((guint) file_len);
	g_byte_array_set_size (out, (guint) file_len);
	memcpy (out->data, DA_VAULT_MAGIC, DA_VAULT_MAGIC_LEN);
	nonce = out->data + DA_VAULT_MAGIC_LEN;
	ct = nonce + DA_VAULT_NONCE_LEN;
	if (!random_nonce (nonce, DA_VAULT_NONCE_LEN, error)) {
		g_prefix_error (error, "cannot encrypt: ");
		return NULL;
	}
	cipher_init (&ctx, key, nonce, account);
	gcm_aes256_encrypt (&ctx, len, ct, (const guint8 *) data);
	gcm_aes256_digest (&ctx, DA_VAULT_TAG_LEN, ct + len);
	da_secret_wipe (&ctx, sizeof ctx);
	return g_steal_pointer (&out);
}

/* The plaintext, or G_IO_ERROR_INVALID_DATA for a file that is truncated,
 * tampered with, meant for another account or sealed with another key. */
GByteArray *
da_vault_open (const guint8 key[32],
	       const gchar *account,
	       const guint8 *file,
	       gsize len,
	       GError **error)
{
	struct gcm_aes256_ctx ctx;
	guint8 tag[DA_VAULT_TAG_LEN];
	GByteArray *out;
	const guint8 *nonce;
	const guint8 *ct;
	gsize pt_len;
	gboolean ok;

	if (len < DA_VAULT_MAGIC_LEN + DA_VAULT_NONCE_LEN + DA_VAULT_TAG_LEN ||
	    memcmp (file, DA_VAULT_MAGIC, DA_VAULT_MAGIC_LEN) != 0) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				     "not a devauthd state file, or truncated");
		return NULL;
	}
	if (len > DA_VAULT_FILE_MAX) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				     "state file is too large");
		return NULL;
	}
	nonce = file + DA_VAULT_MAGIC_LEN;
	ct = nonce + DA_VAULT_NONCE_LEN;
	pt_len = len - DA_VAULT_MAGIC_LEN - DA_VAULT_NONCE_LEN - DA_VAULT_TAG_LEN;
	out = g_byte_array_sized_new ((guint) pt_len + 1);
	g_byte_array_set_size (out, (guint) pt_len + 1);
	cipher_init (&ctx, key, nonce, account);
	gcm_aes256_decrypt (&ctx, pt_len, out->data, ct);
	gcm_aes256_digest (&ctx, DA_VAULT_TAG_LEN, tag);
	ok = memeql_sec (tag, ct + pt_len, DA_VAULT_TAG_LEN);
	da_secret_wipe (&ctx, sizeof ctx);
	if (!ok) {
		/* the unauthenticated plaintext is wiped, never handed out */
		da_secret_byte_array_free (out);
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				     "state file does not decrypt (tampered with, truncated, or "
				     "sealed with another key)");
		return NULL;
	}
	out->data[pt_len] = '\0';
	g_byte_array_set_size (out, (guint) pt_len);
	return out;
}

/* HKDF-SHA256 (RFC 5869): extract with a fixed salt, expand to one key */
static void
derive_key (const guint8 *key_material, gsize key_len, guint8 key[DA_VAULT_KEY_LEN])
{
	struct hmac_sha256_ctx ctx;
	guint8 prk[SHA256_DIGEST_SIZE];

	hmac_sha256_set_key (&ctx, strlen (DA_VAULT_HKDF_SALT),
			     (const guint8 *) DA_VAULT_HKDF_SALT);
	hkdf_extract (&ctx, (nettle_hash_update_func *) hmac_sha256_update,
		      (nettle_hash_digest_func *) hmac_sha256_digest, SHA256_DIGEST_SIZE, key_len,
		      key_material, prk);
	hmac_sha256_set_key (&ctx, sizeof prk, prk);
	hkdf_expand (&ctx, (nettle_hash_update_func *) hmac_sha256_update,
		     (nettle_hash_digest_func *) hmac_sha256_digest, SHA256_DIGEST_SIZE,
		     strlen (DA_VAULT_HKDF_INFO), (const guint8 *) DA_VAULT_HKDF_INFO,
		     DA_VAULT_KEY_LEN, key);
	da_secret_wipe (prk, sizeof prk);
	da_secret_wipe (&ctx, sizeof ctx);
}

/* What a write cut short left behind (a crash between the temporary file
 * and the rename): temporary files and links to anywhere, never followed. */
static void
da_vault_remove_stale (DaVault *self)
{
	g_autoptr(GDir) dir = g_dir_open (self->dir, 0, NULL);
	const gchar *name;

	while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
		g_autofree gchar *path = NULL;
		struct stat st;

		if (!g_str_has_suffix (name, DA_VAULT_TMP_SUFFIX))
			continue;
		path = g_build_filename (self->dir, name, NULL);
		if (lstat (path, &st) != 0 || !(S_ISREG (st.st_mode) || S_ISLNK (st.st_mode)))
			continue;
		if (g_unlink (path) == 0)
			g_info ("removed %s, left by a write that did not finish", path);
	}
}

DaVault *
da_vault_new (const gchar *dir, const guint8 *key_material, gsize key_len, GError **error)
{
	g_autoptr(DaVault) self = g_new0 (DaVault, 1);

	self->dir = g_strdup (dir);
	if (key_len < DA_VAULT_KEY_MATERIAL_MIN) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "the storage key must hold at least %d bytes",
			     DA_VAULT_KEY_MATERIAL_MIN);
		return NULL;
	}
	derive_key (key_material, key_len, self->key);
	da_vault_remove_stale (self);
	return g_steal_pointer (&self);
}

DaVault *
da_vault_new_from_key_file (const gchar *dir, const gchar *key_file, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	gchar *data = NULL;
	gsize len = 0;
	DaVault *self;

	if (!da_file_read (key_file, DA_VAULT_KEY_FILE_MAX, DA_FILE_SECRET, &data, &len,
			   &error_local)) {
		g_set_error (error, G_IO_ERROR,
			     error_local->domain == G_IO_ERROR ? error_local->code
							       : G_IO_ERROR_FAILED,
			     "cannot read the storage key %s: %s", key_file, error_local->message);
		return NULL;
	}
	self = da_vault_new (dir, (const guint8 *) data, len, error);
	da_secret_wipe (data, len);
	g_free (data);
	if (self == NULL)
		g_prefix_error (error, "%s: ", key_file);
	return self;
}

gchar *
da_vault_path (DaVault *self, const gchar *account)
{
	g_autofree gchar *name = g_strconcat (account, ".state", NULL);
	return g_build_filename (self->dir, name, NULL);
}

static gboolean
write_all (int fd, const guint8 *data, gsize len)
{
	while (len > 0) {
		gssize n = write (fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		data += n;
		len -= (gsize) n;
	}
	return TRUE;
}

static gboolean
fsync_dir (const gchar *dir)
{
	int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = fsync (fd) == 0;
	close (fd);
	return ok;
}

/* write a temporary file, fsync it, rename it over the old one, fsync the
 * directory: after a crash there is the old state or the new, never half */
gboolean
da_vault_store (DaVault *self, const gchar *account, const gchar *data, gsize len, GError **error)
{
	g_autoptr(GByteArray) sealed = NULL;
	g_autofree gchar *path = da_vault_path (self, account);
	/* a name of its own each time, made with O_EXCL: whatever an earlier
	 * write or anyone else left (a file, a FIFO, a link) is neither
	 * followed nor in the way */
	g_autofree gchar *tmp = g_strconcat (path, ".XXXXXX" DA_VAULT_TMP_SUFFIX, NULL);
	int fd;
	int errsv;

	sealed = da_vault_seal (self->key, account, data, len, error);
	if (sealed == NULL)
		return FALSE;
	fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		errsv = errno;
		g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
			     "cannot write %s: %s", path, g_strerror (errsv));
		return FALSE;
	}
	if (!write_all (fd, sealed->data, sealed->len) || fsync (fd) != 0) {
		errsv = errno;
		close (fd);
		g_unlink (tmp);
		g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
			     "cannot write %s: %s", path, g_strerror (errsv));
		return FALSE;
	}
	close (fd);
	if (rename (tmp, path) != 0) {
		errsv = errno;
		g_unlink (tmp);
		g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
			     "cannot rename %s: %s", tmp, g_strerror (errsv));
		return FALSE;
	}
	if (!fsync_dir (self->dir))
		g_warning ("cannot fsync %s: %s", self->dir, g_strerror (errno));
	return TRUE;
}

GByteArray *
da_vault_load (DaVault *self, const gchar *account, GError **error)
{
	g_autofree gchar *path = da_vault_path (self, account);
	g_autoptr(GError) error_local = NULL;
	gchar *data = NULL;
	gsize len = 0;
	GByteArray *plain;

	if (!da_file_read (path, DA_VAULT_FILE_MAX, DA_FILE_NOFOLLOW, &data, &len, &error_local)) {
		if (g_error_matches (error_local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
			g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: no such file",
				     path);
		else
			g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", path,
				     error_local->message);
		return NULL;
	}
	plain = da_vault_open (self->key, account, (const guint8 *) data, len, error);
	g_free (data);
	if (plain == NULL)
		g_prefix_error (error, "%s: ", path);
	return plain;
}

gboolean
da_vault_remove (DaVault *self, const gchar *account, GError **error)
{
	g_autofree gchar *path = da_vault_path (self, account);

	if (g_unlink (path) != 0 && errno != ENOENT) {
		int errsv = errno;
		g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
			     "cannot remove %s: %s", path, g_strerror (errsv));
		return FALSE;
	}
	fsync_dir (self->dir);
	return TRUE;
}

/* ---- the journal of a refresh on its way ---- */

struct _DaVaultJournal {
	DaVault *vault;
	gchar *account; /* as sealed: NAME/journal */
	gchar *path;
	int fd;
	guint records;
};

static gchar *
journal_path (DaVault *self, const gchar *account)
{
	g_autofree gchar *name = g_strconcat (account, DA_VAULT_JOURNAL_SUFFIX, NULL);
	return g_build_filename (self->dir, name, NULL);
}

/* a journal record cannot pass for a state file, nor one account's for
 * another's (account names hold no '/') */
static gchar *
journal_binding (const gchar *account)
{
	return g_strconcat (account, "/journal", NULL);
}

gboolean
da_vault_journal_append (DaVaultJournal *journal, const gchar *record, gsize len, GError **error)
{
	g_autoptr(GByteArray) sealed = NULL;
	g_autoptr(GByteArray) frame = NULL;
	guint32 be;

	if (journal->records >= DA_VAULT_JOURNAL_RECORDS_MAX) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "%s is full", journal->path);
		return FALSE;
	}
	sealed = da_vault_seal (journal->vault->key, journal->account, record, len, error);
	if (sealed == NULL)
		return FALSE;
	/* one write of the whole frame: a crash leaves it or nothing (a power
	 * cut may leave it short, which the reader drops) */
	be = GUINT32_TO_BE ((guint32) sealed->len);
	frame = g_byte_array_sized_new (DA_VAULT_JOURNAL_FRAME_LEN + sealed->len);
	g_byte_array_append (frame, (const guint8 *) &be, DA_VAULT_JOURNAL_FRAME_LEN);
	g_byte_array_append (frame, sealed->data, sealed->len);
	if (!write_all (journal->fd, frame->data, frame->len)) {
		int errsv = errno;
		g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
			     "cannot write %s: %s", journal->path, g_strerror (errsv));
		return FALSE;
	}
	journal->records++;
	return TRUE;
}

DaVaultJournal *
da_vault_journal_begin (DaVault *self,
			const gchar *account,
			const gchar *record,
			gsize len,
			GError **error)
{
	DaVaultJournal *journal = g_new0 (DaVaultJournal, 1);
	int errsv;

	journal->vault = self;
	journal->account = journal_binding (account);
	journal->path = journal_path (self, account);
	/* whatever is in the way (the journal of an earlier refresh, or a
	 * FIFO or a link someone put there) goes; the new one is made
	 * with O_EXCL, never followed */
	if (g_unlink (journal->path) != 0 && errno != ENOENT) {
		errsv = errno;
		g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
			     "cannot remove %s: %s", journal->path, g_strerror (errsv));
		journal->fd = -1;
		da_vault_journal_end (journal, FALSE);
		return NULL;
	}
	journal->fd =
		open (journal->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (journal->fd < 0) {
		errsv = errno;
		g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
			     "cannot create %s: %s", journal->path, g_strerror (errsv));
		da_vault_journal_end (journal, FALSE);
		return NULL;
	}
	/* the first record says a request is on its way: it must outlive a
	 * power cut too, so it is on disk before the request leaves */
	if (!da_vault_journal_append (journal, record, len, error) ||
	    fdatasync (journal->fd) != 0) {
		errsv = errno;
		if (error != NULL && *error == NULL)
			g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
				     "cannot write %s: %s", journal->path, g_strerror (errsv));
		da_vault_journal_end (journal, TRUE);
		return NULL;
	}
	return journal;
}

void
da_vault_journal_end (DaVaultJournal *journal, gboolean remove)
{
	if (journal == NULL)
		return;
	if (remove && journal->fd >= 0)
		g_unlink (journal->path);
	if (journal->fd >= 0)
		close (journal->fd);
	g_free (journal->account);
	g_free (journal->path);
	g_free (journal);
}

GPtrArray *
da_vault_journal_read (DaVault *self, const gchar *account, GError **error)
{
	g_autofree gchar *path = journal_path (self, account);
	g_autofree gchar *binding = journal_binding (account);
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GPtrArray) records =
		g_ptr_array_new_with_free_func ((GDestroyNotify) da_secret_byte_array_free);
	g_autofree gchar *data = NULL;
	gsize len = 0;
	gsize pos = 0;

	if (!da_file_read (path, DA_VAULT_JOURNAL_FILE_MAX, DA_FILE_NOFOLLOW, &data, &len,
			   &error_local)) {
		g_set_error (error, G_IO_ERROR,
			     g_error_matches (error_local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)
				     ? G_IO_ERROR_NOT_FOUND
				     : G_IO_ERROR_FAILED,
			     "%s: %s", path, error_local->message);
		return NULL;
	}
	while (records->len < DA_VAULT_JOURNAL_RECORDS_MAX &&
	       len - pos >= DA_VAULT_JOURNAL_FRAME_LEN) {
		guint32 be;
		gsize rec_len;
		GByteArray *plain;

		memcpy (&be, data + pos, DA_VAULT_JOURNAL_FRAME_LEN);
		rec_len = GUINT32_FROM_BE (be);
		pos += DA_VAULT_JOURNAL_FRAME_LEN;
		if (rec_len > len - pos)
			break;
		plain = da_vault_open (self->key, binding, (const guint8 *) data + pos, rec_len,
				       NULL);
		if (plain == NULL)
			break;
		g_ptr_array_add (records, plain);
		pos += rec_len;
	}
	return g_steal_pointer (&records);
}

void
da_vault_journal_remove (DaVault *self, const gchar *account)
{
	g_autofree gchar *path = journal_path (self, account);

	g_unlink (path);
}

void
da_vault_free (DaVault *self)
{
	if (self == NULL)
		return;
	da_secret_wipe (self->key, sizeof self->key);
	g_free (self->dir);
	g_free (self);
}
