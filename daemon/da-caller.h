/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "da-config.h"

G_BEGIN_DECLS

/* Who is on the other end of a bus connection.
 *
 * uid, gids and pid come from the bus (GetConnectionCredentials); unit and
 * flatpak_id from /proc/<pid>/cgroup (da_caller_resolve()); snap_name from
 * the AppArmor label (da_caller_set_security_label()). app_id is the one name
 * that goes to polkit and the logs: the Flatpak id, else the Snap name, else
 * the system unit, else "uid:<N>". */
typedef struct {
	gchar *bus_name;
	guint32 uid;
	GArray *gids; /* of guint32 */
	guint32 pid;  /* 0: unknown */
	gchar *unit;  /* a system unit (under system.slice), or NULL */
	gchar *flatpak_id;
	gchar *snap_name;
	gchar *app_id;
	gint pidfd; /* -1, or a pidfd from the bus (ProcessFD), owned */
} DaCaller;

DaCaller *
da_caller_new (const gchar *bus_name, guint32 uid, const guint32 *gids, guint n_gids, guint32 pid);
void
da_caller_free (DaCaller *self);

void
da_caller_take_pidfd (DaCaller *self, gint pidfd);
void
da_caller_set_security_label (DaCaller *self, const gchar *label, gsize len);

gboolean
da_caller_parse_cgroup (const gchar *text, gsize len, gchar **unit, gchar **flatpak_id);
gchar *
da_caller_parse_snap_label (const gchar *label);

gboolean
da_caller_resolve (DaCaller *self, const gchar *proc_root, GError **error);

gboolean
da_caller_is_allowed_by_config (const DaCaller *caller, const DaAccountConfig *config);

gchar *
da_caller_describe (const DaCaller *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaCaller, da_caller_free)

G_END_DECLS
