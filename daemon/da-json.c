/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "da-json.h"

const gchar *
da_json_text_problem (const gchar *data, gsize len, guint depth_max, guint digits_max)
{
	guint depth = 0;
	guint digits = 0;
	gboolean in_string = FALSE;

	for (gsize i = 0; i < len; i++) {
		gchar c = data[i];

		if (in_string) {
			if (c == '"') {
				in_string = FALSE;
			} else if (c == '\\') {
				if (len - i > 5 && data[i + 1] == 'u' &&
				    memcmp (data + i + 2, "0000", 4) == 0)
					return "has a \\u0000";
				i++;
			}
			continue;
		}
		if (g_ascii_isdigit (c)) {
			if (++digits > digits_max && digits_max > 0)
				return "has a number of too many digits";
			continue;
		}
		digits = 0;
		if (c == '"') {
			in_string = TRUE;
		} else if (c == '{' || c == '[') {
			if (++depth > depth_max)
				return "is nested too deeply";
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
	return NULL;
}
