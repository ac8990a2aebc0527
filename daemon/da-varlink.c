/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Varlink front: devauthd's own socket, its connections (limits,
 * idle and write deadlines, the reserve), the NUL-ended framing, the
 * dispatch. The methods and their replies are in da-varlink-methods.c, the
 * request read from its bytes in da-varlink-request.c. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "da-caller.h"
#include "da-error.h"
#include "da-json.h"
#include "da-json-string.h"
#include "da-secret.h"
#include "da-varlink-private.h"
#include "da-varlink-request.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

G_DEFINE_TYPE (DaVarlinkServer, da_varlink_server, G_TYPE_OBJECT)

static void
conn_close (DaVarlinkConn *conn);
static void
conn_watch_in (DaVarlinkConn *conn);
static void
conn_process (DaVarlinkConn *conn);

/* ---- a connection, and what it sends ---- */

void
da_varlink_conn_unref (DaVarlinkConn *conn)
{
	if (!g_atomic_int_dec_and_test (&conn->ref_count))
		return;
	g_clear_pointer (&conn->caller, da_caller_free);
	da_secret_wipe (conn->in->data, conn->in->len);
	g_byte_array_unref (conn->in);
	da_secret_wipe (conn->out->str, conn->out->allocated_len);
	g_string_free (conn->out, TRUE);
	g_clear_object (&conn->cancellable);
	g_free (conn);
}

DaVarlinkConn *
da_varlink_conn_ref (DaVarlinkConn *conn)
{
	g_atomic_int_inc (&conn->ref_count);
	return conn;
}

static gboolean
idle_timeout_cb (gpointer user_data)
{
	g_autoptr(DaVarlinkConn) conn = da_varlink_conn_ref (user_data);

	conn->idle_id = 0;
	g_debug ("varlink: closing a connection of uid %u that sent nothing for %d s", conn->uid,
		 DA_VARLINK_IDLE_TIMEOUT_SEC);
	conn_close (conn);
	return G_SOURCE_REMOVE;
}

static void
conn_arm_idle (DaVarlinkConn *conn)
{
	g_clear_handle_id (&conn->idle_id, g_source_remove);
	conn->idle_id = g_timeout_add_seconds (DA_VARLINK_IDLE_TIMEOUT_SEC, idle_timeout_cb, conn);
}

/* bytes (of kernel memory) of our output that the peer has not read yet */
static gint
conn_unread (DaVarlinkConn *conn)
{
	gint unread = 0;

	if (ioctl (conn->fd, SIOCOUTQ, &unread) < 0)
		return conn->out_done < conn->out->len ? 1 : 0;
	return unread;
}

static gboolean
write_deadline_cb (gpointer user_data);

static void
conn_arm_write_deadline (DaVarlinkConn *conn, guint ms)
{
	if (conn->write_id == 0)
		conn->write_id = g_timeout_add (ms, write_deadline_cb, conn);
}

/* WRITE_TIMEOUT after a reply went out: read by now, or the peer is one
 * that does not read (the same a moment later, in case a reply it is about
 * to read has just gone out), and is closed. */
static gboolean
write_deadline_cb (gpointer user_data)
{
	g_autoptr(DaVarlinkConn) conn = da_varlink_conn_ref (user_data);

	conn->write_id = 0;
	if (conn->server == NULL)
		return G_SOURCE_REMOVE;
	if (conn_unread (conn) == 0) {
		conn->write_grace = FALSE;
		return G_SOURCE_REMOVE;
	}
	if (!conn->write_grace) {
		conn->write_grace = TRUE;
		conn_arm_write_deadline (conn, DA_VARLINK_WRITE_GRACE_MS);
		return G_SOURCE_REMOVE;
	}
	g_debug ("varlink: closing a connection of uid %u that does not read its replies "
		 "(%d s)",
		 conn->uid, DA_VARLINK_WRITE_TIMEOUT_SEC);
	conn_close (conn);
	return G_SOURCE_REMOVE;
}

static gboolean
pause_check_cb (gpointer user_data);

/* TRUE while the peer has left too much of our output unread: nothing is
 * read or answered, and it is looked at again shortly (the write
 * deadline closes a peer that never reads). */
