/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the files of the Varlink front share: da-varlink.c (the socket,
 * connections, framing, dispatch) and da-varlink-methods.c (GetToken and
 * org.varlink.service: the requests unpacked, the pipeline called, the
 * replies written). */

#include <json-glib/json-glib.h>

#include "da-caller.h"
#include "da-varlink.h"

G_BEGIN_DECLS

typedef struct _DaVarlinkConn DaVarlinkConn;

struct _DaVarlinkServer {
	GObject parent_instance;
	DaPipeline *pipeline;
	gchar *path;	/* NULL until listening */
	dev_t path_dev; /* the socket file made, to remove only that one */
	ino_t path_ino;
	gint listen_fd;
	guint listen_id;
	GList *conns; /* of DaVarlinkConn */
	guint n_conns;
	GHashTable *conns_per_uid; /* uid → count */
};

/* A connection lives until it is closed and no request of it is in flight. */
struct _DaVarlinkConn {
	gint ref_count;
	DaVarlinkServer *server; /* NULL once closed */
	gint fd;
	guint32 uid;
	DaCaller *caller; /* resolved at the first request */
	GByteArray *in;	  /* wiped: a request holds no secret, but cheap */
	GString *out;	  /* the reply being written; wiped (tokens) */
	gsize out_done;
	guint in_id;
	guint out_id;
	guint idle_id;
	guint write_id;	      /* the deadline by which the peer has read our output */
	gboolean write_grace; /* it had not at the deadline: a last look */
	guint pause_id;	      /* too much unread: no request until it reads */
	gboolean busy;	      /* a request in flight: read no more until it is answered */
	gboolean processing;  /* in conn_process(), which goes on by itself */
	GCancellable *cancellable;
};

void
da_varlink_conn_reply_error_message (DaVarlinkConn *conn,
				     const gchar *name,
				     const gchar *key,
				     const gchar *value);
void
da_varlink_conn_reply_token (DaVarlinkConn *conn, const DaToken *token);
void
da_varlink_append_json_string (GString *out, const gchar *str);
void
da_varlink_conn_unref (DaVarlinkConn *conn);
DaVarlinkConn *
da_varlink_conn_ref (DaVarlinkConn *conn);
void
da_varlink_conn_reply_gerror (DaVarlinkConn *conn, GError *error);
void
da_varlink_conn_send (DaVarlinkConn *conn);
gboolean
da_varlink_conn_resolve_caller (DaVarlinkConn *conn, GError **error);
void
da_varlink_handle_get_info (DaVarlinkConn *conn);
void
da_varlink_handle_get_token (DaVarlinkConn *conn, JsonObject *params);
void
da_varlink_handle_get_interface_description (DaVarlinkConn *conn, JsonObject *params);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaVarlinkConn, da_varlink_conn_unref)

G_END_DECLS
