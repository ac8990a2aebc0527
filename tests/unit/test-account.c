/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* DaAccount and DaFlow on a test clock against a scripted IdP: the device
 * flow's polling, expiry and renewal; the refresh schedule, single flight,
 * backoff and Retry-After; the sign-in kept on disk across a restart. No
 * bus, no network, no waiting: hours pass in milliseconds. */
#include "config.h"

#include <glib/gstdio.h>

#include "da-account-private.h"
#include "da-error.h"
#include "test-clock.h"
#include "test-idp.h"

#define KEY "0123456789abcdef0123456789abcdef"

typedef struct {
	gchar *dir;
	TestIdp *idp;
	DaVault *vault;
	DaAccount *account;
	GPtrArray *statuses; /* of gchar*: "state kind[:error]" for each status-changed */
} Fixture;

static const gchar *const status_kinds[] = {"empty", "prompt", "signed-in", "failure"};

static void
status_changed_cb (DaAccount *account, const gchar *state, const DaStatus *status, Fixture *f)
{
	g_ptr_array_add (f->statuses,
			 g_strdup_printf ("%s %s%s%s", state, status_kinds[status->kind],
					  status->error != NULL ? ":" : "",
					  status->error != NULL ? status->error : ""));
}

static void
account_open (Fixture *f, const gchar *extra_config)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = g_strdup_printf (
		"[Account]\nIssuer=" TEST_IDP_ISSUER "\nClientId=tv\n%s", extra_config);
	DaAccountConfig *config =
		da_account_config_load_from_data ("tv", NULL, text, strlen (text), &error);

	g_assert_no_error (error);
	g_clear_object (&f->account);
	f->account = da_account_new (config, DA_IDP (f->idp), NULL, f->vault);
	g_signal_connect (f->account, "status-changed", G_CALLBACK (status_changed_cb), f);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	test_clock_install ();
	f->dir = g_dir_make_tmp ("devauthd-account-XXXXXX", &error);
	g_assert_no_error (error);
	f->vault = da_vault_new (f->dir, (const guint8 *) KEY, strlen (KEY), &error);
	g_assert_no_error (error);
	f->idp = test_idp_new ();
	f->statuses = g_ptr_array_new_with_free_func (g_free);
	account_open (f, data != NULL ? data : "");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
	g_autoptr(GDir) dir = NULL;
	const gchar *name;

	g_clear_object (&f->account);
	test_clock_uninstall ();
	g_clear_object (&f->idp);
	da_vault_free (f->vault);
	dir = g_dir_open (f->dir, 0, NULL);
	while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
		g_autofree gchar *path = g_build_filename (f->dir, name, NULL);
		g_unlink (path);
	}
	g_rmdir (f->dir);
	g_free (f->dir);
	g_ptr_array_unref (f->statuses);
}

static void
store_result_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	*(GAsyncResult **) user_data = g_object_ref (res);
}

static DaStatus *
login (Fixture *f, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;

	da_account_login_async (f->account, NULL, store_result_cb, &res);
	test_clock_run ();
	g_assert_nonnull (res);
	return da_account_login_finish (f->account, res, error);
}

static const gchar *
state (Fixture *f)
{
	return da_account_state_to_string (da_account_get_state (f->account));
}

static const gchar *
last_status (Fixture *f)
{
	g_assert_cmpuint (f->statuses->len, >, 0);
	return g_ptr_array_index (f->statuses, f->statuses->len - 1);
}

/* the access token a GetToken with @min_validity would get from the cache,
 * or "" */
static gchar *
cached (Fixture *f, guint min_validity)
{
	g_autoptr(DaToken) token = da_account_get_cached_token (f->account, min_validity);

	return g_strdup (token != NULL ? token->token : "");
}

