/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The client of the IdP: the only code that speaks HTTP (libsoup). Discovery
 * (shared per issuer), device authorization, token and refresh requests,
 * revocation and the JWKS fetch (shared per URI), over da-oidc-request.c;
 * the answers are read by da-oidc-parse.c. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-idp.h"
#include "da-oidc-private.h"

static void
da_oidc_client_idp_init (DaIdpInterface *iface);

G_DEFINE_TYPE_WITH_CODE (DaOidcClient,
			 da_oidc_client,
			 G_TYPE_OBJECT,
			 G_IMPLEMENT_INTERFACE (DA_TYPE_IDP, da_oidc_client_idp_init))

static gpointer
parse_discovery_cb (guint status, const gchar *data, gsize len, const gchar *issuer, GError **error)
{
	if (status != 200) {
		g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_HTTP, "discovery failed: HTTP %u",
			     status);
		return NULL;
	}
	return da_oidc_parse_discovery (data, len, issuer, error);
}

/* ---- requests that callers share while one is under way ---- */

/* Joins @task to the request for @key under way in @in_flight; FALSE when
 * there is none. */
static gboolean
shared_join (GHashTable *in_flight, const gchar *key, GTask **task)
{
	GPtrArray *waiters = g_hash_table_lookup (in_flight, key);

	if (waiters == NULL)
		return FALSE;
	g_ptr_array_add (waiters, g_steal_pointer (task));
	return TRUE;
}

static void
shared_begin (GHashTable *in_flight, const gchar *key, GTask **task)
{
	GPtrArray *waiters = g_ptr_array_new_with_free_func (g_object_unref);

	g_ptr_array_add (waiters, g_steal_pointer (task));
	g_hash_table_insert (in_flight, g_strdup (key), waiters);
}

/* Ends the request for @key: each of its callers gets a reference to
 * @result (from @ref) or, without one, a copy of @error. */
static void
shared_end (GHashTable *in_flight,
	    const gchar *key,
	    gpointer result,
	    gpointer (*ref) (gpointer),
	    GDestroyNotify unref,
	    const GError *error)
{
	g_autoptr(GPtrArray) waiters = NULL;
	g_autofree gchar *stolen = NULL;

	g_hash_table_steal_extended (in_flight, key, (gpointer *) &stolen, (gpointer *) &waiters);
	for (guint i = 0; waiters != NULL && i < waiters->len; i++) {
		GTask *task = g_ptr_array_index (waiters, i);
		if (result != NULL)
			g_task_return_pointer (task, ref (result), unref);
		else
			g_task_return_error (task, g_error_copy (error));
	}
}

static void
discover_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	DaOidcClient *self = DA_OIDC_CLIENT (source);
	g_autofree gchar *issuer = user_data;
	g_autoptr(GError) error = NULL;
	DaOidcEndpoints *found;

	found = g_task_propagate_pointer (G_TASK (res), &error);
	if (found != NULL)
		g_hash_table_replace (self->discovered, g_strdup (issuer), found);
	shared_end (self->discovering, issuer, found,
		    (gpointer (*) (gpointer)) da_oidc_endpoints_ref,
		    (GDestroyNotify) da_oidc_endpoints_unref, error);
}

/* One discovery per issuer, shared by every account that names it, and
 * kept for the life of the daemon. */
static void
da_oidc_client_discover_async (DaIdp *idp,
			       const gchar *issuer,
			       GCancellable *cancellable,
			       GAsyncReadyCallback callback,
			       gpointer user_data)
{
	DaOidcClient *self = DA_OIDC_CLIENT (idp);
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	g_autofree gchar *base = da_oidc_strip_slash (issuer);
	g_autofree gchar *url = g_strconcat (base, "/.well-known/openid-configuration", NULL);
	g_autoptr(SoupMessage) msg = NULL;
	const DaOidcEndpoints *cached = g_hash_table_lookup (self->discovered, issuer);

	g_task_set_source_tag (task, da_oidc_client_discover_async);
	if (cached != NULL) {
		g_task_return_pointer (task, da_oidc_endpoints_ref ((DaOidcEndpoints *) cached),
				       (GDestroyNotify) da_oidc_endpoints_unref);
		return;
	}
	if (shared_join (self->discovering, issuer, &task))
		return;
	msg = soup_message_new ("GET", url);
	if (msg == NULL) {
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
					 "'%s' is not a URL", url);
		return;
	}
	shared_begin (self->discovering, issuer, &task);
	soup_message_headers_replace (soup_message_get_request_headers (msg), "Accept",
				      "application/json");
	da_oidc_request_async (self, msg, parse_discovery_cb, DA_OIDC_REQUEST_NONE,
			       (GDestroyNotify) da_oidc_endpoints_unref, issuer, NULL,
			       discover_done_cb, discover_done_cb, g_strdup (issuer));
}

