/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-manager.h"

G_BEGIN_DECLS

/* The D-Bus front's objects: one per account at
 * DA_ACCOUNT_OBJECT_PREFIX + its escaped name, with the Account interface's
 * properties kept as clients were last told them and PropertiesChanged
 * gathered until the main loop is idle; and the ObjectManager at the
 * Manager's path that lists them. */
typedef struct _DaBusObjects DaBusObjects;

DaBusObjects *
da_bus_objects_new (DaManager *manager);
gboolean
da_bus_objects_export (DaBusObjects *self, GDBusConnection *connection, GError **error);
void
da_bus_objects_free (DaBusObjects *self);

gchar *
da_bus_account_object_path (DaAccount *account);

G_END_DECLS
