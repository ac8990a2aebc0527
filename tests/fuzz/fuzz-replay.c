/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Runs a fuzz target over its corpus, so that plain `meson test` replays
 * every input a fuzzer ever kept. Built only when not linking libFuzzer. */
#include "config.h"

#include <glib.h>
#include <stdint.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static guint
replay_path (const gchar *path)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDir) dir = NULL;
	g_autofree gchar *data = NULL;
	const gchar *name;
	gsize len = 0;
	guint n = 0;

	if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
		dir = g_dir_open (path, 0, &error);
		g_assert_no_error (error);
		while ((name = g_dir_read_name (dir)) != NULL) {
			g_autofree gchar *child = g_build_filename (path, name, NULL);
			n += replay_path (child);
		}
		return n;
	}
	if (!g_file_get_contents (path, &data, &len, &error))
		g_error ("%s: %s", path, error->message);
	LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
	return 1;
}

int
main (int argc, char **argv)
{
	guint n = 0;

	if (argc < 2) {
		g_printerr ("usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		n += replay_path (argv[i]);
	if (n == 0) {
		g_printerr ("no inputs found\n");
		return 1;
	}
	g_print ("replayed %u inputs\n", n);
	return 0;
}