static gpointer
parse_device_auth_cb (guint status,
		      const gchar *data,
		      gsize len,
		      const gchar *extra,
		      GError **error)
{
	return da_oidc_parse_device_auth (status, data, len, error);
}

static void
da_oidc_client_device_auth_async (DaIdp *idp,
				  const gchar *endpoint,
				  const DaOidcClientAuth *auth,
				  const gchar *scope,
				  const gchar *code_challenge,
				  GCancellable *cancellable,
				  GAsyncReadyCallback callback,
				  gpointer user_data)
{
	DaOidcClient *self = DA_OIDC_CLIENT (idp);
	const gchar *pairs[] = {
		"scope",
		scope,
		"code_challenge",
		code_challenge,
		"code_challenge_method",
		code_challenge != NULL ? "S256" : NULL,
		NULL,
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(SoupMessage) msg = da_oidc_form_message_new (endpoint, auth, pairs, &error);

	if (msg == NULL) {
		da_oidc_return_error (self, g_steal_pointer (&error),
				      da_oidc_client_device_auth_async, callback, user_data);
		return;
	}
	da_oidc_request_async (self, msg, parse_device_auth_cb, DA_OIDC_REQUEST_NONE,
			       (GDestroyNotify) da_oidc_device_auth_free, NULL, cancellable,
			       da_oidc_client_device_auth_async, callback, user_data);
}

static gpointer
parse_tokens_cb (guint status, const gchar *data, gsize len, const gchar *extra, GError **error)
{
	return da_oidc_parse_tokens (status, data, len, error);
}

static void
token_request_async (DaOidcClient *self,
		     const gchar *endpoint,
		     const DaOidcClientAuth *auth,
		     const gchar *const *pairs,
		     GCancellable *cancellable,
		     GAsyncReadyCallback callback,
		     gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(SoupMessage) msg = da_oidc_form_message_new (endpoint, auth, pairs, &error);

	if (msg == NULL) {
		da_oidc_return_error (self, g_steal_pointer (&error), token_request_async, callback,
				      user_data);
		return;
	}
	da_oidc_request_async (self, msg, parse_tokens_cb, DA_OIDC_REQUEST_TOKENS,
			       (GDestroyNotify) da_oidc_tokens_free, NULL, cancellable,
			       token_request_async, callback, user_data);
}

static void
da_oidc_client_poll_device_async (DaIdp *idp,
				  const gchar *endpoint,
				  const DaOidcClientAuth *auth,
				  const gchar *device_code,
				  const gchar *code_verifier,
				  GCancellable *cancellable,
				  GAsyncReadyCallback callback,
				  gpointer user_data)
{
	DaOidcClient *self = DA_OIDC_CLIENT (idp);
	const gchar *pairs[] = {
		"grant_type",
		"urn:ietf:params:oauth:grant-type:device_code",
		"device_code",
		device_code,
		"code_verifier",
		code_verifier,
		NULL,
	};
	token_request_async (self, endpoint, auth, pairs, cancellable, callback, user_data);
}

static void
da_oidc_client_refresh_async (DaIdp *idp,
			      const gchar *endpoint,
			      const DaOidcClientAuth *auth,
			      const gchar *refresh_token,
			      GCancellable *cancellable,
			      GAsyncReadyCallback callback,
			      gpointer user_data)
{
	DaOidcClient *self = DA_OIDC_CLIENT (idp);
	const gchar *pairs[] = {
		"grant_type", "refresh_token", "refresh_token", refresh_token, NULL,
	};
	token_request_async (self, endpoint, auth, pairs, cancellable, callback, user_data);
}

static void
da_oidc_client_client_credentials_async (DaIdp *idp,
					 const gchar *endpoint,
					 const DaOidcClientAuth *auth,
					 const gchar *scope,
					 GCancellable *cancellable,
					 GAsyncReadyCallback callback,
					 gpointer user_data)
{
	DaOidcClient *self = DA_OIDC_CLIENT (idp);
	const gchar *pairs[] = {
		"grant_type", "client_credentials", "scope", scope, NULL,
	};
	token_request_async (self, endpoint, auth, pairs, cancellable, callback, user_data);
}

static gpointer
parse_revocation_cb (guint status, const gchar *data, gsize len, const gchar *extra, GError **error)
{
	if (!da_oidc_parse_revocation (status, data, len, error))
		return NULL;
	return GINT_TO_POINTER (1);
}

static void
da_oidc_client_revoke_async (DaIdp *idp,
			     const gchar *endpoint,
			     const DaOidcClientAuth *auth,
			     const gchar *token,
			     const gchar *token_type_hint,
			     GCancellable *cancellable,
			     GAsyncReadyCallback callback,
			     gpointer user_data)
{
	DaOidcClient *self = DA_OIDC_CLIENT (idp);
	const gchar *pairs[] = {
		"token", token, "token_type_hint", token_type_hint, NULL,
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(SoupMessage) msg = da_oidc_form_message_new (endpoint, auth, pairs, &error);

	if (msg == NULL) {
		da_oidc_return_error (self, g_steal_pointer (&error), da_oidc_client_revoke_async,
				      callback, user_data);
		return;
	}
	da_oidc_request_async (self, msg, parse_revocation_cb, DA_OIDC_REQUEST_NONE, NULL, NULL,
			       cancellable, da_oidc_client_revoke_async, callback, user_data);
}

static gpointer
parse_jwks_cb (guint status, const gchar *data, gsize len, const gchar *extra, GError **error)
{
	if (status != 200) {
		g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_HTTP,
			     "the IdP's keys (jwks_uri) answered HTTP %u", status);
		return NULL;
	}
	return g_bytes_new (data, len);
}

static void
fetch_jwks_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	DaOidcClient *self = DA_OIDC_CLIENT (source);
	g_autofree gchar *jwks_uri = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) jwks = g_task_propagate_pointer (G_TASK (res), &error);

	shared_end (self->fetching_jwks, jwks_uri, jwks, (gpointer (*) (gpointer)) g_bytes_ref,
		    (GDestroyNotify) g_bytes_unref, error);
}

