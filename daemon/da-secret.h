/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A NUL-terminated string that held a secret (a token, a client secret, a
 * device code): wiped before it is freed. */
typedef gchar DaSecret;

DaSecret *
da_secret_new (const gchar *value);
DaSecret *
da_secret_new_len (const gchar *value, gsize len);
void
da_secret_free (DaSecret *secret);
void
da_secret_wipe (gpointer data, gsize len);
gchar *
da_secret_fingerprint (const gchar *secret);
void
da_secret_bytes_unref (GBytes *bytes);
void
da_secret_byte_array_free (GByteArray *array);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaSecret, da_secret_free)

G_END_DECLS
