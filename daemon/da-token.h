/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "da-secret.h"

G_BEGIN_DECLS

/* One token and what is known about it, as kept in the keyring. */
typedef struct {
	DaSecret *token;
	gint64 expires_at; /* unix seconds; 0 when unknown */
	gchar *token_type;
	gchar *scope;
	gchar *subject;
	gchar *name; /* the user as people know them (ID token); NULL when unknown */
	/* the clock expires_at was read on: the boot, the daemon's time minus
	 * CLOCK_BOOTTIME (µs), the IdP whose time it was (NULL: the system
	 * clock's); NULL boot_id when unknown (an older record) */
	gchar *boot_id;
	gint64 clock_offset_us;
	gchar *clock_origin;
} DaToken;

DaToken *
da_token_new (const gchar *token,
	      gint64 expires_at,
	      const gchar *token_type,
	      const gchar *scope,
	      const gchar *subject);
DaToken *
da_token_copy (const DaToken *self);
void
da_token_set_name (DaToken *self, const gchar *name);
void
da_token_set_clock (DaToken *self,
		    const gchar *boot_id,
		    gint64 clock_offset_us,
		    const gchar *clock_origin);
DaSecret *
da_token_serialize (const DaToken *self, gsize *len);
DaToken *
da_token_parse (const gchar *data, gsize len, GError **error);
void
da_token_free (DaToken *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaToken, da_token_free)

G_END_DECLS

G_BEGIN_DECLS

/* The state of an account on disk: its refresh token and, when there is
 * one, its access token, as one buffer. */
DaSecret *
da_token_pack_state (const DaToken *refresh, const DaToken *access, gsize *len);
gboolean
da_token_unpack_state (const gchar *data,
		       gsize len,
		       DaToken **refresh,
		       DaToken **access,
		       GError **error);

G_END_DECLS
