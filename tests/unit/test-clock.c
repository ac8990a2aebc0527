/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "test-clock.h"

typedef struct {
	GSource source;
	gint64 deadline; /* monotonic µs */
	guint interval_ms;
} TestTimeout;

static gint64 real_now;
static gint64 mono_now;
static gint64 mono_start;
static GList *timeouts; /* of TestTimeout, attached and not finalized */

static gint64
test_real_us (void)
{
	return real_now;
}

static gint64
test_monotonic_us (void)
{
	return mono_now;
}

static gboolean
test_timeout_prepare (GSource *source, gint *timeout)
{
	*timeout = -1;
	return mono_now >= ((TestTimeout *) source)->deadline;
}

static gboolean
test_timeout_check (GSource *source)
{
	return mono_now >= ((TestTimeout *) source)->deadline;
}

static gboolean
test_timeout_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
	TestTimeout *timeout = (TestTimeout *) source;

	if (callback == NULL || callback (user_data) == G_SOURCE_REMOVE)
		return G_SOURCE_REMOVE;
	timeout->deadline = mono_now + (gint64) timeout->interval_ms * 1000;
	return G_SOURCE_CONTINUE;
}

static void
test_timeout_finalize (GSource *source)
{
	timeouts = g_list_remove (timeouts, source);
}

static GSourceFuncs test_timeout_funcs = {
	.prepare = test_timeout_prepare,
	.check = test_timeout_check,
	.dispatch = test_timeout_dispatch,
	.finalize = test_timeout_finalize,
};

static guint
test_timeout_add (guint interval_ms, GSourceFunc func, gpointer data, GDestroyNotify notify)
{
	GSource *source = g_source_new (&test_timeout_funcs, sizeof (TestTimeout));
	TestTimeout *timeout = (TestTimeout *) source;
	guint id;

	timeout->deadline = mono_now + (gint64) interval_ms * 1000;
	timeout->interval_ms = interval_ms;
	g_source_set_callback (source, func, data, notify);
	g_source_set_name (source, "test-clock timeout");
	timeouts = g_list_prepend (timeouts, source);
	id = g_source_attach (source, NULL);
	g_source_unref (source);
	return id;
}

static const DaClockFuncs test_funcs = {
	.real_us = test_real_us,
	.monotonic_us = test_monotonic_us,
	.timeout_add = test_timeout_add,
};

void
test_clock_install (void)
{
	real_now = TEST_CLOCK_START_SEC * G_USEC_PER_SEC;
	mono_now = mono_start = G_GINT64_CONSTANT (1000) * G_USEC_PER_SEC;
	da_clock_set_funcs (&test_funcs);
}

void
test_clock_uninstall (void)
{
	test_clock_run ();
	/* whatever is still set never fires: the objects that set it are gone */
	g_assert_null (timeouts);
	da_clock_set_funcs (NULL);
}

void
test_clock_run (void)
{
	guint i;

	for (i = 0; i < 100000 && g_main_context_iteration (NULL, FALSE); i++)
		;
	g_assert_cmpuint (i, <, 100000);
}

static gboolean
next_deadline (gint64 limit, gint64 *deadline)
{
	gboolean found = FALSE;

	for (GList *l = timeouts; l != NULL; l = l->next) {
		TestTimeout *timeout = l->data;
		if (g_source_is_destroyed (&timeout->source) || timeout->deadline > limit)
			continue;
		if (!found || timeout->deadline < *deadline)
			*deadline = timeout->deadline;
		found = TRUE;
	}
	return found;
}

static void
move_to (gint64 mono)
{
	if (mono <= mono_now)
		return;
	real_now += mono - mono_now;
	mono_now = mono;
}

void
test_clock_advance (gint64 usec)
{
	gint64 target = mono_now + usec;
	gint64 deadline = 0;
	guint steps;

	test_clock_run ();
	for (steps = 0; steps < 100000 && next_deadline (target, &deadline); steps++) {
		move_to (deadline);
		test_clock_run ();
	}
	g_assert_cmpuint (steps, <, 100000);
	move_to (target);
	test_clock_run ();
}

void
test_clock_jump_real (gint64 usec)
{
	real_now += usec;
}

gdouble
test_clock_elapsed_sec (void)
{
	return (gdouble) (mono_now - mono_start) / G_USEC_PER_SEC;
}
