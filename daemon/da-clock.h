/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Every clock the core reads and every timer it sets goes through here, so
 * that the unit tests can replace both and run hours of refreshes, backoff
 * and device flows in no time (tests/unit/test-clock.c). devauthd itself
 * never replaces them: the functions are GLib's and the kernel's. */
typedef struct {
	gint64 (*real_us) (void);      /* wall clock, like g_get_real_time () */
	gint64 (*monotonic_us) (void); /* like g_get_monotonic_time () */
	/* CLOCK_BOOTTIME: monotonic, counting a suspend; NULL: monotonic_us */
	gint64 (*boot_us) (void);
	/* the kernel says an NTP client keeps the wall clock right
	 * (adjtimex(2) not TIME_ERROR); NULL: never */
	gboolean (*synchronized) (void);
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

/* The daemon's time, in unix µs or seconds: what tokens' expiry is
 * judged by. It is the wall clock until an IdP's answer shows that clock
 * off by more than DA_CLOCK_TOLERANCE_SEC (a device without an RTC boots
 * in 1970 or at its last shutdown); from then on it is the IdP's time,
 * kept on CLOCK_BOOTTIME, which no step of the wall clock moves. */
#define DA_CLOCK_TOLERANCE_SEC 10
gint64
da_clock_now_us (void);
gint64
da_clock_now_sec (void);
gint64
da_clock_boot_us (void);
/* The daemon's time at an earlier reading of da_clock_boot_us () */
gint64
da_clock_at_boot_us (gint64 boot_us);
/* The daemon's time in seconds as the system's wall clock tells it, for
 * those who compare it with their own clock (D-Bus, devauthctl); 0 stays 0 */
gint64
da_clock_to_system_sec (gint64 now_sec);
/* Whether the daemon's time is known to be right: the kernel says the
 * wall clock is synchronised, or an IdP's answer has set or confirmed it.
 * What was stored in another boot is judged by it only then. */
gboolean
da_clock_is_trusted (void);
/* An IdP's Date: @server_sec (whole seconds, as RFC 9110 has them) in an
 * answer to a request sent at @sent_boot_us and answered at
 * @recv_boot_us (da_clock_boot_us ()); @origin names the IdP in the log.
 * Answers slower than a few seconds tell too little and are ignored. */
void
da_clock_note_server_time (gint64 server_sec,
			   gint64 sent_boot_us,
			   gint64 recv_boot_us,
			   const gchar *origin);
/* A time the IdP put in a token it just issued (a JWT's iat): the IdP's
 * clock was at least there when the answer left it. */
void
da_clock_note_issued_at (gint64 iat_sec, gint64 recv_boot_us, const gchar *origin);
/* This boot's id (/proc/sys/kernel/random/boot_id), or "" */
const gchar *
da_clock_boot_id (void);
/* What a stored time needs to be read in another process of this boot:
 * the daemon's time minus CLOCK_BOOTTIME, in µs, and the IdP whose clock
 * it is (NULL: the system clock's). */
gint64
da_clock_offset_us (const gchar **idp_origin);
/* A process of this boot before devauthd's start kept the IdP's time at
 * @offset_us (da_clock_offset_us): taken while no IdP has answered. */
void
da_clock_note_earlier_offset (gint64 offset_us, const gchar *idp_origin);

/* NULL puts GLib's clocks back, and forgets what IdPs said. For tests only. */
void
da_clock_set_funcs (const DaClockFuncs *funcs);

G_END_DECLS