/* Signs in: the first poll (after the interval of 5 s) gets the tokens. */
static void
sign_in (Fixture *f, gint64 expires_in, gint64 refresh_expires_in)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaStatus) prompt = login (f, &error);

	g_assert_no_error (error);
	test_idp_push_tokens (f->idp, TEST_IDP_POLL, "access-0", "refresh-0", expires_in,
			      refresh_expires_in);
	test_clock_advance_sec (5);
	g_assert_cmpstr (state (f), ==, "signed-in");
}

static gdouble
request_at (Fixture *f, TestIdpKind kind, guint i)
{
	GPtrArray *requests = test_idp_requests (f->idp, kind);

	g_assert_cmpuint (i, <, requests->len);
	return ((TestIdpRequest *) g_ptr_array_index (requests, i))->at_sec;
}

static const gchar *
request_credential (Fixture *f, TestIdpKind kind, guint i)
{
	GPtrArray *requests = test_idp_requests (f->idp, kind);

	g_assert_cmpuint (i, <, requests->len);
	return ((TestIdpRequest *) g_ptr_array_index (requests, i))->credential;
}

/* ---- the device flow ---- */

/* RFC 8628 3.5: polls at the interval; slow_down adds 5 s for good. */
static void
test_flow_interval (Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaStatus) prompt = NULL;
	g_autofree gchar *token = NULL;
	const gdouble expected[] = {5, 10, 20, 30};

	test_idp_push_error (f->idp, TEST_IDP_POLL, DA_OIDC_ERROR_AUTHORIZATION_PENDING, "pending");
	test_idp_push_error (f->idp, TEST_IDP_POLL, DA_OIDC_ERROR_SLOW_DOWN, "slow_down");
	test_idp_push_error (f->idp, TEST_IDP_POLL, DA_OIDC_ERROR_AUTHORIZATION_PENDING, "pending");
	test_idp_push_tokens (f->idp, TEST_IDP_POLL, "access-0", "refresh-0", 300, 0);

	prompt = login (f, &error);
	g_assert_no_error (error);
	g_assert_cmpint (prompt->kind, ==, DA_STATUS_PROMPT);
	g_assert_cmpstr (prompt->user_code, ==, "WDJB-MJHT");
	g_assert_cmpuint (prompt->interval, ==, 5);
	g_assert_cmpint (prompt->expires_at, ==, TEST_CLOCK_START_SEC + 600);
	g_assert_cmpstr (state (f), ==, "awaiting-user");

	test_clock_advance_sec (29);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_POLL), ==, 3);
	g_assert_cmpstr (state (f), ==, "awaiting-user");
	test_clock_advance_sec (1);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_POLL), ==, 4);
	for (guint i = 0; i < G_N_ELEMENTS (expected); i++) {
		g_assert_cmpfloat (request_at (f, TEST_IDP_POLL, i), ==, expected[i]);
		g_assert_cmpstr (request_credential (f, TEST_IDP_POLL, i), ==, "device-code");
	}
	g_assert_cmpstr (state (f), ==, "signed-in");
	g_assert_cmpstr (last_status (f), ==, "signed-in signed-in");
	token = cached (f, 30);
	g_assert_cmpstr (token, ==, "access-0");

	/* the device code is never sent again */
	test_clock_advance_sec (100);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_POLL), ==, 4);
}

/* A network failure backs off (doubling the interval), then polling goes
 * on at the interval. */
static void
test_flow_network_backoff (Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaStatus) prompt = NULL;
	const gdouble expected[] = {5, 15, 35, 40};

	test_idp_push_error (f->idp, TEST_IDP_POLL, DA_OIDC_ERROR_NETWORK, "connection refused");
	test_idp_push_error (f->idp, TEST_IDP_POLL, DA_OIDC_ERROR_NETWORK, "connection refused");
	test_idp_push_error (f->idp, TEST_IDP_POLL, DA_OIDC_ERROR_AUTHORIZATION_PENDING, "pending");
	prompt = login (f, &error);
	g_assert_no_error (error);
	test_clock_advance_sec (40);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_POLL), ==, 4);
	for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
		g_assert_cmpfloat (request_at (f, TEST_IDP_POLL, i), ==, expected[i]);
	g_assert_cmpstr (state (f), ==, "awaiting-user");
	g_assert_true (da_account_cancel_login (f->account, &error));
	g_assert_no_error (error);
	g_assert_cmpstr (last_status (f), ==, "signed-out failure:cancelled");
}

