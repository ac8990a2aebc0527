/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-error.h"
#include "da-names.h"
#include "da-pipeline.h"
#include "da-rate.h"

struct _DaPipeline {
	GObject parent_instance;
	DaManager *manager;
	DaAuthorizer *authorizer;
	GHashTable *rates; /* caller key → DaRate, of GetToken calls */
	gdouble rate;	   /* calls a second per caller */
	gdouble burst;
	GHashTable *flow_owners; /* account name → GHashTable set of caller keys */
	GHashTable *checks;	 /* uid → authorizer checks in flight (GUINT_TO_POINTER) */
};

G_DEFINE_TYPE (DaPipeline, da_pipeline, G_TYPE_OBJECT)

typedef enum {
	OP_GET_TOKEN,
	OP_LOGIN,
	OP_CANCEL_LOGIN,
	OP_LOGOUT,
	OP_REFRESH,
} DaOp;

/* a request, from the call until its answer: the GTask's data */
typedef struct {
	DaOp op;
	DaAccount *account;
	gchar *key; /* the caller's */
	const gchar *action_id;
	guint min_validity;
	DaPipelineFlags flags;
	guint32 uid;	   /* the caller's */
	gboolean checking; /* counted in checks until the authorizer answers */
} DaRequest;

static void
da_request_free (DaRequest *req)
{
	g_object_unref (req->account);
	g_free (req->key);
	g_free (req);
}

static gchar *
caller_key (const DaCaller *caller)
{
	return caller->bus_name != NULL ? g_strdup (caller->bus_name)
					: g_strdup_printf ("uid:%u", caller->uid);
}

/* a token bucket per caller: the configured calls a second, bursts of twice that */
static gboolean
take_rate (DaPipeline *self, const gchar *key)
{
	DaRate *rate = g_hash_table_lookup (self->rates, key);

	if (rate == NULL) {
		if (g_hash_table_size (self->rates) >= DA_PIPELINE_CALLERS_MAX)
			return TRUE;
		rate = g_new0 (DaRate, 1);
		da_rate_init (rate, self->burst);
		g_hash_table_insert (self->rates, g_strdup (key), rate);
	}
	return da_rate_take (rate, self->rate, self->burst);
}

/* ---- sign-ins and who waits on them ---- */

static GHashTable *
flow_owners_of (DaPipeline *self, const gchar *account_name, gboolean create)
{
	GHashTable *owners = g_hash_table_lookup (self->flow_owners, account_name);

	if (owners == NULL && create) {
		owners = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
		g_hash_table_insert (self->flow_owners, g_strdup (account_name), owners);
	}
	return owners;
}

static guint
flows_of_caller (DaPipeline *self, const gchar *key)
{
	GHashTableIter iter;
	gpointer value;
	guint n = 0;

	g_hash_table_iter_init (&iter, self->flow_owners);
	while (g_hash_table_iter_next (&iter, NULL, &value)) {
		if (g_hash_table_contains (value, key))
			n++;
	}
	return n;
}

/* A flow that ended is nobody's; one that no caller asked for is the
 * device's (AutoLogin=) and never cancelled for want of callers. */
static void
account_status_changed_cb (DaManager *manager,
			   DaAccount *account,
			   const gchar *state,
			   const DaStatus *details,
			   DaPipeline *self)
{
	const gchar *name = da_account_get_name (account);

	if (g_strcmp0 (state, "awaiting-user") != 0) {
		g_hash_table_remove (self->flow_owners, name);
	} else {
		GHashTable *owners = flow_owners_of (self, name, TRUE);
		if (g_hash_table_size (owners) == 0)
			g_hash_table_add (owners, g_strdup ("(device)"));
	}
}

void
da_pipeline_forget_caller (DaPipeline *self, const gchar *key)
{
	GHashTableIter iter;
	gpointer name;
	gpointer owners;
	g_autoptr(GPtrArray) orphaned = g_ptr_array_new_with_free_func (g_free);

	g_return_if_fail (DA_IS_PIPELINE (self));

	g_hash_table_remove (self->rates, key);
	g_hash_table_iter_init (&iter, self->flow_owners);
	while (g_hash_table_iter_next (&iter, &name, &owners)) {
		if (g_hash_table_remove (owners, key) && g_hash_table_size (owners) == 0)
			g_ptr_array_add (orphaned, g_strdup (name));
	}
	for (guint i = 0; i < orphaned->len; i++) {
		const gchar *account_name = g_ptr_array_index (orphaned, i);
		DaAccount *account = da_manager_lookup (self->manager, account_name, NULL);
		if (account == NULL || !da_account_cancel_login (account, NULL))
			continue;
		g_info ("account %s: the sign-in was cancelled: %s, who started it, left",
			account_name, key);
	}
}

