/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devauthctl status [ACCOUNT] [--json]
 * devauthctl list [--json]
 */

#include "config.h"

#include <string.h>

#include "devauthctl-common.h"

/* The proxies of account @name (or of every account when @name is NULL),
 * with their properties loaded. */
static GPtrArray *
da_status_load_accounts (DaDBusManager *manager, const gchar *name, GError **error)
{
	g_autoptr(GPtrArray) result = g_ptr_array_new_with_free_func (g_object_unref);
	g_autoptr(GVariant) accounts = NULL;
	GVariantIter iter;
	const gchar *path;

	accounts = da_list_accounts (manager, error);
	if (accounts == NULL)
		return NULL;
	if (name != NULL) {
		g_autofree gchar *found = da_find_account_path (accounts, name, error);
		g_autoptr(DaDBusAccount) account = NULL;

		if (found == NULL)
			return NULL;
		account = da_account_proxy_new (manager, found,
						G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS, error);
		if (account == NULL)
			return NULL;
		g_ptr_array_add (result, g_steal_pointer (&account));
		return g_steal_pointer (&result);
	}
	g_variant_iter_init (&iter, accounts);
	while (g_variant_iter_next (&iter, "(&s&o)", NULL, &path)) {
		DaDBusAccount *account = da_account_proxy_new (
			manager, path, G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS, error);
		if (account == NULL)
			return NULL;
		g_ptr_array_add (result, account);
	}
	return g_steal_pointer (&result);
}

static const gchar *
da_str (const gchar *str)
{
	return str != NULL ? str : "";
}

static void
da_status_print_field (const gchar *label, const gchar *value)
{
	g_autofree gchar *safe = da_sanitize (value);

	g_print ("%13s: %s\n", label, safe);
}

static void
da_status_print_expiry (const gchar *label, gint64 expires_at, gint64 now)
{
	g_autofree gchar *when = da_format_time (expires_at);
	g_autofree gchar *relative = da_format_relative (expires_at, now);
	g_autofree gchar *text = NULL;

	text = g_strdup_printf ("%s %s (%s)", expires_at > now ? "expires" : "expired", when,
				relative);
	da_status_print_field (label, text);
}

static void
da_status_print_account (DaDBusAccount *account, gint64 now)
{
	const gchar *state = da_str (da_dbus_account_get_state (account));
	const gchar *subject = da_str (da_dbus_account_get_subject (account));
	const gchar *user_name = da_str (da_dbus_account_get_user_name (account));
	const gchar *last_error = da_str (da_dbus_account_get_last_error (account));
	const gchar *const *scopes = da_dbus_account_get_scopes (account);
	g_autofree gchar *name = da_sanitize (da_dbus_account_get_name (account));
	g_autofree gchar *scopes_str = NULL;
	gint64 token_expires_at = da_dbus_account_get_access_token_expires_at (account);
	gint64 login_expires_at = da_dbus_account_get_login_expires_at (account);
	gint64 sign_in_expires_at = da_dbus_account_get_sign_in_expires_at (account);

	scopes_str = scopes != NULL ? g_strjoinv (" ", (gchar **) scopes) : g_strdup ("");
	g_print ("%s\n", name);
	da_status_print_field ("State", state);
	if (user_name[0] != '\0')
		da_status_print_field ("User", user_name);
	if (subject[0] != '\0')
		da_status_print_field ("Subject", subject);
	da_status_print_field ("Issuer", da_str (da_dbus_account_get_issuer (account)));
	da_status_print_field ("Client ID", da_str (da_dbus_account_get_client_id (account)));
	da_status_print_field ("Scopes", scopes_str);
	if (token_expires_at > 0)
		da_status_print_expiry ("Access token", token_expires_at, now);
	else
		da_status_print_field ("Access token", "none");
	if (g_str_equal (state, "signed-in")) {
		if (sign_in_expires_at > 0) {
			/* the IdP's word: the sign-in ends then unless renewed */
			g_autofree gchar *when = da_format_time (sign_in_expires_at);
			g_autofree gchar *relative = da_format_relative (sign_in_expires_at, now);
			g_autofree gchar *text = g_strdup_printf (
				"%s %s (%s) unless renewed",
				sign_in_expires_at > now ? "ends" : "ended", when, relative);
			da_status_print_field ("Sign-in", text);
		} else {
			da_status_print_field ("Sign-in", "no end announced by the IdP");
		}
	}
	if (g_str_equal (state, "awaiting-user") && login_expires_at > 0)
		da_status_print_expiry ("Sign-in code", login_expires_at, now);
	if (last_error[0] != '\0')
		da_status_print_field ("Last error", last_error);
}

static void
da_json_add_string (JsonBuilder *json, const gchar *key, const gchar *value)
{
	json_builder_set_member_name (json, key);
	json_builder_add_string_value (json, value != NULL ? value : "");
}

