/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "da-json-string.h"

#include <string.h>

/* Not valid: a stray or missing continuation byte, an overlong form, a
 * surrogate, a code point past U+10FFFF (g_utf8_get_char_validated ()). */
size_t
da_utf8_next (const char *s, size_t len, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *) s;
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t n;
	uint32_t c;

	if (len == 0)
		return 0;
	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if (u[0] >= 0xc0 && u[0] < 0xe0)
		n = 2, c = u[0] & 0x1f;
	else if (u[0] >= 0xe0 && u[0] < 0xf0)
		n = 3, c = u[0] & 0x0f;
	else if (u[0] >= 0xf0 && u[0] < 0xf8)
		n = 4, c = u[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (u[i] & 0x3f);
	}
	if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static int
da_json_is_plain (unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* how many bytes at the start of @s go into a JSON string as they are */
static size_t
da_json_plain_run (const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && da_json_is_plain ((unsigned char) s[n]))
		n++;
	return n;
}

#define DA_JSON_ESCAPE_MAX 6

/* the character at @s as it goes into a JSON string, in @out; returns how
 * many bytes of @s it took, 0 when they are not UTF-8 */
static size_t
da_json_escape_next (const char *s, size_t len, char out[DA_JSON_ESCAPE_MAX], size_t *out_len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c = (unsigned char) *s;
	uint32_t cp;
	size_t n = da_utf8_next (s, len, &cp);

	if (n == 0)
		return 0;
	if (c == '"' || c == '\\') {
		out[0] = '\\';
		out[1] = (char) c;
		*out_len = 2;
	} else if (c < 0x20 || c == 0x7f) {
		memcpy (out, "\\u00", 4);
		out[4] = hex[c >> 4];
		out[5] = hex[c & 0xf];
		*out_len = 6;
	} else {
		memcpy (out, s, n);
		*out_len = n;
	}
	return n;
}

bool
da_json_write_string (const char *s, size_t len, bool replace_invalid, DaJsonSink sink, void *data)
{
	while (len > 0) {
		size_t run = da_json_plain_run (s, len);
		char esc[DA_JSON_ESCAPE_MAX];
		size_t esc_len = 0;
		size_t n;

		if (run > 0)
			sink (data, s, run);
		s += run;
		len -= run;
		if (len == 0)
			break;
		n = da_json_escape_next (s, len, esc, &esc_len);
		if (n == 0 && !replace_invalid)
			return false;
		if (n == 0) {
			sink (data, "\\ufffd", 6);
			n = 1;
		} else {
			sink (data, esc, esc_len);
		}
		s += n;
		len -= n;
	}
	return true;
}
