/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devauthctl (client/devauthctl.c) against a fake Varlink server: the
 * request it sends, what it prints for each reply, and when it hands over
 * to devauthctl-bus instead. No devauthd: the bus address leads nowhere,
 * so devauthctl-bus, when it runs, says that it cannot connect to the bus,
 * which proves that it ran.
 */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define GET_TOKEN "{\"method\":\"org.devauth.DeviceAuth1.GetToken\",\"parameters\":"
#define NO_BUS	  "devauthctl: cannot connect to the system bus: "
#define MALFORMED "devauthctl: devauthd sent a malformed reply\n"

/* what the fake does with the next connection, after reading the request */
typedef enum {
	FAKE_REPLY,   /* sends the reply as is (NUL included, or not) */
	FAKE_HANG_UP, /* closes the connection */
	FAKE_SILENT,  /* waits until devauthctl gives up */
} FakeMode;

typedef struct {
	gchar *dir;
	gchar *path;
	int listen_fd;
	GBytes *reply;
	FakeMode mode;
	GThread *thread;
} Fake;

typedef struct {
	int status;
	gchar *out;
	gchar *err;
} Run;

static void
run_clear (Run *run)
{
	g_free (run->out);
	g_free (run->err);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Run, run_clear)

static Fake fake;

static void
fake_setup (void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	fake.dir = g_dir_make_tmp ("test-devauthctl-XXXXXX", NULL);
	g_assert_nonnull (fake.dir);
	fake.path = g_build_filename (fake.dir, "org.devauth.DeviceAuth1", NULL);
	g_assert_cmpuint (strlen (fake.path), <, sizeof (addr.sun_path));
	strcpy (addr.sun_path, fake.path);
	fake.listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	g_assert_cmpint (fake.listen_fd, >=, 0);
	g_assert_cmpint (bind (fake.listen_fd, (struct sockaddr *) &addr, sizeof (addr)), ==, 0);
	g_assert_cmpint (listen (fake.listen_fd, 8), ==, 0);
}

static void
fake_teardown (void)
{
	close (fake.listen_fd);
	g_unlink (fake.path);
	g_rmdir (fake.dir);
	g_free (fake.path);
	g_free (fake.dir);
}

/* one connection: what came before the NUL (or the end), NULL when nobody called */
static gpointer
fake_serve (gpointer data)
{
	struct pollfd pfd = {.fd = fake.listen_fd, .events = POLLIN};
	GByteArray *request = g_byte_array_new ();
	guint8 buf[4096];
	int fd;

	if (poll (&pfd, 1, 20000) != 1) {
		g_byte_array_unref (request);
		return NULL;
	}
	fd = accept4 (fake.listen_fd, NULL, NULL, SOCK_CLOEXEC);
	g_assert_cmpint (fd, >=, 0);
	while (request->len == 0 || memchr (request->data, '\0', request->len) == NULL) {
		ssize_t n = recv (fd, buf, sizeof (buf), 0);

		if (n <= 0)
			break;
		g_byte_array_append (request, buf, (guint) n);
	}
	if (fake.mode == FAKE_SILENT) {
		while (recv (fd, buf, sizeof (buf), 0) > 0)
			;
	} else if (fake.mode == FAKE_REPLY) {
		gsize len;
		const guint8 *p = g_bytes_get_data (fake.reply, &len);

		while (len > 0) {
			ssize_t n = send (fd, p, len, MSG_NOSIGNAL);

			if (n < 0)
				break; /* devauthctl stopped reading */
			p += n;
			len -= (gsize) n;
		}
	}
	close (fd);
	return request;
}

static void
fake_expect (const gchar *reply, gsize len, FakeMode mode)
{
	g_clear_pointer (&fake.reply, g_bytes_unref);
	fake.reply = g_bytes_new (reply, len);
	fake.mode = mode;
	fake.thread = g_thread_new ("fake-varlink", fake_serve, NULL);
}

/* the request, with its NUL */
static GByteArray *
fake_join (void)
{
	GByteArray *request = g_thread_join (g_steal_pointer (&fake.thread));

	g_assert_nonnull (request);
	return request;
}

