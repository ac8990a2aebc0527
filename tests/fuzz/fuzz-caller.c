/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /proc/PID/cgroup contents and security labels of callers. */
#include "config.h"

#include <stdint.h>

#include "da-caller.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_autofree gchar *unit = NULL;
	g_autofree gchar *flatpak = NULL;
	g_autofree gchar *label = g_strndup ((const gchar *) data, size);

	da_caller_parse_cgroup ((const gchar *) data, size, &unit, &flatpak);
	g_free (da_caller_parse_snap_label (label));
	return 0;
}
