/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devauthctl watch [--json] [--no-qr] [--qr=unicode|ascii]
 *
 * One line per StatusChanged signal, until SIGINT or SIGTERM:
 *   <time> <account> <state> [key=value …]
 * and, while a sign-in waits for the user, the address, the code and the
 * QR code: the console fallback of an on-device UI. With --json, one JSON
 * object per line. The QR modules themselves are never printed raw.
 */

#include "config.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>

#include "devauthctl-common.h"

typedef struct {
	GMainLoop *loop;
	gboolean json;
	DaPromptOptions prompt;
} DaWatch;

static gchar *
da_watch_format_time (void)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local ();

	return g_date_time_format (now, "%Y-%m-%dT%H:%M:%S%:z");
}

static gboolean
da_watch_needs_quotes (const gchar *str)
{
	if (str[0] == '\0')
		return TRUE;
	for (const gchar *p = str; *p != '\0'; p++) {
		guchar c = (guchar) *p;

		if (c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '\\' || c == '=')
			return TRUE;
	}
	return FALSE;
}

/* the value as is, or "text" with " and \ escaped when it has blanks or is
 * empty; control characters become \xNN either way */
static gchar *
da_watch_quote (const gchar *str)
{
	g_autoptr(GString) out = NULL;

	if (!da_watch_needs_quotes (str))
		return da_sanitize (str);
	out = g_string_new ("\"");
	for (const gchar *p = str; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c (out, '\\');
		g_string_append_c (out, *p);
	}
	g_string_append_c (out, '"');
	return da_sanitize (out->str);
}

static gchar *
da_watch_format_value (GVariant *value)
{
	g_autofree gchar *printed = NULL;

	if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
		return da_watch_quote (g_variant_get_string (value, NULL));
	if (g_variant_is_of_type (value, G_VARIANT_TYPE_BYTESTRING))
		return g_strdup_printf ("<%" G_GSIZE_FORMAT " bytes>",
					g_variant_n_children (value));
	printed = g_variant_print (value, !g_variant_type_is_basic (g_variant_get_type (value)));
	return da_watch_quote (printed);
}

static void
da_watch_print_line (const gchar *account, const gchar *state, GVariant *details)
{
	g_autofree gchar *time = da_watch_format_time ();
	g_autofree gchar *safe_account = da_sanitize (account);
	g_autofree gchar *safe_state = da_sanitize (state);
	g_autoptr(GString) line = g_string_new (NULL);
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_string_append_printf (line, "%s %s %s", time, safe_account, safe_state);
	g_variant_iter_init (&iter, details);
	while (g_variant_iter_loop (&iter, "{&sv}", &key, &value)) {
		g_autofree gchar *safe_key = da_sanitize (key);
		g_autofree gchar *text = NULL;

		if (g_str_equal (key, "qr-modules"))
			continue;
		text = da_watch_format_value (value);
		g_string_append_printf (line, " %s=%s", safe_key, text);
	}
	g_print ("%s\n", line->str);
}

static void
da_watch_print_json (const gchar *account, const gchar *state, GVariant *details)
{
	g_autoptr(JsonBuilder) json = json_builder_new ();
	g_autoptr(GDateTime) now = g_date_time_new_now_local ();
	g_autofree gchar *time = g_date_time_format_iso8601 (now);
	g_autofree gchar *text = NULL;
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	json_builder_begin_object (json);
	json_builder_set_member_name (json, "time");
	json_builder_add_string_value (json, time);
	json_builder_set_member_name (json, "account");
	json_builder_add_string_value (json, account);
	json_builder_set_member_name (json, "state");
	json_builder_add_string_value (json, state);
	json_builder_set_member_name (json, "details");
	json_builder_begin_object (json);
	g_variant_iter_init (&iter, details);
	while (g_variant_iter_loop (&iter, "{&sv}", &key, &value)) {
		if (g_str_equal (key, "qr-modules"))
			continue;
		json_builder_set_member_name (json, key);
		da_json_add_variant (json, value);
	}
	json_builder_end_object (json);
	json_builder_end_object (json);
	text = da_json_to_string (json);
	g_print ("%s\n", text);
}

static void
da_watch_on_status_changed (DaDBusManager *manager,
			    const gchar *account,
			    const gchar *state,
			    GVariant *details,
			    gpointer user_data)
{
	DaWatch *self = user_data;

	if (self->json) {
		da_watch_print_json (account, state, details);
	} else {
		da_watch_print_line (account, state, details);
		if (g_str_equal (state, "awaiting-user")) {
			g_print ("\n");
			da_prompt_print (details, &self->prompt);
		}
	}
	fflush (stdout);
}

static gboolean
da_watch_on_signal (gpointer user_data)
{
	DaWatch *self = user_data;

	g_main_loop_quit (self->loop);
	return G_SOURCE_CONTINUE;
}

int
da_cmd_watch (int argc, char **argv)
{
	gboolean no_qr = FALSE;
	g_autofree gchar *qr_style = NULL;
	DaWatch self = {NULL, FALSE, {TRUE, DA_QR_STYLE_UNICODE}};
	const GOptionEntry entries[] = {
		{"json", 0, 0, G_OPTION_ARG_NONE, &self.json, "Print one JSON object per line",
		 NULL},
		{"no-qr", 0, 0, G_OPTION_ARG_NONE, &no_qr, "Do not show QR codes", NULL},
		{"qr", 0, 0, G_OPTION_ARG_STRING, &qr_style,
		 "Draw QR codes with unicode half blocks (default) or ascii", "STYLE"},
		G_OPTION_ENTRY_NULL,
	};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(DaDBusManager) manager = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	g_autoptr(GError) error = NULL;
	gulong handler_id;
	guint sigint_id;
	guint sigterm_id;

	context = da_option_context_new (
		NULL, "Print every status change of every account as it happens, and\n"
		      "show the code and the QR code of a sign-in that waits for the user.\n"
		      "Runs until interrupted.");
	g_option_context_add_main_entries (context, entries, NULL);
	if (!da_option_context_parse (context, "watch", &argc, &argv))
		return DA_EXIT_USAGE;
	if (argc > 1)
		return da_usage_error ("watch", "too many arguments");
	if (qr_style != NULL && !da_parse_qr_style (qr_style, &self.prompt.qr_style))
		return da_usage_error ("watch", "unknown QR code style '%s'", qr_style);
	self.prompt.show_qr = !no_qr;

	manager = da_manager_proxy_new (G_DBUS_PROXY_FLAGS_NONE, &error);
	if (manager == NULL)
		return da_fail (error);

	loop = g_main_loop_new (NULL, FALSE);
	self.loop = loop;
	handler_id = g_signal_connect (manager, "status-changed",
				       G_CALLBACK (da_watch_on_status_changed), &self);
	sigint_id = g_unix_signal_add (SIGINT, da_watch_on_signal, &self);
	sigterm_id = g_unix_signal_add (SIGTERM, da_watch_on_signal, &self);
	g_main_loop_run (loop);
	g_source_remove (sigint_id);
	g_source_remove (sigterm_id);
	g_signal_handler_disconnect (manager, handler_id);
	return DA_EXIT_OK;
}
