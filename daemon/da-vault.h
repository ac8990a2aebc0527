/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-secret.h"

G_BEGIN_DECLS

/* Encrypted state on disk, one file per account: AES-256-GCM with the
 * account name bound in as associated data, written atomically and durably.
 * The key is derived (HKDF-SHA256) from the storage key material, which
 * must hold at least 32 bytes of entropy. */
typedef struct _DaVault DaVault;

#define DA_VAULT_KEY_MATERIAL_MIN 32
#define DA_VAULT_PLAINTEXT_MAX	  (64 * 1024)

DaVault *
da_vault_new (const gchar *dir, const guint8 *key_material, gsize key_len, GError **error);
DaVault *
da_vault_new_from_key_file (const gchar *dir, const gchar *key_file, GError **error);
gboolean
da_vault_store (DaVault *self, const gchar *account, const gchar *data, gsize len, GError **error);
GByteArray *
da_vault_load (DaVault *self, const gchar *account, GError **error);
gboolean
da_vault_remove (DaVault *self, const gchar *account, GError **error);
gchar *
da_vault_path (DaVault *self, const gchar *account);
void
da_vault_free (DaVault *self);

/* The journal of a refresh on its way, one file per account beside its
 * state (NAME.journal): begun before the request leaves, with a first
 * record that says so; the answer's tokens are appended the moment they
 * arrive, before anything else is done with them (one write, no fsync:
 * once it returns, a crash or SIGKILL cannot lose them); ended, and
 * removed, once the state file holds them. Each record is sealed as a
 * state file is, bound to the account's journal. */
typedef struct _DaVaultJournal DaVaultJournal;

#define DA_VAULT_JOURNAL_RECORDS_MAX 4

DaVaultJournal *
da_vault_journal_begin (DaVault *self,
			const gchar *account,
			const gchar *record,
			gsize len,
			GError **error);
gboolean
da_vault_journal_append (DaVaultJournal *journal, const gchar *record, gsize len, GError **error);
/* closes the journal; @remove: and removes its file */
void
da_vault_journal_end (DaVaultJournal *journal, gboolean remove);
/* the records of the journal that decrypt, in the order written (a record
 * cut short, or tampered with, ends the list); G_IO_ERROR_NOT_FOUND when
 * there is none. The GByteArrays are wiped when freed. */
GPtrArray *
da_vault_journal_read (DaVault *self, const gchar *account, GError **error);
void
da_vault_journal_remove (DaVault *self, const gchar *account);

/* pure functions, for tests and fuzzers */
GByteArray *
da_vault_seal (const guint8 key[32],
	       const gchar *account,
	       const gchar *data,
	       gsize len,
	       GError **error);
GByteArray *
da_vault_open (const guint8 key[32],
	       const gchar *account,
	       const guint8 *file,
	       gsize len,
	       GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaVault, da_vault_free)

G_END_DECLS
