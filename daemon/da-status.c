/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "da-status.h"

DaStatus *
da_status_new (DaStatusKind kind, const gchar *account)
{
	DaStatus *self = g_rc_box_new0 (DaStatus);

	self->kind = kind;
	self->account = g_strdup (account);
	return self;
}

DaStatus *
da_status_ref (DaStatus *self)
{
	return g_rc_box_acquire (self);
}

static void
da_status_clear (DaStatus *self)
{
	g_free (self->account);
	g_free (self->user_code);
	g_free (self->verification_uri);
	g_free (self->verification_uri_complete);
	g_clear_pointer (&self->qr_modules, g_bytes_unref);
	g_free (self->subject);
	g_free (self->user_name);
	g_free (self->error);
	g_free (self->error_description);
}

void
da_status_unref (DaStatus *self)
{
	g_rc_box_release_full (self, (GDestroyNotify) da_status_clear);
}
