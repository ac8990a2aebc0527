/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>

#include "da-error.h"
#include "da-names.h"

/* the name is stringified as written */
/* clang-format off */
G_DEFINE_QUARK (da-error-quark, da_error)
/* clang-format on */

static const gchar *const da_error_names[DA_ERROR_LAST] = {
	[DA_ERROR_NO_SUCH_ACCOUNT] = DA_DBUS_ERROR (DA_ERROR_NAME_NO_SUCH_ACCOUNT),
	[DA_ERROR_NOT_SIGNED_IN] = DA_DBUS_ERROR (DA_ERROR_NAME_NOT_SIGNED_IN),
	[DA_ERROR_PERMISSION_DENIED] = DA_DBUS_ERROR (DA_ERROR_NAME_PERMISSION_DENIED),
	[DA_ERROR_LOGIN_IN_PROGRESS] = DA_DBUS_ERROR (DA_ERROR_NAME_LOGIN_IN_PROGRESS),
	[DA_ERROR_LOGIN_DENIED] = DA_DBUS_ERROR (DA_ERROR_NAME_LOGIN_DENIED),
	[DA_ERROR_LOGIN_EXPIRED] = DA_DBUS_ERROR (DA_ERROR_NAME_LOGIN_EXPIRED),
	[DA_ERROR_IDP_UNREACHABLE] = DA_DBUS_ERROR (DA_ERROR_NAME_IDP_UNREACHABLE),
	[DA_ERROR_IDP_ERROR] = DA_DBUS_ERROR (DA_ERROR_NAME_IDP_ERROR),
	[DA_ERROR_INVALID_ARGUMENT] = DA_DBUS_ERROR (DA_ERROR_NAME_INVALID_ARGUMENT),
	[DA_ERROR_RATE_LIMITED] = DA_DBUS_ERROR (DA_ERROR_NAME_RATE_LIMITED),
	[DA_ERROR_CANCELLED] = DA_DBUS_ERROR (DA_ERROR_NAME_CANCELLED),
	[DA_ERROR_INTERNAL] = DA_DBUS_ERROR (DA_ERROR_NAME_INTERNAL),
};

const gchar *
da_error_to_dbus_name (DaError code)
{
	if ((guint) code >= DA_ERROR_LAST)
		return da_error_names[DA_ERROR_INTERNAL];
	return da_error_names[code];
}

/* Turns any error into one of DA_ERROR, keeping its message, so that only
 * the project's own error names ever cross the bus. */
void
da_error_convert (GError **error)
{
	GError *e;

	if (error == NULL || *error == NULL)
		return;
	e = *error;
	if (e->domain == DA_ERROR)
		return;
	if (g_error_matches (e, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		e->code = DA_ERROR_CANCELLED;
	else if (g_error_matches (e, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT) ||
		 e->domain == G_KEY_FILE_ERROR)
		e->code = DA_ERROR_INVALID_ARGUMENT;
	else if (g_error_matches (e, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
		e->code = DA_ERROR_PERMISSION_DENIED;
	else
		e->code = DA_ERROR_INTERNAL;
	e->domain = DA_ERROR;
}
