/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
	DA_FILE_NONE = 0,
	/* a key or a secret: refused when group or others may read or write
	 * it, as ssh refuses a private key */
	DA_FILE_SECRET = 1 << 0,
	/* in a directory devauthd writes (the state directory): a symlink is
	 * refused, never followed */
	DA_FILE_NOFOLLOW = 1 << 1,
} DaFileFlags;

/* Every file devauthd reads goes through here: it never blocks on a FIFO,
 * a device or a socket (opened O_NONBLOCK, then anything but a regular
 * file is refused), never reads more than @max bytes (a file that says it
 * is larger is refused before anything is read), and with DA_FILE_SECRET
 * refuses a file others may read. *@out is NUL-terminated; with
 * DA_FILE_SECRET it is wiped by da_secret_free (). Errors say what is
 * wrong, not which file (the caller names it): G_IO_ERROR_NOT_FOUND when
 * there is no such file, G_IO_ERROR_INVALID_ARGUMENT for the rest of what
 * is refused, else the error of the system call. */
gboolean
da_file_read (const gchar *path,
	      gsize max,
	      DaFileFlags flags,
	      gchar **out,
	      gsize *len,
	      GError **error);

G_END_DECLS
