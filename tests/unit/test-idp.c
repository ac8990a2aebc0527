/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "test-clock.h"
#include "test-idp.h"

typedef struct {
	DaOidcError code; /* with message != NULL */
	gchar *message;
	gchar *access;
	gchar *refresh;
	gint64 expires_in;
	gint64 refresh_expires_in;
	gchar *user_code;
	guint interval;
} Reply;

struct _TestIdp {
	GObject parent_instance;
	guint latency_ms;
	gint64 retry_at;
	guint refreshes;
	GQueue replies[TEST_IDP_N_KINDS];      /* of Reply */
	GPtrArray *requests[TEST_IDP_N_KINDS]; /* of TestIdpRequest */
};

static void
test_idp_iface_init (DaIdpInterface *iface);

G_DEFINE_TYPE_WITH_CODE (TestIdp,
			 test_idp,
			 G_TYPE_OBJECT,
			 G_IMPLEMENT_INTERFACE (DA_TYPE_IDP, test_idp_iface_init))

static void
reply_free (Reply *reply)
{
	g_free (reply->message);
	g_free (reply->access);
	g_free (reply->refresh);
	g_free (reply->user_code);
	g_free (reply);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Reply, reply_free)

static void
request_free (TestIdpRequest *request)
{
	g_free (request->credential);
	g_free (request);
}

static DaOidcTokens *
tokens_new (const gchar *access, const gchar *refresh, gint64 expires_in, gint64 refresh_expires_in)
{
	DaOidcTokens *tokens = g_new0 (DaOidcTokens, 1);

	tokens->access_token = da_secret_new (access);
	tokens->refresh_token = refresh != NULL ? da_secret_new (refresh) : NULL;
	tokens->token_type = g_strdup ("Bearer");
	tokens->scope = g_strdup ("openid offline_access");
	tokens->expires_in = expires_in;
	tokens->refresh_expires_in = refresh_expires_in;
	tokens->requested_at = da_clock_real_us ();
	return tokens;
}

typedef struct {
	GTask *task;
	gpointer result;
	GDestroyNotify free_result;
	GError *error;
} Answer;

static gboolean
answer_cb (gpointer user_data)
{
	Answer *answer = user_data;

	if (answer->error != NULL)
		g_task_return_error (answer->task, answer->error);
	else
		g_task_return_pointer (answer->task, answer->result, answer->free_result);
	g_object_unref (answer->task);
	g_free (answer);
	return G_SOURCE_REMOVE;
}

/* Writes the request down and answers it after the latency, from the next
 * reply queued for @kind (or NULL: the default). */
static void
handle (TestIdp *self,
	TestIdpKind kind,
	const gchar *credential,
	GCancellable *cancellable,
	GAsyncReadyCallback callback,
	gpointer user_data)
{
	TestIdpRequest *request = g_new0 (TestIdpRequest, 1);
	g_autoptr(Reply) reply = g_queue_pop_head (&self->replies[kind]);
	Answer *answer = g_new0 (Answer, 1);

	request->kind = kind;
	request->at_sec = test_clock_elapsed_sec ();
	request->credential = g_strdup (credential);
	g_ptr_array_add (self->requests[kind], request);

	answer->task = g_task_new (self, cancellable, callback, user_data);
	if (reply != NULL && reply->message != NULL) {
		answer->error = g_error_new_literal (DA_OIDC_ERROR, reply->code, reply->message);
	} else if (kind == TEST_IDP_DISCOVER) {
		DaOidcEndpoints *endpoints = da_oidc_endpoints_new ();
		endpoints->issuer = g_strdup (TEST_IDP_ISSUER);
		endpoints->device_authorization_endpoint =
			g_strdup (TEST_IDP_ISSUER "/protocol/openid-connect/auth/device");
		endpoints->token_endpoint =
			g_strdup (TEST_IDP_ISSUER "/protocol/openid-connect/token");
		endpoints->revocation_endpoint =
			g_strdup (TEST_IDP_ISSUER "/protocol/openid-connect/revoke");
		answer->result = endpoints;
		answer->free_result = (GDestroyNotify) da_oidc_endpoints_unref;
	} else if (kind == TEST_IDP_DEVICE_AUTH) {
		DaOidcDeviceAuth *auth = g_new0 (DaOidcDeviceAuth, 1);
		auth->device_code = da_secret_new ("device-code");
		auth->user_code = g_strdup (reply != NULL ? reply->user_code : "WDJB-MJHT");
		auth->verification_uri = g_strdup (TEST_IDP_ISSUER "/device");
		auth->verification_uri_complete =
			g_strdup_printf (TEST_IDP_ISSUER "/device?user_code=%s", auth->user_code);
		auth->expires_in = reply != NULL ? reply->expires_in : 600;
		auth->interval = reply != NULL ? reply->interval : 5;
		answer->result = auth;
		answer->free_result = (GDestroyNotify) da_oidc_device_auth_free;
	} else if (kind == TEST_IDP_POLL || kind == TEST_IDP_REFRESH) {
		if (reply != NULL) {
			answer->result = tokens_new (reply->access, reply->refresh,
						     reply->expires_in, reply->refresh_expires_in);
		} else if (kind == TEST_IDP_POLL) {
			answer->error = g_error_new_literal (DA_OIDC_ERROR,
							     DA_OIDC_ERROR_AUTHORIZATION_PENDING,
							     "authorization_pending");
		} else {
			g_autofree gchar *access = g_strdup_printf ("access-%u", ++self->refreshes);
			g_autofree gchar *refresh = g_strdup_printf ("refresh-%u", self->refreshes);
			answer->result = tokens_new (access, refresh, 300, 0);
		}
		answer->free_result = (GDestroyNotify) da_oidc_tokens_free;
	} else if (kind == TEST_IDP_REVOKE) {
		answer->result = GINT_TO_POINTER (1);
	} else {
		answer->error =
			g_error_new_literal (DA_OIDC_ERROR, DA_OIDC_ERROR_HTTP, "no JWKS here");
	}
	da_clock_timeout_add (self->latency_ms, answer_cb, answer, NULL);
}

