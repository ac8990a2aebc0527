/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-caller.h"

G_BEGIN_DECLS

/* Who is calling, resolved once per unique bus name and forgotten when the
 * name leaves the bus ("vanished"). */
#define DA_TYPE_BUS_CALLERS (da_bus_callers_get_type ())
G_DECLARE_FINAL_TYPE (DaBusCallers, da_bus_callers, DA, BUS_CALLERS, GObject)

DaBusCallers *
da_bus_callers_new (GDBusConnection *connection);
const DaCaller *
da_bus_callers_lookup (DaBusCallers *self, const gchar *bus_name);
void
da_bus_callers_resolve_async (DaBusCallers *self,
			      const gchar *bus_name,
			      GAsyncReadyCallback callback,
			      gpointer user_data);
const DaCaller *
da_bus_callers_resolve_finish (DaBusCallers *self, GAsyncResult *res, GError **error);

G_END_DECLS
