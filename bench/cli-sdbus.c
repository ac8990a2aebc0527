/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-cli-sdbus: what `devauthctl token` could cost with sd-bus
 * (libsystemd, already a dependency of devauthd): no GType system, no
 * worker thread; one GetTokenFd call, the token to stdout. A yardstick for
 * the CLI benchmark, not a tool. argv[1]: another destination (the floor).
 */
#include <stdio.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
	const char *dest = argc > 1 ? argv[1] : "org.devauth.DeviceAuth1";
	sd_bus *bus = NULL;
	sd_bus_message *reply = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	char buf[65536];
	ssize_t n;
	int fd = -1;
	int r;

	r = sd_bus_open_system (&bus);
	if (r < 0)
		return 1;
	r = sd_bus_call_method (bus, dest, "/org/devauth/DeviceAuth1",
				"org.devauth.DeviceAuth1.Manager", "GetTokenFd", &error, &reply,
				"sa{sv}", "", 0);
	if (r < 0) {
		fprintf (stderr, "%s\n", error.message ? error.message : "call failed");
		return 1;
	}
	if (sd_bus_message_read (reply, "h", &fd) < 0 || fd < 0)
		return 1;
	n = pread (fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return 1;
	buf[n++] = '\n';
	r = write (1, buf, (size_t) n) == n ? 0 : 1;
	sd_bus_message_unref (reply);
	sd_bus_flush_close_unref (bus);
	return r;
}
