/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devauthctl token [ACCOUNT] [--min-validity SECONDS] [--no-fd]
 *
 * Prints the access token and a newline on stdout and nothing else, for
 *   curl -H "Authorization: Bearer $(devauthctl token)" …
 *
 * By default the token comes in a sealed memfd (GetTokenFd), so it never
 * shows in a bus monitor. It is written to stdout with write(2), not stdio,
 * and every buffer that held it is wiped before it is freed.
 *
 * This is the bus path: devauthctl (devauthctl.c) gets the token over
 * devauthd's Varlink socket itself when it can, and runs this one when the
 * socket is not there, with --no-fd, and for usage errors.
 */

#include "config.h"

#include <errno.h>
#include <gio/gunixfdlist.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devauthctl-common.h"

#define DA_TOKEN_MAX_SIZE (64 * 1024)

/* a buffer that is wiped before it is freed */
typedef struct {
	gchar *data;
	gsize size; /* allocated */
	gsize len;  /* used */
} DaTokenBuffer;

static DaTokenBuffer *
da_token_buffer_new (gsize size)
{
	DaTokenBuffer *self = g_new0 (DaTokenBuffer, 1);

	self->data = g_malloc0 (size);
	self->size = size;
	return self;
}

static void
da_token_buffer_free (DaTokenBuffer *self)
{
	explicit_bzero (self->data, self->size);
	g_free (self->data);
	g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaTokenBuffer, da_token_buffer_free)

typedef int DaFd;

static void
da_fd_clear (DaFd *fd)
{
	if (*fd >= 0)
		close (*fd);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DaFd, da_fd_clear)

/* Room for the largest token, one byte to tell a larger one, and the newline. */
static DaTokenBuffer *
da_token_secret_new (void)
{
	return da_token_buffer_new (DA_TOKEN_MAX_SIZE + 2);
}

static gboolean
da_token_read_fd (int fd, DaTokenBuffer *secret, GError **error)
{
	struct stat st;
	gsize cap = DA_TOKEN_MAX_SIZE + 1;

	if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				     "devauthd did not send the token in a memory file");
		return FALSE;
	}
	while (secret->len < cap) {
		ssize_t n = pread (fd, secret->data + secret->len, cap - secret->len,
				   (off_t) secret->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int errsv = errno;
			g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
				     "cannot read the token: %s", g_strerror (errsv));
			return FALSE;
		}
		if (n == 0)
			break;
		secret->len += (gsize) n;
	}
	return TRUE;
}

/* Calls @method of the Manager on the connection itself, without a proxy:
 * no AddMatch, StartServiceByName, GetNameOwner or GetAll round trips, just
 * the call. Auto-start stays on (no G_DBUS_CALL_FLAGS_NO_AUTO_START), so the
 * bus starts devauthd by D-Bus activation when the name has no owner. */
static GVariant *
da_token_call (GDBusConnection *bus,
	       const gchar *method,
	       const gchar *account,
	       GVariant *options,
	       const GVariantType *reply_type,
	       GUnixFDList **out_fd_list,
	       GError **error)
{
	return g_dbus_connection_call_with_unix_fd_list_sync (
		bus, DA_BUS_NAME, DA_MANAGER_OBJECT_PATH, da_dbus_manager_interface_info ()->name,
		method, g_variant_new ("(s@a{sv})", account, options), reply_type,
		G_DBUS_CALL_FLAGS_NONE, -1, NULL, out_fd_list, NULL, error);
}

static gboolean
da_token_get_fd (GDBusConnection *bus,
		 const gchar *account,
		 GVariant *options,
		 DaTokenBuffer *secret,
		 GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GUnixFDList) fd_list = NULL;
	g_auto(DaFd) fd = -1;
	gint32 handle = -1;

	reply = da_token_call (bus, "GetTokenFd", account, options, G_VARIANT_TYPE ("(ha{sv})"),
			       &fd_list, error);
	if (reply == NULL)
		return FALSE;
	if (fd_list == NULL) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				     "devauthd sent no file descriptor");
		return FALSE;
	}
	g_variant_get (reply, "(h@a{sv})", &handle, NULL);
	fd = g_unix_fd_list_get (fd_list, handle, error);
	if (fd < 0)
		return FALSE;
	return da_token_read_fd (fd, secret, error);
}