static void
assert_no_caller (void)
{
	int fd = accept4 (fake.listen_fd, NULL, NULL, SOCK_CLOEXEC);

	g_assert_cmpint (fd, <, 0);
	g_assert_cmpint (errno, ==, EAGAIN);
}

/* devauthctl @args with DEVAUTH_VARLINK_SOCKET=@socket (unset when NULL) */
static void
run_with (const gchar *exe, const gchar *socket, const gchar *const *args, Run *run)
{
	g_auto(GStrv) env = g_get_environ ();
	g_autoptr(GPtrArray) argv = g_ptr_array_new ();
	g_autoptr(GError) error = NULL;

	env = g_environ_setenv (env, "DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent", TRUE);
	env = g_environ_setenv (env, "LC_ALL", "C.UTF-8", TRUE);
	if (socket != NULL)
		env = g_environ_setenv (env, "DEVAUTH_VARLINK_SOCKET", socket, TRUE);
	else
		env = g_environ_unsetenv (env, "DEVAUTH_VARLINK_SOCKET");
	g_ptr_array_add (argv, (gpointer) exe);
	for (; *args != NULL; args++)
		g_ptr_array_add (argv, (gpointer) *args);
	g_ptr_array_add (argv, NULL);
	g_assert_true (g_spawn_sync (NULL, (gchar **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL,
				     &run->out, &run->err, &run->status, &error));
	g_assert_no_error (error);
	g_assert_true (WIFEXITED (run->status));
	run->status = WEXITSTATUS (run->status);
}

static void
run (const gchar *socket, const gchar *const *args, Run *r)
{
	run_with (g_getenv ("DEVAUTHCTL"), socket, args, r);
}

#define ARGS(...) ((const gchar *const[]){__VA_ARGS__, NULL})

static void
assert_run (const Run *r, int status, const gchar *out, const gchar *err)
{
	g_assert_cmpstr (r->err, ==, err);
	g_assert_cmpstr (r->out, ==, out);
	g_assert_cmpint (r->status, ==, status);
}

/* one call through the fake: the request it got must be @request */
static void
call (const gchar *const *args, const gchar *reply, gsize reply_len, const gchar *request, Run *r)
{
	g_autoptr(GByteArray) got = NULL;

	fake_expect (reply, reply_len, FAKE_REPLY);
	run (fake.path, args, r);
	got = fake_join ();
	if (request != NULL)
		g_assert_cmpmem (got->data, got->len, request, strlen (request) + 1);
}

/* @json with its NUL */
static void
call_json (const gchar *const *args, const gchar *json, Run *r)
{
	call (args, json, strlen (json) + 1, NULL, r);
}

static gchar *
token_reply (const gchar *token)
{
	return g_strdup_printf ("{\"parameters\":{\"token\":\"%s\",\"expiresAt\":1790000000,"
				"\"tokenType\":\"Bearer\",\"scope\":\"openid profile\"}}",
				token);
}

static void
test_request (void)
{
	g_autofree gchar *reply = token_reply ("eyJ.tok");
	gsize len = strlen (reply) + 1;
	struct {
		const gchar *const *args;
		const gchar *request;
	} cases[] = {
		{ARGS ("token"), GET_TOKEN "{}}"},
		{ARGS ("token", ""), GET_TOKEN "{}}"},
		{ARGS ("token", "tv"), GET_TOKEN "{\"account\":\"tv\"}}"},
		{ARGS ("token", "--min-validity", "600"), GET_TOKEN "{\"minValidity\":600}}"},
		{ARGS ("token", "tv", "--min-validity", "0"),
		 GET_TOKEN "{\"account\":\"tv\",\"minValidity\":0}}"},
		{ARGS ("token", "--min-validity=4294967295", "tv"),
		 GET_TOKEN "{\"account\":\"tv\",\"minValidity\":4294967295}}"},
		{ARGS ("token", "--min-validity", "007", "a\"b\\c\n\x01\xc3\xa9"), GET_TOKEN
		 "{\"account\":\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\",\"minValidity\":7}}"},
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_auto(Run) r = {0};

		call (cases[i].args, reply, len, cases[i].request, &r);
		assert_run (&r, 0, "eyJ.tok\n", "");
	}
}

static void
test_token (void)
{
	g_autofree gchar *largest = g_strnfill (65536, 'a');
	g_autofree gchar *too_large = g_strnfill (65537, 'a');
	g_autofree gchar *largest_out = g_strconcat (largest, "\n", NULL);
	struct {
		const gchar *token;
		int status;
		const gchar *out;
		const gchar *err;
	} cases[] = {
		{"a\\/b \\u007e~", 0, "a/b ~~\n", ""},
		{largest, 0, largest_out, ""},
		{too_large, 1, "", "devauthctl: the token is larger than 65536 bytes\n"},
		{"", 1, "", "devauthctl: devauthd sent an empty token\n"},
		{"caf\\u00e9", 1, "", "devauthctl: devauthd sent a malformed token\n"},
		{"a\\tb", 1, "", "devauthctl: devauthd sent a malformed token\n"},
		{"a\\u0000b", 1, "", "devauthctl: devauthd sent a malformed token\n"},
		{"a\\u007f", 1, "", "devauthctl: devauthd sent a malformed token\n"},
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree gchar *reply = token_reply (cases[i].token);
		g_auto(Run) r = {0};

		call_json (ARGS ("token"), reply, &r);
		assert_run (&r, cases[i].status, cases[i].out, cases[i].err);
	}
	/* keys in another order, unknown ones, whitespace */
	{
		g_auto(Run) r = {0};

		call_json (ARGS ("token"),
			   "\n{ \"continues\" : false, \"parameters\" : { \"x\" : [ {}, [1e400] ],"
			   " \"scope\": null, \"token\" : \"t-1\" } }\n",
			   &r);
		assert_run (&r, 0, "t-1\n", "");
	}
}

static void
test_errors (void)
{
	struct {
		const gchar *json;
		int status;
		const gchar *err;
	} cases[] = {
		{"{\"error\":\"org.devauth.DeviceAuth1.NotSignedIn\",\"parameters\":"
		 "{\"message\":\"account 'x' is not signed in\"}}",
		 1, "devauthctl: account 'x' is not signed in\n"},
		{"{\"parameters\":{\"message\":\"denied\"},\"error\":\"org.devauth.DeviceAuth1.LoginDenied\"}",
		 3, "devauthctl: denied\n"},
		{"{\"error\":\"org.devauth.DeviceAuth1.LoginExpired\",\"parameters\":{\"message\":\"e\"}}",
		 4, "devauthctl: e\n"},
		{"{\"error\":\"org.devauth.DeviceAuth1.Cancelled\",\"parameters\":{\"message\":\"c\"}}",
		 5, "devauthctl: c\n"},
		{"{\"error\":\"org.devauth.DeviceAuth1.RateLimited\",\"parameters\":{\"message\":\"slow\"}}",
		 1, "devauthctl: slow\n"},
		/* only the exact names map to their exit codes */
		{"{\"error\":\"org.devauth.DeviceAuth1.CancelledX\",\"parameters\":{\"message\":\"c\"}}",
		 1, "devauthctl: c\n"},
		{"{\"error\":\"org.devauth.DeviceAuth1.Error.Cancelled\",\"parameters\":{\"message\":\"c\"}}",
		 1, "devauthctl: c\n"},
		/* as da_sanitize (): control characters and invalid UTF-8 as \xNN */
		{"{\"error\":\"org.devauth.DeviceAuth1.IdpError\",\"parameters\":{\"message\":"
		 "\"bad \\u001b[31mred\\u0085\\r\\n \xff\xc3 caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \\u0000\"}}",
		 1,
		 "devauthctl: bad \\x1b[31mred\\x85\\x0d\\x0a \\xff\\xc3 caf\xc3\xa9 \xc3\xa9 "
		 "\xf0\x9f\x98\x80 \\x00\n"},
		/* bidirectional controls, which would reorder the line, as \uNNNN;
		 * right-to-left letters are text */
		{"{\"error\":\"org.devauth.DeviceAuth1.IdpError\",\"parameters\":{\"message\":"
		 "\"code \\u202eTJHM-BJDW\\u202c \\u2066x\\u2069 \\u200f \\u05e9\"}}",
		 1, "devauthctl: code \\u202eTJHM-BJDW\\u202c \\u2066x\\u2069 \\u200f \xd7\xa9\n"},
		/* Varlink's own errors: the name */
		{"{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":"
		 "{\"method\":\"org.devauth.DeviceAuth1.GetToken\"}}",
		 1,
		 "devauthctl: devauthd refused the request: org.varlink.service.MethodNotFound\n"},
		{"{\"error\":\"org.varlink.service.InvalidParameter\",\"parameters\":{\"message\":\"m\"}}",
		 1,
		 "devauthctl: devauthd refused the request: org.varlink.service.InvalidParameter\n"},
		{"{\"error\":\"org.devauth.DeviceAuth1.Internal\\u001b\"}", 1,
		 "devauthctl: devauthd refused the request: org.devauth.DeviceAuth1.Internal\\x1b\n"},
	};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_auto(Run) r = {0};

		call_json (ARGS ("token"), cases[i].json, &r);
		assert_run (&r, cases[i].status, "", cases[i].err);
	}
}

