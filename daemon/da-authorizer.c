/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-authorizer.h"

G_DEFINE_INTERFACE (DaAuthorizer, da_authorizer, G_TYPE_OBJECT)

static void
da_authorizer_default_init (DaAuthorizerInterface *iface)
{
}

void
da_authorizer_check_async (DaAuthorizer *self,
			   const DaCaller *caller,
			   const gchar *action_id,
			   const gchar *account,
			   gboolean allow_interaction,
			   GCancellable *cancellable,
			   GAsyncReadyCallback callback,
			   gpointer user_data)
{
	g_return_if_fail (DA_IS_AUTHORIZER (self));

	DA_AUTHORIZER_GET_IFACE (self)->check_async (self, caller, action_id, account,
						     allow_interaction, cancellable, callback,
						     user_data);
}

gboolean
da_authorizer_check_finish (DaAuthorizer *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (DA_IS_AUTHORIZER (self), FALSE);

	return DA_AUTHORIZER_GET_IFACE (self)->check_finish (self, res, error);
}
