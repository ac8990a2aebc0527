/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The GetToken request and reply of devauthctl's Varlink call, in plain C:
 * devauthctl links no JSON library (nor GLib) so that it starts fast.
 *
 * The reader is a whole JSON parser (RFC 8259), not a search for keys: it
 * checks the syntax of every value, including those it skips, and unescapes
 * strings in place, so that the token is never copied elsewhere.
 */

#include "config.h"

#include "devauthctl-varlink.h"

#include <stdint.h>
#include <string.h>

/* Varlink replies are two levels deep; anything much deeper is not ours */
#define DA_JSON_DEPTH_MAX 32

/* ---- UTF-8 ---- */

static size_t
da_utf8_encode (uint32_t c, char *out)
{
	static const unsigned char lead[] = {0, 0, 0xc0, 0xe0, 0xf0};
	size_t n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;

	for (size_t i = n - 1; i > 0; i--, c >>= 6)
		out[i] = (char) (0x80 | (c & 0x3f));
	out[0] = (char) (lead[n] | c);
	return n;
}

/* ---- the request ---- */

typedef struct {
	char *p;
	char *end;
	bool fits;
} DaJsonOut;

static void
da_out_add (DaJsonOut *out, const char *s, size_t n)
{
	if (!out->fits || n > (size_t) (out->end - out->p)) {
		out->fits = false;
		return;
	}
	memcpy (out->p, s, n);
	out->p += n;
}

static void
da_out_str (DaJsonOut *out, const char *s)
{
	da_out_add (out, s, strlen (s));
}

static void
da_out_sink (void *data, const char *bytes, size_t len)
{
	da_out_add (data, bytes, len);
}

/* @s as a JSON string; false when it is not UTF-8 */
static bool
da_out_json_string (DaJsonOut *out, const char *s)
{
	da_out_add (out, "\"", 1);
	if (!da_json_write_string (s, strlen (s), false, da_out_sink, out))
		return false;
	da_out_add (out, "\"", 1);
	return true;
}

size_t
da_json_request_build (char *buf, size_t size, const char *account, long long min_validity)
{
	DaJsonOut out = {buf, buf + size, true};
	bool have_account = account != NULL && account[0] != '\0';

	da_out_str (&out, "{\"method\":\"" DA_VARLINK_METHOD_GET_TOKEN "\",\"parameters\":{");
	if (have_account) {
		da_out_str (&out, "\"account\":");
		if (!da_out_json_string (&out, account))
			return 0;
	}
	if (min_validity >= 0) {
		char digits[24];
		size_t n = sizeof (digits);

		do {
			digits[--n] = (char) ('0' + min_validity % 10);
			min_validity /= 10;
		} while (min_validity > 0);
		da_out_str (&out, have_account ? ",\"minValidity\":" : "\"minValidity\":");
		da_out_add (&out, digits + n, sizeof (digits) - n);
	}
	da_out_add (&out, "}}", 3); /* with the NUL */
	return out.fits ? (size_t) (out.p - buf) : 0;
}

/* ---- the reply ---- */

typedef struct {
	char *p;
	char *end;
} DaJsonIn;

