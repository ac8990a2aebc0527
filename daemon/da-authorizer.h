/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-caller.h"

G_BEGIN_DECLS

/* Who decides whether a caller that neither is root nor matches the
 * account's [Access] may do an action: polkit in devauthd (DaAuthority,
 * outside the core), a table in the unit tests. */
#define DA_TYPE_AUTHORIZER (da_authorizer_get_type ())
G_DECLARE_INTERFACE (DaAuthorizer, da_authorizer, DA, AUTHORIZER, GObject)

struct _DaAuthorizerInterface {
	GTypeInterface parent_iface;

	void (*check_async) (DaAuthorizer *self,
			     const DaCaller *caller,
			     const gchar *action_id,
			     const gchar *account,
			     gboolean allow_interaction,
			     GCancellable *cancellable,
			     GAsyncReadyCallback callback,
			     gpointer user_data);
	gboolean (*check_finish) (DaAuthorizer *self, GAsyncResult *res, GError **error);
};

/* @caller is read before this returns; nothing of it is kept. */
void
da_authorizer_check_async (DaAuthorizer *self,
			   const DaCaller *caller,
			   const gchar *action_id,
			   const gchar *account,
			   gboolean allow_interaction,
			   GCancellable *cancellable,
			   GAsyncReadyCallback callback,
			   gpointer user_data);
/* TRUE when authorized; otherwise FALSE with a DA_ERROR */
gboolean
da_authorizer_check_finish (DaAuthorizer *self, GAsyncResult *res, GError **error);

G_END_DECLS
