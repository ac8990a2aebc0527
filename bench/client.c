/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-client: the C client of the benchmarks and the soak (Python's own
 * overhead would hide the difference being measured).
 *
 *   bench-client latency    --dest NAME [--dest2 NAME] [--method GetToken|GetTokenFd]
 *                           --count N [--warmup W]
 *   bench-client throughput --dest NAME --clients C --seconds S
 *   bench-client burst      --dest NAME --clients C [--min-validity M]
 *   bench-client soak       --dest NAME --clients C --seconds S --accounts a,b,... --out DIR
 *                           [--interval-ms I]
 *   bench-client startup    --runs N [--log FILE] -- ARGV...
 *
 * Common: --address ADDR (default $DBUS_SYSTEM_BUS_ADDRESS), --account NAME
 * (default ""), --min-validity M (default: not sent), --timeout-ms T (per
 * call, default 25000). Every mode prints one JSON object on stdout.
 *
 * Several clients are several processes, each with a connection of its own
 * (GDBus has one worker thread per process: threads would share it). Every
 * loop is bounded in count and time; every child is waited for, and killed
 * when it overstays.
 */

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS	256
#define MAX_COUNT	10000000
#define MAX_SECONDS	7200
#define SOAK_ERRORS_MAX 100000

typedef struct {
	const gchar *address;
	const gchar *dest;
	const gchar *method;
	const gchar *account;
	gint min_validity; /* < 0: not sent */
	gint timeout_ms;
} Target;