/* The code's end is reported at the code's end, and nothing is polled
 * after it. */
static void
test_flow_expiry (Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaStatus) prompt = NULL;

	test_idp_push_device_auth (f->idp, "FIRST-CODE", 12, 5);
	prompt = login (f, &error);
	g_assert_no_error (error);
	test_clock_advance_sec (11);
	g_assert_cmpstr (state (f), ==, "awaiting-user");
	test_clock_advance_sec (1);
	g_assert_cmpstr (state (f), ==, "signed-out");
	g_assert_cmpstr (last_status (f), ==, "signed-out failure:expired");
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_POLL), ==, 2);
	test_clock_advance_sec (600);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_POLL), ==, 2);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_DEVICE_AUTH), ==, 1);
}

/* AutoLogin=yes: an expired code is replaced by a fresh one at once. */
static void
test_flow_renewal (Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaStatus) prompt = NULL;
	g_autoptr(DaStatus) again = NULL;

	test_idp_push_device_auth (f->idp, "FIRST-CODE", 12, 5);
	test_idp_push_device_auth (f->idp, "SECOND-CODE", 600, 5);
	da_account_auto_login (f->account);
	test_clock_run ();
	g_assert_cmpstr (state (f), ==, "awaiting-user");
	g_assert_cmpstr (last_status (f), ==, "awaiting-user prompt");

	test_clock_advance_sec (12);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_DEVICE_AUTH), ==, 2);
	g_assert_cmpfloat (request_at (f, TEST_IDP_DEVICE_AUTH, 1), ==, 12);
	g_assert_cmpstr (state (f), ==, "awaiting-user");
	g_assert_cmpuint (f->statuses->len, ==, 3);
	g_assert_cmpstr (g_ptr_array_index (f->statuses, 1), ==, "signed-out failure:expired");
	g_assert_cmpstr (last_status (f), ==, "awaiting-user prompt");

	/* a caller joins the running flow and sees the new code */
	again = login (f, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (again->user_code, ==, "SECOND-CODE");
	g_assert_cmpint (again->expires_at, ==, TEST_CLOCK_START_SEC + 12 + 600);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_DEVICE_AUTH), ==, 2);
	g_assert_true (da_account_cancel_login (f->account, &error));
}

/* ---- refreshes ---- */

/* At 75% of each token's life, -10% .. +5% of jitter, and never twice
 * for one token; a token is always there for a caller who asks for 30 s. */
static void
test_refresh_schedule (Fixture *f, gconstpointer data)
{
	gdouble previous = 5;
	gboolean jittered = FALSE;
	gdouble first_gap = 0;

	sign_in (f, 300, 0);
	for (guint i = 0; i < 20; i++) {
		for (guint s = 0; s < 300 && test_idp_count (f->idp, TEST_IDP_REFRESH) == i; s++) {
			g_autofree gchar *token = cached (f, 30);
			g_assert_cmpstr (token, !=, "");
			test_clock_advance_sec (1);
		}
		g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, i + 1);
		{
			gdouble at = request_at (f, TEST_IDP_REFRESH, i);
			gdouble gap = at - previous;
			const gchar *sent = request_credential (f, TEST_IDP_REFRESH, i);
			g_autofree gchar *expected = g_strdup_printf ("refresh-%u", i);

			g_assert_cmpfloat (gap, >=, 195);
			g_assert_cmpfloat (gap, <=, 240);
			/* the rotated refresh token is the one sent */
			g_assert_cmpstr (sent, ==, expected);
			if (i == 0)
				first_gap = gap;
			else if (gap != first_gap)
				jittered = TRUE;
			previous = at;
		}
	}
	g_assert_true (jittered);
	g_assert_cmpstr (state (f), ==, "signed-in");
}

