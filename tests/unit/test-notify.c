/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* da-notify: the datagrams as systemd's end of $NOTIFY_SOCKET receives them */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "da-notify.h"

/* the service manager's side: a datagram socket with SO_PASSCRED */
typedef struct {
	gint fd;
	gchar *dir;  /* for a path socket */
	gchar *path; /* what goes into $NOTIFY_SOCKET */
} Receiver;

static void
receiver_setup_fd (Receiver *r)
{
	struct timeval timeout = {.tv_sec = 5};
	gint one = 1;

	r->fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint (r->fd, >=, 0);
	g_assert_no_errno (setsockopt (r->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one));
	g_assert_no_errno (setsockopt (r->fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout));
}

static void
path_setup (Receiver *r, gconstpointer data)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	g_autoptr(GError) error = NULL;

	receiver_setup_fd (r);
	r->dir = g_dir_make_tmp ("devauthd-notify-XXXXXX", &error);
	g_assert_no_error (error);
	r->path = g_build_filename (r->dir, "notify", NULL);
	g_assert_cmpuint (strlen (r->path), <, sizeof sa.sun_path);
	strcpy (sa.sun_path, r->path);
	g_assert_no_errno (bind (r->fd, (struct sockaddr *) &sa, sizeof sa));
	g_setenv ("NOTIFY_SOCKET", r->path, TRUE);
}

/* an abstract name: bound with exactly its length, no NUL after it, so a
 * sender that got the address length wrong would miss it */
static void
abstract_setup (Receiver *r, gconstpointer data)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	g_autofree gchar *name =
		g_strdup_printf ("devauthd-test-notify-%d-%08x", (gint) getpid (), g_random_int ());
	socklen_t len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + 1 + strlen (name));

	receiver_setup_fd (r);
	memcpy (sa.sun_path + 1, name, strlen (name));
	g_assert_no_errno (bind (r->fd, (struct sockaddr *) &sa, len));
	r->path = g_strconcat ("@", name, NULL);
	g_setenv ("NOTIFY_SOCKET", r->path, TRUE);
}

static void
receiver_teardown (Receiver *r, gconstpointer data)
{
	g_unsetenv ("NOTIFY_SOCKET");
	close (r->fd);
	if (r->dir != NULL) {
		g_unlink (r->path);
		g_rmdir (r->dir);
	}
	g_free (r->path);
	g_free (r->dir);
}

/* one datagram: its bytes, and the pid the kernel says sent it */
static GBytes *
receive (Receiver *r, pid_t *pid)
{
	guint8 buf[4096];
	union {
		struct cmsghdr align;
		guint8 space[CMSG_SPACE (sizeof (struct ucred))];
	} control;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = &control,
		.msg_controllen = sizeof control,
	};
	gssize n = recvmsg (r->fd, &msg, MSG_DONTWAIT);

	g_assert_cmpint (n, >=, 0);
	g_assert_false (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
	*pid = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c != NULL; c = CMSG_NXTHDR (&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred cred;
			memcpy (&cred, CMSG_DATA (c), sizeof cred);
			*pid = cred.pid;
		}
	}
	return g_bytes_new (buf, (gsize) n);
}

static void
assert_received (Receiver *r, const gchar *expected)
{
	pid_t pid;
	g_autoptr(GBytes) got = receive (r, &pid);
	gsize len;
	const gchar *data = g_bytes_get_data (got, &len);

	/* exactly these bytes: no NUL, no newline added */
	g_assert_cmpmem (data, len, expected, strlen (expected));
	g_assert_cmpint (pid, ==, getpid ());
}

static void
assert_nothing_queued (Receiver *r)
{
	guint8 byte;

	g_assert_cmpint (recv (r->fd, &byte, 1, MSG_DONTWAIT), <, 0);
	g_assert_true (errno == EAGAIN || errno == EWOULDBLOCK);
}

static guint
count_fds (void)
{
	g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
	guint n = 0;

	g_assert_nonnull (dir);
	while (g_dir_read_name (dir) != NULL)
		n++;
	return n;
}

static void
test_notify_messages (Receiver *r, gconstpointer data)
{
	guint fds = count_fds ();

	/* what main.c sends, in the order of a daemon's life */
	g_assert_cmpint (da_notifyf ("STATUS=Signed in: %u of %u account%s", 0u, 1u, ""), ==, 1);
	assert_received (r, "STATUS=Signed in: 0 of 1 account");
	g_assert_cmpint (da_notify ("READY=1"), ==, 1);
	assert_received (r, "READY=1");
	g_assert_cmpint (da_notifyf ("STATUS=Signed in: %u of %u account%s", 2u, 3u, "s"), ==, 1);
	assert_received (r, "STATUS=Signed in: 2 of 3 accounts");
	g_assert_cmpint (da_notify ("WATCHDOG=1"), ==, 1);
	assert_received (r, "WATCHDOG=1");
	g_assert_cmpint (da_notify ("STOPPING=1"), ==, 1);
	assert_received (r, "STOPPING=1");
	/* several assignments in one datagram, as sd_notify(3) allows */
	g_assert_cmpint (da_notify ("READY=1\nSTATUS=ready"), ==, 1);
	assert_received (r, "READY=1\nSTATUS=ready");
	assert_nothing_queued (r);
	/* one socket per message, closed again (one at a time: a full queue,
	 * net.unix.max_dgram_qlen, blocks the sender, as it would systemd's) */
	for (guint i = 0; i < 64; i++) {
		g_assert_cmpint (da_notify ("WATCHDOG=1"), ==, 1);
		assert_received (r, "WATCHDOG=1");
	}
	g_assert_cmpuint (count_fds (), ==, fds);
}