static gint64
now_ns (void)
{
	struct timespec ts;
	clock_gettime (CLOCK_MONOTONIC, &ts);
	return (gint64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static gdouble
wall_now (void)
{
	struct timespec ts;
	clock_gettime (CLOCK_REALTIME, &ts);
	return (gdouble) ts.tv_sec + ts.tv_nsec / 1e9;
}

static GDBusConnection *
connect_bus (const gchar *address, GError **error)
{
	return g_dbus_connection_new_for_address_sync (
		address,
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
			G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		NULL, NULL, error);
}

/* One call; TRUE when it returned a token. On failure *errname is the D-Bus
 * error name (or the GError text), to be freed. */
static gboolean
call_once (GDBusConnection *c, const Target *t, const gchar *account, gchar **errname)
{
	GVariantBuilder opts;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	gboolean as_fd = g_strcmp0 (t->method, "GetTokenFd") == 0;

	g_variant_builder_init (&opts, G_VARIANT_TYPE_VARDICT);
	if (t->min_validity >= 0)
		g_variant_builder_add (&opts, "{sv}", "min-validity",
				       g_variant_new_uint32 ((guint32) t->min_validity));
	if (as_fd) {
		g_autoptr(GUnixFDList) fds = NULL;
		reply = g_dbus_connection_call_with_unix_fd_list_sync (
			c, t->dest, "/org/devauth/DeviceAuth1", "org.devauth.DeviceAuth1.Manager",
			t->method, g_variant_new ("(sa{sv})", account, &opts),
			G_VARIANT_TYPE ("(ha{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, t->timeout_ms,
			NULL, &fds, NULL, &error);
		if (reply != NULL) {
			gint32 handle = 0;
			int fd;
			char buf[65536];
			g_variant_get (reply, "(h@a{sv})", &handle, NULL);
			fd = fds != NULL ? g_unix_fd_list_get (fds, handle, NULL) : -1;
			if (fd < 0 || pread (fd, buf, sizeof buf, 0) <= 0) {
				if (fd >= 0)
					close (fd);
				*errname = g_strdup ("bench.NoFd");
				return FALSE;
			}
			close (fd);
		}
	} else {
		reply = g_dbus_connection_call_sync (
			c, t->dest, "/org/devauth/DeviceAuth1", "org.devauth.DeviceAuth1.Manager",
			t->method, g_variant_new ("(sa{sv})", account, &opts),
			G_VARIANT_TYPE ("(sa{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, t->timeout_ms,
			NULL, &error);
	}
	if (reply == NULL) {
		gchar *remote = g_dbus_error_get_remote_error (error);
		*errname = remote != NULL ? remote : g_strdup (error->message);
		return FALSE;
	}
	return TRUE;
}

static gint
cmp_i64 (gconstpointer a, gconstpointer b)
{
	gint64 x = *(const gint64 *) a;
	gint64 y = *(const gint64 *) b;
	return x < y ? -1 : x > y;
}

static gdouble
pct_us (const gint64 *sorted, guint n, gdouble p)
{
	guint i;
	if (n == 0)
		return 0;
	i = (guint) (p * (n - 1) + 0.5);
	return sorted[MIN (i, n - 1)] / 1000.0;
}

/* ---- latency: one connection, calls one after the other ---- */

static void
print_latency (const gchar *dest,
	       const gchar *method,
	       gint64 *lat,
	       gint count,
	       guint errors,
	       const gchar *first_error)
{
	gint64 sum = 0;

	for (gint i = 0; i < count; i++)
		sum += lat[i];
	qsort (lat, count, sizeof (gint64), (int (*) (const void *, const void *)) cmp_i64);
	g_print (
		"{\"dest\":\"%s\",\"method\":\"%s\",\"n\":%d,\"errors\":%u,\"first_error\":\"%s\","
		"\"mean_us\":%.2f,\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"max_us\":%.2f}",
		dest, method, count, errors, first_error != NULL ? first_error : "",
		sum / 1000.0 / count, pct_us (lat, count, 0.50), pct_us (lat, count, 0.90),
		pct_us (lat, count, 0.99), lat[count - 1] / 1000.0);
}

/* With @dest2, calls alternate between the two destinations, so that both
 * see the same machine (a noisy one) at the same moments. */
static int
run_latency (const Target *t, const gchar *dest2, gint count, gint warmup)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) c = connect_bus (t->address, &error);
	Target t2 = *t;
	const Target *targets[2] = {t, &t2};
	int n_targets = dest2 != NULL ? 2 : 1;
	gint64 *lat[2];
	guint errors[2] = {0, 0};
	gchar *first_error[2] = {NULL, NULL};

	if (c == NULL) {
		g_printerr ("bench-client: %s\n", error->message);
		return 1;
	}
	t2.dest = dest2;
	for (int k = 0; k < n_targets; k++) {
		for (gint i = 0; i < warmup; i++) {
			g_autofree gchar *e = NULL;
			if (!call_once (c, targets[k], t->account, &e)) {
				g_printerr ("bench-client: warm-up call to %s failed: %s\n",
					    targets[k]->dest, e);
				return 1;
			}
		}
		lat[k] = g_new (gint64, count);
	}
	for (gint i = 0; i < count; i++) {
		for (int j = 0; j < n_targets; j++) {
			/* who goes first alternates too */
			int k = (i + j) % n_targets;
			g_autofree gchar *e = NULL;
			gint64 t0 = now_ns ();
			if (!call_once (c, targets[k], t->account, &e)) {
				errors[k]++;
				if (first_error[k] == NULL)
					first_error[k] = g_strdup (e);
			}
			lat[k][i] = now_ns () - t0;
		}
	}
	g_print ("{\"mode\":\"latency\",\"results\":[");
	for (int k = 0; k < n_targets; k++) {
		if (k > 0)
			g_print (",");
		print_latency (targets[k]->dest, t->method, lat[k], count, errors[k],
			       first_error[k]);
		g_free (lat[k]);
		g_free (first_error[k]);
	}
	g_print ("],\"errors\":%u}\n", errors[0] + errors[1]);
	return errors[0] + errors[1] == 0 ? 0 : 1;
}

/* ---- children: throughput, burst, soak ---- */

typedef struct {
	pid_t pid;
	int result_fd; /* read end */
	GString *result;
	gboolean done;
} Child;

typedef int (*ChildFunc) (const Target *t, int index, int go_fd, int out_fd, gpointer data);

static gboolean
write_all (int fd, const gchar *data, gsize len)
{
	while (len > 0) {
		ssize_t n = write (fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		data += n;
		len -= (gsize) n;
	}
	return TRUE;
}

/* Blocks until the parent closes the go pipe (or 60 s pass). */
static void
wait_go (int go_fd)
{
	struct pollfd p = {go_fd, POLLIN, 0};
	char c;
	poll (&p, 1, 60000);
	(void) !read (go_fd, &c, 1);
}

/* Forks @n children running @fn; each says "R" on its pipe when it is
 * ready, then waits for the go pipe to close, then writes its result and
 * exits. Returns the results (NULL on failure); *go_time is when go was
 * given (monotonic ns). Children are killed after @limit_s seconds. */
static GPtrArray *
run_children (const Target *t, int n, ChildFunc fn, gpointer data, gdouble limit_s, gint64 *go_time)
{
	Child *children = g_new0 (Child, n);
	int go[2];
	GPtrArray *results = NULL;
	gint64 deadline;
	int ready = 0;
	gboolean ok = TRUE;

	if (pipe2 (go, O_CLOEXEC) < 0)
		return NULL;
	for (int i = 0; i < n; i++) {
		int out[2];
		if (pipe2 (out, O_CLOEXEC) < 0) {
			ok = FALSE;
			n = i;
			break;
		}
		children[i].pid = fork ();
		if (children[i].pid == 0) {
			close (go[1]);
			close (out[0]);
			_exit (fn (t, i, go[0], out[1], data));
		}
		close (out[1]);
		children[i].result_fd = out[0];
		children[i].result = g_string_new (NULL);
	}
	close (go[0]);

	/* everyone ready: "R" first on each pipe */
	deadline = now_ns () + (gint64) 60 * 1000000000;
	while (ok && ready < n && now_ns () < deadline) {
		for (int i = 0; i < n; i++) {
			struct pollfd p = {children[i].result_fd, POLLIN, 0};
			char c;
			if (children[i].done || children[i].result->len > 0)
				continue;
			if (poll (&p, 1, 0) > 0) {
				if (read (children[i].result_fd, &c, 1) == 1 && c == 'R') {
					g_string_append_c (children[i].result, 'R');
					ready++;
				} else {
					g_printerr (
						"bench-client: child %d failed before it was ready\n",
						i);
					ok = FALSE;
				}
			}
		}
		g_usleep (2000);
	}
	if (ready < n)
		ok = FALSE;
	*go_time = now_ns ();
	close (go[1]); /* go */

	deadline = now_ns () + (gint64) (limit_s * 1e9);
	for (int left = n; left > 0 && now_ns () < deadline;) {
		struct pollfd *p = g_new0 (struct pollfd, n);
		for (int i = 0; i < n; i++) {
			p[i].fd = children[i].done ? -1 : children[i].result_fd;
			p[i].events = POLLIN;
		}
		if (poll (p, n, 200) > 0) {
			for (int i = 0; i < n; i++) {
				char buf[65536];
				ssize_t r;
				if (children[i].done || !(p[i].revents & (POLLIN | POLLHUP)))
					continue;
				r = read (children[i].result_fd, buf, sizeof buf);
				if (r > 0) {
					g_string_append_len (children[i].result, buf, r);
				} else {
					children[i].done = TRUE;
					left--;
				}
			}
		}
		g_free (p);
	}
	results = g_ptr_array_new_with_free_func (g_free);
	for (int i = 0; i < n; i++) {
		int status = 0;
		gint64 wait_deadline = now_ns () + (gint64) 5 * 1000000000;
		if (!children[i].done) {
			g_printerr ("bench-client: child %d overstayed; killed\n", i);
			kill (children[i].pid, SIGKILL);
			ok = FALSE;
		}
		while (waitpid (children[i].pid, &status, WNOHANG) == 0) {
			if (now_ns () > wait_deadline) {
				kill (children[i].pid, SIGKILL);
				waitpid (children[i].pid, &status, 0);
				break;
			}
			g_usleep (5000);
		}
		if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
			ok = FALSE;
		close (children[i].result_fd);
		/* without the leading "R" */
		g_ptr_array_add (
			results,
			g_strdup (children[i].result->len > 0 ? children[i].result->str + 1 : ""));
		g_string_free (children[i].result, TRUE);
	}
	g_free (children);
	if (!ok) {
		g_ptr_array_unref (results);
		return NULL;
	}
	return results;
}

typedef struct {
	gdouble seconds;
} ThroughputData;

static int
throughput_child (const Target *t, int index, int go_fd, int out_fd, gpointer data)
{
	ThroughputData *d = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) c = connect_bus (t->address, &error);
	guint64 calls = 0;
	guint64 errors = 0;
	gint64 start;
	gint64 end;
	gint64 stop;
	g_autofree gchar *line = NULL;

	if (c == NULL)
		return 1;
	/* warm-up: the first call of a connection makes devauthd identify it */
	for (int i = 0; i < 20; i++) {
		g_autofree gchar *e = NULL;
		if (!call_once (c, t, t->account, &e)) {
			g_printerr ("bench-client: child %d: %s\n", index, e);
			return 1;
		}
	}
	write_all (out_fd, "R", 1);
	wait_go (go_fd);
	start = now_ns ();
	stop = start + (gint64) (d->seconds * 1e9);
	while ((end = now_ns ()) < stop && calls < MAX_COUNT) {
		g_autofree gchar *e = NULL;
		if (!call_once (c, t, t->account, &e))
			errors++;
		calls++;
	}
	line = g_strdup_printf ("%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %.6f", calls, errors,
				(end - start) / 1e9);
	write_all (out_fd, line, strlen (line));
	return 0;
}

static int
run_throughput (const Target *t, int clients, gdouble seconds)
{
	ThroughputData d = {seconds};
	gint64 go = 0;
	g_autoptr(GPtrArray) results =
		run_children (t, clients, throughput_child, &d, seconds + 60, &go);
	guint64 calls = 0;
	guint64 errors = 0;
	gdouble rate = 0;

	if (results == NULL)
		return 1;
	for (guint i = 0; i < results->len; i++) {
		guint64 c = 0, e = 0;
		gdouble el = 0;
		if (sscanf (g_ptr_array_index (results, i),
			    "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %lf", &c, &e, &el) != 3 ||
		    el <= 0)
			return 1;
		calls += c;
		errors += e;
		rate += c / el;
	}
	g_print ("{\"mode\":\"throughput\",\"method\":\"%s\",\"clients\":%d,\"seconds\":%.1f,"
		 "\"calls\":%" G_GUINT64_FORMAT ",\"errors\":%" G_GUINT64_FORMAT
		 ",\"calls_per_s\":%.1f}\n",
		 t->method, clients, seconds, calls, errors, rate);
	return errors == 0 ? 0 : 1;
}

static int
burst_child (const Target *t, int index, int go_fd, int out_fd, gpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) c = connect_bus (t->address, &error);
	g_autoptr(GDBusMessage) ping = NULL;
	g_autofree gchar *e = NULL;
	g_autofree gchar *line = NULL;
	gboolean ok;
	gint64 t0;

	if (c == NULL)
		return 1;
	/* one round trip to the service first (Peer.Ping), so that the burst
	 * measures GetToken, not the connections being set up */
	g_dbus_connection_call_sync (c, t->dest, "/", "org.freedesktop.DBus.Peer", "Ping", NULL,
				     NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
	write_all (out_fd, "R", 1);
	wait_go (go_fd);
	t0 = now_ns ();
	ok = call_once (c, t, t->account, &e);
	line = g_strdup_printf ("%s %.3f", ok ? "ok" : e, (now_ns () - t0) / 1e6);
	write_all (out_fd, line, strlen (line));
	return 0;
}

static int
run_burst (const Target *t, int clients)
{
	gint64 go = 0;
	g_autoptr(GPtrArray) results = run_children (t, clients, burst_child, NULL, 60, &go);
	guint ok = 0;
	gdouble max_ms = 0;
	g_autoptr(GString) errs = g_string_new (NULL);

	if (results == NULL)
		return 1;
	for (guint i = 0; i < results->len; i++) {
		const gchar *r = g_ptr_array_index (results, i);
		const gchar *sp = strrchr (r, ' ');
		gdouble ms = sp != NULL ? g_ascii_strtod (sp + 1, NULL) : 0;
		max_ms = MAX (max_ms, ms);
		if (g_str_has_prefix (r, "ok "))
			ok++;
		else
			g_string_append_printf (errs, "%s\"%.*s\"", errs->len > 0 ? "," : "",
						sp != NULL ? (int) (sp - r) : (int) strlen (r), r);
	}
	g_print ("{\"mode\":\"burst\",\"clients\":%d,\"ok\":%u,\"max_ms\":%.3f,\"errors\":[%s]}\n",
		 clients, ok, max_ms, errs->str);
	return 0;
}

/* ---- soak: paced calls over several accounts, failures with times ---- */

typedef struct {
	gdouble seconds;
	gint interval_ms;
	gchar **accounts;
	const gchar *out_dir;
} SoakData;

static int
soak_child (const Target *t, int index, int go_fd, int out_fd, gpointer data)
{
	SoakData *d = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) c = connect_bus (t->address, &error);
	guint n_accounts = g_strv_length (d->accounts);
	guint n_seconds = (guint) d->seconds + 2;
	guint64 *count = g_new0 (guint64, n_seconds);
	gdouble *max_ms = g_new0 (gdouble, n_seconds);
	g_autoptr(GString) out = g_string_new (NULL);
	g_autofree gchar *path = g_strdup_printf ("%s/client-%d.json", d->out_dir, index);
	guint64 calls = 0;
	guint n_errors = 0;
	gdouble wall0;
	gint64 start;
	gint64 stop;

	if (c == NULL)
		return 1;
	write_all (out_fd, "R", 1);
	wait_go (go_fd);
	wall0 = wall_now ();
	start = now_ns ();
	stop = start + (gint64) (d->seconds * 1e9);
	g_string_append_printf (out, "{\"client\":%d,\"start\":%.3f,\"errors\":[", index, wall0);
	for (guint64 i = 0; now_ns () < stop && i < MAX_COUNT; i++) {
		const gchar *account = d->accounts[(i + (guint64) index) % n_accounts];
		g_autofree gchar *e = NULL;
		gint64 t0 = now_ns ();
		gdouble w0 = wall0 + (t0 - start) / 1e9;
		gboolean ok = call_once (c, t, account, &e);
		gdouble ms = (now_ns () - t0) / 1e6;
		guint sec = (guint) ((t0 - start) / 1000000000);

		calls++;
		if (sec < n_seconds) {
			count[sec]++;
			max_ms[sec] = MAX (max_ms[sec], ms);
		}
		if (!ok && n_errors < SOAK_ERRORS_MAX) {
			g_autofree gchar *esc = g_strescape (e, NULL);
			g_string_append_printf (out, "%s[%.3f,%.3f,\"%s\",\"%s\"]",
						n_errors > 0 ? "," : "", w0, ms, account, esc);
			n_errors++;
		}
		if (d->interval_ms > 0)
			g_usleep ((gulong) d->interval_ms * 1000);
	}
	g_string_append_printf (out, "],\"calls\":%" G_GUINT64_FORMAT ",\"per_second\":[", calls);
	for (guint s = 0; s < n_seconds; s++)
		g_string_append_printf (out, "%s[%" G_GUINT64_FORMAT ",%.3f]", s > 0 ? "," : "",
					count[s], max_ms[s]);
	g_string_append (out, "]}\n");
	g_free (count);
	g_free (max_ms);
	if (!g_file_set_contents (path, out->str, (gssize) out->len, &error)) {
		g_printerr ("bench-client: %s\n", error->message);
		return 1;
	}
	write_all (out_fd, "done", 4);
	return 0;
}

static int
run_soak (const Target *t,
	  int clients,
	  gdouble seconds,
	  const gchar *accounts,
	  gint interval_ms,
	  const gchar *out_dir)
{
	SoakData d = {seconds, interval_ms, g_strsplit (accounts, ",", -1), out_dir};
	gint64 go = 0;
	g_autoptr(GPtrArray) results = NULL;

	results = run_children (t, clients, soak_child, &d, seconds + 90, &go);
	g_strfreev (d.accounts);
	if (results == NULL)
		return 1;
	g_print ("{\"mode\":\"soak\",\"clients\":%d,\"seconds\":%.1f}\n", clients, seconds);
	return 0;
}

/* ---- startup: exec -> READY=1 on our own NOTIFY_SOCKET ---- */

static gboolean
wait_exit (pid_t pid, gdouble timeout_s, int *status)
{
	gint64 deadline = now_ns () + (gint64) (timeout_s * 1e9);
	while (now_ns () < deadline) {
		pid_t r = waitpid (pid, status, WNOHANG);
		if (r == pid)
			return TRUE;
		g_usleep (1000);
	}
	return FALSE;
}

static int
run_startup (int runs, const gchar *log_path, char **argv)
{
	g_autoptr(GString) times = g_string_new (NULL);
	int failures = 0;

	for (int run = 0; run < runs; run++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		g_autofree gchar *name =
			g_strdup_printf ("bench-notify-%d-%d", (int) getpid (), run);
		int sock = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		socklen_t salen;
		gint64 t0;
		gint64 ready_at = 0;
		pid_t pid;
		int status = 0;

		/* abstract socket: "@name" in NOTIFY_SOCKET */
		memcpy (sa.sun_path + 1, name, strlen (name));
		salen = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + 1 + strlen (name));
		if (sock < 0 || bind (sock, (struct sockaddr *) &sa, salen) < 0) {
			g_printerr ("bench-client: notify socket: %s\n", g_strerror (errno));
			return 1;
		}
		t0 = now_ns ();
		pid = fork ();
		if (pid == 0) {
			g_autofree gchar *env = g_strdup_printf ("@%s", name);
			int fd = open (log_path != NULL ? log_path : "/dev/null",
				       O_WRONLY | O_CREAT | O_APPEND, 0600);
			setenv ("NOTIFY_SOCKET", env, 1);
			if (fd >= 0) {
				dup2 (fd, 1);
				dup2 (fd, 2);
			}
			execvp (argv[0], argv);
			_exit (127);
		}
		while (now_ns () - t0 < (gint64) 20 * 1000000000 && ready_at == 0) {
			struct pollfd p = {sock, POLLIN, 0};
			char buf[4096];
			ssize_t n;
			if (poll (&p, 1, 100) <= 0)
				continue;
			n = recv (sock, buf, sizeof buf - 1, 0);
			if (n <= 0)
				continue;
			buf[n] = '\0';
			if (g_str_has_prefix (buf, "READY=1") || strstr (buf, "\nREADY=1") != NULL)
				ready_at = now_ns ();
		}
		close (sock);
		kill (pid, SIGTERM);
		if (!wait_exit (pid, 10, &status)) {
			kill (pid, SIGKILL);
			waitpid (pid, &status, 0);
			failures++;
		}
		if (ready_at == 0) {
			g_printerr ("bench-client: run %d: no READY=1 within 20 s\n", run);
			failures++;
			continue;
		}
		g_string_append_printf (times, "%s%.3f", times->len > 0 ? "," : "",
					(ready_at - t0) / 1e6);
		/* the bus releases the name of the one that left */
		g_usleep (50000);
	}
	g_print ("{\"mode\":\"startup\",\"runs\":%d,\"failures\":%d,\"ms\":[%s]}\n", runs, failures,
		 times->str);
	return failures == 0 ? 0 : 1;
}