/* The IdP announced when the sign-in ends (refresh_expires_in): the refresh
 * comes right after that, not at 75% of the access token, and says at that
 * moment that the person must sign in again. */
static void
test_refresh_sign_in_end (Fixture *f, gconstpointer data)
{
	sign_in (f, 300, 120);
	test_idp_push_error (f->idp, TEST_IDP_REFRESH, DA_OIDC_ERROR_INVALID_GRANT,
			     "invalid_grant: Session not active");
	test_clock_advance_sec (120);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 0);
	test_clock_advance_sec (1);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 1);
	g_assert_cmpfloat (request_at (f, TEST_IDP_REFRESH, 0), ==, 5 + 120 + 1);
	g_assert_cmpstr (state (f), ==, "reauth-required");
	g_assert_cmpstr (last_status (f), ==, "reauth-required failure:reauth-required");
	{
		g_autofree gchar *token = cached (f, 0);
		g_assert_cmpstr (token, ==, "");
	}
	/* nothing more is asked of the IdP */
	test_clock_advance_sec (3600);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 1);
}

typedef struct {
	guint done;
	gchar *tokens[8];
	GError *errors[8];
} Callers;

static void
get_token_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	Callers *callers = user_data;
	guint i = callers->done++;
	g_autoptr(DaToken) token =
		da_account_get_token_finish (DA_ACCOUNT (source), res, &callers->errors[i]);

	callers->tokens[i] = g_strdup (token != NULL ? token->token : NULL);
}

static void
callers_clear (Callers *callers)
{
	for (guint i = 0; i < G_N_ELEMENTS (callers->tokens); i++) {
		g_free (callers->tokens[i]);
		g_clear_error (&callers->errors[i]);
	}
}

/* Callers who need a longer validity than the token has share one
 * refresh, and all get its token. */
static void
test_refresh_single_flight (Fixture *f, gconstpointer data)
{
	Callers callers = {0};
	g_autofree gchar *token = NULL;

	sign_in (f, 300, 0);
	test_idp_set_latency_ms (f->idp, 2000);
	for (guint i = 0; i < G_N_ELEMENTS (callers.tokens); i++) {
		da_account_get_token_async (f->account, 300, NULL, get_token_cb, &callers);
		test_clock_advance (100 * 1000);
	}
	g_assert_cmpuint (callers.done, ==, 0);
	test_clock_advance_sec (2);
	g_assert_cmpuint (callers.done, ==, G_N_ELEMENTS (callers.tokens));
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 1);
	for (guint i = 0; i < G_N_ELEMENTS (callers.tokens); i++) {
		g_assert_no_error (callers.errors[i]);
		g_assert_cmpstr (callers.tokens[i], ==, "access-1");
	}
	/* the IdP cannot do better right away: the next caller gets that token */
	token = cached (f, 300);
	g_assert_cmpstr (token, ==, "access-1");
	callers_clear (&callers);
}

/* A caller waits for an IdP that does not answer no more than 10 s, and
 * then gets the token that is still valid; the refresh goes on. */
static void
test_refresh_silent_idp (Fixture *f, gconstpointer data)
{
	Callers callers = {0};

	sign_in (f, 300, 0);
	test_idp_set_latency_ms (f->idp, 30 * 1000);
	da_account_get_token_async (f->account, 300, NULL, get_token_cb, &callers);
	test_clock_advance_sec (9);
	g_assert_cmpuint (callers.done, ==, 0);
	test_clock_advance_sec (1);
	g_assert_cmpuint (callers.done, ==, 1);
	g_assert_no_error (callers.errors[0]);
	g_assert_cmpstr (callers.tokens[0], ==, "access-0");
	test_clock_advance_sec (20);
	{
		g_autofree gchar *token = cached (f, 0);
		g_assert_cmpstr (token, ==, "access-1");
	}
	callers_clear (&callers);
}