static void
test_notify_no_socket (void)
{
	g_unsetenv ("NOTIFY_SOCKET");
	g_assert_cmpint (da_notify ("READY=1"), ==, 0);
	g_assert_cmpint (da_notifyf ("STATUS=%s", "x"), ==, 0);
	g_setenv ("NOTIFY_SOCKET", "", TRUE);
	g_assert_cmpint (da_notify ("READY=1"), ==, 0);
	g_unsetenv ("NOTIFY_SOCKET");
}

static void
test_notify_bad_socket (void)
{
	g_autofree gchar *dir = g_dir_make_tmp ("devauthd-notify-XXXXXX", NULL);
	g_autofree gchar *missing = g_build_filename (dir, "nobody-listens", NULL);
	g_autofree gchar *long_path = g_strnfill (200, 'x');
	g_autofree gchar *long_abstract = g_strnfill (200, 'x');
	g_autofree gchar *abstract = g_strdup_printf ("@devauthd-test-nobody-%d-%08x",
						      (gint) getpid (), g_random_int ());
	guint fds = count_fds ();

	long_path[0] = '/';
	long_abstract[0] = '@';
	/* relative paths and vsock: are not ours to use */
	g_setenv ("NOTIFY_SOCKET", "run/notify", TRUE);
	g_assert_cmpint (da_notify ("READY=1"), ==, -EAFNOSUPPORT);
	g_setenv ("NOTIFY_SOCKET", "vsock:2:1234", TRUE);
	g_assert_cmpint (da_notify ("READY=1"), ==, -EAFNOSUPPORT);
	g_setenv ("NOTIFY_SOCKET", long_path, TRUE);
	g_assert_cmpint (da_notify ("READY=1"), ==, -ENAMETOOLONG);
	g_setenv ("NOTIFY_SOCKET", long_abstract, TRUE);
	g_assert_cmpint (da_notify ("READY=1"), ==, -ENAMETOOLONG);
	g_setenv ("NOTIFY_SOCKET", missing, TRUE);
	g_assert_cmpint (da_notify ("READY=1"), ==, -ENOENT);
	g_setenv ("NOTIFY_SOCKET", abstract, TRUE);
	g_assert_cmpint (da_notify ("READY=1"), ==, -ECONNREFUSED);
	g_assert_cmpuint (count_fds (), ==, fds);
	g_unsetenv ("NOTIFY_SOCKET");
	g_rmdir (dir);
}

static void
test_watchdog (void)
{
	g_autofree gchar *self = g_strdup_printf ("%d", (gint) getpid ());
	g_autofree gchar *parent = g_strdup_printf ("%d", (gint) getppid ());
	const gchar *bad_usec[] = {"",
				   "0",
				   "-1",
				   "+5",
				   " 5",
				   "5 ",
				   "5s",
				   "0x10",
				   "abc",
				   "18446744073709551615",
				   "18446744073709551616",
				   NULL};
	const gchar *bad_pid[] = {"", "0", "-1", "x", "12a", "99999999999", NULL};
	guint64 usec = 7;

	g_unsetenv ("WATCHDOG_USEC");
	g_unsetenv ("WATCHDOG_PID");
	g_assert_cmpint (da_watchdog_enabled (&usec), ==, 0);
	g_assert_cmpuint (usec, ==, 7);

	/* no WATCHDOG_PID: ours */
	g_setenv ("WATCHDOG_USEC", "2000000", TRUE);
	g_assert_cmpint (da_watchdog_enabled (&usec), ==, 1);
	g_assert_cmpuint (usec, ==, 2000000);
	g_assert_cmpint (da_watchdog_enabled (NULL), ==, 1);

	/* WATCHDOG_PID naming us */
	usec = 7;
	g_setenv ("WATCHDOG_USEC", "30000000", TRUE);
	g_setenv ("WATCHDOG_PID", self, TRUE);
	g_assert_cmpint (da_watchdog_enabled (&usec), ==, 1);
	g_assert_cmpuint (usec, ==, 30000000);

	/* meant for another process: not enabled, *usec untouched */
	usec = 7;
	g_setenv ("WATCHDOG_PID", parent, TRUE);
	g_assert_cmpint (da_watchdog_enabled (&usec), ==, 0);
	g_assert_cmpuint (usec, ==, 7);
	g_setenv ("WATCHDOG_PID", "1", TRUE);
	g_assert_cmpint (da_watchdog_enabled (&usec), ==, getpid () == 1 ? 1 : 0);

	for (guint i = 0; bad_pid[i] != NULL; i++) {
		g_setenv ("WATCHDOG_PID", bad_pid[i], TRUE);
		g_assert_cmpint (da_watchdog_enabled (&usec), ==, -EINVAL);
	}
	g_unsetenv ("WATCHDOG_PID");
	for (guint i = 0; bad_usec[i] != NULL; i++) {
		g_test_message ("WATCHDOG_USEC=%s", bad_usec[i]);
		g_setenv ("WATCHDOG_USEC", bad_usec[i], TRUE);
		g_assert_cmpint (da_watchdog_enabled (&usec), ==, -EINVAL);
	}
	g_assert_cmpuint (usec, ==, 7);
	g_unsetenv ("WATCHDOG_USEC");
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);

	g_test_add ("/devauthd/notify/path", Receiver, NULL, path_setup, test_notify_messages,
		    receiver_teardown);
	g_test_add ("/devauthd/notify/abstract", Receiver, NULL, abstract_setup,
		    test_notify_messages, receiver_teardown);
	g_test_add_func ("/devauthd/notify/no-socket", test_notify_no_socket);
	g_test_add_func ("/devauthd/notify/bad-socket", test_notify_bad_socket);
	g_test_add_func ("/devauthd/notify/watchdog", test_watchdog);
	return g_test_run ();
}
