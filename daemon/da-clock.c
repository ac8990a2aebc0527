/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "da-clock.h"

static guint
glib_timeout_add (guint interval_ms, GSourceFunc func, gpointer data, GDestroyNotify notify)
{
	return g_timeout_add_full (G_PRIORITY_DEFAULT, interval_ms, func, data, notify);
}

static const DaClockFuncs glib_funcs = {
	.real_us = g_get_real_time,
	.monotonic_us = g_get_monotonic_time,
	.timeout_add = glib_timeout_add,
};

static const DaClockFuncs *funcs = &glib_funcs;

void
da_clock_set_funcs (const DaClockFuncs *replacement)
{
	funcs = replacement != NULL ? replacement : &glib_funcs;
}

gint64
da_clock_real_us (void)
{
	return funcs->real_us ();
}

gint64
da_clock_real_sec (void)
{
	return funcs->real_us () / G_USEC_PER_SEC;
}

gint64
da_clock_monotonic_us (void)
{
	return funcs->monotonic_us ();
}

guint
da_clock_timeout_add (guint interval_ms, GSourceFunc func, gpointer data, GDestroyNotify notify)
{
	return funcs->timeout_add (interval_ms, func, data, notify);
}

/* Unlike g_timeout_add_seconds (), not rounded to whole seconds of the
 * system's timer slack: the few timers in seconds are not many enough for
 * the wake-ups to matter, and a test clock has no such rounding. */
guint
da_clock_timeout_add_seconds (guint interval_sec,
			      GSourceFunc func,
			      gpointer data,
			      GDestroyNotify notify)
{
	guint64 ms = MIN ((guint64) interval_sec * 1000, G_MAXUINT);

	return funcs->timeout_add ((guint) ms, func, data, notify);
}
