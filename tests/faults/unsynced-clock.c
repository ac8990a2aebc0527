/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LD_PRELOAD for the clock fault cases: the kernel says the wall clock
 * is not synchronised (adjtimex(2) returns TIME_ERROR), as on a device
 * that has booted and not yet heard from NTP, whatever the machine that
 * runs the tests says of its own clock.
 */
#include <string.h>
#include <sys/timex.h>

int
adjtimex (struct timex *buf)
{
	memset (buf, 0, sizeof *buf);
	buf->status = STA_UNSYNC;
	buf->maxerror = 16000000;
	buf->esterror = 16000000;
	return TIME_ERROR;
}

int
ntp_adjtime (struct timex *buf)
{
	return adjtimex (buf);
}
