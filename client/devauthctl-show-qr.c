/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devauthctl qr [ACCOUNT] [--format=utf8|ascii|png|svg] [--output=FILE]
 *
 * The QR code of the sign-in that waits for the user, for a second screen,
 * a printed label or a web page: Login() with "join", so that it never
 * starts a sign-in of its own, rendered from the matrix devauthd sends
 * (libqrencode's, in the daemon) with a quiet zone of 4 modules. The
 * terminal forms set their own colours when they go to a terminal, so
 * that they decode on dark and light terminals alike.
 */

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "devauthctl-common.h"
#include "devauthctl-qr.h"

typedef enum {
	DA_QR_FORMAT_UTF8,
	DA_QR_FORMAT_ASCII,
	DA_QR_FORMAT_PNG,
	DA_QR_FORMAT_SVG,
} DaQrFormat;

static gboolean
da_qr_parse_format (const gchar *text, DaQrFormat *format)
{
	static const struct {
		const gchar *name;
		DaQrFormat format;
	} formats[] = {
		{"utf8", DA_QR_FORMAT_UTF8},
		{"ascii", DA_QR_FORMAT_ASCII},
		{"png", DA_QR_FORMAT_PNG},
		{"svg", DA_QR_FORMAT_SVG},
	};

	for (guint i = 0; i < G_N_ELEMENTS (formats); i++) {
		if (g_str_equal (text, formats[i].name)) {
			*format = formats[i].format;
			return TRUE;
		}
	}
	return FALSE;
}

int
da_cmd_qr (int argc, char **argv)
{
	g_autofree gchar *format_text = NULL;
	g_autofree gchar *output = NULL;
	const GOptionEntry entries[] = {
		{"format", 0, 0, G_OPTION_ARG_STRING, &format_text,
		 "utf8 (default), ascii, png or svg", "FORMAT"},
		{"output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
		 "Write to FILE instead of standard output", "FILE"},
		G_OPTION_ENTRY_NULL,
	};
	g_auto(GVariantBuilder) options = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(DaDBusManager) manager = NULL;
	g_autoptr(GVariant) prompt = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) data = NULL;
	g_autofree gchar *uri = NULL;
	g_autofree gchar *safe = NULL;
	DaQrFormat format = DA_QR_FORMAT_UTF8;
	gboolean to_terminal;

	context = da_option_context_new (
		"[ACCOUNT]", "Show the QR code of the sign-in of ACCOUNT (default: the default\n"
			     "account) that waits for the user; it starts none.");
	g_option_context_add_main_entries (context, entries, NULL);
	if (!da_option_context_parse (context, "qr", &argc, &argv))
		return DA_EXIT_USAGE;
	if (argc > 2)
		return da_usage_error ("qr", "too many arguments");
	if (format_text != NULL && !da_qr_parse_format (format_text, &format))
		return da_usage_error ("qr", "unknown format '%s' (utf8, ascii, png or svg)",
				       format_text);
	to_terminal = output == NULL && isatty (STDOUT_FILENO);
	if (format == DA_QR_FORMAT_PNG && to_terminal)
		return da_usage_error ("qr", "a PNG does not go to a terminal: use --output=FILE");

	manager = da_manager_proxy_new (DA_MANAGER_CALLS_ONLY, &error);
	if (manager == NULL)
		return da_fail (error);
	g_variant_builder_add (&options, "{sv}", "join", g_variant_new_boolean (TRUE));
	if (!da_dbus_manager_call_login_sync (manager, argc == 2 ? argv[1] : "",
					      g_variant_builder_end (&options), &prompt, NULL,
					      &error))
		return da_fail (error);

	switch (format) {
	case DA_QR_FORMAT_PNG:
		data = da_qr_render_png_details (prompt, 8, &error);
		break;
	case DA_QR_FORMAT_SVG: {
		gchar *svg = da_qr_render_svg_details (prompt, &error);
		if (svg != NULL)
			data = g_bytes_new_take (svg, strlen (svg));
		break;
	}
	case DA_QR_FORMAT_ASCII:
	case DA_QR_FORMAT_UTF8:
	default: {
		gchar *text = da_qr_render_details (
			prompt,
			format == DA_QR_FORMAT_ASCII ? DA_QR_STYLE_ASCII : DA_QR_STYLE_UNICODE,
			to_terminal, &error);
		if (text != NULL)
			data = g_bytes_new_take (text, strlen (text));
		break;
	}
	}
	if (data == NULL)
		return da_fail (error);
	if (output == NULL) {
		gsize len = 0;
		const gchar *bytes = g_bytes_get_data (data, &len);
		if (fwrite (bytes, 1, len, stdout) != len || fflush (stdout) != 0) {
			g_printerr ("devauthctl: cannot write the QR code\n");
			return DA_EXIT_ERROR;
		}
		return DA_EXIT_OK;
	}
	if (!g_file_set_contents_full (output, g_bytes_get_data (data, NULL),
				       (gssize) g_bytes_get_size (data),
				       G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error)) {
		g_autofree gchar *message = da_sanitize (error->message);
		g_printerr ("devauthctl: %s\n", message);
		return DA_EXIT_ERROR;
	}
	if (!g_variant_lookup (prompt, "verification-uri-complete", "s", &uri))
		g_variant_lookup (prompt, "verification-uri", "s", &uri);
	safe = da_sanitize (uri != NULL ? uri : "");
	g_print ("%s: the QR code of %s\n", output, safe);
	return DA_EXIT_OK;
}
