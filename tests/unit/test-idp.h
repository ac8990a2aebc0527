/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "da-idp.h"

/* An IdP that answers from a script, after a latency on the test clock
 * (test-clock.h), and writes down what it was asked.
 *
 * Each request takes the next reply queued for its kind; with none queued:
 * discovery gives endpoints under TEST_IDP_ISSUER, a device authorization
 * gives user code "WDJB-MJHT" for 600 s at interval 5, a poll gives
 * authorization_pending, a refresh gives fresh tokens ("access-N",
 * "refresh-N", 300 s), a revocation succeeds. */
#define TEST_IDP_ISSUER "https://idp.test/realms/demo"

typedef enum {
	TEST_IDP_DISCOVER,
	TEST_IDP_DEVICE_AUTH,
	TEST_IDP_POLL,
	TEST_IDP_REFRESH,
	TEST_IDP_REVOKE,
	TEST_IDP_JWKS,
	TEST_IDP_N_KINDS,
} TestIdpKind;

typedef struct {
	TestIdpKind kind;
	gdouble at_sec;	   /* test_clock_elapsed_sec () when asked */
	gchar *credential; /* the device code, refresh token or revoked token sent */
} TestIdpRequest;

#define TEST_TYPE_IDP (test_idp_get_type ())
G_DECLARE_FINAL_TYPE (TestIdp, test_idp, TEST, IDP, GObject)

TestIdp *
test_idp_new (void);
/* how long each answer takes on the test clock; 0 by default */
void
test_idp_set_latency_ms (TestIdp *self, guint latency_ms);
/* what get_retry_at says for the token endpoint (wall-clock seconds) */
void
test_idp_set_retry_at (TestIdp *self, gint64 retry_at);

/* Tokens for a poll or a refresh: @refresh NULL gives none;
 * @refresh_expires_in -1 leaves the field out. */
void
test_idp_push_tokens (TestIdp *self,
		      TestIdpKind kind,
		      const gchar *access,
		      const gchar *refresh,
		      gint64 expires_in,
		      gint64 refresh_expires_in);
void
test_idp_push_error (TestIdp *self, TestIdpKind kind, DaOidcError code, const gchar *message);
void
test_idp_push_device_auth (TestIdp *self,
			   const gchar *user_code,
			   gint64 expires_in,
			   guint interval);

/* the requests of @kind so far, in order (of TestIdpRequest) */
GPtrArray *
test_idp_requests (TestIdp *self, TestIdpKind kind);
guint
test_idp_count (TestIdp *self, TestIdpKind kind);
