/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "config.h"

#include "devauthctl-common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "da-text.h"

/* command line */

GOptionContext *
da_option_context_new (const gchar *parameter_string, const gchar *summary)
{
	GOptionContext *context = g_option_context_new (parameter_string);

	g_option_context_set_summary (context, summary);
	g_option_context_set_description (context, DA_EXIT_CODES_HELP);
	return context;
}

/* Prints the usage error itself; the verb returns DA_EXIT_USAGE on FALSE. */
gboolean
da_option_context_parse (GOptionContext *context, const gchar *verb, int *argc, char ***argv)
{
	g_autoptr(GError) error = NULL;

	if (!g_option_context_parse (context, argc, argv, &error)) {
		da_usage_error (verb, "%s", error->message);
		return FALSE;
	}
	return TRUE;
}

int
da_usage_error (const gchar *verb, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *message = NULL;

	va_start (args, format);
	message = g_strdup_vprintf (format, args);
	va_end (args);

	g_printerr ("devauthctl: %s\n", message);
	if (verb != NULL)
		g_printerr ("Try 'devauthctl %s --help'.\n", verb);
	else
		g_printerr ("Try 'devauthctl --help'.\n");
	return DA_EXIT_USAGE;
}

/* Decimal digits only: no sign, no blanks, no base prefix, no suffix. */
gboolean
da_parse_seconds (const gchar *str, guint *out)
{
	guint64 value = 0;

	if (str == NULL || !g_ascii_isdigit (str[0]))
		return FALSE;
	if (!g_ascii_string_to_unsigned (str, 10, 0, G_MAXUINT32, &value, NULL))
		return FALSE;
	*out = (guint) value;
	return TRUE;
}

gboolean
da_parse_qr_style (const gchar *str, DaQrStyle *out)
{
	if (g_strcmp0 (str, "unicode") == 0) {
		*out = DA_QR_STYLE_UNICODE;
		return TRUE;
	}
	if (g_strcmp0 (str, "ascii") == 0) {
		*out = DA_QR_STYLE_ASCII;
		return TRUE;
	}
	return FALSE;
}

/* errors */

static gboolean
da_error_is_not_running (const GError *error)
{
	return g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
	       g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER);
}

/* D-Bus activation failed: the bus could not spawn devauthd, systemd could
 * not start its unit (no such unit, masked, …), or it did not start in time.
 * The bus sends these errors in place of the reply to a call that would
 * have started devauthd. */
static gboolean
da_error_is_not_started (const GError *error)
{
	g_autofree gchar *name = g_dbus_error_get_remote_error (error);

	if (name == NULL)
		return FALSE;
	return g_str_has_prefix (name, "org.freedesktop.DBus.Error.Spawn.") ||
	       g_str_has_prefix (name, "org.freedesktop.systemd1.") ||
	       g_str_equal (name, "org.freedesktop.DBus.Error.TimedOut");
}

void
da_print_error (const GError *error)
{
	g_autoptr(GError) copy = NULL;
	g_autofree gchar *message = NULL;

	if (da_error_is_not_running (error)) {
		g_printerr ("devauthctl: devauthd is not running\n");
		return;
	}
	copy = g_error_copy (error);
	g_dbus_error_strip_remote_error (copy);
	message = da_sanitize (copy->message);
	if (da_error_is_not_started (error)) {
		g_printerr ("devauthctl: devauthd is not running and could not be started: %s\n",
			    message);
		return;
	}
	g_printerr ("devauthctl: %s\n", message);
}

int
da_exit_code_for_error (const GError *error)
{
	g_autofree gchar *name = g_dbus_error_get_remote_error (error);

	if (g_strcmp0 (name, DA_DBUS_ERROR (DA_ERROR_NAME_LOGIN_DENIED)) == 0)
		return DA_EXIT_DENIED;
	if (g_strcmp0 (name, DA_DBUS_ERROR (DA_ERROR_NAME_LOGIN_EXPIRED)) == 0)
		return DA_EXIT_EXPIRED;
	if (g_strcmp0 (name, DA_DBUS_ERROR (DA_ERROR_NAME_CANCELLED)) == 0)
		return DA_EXIT_CANCELLED;
	return DA_EXIT_ERROR;
}

/* Prints @error and returns the exit code that goes with it. */
int
da_fail (const GError *error)
{
	da_print_error (error);
	return da_exit_code_for_error (error);
}

/* the bus */

GDBusConnection *
da_bus_get (GError **error)
{
	g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, error);

	if (bus == NULL) {
		g_prefix_error (error, "cannot connect to the system bus: ");
		return NULL;
	}
	return g_steal_pointer (&bus);
}

