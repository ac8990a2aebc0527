/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One HTTP exchange with the IdP: a deadline over the whole of it, a
 * bounded body that holds secrets and is wiped, the content type checked,
 * Retry-After remembered per host; and the form that carries the client's
 * credentials. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <malloc.h>
#include <string.h>

#include "da-client-assertion.h"
#include "da-clock.h"
#include "da-jwt.h"
#include "da-oidc-private.h"
#include "da-secret.h"
#include "da-tls-trust.h"

#define DA_OIDC_READ_CHUNK 16384
/* most answers fit; a larger one grows the buffer by body_append() */
#define DA_OIDC_BODY_INITIAL 4096

#define DA_OIDC_RETRY_AFTER_MAX (3600)

static gchar *
url_host (const gchar *url)
{
	g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
	if (uri == NULL || g_uri_get_host (uri) == NULL)
		return NULL;
	return g_strdup_printf ("%s:%d", g_uri_get_host (uri), g_uri_get_port (uri));
}

/* When the IdP last said (429 or 503 with Retry-After) to come back, in
 * unix seconds; 0 when it did not, or that time has passed. */
gint64
da_oidc_client_get_retry_at (DaOidcClient *self, const gchar *url)
{
	g_autofree gchar *host = url_host (url);
	gint64 at;

	if (host == NULL)
		return 0;
	at = GPOINTER_TO_SIZE (g_hash_table_lookup (self->retry_at, host));
	return at > g_get_real_time () / G_USEC_PER_SEC ? at : 0;
}

static void
note_retry_after (DaOidcClient *self, SoupMessage *msg)
{
	const gchar *value = soup_message_headers_get_one (soup_message_get_response_headers (msg),
							   "Retry-After");
	g_autofree gchar *host = NULL;
	guint64 delay = 0;
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;

	if (value == NULL)
		return;
	if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT32, &delay, NULL)) {
		g_autoptr(GDateTime) date = soup_date_time_new_from_http_string (value);
		if (date == NULL)
			return;
		delay = (guint64) MAX (g_date_time_to_unix (date) - now, 0);
	}
	delay = MIN (delay, DA_OIDC_RETRY_AFTER_MAX);
	{
		g_autofree gchar *url = g_uri_to_string (soup_message_get_uri (msg));
		host = url_host (url);
	}
	if (host == NULL)
		return;
	g_hash_table_replace (self->retry_at, g_steal_pointer (&host),
			      GSIZE_TO_POINTER ((gsize) (now + (gint64) delay)));
}

typedef struct {
	SoupMessage *msg;
	GInputStream *stream;
	GByteArray *body; /* secret: grown only by body_append() */
	gsize body_alloc;
	DaOidcParseFunc parse;
	DaOidcRequestFlags flags;
	GDestroyNotify free_result;
	gchar *extra;
	GCancellable *cancellable; /* cancelled by the caller or the deadline */
	GCancellable *caller_cancellable;
	gulong caller_handler;
	guint deadline_id;
	gboolean timed_out;
	gint64 sent_boot_us;		  /* da_clock_boot_us () */
	gint64 recv_boot_us;		  /* when the headers came */
	DaOidcClient *client;		  /* not owned: the task holds it */
	GTlsCertificateFlags tls_refused; /* the check after the handshake failed */
	gboolean proxy_auth_sent;	  /* ProxyCredentialsFile= went to the proxy */
} DaOidcRequest;

/* A token's life counts from when its request left, not from when it was
 * queued: libsoup holds requests back while the host's connections are
 * busy, and a request queued for longer than 75 % of the life would come
 * back looking due for a refresh at once. */
static void
request_wrote_headers_cb (SoupMessage *msg, gpointer user_data)
{
	DaOidcRequest *req = user_data;

	req->sent_boot_us = da_clock_boot_us ();
}

/* the port of an https URL, said or not */
static guint16
uri_tls_port (GUri *uri)
{
	return (guint16) (g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : 443);
}

/* Each new TLS connection's certificate is checked once more, against the
 * trust of this client (CAFile=, else the system's store), before anything
 * is sent on it: a session that the TLS library resumes from another
 * client's connection to the same host (one that trusts another CA) is
 * not verified again by it. */