/* ---- the work, once authorized ---- */

static void
get_token_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	GError *error = NULL;
	DaToken *token = da_account_get_token_finish (DA_ACCOUNT (source), res, &error);

	if (token == NULL)
		g_task_return_error (task, error);
	else
		g_task_return_pointer (task, token, (GDestroyNotify) da_token_free);
}

static void
login_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	DaPipeline *self = g_task_get_source_object (task);
	DaRequest *req = g_task_get_task_data (task);
	GError *error = NULL;
	DaStatus *prompt = da_account_login_finish (DA_ACCOUNT (source), res, &error);

	if (prompt == NULL) {
		GHashTable *owners =
			flow_owners_of (self, da_account_get_name (req->account), FALSE);
		if (owners != NULL)
			g_hash_table_remove (owners, req->key);
		g_task_return_error (task, error);
		return;
	}
	g_task_return_pointer (task, prompt, (GDestroyNotify) da_status_free);
}

/* Logout and Refresh */
static void
account_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	DaRequest *req = g_task_get_task_data (task);
	DaAccount *account = DA_ACCOUNT (source);
	GError *error = NULL;
	gboolean ok = req->op == OP_LOGOUT ? da_account_logout_finish (account, res, &error)
					   : da_account_refresh_finish (account, res, &error);

	if (!ok)
		g_task_return_error (task, error);
	else
		g_task_return_boolean (task, TRUE);
}

static void
run_login (GTask *task)
{
	DaPipeline *self = g_task_get_source_object (task);
	DaRequest *req = g_task_get_task_data (task);
	GHashTable *owners = NULL;

	if ((req->flags & DA_PIPELINE_FLAGS_JOIN_ONLY) != 0 &&
	    da_account_get_state (req->account) != DA_ACCOUNT_STATE_AWAITING_USER) {
		g_task_return_new_error (task, DA_ERROR, DA_ERROR_INVALID_ARGUMENT,
					 "no sign-in of account '%s' waits for the user; start one "
					 "with devauthctl login",
					 da_account_get_name (req->account));
		g_object_unref (task);
		return;
	}
	owners = flow_owners_of (self, da_account_get_name (req->account), TRUE);
	if (!g_hash_table_contains (owners, req->key) &&
	    flows_of_caller (self, req->key) >= DA_PIPELINE_FLOWS_PER_CALLER_MAX) {
		g_task_return_new_error (task, DA_ERROR, DA_ERROR_RATE_LIMITED,
					 "this caller already waits on %d sign-ins",
					 DA_PIPELINE_FLOWS_PER_CALLER_MAX);
		g_object_unref (task);
		return;
	}
	g_hash_table_add (owners, g_strdup (req->key));
	da_account_login_async (req->account, g_task_get_cancellable (task), login_cb, task);
}

/* Takes @task. */
static void
run (GTask *task)
{
	DaRequest *req = g_task_get_task_data (task);
	GCancellable *cancellable = g_task_get_cancellable (task);
	GError *error = NULL;

	switch (req->op) {
	case OP_GET_TOKEN: {
		DaToken *cached = da_account_get_cached_token (req->account, req->min_validity);

		if (cached == NULL) {
			da_account_get_token_async (req->account, req->min_validity, cancellable,
						    get_token_cb, task);
			return;
		}
		g_task_return_pointer (task, cached, (GDestroyNotify) da_token_free);
		break;
	}
	case OP_LOGIN:
		run_login (task);
		return;
	case OP_CANCEL_LOGIN:
		if (!da_account_cancel_login (req->account, &error))
			g_task_return_error (task, error);
		else
			g_task_return_boolean (task, TRUE);
		break;
	case OP_LOGOUT:
		da_account_logout_async (req->account, cancellable, account_done_cb, task);
		return;
	case OP_REFRESH:
		da_account_refresh_async (req->account, cancellable, account_done_cb, task);
		return;
	}
	g_object_unref (task);
}

/* ---- who may ---- */

/* One uid's checks in flight are capped, so that a local user who floods
 * the authorizer (polkit) with questions delays only itself: everyone
 * else's checks do not queue behind them. */
