/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The request pipeline that both fronts call, with a table for polkit:
 * who is asked about what, who is let through without asking, and the
 * GetToken rate per caller. No bus, no IdP: the accounts are signed out,
 * so an authorized GetToken ends in NotSignedIn. */

#include "config.h"

#include "da-error.h"
#include "da-names.h"
#include "da-pipeline.h"
#include "test-core.h"

/* ---- the pipeline over a core with two accounts ---- */

typedef TestPipeline Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
	test_pipeline_set_up (f);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
	test_pipeline_tear_down (f);
}

static void
got_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	*(GAsyncResult **) user_data = g_object_ref (res);
}

static GAsyncResult *
wait_for (GAsyncResult **res)
{
	while (*res == NULL)
		g_main_context_iteration (NULL, TRUE);
	return *res;
}

/* the error GetToken ends with (it never succeeds here) */
static GError *
get_token (Fixture *f, const DaCaller *caller, const gchar *account, DaPipelineFlags flags)
{
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(DaToken) token = NULL;
	GError *error = NULL;

	da_pipeline_get_token_async (f->pipeline, caller, account, 0, flags, NULL, got_cb, &res);
	token = da_pipeline_get_token_finish (f->pipeline, wait_for (&res), &error);
	g_assert_null (token);
	g_assert_nonnull (error);
	return error;
}

static GError *
run (Fixture *f, const DaCaller *caller, DaPipelineAction action, const gchar *account)
{
	g_autoptr(GAsyncResult) res = NULL;
	GError *error = NULL;

	da_pipeline_run_async (f->pipeline, caller, action, account, DA_PIPELINE_FLAGS_NONE, NULL,
			       got_cb, &res);
	if (da_pipeline_run_finish (f->pipeline, wait_for (&res), &error))
		return NULL;
	return error;
}

static GError *
login (Fixture *f, const DaCaller *caller, const gchar *account)
{
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(DaStatus) prompt = NULL;
	GError *error = NULL;

	da_pipeline_login_async (f->pipeline, caller, account, DA_PIPELINE_FLAGS_INTERACTIVE, NULL,
				 got_cb, &res);
	prompt = da_pipeline_login_finish (f->pipeline, wait_for (&res), &error);
	g_assert_null (prompt); /* the IdP cannot be reached */
	return error;
}

static void
assert_asked (Fixture *f, const gchar *const *expected)
{
	GPtrArray *asked = f->authorizer->asked;

	g_assert_cmpuint (asked->len, ==, g_strv_length ((gchar **) expected));
	for (guint i = 0; i < asked->len; i++)
		g_assert_cmpstr (g_ptr_array_index (asked, i), ==, expected[i]);
	g_ptr_array_set_size (asked, 0);
}

/* root and the account's AllowUsers= are let through without polkit;
 * everyone else is asked about, for that account and action */
static void
test_get_token_access (Fixture *f, gconstpointer data)
{
	g_autoptr(DaCaller) root = da_caller_new (":1.1", 0, NULL, 0, 100);
	g_autoptr(DaCaller) listed = da_caller_new (":1.2", 4242, NULL, 0, 101);
	g_autoptr(DaCaller) stranger = da_caller_new (":1.3", 1000, NULL, 0, 102);
	g_autoptr(DaCaller) admitted = da_caller_new (":1.4", 1001, NULL, 0, 103);
	g_autoptr(GError) error = NULL;
	guint32 uid = 1001;

	g_array_append_val (f->authorizer->allowed_uids, uid);

	error = get_token (f, root, "acme", DA_PIPELINE_FLAGS_NONE);
	g_assert_error (error, DA_ERROR, DA_ERROR_NOT_SIGNED_IN);
	g_clear_error (&error);
	error = get_token (f, listed, "acme", DA_PIPELINE_FLAGS_NONE);
	g_assert_error (error, DA_ERROR, DA_ERROR_NOT_SIGNED_IN);
	g_clear_error (&error);
	assert_asked (f, (const gchar *[]){NULL});

	/* AllowUsers= of acme says nothing about other */
	error = get_token (f, listed, "other", DA_PIPELINE_FLAGS_NONE);
	g_assert_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED);
	g_clear_error (&error);
	error = get_token (f, stranger, "", DA_PIPELINE_FLAGS_INTERACTIVE);
	g_assert_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED);
	g_clear_error (&error);
	error = get_token (f, admitted, "acme", DA_PIPELINE_FLAGS_NONE);
	g_assert_error (error, DA_ERROR, DA_ERROR_NOT_SIGNED_IN);
	g_clear_error (&error);
	assert_asked (f, (const gchar *[]){"4242 " DA_ACTION_GET_TOKEN " other quiet",
					   "1000 " DA_ACTION_GET_TOKEN " acme interactive",
					   "1001 " DA_ACTION_GET_TOKEN " acme quiet", NULL});

	/* an unknown account is refused before anyone is asked */
	error = get_token (f, stranger, "nope", DA_PIPELINE_FLAGS_NONE);
	g_assert_error (error, DA_ERROR, DA_ERROR_NO_SUCH_ACCOUNT);
	assert_asked (f, (const gchar *[]){NULL});
}