/* The keys are fetched anew for each caller (an IdP may have rotated them
 * since), but callers that ask while a fetch is under way share it: the
 * sign-ins of many accounts of one IdP make one request, not one each. */
static void
da_oidc_client_fetch_jwks_async (DaIdp *idp,
				 const gchar *jwks_uri,
				 GCancellable *cancellable,
				 GAsyncReadyCallback callback,
				 gpointer user_data)
{
	DaOidcClient *self = DA_OIDC_CLIENT (idp);
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	g_autoptr(SoupMessage) msg = NULL;

	g_task_set_source_tag (task, da_oidc_client_fetch_jwks_async);
	if (shared_join (self->fetching_jwks, jwks_uri, &task))
		return;
	msg = soup_message_new ("GET", jwks_uri);
	if (msg == NULL) {
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
					 "'%s' is not a URL", jwks_uri);
		return;
	}
	shared_begin (self->fetching_jwks, jwks_uri, &task);
	soup_message_headers_replace (soup_message_get_request_headers (msg), "Accept",
				      "application/jwk-set+json, application/json");
	da_oidc_request_async (self, msg, parse_jwks_cb, DA_OIDC_REQUEST_NONE,
			       (GDestroyNotify) g_bytes_unref, NULL, NULL, fetch_jwks_done_cb,
			       fetch_jwks_done_cb, g_strdup (jwks_uri));
}

static gint64
da_oidc_client_idp_get_retry_at (DaIdp *idp, const gchar *url)
{
	return da_oidc_client_get_retry_at (DA_OIDC_CLIENT (idp), url);
}

static void
da_oidc_client_idp_init (DaIdpInterface *iface)
{
	iface->get_retry_at = da_oidc_client_idp_get_retry_at;
	iface->discover_async = da_oidc_client_discover_async;
	iface->device_auth_async = da_oidc_client_device_auth_async;
	iface->poll_device_async = da_oidc_client_poll_device_async;
	iface->refresh_async = da_oidc_client_refresh_async;
	iface->client_credentials_async = da_oidc_client_client_credentials_async;
	iface->revoke_async = da_oidc_client_revoke_async;
	iface->fetch_jwks_async = da_oidc_client_fetch_jwks_async;
}

static void
da_oidc_client_finalize (GObject *object)
{
	DaOidcClient *self = DA_OIDC_CLIENT (object);

	g_clear_object (&self->session);
	g_free (self->ca_file);
	g_clear_object (&self->ca_database);
	g_free (self->proxy);
	da_secret_free (self->proxy_credentials);
	g_clear_object (&self->client_certificate);
	g_clear_pointer (&self->retry_at, g_hash_table_unref);
	g_clear_pointer (&self->discovered, g_hash_table_unref);
	g_clear_pointer (&self->discovering, g_hash_table_unref);
	g_clear_pointer (&self->fetching_jwks, g_hash_table_unref);
	G_OBJECT_CLASS (da_oidc_client_parent_class)->finalize (object);
}

static void
da_oidc_client_class_init (DaOidcClientClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = da_oidc_client_finalize;
}

