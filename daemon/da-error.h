/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The one error domain that crosses the bus; each code maps to
 * org.devauth.DeviceAuth1.Error.<Name> (see da_error_to_dbus_name()). */
#define DA_ERROR (da_error_quark ())

typedef enum {
	DA_ERROR_NO_SUCH_ACCOUNT,
	DA_ERROR_NOT_SIGNED_IN,
	DA_ERROR_PERMISSION_DENIED,
	DA_ERROR_LOGIN_IN_PROGRESS,
	DA_ERROR_LOGIN_DENIED,
	DA_ERROR_LOGIN_EXPIRED,
	DA_ERROR_IDP_UNREACHABLE,
	DA_ERROR_IDP_ERROR,
	DA_ERROR_INVALID_ARGUMENT,
	DA_ERROR_RATE_LIMITED,
	DA_ERROR_CANCELLED,
	DA_ERROR_INTERNAL,
	DA_ERROR_LAST,
} DaError;

GQuark
da_error_quark (void);
const gchar *
da_error_to_dbus_name (DaError code);
void
da_error_convert (GError **error);

G_END_DECLS
