/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <dlfcn.h>
#include <gio/gio.h>

#include "da-gnutls.h"

#define DA_GNUTLS_LIBRARY "libgnutls.so.30"

gboolean
da_gnutls_resolve (const DaGnutlsSymbol *symbols, guint n_symbols, GError **error)
{
	static gsize opened = 0;
	static gpointer handle;
	static gchar *failure;

	if (g_once_init_enter (&opened)) {
		handle = dlopen (DA_GNUTLS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
		if (handle == NULL)
			failure = g_strdup_printf ("cannot load %s", dlerror ());
		g_once_init_leave (&opened, 1);
	}
	if (handle == NULL) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, failure);
		return FALSE;
	}
	for (guint i = 0; i < n_symbols; i++) {
		*symbols[i].slot = dlsym (handle, symbols[i].name);
		if (*symbols[i].slot == NULL) {
			g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
				     "%s is not GnuTLS 3.6 or later (it has no %s)",
				     DA_GNUTLS_LIBRARY, symbols[i].name);
			return FALSE;
		}
	}
	return TRUE;
}
