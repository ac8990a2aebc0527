/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who a caller is: its uid, groups and pid from the bus or the socket, its
 * system unit or Flatpak from /proc/PID/cgroup (read through a pidfd), its
 * Snap from the AppArmor label. The [Access] rules are in
 * da-caller-access.c. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "da-caller.h"
#include "da-error.h"

/* /proc/PID/cgroup is a few hundred bytes; anything near this is not one */
#define DA_CGROUP_TEXT_MAX (64 * 1024)
/* systemd's UNIT_NAME_MAX less the NUL; Flatpak ids are as long at most */
#define DA_NAME_MAX	  255
#define DA_SNAP_LABEL_MAX 1024

#define FLATPAK_SCOPE_PREFIX "app-flatpak-"
#define SCOPE_SUFFIX	     ".scope"

DaCaller *
da_caller_new (const gchar *bus_name, guint32 uid, const guint32 *gids, guint n_gids, guint32 pid)
{
	DaCaller *self = g_new0 (DaCaller, 1);

	self->bus_name = g_strdup (bus_name);
	self->uid = uid;
	self->gids = g_array_sized_new (FALSE, FALSE, sizeof (guint32), n_gids);
	if (gids != NULL && n_gids > 0)
		g_array_append_vals (self->gids, gids, n_gids);
	self->pid = pid;
	self->pidfd = -1;
	return self;
}

void
da_caller_free (DaCaller *self)
{
	if (self == NULL)
		return;
	g_free (self->bus_name);
	g_clear_pointer (&self->gids, g_array_unref);
	g_free (self->unit);
	g_free (self->flatpak_id);
	g_free (self->snap_name);
	g_free (self->app_id);
	if (self->pidfd >= 0)
		close (self->pidfd);
	g_free (self);
}

/* Takes a pidfd for the caller's process, as the bus hands it out
 * (ProcessFD): then da_caller_resolve() does not need the pid to stay
 * unused between GetConnectionCredentials and its own pidfd_open(). */
void
da_caller_take_pidfd (DaCaller *self, gint pidfd)
{
	g_return_if_fail (self != NULL);

	if (self->pidfd >= 0)
		close (self->pidfd);
	self->pidfd = pidfd;
}

/* @label: LinuxSecurityLabel from GetConnectionCredentials, which may carry
 * a trailing NUL. */
void
da_caller_set_security_label (DaCaller *self, const gchar *label, gsize len)
{
	g_autofree gchar *copy = NULL;

	g_return_if_fail (self != NULL);

	g_clear_pointer (&self->snap_name, g_free);
	if (label == NULL || len == 0 || len > DA_SNAP_LABEL_MAX)
		return;
	copy = g_strndup (label, len);
	self->snap_name = da_caller_parse_snap_label (copy);
}

/* --- /proc/PID/cgroup ---------------------------------------------------- */

static gboolean
span_equal (const gchar *p, gsize n, const gchar *s)
{
	return strlen (s) == n && memcmp (p, s, n) == 0;
}

static gboolean
span_has_prefix (const gchar *p, gsize n, const gchar *prefix)
{
	gsize k = strlen (prefix);
	return n >= k && memcmp (p, prefix, k) == 0;
}

static gboolean
span_has_suffix (const gchar *p, gsize n, const gchar *suffix)
{
	gsize k = strlen (suffix);
	return n >= k && memcmp (p + n - k, suffix, k) == 0;
}

static gboolean
span_chars_valid (const gchar *p, gsize n, const gchar *extra)
{
	for (gsize i = 0; i < n; i++) {
		if (!g_ascii_isalnum (p[i]) && (p[i] == '\0' || strchr (extra, p[i]) == NULL))
			return FALSE;
	}
	return TRUE;
}

static gboolean
span_is_digits (const gchar *p, gsize n)
{
	if (n == 0)
		return FALSE;
	for (gsize i = 0; i < n; i++) {
		if (!g_ascii_isdigit (p[i]))
			return FALSE;
	}
	return TRUE;
}

