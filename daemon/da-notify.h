/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The service manager's notification protocol (sd_notify(3)) without
 * libsystemd: one datagram per call to $NOTIFY_SOCKET. Each returns 1 when
 * the message was sent, 0 when there is no $NOTIFY_SOCKET, or -errno. */
gint
da_notify (const gchar *state);
gint
da_notifyf (const gchar *format, ...) G_GNUC_PRINTF (1, 2);

/* sd_watchdog_enabled(3): 1 with *usec set when $WATCHDOG_USEC asks this
 * process for keep-alives, 0 when it does not (unset, or $WATCHDOG_PID
 * names another process), -EINVAL when either is malformed. */
gint
da_watchdog_enabled (guint64 *usec);

G_END_DECLS