static void
da_json_add_time (JsonBuilder *json, const gchar *key, gint64 unix_seconds)
{
	json_builder_set_member_name (json, key);
	if (unix_seconds > 0)
		json_builder_add_int_value (json, unix_seconds);
	else
		json_builder_add_null_value (json);
}

static void
da_status_json_account (JsonBuilder *json, DaDBusAccount *account)
{
	const gchar *const *scopes = da_dbus_account_get_scopes (account);

	json_builder_begin_object (json);
	da_json_add_string (json, "name", da_dbus_account_get_name (account));
	da_json_add_string (json, "state", da_dbus_account_get_state (account));
	da_json_add_string (json, "subject", da_dbus_account_get_subject (account));
	da_json_add_string (json, "user_name", da_dbus_account_get_user_name (account));
	da_json_add_string (json, "issuer", da_dbus_account_get_issuer (account));
	da_json_add_string (json, "client_id", da_dbus_account_get_client_id (account));
	json_builder_set_member_name (json, "scopes");
	json_builder_begin_array (json);
	for (gsize i = 0; scopes != NULL && scopes[i] != NULL; i++)
		json_builder_add_string_value (json, scopes[i]);
	json_builder_end_array (json);
	da_json_add_time (json, "access_token_expires_at",
			  da_dbus_account_get_access_token_expires_at (account));
	da_json_add_time (json, "login_expires_at", da_dbus_account_get_login_expires_at (account));
	da_json_add_time (json, "sign_in_expires_at",
			  da_dbus_account_get_sign_in_expires_at (account));
	da_json_add_string (json, "last_error", da_dbus_account_get_last_error (account));
	json_builder_end_object (json);
}

static void
da_status_print_json (GPtrArray *accounts, gboolean single)
{
	g_autoptr(JsonBuilder) json = json_builder_new ();
	g_autofree gchar *text = NULL;

	if (!single)
		json_builder_begin_array (json);
	for (guint i = 0; i < accounts->len; i++)
		da_status_json_account (json, g_ptr_array_index (accounts, i));
	if (!single)
		json_builder_end_array (json);
	text = da_json_to_string (json);
	g_print ("%s\n", text);
}

/* The manager's ConfigProblems, a(sss), or NULL from a devauthd without them */
static GVariant *
da_status_config_problems (DaDBusManager *manager)
{
	GDBusProxy *proxy = G_DBUS_PROXY (manager);
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) value = NULL;

	reply = g_dbus_connection_call_sync (
		g_dbus_proxy_get_connection (proxy), g_dbus_proxy_get_name (proxy),
		g_dbus_proxy_get_object_path (proxy), "org.freedesktop.DBus.Properties", "Get",
		g_variant_new ("(ss)", g_dbus_proxy_get_interface_name (proxy), "ConfigProblems"),
		G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
	if (reply == NULL)
		return NULL;
	g_variant_get (reply, "(v)", &value);
	if (!g_variant_is_of_type (value, G_VARIANT_TYPE ("a(sss)")))
		return NULL;
	return g_steal_pointer (&value);
}

typedef void (*DaProblemFunc) (const gchar *account,
			       const gchar *kind,
			       const gchar *message,
			       gpointer user_data);

/* @func for each problem of @only (or of every account when NULL) that is
 * an error (@errors) or a warning */
static void
da_status_each_problem (GVariant *problems,
			const gchar *only,
			gboolean errors,
			DaProblemFunc func,
			gpointer user_data)
{
	GVariantIter iter;
	const gchar *account;
	const gchar *kind;
	const gchar *message;

	if (problems == NULL)
		return;
	g_variant_iter_init (&iter, problems);
	while (g_variant_iter_next (&iter, "(&s&s&s)", &account, &kind, &message)) {
		if ((only == NULL || g_str_equal (only, account)) &&
		    g_str_equal (kind, "error") == errors)
			func (account, kind, message, user_data);
	}
}

static void
da_status_first_message (const gchar *account,
			 const gchar *kind,
			 const gchar *message,
			 gpointer user_data)
{
	const gchar **first = user_data;

	if (*first == NULL)
		*first = message;
}

typedef struct {
	gboolean all; /* of every account: with a heading and the account's name */
	guint printed;
} DaProblemPrint;

static void
da_status_print_problem (const gchar *account,
			 const gchar *kind,
			 const gchar *message,
			 gpointer user_data)
{
	DaProblemPrint *p = user_data;
	g_autofree gchar *safe_account = da_sanitize (account);
	g_autofree gchar *safe = da_sanitize (message);

	if (p->all && p->printed == 0)
		g_print ("\nConfiguration problems:\n");
	if (p->all)
		g_print ("  %s: %s: %s\n", safe_account, kind, safe);
	else
		g_print ("%13s: %s\n", kind, safe);
	p->printed++;
}

