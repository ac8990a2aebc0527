/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Characters that must not reach a person's screen raw from an untrusted
 * source (the IdP, a token, a caller): the C0 and C1 controls, DEL, and the
 * bidirectional controls that reorder what is shown around them, so that a
 * user code, a URI or a name could read as another (U+061C, U+200E, U+200F,
 * U+202A–U+202E, U+2066–U+2069). devauthd refuses them in what it shows;
 * both clients escape them in what they print. libc only. */
static inline bool
da_text_char_is_unsafe (uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c || c == 0x200e || c == 0x200f ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}
