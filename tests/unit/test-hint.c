/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hints after an IdP's refusal (da-hint.c), for the texts the real
 * Keycloak sends (tests/keycloak/README.md). */

#include "config.h"

#include <glib.h>
#include <string.h>

#include "da-hint.h"

static void
assert_hint (DaHintRequest request,
	     const gchar *message,
	     gboolean has_secret,
	     gboolean pkce,
	     const gchar *expected_part)
{
	DaHintClient client = {"tv-device", has_secret, pkce};
	g_autofree gchar *hint = da_hint_for_refusal (request, message, &client);

	if (expected_part == NULL) {
		g_assert_null (hint);
		return;
	}
	g_assert_nonnull (hint);
	if (strstr (hint, expected_part) == NULL)
		g_error ("hint for %s: %s (expected %s)", message, hint, expected_part);
}

static void
test_hint_device_request (void)
{
	assert_hint (DA_HINT_DEVICE_REQUEST,
		     "unauthorized_client (Client is not allowed to initiate OAuth 2.0 Device "
		     "Authorization Grant. The flow is disabled for the client.)",
		     FALSE, FALSE, "Capability config");
	assert_hint (DA_HINT_DEVICE_REQUEST,
		     "invalid_request (Missing parameter: code_challenge_method)", FALSE, FALSE,
		     "Pkce=yes");
	/* with PKCE on, a missing challenge is not the admin's to fix */
	assert_hint (DA_HINT_DEVICE_REQUEST,
		     "invalid_request (Missing parameter: code_challenge_method)", FALSE, TRUE,
		     NULL);
	assert_hint (DA_HINT_DEVICE_REQUEST,
		     "unauthorized_client (Invalid client or Invalid client credentials)", FALSE,
		     FALSE, "ClientSecretFile=");
	assert_hint (DA_HINT_DEVICE_REQUEST,
		     "unauthorized_client (Invalid client or Invalid client credentials)", TRUE,
		     FALSE, "refused the client secret");
	assert_hint (DA_HINT_DEVICE_REQUEST,
		     "invalid_client (Invalid client or Invalid client credentials)", FALSE, FALSE,
		     "ClientId=");
	assert_hint (DA_HINT_DEVICE_REQUEST, "invalid_scope", FALSE, FALSE, "Scopes=");
	/* the hint names the client */
	assert_hint (DA_HINT_DEVICE_REQUEST, "invalid_scope", FALSE, FALSE, "tv-device");
}

static void
test_hint_poll_and_refresh (void)
{
	assert_hint (DA_HINT_DEVICE_POLL,
		     "not_allowed (Offline tokens not allowed for the user or client)", FALSE, TRUE,
		     "offline_access");
	assert_hint (DA_HINT_REFRESH,
		     "invalid_grant (Maximum allowed refresh token reuse exceeded)", FALSE, TRUE,
		     "Max Reuse to 1");
	assert_hint (DA_HINT_REFRESH, "invalid_grant (Session not active)", FALSE, TRUE,
		     "offline_access");
	assert_hint (DA_HINT_REFRESH, "invalid_grant (Offline user session not found)", FALSE, TRUE,
		     "Offline Session Idle");
	assert_hint (DA_HINT_REFRESH, "invalid_grant (Session doesn't have required client)", FALSE,
		     TRUE, "client's session");
}

static void
test_hint_none (void)
{
	/* another request, another IdP's words, nothing, or a prefix only */
	assert_hint (DA_HINT_REFRESH,
		     "not_allowed (Offline tokens not allowed for the user or client)", FALSE, TRUE,
		     NULL);
	assert_hint (DA_HINT_REFRESH, "invalid_grant (grant request is invalid)", FALSE, TRUE,
		     NULL);
	assert_hint (DA_HINT_DEVICE_REQUEST, "invalid_requestx (code_challenge)", FALSE, FALSE,
		     NULL);
	assert_hint (DA_HINT_DEVICE_REQUEST, "invalid", FALSE, FALSE, NULL);
	assert_hint (DA_HINT_DEVICE_REQUEST, "", FALSE, FALSE, NULL);
	assert_hint (DA_HINT_DEVICE_REQUEST, NULL, FALSE, FALSE, NULL);
	/* a description that only names a hint's words is not the error */
	assert_hint (DA_HINT_DEVICE_POLL, "access_denied (not_allowed Offline tokens)", FALSE, TRUE,
		     NULL);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/hint/device-request", test_hint_device_request);
	g_test_add_func ("/hint/poll-and-refresh", test_hint_poll_and_refresh);
	g_test_add_func ("/hint/none", test_hint_none);
	return g_test_run ();
}
