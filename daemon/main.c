/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <glib-unix.h>
#include <errno.h>
#include <locale.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>

#include "da-authority.h"
#include "da-config.h"
#include "da-dbus-service.h"
#include "da-manager.h"
#include "da-notify.h"
#include "da-pipeline.h"
#include "da-varlink.h"

typedef struct {
	GMainLoop *loop;
	GDBusConnection *bus;
	DaManager *manager;
	DaAuthority *authority; /* polkit, loaded and reached on first use */
	DaPipeline *pipeline;	/* what either front asks of the core */
	DaService *service;
	DaVarlinkServer *varlink;
	gchar *runtime_dir;
	guint owner_id;
	guint watchdog_id;
	guint trim_id;
	gint exit_code;
} DaDaemon;

static void
da_daemon_clear (DaDaemon *d)
{
	g_clear_handle_id (&d->owner_id, g_bus_unown_name);
	g_clear_handle_id (&d->watchdog_id, g_source_remove);
	g_clear_handle_id (&d->trim_id, g_source_remove);
	g_clear_object (&d->varlink);
	g_clear_object (&d->service);
	g_clear_object (&d->pipeline);
	g_clear_object (&d->authority);
	g_clear_pointer (&d->runtime_dir, g_free);
	g_clear_object (&d->manager);
	g_clear_pointer (&d->loop, g_main_loop_unref);
	g_clear_object (&d->bus);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DaDaemon, da_daemon_clear)

static void
update_status (DaDaemon *d)
{
	guint total = da_manager_get_accounts (d->manager)->len;

	da_notifyf ("STATUS=Signed in: %u of %u account%s", da_manager_count_signed_in (d->manager),
		    total, total == 1 ? "" : "s");
}

static gboolean
trim_cb (gpointer user_data)
{
	DaDaemon *d = user_data;

	d->trim_id = 0;
	malloc_trim (0);
	return G_SOURCE_REMOVE;
}

static void
status_changed_cb (DaManager *manager,
		   DaAccount *account,
		   const gchar *state,
		   const DaStatus *details,
		   DaDaemon *d)
{
	update_status (d);
	/* a sign-in, a sign-out or many of them at once leave the heap full
	 * of holes; once things are quiet, give the free pages back */
	g_clear_handle_id (&d->trim_id, g_source_remove);
	d->trim_id = g_timeout_add_seconds_full (G_PRIORITY_LOW, 1, trim_cb, d, NULL);
}

/* logind: a monotonic timer does not count a suspend, so every account
 * looks at the wall clock again on resume */
static void
prepare_for_sleep_cb (GDBusConnection *connection,
		      const gchar *sender,
		      const gchar *path,
		      const gchar *interface,
		      const gchar *signal,
		      GVariant *parameters,
		      gpointer user_data)
{
	DaDaemon *d = user_data;
	gboolean sleeping = TRUE;

	if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(b)")))
		return;
	g_variant_get (parameters, "(b)", &sleeping);
	if (!sleeping) {
		g_info ("resumed from suspend");
		da_manager_recheck (d->manager, TRUE);
	}
}

static gboolean
export_objects (DaDaemon *d, GError **error)
{
	g_dbus_connection_signal_subscribe (
		d->bus, "org.freedesktop.login1", "org.freedesktop.login1.Manager",
		"PrepareForSleep", "/org/freedesktop/login1", NULL, G_DBUS_SIGNAL_FLAGS_NONE,
		prepare_for_sleep_cb, d, NULL);
	return da_service_export (d->service, d->bus, error);
}

/* GetToken on a socket of our own, once the bus name is ours (so that a
 * second devauthd that fails to own it never replaces the socket); without
 * it devauthctl goes through the bus, so a failure is only a warning */
static void
start_varlink (DaDaemon *d)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_build_filename (d->runtime_dir, DA_VARLINK_SOCKET_NAME, NULL);

	if (d->varlink != NULL)
		return;
	if (g_mkdir_with_parents (d->runtime_dir, 0755) < 0) {
		g_warning ("cannot make %s: %s; GetToken is served on the bus only", d->runtime_dir,
			   g_strerror (errno));
		return;
	}
	d->varlink = da_varlink_server_new (d->pipeline);
	if (!da_varlink_server_listen (d->varlink, path, &error)) {
		g_warning ("%s; GetToken is served on the bus only", error->message);
		g_clear_object (&d->varlink);
		return;
	}
	g_debug ("Varlink interface %s on %s", DA_VARLINK_INTERFACE, path);
}

