/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-authorizer.h"
#include "da-caller.h"
#include "da-manager.h"
#include "da-token.h"

G_BEGIN_DECLS

/* a caller may wait on this many sign-ins at once */
#define DA_PIPELINE_FLOWS_PER_CALLER_MAX 4
/* authorizer (polkit) checks one uid may have in flight; more fail at
 * once with RateLimited. Below DA_AUTHORITY_CHECKS_MAX / 8: it takes 8
 * uids flooding together to fill polkit's slots. */
#define DA_PIPELINE_CHECKS_PER_UID_MAX 16
/* callers whose GetToken rate is remembered; more are served without a
 * limit (each front bounds its callers before that) */
#define DA_PIPELINE_CALLERS_MAX 4096

/* What a caller asks of devauthd, the same from either front: the account
 * looked up, the caller's rate, the access rules (root; for tokens the
 * account's [Access]; else the authorizer, polkit), then the work: a cached
 * token or the account's single-flight refresh, a sign-in that the caller
 * then waits on, a logout. The fronts find out who the caller is, unpack
 * the request, call one of these and pack the answer.
 *
 * A caller is known by its unique bus name, else (the Varlink socket) by
 * "uid:N": its GetToken rate, and the sign-ins it waits on, are kept under
 * that key until da_pipeline_forget_caller(). */
#define DA_TYPE_PIPELINE (da_pipeline_get_type ())
G_DECLARE_FINAL_TYPE (DaPipeline, da_pipeline, DA, PIPELINE, GObject)

typedef enum {
	DA_PIPELINE_FLAGS_NONE = 0,
	/* the authorizer may ask the person (the bus's ALLOW_INTERACTIVE_AUTHORIZATION) */
	DA_PIPELINE_FLAGS_INTERACTIVE = 1 << 0,
	/* Login: join the sign-in that waits for the user; never start one */
	DA_PIPELINE_FLAGS_JOIN_ONLY = 1 << 1,
} DaPipelineFlags;

DaPipeline *
da_pipeline_new (DaManager *manager, DaAuthorizer *authorizer);
DaManager *
da_pipeline_get_manager (DaPipeline *self);
/* Whether @caller gets tokens without asking the authorizer: root, or a
 * caller that @account's [Access] lets through (with @account NULL: any
 * account's). The Varlink front keeps its reserve of connections for them. */
gboolean
da_pipeline_caller_needs_no_authorizer (DaPipeline *self,
					const DaCaller *caller,
					DaAccount *account);

/* @caller is read before these return; nothing of it is kept. */
void
da_pipeline_get_token_async (DaPipeline *self,
			     const DaCaller *caller,
			     const gchar *account,
			     guint min_validity,
			     DaPipelineFlags flags,
			     GCancellable *cancellable,
			     GAsyncReadyCallback callback,
			     gpointer user_data);
DaToken *
da_pipeline_get_token_finish (DaPipeline *self, GAsyncResult *res, GError **error);

/* The prompt (DA_STATUS_PROMPT); the caller then waits on the
 * flow, which is cancelled when every caller that waits on it is forgotten
 * (a flow the device started itself, AutoLogin=, is never cancelled so). */
void
da_pipeline_login_async (DaPipeline *self,
			 const DaCaller *caller,
			 const gchar *account,
			 DaPipelineFlags flags,
			 GCancellable *cancellable,
			 GAsyncReadyCallback callback,
			 gpointer user_data);
DaStatus *
da_pipeline_login_finish (DaPipeline *self, GAsyncResult *res, GError **error);

/* CancelLogin, Logout, Refresh */
typedef enum {
	DA_PIPELINE_CANCEL_LOGIN,
	DA_PIPELINE_LOGOUT,
	DA_PIPELINE_REFRESH,
} DaPipelineAction;

void
da_pipeline_run_async (DaPipeline *self,
		       const DaCaller *caller,
		       DaPipelineAction action,
		       const gchar *account,
		       DaPipelineFlags flags,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data);
gboolean
da_pipeline_run_finish (DaPipeline *self, GAsyncResult *res, GError **error);

/* The caller left (its bus name vanished): its rate is forgotten, and each
 * sign-in that only it waited on is cancelled. */
void
da_pipeline_forget_caller (DaPipeline *self, const gchar *key);

G_END_DECLS
