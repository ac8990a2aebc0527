/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devauthctl: the front of the command-line client, in plain C (no GLib).
 *
 *   devauthctl token [ACCOUNT] [--min-validity SECONDS]
 *
 * asks devauthd's Varlink socket for the token: one connection, one
 * request, one reply, no bus. Everything else, and this too when the
 * socket is not there (devauthd not running: the bus starts it), runs
 * devauthctl-bus, the GLib client, with the same arguments. The two print
 * the same messages and exit with the same codes.
 *
 * The token is written with write(2), never through stdio, and the one
 * buffer that held it (the reply, unescaped in place) is wiped at exit.
 */

#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "da-text.h"
#include "devauthctl-varlink.h"

#define DA_SOCKET_DEFAULT DA_RUNTIME_DIR "/" DA_VARLINK_SOCKET_NAME
#define DA_REQUEST_MAX	  (16 * 1024) /* devauthd reads no more */
#define DA_REPLY_MAX	  (128 * 1024)
#define DA_TOKEN_MAX_SIZE (64 * 1024)
/* as long as a D-Bus method call waits by default */
#define DA_TIMEOUT_MS 25000

/* exit codes: devauthctl-common.h */
enum {
	DA_EXIT_OK = 0,
	DA_EXIT_ERROR = 1,
	DA_EXIT_DENIED = 3,
	DA_EXIT_EXPIRED = 4,
	DA_EXIT_CANCELLED = 5,
};

typedef enum {
	DA_CALL_REPLY,
	DA_CALL_FALLBACK, /* nobody answered: ask the bus */
	DA_CALL_TIMEOUT,
	DA_CALL_MALFORMED, /* too long, or cut short */
	DA_CALL_READ_ERROR,
} DaCall;

typedef struct {
	const char *account;	/* NULL: the default account */
	long long min_validity; /* -1: devauthd's default */
} DaArgs;

static char da_reply[DA_REPLY_MAX];
static size_t da_reply_received;

/* ---- output ---- */

static bool
da_write_all (int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write (fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		data += n;
		len -= (size_t) n;
	}
	return true;
}

/* a message on stderr, written at once: room for a whole reply sanitized */
static struct {
	char buf[4 * DA_REPLY_MAX + 256];
	size_t len;
} da_err;

static void
da_err_add (const char *s, size_t n)
{
	if (n > sizeof (da_err.buf) - da_err.len)
		n = sizeof (da_err.buf) - da_err.len;
	memcpy (da_err.buf + da_err.len, s, n);
	da_err.len += n;
}

static void
da_err_str (const char *s)
{
	da_err_add (s, strlen (s));
}

/* As da_sanitize (): control and bidirectional characters as \xNN or
 * \uNNNN, invalid UTF-8 as \xNN. */
static void
da_err_sanitized (const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	while (len > 0) {
		uint32_t c = 0;
		size_t n = da_utf8_next (s, len, &c);
		bool escape = n == 0 || da_text_char_is_unsafe (c);

		if (n == 0) { /* not UTF-8: this byte */
			c = (unsigned char) *s;
			n = 1;
		}
		if (escape && c > 0xff) {
			char esc[6] = {'\\',
				       'u',
				       hex[(c >> 12) & 0xf],
				       hex[(c >> 8) & 0xf],
				       hex[(c >> 4) & 0xf],
				       hex[c & 0xf]};
			da_err_add (esc, 6);
		} else if (escape) {
			char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 0xf]};
			da_err_add (esc, 4);
		} else {
			da_err_add (s, n);
		}
		s += n;
		len -= n;
	}
}

/* ends the line on stderr; returns @code */
static int
da_err_end (int code)
{
	da_err_str ("\n");
	da_write_all (STDERR_FILENO, da_err.buf, da_err.len);
	return code;
}

/* "devauthctl: @what@detail\n" on stderr; returns @code */
static int
da_fail (const char *what, const char *detail, int code)
{
	da_err_str ("devauthctl: ");
	da_err_str (what);
	if (detail != NULL)
		da_err_str (detail);
	return da_err_end (code);
}

/* ---- devauthctl-bus ---- */

static void __attribute__ ((noreturn)) da_exec_bus (char **argv)
{
	static const char name[] = "devauthctl-bus";
	static char *no_args[] = {(char *) "devauthctl", NULL};
	char path[PATH_MAX + sizeof (name)];
	ssize_t n = readlink ("/proc/self/exe", path, PATH_MAX);
	char *slash;

	if (argv[0] == NULL)
		argv = no_args;
	argv[0] = (char *) "devauthctl";
	/* next to us: the build tree */
	if (n > 0 && n < PATH_MAX) {
		path[n] = '\0';
		slash = strrchr (path, '/');
		if (slash != NULL) {
			memcpy (slash + 1, name, sizeof (name));
			execv (path, argv);
		}
	}
	execv (DA_BUS_CLIENT_PATH, argv);
	exit (da_fail ("cannot run devauthctl-bus: " DA_BUS_CLIENT_PATH ": ", strerror (errno),
		       DA_EXIT_ERROR));
}

