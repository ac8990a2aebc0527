/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-authority.h"
#include "da-manager.h"
#include "da-names.h"

G_BEGIN_DECLS

/* The D-Bus front: unpacks calls, asks the core, packs replies. */
#define DA_TYPE_SERVICE (da_service_get_type ())
G_DECLARE_FINAL_TYPE (DaService, da_service, DA, SERVICE, GObject)

DaService *
da_service_new (DaManager *manager);
gboolean
da_service_export (DaService *self, GDBusConnection *connection, GError **error);
DaAuthority *
da_service_get_authority (DaService *self);

G_END_DECLS
