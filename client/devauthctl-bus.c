/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devauthctl: the command-line client of devauthd.
 *
 *   devauthctl [--version] [--help] VERB [OPTION…] [ARG…]
 *
 * Each verb lives in its own file (devauthctl-VERB.c) and parses its own
 * options with a GOptionContext, so that every verb has its own --help.
 *
 * Built as devauthctl-bus and installed in libexecdir: the devauthctl that
 * users run is devauthctl.c, which answers `token` over devauthd's
 * Varlink socket and runs this program for everything else.
 */

#include "config.h"

#include <locale.h>
#include <stdio.h>

#include "devauthctl-common.h"

typedef struct {
	const gchar *name;
	int (*run) (int argc, char **argv);
	const gchar *summary;
} DaVerb;

static const DaVerb da_verbs[] = {
	{"login", da_cmd_login, "Sign an account in with a code and a QR code"},
	{"status", da_cmd_status, "Show the state of one or all accounts"},
	{"list", da_cmd_list, "List the accounts and their states"},
	{"token", da_cmd_token, "Print an access token"},
	{"logout", da_cmd_logout, "Sign an account out and forget its tokens"},
	{"cancel", da_cmd_cancel, "Stop a running sign-in"},
	{"refresh", da_cmd_refresh, "Refresh an access token now"},
	{"watch", da_cmd_watch, "Print status changes as they happen"},
	{"wait", da_cmd_wait, "Wait until accounts are signed in"},
	{"qr", da_cmd_qr, "Show the QR code of a waiting sign-in (text, PNG, SVG)"},
};

static void
da_print_help (void)
{
	g_print (
		"Usage:\n"
		"  devauthctl [--version] [--help] VERB [OPTION…]\n"
		"\n"
		"Sign this device in to an identity provider and get access tokens from devauthd.\n"
		"\n"
		"Verbs:\n");
	for (gsize i = 0; i < G_N_ELEMENTS (da_verbs); i++)
		g_print ("  %-9s %s\n", da_verbs[i].name, da_verbs[i].summary);
	g_print ("\n"
		 "ACCOUNT may be left out for the default account.\n"
		 "Run 'devauthctl VERB --help' for the options of a verb.\n"
		 "\n" DA_EXIT_CODES_HELP "\n");
}

static const DaVerb *
da_verb_find (const gchar *name)
{
	for (gsize i = 0; i < G_N_ELEMENTS (da_verbs); i++) {
		if (g_str_equal (da_verbs[i].name, name))
			return &da_verbs[i];
	}
	return NULL;
}

int
main (int argc, char **argv)
{
	const DaVerb *verb;
	g_autofree gchar *prgname = NULL;

	setlocale (LC_ALL, "");
	/* installed as devauthctl-bus, run by devauthctl (devauthctl.c) */
	g_set_prgname ("devauthctl");

	if (argc < 2)
		return da_usage_error (NULL, "no verb given");
	if (g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h")) {
		da_print_help ();
		return DA_EXIT_OK;
	}
	if (g_str_equal (argv[1], "--version")) {
		g_print ("devauthctl %s\n", PACKAGE_VERSION);
		return DA_EXIT_OK;
	}
	if (argv[1][0] == '-')
		return da_usage_error (NULL, "unknown option %s", argv[1]);

	verb = da_verb_find (argv[1]);
	if (verb == NULL)
		return da_usage_error (NULL, "unknown verb '%s'", argv[1]);

	/* so that the verb's --help reads "devauthctl VERB [OPTION…]" */
	prgname = g_strdup_printf ("devauthctl %s", verb->name);
	g_set_prgname (prgname);

	return verb->run (argc - 1, argv + 1);
}
