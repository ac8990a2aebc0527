/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Every clock the core reads and every timer it sets goes through here, so
 * that the unit tests can replace both and run hours of refreshes, backoff
 * and device flows in no time (tests/unit/test-clock.c). devauthd itself
 * never replaces them: the functions are GLib's. */
typedef struct {
	gint64 (*real_us) (void);      /* wall clock, like g_get_real_time () */
	gint64 (*monotonic_us) (void); /* like g_get_monotonic_time () */
	/* like g_timeout_add_full () at G_PRIORITY_DEFAULT on the default main
	 * context; the id it returns is removed with g_source_remove () */
	guint (*timeout_add) (guint interval_ms,
			      GSourceFunc func,
			      gpointer data,
			      GDestroyNotify notify);
} DaClockFuncs;

gint64
da_clock_real_us (void);
gint64
da_clock_real_sec (void);
gint64
da_clock_monotonic_us (void);
guint
da_clock_timeout_add (guint interval_ms, GSourceFunc func, gpointer data, GDestroyNotify notify);
guint
da_clock_timeout_add_seconds (guint interval_sec,
			      GSourceFunc func,
			      gpointer data,
			      GDestroyNotify notify);

/* NULL puts GLib's clocks back. For tests only. */
void
da_clock_set_funcs (const DaClockFuncs *funcs);

G_END_DECLS
