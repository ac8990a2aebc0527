/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Terminal rendering of the QR code that devauthd sends with a sign-in prompt.
 *
 * The daemon sends a size x size matrix, row-major, 1 = dark module. A
 * scanner needs dark modules on a light background. Most consoles and SSH
 * sessions are light text on a dark background, so the *light* modules and
 * the quiet zone are drawn with ink (block glyphs or "##") and the dark
 * modules are left blank. On a terminal that takes colours, every line is
 * also forced to light-on-black, so that the code scans on light-themed
 * terminals too.
 *
 * Unicode style: one column and half a line per module (the half blocks
 * U+2580 and U+2584, the full block U+2588), so two rows make one line.
 * ASCII style: two columns and one line per module.
 */

#include "devauthctl-qr.h"

#include <gio/gio.h>
#include <png.h>
#include <string.h>

/* the quiet zone ISO/IEC 18004 asks for around the code */
#define DA_QR_QUIET_ZONE 4

#define DA_QR_COLOR_ON	"\033[37;40m"
#define DA_QR_COLOR_OFF "\033[0m"

#define DA_QR_FULL  "\xe2\x96\x88" /* U+2588 FULL BLOCK */
#define DA_QR_UPPER "\xe2\x96\x80" /* U+2580 UPPER HALF BLOCK */
#define DA_QR_LOWER "\xe2\x96\x84" /* U+2584 LOWER HALF BLOCK */

typedef struct {
	guint size;
	const guint8 *modules;
} DaQrMatrix;

/* Whether the module at (x, y) of the code with its quiet zone is light;
 * rows past the bottom of the quiet zone are background, not light. */
static gboolean
da_qr_is_light (const DaQrMatrix *qr, guint x, guint y)
{
	guint total = qr->size + 2 * DA_QR_QUIET_ZONE;

	if (y >= total)
		return FALSE;
	if (x < DA_QR_QUIET_ZONE || y < DA_QR_QUIET_ZONE)
		return TRUE;
	x -= DA_QR_QUIET_ZONE;
	y -= DA_QR_QUIET_ZONE;
	if (x >= qr->size || y >= qr->size)
		return TRUE;
	return qr->modules[(gsize) y * qr->size + x] == 0;
}

static const gchar *
da_qr_half_block (gboolean top_light, gboolean bottom_light)
{
	if (top_light && bottom_light)
		return DA_QR_FULL;
	if (top_light)
		return DA_QR_UPPER;
	if (bottom_light)
		return DA_QR_LOWER;
	return " ";
}

static void
da_qr_render_unicode (GString *out, const DaQrMatrix *qr, gboolean color)
{
	guint total = qr->size + 2 * DA_QR_QUIET_ZONE;

	for (guint y = 0; y < total; y += 2) {
		if (color)
			g_string_append (out, DA_QR_COLOR_ON);
		for (guint x = 0; x < total; x++) {
			g_string_append (out, da_qr_half_block (da_qr_is_light (qr, x, y),
								da_qr_is_light (qr, x, y + 1)));
		}
		if (color)
			g_string_append (out, DA_QR_COLOR_OFF);
		g_string_append_c (out, '\n');
	}
}

static void
da_qr_render_ascii (GString *out, const DaQrMatrix *qr, gboolean color)
{
	guint total = qr->size + 2 * DA_QR_QUIET_ZONE;

	for (guint y = 0; y < total; y++) {
		if (color)
			g_string_append (out, DA_QR_COLOR_ON);
		for (guint x = 0; x < total; x++)
			g_string_append (out, da_qr_is_light (qr, x, y) ? "##" : "  ");
		if (color)
			g_string_append (out, DA_QR_COLOR_OFF);
		g_string_append_c (out, '\n');
	}
}

/**
 * da_qr_render:
 * @size: modules per side
 * @modules: @size x @size bytes, row-major, non-zero = dark
 * @n_modules: length of @modules
 * @style: glyphs to draw with
 * @color: force light-on-black with escape sequences
 * @error: a #GError
 *
 * Returns: (transfer full): the code as lines of text, each ending in a newline
 */
