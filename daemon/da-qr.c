/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <gio/gio.h>
#include <qrencode.h>
#include <string.h>

#include "da-qr.h"

#define DA_QR_TEXT_MAX 1024

/* Opened when the first QR code is made (a sign-in), not at start: a daemon
 * that is signed in never needs it. Built against its header only. */
#define DA_QR_LIBRARY "libqrencode.so.4"

static typeof (QRcode_encodeString8bit) *sym_QRcode_encodeString8bit;
static typeof (QRcode_free) *sym_QRcode_free;

/* Once per process; FALSE with @error (the same each time) when the library
 * cannot be used. Callers are on the main thread. */
static gboolean
load_qrencode (GError **error)
{
	static gboolean tried = FALSE;
	static gchar *failure = NULL;
	gpointer handle;

	if (!tried) {
		tried = TRUE;
		handle = dlopen (DA_QR_LIBRARY, RTLD_NOW | RTLD_LOCAL);
		if (handle == NULL) {
			failure = g_strdup_printf ("cannot load %s", dlerror ());
		} else {
			sym_QRcode_encodeString8bit = dlsym (handle, "QRcode_encodeString8bit");
			sym_QRcode_free = dlsym (handle, "QRcode_free");
			if (sym_QRcode_encodeString8bit == NULL || sym_QRcode_free == NULL) {
				failure =
					g_strdup_printf ("%s is not libqrencode 4", DA_QR_LIBRARY);
				sym_QRcode_encodeString8bit = NULL;
				sym_QRcode_free = NULL;
				dlclose (handle);
			}
		}
		if (failure != NULL)
			g_warning ("sign-in prompts go without a QR code: %s", failure);
	}
	if (failure != NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
			     "QR codes are not available: %s", failure);
		return FALSE;
	}
	return TRUE;
}

GBytes *
da_qr_encode (const gchar *text, guint *size, GError **error)
{
	QRcode *qr;
	guint8 *modules;
	gsize n;

	if (strlen (text) > DA_QR_TEXT_MAX) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "text is longer than %d bytes", DA_QR_TEXT_MAX);
		return NULL;
	}
	if (!load_qrencode (error))
		return NULL;
	/* level M: a phone reads it off a TV across a room; 8-bit mode keeps
	 * the URL exactly as the IdP sent it */
	qr = sym_QRcode_encodeString8bit (text, 0, QR_ECLEVEL_M);
	if (qr == NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot encode a QR code: %s",
			     g_strerror (errno));
		return NULL;
	}
	n = (gsize) qr->width * (gsize) qr->width;
	modules = g_malloc (n);
	for (gsize i = 0; i < n; i++)
		modules[i] = qr->data[i] & 1;
	*size = (guint) qr->width;
	sym_QRcode_free (qr);
	return g_bytes_new_take (modules, n);
}