static void
request_network_event_cb (SoupMessage *msg,
			  GSocketClientEvent event,
			  GIOStream *connection,
			  gpointer user_data)
{
	DaOidcRequest *req = user_data;
	g_autoptr(GSocketConnectable) identity = NULL;
	g_autoptr(GError) error = NULL;
	GTlsCertificate *cert;
	GTlsDatabase *database;
	GUri *uri = soup_message_get_uri (msg);

	/* tls_client_auth: the certificate on the connection before the
	 * handshake, not only when the server asks: glib-networking then keys
	 * the TLS session cache with it, and a session made with one client's
	 * certificate is never resumed by a client with another (or none) */
	if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING && req->client->client_certificate != NULL &&
	    G_IS_TLS_CONNECTION (connection))
		g_tls_connection_set_certificate (G_TLS_CONNECTION (connection),
						  req->client->client_certificate);
	if (event != G_SOCKET_CLIENT_TLS_HANDSHAKED || !G_IS_TLS_CONNECTION (connection))
		return;
	database = req->client->ca_database != NULL
			   ? req->client->ca_database
			   : g_tls_backend_get_default_database (g_tls_backend_get_default ());
	cert = g_tls_connection_get_peer_certificate (G_TLS_CONNECTION (connection));
	identity = g_network_address_new (g_uri_get_host (uri), uri_tls_port (uri));
	req->tls_refused =
		cert == NULL ? G_TLS_CERTIFICATE_GENERIC_ERROR
		: database == NULL
			? G_TLS_CERTIFICATE_UNKNOWN_CA
			: g_tls_database_verify_chain (
				  database, cert, G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER,
				  identity, NULL, G_TLS_DATABASE_VERIFY_NONE, NULL, &error);
	if (req->client->ca_database == NULL)
		g_clear_object (&database);
	if (req->tls_refused != 0)
		g_cancellable_cancel (req->cancellable);
	/* what the handshake and the checks freed (the system's trust store,
	 * read for them: da-tls-trust.c) is wiped and dirty: the free pages
	 * back to the kernel */
	malloc_trim (0);
}

static void
da_oidc_request_free (DaOidcRequest *req)
{
	if (req->msg != NULL)
		g_signal_handlers_disconnect_by_data (req->msg, req);
	g_clear_handle_id (&req->deadline_id, g_source_remove);
	if (req->caller_handler != 0)
		g_cancellable_disconnect (req->caller_cancellable, req->caller_handler);
	g_clear_object (&req->caller_cancellable);
	g_clear_object (&req->cancellable);
	g_clear_object (&req->stream);
	g_clear_object (&req->msg);
	g_clear_pointer (&req->body, da_secret_byte_array_free);
	g_free (req->extra);
	g_free (req);
}

/* What is wrong with the certificate of the host, and what to do about
 * it: said in full, since "network error" helps nobody who must fix it. */
static gchar *
tls_failure_message (DaOidcClient *self,
		     SoupMessage *msg,
		     GTlsCertificateFlags flags,
		     const GError *error)
{
	GUri *uri = soup_message_get_uri (msg);
	g_autofree gchar *host =
		g_strdup_printf ("%s:%u", g_uri_get_host (uri), uri_tls_port (uri));
	g_autofree gchar *ca = NULL;
	const gchar *problem;
	const gchar *fix = "";

	if (flags & G_TLS_CERTIFICATE_UNKNOWN_CA) {
		if (self->ca_file != NULL) {
			ca = g_strdup_printf ("it is not signed by the CA of CAFile=%s",
					      self->ca_file);
			problem = ca;
			fix = " (CAFile= is the only CA trusted for this account: name the CA "
			      "that signed it)";
		} else {
			problem = "it is not signed by a CA the system trusts";
			fix = " (set CAFile= in the account's [Account] section to the CA that "
			      "signed it)";
		}
	} else if (flags & G_TLS_CERTIFICATE_BAD_IDENTITY) {
		problem = "it is made out for another host name";
		fix = " (the host of Issuer= and of the endpoints must be one the certificate "
		      "names)";
	} else if (flags & G_TLS_CERTIFICATE_NOT_ACTIVATED) {
		problem = "it is not valid yet";
		fix = " (is the device's clock behind?)";
	} else if (flags & G_TLS_CERTIFICATE_EXPIRED) {
		problem = "it has expired";
		fix = " (or the device's clock is ahead)";
	} else if (flags & G_TLS_CERTIFICATE_REVOKED) {
		problem = "it has been revoked";
	} else if (flags & G_TLS_CERTIFICATE_INSECURE) {
		problem = "it uses an insecure algorithm";
	} else {
		problem = error->message;
	}
	return g_strdup_printf ("TLS: the certificate of %s is refused: %s%s", host, problem, fix);
}

