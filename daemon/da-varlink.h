/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-names.h"
#include "da-pipeline.h"

G_BEGIN_DECLS

/* connections open at once, in all and per uid; more are closed at once.
 * The last DA_VARLINK_CONNECTIONS_RESERVED are kept for root and for the
 * callers an account's [Access] lets through: a flood of other uids
 * cannot take them. */
#define DA_VARLINK_CONNECTIONS_MAX	   64
#define DA_VARLINK_CONNECTIONS_PER_UID_MAX 16
#define DA_VARLINK_CONNECTIONS_RESERVED	   16
/* a reply must be read by the peer within this long (and a moment more:
 * WRITE_GRACE_MS), and a peer may leave this much of our output unread
 * (the socket's send buffer): a client that does not read its replies is
 * closed, not waited for */
#define DA_VARLINK_WRITE_TIMEOUT_SEC 5
#define DA_VARLINK_WRITE_GRACE_MS    200
#define DA_VARLINK_UNREAD_MAX	     (64 * 1024)
/* a peer that has left this much of our output unread gets no further
 * request answered until it reads (looked at every PAUSE_CHECK_MS): one
 * that never reads costs a few requests, not a send buffer full of them */
#define DA_VARLINK_UNREAD_PAUSE	  (8 * 1024)
#define DA_VARLINK_PAUSE_CHECK_MS 20
/* connections refused in one turn of the main loop, at most */
#define DA_VARLINK_ACCEPT_BATCH 64
/* one request, up to its NUL */
#define DA_VARLINK_REQUEST_MAX (16 * 1024)
/* a connection with no request in flight is closed after this long */
#define DA_VARLINK_IDLE_TIMEOUT_SEC 10

/* The second front: GetToken over devauthd's own UNIX socket, for callers
 * that want a token with no bus round trips (devauthctl token). Callers
 * are identified by the kernel (SO_PEERCRED, SO_PEERGROUPS, SO_PEERPIDFD,
 * SO_PEERSEC); the request goes through the same pipeline as the bus's. */
#define DA_TYPE_VARLINK_SERVER (da_varlink_server_get_type ())
G_DECLARE_FINAL_TYPE (DaVarlinkServer, da_varlink_server, DA, VARLINK_SERVER, GObject)

DaVarlinkServer *
da_varlink_server_new (DaPipeline *pipeline);
gboolean
da_varlink_server_listen (DaVarlinkServer *self, const gchar *path, GError **error);

G_END_DECLS
