/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sd_notify(3) by hand: libsystemd and the libraries it links (gcrypt,
 * gpg-error, lzma, zstd, lz4, cap) would cost the daemon about 124 KiB of
 * private dirty pages and their loading at every start, for three kinds of
 * one-line datagrams (see docs/architecture.md). */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "da-notify.h"

/* $NOTIFY_SOCKET: an absolute path, or an abstract name written with a
 * leading '@'. (systemd also knows "vsock:CID:PORT", for virtual machines;
 * a daemon that may use AF_UNIX only has no use for it.) */
static gint
notify_address (const gchar *value, struct sockaddr_un *sa, socklen_t *len)
{
	gsize n = strlen (value);

	memset (sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (value[0] == '/') {
		if (n >= sizeof sa->sun_path)
			return -ENAMETOOLONG;
		memcpy (sa->sun_path, value, n + 1);
		*len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
	if (value[0] == '@') {
		/* the name is the bytes after the leading NUL, not NUL-ended */
		if (n > sizeof sa->sun_path)
			return -ENAMETOOLONG;
		memcpy (sa->sun_path + 1, value + 1, n - 1);
		*len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + n);
		return 0;
	}
	return -EAFNOSUPPORT;
}

gint
da_notify (const gchar *state)
{
	const gchar *value = getenv ("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t sa_len = 0;
	struct iovec iov;
	struct msghdr msg = {0};
	gssize sent;
	gint fd, r;

	g_return_val_if_fail (state != NULL, -EINVAL);

	if (value == NULL || value[0] == '\0')
		return 0;
	r = notify_address (value, &sa, &sa_len);
	if (r < 0)
		return r;
	fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	iov.iov_base = (gpointer) state;
	iov.iov_len = strlen (state);
	msg.msg_name = &sa;
	msg.msg_namelen = sa_len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	/* no SCM_CREDENTIALS: the kernel gives the receiver (which sets
	 * SO_PASSCRED) our own pid, uid and gid */
	do
		sent = sendmsg (fd, &msg, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	r = sent < 0 ? -errno : ((gsize) sent == iov.iov_len ? 1 : -EMSGSIZE);
	close (fd);
	return r;
}

gint
da_notifyf (const gchar *format, ...)
{
	g_autofree gchar *state = NULL;
	va_list ap;

	va_start (ap, format);
	state = g_strdup_vprintf (format, ap);
	va_end (ap);
	return da_notify (state);
}

/* a decimal number and nothing else */
static gboolean
parse_u64 (const gchar *text, guint64 *out)
{
	gchar *end = NULL;
	guint64 value;

	if (text == NULL || !g_ascii_isdigit (text[0]))
		return FALSE;
	errno = 0;
	value = g_ascii_strtoull (text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		return FALSE;
	*out = value;
	return TRUE;
}

gint
da_watchdog_enabled (guint64 *usec)
{
	const gchar *text = getenv ("WATCHDOG_USEC");
	const gchar *pid_text;
	guint64 value, pid;

	if (text == NULL)
		return 0;
	/* systemd's USEC_INFINITY is UINT64_MAX */
	if (!parse_u64 (text, &value) || value == 0 || value == G_MAXUINT64)
		return -EINVAL;
	pid_text = getenv ("WATCHDOG_PID");
	if (pid_text != NULL) {
		if (!parse_u64 (pid_text, &pid) || pid == 0 || pid > G_MAXINT32)
			return -EINVAL;
		/* meant for another process (our parent, or a child of ours) */
		if ((pid_t) pid != getpid ())
			return 0;
	}
	if (usec != NULL)
		*usec = value;
	return 1;
}