static gboolean
conn_pause_if_unread (DaVarlinkConn *conn)
{
	if (conn->pause_id == 0 && conn_unread (conn) <= DA_VARLINK_UNREAD_PAUSE)
		return FALSE;
	if (conn->pause_id == 0)
		conn->pause_id = g_timeout_add (DA_VARLINK_PAUSE_CHECK_MS, pause_check_cb, conn);
	g_clear_handle_id (&conn->in_id, g_source_remove);
	return TRUE;
}

/* After a reply: the next request, unless the peer must read first. */
static void
conn_go_on (DaVarlinkConn *conn)
{
	if (conn->server == NULL || conn_pause_if_unread (conn))
		return;
	conn_watch_in (conn);
	if (!conn->processing)
		conn_process (conn);
}

static gboolean
pause_check_cb (gpointer user_data)
{
	g_autoptr(DaVarlinkConn) conn = da_varlink_conn_ref (user_data);

	conn->pause_id = 0;
	/* busy: the reply of the request in flight goes on by itself */
	if (!conn->busy)
		conn_go_on (conn);
	return G_SOURCE_REMOVE;
}

static gboolean
conn_write (DaVarlinkConn *conn)
{
	while (conn->out_done < conn->out->len) {
		gssize n = send (conn->fd, conn->out->str + conn->out_done,
				 conn->out->len - conn->out_done, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return FALSE;
		if (n < 0) {
			g_debug ("varlink: cannot answer uid %u: %s", conn->uid,
				 g_strerror (errno));
			conn_close (conn);
			return TRUE;
		}
		conn->out_done += (gsize) n;
	}
	/* all sent: forget it, and go on with the next request; it must
	 * be read before the deadline */
	conn_arm_write_deadline (conn, DA_VARLINK_WRITE_TIMEOUT_SEC * 1000);
	da_secret_wipe (conn->out->str, conn->out->len);
	g_string_truncate (conn->out, 0);
	conn->out_done = 0;
	conn->busy = FALSE;
	conn_arm_idle (conn);
	conn_go_on (conn);
	return TRUE;
}

static gboolean
conn_out_cb (gint fd, GIOCondition condition, gpointer user_data)
{
	g_autoptr(DaVarlinkConn) conn = da_varlink_conn_ref (user_data);

	if (conn->server == NULL)
		return G_SOURCE_REMOVE;
	conn->out_id = 0;
	if (conn_write (conn))
		return G_SOURCE_REMOVE;
	if (conn->server != NULL)
		conn->out_id = g_source_get_id (g_main_current_source ());
	return G_SOURCE_CONTINUE;
}

/* Sends conn->out with its NUL; the connection is idle again after it. */
void
da_varlink_conn_send (DaVarlinkConn *conn)
{
	if (conn->server == NULL)
		return;
	g_string_append_c (conn->out, '\0');
	if (conn_write (conn))
		return;
	if (conn->out_id == 0)
		conn->out_id = g_unix_fd_add (conn->fd, G_IO_OUT, conn_out_cb, conn);
	/* from the first try, not from the last byte taken: a peer that
	 * reads a byte at a time does not hold the connection either */
	conn_arm_write_deadline (conn, DA_VARLINK_WRITE_TIMEOUT_SEC * 1000);
}

/* ---- requests ---- */

/* One request, without its NUL. Every path ends in a reply, or in none for
 * a oneway call, or with the connection closed. */
static void
conn_handle (DaVarlinkConn *conn, const gchar *data, gsize len)
{
	g_auto(DaVarlinkRequest) request = {0};
	const gchar *problem = NULL;
	const gchar *method;
	JsonObject *params;
	const gchar *dot;

	switch (da_varlink_request_parse (data, len, &request, &problem)) {
	case DA_VARLINK_REQUEST_NOT_A_CALL:
		g_debug ("varlink: uid %u sent a request that %s", conn->uid,
			 problem != NULL ? problem : "is not a Varlink call");
		da_varlink_conn_reply_gerror (
			conn, problem != NULL
				      ? g_error_new (DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
						     "the request %s", problem)
				      : g_error_new (DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
						     "not a Varlink call (a JSON object with a "
						     "\"method\", ended by a NUL byte)"));
		conn_close (conn);
		return;
	case DA_VARLINK_REQUEST_BAD_PARAMETERS:
		da_varlink_conn_reply_error_message (conn,
						     DA_VARLINK_SERVICE_ERROR "InvalidParameter",
						     "parameter", "parameters");
		return;
	case DA_VARLINK_REQUEST_OK:
	default:
		break;
	}
	method = request.method;
	params = request.params;
	if (request.oneway) {
		/* nothing here is worth doing without an answer */
		conn->busy = FALSE;
		return;
	}
	if (request.upgrade) {
		da_varlink_conn_reply_error_message (
			conn, DA_VARLINK_SERVICE_ERROR "MethodNotImplemented", "method", method);
		return;
	}
	if (g_str_equal (method, DA_VARLINK_METHOD_GET_TOKEN))
		da_varlink_handle_get_token (conn, params);
	else if (g_str_equal (method, DA_VARLINK_SERVICE_GET_INFO))
		da_varlink_handle_get_info (conn);
	else if (g_str_equal (method, DA_VARLINK_SERVICE_GET_INTERFACE_DESCRIPTION))
		da_varlink_handle_get_interface_description (conn, params);
	else if ((dot = strrchr (method, '.')) != NULL &&
		 ((dot - method == strlen (DA_VARLINK_INTERFACE) &&
		   strncmp (method, DA_VARLINK_INTERFACE, dot - method) == 0) ||
		  (dot - method == strlen (DA_VARLINK_SERVICE) &&
		   strncmp (method, DA_VARLINK_SERVICE, dot - method) == 0)))
		da_varlink_conn_reply_error_message (
			conn, DA_VARLINK_SERVICE_ERROR "MethodNotFound", "method", method);
	else {
		g_autofree gchar *interface = dot != NULL ? g_strndup (method, dot - method)
							  : g_strdup (method);
		da_varlink_conn_reply_error_message (
			conn, DA_VARLINK_SERVICE_ERROR "InterfaceNotFound", "interface", interface);
	}
}

/* Handles the requests in the buffer, one at a time: the next one once
 * the last one is answered. */
static void
conn_process (DaVarlinkConn *conn)
{
	g_autoptr(DaVarlinkConn) hold = da_varlink_conn_ref (conn);

	conn->processing = TRUE;
	while (conn->server != NULL && !conn->busy) {
		guint8 *nul = conn->in->len > 0 ? memchr (conn->in->data, '\0', conn->in->len)
						: NULL;
		g_autofree gchar *request = NULL;
		gsize len;

		if (nul == NULL || conn_pause_if_unread (conn))
			break;
		len = (gsize) (nul - conn->in->data);
		request = g_strndup ((const gchar *) conn->in->data, len);
		da_secret_wipe (conn->in->data, len + 1);
		g_byte_array_remove_range (conn->in, 0, (guint) len + 1);
		g_clear_handle_id (&conn->idle_id, g_source_remove);
		conn->busy = TRUE;
		conn_handle (conn, request, len);
	}
	conn->processing = FALSE;
	if (conn->server != NULL && !conn->busy && conn->idle_id == 0)
		conn_arm_idle (conn);
}

/* Reads what there is and handles the requests in it; FALSE once the
 * connection is closed. */
static gboolean
conn_read (DaVarlinkConn *conn)
{
	guint8 buf[4096];
	gssize n;

	n = recv (conn->fd, buf, sizeof (buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return TRUE;
	if (n <= 0) {
		conn_close (conn);
		return FALSE;
	}
	g_byte_array_append (conn->in, buf, (guint) n);
	da_secret_wipe (buf, (gsize) n);
	if (memchr (conn->in->data, '\0', conn->in->len) == NULL &&
	    conn->in->len > DA_VARLINK_REQUEST_MAX) {
		g_debug ("varlink: uid %u sent a request of more than %d bytes", conn->uid,
			 DA_VARLINK_REQUEST_MAX);
		conn->busy = TRUE;
		da_varlink_conn_reply_gerror (
			conn, g_error_new (DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
					   "request larger than %d bytes", DA_VARLINK_REQUEST_MAX));
		conn_close (conn);
		return FALSE;
	}
	conn_process (conn);
	return conn->server != NULL;
}

static gboolean
conn_in_cb (gint fd, GIOCondition condition, gpointer user_data)
{
	g_autoptr(DaVarlinkConn) conn = da_varlink_conn_ref (user_data);

	if (conn->server == NULL)
		return G_SOURCE_REMOVE;
	/* a reply sent at once watches again with a source of its own */
	conn->in_id = 0;
	if (!conn_read (conn) || conn->busy || conn->in_id != 0 || conn->pause_id != 0)
		return G_SOURCE_REMOVE;
	conn->in_id = g_source_get_id (g_main_current_source ());
	return G_SOURCE_CONTINUE;
}

static void
conn_watch_in (DaVarlinkConn *conn)
{
	if (conn->server != NULL && conn->in_id == 0)
		conn->in_id = g_unix_fd_add (conn->fd, G_IO_IN, conn_in_cb, conn);
}

/* Closes the socket now; the last call in flight frees the rest. */
static void
conn_close (DaVarlinkConn *conn)
{
	DaVarlinkServer *self = conn->server;
	guint n;

	if (self == NULL)
		return;
	conn->server = NULL;
	g_cancellable_cancel (conn->cancellable);
	g_clear_handle_id (&conn->in_id, g_source_remove);
	g_clear_handle_id (&conn->out_id, g_source_remove);
	g_clear_handle_id (&conn->idle_id, g_source_remove);
	g_clear_handle_id (&conn->write_id, g_source_remove);
	g_clear_handle_id (&conn->pause_id, g_source_remove);
	close (conn->fd);
	conn->fd = -1;
	self->conns = g_list_remove (self->conns, conn);
	g_debug ("varlink: closed a connection of uid %u", conn->uid);
	self->n_conns--;
	n = GPOINTER_TO_UINT (
		g_hash_table_lookup (self->conns_per_uid, GUINT_TO_POINTER (conn->uid)));
	if (n <= 1)
		g_hash_table_remove (self->conns_per_uid, GUINT_TO_POINTER (conn->uid));
	else
		g_hash_table_insert (self->conns_per_uid, GUINT_TO_POINTER (conn->uid),
				     GUINT_TO_POINTER (n - 1));
	da_varlink_conn_unref (conn);
}

/* ---- the socket ---- */

/* root, or a caller that some account's [Access] lets through: it may
 * take one of the connections a flood cannot */
static gboolean
conn_may_use_reserve (DaVarlinkServer *self, DaVarlinkConn *conn)
{
	g_autoptr(GError) error = NULL;

	return da_varlink_conn_resolve_caller (conn, &error) &&
	       da_pipeline_caller_needs_no_authorizer (self->pipeline, conn->caller, NULL);
}

/* TRUE: the connection is kept */
static gboolean
accept_one (DaVarlinkServer *self, gint fd)
{
	struct ucred cred = {0};
	socklen_t len = sizeof (cred);
	g_autoptr(DaVarlinkConn) hold = NULL;
	DaVarlinkConn *conn;
	guint n_uid;
	gint sndbuf = DA_VARLINK_UNREAD_MAX;

	if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close (fd);
		return FALSE;
	}
	n_uid = GPOINTER_TO_UINT (
		g_hash_table_lookup (self->conns_per_uid, GUINT_TO_POINTER (cred.uid)));
	if (self->n_conns >= DA_VARLINK_CONNECTIONS_MAX ||
	    n_uid >= DA_VARLINK_CONNECTIONS_PER_UID_MAX) {
		g_debug ("varlink: refusing a connection of uid %u: %u open (%u of that uid)",
			 cred.uid, self->n_conns, n_uid);
		close (fd);
		return FALSE;
	}
	/* what the peer leaves unread stays in the kernel, up to this */
	(void) setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof (sndbuf));
	conn = g_new0 (DaVarlinkConn, 1);
	conn->ref_count = 1;
	conn->server = self;
	conn->fd = fd;
	conn->uid = cred.uid;
	conn->in = g_byte_array_new ();
	conn->out = g_string_new (NULL);
	conn->cancellable = g_cancellable_new ();
	if (self->n_conns >= DA_VARLINK_CONNECTIONS_MAX - DA_VARLINK_CONNECTIONS_RESERVED &&
	    !conn_may_use_reserve (self, conn)) {
		g_debug ("varlink: refusing a connection of uid %u: the last %d are kept for "
			 "root and the callers of [Access]",
			 cred.uid, DA_VARLINK_CONNECTIONS_RESERVED);
		conn->server = NULL;
		close (fd);
		da_varlink_conn_unref (conn);
		return FALSE;
	}
	self->conns = g_list_prepend (self->conns, conn);
	self->n_conns++;
	g_hash_table_insert (self->conns_per_uid, GUINT_TO_POINTER (cred.uid),
			     GUINT_TO_POINTER (n_uid + 1));
	conn_arm_idle (conn);
	/* a client writes its request right after connect(): it is often
	 * here already, and answered without a round through the main loop */
	hold = da_varlink_conn_ref (conn);
	if (conn_read (conn) && !conn->busy && conn->pause_id == 0)
		conn_watch_in (conn);
	return TRUE;
}

static gboolean
listen_cb (gint listen_fd, GIOCondition condition, gpointer user_data);

static gboolean
listen_resume_cb (gpointer user_data)
{
	DaVarlinkServer *self = user_data;

	self->listen_id = g_unix_fd_add (self->listen_fd, G_IO_IN, listen_cb, self);
	return G_SOURCE_REMOVE;
}

/* One connection kept at a time: the main loop sees the ends of earlier
 * ones (a client that calls in a loop, one connection per call) and the
 * bus front's work in between. Those refused (over a cap: a flood) cost
 * little and are drained in a batch, so that the caller queued behind
 * them is reached soon. */
static gboolean
listen_cb (gint listen_fd, GIOCondition condition, gpointer user_data)
{
	DaVarlinkServer *self = user_data;
	gint fd = -1;

	for (guint i = 0; i < DA_VARLINK_ACCEPT_BATCH; i++) {
		fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 || accept_one (self, fd))
			break;
	}
	if (fd >= 0)
		return G_SOURCE_CONTINUE;
	if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
		return G_SOURCE_CONTINUE;
	/* out of file descriptors, or worse: the socket stays readable, so
	 * pause rather than spin */
	g_warning ("varlink: accept: %s; not accepting for 1 s", g_strerror (errno));
	self->listen_id =
		g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, 1, listen_resume_cb, self, NULL);
	return G_SOURCE_REMOVE;
}