/* A proxy of the manager; @flags: which of its properties and signals the
 * verb does without (DO_NOT_LOAD_PROPERTIES, DO_NOT_CONNECT_SIGNALS), each
 * one bus round trip or two saved. */
DaDBusManager *
da_manager_proxy_new (GDBusProxyFlags flags, GError **error)
{
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(DaDBusManager) manager = NULL;
	g_autofree gchar *owner = NULL;

	bus = da_bus_get (error);
	if (bus == NULL)
		return NULL;
	/* auto-start stays on: D-Bus activation starts devauthd when it can */
	manager = da_dbus_manager_proxy_new_sync (bus, flags, DA_BUS_NAME, DA_MANAGER_OBJECT_PATH,
						  NULL, error);
	if (manager == NULL)
		return NULL;
	owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (manager));
	if (owner == NULL) {
		g_set_error_literal (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER,
				     "devauthd is not running");
		return NULL;
	}
	return g_steal_pointer (&manager);
}

/* A proxy silently starts with no properties when GetAll fails (for
 * instance when the caller may not read them); ask once more to get the
 * reason, and fill the cache when the second try works. */
static gboolean
da_account_load_properties (DaDBusAccount *account, GError **error)
{
	GDBusProxy *proxy = G_DBUS_PROXY (account);
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) properties = NULL;
	GVariantIter iter;
	const gchar *name;
	GVariant *value;

	reply = g_dbus_connection_call_sync (
		g_dbus_proxy_get_connection (proxy), g_dbus_proxy_get_name (proxy),
		g_dbus_proxy_get_object_path (proxy), "org.freedesktop.DBus.Properties", "GetAll",
		g_variant_new ("(s)", g_dbus_proxy_get_interface_name (proxy)),
		G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
	if (reply == NULL)
		return FALSE;
	properties = g_variant_get_child_value (reply, 0);
	g_variant_iter_init (&iter, properties);
	while (g_variant_iter_loop (&iter, "{&sv}", &name, &value))
		g_dbus_proxy_set_cached_property (proxy, name, value);
	return TRUE;
}

DaDBusAccount *
da_account_proxy_new (DaDBusManager *manager,
		      const gchar *path,
		      GDBusProxyFlags flags,
		      GError **error)
{
	GDBusProxy *manager_proxy = G_DBUS_PROXY (manager);
	g_autoptr(DaDBusAccount) account = NULL;
	g_auto(GStrv) names = NULL;

	/* the manager proxy has started devauthd already */
	account = da_dbus_account_proxy_new_sync (
		g_dbus_proxy_get_connection (manager_proxy),
		flags | G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START_AT_CONSTRUCTION, DA_BUS_NAME, path,
		NULL, error);
	if (account == NULL)
		return NULL;
	names = g_dbus_proxy_get_cached_property_names (G_DBUS_PROXY (account));
	if (names == NULL && !da_account_load_properties (account, error))
		return NULL;
	return g_steal_pointer (&account);
}

GVariant *
da_list_accounts (DaDBusManager *manager, GError **error)
{
	g_autoptr(GVariant) accounts = NULL;

	if (!da_dbus_manager_call_list_accounts_sync (manager, &accounts, NULL, error))
		return NULL;
	return g_steal_pointer (&accounts);
}

/* The path of account @name in a ListAccounts() reply; "" is the only
 * account when exactly one is configured. */
gchar *
da_find_account_path (GVariant *accounts, const gchar *name, GError **error)
{
	GVariantIter iter;
	const gchar *account_name;
	const gchar *path;
	gsize n_accounts = g_variant_n_children (accounts);

	if (name[0] == '\0' && n_accounts == 1) {
		g_variant_get_child (accounts, 0, "(&s&o)", NULL, &path);
		return g_strdup (path);
	}
	if (name[0] == '\0') {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
				     n_accounts == 0 ? "no account is configured"
						     : "several accounts are configured; name one");
		return NULL;
	}
	g_variant_iter_init (&iter, accounts);
	while (g_variant_iter_next (&iter, "(&s&o)", &account_name, &path)) {
		if (g_str_equal (account_name, name))
			return g_strdup (path);
	}
	g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no account named '%s'", name);
	return NULL;
}

/* Sign-in and sign-out may ask for a password through a polkit agent. */
GDBusCallFlags
da_call_flags (void)
{
	if (isatty (STDIN_FILENO))
		return G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION;
	return G_DBUS_CALL_FLAGS_NONE;
}