/* The proxy asks who we are (407): ProxyCredentialsFile=, once; refused
 * again, the 407 is the answer. A server's 401 is never answered here. */
static gboolean
request_authenticate_cb (SoupMessage *msg, SoupAuth *auth, gboolean retrying, gpointer user_data)
{
	DaOidcRequest *req = user_data;
	DaOidcClient *self = req->client;
	const gchar *colon;
	g_autofree gchar *user = NULL;

	if (!soup_auth_is_for_proxy (auth) || retrying || self->proxy_credentials == NULL)
		return FALSE;
	req->proxy_auth_sent = TRUE;
	colon = strchr (self->proxy_credentials, ':');
	user = g_strndup (self->proxy_credentials, (gsize) (colon - self->proxy_credentials));
	soup_auth_authenticate (auth, user, colon + 1);
	return TRUE;
}

static void
request_fail (GTask *task, GError *error)
{
	DaOidcRequest *req = g_task_get_task_data (task);
	g_autoptr(GError) owned = error;

	/* refused by our own check after the handshake, or by the TLS
	 * library's */
	if (req->tls_refused != 0 || (owned->domain == G_TLS_ERROR && req->msg != NULL)) {
		DaOidcClient *self = g_task_get_source_object (task);
		g_autofree gchar *message = tls_failure_message (
			self, req->msg,
			req->tls_refused != 0
				? req->tls_refused
				: soup_message_get_tls_peer_certificate_errors (req->msg),
			owned);
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_NETWORK, "%s", message);
		return;
	}
	/* the whole exchange's deadline, or one read's (libsoup's timeout):
	 * where, how long, and the key that sets it */
	if ((req->timed_out && g_error_matches (owned, G_IO_ERROR, G_IO_ERROR_CANCELLED)) ||
	    g_error_matches (owned, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
		DaOidcClient *self = g_task_get_source_object (task);
		g_autofree gchar *url =
			req->msg != NULL ? g_uri_to_string_partial (soup_message_get_uri (req->msg),
								    G_URI_HIDE_QUERY)
					 : g_strdup ("the IdP");
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_NETWORK,
					 "no answer within %u s from %s%s%s (HttpTimeoutSec= in "
					 "devauthd.conf)",
					 self->timeout_sec, url,
					 self->proxy != NULL ? " through the proxy " : "",
					 self->proxy != NULL ? self->proxy : "");
		return;
	}
	if (owned->domain == DA_OIDC_ERROR ||
	    g_error_matches (owned, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_task_return_error (task, g_steal_pointer (&owned));
		return;
	}
	if (g_task_get_source_object (task) != NULL &&
	    DA_OIDC_CLIENT (g_task_get_source_object (task))->proxy != NULL) {
		DaOidcClient *self = g_task_get_source_object (task);
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_NETWORK,
					 "%s (through the proxy %s)", owned->message, self->proxy);
		return;
	}
	g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_NETWORK, "%s", owned->message);
}

static gboolean
content_type_is_json (SoupMessage *msg)
{
	const gchar *ct = soup_message_headers_get_content_type (
		soup_message_get_response_headers (msg), NULL);
	/* an absent type is tolerated; a wrong one is not */
	return ct == NULL || g_strcmp0 (ct, "application/json") == 0 ||
	       g_str_has_suffix (ct, "+json");
}

/* The IdP's Date (RFC 9110 6.6.1) tells the daemon's clock whether the
 * system's is right: a device without an RTC boots in 1970. */
