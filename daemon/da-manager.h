/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-account.h"
#include "da-config.h"

G_BEGIN_DECLS

/* The core of the daemon: every account, the one HTTP client, the keyring. */
#define DA_TYPE_MANAGER (da_manager_get_type ())
G_DECLARE_FINAL_TYPE (DaManager, da_manager, DA, MANAGER, GObject)

DaManager *
da_manager_new (DaConfig *config, const gchar *state_dir);
GPtrArray *
da_manager_get_accounts (DaManager *self);
const DaConfig *
da_manager_get_config (DaManager *self);
DaAccount *
da_manager_lookup (DaManager *self, const gchar *name, GError **error);
guint
da_manager_count_signed_in (DaManager *self);
void
da_manager_recheck (DaManager *self, gboolean network_back);
void
da_manager_watch_network (DaManager *self);

G_END_DECLS