/* Steps through the '/'-separated components of a path of @end - *@p bytes. */
static gboolean
next_component (const gchar **p, const gchar *end, const gchar **comp, gsize *comp_len)
{
	const gchar *slash;

	if (*p < end && **p == '/')
		(*p)++;
	if (*p >= end)
		return FALSE;
	slash = memchr (*p, '/', (gsize) (end - *p));
	*comp = *p;
	*comp_len = (gsize) ((slash != NULL ? slash : end) - *p);
	*p = *comp + *comp_len;
	return TRUE;
}

static gboolean
unit_name_is_valid (const gchar *p, gsize n)
{
	gsize stem;

	if (n > DA_NAME_MAX)
		return FALSE;
	if (span_has_suffix (p, n, ".service"))
		stem = n - strlen (".service");
	else if (span_has_suffix (p, n, SCOPE_SUFFIX))
		stem = n - strlen (SCOPE_SUFFIX);
	else
		return FALSE;
	return stem > 0 && span_chars_valid (p, n, ":-_.\\@");
}

/* Only PID 1 (and root) can put a process under /system.slice, so a unit
 * found there is a fact; anything a user's own manager runs is not. Sub-slices
 * (system-getty.slice for getty@tty1.service) are stepped over; cgroups a
 * delegated unit makes inside itself are ignored. */
static gchar *
system_unit_from_path (const gchar *path, gsize len)
{
	const gchar *p = path;
	const gchar *end = path + len;
	const gchar *comp;
	gsize n;

	if (!next_component (&p, end, &comp, &n) || !span_equal (comp, n, "system.slice"))
		return NULL;
	while (next_component (&p, end, &comp, &n)) {
		if (span_has_prefix (comp, n, "system-") && span_has_suffix (comp, n, ".slice"))
			continue;
		if (!unit_name_is_valid (comp, n))
			return NULL;
		return g_strndup (comp, n);
	}
	return NULL;
}

/* app-flatpak-<app id>-<instance>.scope, the app id itself may hold '-'. */
static gchar *
flatpak_id_from_component (const gchar *comp, gsize n)
{
	const gchar *id;
	const gchar *dash;
	gsize rest;
	gsize id_len;

	if (n > DA_NAME_MAX || !span_has_prefix (comp, n, FLATPAK_SCOPE_PREFIX) ||
	    !span_has_suffix (comp, n, SCOPE_SUFFIX))
		return NULL;
	if (n <= strlen (FLATPAK_SCOPE_PREFIX) + strlen (SCOPE_SUFFIX))
		return NULL;
	id = comp + strlen (FLATPAK_SCOPE_PREFIX);
	rest = n - strlen (FLATPAK_SCOPE_PREFIX) - strlen (SCOPE_SUFFIX);
	dash = memrchr (id, '-', rest);
	if (dash == NULL)
		return NULL;
	id_len = (gsize) (dash - id);
	if (id_len == 0 || !span_is_digits (dash + 1, rest - id_len - 1))
		return NULL;
	if (!span_chars_valid (id, id_len, "-_."))
		return NULL;
	return g_strndup (id, id_len);
}

static gchar *
flatpak_id_from_path (const gchar *path, gsize len)
{
	const gchar *p = path;
	const gchar *end = path + len;
	const gchar *comp;
	gsize n;

	while (next_component (&p, end, &comp, &n)) {
		gchar *id = flatpak_id_from_component (comp, n);
		if (id != NULL)
			return id;
	}
	return NULL;
}