static void
test_malformed (void)
{
	const gchar *json[] = {
		"",
		"{\"parameters\":{\"token\":5}}",
		"{\"parameters\":{\"token\":\"t\"}} x",
		"{\"parameters\":{\"token\":\"t\"}",
		"{\"parameters\":{}}",
		"not json",
	};
	g_autofree gchar *oversized = g_strnfill (128 * 1024, ' ');
	g_autofree gchar *huge = g_strnfill (1024 * 1024, ' ');

	for (gsize i = 0; i < G_N_ELEMENTS (json); i++) {
		g_auto(Run) r = {0};

		call_json (ARGS ("token"), json[i], &r);
		assert_run (&r, 1, "", MALFORMED);
	}
	{
		/* cut short: no NUL, then the end */
		g_auto(Run) r = {0};
		const gchar *cut = "{\"parameters\":{\"token\":\"t\"}}";

		call (ARGS ("token"), cut, strlen (cut), NULL, &r);
		assert_run (&r, 1, "", MALFORMED);
	}
	{
		/* 128 KiB with no NUL in them; then a reply of 128 KiB and a NUL */
		g_auto(Run) r = {0};
		g_auto(Run) r2 = {0};
		g_auto(Run) r3 = {0};

		call (ARGS ("token"), huge, 1024 * 1024, NULL, &r);
		assert_run (&r, 1, "", MALFORMED);
		call (ARGS ("token"), oversized, 128 * 1024, NULL, &r2);
		assert_run (&r2, 1, "", MALFORMED);
		call (ARGS ("token"), oversized, 128 * 1024 + 1, NULL, &r3);
		assert_run (&r3, 1, "", MALFORMED);
	}
	{
		/* the largest reply: 128 KiB with its NUL */
		g_auto(Run) r = {0};
		g_autofree gchar *reply = token_reply ("t-max");
		GString *padded = g_string_new (reply);

		while (padded->len < 128 * 1024 - 1)
			g_string_append_c (padded, ' ');
		call (ARGS ("token"), padded->str, padded->len + 1, NULL, &r);
		g_string_free (padded, TRUE);
		assert_run (&r, 0, "t-max\n", "");
	}
}

