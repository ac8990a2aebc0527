/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <pwd.h>
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "da-caller.h"
#include "da-error.h"

typedef struct {
	const gchar *text;
	gboolean found;
	const gchar *unit;
	const gchar *flatpak;
} CgroupCase;

static void
check_cgroup (const CgroupCase *c)
{
	g_autofree gchar *unit = NULL;
	g_autofree gchar *flatpak = NULL;
	gboolean found = da_caller_parse_cgroup (c->text, strlen (c->text), &unit, &flatpak);
	g_autofree gchar *escaped = g_strescape (c->text, NULL);

	g_test_message ("cgroup text: %s", escaped);
	g_assert_cmpint (found, ==, c->found);
	g_assert_cmpstr (unit, ==, c->unit);
	g_assert_cmpstr (flatpak, ==, c->flatpak);
}

static void
test_cgroup_v2 (void)
{
	const CgroupCase cases[] = {
		{"0::/system.slice/kiosk-browser.service\n", TRUE, "kiosk-browser.service", NULL},
		/* no trailing newline */
		{"0::/system.slice/kiosk-browser.service", TRUE, "kiosk-browser.service", NULL},
		/* cgroups a delegated unit made inside itself */
		{"0::/system.slice/tv-shell.service/payload/evil.service\n", TRUE,
		 "tv-shell.service", NULL},
		/* a template instance in its sub-slice */
		{"0::/system.slice/system-getty.slice/getty@tty1.service\n", TRUE,
		 "getty@tty1.service", NULL},
		{"0::/system.slice/run-u42.scope\n", TRUE, "run-u42.scope", NULL},
		/* a slice, a socket, a stray name: no unit */
		{"0::/system.slice\n", TRUE, NULL, NULL},
		{"0::/system.slice/\n", TRUE, NULL, NULL},
		{"0::/system.slice/dbus.socket\n", TRUE, NULL, NULL},
		{"0::/system.slice/.service\n", TRUE, NULL, NULL},
		{"0::/system.slice/foo bar.service\n", TRUE, NULL, NULL},
		{"0::/system.slice//kiosk.service\n", TRUE, NULL, NULL},
		{"0::/init.scope\n", TRUE, NULL, NULL},
		{"0::/\n", TRUE, NULL, NULL},
		/* not under the top-level system.slice */
		{"0::/kiosk.slice/system.slice/kiosk.service\n", TRUE, NULL, NULL},
		{"0::/machine.slice/machine-tv.scope/system.slice/kiosk.service\n", TRUE, NULL,
		 NULL},
		/* a user's own services and sessions are never units here */
		{"0::/user.slice/user-1000.slice/user@1000.service/app.slice/kiosk-browser.service\n",
		 TRUE, NULL, NULL},
		{"0::/user.slice/user-1000.slice/session-3.scope\n", TRUE, NULL, NULL},
		/* Flatpak, with '-' and '.' in the app id */
		{"0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
		 "app-flatpak-com.example.TvApp-12345.scope\n",
		 TRUE, NULL, "com.example.TvApp"},
		{"0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
		 "app-flatpak-org.example.My_App-2-777.scope/sub\n",
		 TRUE, NULL, "org.example.My_App-2"},
		{"0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
		 "app-flatpak-com.example.TvApp.scope\n",
		 TRUE, NULL, NULL},
		{"0::/user.slice/app-flatpak--1.scope\n", TRUE, NULL, NULL},
		{"0::/user.slice/app-flatpak-com.example.TvApp-.scope\n", TRUE, NULL, NULL},
		{"0::/user.slice/app-flatpak-com.example.TvApp-12x.scope\n", TRUE, NULL, NULL},
		{"0::/user.slice/app-flatpak-com/example-1.scope\n", TRUE, NULL, NULL},
		{"0::/user.slice/app-flatpak-.scope\n", TRUE, NULL, NULL},
		{"0::/user.slice/app-flatpak-\n", TRUE, NULL, NULL},
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
		check_cgroup (&cases[i]);
}

static void
test_cgroup_v1 (void)
{
	const CgroupCase cases[] = {
		{"12:pids:/system.slice/other.service\n"
		 "11:cpu,cpuacct:/\n"
		 "1:name=systemd:/system.slice/kiosk-browser.service\n"
		 "0::/system.slice/kiosk-browser.service\n",
		 TRUE, "kiosk-browser.service", NULL},
		/* hybrid: name=systemd wins over the unified line */
		{"0::/system.slice/wrong.service\n"
		 "1:name=systemd:/system.slice/right.service\n",
		 TRUE, "right.service", NULL},
		{"1:name=systemd:/user.slice/user-1000.slice/user@1000.service/"
		 "app-flatpak-com.example.TvApp-99.scope\n",
		 TRUE, NULL, "com.example.TvApp"},
		/* only other controllers: nothing of systemd's */
		{"12:pids:/system.slice/kiosk.service\n5:memory:/system.slice/kiosk.service\n",
		 FALSE, NULL, NULL},
		/* name=systemd in a list */
		{"3:cpu,name=systemd:/system.slice/kiosk.service\n", TRUE, "kiosk.service", NULL},
		{"3:name=systemdx:/system.slice/kiosk.service\n", FALSE, NULL, NULL},
		/* a v1 line must not pass for the unified one */
		{"4::/system.slice/kiosk.service\n", FALSE, NULL, NULL},
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
		check_cgroup (&cases[i]);
}

static void
test_cgroup_garbage (void)
{
	const CgroupCase cases[] = {
		{"", FALSE, NULL, NULL},
		{"\n\n\n", FALSE, NULL, NULL},
		{":", FALSE, NULL, NULL},
		{"::", FALSE, NULL, NULL},
		{"0::", FALSE, NULL, NULL},
		{"0::\n", FALSE, NULL, NULL},
		{"0:", FALSE, NULL, NULL},
		{"0::relative/system.slice/kiosk.service\n", FALSE, NULL, NULL},
		{"x::/system.slice/kiosk.service\n", FALSE, NULL, NULL},
		{"::/system.slice/kiosk.service\n", FALSE, NULL, NULL},
		{"-1::/system.slice/kiosk.service\n", FALSE, NULL, NULL},
		{"garbage\n0::/system.slice/kiosk.service\n", TRUE, "kiosk.service", NULL},
		{"\xff\xfe\x01:\x80:/\xc3\x28\n", FALSE, NULL, NULL},
		{"0::/system.slice/k\xc3\xa9.service\n", TRUE, NULL, NULL},
		{"1:name=systemd:/system.slice/\n", TRUE, NULL, NULL},
	};
	g_autofree gchar *unit = NULL;
	g_autofree gchar *flatpak = NULL;
	/* an embedded NUL ends nothing early and is never part of a name */
	const gchar nul[] = "0::/system.slice/kio\0sk.service\n";

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
		check_cgroup (&cases[i]);

	g_assert_false (da_caller_parse_cgroup (NULL, 0, &unit, &flatpak));
	g_assert_true (da_caller_parse_cgroup (nul, sizeof (nul) - 1, &unit, &flatpak));
	g_assert_null (unit);
	g_assert_null (flatpak);

	/* the length is honoured: nothing past it is read */
	g_assert_true (
		da_caller_parse_cgroup ("0::/system.slice/kiosk.serviceXYZ", 30, &unit, &flatpak));
	g_assert_cmpstr (unit, ==, "kiosk.service");
	g_clear_pointer (&unit, g_free);
	g_assert_false (
		da_caller_parse_cgroup ("0::/system.slice/kiosk.service", 2, &unit, &flatpak));
	g_assert_null (unit);
}

static void
test_cgroup_huge (void)
{
	g_autoptr(GString) s = g_string_new ("0::/system.slice/");
	g_autoptr(GString) lines = g_string_new (NULL);
	g_autoptr(GString) flat = g_string_new ("0::/user.slice/app-flatpak-");
	g_autofree gchar *unit = NULL;
	g_autofree gchar *flatpak = NULL;

	/* a unit name longer than systemd allows */
	for (gsize i = 0; i < 300; i++)
		g_string_append_c (s, 'a');
	g_string_append (s, ".service\n");
	g_assert_true (da_caller_parse_cgroup (s->str, s->len, &unit, &flatpak));
	g_assert_null (unit);

	/* a very long path and very many lines */
	for (gsize i = 0; i < 10000; i++)
		g_string_append (lines, "7:blkio:/");
	g_string_append_c (lines, '\n');
	for (gsize i = 0; i < 10000; i++)
		g_string_append (lines, "7:blkio:/user.slice\n");
	g_string_append (lines, "0::/system.slice/");
	for (gsize i = 0; i < 10000; i++)
		g_string_append (lines, "system-x.slice/");
	g_string_append (lines, "kiosk.service\n");
	g_assert_true (da_caller_parse_cgroup (lines->str, lines->len, &unit, &flatpak));
	g_assert_cmpstr (unit, ==, "kiosk.service");
	g_clear_pointer (&unit, g_free);

	/* an app id longer than allowed */
	for (gsize i = 0; i < 300; i++)
		g_string_append_c (flat, 'a');
	g_string_append (flat, "-1.scope\n");
	g_assert_true (da_caller_parse_cgroup (flat->str, flat->len, &unit, &flatpak));
	g_assert_null (flatpak);
}

/* Random bytes from a small alphabet of the parser's own characters: it
 * returns, and whatever it finds is well-formed. */
static void
test_cgroup_random (void)
{
	const gchar alphabet[] = "0123:/\n-.name=systemd.slice.service.scope app-flatpak-\xff";

	for (guint round = 0; round < 2000; round++) {
		gsize len = (gsize) g_test_rand_int_range (0, 200);
		g_autofree gchar *buf = g_malloc (len + 1);
		g_autofree gchar *unit = NULL;
		g_autofree gchar *flatpak = NULL;

		for (gsize i = 0; i < len; i++)
			buf[i] = alphabet[g_test_rand_int_range (0, sizeof (alphabet) - 1)];
		da_caller_parse_cgroup (buf, len, &unit, &flatpak);
		if (unit != NULL)
			g_assert_true (g_str_has_suffix (unit, ".service") ||
				       g_str_has_suffix (unit, ".scope"));
		if (flatpak != NULL)
			g_assert_null (strchr (flatpak, '/'));
	}
}

static void
test_snap_label (void)
{
	const struct {
		const gchar *label;
		const gchar *name;
	} cases[] = {
		{"snap.tv-app.player (enforce)", "tv-app"},
		{"snap.tv-app.player (complain)", "tv-app"},
		{"snap.tv-app.player", "tv-app"},
		{"snap.tv-app.hook.configure (enforce)", "tv-app"},
		{"snap.tv-app_beta.player (enforce)", "tv-app_beta"},
		{"snap.tv-app. (enforce)", NULL},
		{"snap.tv-app.", NULL},
		{"snap.tv-app", NULL},
		{"snap..player (enforce)", NULL},
		{"snap.TvApp.player (enforce)", NULL},
		{"snap.-tv.player (enforce)", NULL},
		{"snap.tv/app.player (enforce)", NULL},
		{"snap-update-ns.tv-app (enforce)", NULL},
		{"unconfined", NULL},
		{"/usr/bin/foo (enforce)", NULL},
		{"system_u:system_r:unconfined_t:s0", NULL},
		{"snap.", NULL},
		{"", NULL},
		{NULL, NULL},
	};
	g_autoptr(GString) longname = g_string_new ("snap.");

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree gchar *name = da_caller_parse_snap_label (cases[i].label);
		g_assert_cmpstr (name, ==, cases[i].name);
	}

	for (gsize i = 0; i < 100; i++)
		g_string_append_c (longname, 'a');
	g_string_append (longname, ".app (enforce)");
	g_assert_null (da_caller_parse_snap_label (longname->str));
}

static void
test_security_label (void)
{
	/* as the bus sends it: with its NUL */
	const gchar label[] = "snap.tv-app.player (enforce)";
	g_autoptr(DaCaller) caller = da_caller_new (":1.7", 1000, NULL, 0, 0);
	g_autoptr(GError) error = NULL;

	da_caller_set_security_label (caller, label, sizeof (label));
	g_assert_cmpstr (caller->snap_name, ==, "tv-app");
	g_assert_true (da_caller_resolve (caller, "/nonexistent", &error));
	g_assert_no_error (error);
	g_assert_cmpstr (caller->app_id, ==, "tv-app");

	da_caller_set_security_label (caller, "unconfined", strlen ("unconfined"));
	g_assert_null (caller->snap_name);
	da_caller_set_security_label (caller, NULL, 0);
	g_assert_null (caller->snap_name);
}

/* --- da_caller_resolve() against a made-up /proc ------------------------- */

typedef struct {
	gchar *root;
} ProcFixture;

static void
proc_setup (ProcFixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->root = g_dir_make_tmp ("devauthd-proc-XXXXXX", &error);
	g_assert_no_error (error);
}

static void
proc_teardown (ProcFixture *f, gconstpointer data)
{
	g_autoptr(GFile) root = g_file_new_for_path (f->root);
	g_autoptr(GFileEnumerator) e = NULL;
	GFileInfo *info;

	e = g_file_enumerate_children (root, G_FILE_ATTRIBUTE_STANDARD_NAME,
				       G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
	while (e != NULL && (info = g_file_enumerator_next_file (e, NULL, NULL)) != NULL) {
		g_autoptr(GFileInfo) owned = info;
		g_autofree gchar *dir =
			g_build_filename (f->root, g_file_info_get_name (owned), NULL);
		g_autofree gchar *file = g_build_filename (dir, "cgroup", NULL);
		g_unlink (file);
		g_rmdir (dir);
	}
	g_rmdir (f->root);
	g_free (f->root);
}

static void
proc_write (ProcFixture *f, guint32 pid, const gchar *text, gssize len)
{
	g_autofree gchar *dir = g_strdup_printf ("%s/%u", f->root, pid);
	g_autofree gchar *path = g_build_filename (dir, "cgroup", NULL);
	g_autoptr(GError) error = NULL;

	g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
	g_file_set_contents (path, text, len, &error);
	g_assert_no_error (error);
}

static void
test_resolve_unit (ProcFixture *f, gconstpointer data)
{
	g_autoptr(DaCaller) caller = da_caller_new (":1.42", 990, NULL, 0, 4242);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *desc = NULL;

	proc_write (f, 4242, "0::/system.slice/kiosk-browser.service\n", -1);
	g_assert_true (da_caller_resolve (caller, f->root, &error));
	g_assert_no_error (error);
	g_assert_cmpstr (caller->unit, ==, "kiosk-browser.service");
	g_assert_null (caller->flatpak_id);
	g_assert_cmpstr (caller->app_id, ==, "kiosk-browser.service");
	desc = da_caller_describe (caller);
	g_assert_cmpstr (desc, ==, ":1.42 (uid 990, pid 4242, unit kiosk-browser.service)");
}

static void
test_resolve_flatpak (ProcFixture *f, gconstpointer data)
{
	g_autoptr(DaCaller) caller = da_caller_new (":1.42", 1000, NULL, 0, 123);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *desc = NULL;

	proc_write (f, 123,
		    "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
		    "app-flatpak-com.example.TvApp-123.scope\n",
		    -1);
	g_assert_true (da_caller_resolve (caller, f->root, &error));
	g_assert_no_error (error);
	g_assert_null (caller->unit);
	g_assert_cmpstr (caller->flatpak_id, ==, "com.example.TvApp");
	g_assert_cmpstr (caller->app_id, ==, "com.example.TvApp");
	desc = da_caller_describe (caller);
	g_assert_cmpstr (desc, ==, ":1.42 (uid 1000, pid 123, flatpak com.example.TvApp)");

	/* resolving again starts from scratch */
	proc_write (f, 123, "0::/user.slice/user-1000.slice/session-2.scope\n", -1);
	g_assert_true (da_caller_resolve (caller, f->root, &error));
	g_assert_null (caller->flatpak_id);
	g_assert_cmpstr (caller->app_id, ==, "uid:1000");
}

static void
test_resolve_plain_user (ProcFixture *f, gconstpointer data)
{
	g_autoptr(DaCaller) caller = da_caller_new (":1.9", 1000, NULL, 0, 77);
	g_autoptr(GError) error = NULL;

	proc_write (f, 77, "0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service\n",
		    -1);
	g_assert_true (da_caller_resolve (caller, f->root, &error));
	g_assert_null (caller->unit);
	g_assert_cmpstr (caller->app_id, ==, "uid:1000");
}

static void
test_resolve_gone (ProcFixture *f, gconstpointer data)
{
	g_autoptr(DaCaller) caller = da_caller_new (":1.9", 1000, NULL, 0, 5555);
	g_autoptr(GError) error = NULL;

	g_assert_false (da_caller_resolve (caller, f->root, &error));
	g_assert_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED);
	g_assert_nonnull (strstr (error->message, "5555"));
}

static void
test_resolve_too_long (ProcFixture *f, gconstpointer data)
{
	g_autoptr(DaCaller) caller = da_caller_new (":1.9", 1000, NULL, 0, 66);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *big = g_strnfill (100 * 1024, 'x');

	proc_write (f, 66, big, -1);
	g_assert_false (da_caller_resolve (caller, f->root, &error));
	g_assert_error (error, DA_ERROR, DA_ERROR_INTERNAL);
	g_assert_null (caller->unit);
}

static void
test_resolve_garbage (ProcFixture *f, gconstpointer data)
{
	g_autoptr(DaCaller) caller = da_caller_new (":1.9", 1000, NULL, 0, 88);
	g_autoptr(GError) error = NULL;

	proc_write (f, 88, "\x01\x02\0\xff garbage :: /\n", 16);
	g_assert_true (da_caller_resolve (caller, f->root, &error));
	g_assert_no_error (error);
	g_assert_null (caller->unit);
	g_assert_cmpstr (caller->app_id, ==, "uid:1000");
}

/* The real /proc, through a pidfd: this very process. */
static void
test_resolve_self (void)
{
	g_autoptr(DaCaller) caller = da_caller_new (":1.1", 0, NULL, 0, (guint32) getpid ());
	g_autoptr(GError) error = NULL;

	g_assert_true (da_caller_resolve (caller, "/proc", &error));
	g_assert_no_error (error);
	g_assert_nonnull (caller->app_id);
}

/* pidfd_open() is missing before Linux 5.3 and under valgrind before 3.20;
 * da_caller_resolve() then reads the pid without pinning it. */
static gboolean
have_pidfd_open (void)
{
	gint fd = (gint) syscall (SYS_pidfd_open, getpid (), 0);

	if (fd >= 0) {
		close (fd);
		return TRUE;
	}
	return errno != ENOSYS;
}

/* Exited, not yet reaped: the pidfd opens, /proc still answers, and the
 * check after the read sees the process is gone. */
static void
test_resolve_zombie (void)
{
	g_autoptr(DaCaller) caller = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *argv[] = {"/bin/true", NULL};
	GPid child = 0;
	siginfo_t info = {0};
	gint status = 0;

	gboolean pinned = have_pidfd_open ();

	g_spawn_async (NULL, (gchar **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &child,
		       &error);
	g_assert_no_error (error);
	g_assert_cmpint (waitid (P_PID, (id_t) child, &info, WEXITED | WNOWAIT), ==, 0);
	caller = da_caller_new (":1.2", 1000, NULL, 0, (guint32) child);
	if (pinned) {
		g_assert_false (da_caller_resolve (caller, "/proc", &error));
		g_assert_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED);
	} else {
		/* the documented fallback: the pid is read unpinned, and a zombie
		 * still answers like the process it was */
		g_assert_true (da_caller_resolve (caller, "/proc", &error));
		g_assert_no_error (error);
	}
	g_assert_cmpint (waitpid (child, &status, 0), ==, child);
}

/* Exited and reaped: the pid is free, as that of a caller that has left. */
static void
test_resolve_exited (void)
{
	g_autoptr(DaCaller) caller = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *argv[] = {"/bin/true", NULL};
	GPid child = 0;
	gint status = 0;

	g_spawn_async (NULL, (gchar **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &child,
		       &error);
	g_assert_no_error (error);
	g_assert_cmpint (waitpid (child, &status, 0), ==, child);
	caller = da_caller_new (":1.2", 1000, NULL, 0, (guint32) child);
	g_assert_false (da_caller_resolve (caller, "/proc", &error));
	g_assert_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED);
}

/* --- [Access] ------------------------------------------------------------ */

static DaAccountConfig *
access_config (const gchar *access)
{
	g_autofree gchar *text = g_strdup_printf ("[Account]\n"
						  "Issuer=https://idp.example.com/realms/tv\n"
						  "ClientId=tv-app\n"
						  "%s%s",
						  access[0] != '\0' ? "[Access]\n" : "", access);
	g_autoptr(GError) error = NULL;
	DaAccountConfig *config = da_account_config_load_from_data (
		"tv", "/etc/devauthd/accounts.d/tv.conf", text, strlen (text), &error);

	g_assert_no_error (error);
	return config;
}

/* A user and a group that exist on every Debian system, as their names and
 * numbers here. */
static void
get_nobody (gchar **user, guint32 *uid, gchar **group, guint32 *gid)
{
	struct passwd *pw = getpwnam ("nobody");
	struct group *gr;

	g_assert_nonnull (pw);
	*user = g_strdup (pw->pw_name);
	*uid = (guint32) pw->pw_uid;
	*gid = (guint32) pw->pw_gid;
	gr = getgrgid (pw->pw_gid);
	g_assert_nonnull (gr);
	*group = g_strdup (gr->gr_name);
}

static void
test_allowed_root (void)
{
	g_autoptr(DaAccountConfig) config = access_config ("");
	g_autoptr(DaCaller) root = da_caller_new (":1.1", 0, NULL, 0, 1);
	g_autoptr(DaCaller) user = da_caller_new (":1.2", 1000, NULL, 0, 2);

	g_assert_true (da_caller_is_allowed_by_config (root, config));
	g_assert_false (da_caller_is_allowed_by_config (user, config));
}

static void
test_allowed_users (void)
{
	g_autofree gchar *user = NULL;
	g_autofree gchar *group = NULL;
	guint32 uid;
	guint32 gid;
	g_autofree gchar *by_name = NULL;
	g_autofree gchar *by_number = NULL;
	g_autoptr(DaAccountConfig) c1 = NULL;
	g_autoptr(DaAccountConfig) c2 = NULL;
	g_autoptr(DaAccountConfig) c3 = NULL;
	g_autoptr(DaCaller) listed = NULL;
	g_autoptr(DaCaller) other = NULL;

	get_nobody (&user, &uid, &group, &gid);
	by_name = g_strdup_printf ("AllowUsers=no-such-user-xyz, %s\n", user);
	by_number = g_strdup_printf ("AllowUsers=%u\n", uid);
	c1 = access_config (by_name);
	c2 = access_config (by_number);
	/* numbers out of range and names that resolve to nobody match nothing */
	c3 = access_config ("AllowUsers=4294967295, 99999999999, -1, +5, no-such-user-xyz\n");
	listed = da_caller_new (":1.5", uid, NULL, 0, 5);
	other = da_caller_new (":1.6", uid - 1, NULL, 0, 6);

	g_assert_true (da_caller_is_allowed_by_config (listed, c1));
	g_assert_true (da_caller_is_allowed_by_config (listed, c2));
	g_assert_false (da_caller_is_allowed_by_config (listed, c3));
	g_assert_false (da_caller_is_allowed_by_config (other, c1));
	g_assert_false (da_caller_is_allowed_by_config (other, c2));
}

static void
test_allowed_groups (void)
{
	g_autofree gchar *user = NULL;
	g_autofree gchar *group = NULL;
	guint32 uid;
	guint32 gid;
	g_autofree gchar *by_name = NULL;
	g_autofree gchar *by_number = NULL;
	g_autoptr(DaAccountConfig) c1 = NULL;
	g_autoptr(DaAccountConfig) c2 = NULL;
	guint32 member_gids[] = {1000, 0, 24};
	const guint32 other_gids[] = {1000, 24};
	g_autoptr(DaCaller) member = NULL;
	g_autoptr(DaCaller) other = NULL;
	g_autoptr(DaCaller) no_groups = NULL;

	get_nobody (&user, &uid, &group, &gid);
	member_gids[1] = gid;
	by_name = g_strdup_printf ("AllowGroups=no-such-group-xyz,%s\n", group);
	by_number = g_strdup_printf ("AllowGroups=%u\n", gid);
	c1 = access_config (by_name);
	c2 = access_config (by_number);
	member = da_caller_new (":1.5", 1000, member_gids, G_N_ELEMENTS (member_gids), 5);
	other = da_caller_new (":1.6", 1000, other_gids, G_N_ELEMENTS (other_gids), 6);
	no_groups = da_caller_new (":1.7", 1000, NULL, 0, 7);

	g_assert_true (da_caller_is_allowed_by_config (member, c1));
	g_assert_true (da_caller_is_allowed_by_config (member, c2));
	g_assert_false (da_caller_is_allowed_by_config (other, c1));
	g_assert_false (da_caller_is_allowed_by_config (other, c2));
	g_assert_false (da_caller_is_allowed_by_config (no_groups, c1));
}

static void
test_allowed_unit (void)
{
	g_autoptr(DaAccountConfig) config = access_config ("AllowUnits=kiosk-browser.service\n");
	g_autoptr(DaCaller) unit = da_caller_new (":1.5", 990, NULL, 0, 5);
	g_autoptr(DaCaller) user_service = da_caller_new (":1.6", 1000, NULL, 0, 6);
	const gchar *system = "0::/system.slice/kiosk-browser.service\n";
	const gchar *user = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
			    "kiosk-browser.service\n";

	g_assert_true (
		da_caller_parse_cgroup (system, strlen (system), &unit->unit, &unit->flatpak_id));
	g_assert_true (da_caller_is_allowed_by_config (unit, config));

	/* the same name run by a user's own manager is not that unit */
	g_assert_true (da_caller_parse_cgroup (user, strlen (user), &user_service->unit,
					       &user_service->flatpak_id));
	g_assert_false (da_caller_is_allowed_by_config (user_service, config));

	/* exact names only */
	g_free (unit->unit);
	unit->unit = g_strdup ("kiosk-browser");
	g_assert_false (da_caller_is_allowed_by_config (unit, config));
}

static void
test_allowed_flatpak (void)
{
	g_autoptr(DaAccountConfig) config = access_config ("AllowFlatpaks=com.example.TvApp\n");
	g_autoptr(DaCaller) app = da_caller_new (":1.5", 1000, NULL, 0, 5);
	g_autoptr(DaCaller) other = da_caller_new (":1.6", 1000, NULL, 0, 6);

	app->flatpak_id = g_strdup ("com.example.TvApp");
	other->flatpak_id = g_strdup ("com.example.TvAppX");
	g_assert_true (da_caller_is_allowed_by_config (app, config));
	g_assert_false (da_caller_is_allowed_by_config (other, config));
}

static void
test_allowed_snap (void)
{
	g_autoptr(DaAccountConfig) config = access_config ("AllowSnaps=tv-app\n");
	g_autoptr(DaCaller) snap = da_caller_new (":1.5", 1000, NULL, 0, 5);
	g_autoptr(DaCaller) other = da_caller_new (":1.6", 1000, NULL, 0, 6);

	snap->snap_name = da_caller_parse_snap_label ("snap.tv-app.player (enforce)");
	other->snap_name = da_caller_parse_snap_label ("snap.radio.player (enforce)");
	g_assert_true (da_caller_is_allowed_by_config (snap, config));
	g_assert_false (da_caller_is_allowed_by_config (other, config));
}

static void
test_allowed_unlisted (void)
{
	g_autoptr(DaAccountConfig) config = access_config ("AllowUsers=4000\n"
							    "AllowGroups=4001\n"
							    "AllowUnits=kiosk-browser.service\n"
							    "AllowFlatpaks=com.example.TvApp\n"
							    "AllowSnaps=tv-app\n");
	const guint32 gids[] = {1000, 100};
	g_autoptr(DaCaller) caller = da_caller_new (":1.5", 1000, gids, G_N_ELEMENTS (gids), 5);

	caller->unit = g_strdup ("other.service");
	caller->flatpak_id = g_strdup ("com.example.Other");
	caller->snap_name = g_strdup ("other");
	g_assert_false (da_caller_is_allowed_by_config (caller, config));
}

static void
test_describe (void)
{
	g_autoptr(DaCaller) caller = da_caller_new (":1.42", 1000, NULL, 0, 0);
	g_autofree gchar *a = da_caller_describe (caller);
	g_autofree gchar *b = NULL;

	g_assert_cmpstr (a, ==, ":1.42 (uid 1000)");
	caller->pid = 123;
	caller->snap_name = g_strdup ("tv-app");
	b = da_caller_describe (caller);
	g_assert_cmpstr (b, ==, ":1.42 (uid 1000, pid 123, snap tv-app)");
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);

	g_test_add_func ("/devauthd/caller/cgroup/v2", test_cgroup_v2);
	g_test_add_func ("/devauthd/caller/cgroup/v1", test_cgroup_v1);
	g_test_add_func ("/devauthd/caller/cgroup/garbage", test_cgroup_garbage);
	g_test_add_func ("/devauthd/caller/cgroup/huge", test_cgroup_huge);
	g_test_add_func ("/devauthd/caller/cgroup/random", test_cgroup_random);
	g_test_add_func ("/devauthd/caller/snap-label", test_snap_label);
	g_test_add_func ("/devauthd/caller/security-label", test_security_label);
	g_test_add ("/devauthd/caller/resolve/unit", ProcFixture, NULL, proc_setup,
		    test_resolve_unit, proc_teardown);
	g_test_add ("/devauthd/caller/resolve/flatpak", ProcFixture, NULL, proc_setup,
		    test_resolve_flatpak, proc_teardown);
	g_test_add ("/devauthd/caller/resolve/plain-user", ProcFixture, NULL, proc_setup,
		    test_resolve_plain_user, proc_teardown);
	g_test_add ("/devauthd/caller/resolve/gone", ProcFixture, NULL, proc_setup,
		    test_resolve_gone, proc_teardown);
	g_test_add ("/devauthd/caller/resolve/too-long", ProcFixture, NULL, proc_setup,
		    test_resolve_too_long, proc_teardown);
	g_test_add ("/devauthd/caller/resolve/garbage", ProcFixture, NULL, proc_setup,
		    test_resolve_garbage, proc_teardown);
	g_test_add_func ("/devauthd/caller/resolve/self", test_resolve_self);
	g_test_add_func ("/devauthd/caller/resolve/zombie", test_resolve_zombie);
	g_test_add_func ("/devauthd/caller/resolve/exited", test_resolve_exited);
	g_test_add_func ("/devauthd/caller/allowed/root", test_allowed_root);
	g_test_add_func ("/devauthd/caller/allowed/users", test_allowed_users);
	g_test_add_func ("/devauthd/caller/allowed/groups", test_allowed_groups);
	g_test_add_func ("/devauthd/caller/allowed/unit", test_allowed_unit);
	g_test_add_func ("/devauthd/caller/allowed/flatpak", test_allowed_flatpak);
	g_test_add_func ("/devauthd/caller/allowed/snap", test_allowed_snap);
	g_test_add_func ("/devauthd/caller/allowed/unlisted", test_allowed_unlisted);
	g_test_add_func ("/devauthd/caller/describe", test_describe);

	return g_test_run ();
}