/* sign-in, cancel and refresh are org.devauth.login, logout its own
 * action; [Access] lets nobody sign in or out, root is never asked */
static void
test_actions (Fixture *f, gconstpointer data)
{
	g_autoptr(DaCaller) root = da_caller_new (":1.1", 0, NULL, 0, 100);
	g_autoptr(DaCaller) listed = da_caller_new (":1.2", 4242, NULL, 0, 101);
	g_autoptr(GError) error = NULL;

	error = login (f, listed, "acme");
	g_assert_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED);
	g_clear_error (&error);
	error = run (f, listed, DA_PIPELINE_CANCEL_LOGIN, "acme");
	g_assert_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED);
	g_clear_error (&error);
	error = run (f, listed, DA_PIPELINE_REFRESH, "acme");
	g_assert_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED);
	g_clear_error (&error);
	error = run (f, listed, DA_PIPELINE_LOGOUT, "acme");
	g_assert_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED);
	g_clear_error (&error);
	assert_asked (f, (const gchar *[]){"4242 " DA_ACTION_LOGIN " acme interactive",
					   "4242 " DA_ACTION_LOGIN " acme quiet",
					   "4242 " DA_ACTION_LOGIN " acme quiet",
					   "4242 " DA_ACTION_LOGOUT " acme quiet", NULL});

	/* root: past the rules, to the account itself */
	error = run (f, root, DA_PIPELINE_CANCEL_LOGIN, "acme");
	g_assert_error (error, DA_ERROR, DA_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull (strstr (error->message, "no sign-in running"));
	g_clear_error (&error);
	error = run (f, root, DA_PIPELINE_REFRESH, "acme");
	g_assert_error (error, DA_ERROR, DA_ERROR_NOT_SIGNED_IN);
	assert_asked (f, (const gchar *[]){NULL});
}

/* bursts of twice the rate per caller, root too; another caller has its
 * own; a caller that left starts afresh */
static void
test_rate (Fixture *f, gconstpointer data)
{
	g_autoptr(DaCaller) first = da_caller_new (":1.1", 0, NULL, 0, 100);
	g_autoptr(DaCaller) second = da_caller_new (":1.2", 0, NULL, 0, 101);
	g_autoptr(DaCaller) socket_caller = da_caller_new (NULL, 0, NULL, 0, 102);
	guint refused = 0;

	for (guint i = 0; i < 30; i++) {
		g_autoptr(GError) error = get_token (f, first, "acme", DA_PIPELINE_FLAGS_NONE);
		if (g_error_matches (error, DA_ERROR, DA_ERROR_RATE_LIMITED))
			refused++;
		else
			g_assert_error (error, DA_ERROR, DA_ERROR_NOT_SIGNED_IN);
	}
	/* 10, and at most one more refilled while the loop ran */
	g_assert_cmpuint (refused, >=, 19);
	g_assert_cmpuint (refused, <=, 20);

	for (guint i = 0; i < 5; i++) {
		g_autoptr(GError) error = get_token (f, second, "acme", DA_PIPELINE_FLAGS_NONE);
		g_assert_error (error, DA_ERROR, DA_ERROR_NOT_SIGNED_IN);
		g_clear_error (&error);
		error = get_token (f, socket_caller, "acme", DA_PIPELINE_FLAGS_NONE);
		g_assert_error (error, DA_ERROR, DA_ERROR_NOT_SIGNED_IN);
	}

	da_pipeline_forget_caller (f->pipeline, ":1.1");
	{
		g_autoptr(GError) error = get_token (f, first, "acme", DA_PIPELINE_FLAGS_NONE);
		g_assert_error (error, DA_ERROR, DA_ERROR_NOT_SIGNED_IN);
	}
}