/* Does a v1 controller list ("cpu,cpuacct", "name=systemd") name systemd's? */
static gboolean
controllers_have_systemd (const gchar *p, gsize n)
{
	const gchar *end = p + n;

	while (p < end) {
		const gchar *comma = memchr (p, ',', (gsize) (end - p));
		const gchar *stop = comma != NULL ? comma : end;
		if (span_equal (p, (gsize) (stop - p), "name=systemd"))
			return TRUE;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return FALSE;
}

typedef enum {
	DA_CGROUP_LINE_OTHER,
	DA_CGROUP_LINE_UNIFIED, /* 0::/path */
	DA_CGROUP_LINE_SYSTEMD, /* N:name=systemd:/path */
} DaCgroupLine;

/* One "hierarchy-id:controllers:path" line; *@path points into @line. */
static DaCgroupLine
classify_line (const gchar *line, gsize n, const gchar **path, gsize *path_len)
{
	const gchar *end = line + n;
	const gchar *c1 = memchr (line, ':', n);
	const gchar *c2;

	if (c1 == NULL || !span_is_digits (line, (gsize) (c1 - line)))
		return DA_CGROUP_LINE_OTHER;
	c2 = memchr (c1 + 1, ':', (gsize) (end - c1 - 1));
	if (c2 == NULL || c2 + 1 >= end || c2[1] != '/')
		return DA_CGROUP_LINE_OTHER;
	*path = c2 + 1;
	*path_len = (gsize) (end - c2 - 1);
	if (controllers_have_systemd (c1 + 1, (gsize) (c2 - c1 - 1)))
		return DA_CGROUP_LINE_SYSTEMD;
	if (span_equal (line, (gsize) (c1 - line), "0") && c2 == c1 + 1)
		return DA_CGROUP_LINE_UNIFIED;
	return DA_CGROUP_LINE_OTHER;
}

/* The path in systemd's hierarchy: name=systemd (v1, hybrid) when there is
 * one, else the unified one (v2). */
static gboolean
find_systemd_path (const gchar *text, gsize len, const gchar **path, gsize *path_len)
{
	const gchar *p = text;
	const gchar *end = text + len;
	gboolean found = FALSE;

	while (p < end) {
		const gchar *nl = memchr (p, '\n', (gsize) (end - p));
		const gchar *stop = nl != NULL ? nl : end;
		const gchar *lpath = NULL;
		gsize lpath_len = 0;
		DaCgroupLine kind = classify_line (p, (gsize) (stop - p), &lpath, &lpath_len);

		if (kind == DA_CGROUP_LINE_SYSTEMD || (kind == DA_CGROUP_LINE_UNIFIED && !found)) {
			*path = lpath;
			*path_len = lpath_len;
			found = TRUE;
		}
		if (kind == DA_CGROUP_LINE_SYSTEMD || nl == NULL)
			break;
		p = nl + 1;
	}
	return found;
}

/* Parses the text of /proc/PID/cgroup (not NUL-terminated, any bytes).
 * Returns TRUE when it has a line for systemd's hierarchy; *@unit is then the
 * system unit (NULL for user sessions and user services) and *@flatpak_id the
 * Flatpak app id (or NULL). Both are NULL whenever FALSE is returned. */
gboolean
da_caller_parse_cgroup (const gchar *text, gsize len, gchar **unit, gchar **flatpak_id)
{
	const gchar *path = NULL;
	gsize path_len = 0;

	g_return_val_if_fail (unit != NULL, FALSE);
	g_return_val_if_fail (flatpak_id != NULL, FALSE);

	*unit = NULL;
	*flatpak_id = NULL;
	if (text == NULL || !find_systemd_path (text, len, &path, &path_len))
		return FALSE;
	*unit = system_unit_from_path (path, path_len);
	*flatpak_id = flatpak_id_from_path (path, path_len);
	return TRUE;
}

/* --- AppArmor label ------------------------------------------------------- */

/* snap.<name>[_<instance>].<app or hook…>[ (enforce|complain)]: returns the
 * name, with the instance key of a parallel install, or NULL. */
gchar *
da_caller_parse_snap_label (const gchar *label)
{
	const gchar *name;
	const gchar *dot;
	gsize n;

	if (label == NULL || !g_str_has_prefix (label, "snap."))
		return NULL;
	name = label + strlen ("snap.");
	dot = strchr (name, '.');
	if (dot == NULL || dot == name || dot[1] == '\0' || dot[1] == ' ')
		return NULL;
	n = (gsize) (dot - name);
	/* snapd: 40 characters of name, '_', 10 of instance key */
	if (n > 51 || !span_chars_valid (name, n, "-_") || !g_ascii_isalnum (name[0]))
		return NULL;
	for (gsize i = 0; i < n; i++) {
		if (g_ascii_isupper (name[i]))
			return NULL;
	}
	return g_strndup (name, n);
}

/* --- resolving a live process -------------------------------------------- */

/* Pins the caller's process with a pidfd: -1 in *@pidfd when the kernel has
 * no pidfd_open() (before Linux 5.3). */
static gboolean
open_pidfd (guint32 pid, gint *pidfd, GError **error)
{
	int errsv;

	*pidfd = (gint) syscall (SYS_pidfd_open, (pid_t) pid, 0);
	if (*pidfd >= 0)
		return TRUE;
	errsv = errno;
	if (errsv == ENOSYS) {
		g_debug ("no pidfd_open(): reading pid %u without pinning it", pid);
		return TRUE;
	}
	if (errsv == ESRCH)
		g_set_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
			     "cannot identify the caller: process %u is gone", pid);
	else
		g_set_error (error, DA_ERROR, DA_ERROR_INTERNAL,
			     "cannot identify the caller: pidfd_open(%u): %s", pid,
			     g_strerror (errsv));
	return FALSE;
}

