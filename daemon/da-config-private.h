/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What da-config.c (devauthd.conf, the directory) and da-config-account.c
 * (one account file) share. */

#include <gio/gio.h>

#include "da-config.h"

G_BEGIN_DECLS

#define DA_CONFIG_FILE_MAX (64 * 1024)

G_END_DECLS
