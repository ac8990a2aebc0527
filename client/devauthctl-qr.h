/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
	DA_QR_STYLE_UNICODE,
	DA_QR_STYLE_ASCII,
} DaQrStyle;

/* The largest QR code (version 40) is 177 modules wide. */
#define DA_QR_MAX_SIZE 177

gchar *
da_qr_render (guint size,
	      const guint8 *modules,
	      gsize n_modules,
	      DaQrStyle style,
	      gboolean color,
	      GError **error);
gchar *
da_qr_render_details (GVariant *details, DaQrStyle style, gboolean color, GError **error);
GBytes *
da_qr_render_png_details (GVariant *details, guint scale, GError **error);
gchar *
da_qr_render_svg_details (GVariant *details, GError **error);

G_END_DECLS