static void
name_acquired_cb (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	DaDaemon *d = user_data;

	GPtrArray *accounts = da_manager_get_accounts (d->manager);

	g_info ("owning %s", name);
	start_varlink (d);
	da_notify ("READY=1");
	da_manager_watch_network (d->manager);
	update_status (d);
	for (guint i = 0; i < accounts->len; i++)
		da_account_auto_login (g_ptr_array_index (accounts, i));
}

static void
name_lost_cb (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	DaDaemon *d = user_data;

	if (connection == NULL)
		g_warning ("cannot connect to the system bus");
	else
		g_warning ("cannot own %s on the system bus (is another devauthd running, and does "
			   "the bus policy allow this user?)",
			   name);
	d->exit_code = EXIT_FAILURE;
	g_main_loop_quit (d->loop);
}

static gboolean
quit_cb (gpointer user_data)
{
	DaDaemon *d = user_data;

	g_info ("stopping");
	da_notify ("STOPPING=1");
	g_main_loop_quit (d->loop);
	return G_SOURCE_CONTINUE;
}

static gboolean
watchdog_cb (gpointer user_data)
{
	da_notify ("WATCHDOG=1");
	return G_SOURCE_CONTINUE;
}

/* systemd may pass a colon-separated list; the first entry is ours */
static gchar *
dir_from_env (const gchar *option, const gchar *env, const gchar *fallback)
{
	const gchar *value = g_getenv (env);

	if (option != NULL)
		return g_strdup (option);
	if (value != NULL && value[0] != '\0') {
		g_auto(GStrv) parts = g_strsplit (value, ":", 2);
		return g_strdup (parts[0]);
	}
	return g_strdup (fallback);
}

/* glibc's allocator set so that no freed heap block keeps what it held:
 * every block is overwritten when freed (perturb), and none is kept in the
 * per-thread cache, which skips that. What devauthd frees it wipes
 * itself; this covers what GLib, GDBus, libsoup and json-glib free (a
 * GetToken reply on the bus holds the access token). The tunables are
 * read when a process starts, so devauthd starts again with them. */
#define DA_MALLOC_TUNABLES "glibc.malloc.perturb=90:glibc.malloc.tcache_count=0"

static void
exec_with_wiping_malloc (char **argv)
{
	const char *have = getenv ("GLIBC_TUNABLES");
	g_autofree gchar *value = NULL;

	if (have != NULL && strstr (have, "glibc.malloc.perturb=") != NULL)
		return;
	value = have != NULL && have[0] != '\0' ? g_strconcat (have, ":", DA_MALLOC_TUNABLES, NULL)
						: g_strdup (DA_MALLOC_TUNABLES);
	if (setenv ("GLIBC_TUNABLES", value, 1) != 0)
		return;
	execv ("/proc/self/exe", argv);
	/* no /proc: go on as we are, with what devauthd wipes itself */
	g_printerr ("devauthd: cannot start again with a wiping allocator: %s\n",
		    g_strerror (errno));
}

