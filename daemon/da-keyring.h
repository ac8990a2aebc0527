/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-secret.h"

G_BEGIN_DECLS

/* The runtime token cache: a named keyring inside the daemon user's user
 * keyring (@u), which outlives the daemon process. */
typedef struct _DaKeyring DaKeyring;

DaKeyring *
da_keyring_open (const gchar *name, GError **error);
gboolean
da_keyring_store (DaKeyring *self,
		  const gchar *description,
		  const gchar *payload,
		  gsize len,
		  guint timeout_sec,
		  GError **error);
DaSecret *
da_keyring_load (DaKeyring *self, const gchar *description, GError **error);
gboolean
da_keyring_remove (DaKeyring *self, const gchar *description, GError **error);
gboolean
da_keyring_clear (DaKeyring *self, GError **error);
void
da_keyring_free (DaKeyring *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaKeyring, da_keyring_free)

G_END_DECLS
