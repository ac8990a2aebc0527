/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devauthctl logout ACCOUNT
 * devauthctl cancel [ACCOUNT]
 * devauthctl refresh [ACCOUNT]
 *
 * One method call each, with nothing to print on success.
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

static int
da_account_call_run (const DaAccountCall *call, int argc, char **argv)
{
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(DaDBusManager) manager = NULL;
	g_autoptr(GError) error = NULL;
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
	if (!da_manager_call_account (manager, call->method, account, &error))
		return da_fail (error);
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