/* While the IdP cannot be reached: 2, 4, 8, 16, 32, 64 s between attempts
 * (each up to 25% longer), the token served while it lasts, and after
 * success the schedule of a fresh token. */
static void
test_refresh_backoff (Fixture *f, gconstpointer data)
{
	const gdouble base[] = {2, 4, 8, 16, 32, 64};

	sign_in (f, 300, 0);
	for (guint i = 0; i < G_N_ELEMENTS (base); i++)
		test_idp_push_error (f->idp, TEST_IDP_REFRESH, DA_OIDC_ERROR_NETWORK,
				     "connection refused");
	for (guint s = 0; s < 600 && test_idp_count (f->idp, TEST_IDP_REFRESH) < 7; s++)
		test_clock_advance_sec (1);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 7);
	for (guint i = 0; i < G_N_ELEMENTS (base); i++) {
		gdouble gap = request_at (f, TEST_IDP_REFRESH, i + 1) -
			      request_at (f, TEST_IDP_REFRESH, i);
		/* the test clock moves in whole seconds here */
		g_assert_cmpfloat (gap, >=, base[i]);
		g_assert_cmpfloat (gap, <=, base[i] * 1.25 + 1);
	}
	g_assert_cmpstr (state (f), ==, "signed-in");
	{
		g_autofree gchar *token = cached (f, 0);
		g_assert_cmpstr (token, ==, "access-1");
	}
	/* the backoff is over: the next refresh at 75% of the new token */
	test_clock_advance_sec (190);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 7);
	test_clock_advance_sec (55);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 8);
}

/* Retry-After wins over a shorter backoff. */
static void
test_refresh_retry_after (Fixture *f, gconstpointer data)
{
	gint64 retry_at;

	sign_in (f, 300, 0);
	test_idp_push_error (f->idp, TEST_IDP_REFRESH, DA_OIDC_ERROR_HTTP, "HTTP 503");
	test_idp_push_error (f->idp, TEST_IDP_REFRESH, DA_OIDC_ERROR_HTTP, "HTTP 503");
	for (guint s = 0; s < 300 && test_idp_count (f->idp, TEST_IDP_REFRESH) == 0; s++)
		test_clock_advance_sec (1);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 1);
	/* the backoff after the first failure: 2 .. 2.5 s */
	retry_at = da_clock_real_sec () + 100;
	test_idp_set_retry_at (f->idp, retry_at);
	test_clock_advance_sec (3);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 2);
	/* the second failure's backoff would be 4 .. 5 s; the IdP said 100 */
	for (guint s = 0; s < 200 && test_idp_count (f->idp, TEST_IDP_REFRESH) == 2; s++)
		test_clock_advance_sec (1);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 3);
	g_assert_cmpfloat (request_at (f, TEST_IDP_REFRESH, 2), ==,
			   (gdouble) (retry_at - TEST_CLOCK_START_SEC));
	g_assert_cmpstr (state (f), ==, "signed-in");
}

/* The wall clock jumps 1 h ahead (the device slept): the expired token is
 * not served, and a refresh comes within the timer's longest sleep. */
static void
test_refresh_after_suspend (Fixture *f, gconstpointer data)
{
	sign_in (f, 300, 0);
	test_clock_advance_sec (60);
	test_clock_jump_real (G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC);
	{
		g_autofree gchar *token = cached (f, 0);
		g_assert_cmpstr (token, ==, "");
	}
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 0);
	test_clock_advance_sec (60);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 1);
	{
		g_autofree gchar *token = cached (f, 30);
		g_assert_cmpstr (token, ==, "access-1");
	}
}

/* ---- persistence ---- */

/* A restart finds the sign-in on disk: the same tokens, the rotated refresh
 * token, and a refresh planned from the time left. */