static void
note_server_date (DaOidcRequest *req)
{
	SoupMessageHeaders *headers = soup_message_get_response_headers (req->msg);
	const gchar *value = soup_message_headers_get_one (headers, "Date");
	g_autoptr(GDateTime) date = NULL;

	req->recv_boot_us = da_clock_boot_us ();
	if (value == NULL)
		return;
	date = soup_date_time_new_from_http_string (value);
	if (date == NULL)
		return;
	da_clock_note_server_time (g_date_time_to_unix (date), req->sent_boot_us, req->recv_boot_us,
				   g_uri_get_host (soup_message_get_uri (req->msg)));
}

/* A token the IdP has just issued was issued no later than now: its iat
 * shows a clock behind the IdP's even where no Date came through. */
static void
note_issued_at (DaOidcRequest *req, const gchar *jwt)
{
	g_autoptr(DaIdClaims) claims = NULL;

	if (jwt == NULL || req->recv_boot_us == 0)
		return;
	claims = da_jwt_unverified_claims (jwt);
	if (claims != NULL)
		da_clock_note_issued_at (claims->iat, req->recv_boot_us,
					 g_uri_get_host (soup_message_get_uri (req->msg)));
}

static void
request_done (GTask *task)
{
	DaOidcRequest *req = g_task_get_task_data (task);
	guint status = soup_message_get_status (req->msg);
	GError *error = NULL;
	gpointer result;

	if (status == 429 || status == 503)
		note_retry_after (g_task_get_source_object (task), req->msg);

	/* the proxy's answer, not the IdP's: 407, or a 401 without a JSON
	 * body right after the proxy got the credentials (tinyproxy answers a
	 * wrong password so; a refused tunnel leaves no body) */
	if (req->client->proxy != NULL &&
	    (status == 407 || (status == 401 && req->proxy_auth_sent &&
			       (req->body->len == 0 || !content_type_is_json (req->msg))))) {
		g_task_return_new_error (
			task, DA_OIDC_ERROR, DA_OIDC_ERROR_NETWORK, "HTTP %u from the proxy %s: %s",
			status, req->client->proxy,
			req->proxy_auth_sent
				? "it refused the credentials of ProxyCredentialsFile="
				: "it asks for credentials (set ProxyCredentialsFile=)");
		return;
	}

	if (req->body->len > 0 && status < 500 && status != 429 &&
	    !content_type_is_json (req->msg)) {
		g_task_return_new_error (
			task, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
			"HTTP %u with a body that is not JSON (%s)", status,
			soup_message_headers_get_content_type (
				soup_message_get_response_headers (req->msg), NULL));
		return;
	}
	result = req->parse (status, (const gchar *) req->body->data, req->body->len, req->extra,
			     &error);
	if (result == NULL) {
		g_task_return_error (task, error);
		return;
	}
	if (req->flags & DA_OIDC_REQUEST_TOKENS) {
		DaOidcTokens *tokens = result;
		note_issued_at (req,
				tokens->id_token != NULL ? tokens->id_token : tokens->access_token);
		/* on the daemon's time as it stands after this answer's Date */
		tokens->requested_at = da_clock_at_boot_us (req->sent_boot_us);
	}
	g_task_return_pointer (task, result, req->free_result);
}

/* Appends to the body, which may hold tokens: a full buffer is not
 * realloc()ed (that would leave a copy behind in freed memory) but copied
 * into one twice as large, and wiped. */
static void
body_append (DaOidcRequest *req, const guint8 *data, gsize len)
{
	if (req->body->len + len > req->body_alloc) {
		gsize alloc = req->body_alloc * 2;
		GByteArray *larger;

		while (alloc < req->body->len + len)
			alloc *= 2;
		larger = g_byte_array_sized_new ((guint) alloc);
		g_byte_array_append (larger, req->body->data, req->body->len);
		da_secret_byte_array_free (req->body);
		req->body = larger;
		req->body_alloc = alloc;
	}
	g_byte_array_append (req->body, data, (guint) len);
}

