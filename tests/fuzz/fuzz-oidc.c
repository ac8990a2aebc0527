/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Everything the IdP can send: discovery, device authorization, token and
 * error responses, revocation answers, ID tokens. The first byte picks
 * the parser and the HTTP status, the rest is the body. */
#include "config.h"

#include <stdint.h>

#include "da-oidc.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const guint statuses[] = {200, 400, 401, 429, 500, 503};
	const gchar *body;
	gsize len;
	guint status;

	if (size < 1)
		return 0;
	status = statuses[(data[0] >> 3) % G_N_ELEMENTS (statuses)];
	body = (const gchar *) data + 1;
	len = size - 1;
	switch (data[0] & 7) {
	case 0:
		da_oidc_endpoints_unref (
			da_oidc_parse_discovery (body, len, "https://kc.example/realms/tv", NULL));
		break;
	case 1:
		da_oidc_device_auth_free (da_oidc_parse_device_auth (status, body, len, NULL));
		break;
	case 2:
	case 3:
		da_oidc_tokens_free (da_oidc_parse_tokens (status, body, len, NULL));
		break;
	case 4:
		da_oidc_parse_revocation (status, body, len, NULL);
		break;
	default:
		/* ID tokens: fuzz-jwt */
		break;
	}
	return 0;
}