gchar *
da_qr_render (guint size,
	      const guint8 *modules,
	      gsize n_modules,
	      DaQrStyle style,
	      gboolean color,
	      GError **error)
{
	DaQrMatrix qr = {size, modules};
	g_autoptr(GString) out = NULL;

	if (size == 0 || size > DA_QR_MAX_SIZE) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			     "QR code size %u is out of range", size);
		return NULL;
	}
	if (modules == NULL || n_modules != (gsize) size * size) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			     "QR code has %" G_GSIZE_FORMAT " modules, expected %u", n_modules,
			     size * size);
		return NULL;
	}

	out = g_string_new (NULL);
	switch (style) {
	case DA_QR_STYLE_ASCII:
		da_qr_render_ascii (out, &qr, color);
		break;
	case DA_QR_STYLE_UNICODE:
	default:
		da_qr_render_unicode (out, &qr, color);
		break;
	}
	return g_string_free (g_steal_pointer (&out), FALSE);
}

/**
 * da_qr_render_details:
 * @details: a prompt or StatusChanged details (a{sv}) with "qr-size" and "qr-modules"
 *
 * Returns: (transfer full): the rendered code, or %NULL with @error set when
 * @details has no usable QR code
 */
gchar *
da_qr_render_details (GVariant *details, DaQrStyle style, gboolean color, GError **error)
{
	guint32 size = 0;
	gsize n_modules = 0;
	const guint8 *modules;
	g_autoptr(GVariant) value = NULL;

	value = g_variant_lookup_value (details, "qr-modules", G_VARIANT_TYPE_BYTESTRING);
	if (value == NULL || !g_variant_lookup (details, "qr-size", "u", &size)) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no QR code");
		return NULL;
	}
	modules = g_variant_get_fixed_array (value, &n_modules, sizeof (guint8));
	return da_qr_render (size, modules, n_modules, style, color, error);
}

/* the matrix of @details, checked; FALSE with @error when there is none */
static gboolean
da_qr_matrix_from_details (GVariant *details, DaQrMatrix *qr, GVariant **keep, GError **error)
{
	guint32 size = 0;
	gsize n_modules = 0;
	g_autoptr(GVariant) value = NULL;

	value = g_variant_lookup_value (details, "qr-modules", G_VARIANT_TYPE_BYTESTRING);
	if (value == NULL || !g_variant_lookup (details, "qr-size", "u", &size)) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no QR code");
		return FALSE;
	}
	qr->modules = g_variant_get_fixed_array (value, &n_modules, sizeof (guint8));
	qr->size = size;
	if (size == 0 || size > DA_QR_MAX_SIZE || n_modules != (gsize) size * size) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			     "the QR code of devauthd is malformed (size %u, %" G_GSIZE_FORMAT
			     " modules)",
			     size, n_modules);
		return FALSE;
	}
	*keep = g_steal_pointer (&value);
	return TRUE;
}

static void
da_qr_png_write_cb (png_structp png, png_bytep data, png_size_t len)
{
	g_byte_array_append (png_get_io_ptr (png), data, (guint) len);
}

static void
da_qr_png_flush_cb (png_structp png)
{
}

static void
da_qr_png_error_cb (png_structp png, png_const_charp message)
{
	g_set_error (png_get_error_ptr (png), G_IO_ERROR, G_IO_ERROR_FAILED, "libpng: %s", message);
	png_longjmp (png, 1);
}

/**
 * da_qr_render_png_details:
 * @details: a prompt (a{sv}) with "qr-size" and "qr-modules"
 * @scale: pixels per module
 *
 * Returns: (transfer full): a 1-bit greyscale PNG of the code with a
 * quiet zone of 4 modules, black on white, or %NULL with @error set
 */
/* The rows of @qr, @scale pixels a module; FALSE when libpng failed
 * (longjmp() comes back here: nothing in the caller is touched after it) */