/* Calls a Manager method that takes just the account and returns nothing. */
gboolean
da_manager_call_account (DaDBusManager *manager,
			 const gchar *method,
			 const gchar *account,
			 GError **error)
{
	g_autoptr(GVariant) reply = NULL;

	reply = g_dbus_proxy_call_sync (G_DBUS_PROXY (manager), method,
					g_variant_new ("(s)", account), da_call_flags (), G_MAXINT,
					NULL, error);
	return reply != NULL;
}

/* text */

gboolean
da_stdout_is_tty (void)
{
	return isatty (STDOUT_FILENO);
}

gboolean
da_stdout_has_color (void)
{
	const gchar *term = g_getenv ("TERM");
	const gchar *no_color = g_getenv ("NO_COLOR");

	if (!da_stdout_is_tty ())
		return FALSE;
	if (no_color != NULL && no_color[0] != '\0')
		return FALSE;
	return term != NULL && term[0] != '\0' && !g_str_equal (term, "dumb");
}

/* Text from the daemon or the identity provider, made safe to print to a
 * terminal: control and bidirectional characters (da-text.h) become \xNN
 * or \uNNNN, and each byte of invalid UTF-8 \xNN. */
gchar *
da_sanitize (const gchar *str)
{
	g_autoptr(GString) out = g_string_new (NULL);
	const gchar *p = str != NULL ? str : "";

	while (*p != '\0') {
		gunichar c = g_utf8_get_char_validated (p, -1);

		if (c == (gunichar) -1 || c == (gunichar) -2) {
			g_string_append_printf (out, "\\x%02x", (guchar) *p);
			p++;
			continue;
		}
		if (da_text_char_is_unsafe (c))
			g_string_append_printf (out, c > 0xff ? "\\u%04x" : "\\x%02x", c);
		else
			g_string_append_len (out, p, g_utf8_next_char (p) - p);
		p = g_utf8_next_char (p);
	}
	return g_string_free (g_steal_pointer (&out), FALSE);
}

gint64
da_now (void)
{
	return g_get_real_time () / G_USEC_PER_SEC;
}

gchar *
da_format_time (gint64 unix_seconds)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (unix_seconds);

	if (dt == NULL)
		return g_strdup_printf ("%" G_GINT64_FORMAT, unix_seconds);
	return g_date_time_format (dt, "%a %Y-%m-%d %H:%M:%S %Z");
}

static gchar *
da_format_span (gint64 seconds)
{
	if (seconds < 60)
		return g_strdup_printf ("%" G_GINT64_FORMAT " s", seconds);
	if (seconds < 3600)
		return g_strdup_printf ("%" G_GINT64_FORMAT " min", seconds / 60);
	if (seconds < 86400 && (seconds % 3600) / 60 == 0)
		return g_strdup_printf ("%" G_GINT64_FORMAT " h", seconds / 3600);
	if (seconds < 86400)
		return g_strdup_printf ("%" G_GINT64_FORMAT " h %" G_GINT64_FORMAT " min",
					seconds / 3600, (seconds % 3600) / 60);
	if (seconds < 2 * 86400)
		return g_strdup ("1 day");
	return g_strdup_printf ("%" G_GINT64_FORMAT " days", seconds / 86400);
}

/* "in 4 min", "12 s ago", "now" */
gchar *
da_format_relative (gint64 unix_seconds, gint64 now)
{
	g_autofree gchar *span = NULL;

	if (unix_seconds == now)
		return g_strdup ("now");
	if (unix_seconds > now) {
		span = da_format_span (unix_seconds - now);
		return g_strdup_printf ("in %s", span);
	}
	span = da_format_span (now - unix_seconds);
	return g_strdup_printf ("%s ago", span);
}

/* "9:58", or "1:02:03" past an hour */
gchar *
da_format_countdown (gint64 seconds)
{
	if (seconds < 0)
		seconds = 0;
	if (seconds >= 3600)
		return g_strdup_printf ("%" G_GINT64_FORMAT ":%02d:%02d", seconds / 3600,
					(int) (seconds % 3600 / 60), (int) (seconds % 60));
	return g_strdup_printf ("%d:%02d", (int) (seconds / 60), (int) (seconds % 60));
}

/* Borrowed from @details; "" when the key is missing or not a string. */
const gchar *
da_details_lookup_string (GVariant *details, const gchar *key)
{
	const gchar *value = NULL;

	if (details == NULL || !g_variant_lookup (details, key, "&s", &value))
		return "";
	return value;
}

/* the sign-in prompt */