int
main (int argc, char **argv)
{
	Target t = {NULL, NULL, "GetToken", "", -1, 25000};
	g_autofree gchar *mode = NULL;
	gint count = 10000;
	gint warmup = 500;
	gint clients = 1;
	gdouble seconds = 5;
	gint runs = 10;
	gint interval_ms = 0;
	g_autofree gchar *address = NULL;
	g_autofree gchar *dest = NULL;
	g_autofree gchar *dest2 = NULL;
	g_autofree gchar *method = NULL;
	g_autofree gchar *account = NULL;
	g_autofree gchar *accounts = NULL;
	g_autofree gchar *out_dir = NULL;
	g_autofree gchar *log_path = NULL;
	g_auto(GStrv) rest = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) ctx = g_option_context_new ("MODE - devauthd benchmark client");
	const GOptionEntry entries[] = {
		{"address", 0, 0, G_OPTION_ARG_STRING, &address, "Bus address", "ADDR"},
		{"dest", 0, 0, G_OPTION_ARG_STRING, &dest, "Destination bus name", "NAME"},
		{"dest2", 0, 0, G_OPTION_ARG_STRING, &dest2, "latency: alternate with this one",
		 "NAME"},
		{"method", 0, 0, G_OPTION_ARG_STRING, &method, "GetToken or GetTokenFd", "M"},
		{"account", 0, 0, G_OPTION_ARG_STRING, &account, "Account (default \"\")", "A"},
		{"accounts", 0, 0, G_OPTION_ARG_STRING, &accounts, "soak: comma-separated", "A,B"},
		{"min-validity", 0, 0, G_OPTION_ARG_INT, &t.min_validity, "min-validity option",
		 "S"},
		{"timeout-ms", 0, 0, G_OPTION_ARG_INT, &t.timeout_ms, "Per call", "MS"},
		{"count", 0, 0, G_OPTION_ARG_INT, &count, "latency: calls", "N"},
		{"warmup", 0, 0, G_OPTION_ARG_INT, &warmup, "latency: warm-up calls", "N"},
		{"clients", 0, 0, G_OPTION_ARG_INT, &clients, "Processes", "N"},
		{"seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Duration", "S"},
		{"interval-ms", 0, 0, G_OPTION_ARG_INT, &interval_ms, "soak: pause between calls",
		 "MS"},
		{"out", 0, 0, G_OPTION_ARG_FILENAME, &out_dir, "soak: output directory", "DIR"},
		{"runs", 0, 0, G_OPTION_ARG_INT, &runs, "startup: runs", "N"},
		{"log", 0, 0, G_OPTION_ARG_FILENAME, &log_path, "startup: output of the program",
		 "F"},
		{G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &rest, NULL,
		 "MODE [-- ARGV]"},
		{NULL},
	};

	g_option_context_add_main_entries (ctx, entries, NULL);
	if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
		g_printerr ("bench-client: %s\n", error->message);
		return 2;
	}
	if (rest == NULL || rest[0] == NULL) {
		g_printerr ("bench-client: no mode (latency, throughput, burst, soak, startup)\n");
		return 2;
	}
	mode = g_strdup (rest[0]);
	if (g_strcmp0 (mode, "startup") == 0) {
		if (rest[1] == NULL || runs < 1 || runs > 1000) {
			g_printerr ("bench-client: startup --runs N -- ARGV...\n");
			return 2;
		}
		return run_startup (runs, log_path, rest + 1);
	}
	t.address = address != NULL ? address : g_getenv ("DBUS_SYSTEM_BUS_ADDRESS");
	t.dest = dest;
	t.method = method != NULL ? method : "GetToken";
	t.account = account != NULL ? account : "";
	if (t.address == NULL || t.dest == NULL || clients < 1 || clients > MAX_CLIENTS ||
	    count < 1 || count > MAX_COUNT || warmup < 0 || warmup > MAX_COUNT || seconds <= 0 ||
	    seconds > MAX_SECONDS || t.timeout_ms < 1) {
		g_printerr ("bench-client: bad or missing options (see --help)\n");
		return 2;
	}
	if (g_strcmp0 (mode, "latency") == 0)
		return run_latency (&t, dest2, count, warmup);
	if (g_strcmp0 (mode, "throughput") == 0)
		return run_throughput (&t, clients, seconds);
	if (g_strcmp0 (mode, "burst") == 0)
		return run_burst (&t, clients);
	if (g_strcmp0 (mode, "soak") == 0) {
		if (accounts == NULL || out_dir == NULL) {
			g_printerr ("bench-client: soak needs --accounts and --out\n");
			return 2;
		}
		return run_soak (&t, clients, seconds, accounts, interval_ms, out_dir);
	}
	g_printerr ("bench-client: unknown mode %s\n", mode);
	return 2;
}
