/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * JSON strings (RFC 8259) in plain C: the one escaper of the two programs
 * that write JSON by hand, devauthd's Varlink front (da-varlink.c) and
 * devauthctl (libc only, client/devauthctl-varlink.c). devauthctl-bus
 * writes its JSON with json-glib.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of the valid UTF-8 sequence at @s (at most @len bytes) and its
 * code point in @cp; 0 when it is not valid UTF-8 (as GLib sees it). */
size_t
da_utf8_next (const char *s, size_t len, uint32_t *cp);

/* Where da_json_write_string () writes: @len bytes at @bytes. */
typedef void (*DaJsonSink) (void *data, const char *bytes, size_t len);

/* Writes @s (@len bytes) as the inside of a JSON string, without its
 * quotes: '"' and '\\' escaped, the C0 controls and DEL as \u00XX, anything
 * else as it is. At a byte that is not UTF-8 it stops and returns false,
 * or, with @replace_invalid, writes \ufffd for it and goes on. */
bool
da_json_write_string (const char *s, size_t len, bool replace_invalid, DaJsonSink sink, void *data);
