/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "da-clock.h"

G_BEGIN_DECLS

/* A token bucket: @rate calls a second on average, bursts of @burst. Both
 * fronts (D-Bus and Varlink) keep one per caller for GetToken. */
typedef struct {
	gdouble tokens;
	gint64 refilled_us; /* monotonic */
} DaRate;

static inline void
da_rate_init (DaRate *rate, gdouble burst)
{
	rate->tokens = burst;
	rate->refilled_us = da_clock_monotonic_us ();
}

static inline gboolean
da_rate_take (DaRate *rate, gdouble per_sec, gdouble burst)
{
	gint64 now = da_clock_monotonic_us ();

	rate->tokens = MIN (burst, rate->tokens + (gdouble) (now - rate->refilled_us) * per_sec /
							  G_USEC_PER_SEC);
	rate->refilled_us = now;
	if (rate->tokens < 1.0)
		return FALSE;
	rate->tokens -= 1.0;
	return TRUE;
}

G_END_DECLS