static gboolean
da_token_get_string (GDBusConnection *bus,
		     const gchar *account,
		     GVariant *options,
		     DaTokenBuffer *secret,
		     GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	const gchar *token;
	gsize len;

	reply = da_token_call (bus, "GetToken", account, options, G_VARIANT_TYPE ("(sa{sv})"), NULL,
			       error);
	if (reply == NULL)
		return FALSE;
	/* the reply's own buffers belong to GDBus and are not wiped: one
	 * reason why the memfd is the default */
	g_variant_get (reply, "(&s@a{sv})", &token, NULL);
	len = strlen (token);
	secret->len = MIN (len, DA_TOKEN_MAX_SIZE + 1);
	memcpy (secret->data, token, secret->len);
	return TRUE;
}

/* An access token is visible ASCII (RFC 6749, appendix A.12). */
static gboolean
da_token_check (const DaTokenBuffer *secret, GError **error)
{
	if (secret->len > DA_TOKEN_MAX_SIZE) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			     "the token is larger than %u bytes", (guint) DA_TOKEN_MAX_SIZE);
		return FALSE;
	}
	if (secret->len == 0) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				     "devauthd sent an empty token");
		return FALSE;
	}
	for (gsize i = 0; i < secret->len; i++) {
		guchar c = (guchar) secret->data[i];

		if (c < 0x20 || c > 0x7e) {
			g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
					     "devauthd sent a malformed token");
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
da_write_all (int fd, const gchar *data, gsize len, GError **error)
{
	while (len > 0) {
		ssize_t n = write (fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int errsv = errno;
			g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
				     "cannot write the token: %s", g_strerror (errsv));
			return FALSE;
		}
		data += n;
		len -= (gsize) n;
	}
	return TRUE;
}

static GVariant *
da_token_options (gboolean have_min_validity, guint min_validity)
{
	g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

	if (have_min_validity)
		g_variant_builder_add (&builder, "{sv}", "min-validity",
				       g_variant_new_uint32 (min_validity));
	return g_variant_builder_end (&builder);
}

int
da_cmd_token (int argc, char **argv)
{
	g_autofree gchar *min_validity_str = NULL;
	gboolean no_fd = FALSE;
	const GOptionEntry entries[] = {
		{"min-validity", 0, 0, G_OPTION_ARG_STRING, &min_validity_str,
		 "The token must stay valid this long (default: devauthd's, 30)", "SECONDS"},
		{"no-fd", 0, 0, G_OPTION_ARG_NONE, &no_fd,
		 "Get the token in the reply message, not in a file descriptor", NULL},
		G_OPTION_ENTRY_NULL,
	};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(DaTokenBuffer) secret = NULL;
	g_autoptr(GError) error = NULL;
	GVariant *options;
	const gchar *account = "";
	guint min_validity = 0;
	gboolean ok;

	context = da_option_context_new (
		"[ACCOUNT]", "Print an access token of ACCOUNT (default: the default account)\n"
			     "on stdout, followed by a newline, and nothing else.");
	g_option_context_add_main_entries (context, entries, NULL);
	if (!da_option_context_parse (context, "token", &argc, &argv))
		return DA_EXIT_USAGE;
	if (argc > 2)
		return da_usage_error ("token", "too many arguments");
	if (argc == 2)
		account = argv[1];
	if (min_validity_str != NULL && !da_parse_seconds (min_validity_str, &min_validity))
		return da_usage_error ("token", "invalid number of seconds '%s'", min_validity_str);

	bus = da_bus_get (&error);
	if (bus == NULL)
		return da_fail (error);

	secret = da_token_secret_new ();
	options = da_token_options (min_validity_str != NULL, min_validity);
	if (no_fd)
		ok = da_token_get_string (bus, account, options, secret, &error);
	else
		ok = da_token_get_fd (bus, account, options, secret, &error);
	if (!ok || !da_token_check (secret, &error))
		return da_fail (error);

	secret->data[secret->len++] = '\n';
	if (!da_write_all (STDOUT_FILENO, secret->data, secret->len, &error))
		return da_fail (error);
	return DA_EXIT_OK;
}