/* ---- when devauthctl-bus takes over ---- */

static void
assert_bus_ran (const Run *r)
{
	g_assert_cmpstr (r->out, ==, "");
	if (!g_str_has_prefix (r->err, NO_BUS))
		g_error ("devauthctl-bus did not run: %s", r->err);
	g_assert_cmpint (r->status, ==, 1);
}

static void
test_fallback_hang_up (void)
{
	g_autoptr(GByteArray) got = NULL;
	g_auto(Run) r = {0};

	/* devauthd closed the connection before any reply byte */
	fake_expect ("", 0, FAKE_HANG_UP);
	run (fake.path, ARGS ("token", "tv"), &r);
	got = fake_join ();
	g_assert_cmpmem (got->data, got->len, GET_TOKEN "{\"account\":\"tv\"}}",
			 sizeof (GET_TOKEN "{\"account\":\"tv\"}}"));
	assert_bus_ran (&r);
}

static void
test_fallback_no_socket (void)
{
	g_autofree gchar *stale = g_build_filename (fake.dir, "stale", NULL);
	g_autofree gchar *file = g_build_filename (fake.dir, "file", NULL);
	g_autofree gchar *not_dir = g_build_filename (file, "sock", NULL);
	g_autofree gchar *too_long = g_strnfill (200, 'x');
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket (AF_UNIX, SOCK_STREAM, 0);
	const gchar *paths[] = {"/nonexistent", stale, not_dir, too_long, ""};

	/* a socket nobody listens on any more (ECONNREFUSED), a file on the way (ENOTDIR) */
	strcpy (addr.sun_path, stale);
	g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof (addr)), ==, 0);
	close (fd);
	g_assert_true (g_file_set_contents (file, "", 0, NULL));

	for (gsize i = 0; i < G_N_ELEMENTS (paths); i++) {
		g_auto(Run) r = {0};

		run (paths[i], ARGS ("token"), &r);
		assert_bus_ran (&r);
	}
	g_unlink (stale);
	g_unlink (file);
}

