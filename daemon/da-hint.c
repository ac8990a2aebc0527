/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What an admin can change after the IdP refused a request: one sentence
 * that names devauthd's key, or the IdP's setting as Keycloak names it.
 * The refusals and their texts are those the real Keycloak sends
 * (tests/keycloak/README.md lists them); another IdP's refusal gets a hint
 * only where its OAuth error alone says enough. */

#include "config.h"

#include <string.h>

#include "da-hint.h"

typedef struct {
	DaHintRequest request;
	const gchar *error;	  /* the OAuth error code */
	const gchar *description; /* a part of error_description, or NULL for any */
	gint has_secret;	  /* 1, 0, or -1 for either */
	const gchar *hint;	  /* %s: the client id */
} DaHint;

static const DaHint hints[] = {
	{DA_HINT_DEVICE_REQUEST, "unauthorized_client", "Device Authorization Grant", -1,
	 "turn on \"OAuth 2.0 Device Authorization Grant\" for the client %s at the IdP "
	 "(Keycloak: Clients → %s → Settings → Capability config)"},
	{DA_HINT_DEVICE_REQUEST, "invalid_request", "code_challenge", -1,
	 "the client %s requires PKCE: set Pkce=yes in the account's file"},
	{DA_HINT_DEVICE_REQUEST, "unauthorized_client", "client credentials", 0,
	 "the client %s is confidential or unknown: check ClientId=, and give a confidential "
	 "client its secret with ClientSecretFile= or ClientSecretCredential="},
	{DA_HINT_DEVICE_REQUEST, "unauthorized_client", "client credentials", 1,
	 "the IdP refused the client secret of %s: check the file of ClientSecretFile= "
	 "(Keycloak: Clients → %s → Credentials)"},
	{DA_HINT_ANY, "invalid_client", "signed JWT", -1,
	 "the IdP refused the client assertion of %s: ClientKeyFile= must hold the key of the "
	 "certificate or JWKS the IdP has for the client (Keycloak: Clients → %s → Keys)"},
	{DA_HINT_DEVICE_REQUEST, "invalid_client", NULL, 0,
	 "the IdP does not know the client %s: check ClientId= (Keycloak: Clients)"},
	{DA_HINT_DEVICE_REQUEST, "invalid_client", NULL, 1,
	 "the IdP refused the client %s: check ClientId= and the client secret"},
	{DA_HINT_ANY, "invalid_scope", NULL, -1,
	 "a scope of Scopes= is not available to the client %s (Keycloak: Clients → %s → "
	 "Client scopes)"},
	{DA_HINT_CLIENT_CREDENTIALS, "unauthorized_client", "Invalid client credentials", -1,
	 "the IdP refused the secret of the client %s: check the file of ClientSecretFile= "
	 "(Keycloak: Clients → %s → Credentials)"},
	{DA_HINT_CLIENT_CREDENTIALS, "unauthorized_client", NULL, -1,
	 "the client %s may not use the client_credentials grant: turn on service accounts "
	 "for it at the IdP (Keycloak: Clients → %s → Settings → Capability config → "
	 "\"Service accounts roles\")"},
	{DA_HINT_CLIENT_CREDENTIALS, "invalid_client", NULL, -1,
	 "the IdP refused the client %s or its secret: check ClientId= and the file of "
	 "ClientSecretFile= (Keycloak: Clients → %s → Credentials)"},
	{DA_HINT_DEVICE_POLL, "not_allowed", "Offline tokens", -1,
	 "the user may not have offline tokens: give the user the role offline_access (Keycloak: "
	 "Realm settings → User registration → Default roles), or drop offline_access from "
	 "Scopes=, and then the sign-in ends with the IdP's browser session"},
	{DA_HINT_REFRESH, "invalid_grant", "reuse exceeded", -1,
	 "a refresh token was sent twice and the realm then ended the sign-in; a reply lost on "
	 "the network or a crash at the wrong moment does that when \"Revoke Refresh Token\" is "
	 "on with \"Refresh Token Max Reuse\" 0: set Max Reuse to 1 (Keycloak: Realm settings → "
	 "Tokens)"},
	{DA_HINT_REFRESH, "invalid_grant", "Session not active", -1,
	 "the IdP's session ended (Keycloak: \"SSO Session Idle\"/\"SSO Session Max\", or a "
	 "sign-out); with offline_access in Scopes= the device stays signed in past it"},
	{DA_HINT_REFRESH, "invalid_grant", "Token is not active", -1,
	 "the refresh token expired (Keycloak: \"SSO Session Idle\"/\"SSO Session Max\", or "
	 "\"Offline Session Idle\" with offline_access)"},
	{DA_HINT_REFRESH, "invalid_grant", "Offline user session not found", -1,
	 "the offline session was revoked or expired (Keycloak: \"Offline Session Idle\", or the "
	 "user's Sessions/Consents tab)"},
	{DA_HINT_REFRESH, "invalid_grant", "required client", -1,
	 "the IdP ended the client's session (a reused refresh token, or a sign-out of another "
	 "device of the same browser session)"},
};

/* @message is a DA_OIDC_ERROR's text, "error (error_description)", as
 * error_from_response() in da-oidc-parse.c writes it. */
gchar *
da_hint_for_refusal (DaHintRequest request, const gchar *message, const DaHintClient *client)
{
	gsize name_len;

	if (message == NULL)
		return NULL;
	name_len = strcspn (message, " ");
	/* with tls_client_auth, the certificate is what the client is known by */
	if (client->certificate && name_len == strlen ("invalid_client") &&
	    strncmp (message, "invalid_client", name_len) == 0)
		return g_strdup_printf (
			"the IdP refused the client certificate of %s: ClientCertificateFile= must "
			"be the certificate the IdP has for the client, of a CA it trusts "
			"(Keycloak: Clients → %s → Credentials → X509 Certificate, its Subject DN)",
			client->client_id, client->client_id);
	for (gsize i = 0; i < G_N_ELEMENTS (hints); i++) {
		const DaHint *h = &hints[i];
		if ((h->request != request && h->request != DA_HINT_ANY) ||
		    strlen (h->error) != name_len || strncmp (message, h->error, name_len) != 0)
			continue;
		if (h->description != NULL && strstr (message + name_len, h->description) == NULL)
			continue;
		if (h->has_secret >= 0 && h->has_secret != (client->has_secret ? 1 : 0))
			continue;
		if (h->request == DA_HINT_DEVICE_REQUEST &&
		    g_str_equal (h->error, "invalid_request") && client->pkce)
			continue;
			/* every hint names the client at most twice */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		return g_strdup_printf (h->hint, client->client_id, client->client_id);
#pragma GCC diagnostic pop
	}
	return NULL;
}
