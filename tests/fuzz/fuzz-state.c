/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What comes back from the keyring and the state directory: token records,
 * account state, and sealed vault files. */
#include "config.h"

#include <stdint.h>

#include "da-token.h"
#include "da-vault.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const guint8 key[32] = {7};
	GByteArray *opened;
	DaToken *refresh = NULL;
	DaToken *access = NULL;

	da_token_free (da_token_parse ((const gchar *) data, size, NULL));
	opened = da_vault_open (key, "tv", data, size, NULL);
	if (opened != NULL)
		g_byte_array_unref (opened);

	if (da_token_unpack_state ((const gchar *) data, size, &refresh, &access, NULL)) {
		da_token_free (refresh);
		da_token_free (access);
	}
	return 0;
}
