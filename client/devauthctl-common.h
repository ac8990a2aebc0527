/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "da-dbus-generated.h"
#include "da-names.h"
#include "devauthctl-qr.h"

G_BEGIN_DECLS

/* For a manager proxy that only calls methods: no GetAll, no AddMatch for
 * its properties or signals. */
#define DA_MANAGER_CALLS_ONLY                                                                      \
	(G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES | G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS)

/* The exit codes of every verb; devauthctl(1) and --help document them. */
typedef enum {
	DA_EXIT_OK = 0,
	DA_EXIT_ERROR = 1,
	DA_EXIT_USAGE = 2,
	DA_EXIT_DENIED = 3,
	DA_EXIT_EXPIRED = 4,
	DA_EXIT_CANCELLED = 5,
	DA_EXIT_TIMEOUT = 6,
} DaExit;

#define DA_EXIT_CODES_HELP                                                                         \
	"Exit status:\n"                                                                           \
	"  0  success\n"                                                                           \
	"  1  error\n"                                                                             \
	"  2  usage error\n"                                                                       \
	"  3  the sign-in was denied\n"                                                            \
	"  4  the sign-in code expired\n"                                                          \
	"  5  the sign-in was cancelled\n"                                                         \
	"  6  timeout"

/* verbs */
int
da_cmd_login (int argc, char **argv);
int
da_cmd_status (int argc, char **argv);
int
da_cmd_list (int argc, char **argv);
int
da_cmd_token (int argc, char **argv);
int
da_cmd_logout (int argc, char **argv);
int
da_cmd_cancel (int argc, char **argv);
int
da_cmd_refresh (int argc, char **argv);
int
da_cmd_watch (int argc, char **argv);
int
da_cmd_wait (int argc, char **argv);
int
da_cmd_qr (int argc, char **argv);

/* command line */
GOptionContext *
da_option_context_new (const gchar *parameter_string, const gchar *summary);
gboolean
da_option_context_parse (GOptionContext *context, const gchar *verb, int *argc, char ***argv);
int
da_usage_error (const gchar *verb, const gchar *format, ...) G_GNUC_PRINTF (2, 3);
gboolean
da_parse_seconds (const gchar *str, guint *out);
gboolean
da_parse_qr_style (const gchar *str, DaQrStyle *out);

/* errors */
void
da_print_error (const GError *error);
int
da_exit_code_for_error (const GError *error);
int
da_fail (const GError *error);

/* the bus */
GDBusConnection *
da_bus_get (GError **error);
DaDBusManager *
da_manager_proxy_new (GDBusProxyFlags flags, GError **error);
DaDBusAccount *
da_account_proxy_new (DaDBusManager *manager,
		      const gchar *path,
		      GDBusProxyFlags flags,
		      GError **error);
GVariant *
da_list_accounts (DaDBusManager *manager, GError **error);
gchar *
da_find_account_path (GVariant *accounts, const gchar *name, GError **error);
GDBusCallFlags
da_call_flags (void);
gboolean
da_manager_call_account (DaDBusManager *manager,
			 const gchar *method,
			 const gchar *account,
			 GError **error);

/* text */
gboolean
da_stdout_is_tty (void);
gboolean
da_stdout_has_color (void);
gchar *
da_sanitize (const gchar *str);
gchar *
da_format_time (gint64 unix_seconds);
gchar *
da_format_relative (gint64 unix_seconds, gint64 now);
gchar *
da_format_countdown (gint64 seconds);
gint64
da_now (void);
const gchar *
da_details_lookup_string (GVariant *details, const gchar *key);

/* the sign-in prompt (login, watch) */
typedef struct {
	gboolean show_qr;
	DaQrStyle qr_style;
} DaPromptOptions;

void
da_prompt_print (GVariant *prompt, const DaPromptOptions *options);

/* JSON output */
void
da_json_add_variant (JsonBuilder *builder, GVariant *value);
gchar *
da_json_to_string (JsonBuilder *builder);

G_END_DECLS