int
main (int argc, char **argv)
{
	g_auto(DaDaemon) d = {.exit_code = EXIT_SUCCESS};
	g_autoptr(GOptionContext) ctx = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(DaConfig) config = NULL;
	g_autofree gchar *opt_config_dir = NULL;
	g_autofree gchar *opt_state_dir = NULL;
	g_autofree gchar *opt_runtime_dir = NULL;
	g_autofree gchar *config_dir = NULL;
	g_autofree gchar *state_dir = NULL;
	g_autofree gchar *runtime_dir = NULL;
	gboolean opt_verbose = FALSE;
	gboolean opt_version = FALSE;
	gboolean opt_replace = FALSE;
	guint64 watchdog_usec = 0;
	const GOptionEntry entries[] = {
		{"config-dir", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config_dir,
		 "Configuration directory (default: $CONFIGURATION_DIRECTORY or " DA_CONFIG_DIR ")",
		 "DIR"},
		{"state-dir", 's', 0, G_OPTION_ARG_FILENAME, &opt_state_dir,
		 "State directory (default: $STATE_DIRECTORY or " DA_STATE_DIR ")", "DIR"},
		{"runtime-dir", 'r', 0, G_OPTION_ARG_FILENAME, &opt_runtime_dir,
		 "Runtime directory (default: $RUNTIME_DIRECTORY or " DA_RUNTIME_DIR ")", "DIR"},
		{"replace", 0, 0, G_OPTION_ARG_NONE, &opt_replace,
		 "Replace a running devauthd on the bus", NULL},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose, "Log debug messages", NULL},
		{"version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit",
		 NULL},
		{NULL},
	};

	exec_with_wiping_malloc (argv);
	/* glibc raises its mmap threshold to the size of each large block
	 * freed, so that the 128 KiB buffer of every state file written
	 * after a refresh would stay in the heap, dirty (it is wiped); pinned,
	 * such blocks are mapped and given back when freed */
	mallopt (M_MMAP_THRESHOLD, 128 * 1024);
	/* a message dump would show tokens: never honour it in the daemon */
	g_unsetenv ("G_DBUS_DEBUG");
	/* no core dumps and no ptrace by other processes of our user */
	prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
	setlocale (LC_ALL, "");

	ctx = g_option_context_new ("- sign this device in to an identity provider");
	g_option_context_add_main_entries (ctx, entries, NULL);
	if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
		g_printerr ("devauthd: %s\nTry 'devauthd --help'.\n", error->message);
		return 2;
	}
	if (opt_version) {
		g_print ("devauthd %s\n", PACKAGE_VERSION);
		return EXIT_SUCCESS;
	}
	if (opt_verbose)
		g_log_set_debug_enabled (TRUE);

	config_dir = dir_from_env (opt_config_dir, "CONFIGURATION_DIRECTORY", DA_CONFIG_DIR);
	state_dir = dir_from_env (opt_state_dir, "STATE_DIRECTORY", DA_STATE_DIR);
	runtime_dir = dir_from_env (opt_runtime_dir, "RUNTIME_DIRECTORY", DA_RUNTIME_DIR);
	d.runtime_dir = g_strdup (runtime_dir);
	g_debug ("configuration in %s, state in %s, runtime files in %s", config_dir, state_dir,
		 runtime_dir);

	config = da_config_load (config_dir, &error);
	if (config == NULL) {
		g_printerr ("devauthd: %s\n", error->message);
		/* one line: a newline would start another assignment */
		da_notifyf ("STATUS=Bad configuration: %s",
			    g_strdelimit (error->message, "\n", ' '));
		return EXIT_FAILURE;
	}

	/* One connection to the system bus, made before the manager: GIO's
	 * NetworkManager network monitor (the manager takes the default one)
	 * uses the same shared connection instead of making one that it drops
	 * again when NetworkManager is not running; and owning the name on it
	 * needs no thread (g_bus_own_name() connects from a worker thread) */
	d.bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
	if (d.bus == NULL) {
		g_warning ("cannot connect to the system bus: %s", error->message);
		return EXIT_FAILURE;
	}
	d.loop = g_main_loop_new (NULL, FALSE);
	d.manager = da_manager_new (g_steal_pointer (&config), state_dir);
	d.authority = da_authority_new ();
	d.pipeline = da_pipeline_new (d.manager, DA_AUTHORIZER (d.authority));
	d.service = da_service_new (d.pipeline);
	g_signal_connect (d.manager, "account-status-changed", G_CALLBACK (status_changed_cb), &d);

	g_unix_signal_add (SIGTERM, quit_cb, &d);
	g_unix_signal_add (SIGINT, quit_cb, &d);
	/* a keep-alive every half of the interval systemd waits */
	if (da_watchdog_enabled (&watchdog_usec) > 0)
		d.watchdog_id = g_timeout_add ((guint) CLAMP (watchdog_usec / 2000, 1, G_MAXUINT),
					       watchdog_cb, NULL);

	if (!export_objects (&d, &error)) {
		g_critical ("cannot export the D-Bus objects: %s", error->message);
		return EXIT_FAILURE;
	}
	d.owner_id = g_bus_own_name_on_connection (
		d.bus, DA_BUS_NAME,
		G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
			(opt_replace ? G_BUS_NAME_OWNER_FLAGS_REPLACE : 0),
		name_acquired_cb, name_lost_cb, &d, NULL);
	g_main_loop_run (d.loop);
	return d.exit_code;
}
