/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-names.h"
#include "da-pipeline.h"

G_BEGIN_DECLS

/* connections open at once, in all and per uid; more are closed at once */
#define DA_VARLINK_CONNECTIONS_MAX	   64
#define DA_VARLINK_CONNECTIONS_PER_UID_MAX 16
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
