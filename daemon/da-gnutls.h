/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One GnuTLS function (or variable) to look up, and where to put it */
typedef struct {
	const gchar *name;
	gpointer *slot;
} DaGnutlsSymbol;

/* GnuTLS opened (not linked: devauthd uses it only for private_key_jwt
 * and for checking certificates against the system's store) once per
 * process, from any thread, and @n_symbols of its symbols resolved into
 * their slots. FALSE, with @error saying which library or symbol is
 * missing, when it cannot be used. */
gboolean
da_gnutls_resolve (const DaGnutlsSymbol *symbols, guint n_symbols, GError **error);

G_END_DECLS