static void
request_read_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	DaOidcRequest *req = g_task_get_task_data (task);
	g_autoptr(GBytes) chunk = NULL;
	GError *error = NULL;
	gsize len;

	chunk = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), res, &error);
	if (chunk == NULL) {
		request_fail (task, error);
		return;
	}
	len = g_bytes_get_size (chunk);
	if (len == 0) {
		request_done (task);
		return;
	}
	if (req->body->len + len > DA_OIDC_BODY_MAX) {
		gsize wipe_len = 0;
		gpointer data = g_bytes_unref_to_data (g_steal_pointer (&chunk), &wipe_len);
		da_secret_wipe (data, wipe_len);
		g_free (data);
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
					 "response is larger than %d KiB", DA_OIDC_BODY_MAX / 1024);
		return;
	}
	body_append (req, g_bytes_get_data (chunk, NULL), len);
	da_secret_bytes_unref (g_steal_pointer (&chunk));
	g_input_stream_read_bytes_async (req->stream, DA_OIDC_READ_CHUNK, G_PRIORITY_DEFAULT,
					 req->cancellable, request_read_cb,
					 g_steal_pointer (&task));
}

static void
request_send_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	DaOidcRequest *req = g_task_get_task_data (task);
	GError *error = NULL;
	goffset declared;

	req->stream = soup_session_send_finish (SOUP_SESSION (source), res, &error);
	if (req->stream == NULL) {
		request_fail (task, error);
		return;
	}
	note_server_date (req);
	declared = soup_message_headers_get_content_length (
		soup_message_get_response_headers (req->msg));
	if (declared > DA_OIDC_BODY_MAX) {
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
					 "response is larger than %d KiB", DA_OIDC_BODY_MAX / 1024);
		return;
	}
	g_input_stream_read_bytes_async (req->stream, DA_OIDC_READ_CHUNK, G_PRIORITY_DEFAULT,
					 req->cancellable, request_read_cb,
					 g_steal_pointer (&task));
}

static gboolean
request_deadline_cb (gpointer user_data)
{
	DaOidcRequest *req = user_data;

	req->deadline_id = 0;
	req->timed_out = TRUE;
	g_cancellable_cancel (req->cancellable);
	return G_SOURCE_REMOVE;
}

static void
request_caller_cancelled_cb (GCancellable *caller, gpointer user_data)
{
	GCancellable *inner = user_data;
	g_cancellable_cancel (inner);
}

void
da_oidc_request_async (DaOidcClient *self,
		       SoupMessage *msg,
		       DaOidcParseFunc parse,
		       DaOidcRequestFlags flags,
		       GDestroyNotify free_result,
		       const gchar *extra,
		       GCancellable *cancellable,
		       gpointer source_tag,
		       GAsyncReadyCallback callback,
		       gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	DaOidcRequest *req;
	g_autofree gchar *url = g_uri_to_string (soup_message_get_uri (msg));
	gint64 retry_at = da_oidc_client_get_retry_at (self, url);

	g_task_set_source_tag (task, source_tag);
	if (retry_at > 0) {
		g_task_return_new_error (task, DA_OIDC_ERROR, DA_OIDC_ERROR_HTTP,
					 "the IdP asked to wait %" G_GINT64_FORMAT
					 " s more (Retry-After)",
					 retry_at - g_get_real_time () / G_USEC_PER_SEC);
		return;
	}
	req = g_new0 (DaOidcRequest, 1);
	g_task_set_task_data (task, req, (GDestroyNotify) da_oidc_request_free);
	/* a redirect could carry a secret to another host: never follow one */
	soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
	req->msg = g_object_ref (msg);
	req->parse = parse;
	req->flags = flags;
	req->free_result = free_result;
	req->extra = g_strdup (extra);
	req->body = g_byte_array_sized_new (DA_OIDC_BODY_INITIAL);
	req->body_alloc = DA_OIDC_BODY_INITIAL;
	req->sent_boot_us = da_clock_boot_us ();
	g_signal_connect (msg, "wrote-headers", G_CALLBACK (request_wrote_headers_cb), req);
	req->client = self;
	g_signal_connect (msg, "network-event", G_CALLBACK (request_network_event_cb), req);
	if (self->proxy_credentials != NULL)
		g_signal_connect (msg, "authenticate", G_CALLBACK (request_authenticate_cb), req);
	if (self->client_certificate != NULL)
		soup_message_set_tls_client_certificate (msg, self->client_certificate);
	req->cancellable = g_cancellable_new ();
	if (cancellable != NULL) {
		req->caller_cancellable = g_object_ref (cancellable);
		req->caller_handler = g_cancellable_connect (
			cancellable, G_CALLBACK (request_caller_cancelled_cb),
			g_object_ref (req->cancellable), g_object_unref);
	}
	/* before the first TLS connection, the trust that the connections
	 * share (da-tls-trust.c); plain HTTP never loads the TLS backend */
	if (g_strcmp0 (g_uri_get_scheme (soup_message_get_uri (msg)), "https") == 0)
		da_tls_trust_install ();
	/* the session's timeout bounds each read; this bounds the whole exchange */
	req->deadline_id = g_timeout_add_seconds (self->timeout_sec * 2, request_deadline_cb, req);
	soup_session_send_async (self->session, msg, G_PRIORITY_DEFAULT, req->cancellable,
				 request_send_cb, g_steal_pointer (&task));
}