/* ---- the command line ---- */

/* As da_parse_seconds (): decimal digits only, at most 2^32 - 1. */
static bool
da_parse_seconds (const char *s, long long *out)
{
	long long v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
		if (v > 4294967295LL)
			return false;
	}
	*out = v;
	return true;
}

#define DA_OPT_MIN_VALIDITY "--min-validity"

/* token [ACCOUNT] [--min-validity SECONDS|--min-validity=SECONDS]; false
 * for anything else, which devauthctl-bus takes (or prints the error of) */
static bool
da_args_parse (int argc, char **argv, DaArgs *args)
{
	args->account = NULL;
	args->min_validity = -1;
	if (argc < 2 || strcmp (argv[1], "token") != 0)
		return false;
	for (int i = 2; i < argc; i++) {
		const char *value;

		if (argv[i][0] != '-') {
			if (args->account != NULL)
				return false;
			args->account = argv[i];
			continue;
		}
		if (strcmp (argv[i], DA_OPT_MIN_VALIDITY) == 0 && i + 1 < argc)
			value = argv[++i];
		else if (strncmp (argv[i], DA_OPT_MIN_VALIDITY "=", sizeof (DA_OPT_MIN_VALIDITY)) ==
			 0)
			value = argv[i] + sizeof (DA_OPT_MIN_VALIDITY);
		else
			return false;
		/* given twice: devauthctl-bus takes the last one */
		if (args->min_validity >= 0 || !da_parse_seconds (value, &args->min_validity))
			return false;
	}
	return true;
}

/* NULL when devauthctl must not use the socket */
static const char *
da_socket_path (void)
{
	const char *path = getenv ("DEVAUTH_VARLINK_SOCKET");

	if (path == NULL)
		return DA_SOCKET_DEFAULT;
	if (path[0] == '\0' || strlen (path) >= sizeof (((struct sockaddr_un *) NULL)->sun_path))
		return NULL;
	return path;
}

/* ---- the call ---- */

static long long
da_now_ms (void)
{
	struct timespec ts;

	clock_gettime (CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* false once @deadline has passed */
static bool
da_wait (int fd, short events, long long deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		long long left = deadline - da_now_ms ();
		int r;

		if (left <= 0)
			return false;
		r = poll (&pfd, 1, (int) left);
		if (r != 0 && !(r < 0 && errno == EINTR))
			return true; /* ready, or an error that the next call tells */
	}
}

static DaCall
da_send (int fd, const char *request, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t n = send (fd, request, len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!da_wait (fd, POLLOUT, deadline))
				return DA_CALL_TIMEOUT;
			continue;
		}
		if (n < 0)
			return DA_CALL_FALLBACK; /* hung up on us before reading */
		request += n;
		len -= (size_t) n;
	}
	return DA_CALL_REPLY;
}

/* Up to the reply's NUL; @len: its length without the NUL. */
static DaCall
da_receive (int fd, size_t *len, long long deadline)
{
	while (da_reply_received < sizeof (da_reply)) {
		char *chunk = da_reply + da_reply_received;
		ssize_t n = recv (fd, chunk, sizeof (da_reply) - da_reply_received, 0);
		char *nul;

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!da_wait (fd, POLLIN, deadline))
				return DA_CALL_TIMEOUT;
			continue;
		}
		if (da_reply_received == 0 && (n == 0 || (n < 0 && errno == ECONNRESET)))
			return DA_CALL_FALLBACK;
		if (n < 0)
			return DA_CALL_READ_ERROR;
		if (n == 0)
			return DA_CALL_MALFORMED;
		da_reply_received += (size_t) n;
		nul = memchr (chunk, '\0', (size_t) n);
		if (nul != NULL) {
			*len = (size_t) (nul - da_reply);
			return DA_CALL_REPLY;
		}
	}
	return DA_CALL_MALFORMED;
}

static DaCall
da_call (const char *path, const char *request, size_t request_len, size_t *reply_len)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	long long deadline = da_now_ms () + DA_TIMEOUT_MS;
	DaCall result;
	int errsv;
	int fd;

	fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return DA_CALL_FALLBACK;
	memcpy (addr.sun_path, path, strlen (path));
	/* not there, nobody listening, not ours to reach, backlog full, …:
	 * the bus can still answer (and start devauthd) */
	if (connect (fd, (struct sockaddr *) &addr, sizeof (addr)) < 0)
		result = DA_CALL_FALLBACK;
	else
		result = da_send (fd, request, request_len, deadline);
	if (result == DA_CALL_REPLY)
		result = da_receive (fd, reply_len, deadline);
	errsv = errno;
	close (fd);
	errno = errsv;
	return result;
}

