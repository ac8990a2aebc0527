/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* accounts.d/NAME.conf and devauthd.conf as an admin (or a broken image)
 * may write them. */
#include "config.h"

#include <stdint.h>

#include "da-config.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static GLogWriterOutput
quiet_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	return G_LOG_WRITER_HANDLED;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	g_autoptr(DaAccountConfig) account = NULL;
	g_autoptr(DaConfig) config = g_new0 (DaConfig, 1);

	static gsize quiet = 0;

	if (g_once_init_enter (&quiet))
		g_once_init_leave (&quiet, (g_log_set_writer_func (quiet_writer, NULL, NULL), 1));
	account = da_account_config_load_from_data ("fuzz", "fuzz.conf", (const gchar *) data, size,
						    NULL);
	config->accounts = g_ptr_array_new ();
	config->problems = g_ptr_array_new ();
	da_config_load_daemon_data (config, "devauthd.conf", (const gchar *) data, size, NULL);
	return 0;
}