static void
test_persist_restart (Fixture *f, gconstpointer data)
{
	sign_in (f, 300, 0);
	for (guint s = 0; s < 300 && test_idp_count (f->idp, TEST_IDP_REFRESH) == 0; s++)
		test_clock_advance_sec (1);
	test_clock_advance_sec (10);

	account_open (f, "");
	g_assert_cmpstr (state (f), ==, "signed-in");
	{
		g_autofree gchar *token = cached (f, 30);
		g_assert_cmpstr (token, ==, "access-1");
	}
	/* restored with 290 s left: refreshed at 75% of that, -10% .. +5% */
	test_clock_advance_sec (180);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 1);
	test_clock_advance_sec (60);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 2);
	g_assert_cmpstr (request_credential (f, TEST_IDP_REFRESH, 1), ==, "refresh-1");
}

/* An access token that expired while devauthd was down is not served; the
 * refresh token still works. */
static void
test_persist_expired_access (Fixture *f, gconstpointer data)
{
	sign_in (f, 300, 0);
	g_clear_object (&f->account);
	test_clock_advance_sec (400);
	account_open (f, "");
	g_assert_cmpstr (state (f), ==, "signed-in");
	{
		g_autofree gchar *token = cached (f, 0);
		g_assert_cmpstr (token, ==, "");
	}
	test_clock_advance_sec (3);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 1);
	{
		g_autofree gchar *token = cached (f, 30);
		g_assert_cmpstr (token, ==, "access-1");
	}
}

static gchar *
last_error (Fixture *f)
{
	gchar *message = NULL;

	g_object_get (f->account, "last-error", &message, NULL);
	return message;
}

/* The state directory cannot be written when a refresh rotates the
 * refresh token (a full disk; here the directory is gone): LastError says
 * so, the write is tried again with backoff while the account goes on,
 * and once it can be, the rotated token is on disk for the next start. */
static void
test_persist_write_retry (Fixture *f, gconstpointer data)
{
	g_autofree gchar *away = g_strconcat (f->dir, ".away", NULL);
	g_autofree gchar *message = NULL;

	sign_in (f, 300, 0);
	g_assert_cmpint (g_rename (f->dir, away), ==, 0);
	g_test_expect_message ("devauthd", G_LOG_LEVEL_MESSAGE,
			       "account tv: the refresh goes on without a journal: cannot create "
			       "*/tv.journal: No such file or directory");
	g_test_expect_message (
		"devauthd", G_LOG_LEVEL_WARNING,
		"account tv: the sign-in is not saved and would not survive a reboot: "
		"cannot write */tv.state: No such file or directory; trying again*");
	for (guint s = 0; s < 300 && test_idp_count (f->idp, TEST_IDP_REFRESH) == 0; s++)
		test_clock_advance_sec (1);
	g_test_assert_expected_messages ();
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 1);
	message = last_error (f);
	g_assert_nonnull (strstr (message, "not saved to disk"));
	g_assert_cmpstr (state (f), ==, "signed-in");
	{
		g_autofree gchar *token = cached (f, 30);
		g_assert_cmpstr (token, ==, "access-1");
	}
	/* it says so for as long as it lasts, through backoff of a minute at most */
	test_clock_advance_sec (100);
	g_free (message);
	message = last_error (f);
	g_assert_nonnull (strstr (message, "not saved to disk"));

	g_assert_cmpint (g_rename (away, f->dir), ==, 0);
	test_clock_advance_sec (DA_PERSIST_RETRY_MAX_SEC);
	g_free (message);
	message = last_error (f);
	g_assert_cmpstr (message, ==, "");
	/* written by a retry, not by a later refresh */
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 1);

	/* the next start has the rotated refresh token */
	g_clear_object (&f->account);
	account_open (f, "");
	g_assert_cmpstr (state (f), ==, "signed-in");
	for (guint s = 0; s < 300 && test_idp_count (f->idp, TEST_IDP_REFRESH) == 1; s++)
		test_clock_advance_sec (1);
	g_assert_cmpstr (request_credential (f, TEST_IDP_REFRESH, 1), ==, "refresh-1");
}