/* Anything but `token [ACCOUNT] [--min-validity N]` is devauthctl-bus's,
 * usage errors too, so that they read the same. */
static void
test_fallback_args (void)
{
	struct {
		const gchar *const *args;
		int status;
		const gchar *out_part; /* NULL: "" */
		const gchar *err_part; /* NULL: devauthctl-bus could not reach the bus */
	} cases[] = {
		{ARGS ("token", "--no-fd"), 1, NULL, NULL},
		{ARGS ("token", "a", "--no-fd"), 1, NULL, NULL},
		{ARGS ("token", "\xff"), 1, NULL, NULL},
		{ARGS ("status"), 1, NULL, NULL},
		{ARGS ("token", "a", "b"), 2, NULL, "devauthctl: too many arguments\n"},
		{ARGS ("token", "--min-validity", "0x5"), 2, NULL,
		 "invalid number of seconds '0x5'"},
		{ARGS ("token", "--min-validity", "-1"), 2, NULL, "invalid number of seconds '-1'"},
		{ARGS ("token", "--min-validity=4294967296"), 2, NULL, "invalid number of seconds"},
		{ARGS ("token", "--min-validity="), 2, NULL, "invalid number of seconds ''"},
		{ARGS ("token", "--min-validity", " 5"), 2, NULL, "invalid number of seconds ' 5'"},
		{ARGS ("token", "--min-validity"), 2, NULL, "devauthctl: Missing argument"},
		{ARGS ("token", "--frob"), 2, NULL, "devauthctl: Unknown option --frob"},
		{ARGS ("token", "-"), 1, NULL, NULL},
		{ARGS ("frob"), 2, NULL,
		 "devauthctl: unknown verb 'frob'\nTry 'devauthctl --help'.\n"},
		{ARGS ("--frob"), 2, NULL, "devauthctl: unknown option --frob\n"},
		{ARGS ("token", "--help"), 0, "Usage:\n  devauthctl token [OPTION", ""},
		{ARGS ("--help"), 0, "Usage:\n  devauthctl [--version]", ""},
		{ARGS ("-h"), 0, "Usage:\n  devauthctl [--version]", ""},
		{ARGS ("--version"), 0, "devauthctl " PACKAGE_VERSION "\n", ""},
		{ARGS ("--version", "x"), 0, "devauthctl " PACKAGE_VERSION "\n", ""},
	};
	g_auto(Run) none = {0};

	for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_auto(Run) r = {0};

		run (fake.path, cases[i].args, &r);
		assert_no_caller ();
		if (cases[i].err_part == NULL) {
			assert_bus_ran (&r);
			continue;
		}
		if (strstr (r.err, cases[i].err_part) == NULL)
			g_error ("case %zu: stderr %s", i, r.err);
		if (cases[i].out_part == NULL)
			g_assert_cmpstr (r.out, ==, "");
		else if (!g_str_has_prefix (r.out, cases[i].out_part))
			g_error ("case %zu: stdout %s", i, r.out);
		g_assert_cmpint (r.status, ==, cases[i].status);
	}
	/* no verb */
	run_with (g_getenv ("DEVAUTHCTL"), fake.path, ARGS (NULL), &none);
	assert_no_caller ();
	assert_run (&none, 2, "", "devauthctl: no verb given\nTry 'devauthctl --help'.\n");
}