/* Listens on @path, a socket everyone may connect to (each call is
 * authorized); a stale socket from an earlier run is replaced. */
gboolean
da_varlink_server_listen (DaVarlinkServer *self, const gchar *path, GError **error)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	gint fd;

	g_return_val_if_fail (self->listen_fd < 0, FALSE);
	if (strlen (path) >= sizeof (addr.sun_path)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			     "socket path '%s' is too long", path);
		return FALSE;
	}
	strcpy (addr.sun_path, path);
	if (lstat (path, &st) == 0 && S_ISSOCK (st.st_mode))
		unlink (path);
	fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof (addr)) < 0 ||
	    chmod (path, 0666) < 0 || listen (fd, 64) < 0) {
		int errsv = errno;

		g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
			     "cannot listen on %s: %s", path, g_strerror (errsv));
		if (fd >= 0)
			close (fd);
		return FALSE;
	}
	if (lstat (path, &st) == 0) {
		self->path_dev = st.st_dev;
		self->path_ino = st.st_ino;
	}
	self->listen_fd = fd;
	self->path = g_strdup (path);
	self->listen_id = g_unix_fd_add (fd, G_IO_IN, listen_cb, self);
	return TRUE;
}

static void
da_varlink_server_dispose (GObject *object)
{
	DaVarlinkServer *self = DA_VARLINK_SERVER (object);

	while (self->conns != NULL)
		conn_close (self->conns->data);
	g_clear_handle_id (&self->listen_id, g_source_remove);
	if (self->listen_fd >= 0) {
		struct stat st;

		close (self->listen_fd);
		self->listen_fd = -1;
		/* not a socket that a devauthd which replaced this one made */
		if (lstat (self->path, &st) == 0 && st.st_dev == self->path_dev &&
		    st.st_ino == self->path_ino)
			unlink (self->path);
	}
	g_clear_object (&self->pipeline);
	G_OBJECT_CLASS (da_varlink_server_parent_class)->dispose (object);
}

static void
da_varlink_server_finalize (GObject *object)
{
	DaVarlinkServer *self = DA_VARLINK_SERVER (object);

	g_free (self->path);
	g_hash_table_unref (self->conns_per_uid);
	G_OBJECT_CLASS (da_varlink_server_parent_class)->finalize (object);
}

static void
da_varlink_server_class_init (DaVarlinkServerClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = da_varlink_server_dispose;
	object_class->finalize = da_varlink_server_finalize;
}

static void
da_varlink_server_init (DaVarlinkServer *self)
{
	self->listen_fd = -1;
	self->conns_per_uid = g_hash_table_new (NULL, NULL);
}

DaVarlinkServer *
da_varlink_server_new (DaPipeline *pipeline)
{
	DaVarlinkServer *self = g_object_new (DA_TYPE_VARLINK_SERVER, NULL);

	self->pipeline = g_object_ref (pipeline);
	return self;
}
