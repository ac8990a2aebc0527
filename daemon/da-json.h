/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What json-glib 1.6 gets wrong with hostile input, found before it parses:
 * nesting deeper than @depth_max (its parser recurses once per level),
 * "\u0000" in a string (it cuts the string there, so "a\u0000b" reads as
 * "a"), and, when @digits_max > 0, integers of more digits (it reads one
 * past the int64 range as -1 or G_MININT64, without an error). Every reader
 * of JSON from outside (the IdP, the ID token's bearer, a Varlink caller)
 * asks this first. Returns NULL when the text has none of them, else what
 * is wrong, for a message. */
const gchar *
da_json_text_problem (const gchar *data, gsize len, guint depth_max, guint digits_max);

G_END_DECLS