static void
da_oidc_client_init (DaOidcClient *self)
{
	self->retry_at = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	self->discovered = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
						  (GDestroyNotify) da_oidc_endpoints_unref);
	self->discovering = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
						   (GDestroyNotify) g_ptr_array_unref);
	self->fetching_jwks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
						     (GDestroyNotify) g_ptr_array_unref);
}

DaOidcClient *
da_oidc_client_new (guint timeout_sec)
{
	DaOidcClient *self = g_object_new (DA_TYPE_OIDC_CLIENT, NULL);

	self->timeout_sec = timeout_sec > 0 ? timeout_sec : 30;
	self->session = soup_session_new_with_options (
		"timeout", self->timeout_sec, "idle-timeout", 60, "max-conns", 64,
		"max-conns-per-host", 8, "user-agent", "devauthd/" PACKAGE_VERSION, NULL);
	/* no proxy from the environment of whoever started the daemon */
	soup_session_set_proxy_resolver (self->session, NULL);
	return self;
}

DaOidcClient *
da_oidc_client_new_with_ca (guint timeout_sec, const gchar *ca_file, GError **error)
{
	g_autoptr(DaOidcClient) self = da_oidc_client_new (timeout_sec);
	g_autoptr(GTlsDatabase) database = NULL;

	database = g_tls_file_database_new (ca_file, error);
	if (database == NULL) {
		g_prefix_error (error, "CAFile=%s: ", ca_file);
		return NULL;
	}
	soup_session_set_tls_database (self->session, database);
	self->ca_file = g_strdup (ca_file);
	self->ca_database = g_steal_pointer (&database);
	return g_steal_pointer (&self);
}

/* the first of @names set in the environment, or NULL */
static const gchar *
env_first (const gchar *const *names)
{
	for (guint i = 0; names[i] != NULL; i++) {
		const gchar *value = g_getenv (names[i]);
		if (value != NULL && value[0] != '\0')
			return value;
	}
	return NULL;
}

/* Proxy=env: http_proxy, https_proxy and no_proxy (or their upper-case
 * forms) as curl reads them; none set is direct. */
static GProxyResolver *
proxy_resolver_from_env (void)
{
	static const gchar *const http_names[] = {"http_proxy", "HTTP_PROXY", NULL};
	static const gchar *const https_names[] = {"https_proxy", "HTTPS_PROXY", NULL};
	static const gchar *const no_names[] = {"no_proxy", "NO_PROXY", NULL};
	const gchar *http = env_first (http_names);
	const gchar *https = env_first (https_names);
	const gchar *no = env_first (no_names);
	g_auto(GStrv) ignore = NULL;
	GSimpleProxyResolver *resolver;

	if (http == NULL && https == NULL) {
		g_info ("Proxy=env: no http_proxy or https_proxy in the environment; direct");
		return NULL;
	}
	if (no != NULL) {
		ignore = g_strsplit_set (no, ", ", -1);
		for (guint i = 0; ignore[i] != NULL; i++)
			g_strstrip (ignore[i]);
	}
	resolver = G_SIMPLE_PROXY_RESOLVER (g_simple_proxy_resolver_new (NULL, (gchar **) ignore));
	if (http != NULL)
		g_simple_proxy_resolver_set_uri_proxy (resolver, "http", http);
	if (https != NULL)
		g_simple_proxy_resolver_set_uri_proxy (resolver, "https", https);
	return G_PROXY_RESOLVER (resolver);
}

void
da_oidc_client_set_proxy (DaOidcClient *self, const gchar *proxy, DaSecret *credentials)
{
	g_autoptr(GProxyResolver) resolver = NULL;

	g_return_if_fail (DA_IS_OIDC_CLIENT (self));

	g_clear_pointer (&self->proxy, g_free);
	g_clear_pointer (&self->proxy_credentials, da_secret_free);
	self->proxy_credentials = credentials;
	if (proxy == NULL || proxy[0] == '\0') {
		soup_session_set_proxy_resolver (self->session, NULL);
		return;
	}
	if (g_str_equal (proxy, "env"))
		resolver = proxy_resolver_from_env ();
	else
		resolver = g_simple_proxy_resolver_new (proxy, NULL);
	if (resolver != NULL)
		self->proxy = g_str_equal (proxy, "env")
				      ? g_strdup ("of the environment (Proxy=env)")
				      : g_strdup (proxy);
	soup_session_set_proxy_resolver (self->session, resolver);
}

void
da_oidc_client_set_certificate (DaOidcClient *self, GTlsCertificate *certificate)
{
	g_return_if_fail (DA_IS_OIDC_CLIENT (self));

	g_set_object (&self->client_certificate, certificate);
}
