/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-secret.h"

G_BEGIN_DECLS

/* Everything that talks HTTP or reads JSON from the identity provider lives
 * in da-oidc.c, da-oidc-request.c and da-oidc-parse.c; the rest of the
 * daemon sees only these plain structs. */

#define DA_OIDC_BODY_MAX (64 * 1024)

#define DA_OIDC_ERROR (da_oidc_error_quark ())

typedef enum {
	DA_OIDC_ERROR_AUTHORIZATION_PENDING, /* RFC 8628 3.5 */
	DA_OIDC_ERROR_SLOW_DOWN,
	DA_OIDC_ERROR_ACCESS_DENIED,
	DA_OIDC_ERROR_EXPIRED_TOKEN,
	DA_OIDC_ERROR_INVALID_GRANT, /* RFC 6749 5.2 */
	DA_OIDC_ERROR_PROTOCOL,	     /* any other OAuth error response */
	DA_OIDC_ERROR_HTTP,	     /* an HTTP status without an OAuth error */
	DA_OIDC_ERROR_NETWORK,	     /* no answer: DNS, connect, TLS, timeout */
	DA_OIDC_ERROR_MALFORMED,     /* an answer that is not what the RFCs say */
} DaOidcError;

GQuark
da_oidc_error_quark (void);

typedef struct {
	gchar *issuer;
	gchar *device_authorization_endpoint;
	gchar *token_endpoint;
	gchar *revocation_endpoint;
	gchar *userinfo_endpoint;
	gchar *jwks_uri; /* the keys that sign ID tokens; NULL without discovery */
	/* token_endpoint_auth_methods_supported; NULL: not said */
	gchar **token_endpoint_auth_methods;
} DaOidcEndpoints;

typedef struct {
	DaSecret *device_code;
	gchar *user_code;
	gchar *verification_uri;
	gchar *verification_uri_complete;
	gint64 expires_in;
	guint interval; /* 0 when the IdP sent none */
} DaOidcDeviceAuth;

typedef struct {
	DaSecret *access_token;
	DaSecret *refresh_token; /* NULL when the IdP sent none */
	DaSecret *id_token;
	gchar *token_type;
	gchar *scope;
	/* seconds the access token lasts; -1 when the IdP sent none (0 is
	 * Keycloak's in the last second of an SSO session) */
	gint64 expires_in;
	/* Keycloak's "refresh_expires_in": seconds the refresh token lasts; 0
	 * when it has no end (offline tokens); -1 when the IdP sent none */
	gint64 refresh_expires_in;
	gint64 requested_at; /* da_clock_now_us (), when the request was sent */
} DaOidcTokens;

/* How a client proves itself at the token and revocation endpoints
 * (ClientAuthMethod=, RFC 6749 2.3.1, RFC 7523) */
typedef enum {
	DA_CLIENT_AUTH_SECRET_POST,	/* the secret in the form; none for a public client */
	DA_CLIENT_AUTH_SECRET_BASIC,	/* the secret in HTTP Basic */
	DA_CLIENT_AUTH_PRIVATE_KEY_JWT, /* a signed assertion */
	DA_CLIENT_AUTH_TLS,  /* RFC 8705: the client's certificate in the TLS handshake */
	DA_CLIENT_AUTH_AUTO, /* configuration only: chosen from discovery */
} DaClientAuthMethod;

typedef struct {
	const gchar *client_id;
	const gchar *client_secret; /* NULL for public clients */
	DaClientAuthMethod method;  /* never AUTO */
	const DaSecret *client_key; /* PEM, for private_key_jwt */
	const gchar *key_id;	    /* the assertion's kid; NULL: none */
	/* the assertion's aud: the token endpoint's URL, whatever endpoint is
	 * called (OIDC Core 9; what Keycloak and oidc-provider take); NULL:
	 * the endpoint called */
	const gchar *audience;
} DaOidcClientAuth;

/* a copy that owns its strings (the secret and key wiped when freed) */
DaOidcClientAuth *
da_oidc_client_auth_copy (const DaOidcClientAuth *auth);
void
da_oidc_client_auth_free (DaOidcClientAuth *auth);

DaOidcEndpoints *
da_oidc_endpoints_new (void);
DaOidcEndpoints *
da_oidc_endpoints_ref (DaOidcEndpoints *self);
DaOidcEndpoints *
da_oidc_endpoints_copy (const DaOidcEndpoints *self);
void
da_oidc_endpoints_unref (DaOidcEndpoints *self);
void
da_oidc_device_auth_free (DaOidcDeviceAuth *self);
void
da_oidc_tokens_free (DaOidcTokens *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaOidcEndpoints, da_oidc_endpoints_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaOidcDeviceAuth, da_oidc_device_auth_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaOidcTokens, da_oidc_tokens_free)

/* Parsers of what the IdP sends (pure functions; fuzzed). */
DaOidcEndpoints *
da_oidc_parse_discovery (const gchar *data,
			 gsize len,
			 const gchar *expected_issuer,
			 GError **error);
DaOidcDeviceAuth *
da_oidc_parse_device_auth (guint status, const gchar *data, gsize len, GError **error);
DaOidcTokens *
da_oidc_parse_tokens (guint status, const gchar *data, gsize len, GError **error);
gboolean
da_oidc_parse_revocation (guint status, const gchar *data, gsize len, GError **error);

/* PKCE (RFC 7636) */
DaSecret *
da_oidc_pkce_verifier_new (void);
gchar *
da_oidc_pkce_challenge (const gchar *verifier);

/* The HTTP client: one SoupSession for the whole daemon. */
#define DA_TYPE_OIDC_CLIENT (da_oidc_client_get_type ())
G_DECLARE_FINAL_TYPE (DaOidcClient, da_oidc_client, DA, OIDC_CLIENT, GObject)

/* devauthd's DaIdp (da-idp.h): requests over HTTP. */
DaOidcClient *
da_oidc_client_new (guint timeout_sec);
/* A client that trusts the CA in @ca_file alone (not the system's store)
 * for every request it makes. */
DaOidcClient *
da_oidc_client_new_with_ca (guint timeout_sec, const gchar *ca_file, GError **error);
/* Proxy= (da_proxy_is_valid; NULL or "": direct) and the USER:PASSWORD
 * the proxy gets when it asks (taken; NULL: none) */
void
da_oidc_client_set_proxy (DaOidcClient *self, const gchar *proxy, DaSecret *credentials);
/* tls_client_auth: the certificate (with its key) every request of this
 * client shows when the server asks */
void
da_oidc_client_set_certificate (DaOidcClient *self, GTlsCertificate *certificate);

G_END_DECLS