/* ---- the reply ---- */

/* As da_token_check () and da_write_all () in devauthctl-token.c */
static int
da_print_token (char *token, size_t len)
{
	if (len > DA_TOKEN_MAX_SIZE)
		return da_fail ("the token is larger than 65536 bytes", NULL, DA_EXIT_ERROR);
	if (len == 0)
		return da_fail ("devauthd sent an empty token", NULL, DA_EXIT_ERROR);
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char) token[i] < 0x20 || (unsigned char) token[i] > 0x7e)
			return da_fail ("devauthd sent a malformed token", NULL, DA_EXIT_ERROR);
	}
	/* unescaped in place, the token ends before its closing quote */
	token[len] = '\n';
	if (!da_write_all (STDOUT_FILENO, token, len + 1))
		return da_fail ("cannot write the token: ", strerror (errno), DA_EXIT_ERROR);
	return DA_EXIT_OK;
}

static bool
da_has_prefix (const char *s, size_t len, const char *prefix)
{
	return len >= strlen (prefix) && memcmp (s, prefix, strlen (prefix)) == 0;
}

/* As da_exit_code_for_error () */
static int
da_exit_code (const DaReply *reply)
{
	static const struct {
		const char *name;
		int code;
	} codes[] = {
		{DA_VARLINK_ERROR (DA_ERROR_NAME_LOGIN_DENIED), DA_EXIT_DENIED},
		{DA_VARLINK_ERROR (DA_ERROR_NAME_LOGIN_EXPIRED), DA_EXIT_EXPIRED},
		{DA_VARLINK_ERROR (DA_ERROR_NAME_CANCELLED), DA_EXIT_CANCELLED},
	};

	for (size_t i = 0; i < sizeof (codes) / sizeof (codes[0]); i++) {
		if (reply->error_len == strlen (codes[i].name) &&
		    da_has_prefix (reply->error, reply->error_len, codes[i].name))
			return codes[i].code;
	}
	return DA_EXIT_ERROR;
}

/* As da_print_error (): the message; the name when there is none (the
 * errors of org.varlink.service carry other parameters) */
static int
da_print_error (const DaReply *reply)
{
	da_err_str ("devauthctl: ");
	if (reply->message == NULL ||
	    da_has_prefix (reply->error, reply->error_len, DA_VARLINK_SERVICE_ERROR)) {
		da_err_str ("devauthd refused the request: ");
		da_err_sanitized (reply->error, reply->error_len);
	} else {
		da_err_sanitized (reply->message, reply->message_len);
	}
	return da_err_end (da_exit_code (reply));
}

static int
da_token (const char *path, const DaArgs *args, char **argv)
{
	char request[DA_REQUEST_MAX];
	size_t request_len;
	size_t reply_len = 0;
	DaReply reply;

	request_len = da_json_request_build (request, sizeof (request), args->account,
					     args->min_validity);
	if (request_len == 0)
		da_exec_bus (argv); /* not UTF-8, or too long: devauthctl-bus tells */
	switch (da_call (path, request, request_len, &reply_len)) {
	case DA_CALL_REPLY:
		break;
	case DA_CALL_FALLBACK:
		da_exec_bus (argv);
	case DA_CALL_TIMEOUT:
		return da_fail ("devauthd did not answer in time", NULL, DA_EXIT_ERROR);
	case DA_CALL_READ_ERROR:
		return da_fail ("cannot read the reply of devauthd: ", strerror (errno),
				DA_EXIT_ERROR);
	case DA_CALL_MALFORMED:
	default:
		return da_fail ("devauthd sent a malformed reply", NULL, DA_EXIT_ERROR);
	}
	switch (da_json_reply_parse (da_reply, reply_len, &reply)) {
	case DA_REPLY_TOKEN:
		return da_print_token (reply.token, reply.token_len);
	case DA_REPLY_ERROR:
		return da_print_error (&reply);
	case DA_REPLY_MALFORMED:
	default:
		return da_fail ("devauthd sent a malformed reply", NULL, DA_EXIT_ERROR);
	}
}

int
main (int argc, char **argv)
{
	const char *path = da_socket_path ();
	DaArgs args;
	int code;

	/* here too, so that it works without devauthctl-bus */
	if (argc == 2 && strcmp (argv[1], "--version") == 0) {
		static const char version[] = "devauthctl " PACKAGE_VERSION "\n";
		return da_write_all (STDOUT_FILENO, version, sizeof (version) - 1) ? DA_EXIT_OK
										   : DA_EXIT_ERROR;
	}
	if (path == NULL || !da_args_parse (argc, argv, &args))
		da_exec_bus (argv);
	code = da_token (path, &args, argv);
	explicit_bzero (da_reply, da_reply_received);
	return code;
}