static gboolean
take_check (DaPipeline *self, DaRequest *req)
{
	gpointer key = GUINT_TO_POINTER (req->uid);
	guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->checks, key));

	if (n >= DA_PIPELINE_CHECKS_PER_UID_MAX)
		return FALSE;
	g_hash_table_insert (self->checks, key, GUINT_TO_POINTER (n + 1));
	req->checking = TRUE;
	return TRUE;
}

static void
release_check (DaPipeline *self, DaRequest *req)
{
	gpointer key = GUINT_TO_POINTER (req->uid);
	guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->checks, key));

	if (!req->checking)
		return;
	req->checking = FALSE;
	g_return_if_fail (n > 0);
	if (n == 1)
		g_hash_table_remove (self->checks, key);
	else
		g_hash_table_insert (self->checks, key, GUINT_TO_POINTER (n - 1));
}

static void
authorized_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	DaRequest *req = g_task_get_task_data (task);
	GError *error = NULL;

	release_check (g_task_get_source_object (task), req);
	if (!da_authorizer_check_finish (DA_AUTHORIZER (source), res, &error)) {
		g_debug ("%s refused for %s: %s", req->action_id, req->key, error->message);
		g_task_return_error (task, error);
		g_object_unref (task);
		return;
	}
	run (task);
}

gboolean
da_pipeline_caller_needs_no_authorizer (DaPipeline *self,
					const DaCaller *caller,
					DaAccount *account)
{
	GPtrArray *accounts;

	g_return_val_if_fail (DA_IS_PIPELINE (self), FALSE);

	if (caller->uid == 0)
		return TRUE;
	if (account != NULL)
		return da_caller_is_allowed_by_config (caller, da_account_get_config (account));
	accounts = da_manager_get_accounts (self->manager);
	for (guint i = 0; i < accounts->len; i++) {
		if (da_caller_is_allowed_by_config (
			    caller, da_account_get_config (g_ptr_array_index (accounts, i))))
			return TRUE;
	}
	return FALSE;
}

/* root; then, for tokens, the account's [Access]; then the authorizer */
static void
authorize (DaPipeline *self, GTask *task, const DaCaller *caller, DaPipelineFlags flags)
{
	DaRequest *req = g_task_get_task_data (task);

	if (caller->uid == 0 || (req->op == OP_GET_TOKEN && da_pipeline_caller_needs_no_authorizer (
								    self, caller, req->account))) {
		run (task);
		return;
	}
	req->uid = caller->uid;
	if (!take_check (self, req)) {
		g_task_return_new_error (task, DA_ERROR, DA_ERROR_RATE_LIMITED,
					 "uid %u has %d authorization checks in flight; try again "
					 "when they are answered",
					 caller->uid, DA_PIPELINE_CHECKS_PER_UID_MAX);
		g_object_unref (task);
		return;
	}
	da_authorizer_check_async (self->authorizer, caller, req->action_id,
				   da_account_get_name (req->account),
				   (flags & DA_PIPELINE_FLAGS_INTERACTIVE) != 0,
				   g_task_get_cancellable (task), authorized_cb, task);
}

/* The account looked up and, for tokens, the caller's rate taken; then
 * authorized and run. */
static void
start (DaPipeline *self,
       const DaCaller *caller,
       DaOp op,
       const gchar *action_id,
       const gchar *account_name,
       guint min_validity,
       DaPipelineFlags flags,
       GCancellable *cancellable,
       gpointer source_tag,
       GAsyncReadyCallback callback,
       gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	GError *error = NULL;
	DaAccount *account;
	DaRequest *req;

	g_task_set_source_tag (task, source_tag);
	account = da_manager_lookup (self->manager, account_name, &error);
	if (account == NULL) {
		g_task_return_error (task, error);
		return;
	}
	req = g_new0 (DaRequest, 1);
	req->op = op;
	req->account = g_object_ref (account);
	req->key = caller_key (caller);
	req->action_id = action_id;
	req->min_validity = min_validity;
	req->flags = flags;
	g_task_set_task_data (task, req, (GDestroyNotify) da_request_free);
	if (op == OP_GET_TOKEN && !take_rate (self, req->key)) {
		g_task_return_new_error (task, DA_ERROR, DA_ERROR_RATE_LIMITED,
					 "too many token requests; slow down");
		return;
	}
	authorize (self, g_steal_pointer (&task), caller, flags);
}