/* A pidfd polls readable once its process has exited. */
static gboolean
process_has_exited (gint pidfd)
{
	struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
	gint r;

	do {
		r = poll (&pfd, 1, 0);
	} while (r < 0 && errno == EINTR);
	return r != 0;
}

/* Returns 0 or an errno. */
static int
read_bounded (gint fd, gchar **out, gsize *len)
{
	g_autofree gchar *buf = g_malloc (DA_CGROUP_TEXT_MAX + 1);
	gsize done = 0;

	while (done <= DA_CGROUP_TEXT_MAX) {
		gssize n = read (fd, buf + done, DA_CGROUP_TEXT_MAX + 1 - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			break;
		done += (gsize) n;
	}
	if (done > DA_CGROUP_TEXT_MAX)
		return EFBIG;
	buf[done] = '\0';
	*out = g_steal_pointer (&buf);
	*len = done;
	return 0;
}

static gboolean
read_cgroup (const gchar *proc_root, guint32 pid, gchar **text, gsize *len, GError **error)
{
	g_autofree gchar *path = g_strdup_printf ("%s/%u/cgroup", proc_root, pid);
	gint fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int errsv;

	if (fd >= 0) {
		errsv = read_bounded (fd, text, len);
		close (fd);
	} else {
		errsv = errno;
	}
	if (errsv == 0)
		return TRUE;
	if (errsv == ENOENT || errsv == ESRCH)
		g_set_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
			     "cannot identify the caller: process %u is gone", pid);
	else
		g_set_error (error, DA_ERROR, DA_ERROR_INTERNAL,
			     "cannot identify the caller: cannot read %s: %s", path,
			     g_strerror (errsv));
	return FALSE;
}

static void
caller_set_app_id (DaCaller *self)
{
	g_free (self->app_id);
	if (self->flatpak_id != NULL)
		self->app_id = g_strdup (self->flatpak_id);
	else if (self->snap_name != NULL)
		self->app_id = g_strdup (self->snap_name);
	else if (self->unit != NULL)
		self->app_id = g_strdup (self->unit);
	else
		self->app_id = g_strdup_printf ("uid:%u", self->uid);
}

/* Reads the cgroup of @pidfd's process (or of the pid alone, when @pidfd is
 * -1), and makes sure the process still lived after the read, so the text
 * cannot belong to a later process that got the same pid. */
static gboolean
caller_read_cgroup (DaCaller *self, const gchar *proc_root, gint pidfd, GError **error)
{
	g_autofree gchar *text = NULL;
	gsize len = 0;

	if (!read_cgroup (proc_root, self->pid, &text, &len, error))
		return FALSE;
	if (pidfd >= 0 && process_has_exited (pidfd)) {
		g_set_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
			     "cannot identify the caller: process %u exited", self->pid);
		return FALSE;
	}
	da_caller_parse_cgroup (text, len, &self->unit, &self->flatpak_id);
	return TRUE;
}

