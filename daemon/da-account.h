/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-config.h"
#include "da-keyring.h"
#include "da-idp.h"
#include "da-status.h"
#include "da-token.h"
#include "da-vault.h"

G_BEGIN_DECLS

typedef enum {
	DA_ACCOUNT_STATE_SIGNED_OUT,
	DA_ACCOUNT_STATE_AWAITING_USER,
	DA_ACCOUNT_STATE_SIGNED_IN,
	DA_ACCOUNT_STATE_REAUTH_REQUIRED,
} DaAccountState;

const gchar *
da_account_state_to_string (DaAccountState state);

#define DA_GET_TOKEN_MIN_VALIDITY_DEFAULT 30
#define DA_GET_TOKEN_MIN_VALIDITY_MAX	  3600

/* One configured account: its tokens, its device flow, its refreshes.
 *
 * GObject properties mirror the D-Bus Account properties one to one;
 * "status-changed" (state, const DaStatus *) is the StatusChanged signal. */
#define DA_TYPE_ACCOUNT (da_account_get_type ())
G_DECLARE_FINAL_TYPE (DaAccount, da_account, DA, ACCOUNT, GObject)

DaAccount *
da_account_new (DaAccountConfig *config, DaIdp *idp, DaKeyring *keyring, DaVault *vault);

const gchar *
da_account_get_name (DaAccount *self);
const DaAccountConfig *
da_account_get_config (DaAccount *self);
DaAccountState
da_account_get_state (DaAccount *self);

void
da_account_login_async (DaAccount *self,
			GCancellable *cancellable,
			GAsyncReadyCallback callback,
			gpointer user_data);
DaStatus *
da_account_login_finish (DaAccount *self, GAsyncResult *res, GError **error);
gboolean
da_account_cancel_login (DaAccount *self, GError **error);
void
da_account_auto_login (DaAccount *self);
void
da_account_recheck (DaAccount *self, gboolean network_back);

DaToken *
da_account_get_cached_token (DaAccount *self, guint min_validity);
void
da_account_get_token_async (DaAccount *self,
			    guint min_validity,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data);
DaToken *
da_account_get_token_finish (DaAccount *self, GAsyncResult *res, GError **error);

void
da_account_refresh_async (DaAccount *self,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data);
gboolean
da_account_refresh_finish (DaAccount *self, GAsyncResult *res, GError **error);

void
da_account_logout_async (DaAccount *self,
			 GCancellable *cancellable,
			 GAsyncReadyCallback callback,
			 gpointer user_data);
gboolean
da_account_logout_finish (DaAccount *self, GAsyncResult *res, GError **error);

G_END_DECLS