/* application/x-www-form-urlencoded, built in one allocation that is wiped
 * when libsoup is done with it: the form carries secrets. */
static gsize
form_escape (const gchar *s, gchar *out)
{
	static const gchar hex[] = "0123456789ABCDEF";
	gsize n = 0;

	for (; *s != '\0'; s++) {
		guchar c = (guchar) *s;
		if (g_ascii_isalnum (c) || c == '-' || c == '.' || c == '_' || c == '~') {
			if (out != NULL)
				out[n] = (gchar) c;
			n++;
		} else {
			if (out != NULL) {
				out[n] = '%';
				out[n + 1] = hex[c >> 4];
				out[n + 2] = hex[c & 0xf];
			}
			n += 3;
		}
	}
	return n;
}

static void
form_free (gpointer data)
{
	da_secret_free (data);
}

static GBytes *
form_encode (const gchar *const *pairs)
{
	gsize len = 0;
	gsize pos = 0;
	gchar *buf;

	for (guint i = 0; pairs[i] != NULL; i += 2) {
		if (pairs[i + 1] == NULL)
			continue;
		len += form_escape (pairs[i], NULL) + form_escape (pairs[i + 1], NULL) + 2;
	}
	buf = g_malloc (len + 1);
	for (guint i = 0; pairs[i] != NULL; i += 2) {
		if (pairs[i + 1] == NULL)
			continue;
		if (pos > 0)
			buf[pos++] = '&';
		pos += form_escape (pairs[i], buf + pos);
		buf[pos++] = '=';
		pos += form_escape (pairs[i + 1], buf + pos);
	}
	buf[pos] = '\0';
	return g_bytes_new_with_free_func (buf, pos, form_free, buf);
}

DaOidcClientAuth *
da_oidc_client_auth_copy (const DaOidcClientAuth *auth)
{
	DaOidcClientAuth *copy = g_new0 (DaOidcClientAuth, 1);

	copy->client_id = g_strdup (auth->client_id);
	copy->client_secret = auth->client_secret != NULL ? da_secret_new (auth->client_secret)
							  : NULL;
	copy->method = auth->method;
	copy->client_key = auth->client_key != NULL ? da_secret_new (auth->client_key) : NULL;
	copy->key_id = g_strdup (auth->key_id);
	copy->audience = g_strdup (auth->audience);
	return copy;
}

void
da_oidc_client_auth_free (DaOidcClientAuth *auth)
{
	if (auth == NULL)
		return;
	g_free ((gchar *) auth->client_id);
	da_secret_free ((DaSecret *) auth->client_secret);
	da_secret_free ((DaSecret *) auth->client_key);
	g_free ((gchar *) auth->key_id);
	g_free ((gchar *) auth->audience);
	g_free (auth);
}

/* RFC 6749 2.3.1: the id and the secret, each form-encoded, in HTTP Basic */
static gchar *
basic_credentials (const DaOidcClientAuth *auth)
{
	gsize id_len = form_escape (auth->client_id, NULL);
	gsize secret_len = form_escape (auth->client_secret, NULL);
	gsize len = id_len + 1 + secret_len;
	gchar *raw = g_malloc (len + 1);
	g_autofree gchar *b64 = NULL;
	gchar *header;

	form_escape (auth->client_id, raw);
	raw[id_len] = ':';
	form_escape (auth->client_secret, raw + id_len + 1);
	raw[len] = '\0';
	b64 = g_base64_encode ((const guchar *) raw, len);
	da_secret_wipe (raw, len);
	g_free (raw);
	header = g_strconcat ("Basic ", b64, NULL);
	da_secret_wipe (b64, strlen (b64));
	return header;
}

