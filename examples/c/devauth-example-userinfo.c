/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devauth-example-userinfo URL [ACCOUNT]
 *
 * What an app on the device does to call an API as the signed-in person:
 * ask devauthd for the account's access token over the system bus
 * (GetTokenFd: the token comes in a sealed memfd, so it never appears in
 * a bus monitor), send it as a Bearer token to URL, and print what the
 * API answered. Here the API is the IdP's userinfo endpoint, whose answer
 * names the person. When the API refuses the token (401), the app asks
 * devauthd once more for a token valid for at least a minute and tries
 * again; it never refreshes tokens itself and never sees a refresh token.
 *
 * Build: cc $(pkg-config --cflags --libs gio-unix-2.0 libsoup-3.0 json-glib-1.0)
 */

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#define BUS_NAME    "org.devauth.DeviceAuth1"
#define OBJECT_PATH "/org/devauth/DeviceAuth1"
#define INTERFACE   "org.devauth.DeviceAuth1.Manager"
#define TOKEN_MAX   (64 * 1024)

/* The access token of @account ("" for the default account), valid for at
 * least @min_validity seconds; wipe it with explicit_bzero() when done. */
static gchar *
get_token (GDBusConnection *bus, const gchar *account, guint min_validity, GError **error)
{
	g_autoptr(GVariantBuilder) options = g_variant_builder_new (G_VARIANT_TYPE ("a{sv}"));
	g_autoptr(GUnixFDList) fds = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) info = NULL;
	g_autofree gchar *token = g_malloc0 (TOKEN_MAX + 1);
	gint32 handle = -1;
	gssize n;
	int fd;

	if (min_validity > 0)
		g_variant_builder_add (options, "{sv}", "min-validity",
				       g_variant_new_uint32 (min_validity));
	reply = g_dbus_connection_call_with_unix_fd_list_sync (
		bus, BUS_NAME, OBJECT_PATH, INTERFACE, "GetTokenFd",
		g_variant_new ("(sa{sv})", account, options), G_VARIANT_TYPE ("(ha{sv})"),
		G_DBUS_CALL_FLAGS_NONE, 60000, NULL, &fds, NULL, error);
	if (reply == NULL)
		return NULL;
	g_variant_get (reply, "(h@a{sv})", &handle, &info);
	fd = g_unix_fd_list_get (fds, handle, error);
	if (fd < 0)
		return NULL;
	n = pread (fd, token, TOKEN_MAX, 0);
	close (fd);
	if (n <= 0) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
				     "devauthd sent an empty token");
		return NULL;
	}
	return g_steal_pointer (&token);
}

/* GET @url with @token; the status, and the body in @body */
static guint
call_api (SoupSession *session, const gchar *url, const gchar *token, GBytes **body, GError **error)
{
	g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
	g_autofree gchar *authorization = NULL;

	if (msg == NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "'%s' is not a URL",
			     url);
		return 0;
	}
	authorization = g_strconcat ("Bearer ", token, NULL);
	soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
				      authorization);
	explicit_bzero (authorization, strlen (authorization));
	*body = soup_session_send_and_read (session, msg, NULL, error);
	if (*body == NULL)
		return 0;
	return soup_message_get_status (msg);
}

int
main (int argc, char **argv)
{
	const gchar *url = argc > 1 ? argv[1] : NULL;
	const gchar *account = argc > 2 ? argv[2] : "";
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(SoupSession) session = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autoptr(JsonParser) parser = json_parser_new ();
	g_autofree gchar *token = NULL;
	JsonObject *person;
	const gchar *sub;
	const gchar *name;
	guint status = 0;

	if (url == NULL || argc > 3) {
		g_printerr ("usage: %s URL [ACCOUNT]\n", argv[0]);
		return 2;
	}
	bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
	if (bus == NULL) {
		g_printerr ("cannot reach the system bus: %s\n", error->message);
		return 1;
	}
	session = soup_session_new_with_options ("timeout", 30, NULL);
	/* a token devauthd has cached, then, if the API refuses it, one that
	 * is valid for at least a minute (devauthd refreshes it if it must) */
	for (guint attempt = 0; attempt < 2; attempt++) {
		if (token != NULL)
			explicit_bzero (token, strlen (token));
		g_clear_pointer (&token, g_free);
		g_clear_pointer (&body, g_bytes_unref);
		token = get_token (bus, account, attempt == 0 ? 0 : 60, &error);
		if (token == NULL) {
			g_autofree gchar *error_name = g_dbus_error_get_remote_error (error);
			const gchar *dot = error_name != NULL ? strrchr (error_name, '.') : NULL;

			g_dbus_error_strip_remote_error (error);
			g_printerr ("no token from devauthd: %s (%s)\n", error->message,
				    dot != NULL ? dot + 1 : "?");
			return 1;
		}
		status = call_api (session, url, token, &body, &error);
		if (status != SOUP_STATUS_UNAUTHORIZED)
			break;
	}
	explicit_bzero (token, strlen (token));
	if (status == 0) {
		g_printerr ("cannot reach %s: %s\n", url, error->message);
		return 1;
	}
	if (status != SOUP_STATUS_OK) {
		g_printerr ("%s answered HTTP %u\n", url, status);
		return 1;
	}
	if (!json_parser_load_from_data (parser, g_bytes_get_data (body, NULL),
					 (gssize) g_bytes_get_size (body), &error) ||
	    !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
		g_printerr ("%s did not answer a JSON object\n", url);
		return 1;
	}
	person = json_node_get_object (json_parser_get_root (parser));
	sub = json_object_get_string_member_with_default (person, "sub", "?");
	/* the names the IdP gives with the profile scope, else the subject */
	name = json_object_get_string_member_with_default (
		person, "preferred_username",
		json_object_get_string_member_with_default (person, "name", sub));
	g_print ("signed in as %s (subject %s)\n", name, sub);
	return 0;
}