static gint64
test_idp_get_retry_at (DaIdp *idp, const gchar *url)
{
	return TEST_IDP (idp)->retry_at;
}

static void
test_idp_discover_async (DaIdp *idp,
			 const gchar *issuer,
			 GCancellable *cancellable,
			 GAsyncReadyCallback callback,
			 gpointer user_data)
{
	handle (TEST_IDP (idp), TEST_IDP_DISCOVER, NULL, cancellable, callback, user_data);
}

static void
test_idp_device_auth_async (DaIdp *idp,
			    const gchar *endpoint,
			    const DaOidcClientAuth *auth,
			    const gchar *scope,
			    const gchar *code_challenge,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data)
{
	handle (TEST_IDP (idp), TEST_IDP_DEVICE_AUTH, NULL, cancellable, callback, user_data);
}

static void
test_idp_poll_device_async (DaIdp *idp,
			    const gchar *endpoint,
			    const DaOidcClientAuth *auth,
			    const gchar *device_code,
			    const gchar *code_verifier,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data)
{
	handle (TEST_IDP (idp), TEST_IDP_POLL, device_code, cancellable, callback, user_data);
}

static void
test_idp_refresh_async (DaIdp *idp,
			const gchar *endpoint,
			const DaOidcClientAuth *auth,
			const gchar *refresh_token,
			GCancellable *cancellable,
			GAsyncReadyCallback callback,
			gpointer user_data)
{
	handle (TEST_IDP (idp), TEST_IDP_REFRESH, refresh_token, cancellable, callback, user_data);
}

static void
test_idp_revoke_async (DaIdp *idp,
		       const gchar *endpoint,
		       const DaOidcClientAuth *auth,
		       const gchar *token,
		       const gchar *token_type_hint,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data)
{
	handle (TEST_IDP (idp), TEST_IDP_REVOKE, token, cancellable, callback, user_data);
}

static void
test_idp_fetch_jwks_async (DaIdp *idp,
			   const gchar *jwks_uri,
			   GCancellable *cancellable,
			   GAsyncReadyCallback callback,
			   gpointer user_data)
{
	handle (TEST_IDP (idp), TEST_IDP_JWKS, NULL, cancellable, callback, user_data);
}

static void
test_idp_iface_init (DaIdpInterface *iface)
{
	iface->get_retry_at = test_idp_get_retry_at;
	iface->discover_async = test_idp_discover_async;
	iface->device_auth_async = test_idp_device_auth_async;
	iface->poll_device_async = test_idp_poll_device_async;
	iface->refresh_async = test_idp_refresh_async;
	iface->revoke_async = test_idp_revoke_async;
	iface->fetch_jwks_async = test_idp_fetch_jwks_async;
}

static void
test_idp_finalize (GObject *object)
{
	TestIdp *self = TEST_IDP (object);

	for (guint i = 0; i < TEST_IDP_N_KINDS; i++) {
		g_queue_clear_full (&self->replies[i], (GDestroyNotify) reply_free);
		g_ptr_array_unref (self->requests[i]);
	}
	G_OBJECT_CLASS (test_idp_parent_class)->finalize (object);
}

static void
test_idp_class_init (TestIdpClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = test_idp_finalize;
}

static void
test_idp_init (TestIdp *self)
{
	for (guint i = 0; i < TEST_IDP_N_KINDS; i++) {
		g_queue_init (&self->replies[i]);
		self->requests[i] = g_ptr_array_new_with_free_func ((GDestroyNotify) request_free);
	}
}

TestIdp *
test_idp_new (void)
{
	return g_object_new (TEST_TYPE_IDP, NULL);
}

void
test_idp_set_latency_ms (TestIdp *self, guint latency_ms)
{
	self->latency_ms = latency_ms;
}

void
test_idp_set_retry_at (TestIdp *self, gint64 retry_at)
{
	self->retry_at = retry_at;
}

void
test_idp_push_tokens (TestIdp *self,
		      TestIdpKind kind,
		      const gchar *access,
		      const gchar *refresh,
		      gint64 expires_in,
		      gint64 refresh_expires_in)
{
	Reply *reply = g_new0 (Reply, 1);

	reply->access = g_strdup (access);
	reply->refresh = g_strdup (refresh);
	reply->expires_in = expires_in;
	reply->refresh_expires_in = refresh_expires_in;
	g_queue_push_tail (&self->replies[kind], reply);
}

void
test_idp_push_error (TestIdp *self, TestIdpKind kind, DaOidcError code, const gchar *message)
{
	Reply *reply = g_new0 (Reply, 1);

	reply->code = code;
	reply->message = g_strdup (message);
	g_queue_push_tail (&self->replies[kind], reply);
}

void
test_idp_push_device_auth (TestIdp *self, const gchar *user_code, gint64 expires_in, guint interval)
{
	Reply *reply = g_new0 (Reply, 1);

	reply->user_code = g_strdup (user_code);
	reply->expires_in = expires_in;
	reply->interval = interval;
	g_queue_push_tail (&self->replies[TEST_IDP_DEVICE_AUTH], reply);
}

GPtrArray *
test_idp_requests (TestIdp *self, TestIdpKind kind)
{
	return self->requests[kind];
}

guint
test_idp_count (TestIdp *self, TestIdpKind kind)
{
	return self->requests[kind]->len;
}