/* A form POST with the client's authentication (ClientAuthMethod=):
 * client_secret_post (the secret in the form, the only one a public client
 * sends: its id), client_secret_basic, or private_key_jwt (an assertion,
 * RFC 7523 3). Pairs with a NULL value are left
 * out. NULL with @error for a bad URL or an assertion that cannot be made. */
SoupMessage *
da_oidc_form_message_new (const gchar *endpoint,
			  const DaOidcClientAuth *auth,
			  const gchar *const *pairs,
			  GError **error)
{
	g_autoptr(SoupMessage) msg = soup_message_new ("POST", endpoint);
	g_autoptr(GPtrArray) all = g_ptr_array_new ();
	g_autoptr(GBytes) body = NULL;
	g_autoptr(GError) error_local = NULL;
	DaSecret *assertion = NULL;

	if (msg == NULL) {
		g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED, "'%s' is not a URL",
			     endpoint);
		return NULL;
	}
	for (guint i = 0; pairs[i] != NULL; i += 2) {
		g_ptr_array_add (all, (gpointer) pairs[i]);
		g_ptr_array_add (all, (gpointer) pairs[i + 1]);
	}
	switch (auth->method) {
	case DA_CLIENT_AUTH_SECRET_BASIC:
		if (auth->client_secret != NULL) {
			g_autofree gchar *header = basic_credentials (auth);
			soup_message_headers_replace (soup_message_get_request_headers (msg),
						      "Authorization", header);
			da_secret_wipe (header, strlen (header));
			break;
		}
		/* a public client: its id in the form */
		g_ptr_array_add (all, (gpointer) "client_id");
		g_ptr_array_add (all, (gpointer) auth->client_id);
		break;
	case DA_CLIENT_AUTH_PRIVATE_KEY_JWT:
		assertion =
			da_client_assertion_new (auth->client_key, auth->key_id, auth->client_id,
						 auth->audience != NULL ? auth->audience : endpoint,
						 da_clock_now_sec (), &error_local);
		if (assertion == NULL) {
			g_set_error (error, DA_OIDC_ERROR, DA_OIDC_ERROR_MALFORMED,
				     "cannot make the client assertion (private_key_jwt): %s",
				     error_local->message);
			return NULL;
		}
		g_ptr_array_add (all, (gpointer) "client_id");
		g_ptr_array_add (all, (gpointer) auth->client_id);
		g_ptr_array_add (all, (gpointer) "client_assertion_type");
		g_ptr_array_add (
			all, (gpointer) "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
		g_ptr_array_add (all, (gpointer) "client_assertion");
		g_ptr_array_add (all, assertion);
		break;
	case DA_CLIENT_AUTH_TLS:
		/* the certificate speaks for the client (RFC 8705 2): its id alone */
		g_ptr_array_add (all, (gpointer) "client_id");
		g_ptr_array_add (all, (gpointer) auth->client_id);
		break;
	case DA_CLIENT_AUTH_SECRET_POST:
	case DA_CLIENT_AUTH_AUTO:
	default:
		g_ptr_array_add (all, (gpointer) "client_id");
		g_ptr_array_add (all, (gpointer) auth->client_id);
		g_ptr_array_add (all, (gpointer) "client_secret");
		g_ptr_array_add (all, (gpointer) auth->client_secret);
		break;
	}
	g_ptr_array_add (all, NULL);
	body = form_encode ((const gchar *const *) all->pdata);
	da_secret_free (assertion);
	soup_message_set_request_body_from_bytes (msg, "application/x-www-form-urlencoded", body);
	soup_message_headers_replace (soup_message_get_request_headers (msg), "Accept",
				      "application/json");
	return g_steal_pointer (&msg);
}

void
da_oidc_return_error (DaOidcClient *self,
		      GError *error,
		      gpointer source_tag,
		      GAsyncReadyCallback callback,
		      gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
	g_task_set_source_tag (task, source_tag);
	g_task_return_error (task, error);
}