void
da_pipeline_get_token_async (DaPipeline *self,
			     const DaCaller *caller,
			     const gchar *account,
			     guint min_validity,
			     DaPipelineFlags flags,
			     GCancellable *cancellable,
			     GAsyncReadyCallback callback,
			     gpointer user_data)
{
	g_return_if_fail (DA_IS_PIPELINE (self));
	g_return_if_fail (caller != NULL);

	start (self, caller, OP_GET_TOKEN, DA_ACTION_GET_TOKEN, account, min_validity, flags,
	       cancellable, da_pipeline_get_token_async, callback, user_data);
}

DaToken *
da_pipeline_get_token_finish (DaPipeline *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	g_return_val_if_fail (g_task_get_source_tag (G_TASK (res)) == da_pipeline_get_token_async,
			      NULL);

	return g_task_propagate_pointer (G_TASK (res), error);
}

void
da_pipeline_login_async (DaPipeline *self,
			 const DaCaller *caller,
			 const gchar *account,
			 DaPipelineFlags flags,
			 GCancellable *cancellable,
			 GAsyncReadyCallback callback,
			 gpointer user_data)
{
	g_return_if_fail (DA_IS_PIPELINE (self));
	g_return_if_fail (caller != NULL);

	start (self, caller, OP_LOGIN, DA_ACTION_LOGIN, account, 0, flags, cancellable,
	       da_pipeline_login_async, callback, user_data);
}

DaStatus *
da_pipeline_login_finish (DaPipeline *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), NULL);
	g_return_val_if_fail (g_task_get_source_tag (G_TASK (res)) == da_pipeline_login_async,
			      NULL);

	return g_task_propagate_pointer (G_TASK (res), error);
}

void
da_pipeline_run_async (DaPipeline *self,
		       const DaCaller *caller,
		       DaPipelineAction action,
		       const gchar *account,
		       DaPipelineFlags flags,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data)
{
	DaOp op = OP_CANCEL_LOGIN;
	const gchar *action_id = DA_ACTION_LOGIN;

	g_return_if_fail (DA_IS_PIPELINE (self));
	g_return_if_fail (caller != NULL);

	switch (action) {
	case DA_PIPELINE_CANCEL_LOGIN:
		break;
	case DA_PIPELINE_LOGOUT:
		op = OP_LOGOUT;
		action_id = DA_ACTION_LOGOUT;
		break;
	case DA_PIPELINE_REFRESH:
		op = OP_REFRESH;
		break;
	}
	start (self, caller, op, action_id, account, 0, flags, cancellable, da_pipeline_run_async,
	       callback, user_data);
}

gboolean
da_pipeline_run_finish (DaPipeline *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (res, self), FALSE);
	g_return_val_if_fail (g_task_get_source_tag (G_TASK (res)) == da_pipeline_run_async, FALSE);

	return g_task_propagate_boolean (G_TASK (res), error);
}

/* ---- the object ---- */

DaManager *
da_pipeline_get_manager (DaPipeline *self)
{
	g_return_val_if_fail (DA_IS_PIPELINE (self), NULL);

	return self->manager;
}

static void
da_pipeline_finalize (GObject *object)
{
	DaPipeline *self = DA_PIPELINE (object);

	g_clear_pointer (&self->rates, g_hash_table_unref);
	g_clear_pointer (&self->flow_owners, g_hash_table_unref);
	g_clear_pointer (&self->checks, g_hash_table_unref);
	g_clear_object (&self->authorizer);
	g_clear_object (&self->manager);
	G_OBJECT_CLASS (da_pipeline_parent_class)->finalize (object);
}

static void
da_pipeline_class_init (DaPipelineClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = da_pipeline_finalize;
}

static void
da_pipeline_init (DaPipeline *self)
{
	self->rates = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
	self->flow_owners = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
						   (GDestroyNotify) g_hash_table_unref);
	self->checks = g_hash_table_new (NULL, NULL);
}

DaPipeline *
da_pipeline_new (DaManager *manager, DaAuthorizer *authorizer)
{
	DaPipeline *self = g_object_new (DA_TYPE_PIPELINE, NULL);

	g_return_val_if_fail (DA_IS_MANAGER (manager), NULL);
	g_return_val_if_fail (DA_IS_AUTHORIZER (authorizer), NULL);

	self->manager = g_object_ref (manager);
	self->authorizer = g_object_ref (authorizer);
	self->rate = MAX (da_manager_get_config (manager)->token_requests_per_sec, 1);
	self->burst = self->rate * 2;
	g_signal_connect_object (manager, "account-status-changed",
				 G_CALLBACK (account_status_changed_cb), self, 0);
	return self;
}
