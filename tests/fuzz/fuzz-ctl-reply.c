/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What devauthctl reads from devauthd's socket, and writes to it: the
 * reply parser of client/devauthctl-varlink.c (libc, by hand), over any
 * bytes, and the request it builds from any account name. The first byte
 * picks which, and the minValidity of the request. */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devauthctl-varlink.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	char *copy;

	if (size < 1)
		return 0;
	copy = malloc (size);
	assert (copy != NULL);
	memcpy (copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	if (data[0] & 1) {
		DaReply reply;
		DaReplyKind kind = da_json_reply_parse (copy, size - 1, &reply);

		/* what it points at is inside the buffer it was given */
		if (kind == DA_REPLY_TOKEN)
			assert (reply.token >= copy &&
				reply.token + reply.token_len <= copy + size);
		if (kind == DA_REPLY_ERROR) {
			assert (reply.error >= copy &&
				reply.error + reply.error_len <= copy + size);
			assert (reply.message == NULL ||
				(reply.message >= copy &&
				 reply.message + reply.message_len <= copy + size));
		}
	} else {
		char buf[4096];
		long long min_validity = (long long) (data[0] >> 1) - 1;
		size_t n = da_json_request_build (buf, sizeof buf, copy, min_validity);

		/* a request is one line of JSON ended by its one NUL */
		assert (n <= sizeof buf);
		if (n > 0) {
			assert (buf[n - 1] == '\0');
			assert (memchr (buf, '\0', n - 1) == NULL);
		}
	}
	free (copy);
	return 0;
}
