/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The JSON of devauthctl's one Varlink call, libc only: the GetToken
 * request it sends and the reply it reads. Used by devauthctl.c
 * and tests/unit/test-devauthctl-varlink.c.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "da-json-string.h"
#include "da-names.h"

/* Writes the GetToken request and its NUL into @buf. @account NULL or ""
 * leaves the account out (the default account); @min_validity < 0 leaves
 * minValidity out. Returns the length with the NUL, or 0 when @account is
 * not UTF-8 or the request does not fit. */
size_t
da_json_request_build (char *buf, size_t size, const char *account, long long min_validity);

typedef enum {
	DA_REPLY_MALFORMED,
	DA_REPLY_TOKEN, /* parameters.token */
	DA_REPLY_ERROR, /* error, with parameters.message when there is one */
} DaReplyKind;

/* Strings point into the parsed buffer: they are unescaped where they
 * were, so the token is in no other buffer. They may hold NUL bytes
 * (\u0000), hence the lengths; none is NUL-terminated. */
typedef struct {
	char *token;
	size_t token_len;
	char *error;
	size_t error_len;
	char *message; /* NULL when the error has none */
	size_t message_len;
} DaReply;

/* Parses one reply, @len bytes without its NUL, unescaping strings in
 * place in @buf. Anything but one object, optional whitespace around it,
 * is malformed; so are a token or message that is not a string, an error
 * name that is not a string and a success without a token. Members it
 * does not know are skipped, however deeply nested (up to a limit). */
DaReplyKind
da_json_reply_parse (char *buf, size_t len, DaReply *reply);
