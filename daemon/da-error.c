/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>

#include "da-error.h"

G_DEFINE_QUARK (da-error-quark, da_error)

static const gchar *const da_error_names[DA_ERROR_LAST] = {
	[DA_ERROR_NO_SUCH_ACCOUNT] = "org.devauth.DeviceAuth1.Error.NoSuchAccount",
	[DA_ERROR_NOT_SIGNED_IN] = "org.devauth.DeviceAuth1.Error.NotSignedIn",
	[DA_ERROR_PERMISSION_DENIED] = "org.devauth.DeviceAuth1.Error.PermissionDenied",
	[DA_ERROR_LOGIN_IN_PROGRESS] = "org.devauth.DeviceAuth1.Error.LoginInProgress",
	[DA_ERROR_LOGIN_DENIED] = "org.devauth.DeviceAuth1.Error.LoginDenied",
	[DA_ERROR_LOGIN_EXPIRED] = "org.devauth.DeviceAuth1.Error.LoginExpired",
	[DA_ERROR_IDP_UNREACHABLE] = "org.devauth.DeviceAuth1.Error.IdpUnreachable",
	[DA_ERROR_IDP_ERROR] = "org.devauth.DeviceAuth1.Error.IdpError",
	[DA_ERROR_INVALID_ARGUMENT] = "org.devauth.DeviceAuth1.Error.InvalidArgument",
	[DA_ERROR_RATE_LIMITED] = "org.devauth.DeviceAuth1.Error.RateLimited",
	[DA_ERROR_CANCELLED] = "org.devauth.DeviceAuth1.Error.Cancelled",
	[DA_ERROR_INTERNAL] = "org.devauth.DeviceAuth1.Error.Internal",
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
