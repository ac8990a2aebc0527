/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "da-clock.h"

/* A clock for the core that moves only when a test says so. Its timers are
 * GSources on the default main context, ready when the test clock reaches
 * them: g_source_remove () works on them as on GLib's. */

/* the wall clock at install: 2027-01-15 08:00:00 UTC */
#define TEST_CLOCK_START_SEC G_GINT64_CONSTANT (1800000000)

void
test_clock_install (void);
void
test_clock_uninstall (void);
/* Moves both clocks forward by @usec, firing each timer that comes due in
 * the order they come due, at its time, and running the main context until
 * nothing more is ready at each step. */
void
test_clock_advance (gint64 usec);
#define test_clock_advance_sec(s) test_clock_advance ((gint64) (s) *G_USEC_PER_SEC)
/* The wall clock alone moves (a suspend, or a clock set by NTP): timers
 * keep their monotonic deadlines. */
void
test_clock_jump_real (gint64 usec);
/* Runs what is ready now: idles, returned GTasks, due timers. */
void
test_clock_run (void);
/* seconds of test time since install, by the monotonic clock */
gdouble
test_clock_elapsed_sec (void);
