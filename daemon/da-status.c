/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "da-status.h"

DaStatus *
da_status_new (DaStatusKind kind, const gchar *account)
{
	DaStatus *self = g_new0 (DaStatus, 1);

	self->kind = kind;
	self->account = g_strdup (account);
	return self;
}

void
da_status_free (DaStatus *self)
{
	if (self == NULL)
		return;
	g_free (self->account);
	g_free (self->user_code);
	g_free (self->verification_uri);
	g_free (self->verification_uri_complete);
	g_clear_pointer (&self->qr_modules, g_bytes_unref);
	g_free (self->subject);
	g_free (self->user_name);
	g_free (self->error);
	g_free (self->error_description);
	g_free (self);
}
