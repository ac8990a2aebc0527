/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Makes the TLS backend's default database one that reads the system's
 * trust store when a certificate is checked against it, and drops it
 * after the check; called again, does nothing. */
void
da_tls_trust_install (void);

G_END_DECLS