static void
logout_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;

	g_assert_true (da_account_logout_finish (DA_ACCOUNT (source), res, &error));
	g_assert_no_error (error);
	*(gboolean *) user_data = TRUE;
}

/* Logout revokes the refresh token at the IdP and leaves nothing on disk
 * for the next start. */
static void
test_persist_logout (Fixture *f, gconstpointer data)
{
	gboolean done = FALSE;

	sign_in (f, 300, 0);
	da_account_logout_async (f->account, NULL, logout_cb, &done);
	test_clock_run ();
	g_assert_true (done);
	g_assert_cmpstr (state (f), ==, "signed-out");
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REVOKE), >=, 1);
	g_assert_cmpstr (request_credential (f, TEST_IDP_REVOKE, 0), ==, "refresh-0");
	account_open (f, "");
	g_assert_cmpstr (state (f), ==, "signed-out");
	test_clock_advance_sec (3600);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 0);
}

/* ---- the journal of a refresh ---- */

static gboolean
journal_exists (Fixture *f)
{
	g_autofree gchar *path = g_build_filename (f->dir, "tv.journal", NULL);

	return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* devauthd stops (here the account is dropped, as by a crash) after a
 * refresh went out and before its answer came (a network error stands for
 * it: the request may have reached the IdP). The next start finds the
 * journal and refreshes at once, without a caller, with the token it
 * holds; an IdP that takes it again loses nothing. */
static void
test_journal_retry (Fixture *f, gconstpointer data)
{
	sign_in (f, 300, 0);
	test_idp_push_error (f->idp, TEST_IDP_REFRESH, DA_OIDC_ERROR_NETWORK, "connection reset");
	for (guint s = 0; s < 300 && test_idp_count (f->idp, TEST_IDP_REFRESH) == 0; s++)
		test_clock_advance_sec (1);
	g_assert_true (journal_exists (f));
	g_clear_object (&f->account);
	account_open (f, "");
	g_assert_cmpstr (state (f), ==, "signed-in");
	test_clock_advance_sec (1);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 2);
	g_assert_cmpstr (request_credential (f, TEST_IDP_REFRESH, 1), ==, "refresh-0");
	{
		g_autofree gchar *token = cached (f, 30);
		g_assert_cmpstr (token, ==, "access-1");
	}
	g_assert_false (journal_exists (f));
}

/* The same, where the IdP had replaced the token and takes it no more:
 * the account must sign in again, and LastError says why. */
static void
test_journal_retry_refused (Fixture *f, gconstpointer data)
{
	g_autofree gchar *message = NULL;

	sign_in (f, 300, 0);
	test_idp_push_error (f->idp, TEST_IDP_REFRESH, DA_OIDC_ERROR_NETWORK, "connection reset");
	for (guint s = 0; s < 300 && test_idp_count (f->idp, TEST_IDP_REFRESH) == 0; s++)
		test_clock_advance_sec (1);
	g_clear_object (&f->account);
	test_idp_push_error (f->idp, TEST_IDP_REFRESH, DA_OIDC_ERROR_INVALID_GRANT, "Stale token");
	account_open (f, "");
	test_clock_advance_sec (1);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 2);
	g_assert_cmpstr (state (f), ==, "reauth-required");
	message = last_error (f);
	g_assert_nonnull (strstr (message, "devauthd stopped while a refresh was on its way, and "
					   "the IdP does not take the refresh token it had "
					   "replaced again"));
	g_assert_nonnull (strstr (message, "Stale token"));
	g_assert_nonnull (strstr (message, "sign in again"));
	g_assert_false (journal_exists (f));
	/* an ordinary refusal later says what it always says */
	account_open (f, "");
	test_clock_advance_sec (3600);
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 2);
}