/* The problems of @only (or of every account when NULL, after a
 * heading), errors first */
static void
da_status_print_problems (GVariant *problems, const gchar *only)
{
	DaProblemPrint p = {only == NULL, 0};

	da_status_each_problem (problems, only, TRUE, da_status_print_problem, &p);
	da_status_each_problem (problems, only, FALSE, da_status_print_problem, &p);
}

int
da_cmd_status (int argc, char **argv)
{
	gboolean json = FALSE;
	const GOptionEntry entries[] = {
		{"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
		G_OPTION_ENTRY_NULL,
	};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(DaDBusManager) manager = NULL;
	g_autoptr(GPtrArray) accounts = NULL;
	g_autoptr(GVariant) problems = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *name = NULL;
	gint64 now = da_now ();

	context = da_option_context_new ("[ACCOUNT]",
					 "Show the state of ACCOUNT, or of every account.");
	g_option_context_add_main_entries (context, entries, NULL);
	if (!da_option_context_parse (context, "status", &argc, &argv))
		return DA_EXIT_USAGE;
	if (argc > 2)
		return da_usage_error ("status", "too many arguments");
	if (argc == 2)
		name = argv[1];

	manager = da_manager_proxy_new (DA_MANAGER_CALLS_ONLY, &error);
	if (manager == NULL)
		return da_fail (error);
	problems = da_status_config_problems (manager);
	accounts = da_status_load_accounts (manager, name, &error);
	if (accounts == NULL) {
		/* an account whose file was refused: why */
		const gchar *refused = NULL;

		if (name != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
			da_status_each_problem (problems, name, TRUE, da_status_first_message,
						&refused);
		if (refused != NULL) {
			g_autofree gchar *safe = da_sanitize (name);
			g_autofree gchar *text = da_sanitize (refused);
			g_printerr ("devauthctl: account '%s' is not loaded: %s\n", safe, text);
			return DA_EXIT_ERROR;
		}
		return da_fail (error);
	}

	if (json) {
		da_status_print_json (accounts, name != NULL);
		return DA_EXIT_OK;
	}
	for (guint i = 0; i < accounts->len; i++) {
		if (i > 0)
			g_print ("\n");
		da_status_print_account (g_ptr_array_index (accounts, i), now);
		if (name != NULL)
			da_status_print_problems (problems, name);
	}
	if (name == NULL)
		da_status_print_problems (problems, NULL);
	return DA_EXIT_OK;
}

static void
da_list_print_json (GPtrArray *accounts)
{
	g_autoptr(JsonBuilder) json = json_builder_new ();
	g_autofree gchar *text = NULL;

	json_builder_begin_array (json);
	for (guint i = 0; i < accounts->len; i++) {
		DaDBusAccount *account = g_ptr_array_index (accounts, i);

		json_builder_begin_object (json);
		da_json_add_string (json, "name", da_dbus_account_get_name (account));
		da_json_add_string (json, "state", da_dbus_account_get_state (account));
		json_builder_end_object (json);
	}
	json_builder_end_array (json);
	text = da_json_to_string (json);
	g_print ("%s\n", text);
}

static void
da_list_print (GPtrArray *accounts)
{
	gsize width = 0;

	/* account names are ASCII */
	for (guint i = 0; i < accounts->len; i++) {
		const gchar *name =
			da_str (da_dbus_account_get_name (g_ptr_array_index (accounts, i)));
		width = MAX (width, strlen (name));
	}
	for (guint i = 0; i < accounts->len; i++) {
		DaDBusAccount *account = g_ptr_array_index (accounts, i);
		g_autofree gchar *name = da_sanitize (da_dbus_account_get_name (account));
		g_autofree gchar *state = da_sanitize (da_dbus_account_get_state (account));

		g_print ("%-*s  %s\n", (int) width, name, state);
	}
}

int
da_cmd_list (int argc, char **argv)
{
	gboolean json = FALSE;
	const GOptionEntry entries[] = {
		{"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
		G_OPTION_ENTRY_NULL,
	};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(DaDBusManager) manager = NULL;
	g_autoptr(GPtrArray) accounts = NULL;
	g_autoptr(GError) error = NULL;

	context = da_option_context_new (NULL, "List the accounts, one a line, with their states.");
	g_option_context_add_main_entries (context, entries, NULL);
	if (!da_option_context_parse (context, "list", &argc, &argv))
		return DA_EXIT_USAGE;
	if (argc > 1)
		return da_usage_error ("list", "too many arguments");

	manager = da_manager_proxy_new (DA_MANAGER_CALLS_ONLY, &error);
	if (manager == NULL)
		return da_fail (error);
	accounts = da_status_load_accounts (manager, NULL, &error);
	if (accounts == NULL)
		return da_fail (error);

	if (json)
		da_list_print_json (accounts);
	else
		da_list_print (accounts);
	return DA_EXIT_OK;
}
