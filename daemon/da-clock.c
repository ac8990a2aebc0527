/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-clock.h"

#include <sys/timex.h>
#include <time.h>

static guint
glib_timeout_add (guint interval_ms, GSourceFunc func, gpointer data, GDestroyNotify notify)
{
	return g_timeout_add_full (G_PRIORITY_DEFAULT, interval_ms, func, data, notify);
}

static gint64
kernel_boot_us (void)
{
	struct timespec ts;

	if (clock_gettime (CLOCK_BOOTTIME, &ts) != 0)
		return g_get_monotonic_time ();
	return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static gboolean
kernel_synchronized (void)
{
	struct timex tx = {0};

	return adjtimex (&tx) != TIME_ERROR;
}

static const DaClockFuncs glib_funcs = {
	.real_us = g_get_real_time,
	.monotonic_us = g_get_monotonic_time,
	.boot_us = kernel_boot_us,
	.synchronized = kernel_synchronized,
	.timeout_add = glib_timeout_add,
};

static const DaClockFuncs *funcs = &glib_funcs;

/* What the IdPs' answers said of the time: unix µs − CLOCK_BOOTTIME µs */
static gboolean idp_seen;
static gint64 idp_offset_us;
static gboolean idp_time; /* the daemon's time is the IdP's, not the wall clock */
static gchar *idp_origin;

void
da_clock_set_funcs (const DaClockFuncs *replacement)
{
	funcs = replacement != NULL ? replacement : &glib_funcs;
	idp_seen = FALSE;
	idp_offset_us = 0;
	idp_time = FALSE;
	g_clear_pointer (&idp_origin, g_free);
}

gint64
da_clock_boot_us (void)
{
	return funcs->boot_us != NULL ? funcs->boot_us () : funcs->monotonic_us ();
}

/* unix µs − boot µs of the daemon's time, from readings @real and @boot */
static gint64
daemon_offset (gint64 real, gint64 boot)
{
	gint64 system = real - boot;
	gint64 off;

	if (!idp_seen)
		return system;
	off = (system - idp_offset_us) / G_USEC_PER_SEC;
	if (ABS (system - idp_offset_us) <= (gint64) DA_CLOCK_TOLERANCE_SEC * G_USEC_PER_SEC) {
		if (idp_time)
			g_message ("the system clock agrees with the clock of %s again; "
				   "tokens' expiry follows the system clock",
				   idp_origin);
		idp_time = FALSE;
		return system;
	}
	if (!idp_time)
		g_message ("the system clock is %" G_GINT64_FORMAT " s %s the clock of %s: "
			   "tokens' expiry follows the IdP's clock until they agree",
			   ABS (off), off < 0 ? "behind" : "ahead of", idp_origin);
	idp_time = TRUE;
	return idp_offset_us;
}

gint64
da_clock_now_us (void)
{
	gint64 boot = da_clock_boot_us ();

	return boot + daemon_offset (funcs->real_us (), boot);
}

gint64
da_clock_now_sec (void)
{
	return da_clock_now_us () / G_USEC_PER_SEC;
}

gint64
da_clock_at_boot_us (gint64 boot_us)
{
	return boot_us + daemon_offset (funcs->real_us (), da_clock_boot_us ());
}

gint64
da_clock_to_system_sec (gint64 now_sec)
{
	gint64 real = funcs->real_us ();
	gint64 boot = da_clock_boot_us ();
	gint64 ahead = daemon_offset (real, boot) - (real - boot);

	if (now_sec == 0 || ahead == 0)
		return now_sec;
	/* to the nearest second */
	return now_sec - (ahead + (ahead < 0 ? -1 : 1) * G_USEC_PER_SEC / 2) / G_USEC_PER_SEC;
}

gboolean
da_clock_is_trusted (void)
{
	return idp_seen || (funcs->synchronized != NULL && funcs->synchronized ());
}

static void
note_offset (gint64 offset, const gchar *origin)
{
	/* within the tolerance of what is known: nothing new, no jitter */
	if (idp_seen &&
	    ABS (offset - idp_offset_us) <= (gint64) DA_CLOCK_TOLERANCE_SEC * G_USEC_PER_SEC)
		return;
	if (!idp_seen || g_strcmp0 (idp_origin, origin) != 0) {
		g_free (idp_origin);
		idp_origin = g_strdup (origin);
	}
	if (idp_time)
		g_message ("the clock of %s moved by %" G_GINT64_FORMAT " s", origin,
			   (offset - idp_offset_us) / G_USEC_PER_SEC);
	idp_time = FALSE; /* said again by daemon_offset () */
	idp_seen = TRUE;
	idp_offset_us = offset;
	(void) daemon_offset (funcs->real_us (), da_clock_boot_us ());
}

void
da_clock_note_server_time (gint64 server_sec,
			   gint64 sent_boot_us,
			   gint64 recv_boot_us,
			   const gchar *origin)
{
	gint64 rtt = recv_boot_us - sent_boot_us;

	if (server_sec <= 0 || rtt < 0 || rtt > 2 * G_USEC_PER_SEC)
		return;
	/* the Date was taken between the two, truncated to its second: at
	 * the answer the IdP's clock stood within [Date, Date + 1 s + rtt] */
	note_offset (server_sec * G_USEC_PER_SEC + (G_USEC_PER_SEC + rtt) / 2 - recv_boot_us,
		     origin);
}

void
da_clock_note_issued_at (gint64 iat_sec, gint64 recv_boot_us, const gchar *origin)
{
	gint64 now = da_clock_at_boot_us (recv_boot_us);

	/* only a clock behind the IdP's shows: iat is a lower bound */
	if (iat_sec <= 0 ||
	    iat_sec * G_USEC_PER_SEC <= now + (gint64) DA_CLOCK_TOLERANCE_SEC * G_USEC_PER_SEC)
		return;
	note_offset (iat_sec * G_USEC_PER_SEC + G_USEC_PER_SEC / 2 - recv_boot_us, origin);
}

const gchar *
da_clock_boot_id (void)
{
	static gchar *boot_id;

	if (boot_id == NULL) {
		if (!g_file_get_contents ("/proc/sys/kernel/random/boot_id", &boot_id, NULL, NULL))
			boot_id = g_strdup ("");
		g_strstrip (boot_id);
	}
	return boot_id;
}

gint64
da_clock_offset_us (const gchar **origin)
{
	gint64 boot = da_clock_boot_us ();
	gint64 offset = daemon_offset (funcs->real_us (), boot);

	if (origin != NULL)
		*origin = idp_time ? idp_origin : NULL;
	return offset;
}

void
da_clock_note_earlier_offset (gint64 offset_us, const gchar *origin)
{
	if (idp_seen || origin == NULL || origin[0] == '\0')
		return;
	note_offset (offset_us, origin);
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
