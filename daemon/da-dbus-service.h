/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-names.h"
#include "da-pipeline.h"

G_BEGIN_DECLS

/* The D-Bus front: finds out who calls (once per bus name), unpacks the
 * call, asks the pipeline, packs the reply; and the objects and their
 * properties. */
#define DA_TYPE_SERVICE (da_service_get_type ())
G_DECLARE_FINAL_TYPE (DaService, da_service, DA, SERVICE, GObject)

DaService *
da_service_new (DaPipeline *pipeline);
gboolean
da_service_export (DaService *self, GDBusConnection *connection, GError **error);

G_END_DECLS
