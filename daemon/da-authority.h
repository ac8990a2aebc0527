/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-authorizer.h"
#include "da-caller.h"
#include "da-names.h"

G_BEGIN_DECLS

/* polkit checks in flight (or waiting for polkit to be reached), in all
 * and per caller (bus name, else process); more fail at once. Per uid, the
 * pipeline allows DA_PIPELINE_CHECKS_PER_UID_MAX. */
#define DA_AUTHORITY_CHECKS_MAX		 128
#define DA_AUTHORITY_CHECKS_PER_NAME_MAX 8

/* Asks polkit, asynchronously, whether a caller may do something: a bus
 * peer (subject system-bus-name) or a process on one of our sockets
 * (unix-process). libpolkit-gobject-1 is loaded, and polkit reached, on the
 * first check; until then the daemon maps neither it nor libsystemd.
 * It is the DaAuthorizer of devauthd's pipeline. */
#define DA_TYPE_AUTHORITY (da_authority_get_type ())
G_DECLARE_FINAL_TYPE (DaAuthority, da_authority, DA, AUTHORITY, GObject)

DaAuthority *
da_authority_new (void);

void
da_authority_check_async (DaAuthority *self,
			  const DaCaller *caller,
			  const gchar *action_id,
			  const gchar *account,
			  const gchar *app_id,
			  gboolean allow_interaction,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data);
gboolean
da_authority_check_finish (DaAuthority *self, GAsyncResult *res, GError **error);

guint
da_authority_get_checks_in_flight (DaAuthority *self);

G_END_DECLS