/* With only a pid from the bus or the socket (no ProcessFD, no
 * SO_PEERPIDFD), the pidfd opened here may be of another process that got
 * the pid after the caller's exited: the caller's connection can outlive
 * it (a child holds the socket). That process must run as the uid the bus
 * or the kernel gave for the connection, as its real or effective uid, or
 * the caller is refused: a process of another user that took the pid
 * lends it nothing. /proc/PID/status is read, then the pidfd is polled:
 * a process still alive after the read is the one the pidfd pins, as for
 * the cgroup. */
static gboolean
caller_check_uid (DaCaller *self, gint pidfd, GError **error)
{
	g_autofree gchar *path = g_strdup_printf ("/proc/%u/status", self->pid);
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	guint32 ruid = G_MAXUINT32;
	guint32 euid = G_MAXUINT32;
	gsize len = 0;
	gint fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int errsv = fd >= 0 ? read_bounded (fd, &text, &len) : errno;

	if (fd >= 0)
		close (fd);
	if (errsv != 0 || (pidfd >= 0 && process_has_exited (pidfd))) {
		g_set_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
			     "cannot identify the caller: process %u is gone", self->pid);
		return FALSE;
	}
	lines = g_strsplit (text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix (lines[i], "Uid:") &&
		    sscanf (lines[i] + 4, "%u %u", &ruid, &euid) == 2)
			break;
	}
	if (ruid == self->uid || euid == self->uid)
		return TRUE;
	g_set_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
		     "cannot identify the caller: process %u runs as uid %u, its connection as "
		     "uid %u (the pid was reused)",
		     self->pid, euid, self->uid);
	return FALSE;
}

/* Fills unit, flatpak_id and app_id from <@proc_root>/<pid>/cgroup.
 * @proc_root is "/proc" in production; with any other root (tests) the
 * process is not pinned with a pidfd. */
gboolean
da_caller_resolve (DaCaller *self, const gchar *proc_root, GError **error)
{
	gint pidfd = -1;
	gboolean ok;

	g_return_val_if_fail (self != NULL, FALSE);
	g_return_val_if_fail (proc_root != NULL, FALSE);

	g_clear_pointer (&self->unit, g_free);
	g_clear_pointer (&self->flatpak_id, g_free);
	caller_set_app_id (self);
	if (self->pid == 0)
		return TRUE;

	if (self->pidfd >= 0)
		pidfd = self->pidfd;
	else if (g_strcmp0 (proc_root, "/proc") == 0 && !open_pidfd (self->pid, &pidfd, error))
		return FALSE;
	ok = (self->pidfd >= 0 || g_strcmp0 (proc_root, "/proc") != 0 ||
	      caller_check_uid (self, pidfd, error)) &&
	     caller_read_cgroup (self, proc_root, pidfd, error);
	if (pidfd >= 0 && pidfd != self->pidfd)
		close (pidfd);
	if (!ok)
		return FALSE;
	caller_set_app_id (self);
	return TRUE;
}

/* ":1.42 (uid 1000, pid 123, flatpak com.example.TvApp)" */
gchar *
da_caller_describe (const DaCaller *self)
{
	GString *s;

	g_return_val_if_fail (self != NULL, NULL);

	s = g_string_new (self->bus_name != NULL ? self->bus_name : "(no bus name)");
	g_string_append_printf (s, " (uid %u", self->uid);
	if (self->pid != 0)
		g_string_append_printf (s, ", pid %u", self->pid);
	if (self->flatpak_id != NULL)
		g_string_append_printf (s, ", flatpak %s", self->flatpak_id);
	if (self->snap_name != NULL)
		g_string_append_printf (s, ", snap %s", self->snap_name);
	if (self->unit != NULL)
		g_string_append_printf (s, ", unit %s", self->unit);
	g_string_append_c (s, ')');
	return g_string_free (s, FALSE);
}
