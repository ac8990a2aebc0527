/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "da-file.h"
#include "da-secret.h"

static const gchar *
file_type (mode_t mode)
{
	if (S_ISDIR (mode))
		return "a directory";
	if (S_ISFIFO (mode))
		return "a FIFO";
	if (S_ISSOCK (mode))
		return "a socket";
	if (S_ISCHR (mode))
		return "a character device";
	if (S_ISBLK (mode))
		return "a block device";
	return "of an unknown type";
}

static gboolean
set_errno_error (GError **error, int errsv)
{
	g_set_error_literal (error, G_IO_ERROR, g_io_error_from_errno (errsv), g_strerror (errsv));
	return FALSE;
}

gboolean
da_file_read (const gchar *path,
	      gsize max,
	      DaFileFlags flags,
	      gchar **out,
	      gsize *len,
	      GError **error)
{
	g_autofree gchar *buf = NULL;
	struct stat st;
	gsize done = 0;
	int open_flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd;

	if (flags & DA_FILE_NOFOLLOW)
		open_flags |= O_NOFOLLOW;
	fd = open (path, open_flags);
	if (fd < 0) {
		int errsv = errno;
		if (errsv == ELOOP && (flags & DA_FILE_NOFOLLOW)) {
			g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
					     "a symbolic link, which is not followed here");
			return FALSE;
		}
		return set_errno_error (error, errsv);
	}
	if (fstat (fd, &st) < 0) {
		int errsv = errno;
		close (fd);
		return set_errno_error (error, errsv);
	}
	if (!S_ISREG (st.st_mode)) {
		close (fd);
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "%s, not a regular file", file_type (st.st_mode));
		return FALSE;
	}
	if ((flags & DA_FILE_SECRET) && (st.st_mode & 077) != 0) {
		close (fd);
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "group or others may use it (mode %04o); it holds a secret: make it "
			     "0600 or 0400 (chmod go= FILE)",
			     (guint) (st.st_mode & 07777));
		return FALSE;
	}
	if ((guint64) st.st_size > max) {
		close (fd);
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "larger than %" G_GSIZE_FORMAT " bytes", max);
		return FALSE;
	}
	buf = g_malloc ((gsize) st.st_size + 1);
	/* a file that grew since fstat() is read up to its size then */
	while (done < (gsize) st.st_size) {
		gssize n = read (fd, buf + done, (gsize) st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int errsv = errno;
			close (fd);
			da_secret_wipe (buf, done);
			return set_errno_error (error, errsv);
		}
		if (n == 0)
			break;
		done += (gsize) n;
	}
	close (fd);
	buf[done] = '\0';
	*out = g_steal_pointer (&buf);
	*len = done;
	return TRUE;
}
