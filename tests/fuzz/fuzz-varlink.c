/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Everything a local caller can send on devauthd's Varlink socket, one
 * request without its NUL: the call read from its bytes, GetToken's
 * parameters, and the caller's words echoed back in an error. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "da-varlink-request.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_auto(DaVarlinkRequest) request = {0};
	const gchar *problem = NULL;

	if (da_varlink_request_parse ((const gchar *) data, size, &request, &problem) ==
	    DA_VARLINK_REQUEST_OK) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *echo = da_varlink_echo (request.method);
		const gchar *account = NULL;
		const gchar *bad = NULL;
		guint min_validity = 0;

		g_assert (strlen (echo) <= DA_VARLINK_ECHO_MAX);
		g_assert (g_utf8_validate (echo, -1, NULL));
		if (da_varlink_parse_get_token (request.params, &account, &min_validity, &bad,
						&error)) {
			g_assert (account != NULL);
			g_assert (g_utf8_validate (account, -1, NULL));
		} else {
			g_assert (bad != NULL || error != NULL);
		}
	}
	return 0;
}