/* devauthd stops after the answer came and before the state file held it
 * (here a directory in the state file's place makes the write fail): the
 * journal has the new tokens, and the next start takes them, with no
 * request to the IdP, and writes them where the start after finds them. */
static void
test_journal_tokens (Fixture *f, gconstpointer data)
{
	g_autofree gchar *path = g_build_filename (f->dir, "tv.state", NULL);
	g_autofree gchar *in_way = g_build_filename (path, "x", NULL);
	g_autofree gchar *saved = NULL;
	gsize saved_len = 0;

	sign_in (f, 300, 0);
	g_assert_true (g_file_get_contents (path, &saved, &saved_len, NULL));
	g_assert_cmpint (g_unlink (path), ==, 0);
	g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
	g_assert_true (g_file_set_contents (in_way, "", 0, NULL));
	g_test_expect_message ("devauthd", G_LOG_LEVEL_WARNING,
			       "account tv: the sign-in is not saved and would not survive a "
			       "reboot: cannot rename *");
	for (guint s = 0; s < 300 && test_idp_count (f->idp, TEST_IDP_REFRESH) == 0; s++)
		test_clock_advance_sec (1);
	g_test_assert_expected_messages ();
	g_assert_true (journal_exists (f));
	/* the crash: the state file as it was, with refresh-0 */
	g_clear_object (&f->account);
	g_assert_cmpint (g_unlink (in_way), ==, 0);
	g_assert_cmpint (g_rmdir (path), ==, 0);
	g_assert_true (g_file_set_contents (path, saved, (gssize) saved_len, NULL));

	account_open (f, "");
	g_assert_cmpstr (state (f), ==, "signed-in");
	{
		g_autofree gchar *token = cached (f, 30);
		g_assert_cmpstr (token, ==, "access-1");
	}
	g_assert_cmpuint (test_idp_count (f->idp, TEST_IDP_REFRESH), ==, 1);
	g_assert_false (journal_exists (f));
	g_clear_object (&f->account);
	account_open (f, "");
	for (guint s = 0; s < 300 && test_idp_count (f->idp, TEST_IDP_REFRESH) == 1; s++)
		test_clock_advance_sec (1);
	g_assert_cmpstr (request_credential (f, TEST_IDP_REFRESH, 1), ==, "refresh-1");
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);

#define ADD(path, func, config)                                                                    \
	g_test_add ("/devauthd/account/" path, Fixture, config, fixture_set_up, func,              \
		    fixture_tear_down)
	ADD ("flow/interval-and-slow-down", test_flow_interval, NULL);
	ADD ("flow/network-backoff", test_flow_network_backoff, NULL);
	ADD ("flow/expiry", test_flow_expiry, NULL);
	ADD ("flow/renewal", test_flow_renewal, "AutoLogin=yes\n");
	ADD ("refresh/schedule", test_refresh_schedule, NULL);
	ADD ("refresh/sign-in-end", test_refresh_sign_in_end, NULL);
	ADD ("refresh/single-flight", test_refresh_single_flight, NULL);
	ADD ("refresh/silent-idp", test_refresh_silent_idp, NULL);
	ADD ("refresh/backoff", test_refresh_backoff, NULL);
	ADD ("refresh/retry-after", test_refresh_retry_after, NULL);
	ADD ("refresh/after-suspend", test_refresh_after_suspend, NULL);
	ADD ("persist/restart", test_persist_restart, NULL);
	ADD ("persist/expired-access", test_persist_expired_access, NULL);
	ADD ("persist/logout", test_persist_logout, NULL);
	ADD ("persist/write-retry", test_persist_write_retry, NULL);
	ADD ("journal/retry", test_journal_retry, NULL);
	ADD ("journal/retry-refused", test_journal_retry_refused, NULL);
	ADD ("journal/tokens", test_journal_tokens, NULL);
#undef ADD
	return g_test_run ();
}