static gboolean
da_qr_png_write (png_structp png, png_infop info, const DaQrMatrix *qr, guint scale, png_bytep row)
{
	guint total = qr->size + 2 * DA_QR_QUIET_ZONE;
	guint width = total * scale;

	if (setjmp (png_jmpbuf (png)))
		return FALSE;
	png_set_IHDR (png, info, width, width, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
		      PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info (png, info);
	for (guint y = 0; y < total; y++) {
		/* 1 bits are white: light modules and the quiet zone */
		memset (row, 0, (width + 7) / 8);
		for (guint x = 0; x < total; x++) {
			if (!da_qr_is_light (qr, x, y))
				continue;
			for (guint px = x * scale; px < (x + 1) * scale; px++)
				row[px / 8] |= (png_byte) (0x80 >> (px % 8));
		}
		for (guint i = 0; i < scale; i++)
			png_write_row (png, row);
	}
	png_write_end (png, NULL);
	return TRUE;
}

/**
 * da_qr_render_png_details:
 * @details: a prompt (a{sv}) with "qr-size" and "qr-modules"
 * @scale: pixels per module (1 to 32)
 *
 * Returns: (transfer full): a 1-bit greyscale PNG of the code with a
 * quiet zone of 4 modules, black on white, or %NULL with @error set
 */
GBytes *
da_qr_render_png_details (GVariant *details, guint scale, GError **error)
{
	g_autoptr(GVariant) keep = NULL;
	g_autoptr(GByteArray) out = g_byte_array_new ();
	g_autofree png_byte *row = NULL;
	GError *png_error = NULL;
	DaQrMatrix qr;
	png_structp png;
	png_infop info;
	gboolean ok;

	if (!da_qr_matrix_from_details (details, &qr, &keep, error))
		return NULL;
	scale = CLAMP (scale, 1, 32);
	row = g_malloc0 (((qr.size + 2 * DA_QR_QUIET_ZONE) * scale + 7) / 8);
	png = png_create_write_struct (PNG_LIBPNG_VER_STRING, &png_error, da_qr_png_error_cb, NULL);
	info = png != NULL ? png_create_info_struct (png) : NULL;
	if (info == NULL) {
		png_destroy_write_struct (&png, NULL);
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "libpng: out of memory");
		return NULL;
	}
	png_set_write_fn (png, out, da_qr_png_write_cb, da_qr_png_flush_cb);
	ok = da_qr_png_write (png, info, &qr, scale, row);
	png_destroy_write_struct (&png, &info);
	if (!ok) {
		if (png_error != NULL)
			g_propagate_error (error, png_error);
		else
			g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "libpng failed");
		return NULL;
	}
	return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/**
 * da_qr_render_svg_details:
 * @details: a prompt (a{sv}) with "qr-size" and "qr-modules"
 *
 * Returns: (transfer full): an SVG of the code (one path of the dark
 * modules on a white square with a quiet zone of 4 modules; it scales to
 * any size), or %NULL with @error set
 */
gchar *
da_qr_render_svg_details (GVariant *details, GError **error)
{
	g_autoptr(GVariant) keep = NULL;
	g_autoptr(GString) out = g_string_new (NULL);
	DaQrMatrix qr;
	guint total;

	if (!da_qr_matrix_from_details (details, &qr, &keep, error))
		return NULL;
	total = qr.size + 2 * DA_QR_QUIET_ZONE;
	g_string_append_printf (out,
				"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %u %u\" "
				"width=\"%u\" height=\"%u\" shape-rendering=\"crispEdges\">\n"
				"<rect width=\"%u\" height=\"%u\" fill=\"#ffffff\"/>\n"
				"<path fill=\"#000000\" d=\"",
				total, total, total * 8, total * 8, total, total);
	for (guint y = 0; y < total; y++) {
		for (guint x = 0; x < total; x++) {
			if (!da_qr_is_light (&qr, x, y))
				g_string_append_printf (out, "M%u %uh1v1h-1z", x, y);
		}
	}
	g_string_append (out, "\"/>\n</svg>\n");
	return g_string_free (g_steal_pointer (&out), FALSE);
}
