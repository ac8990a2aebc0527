/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define DA_ACTION_GET_TOKEN   "org.devauth.get-token"
#define DA_ACTION_READ_STATUS "org.devauth.read-status"
#define DA_ACTION_LOGIN	      "org.devauth.login"
#define DA_ACTION_LOGOUT      "org.devauth.logout"

/* polkit checks in flight, in all and per bus name; more fail at once */
#define DA_AUTHORITY_CHECKS_MAX		 64
#define DA_AUTHORITY_CHECKS_PER_NAME_MAX 8

/* Asks polkit, asynchronously, whether a bus peer may do something. */
#define DA_TYPE_AUTHORITY (da_authority_get_type ())
G_DECLARE_FINAL_TYPE (DaAuthority, da_authority, DA, AUTHORITY, GObject)

DaAuthority *
da_authority_new (GError **error);

void
da_authority_check_async (DaAuthority *self,
			  const gchar *bus_name,
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
