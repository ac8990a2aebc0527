/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devauthctl logout ACCOUNT
 * devauthctl cancel [ACCOUNT]
 * devauthctl refresh [ACCOUNT]
 *
 * One method call each; on success, one line that says what was done.
 */

#include "config.h"

#include "devauthctl-common.h"

typedef struct {
	const gchar *verb;
	const gchar *method;
	const gchar *parameter_string;
	const gchar *summary;
	gboolean account_required;
} DaAccountCall;

/* The account's proxy, or NULL when "" names one of several accounts
 * (or when it cannot be had: the call itself says why) */
static DaDBusAccount *
da_account_call_proxy (DaDBusManager *manager, const gchar *account)
{
	g_autoptr(GVariant) accounts = da_list_accounts (manager, NULL);
	g_autofree gchar *path = NULL;
	const gchar *first = NULL;

	if (accounts == NULL)
		return NULL;
	if (account[0] == '\0') {
		if (g_variant_n_children (accounts) != 1)
			return NULL;
		g_variant_get_child (accounts, 0, "(&so)", &first, NULL);
		account = first;
	}
	path = da_find_account_path (accounts, account, NULL);
	if (path == NULL)
		return NULL;
	return da_account_proxy_new (manager, path, G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
				     NULL);
}

/* What was done, after @method succeeded on @proxy's account ("the
 * default account" when it is not known which) */
static void
da_account_call_say (const gchar *method, DaDBusAccount *proxy, const gchar *state_before)
{
	g_autofree gchar *name = da_sanitize (proxy != NULL ? da_dbus_account_get_name (proxy)
							    : "the default account");

	if (g_str_equal (method, "Logout")) {
		if (g_strcmp0 (state_before, "signed-out") == 0)
			g_print ("%s was not signed in; nothing to do.\n", name);
		else
			g_print (
				"Signed %s out: its tokens are forgotten, and the identity provider "
				"was asked to revoke the sign-in.\n",
				name);
	} else if (g_str_equal (method, "CancelLogin")) {
		g_print ("Stopped the sign-in of %s.\n", name);
	} else if (proxy != NULL) {
		gint64 expires = 0;
		g_autoptr(GVariant) value = NULL;

		/* the property as it is now, not as the proxy cached it */
		value = g_dbus_proxy_call_sync (
			G_DBUS_PROXY (proxy), "org.freedesktop.DBus.Properties.Get",
			g_variant_new ("(ss)",
				       g_dbus_proxy_get_interface_name (G_DBUS_PROXY (proxy)),
				       "AccessTokenExpiresAt"),
			G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
		if (value != NULL) {
			g_autoptr(GVariant) inner = NULL;
			g_variant_get (value, "(v)", &inner);
			if (g_variant_is_of_type (inner, G_VARIANT_TYPE_INT64))
				expires = g_variant_get_int64 (inner);
		}
		if (expires > 0) {
			g_autofree gchar *when = da_format_time (expires);
			g_autofree gchar *relative = da_format_relative (expires, da_now ());
			g_print ("Refreshed the access token of %s: valid until %s (%s).\n", name,
				 when, relative);
		} else {
			g_print ("Refreshed the access token of %s.\n", name);
		}
	} else {
		g_print ("Refreshed the access token of %s.\n", name);
	}
}

static int
da_account_call_run (const DaAccountCall *call, int argc, char **argv)
{
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(DaDBusManager) manager = NULL;
	g_autoptr(DaDBusAccount) proxy = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *state_before = NULL;
	const gchar *account = "";

	context = da_option_context_new (call->parameter_string, call->summary);
	if (!da_option_context_parse (context, call->verb, &argc, &argv))
		return DA_EXIT_USAGE;
	if (argc > 2)
		return da_usage_error (call->verb, "too many arguments");
	if (argc < 2 && call->account_required)
		return da_usage_error (call->verb, "no account given");
	if (argc == 2)
		account = argv[1];

	manager = da_manager_proxy_new (DA_MANAGER_CALLS_ONLY, &error);
	if (manager == NULL)
		return da_fail (error);
	proxy = da_account_call_proxy (manager, account);
	if (proxy != NULL)
		state_before = g_strdup (da_dbus_account_get_state (proxy));
	if (!da_manager_call_account (manager, call->method, account, &error))
		return da_fail (error);
	da_account_call_say (call->method, proxy, state_before);
	return DA_EXIT_OK;
}

int
da_cmd_logout (int argc, char **argv)
{
	static const DaAccountCall call = {
		.verb = "logout",
		.method = "Logout",
		.parameter_string = "ACCOUNT",
		.summary = "Sign ACCOUNT out: revoke its refresh token at the identity provider\n"
			   "and forget every token of it.",
		.account_required = TRUE,
	};
	return da_account_call_run (&call, argc, argv);
}

int
da_cmd_cancel (int argc, char **argv)
{
	static const DaAccountCall call = {
		.verb = "cancel",
		.method = "CancelLogin",
		.parameter_string = "[ACCOUNT]",
		.summary = "Stop the running sign-in of ACCOUNT (default: the default account).",
		.account_required = FALSE,
	};
	return da_account_call_run (&call, argc, argv);
}

int
da_cmd_refresh (int argc, char **argv)
{
	static const DaAccountCall call = {
		.verb = "refresh",
		.method = "Refresh",
		.parameter_string = "[ACCOUNT]",
		.summary =
			"Refresh the access token of ACCOUNT (default: the default account) now.",
		.account_required = FALSE,
	};
	return da_account_call_run (&call, argc, argv);
}