/* Away from the build tree, devauthctl runs devauthctl-bus from libexecdir,
 * not from next to it: that one when it is installed on this machine, else
 * a plain message. */
static void
test_no_bus_client (void)
{
	const gchar *installed = g_getenv ("DEVAUTHCTL_BUS_INSTALLED");
	g_autofree gchar *copy = g_build_filename (fake.dir, "devauthctl", NULL);
	g_autofree gchar *contents = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(Run) r = {0};
	g_auto(Run) v = {0};
	gsize len;

	g_assert_true (g_file_get_contents (g_getenv ("DEVAUTHCTL"), &contents, &len, NULL));
	g_assert_true (g_file_set_contents_full (copy, contents, (gssize) len,
						 G_FILE_SET_CONTENTS_NONE, 0755, NULL));
	if (g_file_test (installed, G_FILE_TEST_IS_EXECUTABLE)) {
		/* the installed client answers --help of a verb */
		run_with (copy, fake.path, ARGS ("status", "--help"), &r);
		g_assert_cmpint (r.status, ==, 0);
		g_assert_nonnull (strstr (r.out, "Usage"));
	} else {
		run_with (copy, fake.path, ARGS ("status"), &r);
		expected = g_strdup_printf ("devauthctl: cannot run devauthctl-bus: %s: %s\n",
					    installed, g_strerror (ENOENT));
		assert_run (&r, 1, "", expected);
	}
	/* --version does without it */
	run_with (copy, fake.path, ARGS ("--version"), &v);
	assert_run (&v, 0, "devauthctl " PACKAGE_VERSION "\n", "");
	g_unlink (copy);
}

static void
test_timeout (void)
{
	g_autoptr(GByteArray) got = NULL;
	g_auto(Run) r = {0};
	gint64 start = g_get_monotonic_time ();

	fake_expect ("", 0, FAKE_SILENT);
	run (fake.path, ARGS ("token"), &r);
	got = fake_join ();
	assert_run (&r, 1, "", "devauthctl: devauthd did not answer in time\n");
	g_assert_cmpint (g_get_monotonic_time () - start, >=, 25 * G_USEC_PER_SEC);
	g_assert_cmpint (g_get_monotonic_time () - start, <, 30 * G_USEC_PER_SEC);
}

int
main (int argc, char **argv)
{
	int ret;

	g_test_init (&argc, &argv, NULL);
	if (g_getenv ("DEVAUTHCTL") == NULL) {
		g_printerr ("set DEVAUTHCTL to the devauthctl to test\n");
		return 1;
	}
	fake_setup ();
	g_test_add_func ("/devauthctl/request", test_request);
	g_test_add_func ("/devauthctl/token", test_token);
	g_test_add_func ("/devauthctl/errors", test_errors);
	g_test_add_func ("/devauthctl/malformed", test_malformed);
	g_test_add_func ("/devauthctl/fallback/hang-up", test_fallback_hang_up);
	g_test_add_func ("/devauthctl/fallback/no-socket", test_fallback_no_socket);
	g_test_add_func ("/devauthctl/fallback/args", test_fallback_args);
	g_test_add_func ("/devauthctl/no-bus-client", test_no_bus_client);
	g_test_add_func ("/devauthctl/timeout", test_timeout);
	ret = g_test_run ();
	g_clear_pointer (&fake.reply, g_bytes_unref);
	fake_teardown ();
	return ret;
}