typedef struct {
	guint done;
	guint rate_limited;
	guint not_signed_in;
	guint denied;
} Tally;

static void
tally_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	Tally *tally = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(DaToken) token =
		da_pipeline_get_token_finish (DA_PIPELINE (source), res, &error);

	g_assert_null (token);
	tally->done++;
	if (g_error_matches (error, DA_ERROR, DA_ERROR_RATE_LIMITED))
		tally->rate_limited++;
	else if (g_error_matches (error, DA_ERROR, DA_ERROR_NOT_SIGNED_IN))
		tally->not_signed_in++;
	else if (g_error_matches (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED))
		tally->denied++;
	else
		g_error ("unexpected: %s", error->message);
}

static void
drain (void)
{
	while (g_main_context_iteration (NULL, FALSE))
		;
}

/* A uid that floods the authorizer from many connections, with checks
 * that polkit does not answer (it waits for a person), has 16 in flight
 * and the rest refused at once; another uid is asked about at once; once
 * answered, the first uid may ask again. */
static void
test_checks_per_uid (Fixture *f, gconstpointer data)
{
	Tally flood = {0};
	Tally other = {0};
	guint32 allowed = 1001;

	f->authorizer->hold = TRUE;
	g_array_append_val (f->authorizer->allowed_uids, allowed);
	for (guint i = 0; i < 100; i++) {
		g_autofree gchar *name = g_strdup_printf (":1.%u", 100 + i);
		g_autoptr(DaCaller) caller = da_caller_new (name, 1000, NULL, 0, 5000 + i);
		da_pipeline_get_token_async (f->pipeline, caller, "other", 0,
					     DA_PIPELINE_FLAGS_INTERACTIVE, NULL, tally_cb, &flood);
	}
	drain ();
	g_assert_cmpuint (f->authorizer->asked->len, ==, DA_PIPELINE_CHECKS_PER_UID_MAX);
	g_assert_cmpuint (flood.rate_limited, ==, 100 - DA_PIPELINE_CHECKS_PER_UID_MAX);
	g_assert_cmpuint (flood.done, ==, flood.rate_limited);

	/* another uid is not queued behind them */
	{
		g_autoptr(DaCaller) caller = da_caller_new (":1.900", 1001, NULL, 0, 6000);
		da_pipeline_get_token_async (f->pipeline, caller, "other", 0,
					     DA_PIPELINE_FLAGS_NONE, NULL, tally_cb, &other);
	}
	drain ();
	g_assert_cmpuint (f->authorizer->asked->len, ==, DA_PIPELINE_CHECKS_PER_UID_MAX + 1);
	g_assert_cmpuint (test_authorizer_release (f->authorizer), ==,
			  DA_PIPELINE_CHECKS_PER_UID_MAX + 1);
	drain ();
	g_assert_cmpuint (other.not_signed_in, ==, 1);
	g_assert_cmpuint (flood.denied, ==, DA_PIPELINE_CHECKS_PER_UID_MAX);
	g_assert_cmpuint (flood.done, ==, 100);

	/* answered: the slots are free again */
	f->authorizer->hold = FALSE;
	{
		g_autoptr(DaCaller) caller = da_caller_new (":1.901", 1000, NULL, 0, 6001);
		g_autoptr(GError) error = get_token (f, caller, "other", DA_PIPELINE_FLAGS_NONE);
		g_assert_error (error, DA_ERROR, DA_ERROR_PERMISSION_DENIED);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add ("/devauthd/pipeline/get-token-access", Fixture, NULL, fixture_set_up,
		    test_get_token_access, fixture_tear_down);
	g_test_add ("/devauthd/pipeline/actions", Fixture, NULL, fixture_set_up, test_actions,
		    fixture_tear_down);
	g_test_add ("/devauthd/pipeline/rate", Fixture, NULL, fixture_set_up, test_rate,
		    fixture_tear_down);
	g_test_add ("/devauthd/pipeline/checks-per-uid", Fixture, NULL, fixture_set_up,
		    test_checks_per_uid, fixture_tear_down);
	return g_test_run ();
}
