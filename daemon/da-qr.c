/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <qrencode.h>
#include <string.h>

#include "da-qr.h"

#define DA_QR_TEXT_MAX 1024

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
	/* level M: a phone reads it off a TV across a room; 8-bit mode keeps
	 * the URL exactly as the IdP sent it */
	qr = QRcode_encodeString8bit (text, 0, QR_ECLEVEL_M);
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
	QRcode_free (qr);
	return g_bytes_new_take (modules, n);
}