static int
da_peek (DaJsonIn *in)
{
	while (in->p < in->end &&
	       (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
		in->p++;
	return in->p < in->end ? (unsigned char) *in->p : -1;
}

static bool
da_eat (DaJsonIn *in, char c)
{
	if (da_peek (in) != (unsigned char) c)
		return false;
	in->p++;
	return true;
}

static bool
da_hex4 (DaJsonIn *in, uint32_t *out)
{
	*out = 0;
	if (in->end - in->p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		char c = *in->p++;
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t) (c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t) (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t) (c - 'A' + 10);
		else
			return false;
		*out = (*out << 4) | d;
	}
	return true;
}

/* after "\u": one code point, a surrogate pair taking two escapes */
static bool
da_unicode_escape (DaJsonIn *in, uint32_t *cp)
{
	uint32_t low;

	if (!da_hex4 (in, cp))
		return false;
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return false;
	if (*cp < 0xd800 || *cp > 0xdbff)
		return true;
	if (in->end - in->p < 2 || in->p[0] != '\\' || in->p[1] != 'u')
		return false;
	in->p += 2;
	if (!da_hex4 (in, &low) || low < 0xdc00 || low > 0xdfff)
		return false;
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (low - 0xdc00);
	return true;
}

/* A string, unescaped over itself: what it becomes is never longer. */
static bool
da_string (DaJsonIn *in, char **out, size_t *out_len)
{
	static const char escapes[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
	char *w;

	if (!da_eat (in, '"'))
		return false;
	w = *out = in->p;
	while (in->p < in->end) {
		unsigned char c = (unsigned char) *in->p++;
		const char *e;
		uint32_t cp;

		if (c == '"') {
			*out_len = (size_t) (w - *out);
			return true;
		}
		if (c < 0x20)
			return false;
		if (c != '\\') {
			*w++ = (char) c;
			continue;
		}
		if (in->p == in->end)
			return false;
		c = (unsigned char) *in->p++;
		if (c == 'u') {
			if (!da_unicode_escape (in, &cp))
				return false;
			w += da_utf8_encode (cp, w);
			continue;
		}
		for (e = escapes; *e != '\0' && *e != (char) c; e += 2)
			;
		if (*e == '\0')
			return false;
		*w++ = e[1];
	}
	return false;
}

static bool
da_digits (DaJsonIn *in)
{
	char *start = in->p;

	while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
		in->p++;
	return in->p > start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, never converted */
static bool
da_number (DaJsonIn *in)
{
	if (in->p < in->end && *in->p == '-')
		in->p++;
	if (in->p < in->end && *in->p == '0')
		in->p++;
	else if (!da_digits (in))
		return false;
	if (in->p < in->end && *in->p == '.') {
		in->p++;
		if (!da_digits (in))
			return false;
	}
	if (in->p < in->end && (*in->p == 'e' || *in->p == 'E')) {
		in->p++;
		if (in->p < in->end && (*in->p == '+' || *in->p == '-'))
			in->p++;
		if (!da_digits (in))
			return false;
	}
	return true;
}

static bool
da_literal (DaJsonIn *in, const char *word)
{
	size_t n = strlen (word);

	if ((size_t) (in->end - in->p) < n || memcmp (in->p, word, n) != 0)
		return false;
	in->p += n;
	return true;
}

/* After '{' (or a member's value): 1 and the next member's key, with the
 * ':' read; 0 after the closing '}'; -1 when malformed. */
static int
da_member (DaJsonIn *in, bool *first, char **key, size_t *key_len)
{
	if (da_eat (in, '}'))
		return 0;
	if (!*first && !da_eat (in, ','))
		return -1;
	*first = false;
	if (da_peek (in) != '"' || !da_string (in, key, key_len) || !da_eat (in, ':'))
		return -1;
	return 1;
}

static bool
da_key_is (const char *key, size_t key_len, const char *name)
{
	return key_len == strlen (name) && memcmp (key, name, key_len) == 0;
}

static bool
da_value (DaJsonIn *in, int depth)
{
	bool first = true;
	char *s;
	size_t n;
	int r;

	if (depth > DA_JSON_DEPTH_MAX)
		return false;
	switch (da_peek (in)) {
	case '{':
		in->p++;
		while ((r = da_member (in, &first, &s, &n)) > 0) {
			if (!da_value (in, depth + 1))
				return false;
		}
		return r == 0;
	case '[':
		in->p++;
		if (da_eat (in, ']'))
			return true;
		do {
			if (!da_value (in, depth + 1))
				return false;
		} while (da_eat (in, ','));
		return da_eat (in, ']');
	case '"':
		return da_string (in, &s, &n);
	case 't':
		return da_literal (in, "true");
	case 'f':
		return da_literal (in, "false");
	case 'n':
		return da_literal (in, "null");
	default:
		return da_number (in);
	}
}

/* a member we read: a string, and only once */
static bool
da_string_member (DaJsonIn *in, char **out, size_t *out_len)
{
	return *out == NULL && da_peek (in) == '"' && da_string (in, out, out_len);
}

static bool
da_parameters (DaJsonIn *in, DaReply *reply)
{
	bool first = true;
	char *key;
	size_t key_len;
	int r;

	if (!da_eat (in, '{'))
		return false;
	while ((r = da_member (in, &first, &key, &key_len)) > 0) {
		bool ok;

		if (da_key_is (key, key_len, "token"))
			ok = da_string_member (in, &reply->token, &reply->token_len);
		else if (da_key_is (key, key_len, "message"))
			ok = da_string_member (in, &reply->message, &reply->message_len);
		else
			ok = da_value (in, 2);
		if (!ok)
			return false;
	}
	return r == 0;
}

DaReplyKind
da_json_reply_parse (char *buf, size_t len, DaReply *reply)
{
	DaJsonIn in = {buf, buf + len};
	bool first = true;
	bool have_parameters = false;
	char *key;
	size_t key_len;
	int r;

	memset (reply, 0, sizeof (*reply));
	if (!da_eat (&in, '{'))
		return DA_REPLY_MALFORMED;
	while ((r = da_member (&in, &first, &key, &key_len)) > 0) {
		bool ok;

		if (da_key_is (key, key_len, "parameters")) {
			ok = !have_parameters && da_parameters (&in, reply);
			have_parameters = true;
		} else if (da_key_is (key, key_len, "error")) {
			ok = da_string_member (&in, &reply->error, &reply->error_len);
		} else {
			ok = da_value (&in, 1);
		}
		if (!ok)
			return DA_REPLY_MALFORMED;
	}
	if (r < 0 || da_peek (&in) != -1)
		return DA_REPLY_MALFORMED;
	if (reply->error != NULL)
		return reply->error_len > 0 ? DA_REPLY_ERROR : DA_REPLY_MALFORMED;
	return reply->token != NULL ? DA_REPLY_TOKEN : DA_REPLY_MALFORMED;
}
