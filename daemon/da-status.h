/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
	DA_STATUS_EMPTY,     /* signed out: nothing to tell */
	DA_STATUS_PROMPT,    /* awaiting-user: what to show the person */
	DA_STATUS_SIGNED_IN, /* who, and until when */
	DA_STATUS_FAILURE,   /* the sign-in failed, or the refresh was refused */
} DaStatusKind;

/* What an account tells when its state changes (DaAccount::status-changed)
 * and what a sign-in answers (its prompt), in the core's plain form. Each
 * front packs it for its wire: the D-Bus front into the a{sv} of
 * StatusChanged and Login (see dbus/org.devauth.Manager1.xml). */
typedef struct {
	DaStatusKind kind;
	gchar *account;
	/* DA_STATUS_PROMPT */
	gchar *user_code;
	gchar *verification_uri;
	gchar *verification_uri_complete; /* or NULL */
	guint interval;
	guint qr_size;
	GBytes *qr_modules; /* qr_size² bytes, 1 dark; NULL without libqrencode */
	/* DA_STATUS_PROMPT: the code's end; DA_STATUS_SIGNED_IN: the access
	 * token's (0: none); in seconds since the epoch */
	gint64 expires_at;
	/* DA_STATUS_SIGNED_IN; NULL when not known */
	gchar *subject;
	gchar *user_name;
	gint64 sign_in_expires_at; /* 0: no end announced */
	/* DA_STATUS_FAILURE */
	gchar *error; /* a name: access-denied, expired, reauth-required, … */
	gchar *error_description;
} DaStatus;

DaStatus *
da_status_new (DaStatusKind kind, const gchar *account);
void
da_status_free (DaStatus *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaStatus, da_status_free)

G_END_DECLS
