/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-idp.h"

G_BEGIN_DECLS

/* One device authorization flow (RFC 8628): the device authorization
 * request, then polling of the token endpoint until the user approves or
 * denies, the code expires, or the flow is cancelled. */

#define DA_FLOW_DEFAULT_INTERVAL 5
#define DA_FLOW_SLOW_DOWN_STEP	 5
#define DA_FLOW_BACKOFF_MAX	 60

#define DA_TYPE_FLOW (da_flow_get_type ())
G_DECLARE_FINAL_TYPE (DaFlow, da_flow, DA, FLOW, GObject)

/* Called once: with the tokens, or with an error of DA_ERROR
 * (LoginDenied, LoginExpired, Cancelled, IdpError). */
typedef void (*DaFlowDoneFunc) (DaFlow *flow,
				DaOidcTokens *tokens,
				const GError *error,
				gpointer user_data);

DaFlow *
da_flow_new (DaIdp *idp,
	     const gchar *device_authorization_endpoint,
	     const gchar *token_endpoint,
	     const DaOidcClientAuth *auth,
	     const gchar *scope,
	     gboolean pkce,
	     DaFlowDoneFunc done,
	     gpointer user_data);

void
da_flow_start_async (DaFlow *self,
		     GCancellable *cancellable,
		     GAsyncReadyCallback callback,
		     gpointer user_data);
gboolean
da_flow_start_finish (DaFlow *self, GAsyncResult *res, GError **error);

void
da_flow_cancel (DaFlow *self);
gboolean
da_flow_is_started (DaFlow *self);
const gchar *
da_flow_get_user_code (DaFlow *self);
const gchar *
da_flow_get_verification_uri (DaFlow *self);
const gchar *
da_flow_get_verification_uri_complete (DaFlow *self);
gint64
da_flow_get_expires_at (DaFlow *self);
guint
da_flow_get_interval (DaFlow *self);
guint
da_flow_get_poll_count (DaFlow *self);

G_END_DECLS
