/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A QR code as a row-major size x size matrix of modules, 1 = dark. */
GBytes *
da_qr_encode (const gchar *text, guint *size, GError **error);

G_END_DECLS