static void
da_prompt_print_qr (GVariant *prompt, const DaPromptOptions *options)
{
	g_autofree gchar *qr = NULL;
	g_autoptr(GError) error = NULL;

	qr = da_qr_render_details (prompt, options->qr_style, da_stdout_has_color (), &error);
	if (qr == NULL) {
		g_debug ("not showing the QR code: %s", error->message);
		return;
	}
	g_print ("or scan this QR code with a phone:\n\n%s\n", qr);
}

void
da_prompt_print (GVariant *prompt, const DaPromptOptions *options)
{
	gboolean color = da_stdout_has_color ();
	g_autofree gchar *uri = da_sanitize (da_details_lookup_string (prompt, "verification-uri"));
	g_autofree gchar *code = da_sanitize (da_details_lookup_string (prompt, "user-code"));
	g_autofree gchar *complete =
		da_sanitize (da_details_lookup_string (prompt, "verification-uri-complete"));

	g_print ("To sign in, visit\n\n    %s\n\nand enter the code\n\n    %s%s%s\n\n", uri,
		 color ? "\033[1m" : "", code, color ? "\033[0m" : "");
	if (complete[0] != '\0' && !g_str_equal (complete, uri))
		g_print ("or open %s\n", complete);
	if (options->show_qr)
		da_prompt_print_qr (prompt, options);
	else
		g_print ("\n");
}

/* JSON output, with json-glib */

static gboolean
da_json_add_number (JsonBuilder *builder, GVariant *value)
{
	if (g_variant_is_of_type (value, G_VARIANT_TYPE_BYTE))
		json_builder_add_int_value (builder, g_variant_get_byte (value));
	else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT16))
		json_builder_add_int_value (builder, g_variant_get_int16 (value));
	else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT16))
		json_builder_add_int_value (builder, g_variant_get_uint16 (value));
	else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
		json_builder_add_int_value (builder, g_variant_get_int32 (value));
	else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
		json_builder_add_int_value (builder, g_variant_get_uint32 (value));
	else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
		json_builder_add_int_value (builder, g_variant_get_int64 (value));
	else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64) &&
		 g_variant_get_uint64 (value) <= G_MAXINT64)
		json_builder_add_int_value (builder, (gint64) g_variant_get_uint64 (value));
	else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
		json_builder_add_double_value (builder, (gdouble) g_variant_get_uint64 (value));
	else if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE) &&
		 isfinite (g_variant_get_double (value)))
		json_builder_add_double_value (builder, g_variant_get_double (value));
	else if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
		json_builder_add_null_value (builder);
	else
		return FALSE;
	return TRUE;
}

/* Any D-Bus value as JSON: a{sv} becomes an object, other containers
 * arrays (json_gvariant_serialize () would make strings of some). */
void
da_json_add_variant (JsonBuilder *builder, GVariant *value)
{
	if (da_json_add_number (builder, value))
		return;
	if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN)) {
		json_builder_add_boolean_value (builder, g_variant_get_boolean (value));
	} else if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ||
		   g_variant_is_of_type (value, G_VARIANT_TYPE_OBJECT_PATH) ||
		   g_variant_is_of_type (value, G_VARIANT_TYPE_SIGNATURE)) {
		json_builder_add_string_value (builder, g_variant_get_string (value, NULL));
	} else if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT)) {
		g_autoptr(GVariant) inner = g_variant_get_variant (value);
		da_json_add_variant (builder, inner);
	} else if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARDICT)) {
		GVariantIter iter;
		const gchar *key;
		GVariant *child;

		json_builder_begin_object (builder);
		g_variant_iter_init (&iter, value);
		while (g_variant_iter_loop (&iter, "{&sv}", &key, &child)) {
			json_builder_set_member_name (builder, key);
			da_json_add_variant (builder, child);
		}
		json_builder_end_object (builder);
	} else if (g_variant_is_container (value)) {
		GVariantIter iter;
		GVariant *child;

		json_builder_begin_array (builder);
		g_variant_iter_init (&iter, value);
		while ((child = g_variant_iter_next_value (&iter)) != NULL) {
			da_json_add_variant (builder, child);
			g_variant_unref (child);
		}
		json_builder_end_array (builder);
	} else {
		g_autofree gchar *printed = g_variant_print (value, FALSE);
		json_builder_add_string_value (builder, printed);
	}
}

/* What @builder built, on one line */
gchar *
da_json_to_string (JsonBuilder *builder)
{
	g_autoptr(JsonNode) root = json_builder_get_root (builder);
	g_autoptr(JsonGenerator) generator = json_generator_new ();

	json_generator_set_root (generator, root);
	return json_generator_to_data (generator, NULL);
}
