/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Each front over the pipeline, with no daemon around it: the D-Bus front
 * on a private bus (GTestDBus), the Varlink front on a socket in a
 * temporary directory. What a caller sends is unpacked, refused or handed
 * on, and the answer packed as the wire says; the accounts are signed out,
 * so a GetToken that gets through ends in NotSignedIn. */

#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "da-dbus-service.h"
#include "da-varlink.h"
#include "test-core.h"

typedef TestPipeline Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
	guint32 uid = getuid ();

	test_pipeline_set_up (f);
	/* whoever runs the tests may do everything; root is let through anyway */
	g_array_append_val (f->authorizer->allowed_uids, uid);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
	test_pipeline_tear_down (f);
}

/* ---- the D-Bus front ---- */

typedef struct {
	Fixture base;
	GTestDBus *bus;
	GDBusConnection *service_connection;
	DaService *service;
	GDBusConnection *client;
} BusFixture;

static GDBusConnection *
bus_connect (BusFixture *f)
{
	g_autoptr(GError) error = NULL;
	GDBusConnection *c = g_dbus_connection_new_for_address_sync (
		g_test_dbus_get_bus_address (f->bus),
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
			G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		NULL, NULL, &error);

	g_assert_no_error (error);
	return c;
}

static void
bus_set_up (BusFixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	fixture_set_up (&f->base, data);
	f->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
	g_test_dbus_up (f->bus);
	f->service_connection = bus_connect (f);
	f->service = da_service_new (f->base.pipeline);
	g_assert_true (da_service_export (f->service, f->service_connection, &error));
	g_assert_no_error (error);
	f->client = bus_connect (f);
}

static void
bus_tear_down (BusFixture *f, gconstpointer data)
{
	g_clear_object (&f->client);
	g_clear_object (&f->service);
	g_dbus_connection_close_sync (f->service_connection, NULL, NULL);
	g_clear_object (&f->service_connection);
	g_test_dbus_down (f->bus);
	g_clear_object (&f->bus);
	fixture_tear_down (&f->base, data);
}

static void
got_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
	*(GAsyncResult **) user_data = g_object_ref (res);
}

/* The service runs in this thread's main loop: calls are made async and
 * the loop runs until they are answered. */
static GVariant *
bus_call (BusFixture *f,
	  GDBusConnection *client,
	  const gchar *path,
	  const gchar *iface,
	  const gchar *method,
	  GVariant *args,
	  GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;

	g_dbus_connection_call (client, g_dbus_connection_get_unique_name (f->service_connection),
				path, iface, method, args, NULL, G_DBUS_CALL_FLAGS_NONE, 10000,
				NULL, got_cb, &res);
	while (res == NULL)
		g_main_context_iteration (NULL, TRUE);
	return g_dbus_connection_call_finish (client, res, error);
}

/* the D-Bus error name of a failed call to the Manager, and its message */
static gchar *
manager_error (BusFixture *f,
	       GDBusConnection *client,
	       const gchar *method,
	       GVariant *args,
	       gchar **message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = bus_call (f, client, DA_MANAGER_OBJECT_PATH,
					       DA_MANAGER_INTERFACE, method, args, &error);

	gchar *name;

	g_assert_null (reply);
	g_assert_nonnull (error);
	name = g_dbus_error_get_remote_error (error);
	if (message != NULL)
		*message = name != NULL ? g_strdup (error->message) : NULL;
	return name;
}

static GVariant *
token_options (const gchar *key, GVariant *value)
{
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

	if (key != NULL)
		g_variant_builder_add (&b, "{sv}", key, value);
	return g_variant_builder_end (&b);
}

static void
test_bus_get_token (BusFixture *f, gconstpointer data)
{
	g_autofree gchar *name = NULL;
	g_autofree gchar *message = NULL;

	name = manager_error (f, f->client, "GetToken",
			      g_variant_new ("(s@a{sv})", "", token_options (NULL, NULL)), NULL);
	g_assert_cmpstr (name, ==, DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_NOT_SIGNED_IN);
	g_clear_pointer (&name, g_free);
	name = manager_error (f, f->client, "GetTokenFd",
			      g_variant_new ("(s@a{sv})", "other", token_options (NULL, NULL)),
			      NULL);
	g_assert_cmpstr (name, ==, DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_NOT_SIGNED_IN);
	g_clear_pointer (&name, g_free);
	name = manager_error (f, f->client, "GetToken",
			      g_variant_new ("(s@a{sv})", "nope", token_options (NULL, NULL)),
			      NULL);
	g_assert_cmpstr (name, ==, DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_NO_SUCH_ACCOUNT);
	g_clear_pointer (&name, g_free);

	/* options: their names and types, and the range of min-validity */
	name = manager_error (
		f, f->client, "GetToken",
		g_variant_new ("(s@a{sv})", "",
			       token_options ("min-validity", g_variant_new_string ("x"))),
		&message);
	g_assert_cmpstr (name, ==, DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_INVALID_ARGUMENT);
	g_assert_nonnull (strstr (message, "must be of type u, not s"));
	g_clear_pointer (&name, g_free);
	g_clear_pointer (&message, g_free);
	name = manager_error (
		f, f->client, "GetToken",
		g_variant_new ("(s@a{sv})", "",
			       token_options ("min-validity", g_variant_new_uint32 (3601))),
		&message);
	g_assert_cmpstr (name, ==, DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_INVALID_ARGUMENT);
	g_assert_nonnull (strstr (message, "at most 3600 seconds"));
	g_clear_pointer (&name, g_free);
	g_clear_pointer (&message, g_free);
	name = manager_error (
		f, f->client, "GetToken",
		g_variant_new ("(s@a{sv})", "", token_options ("bogus", g_variant_new_uint32 (1))),
		&message);
	g_assert_cmpstr (name, ==, DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_INVALID_ARGUMENT);
	g_assert_nonnull (strstr (message, "unknown option 'bogus'"));
	g_clear_pointer (&name, g_free);
	g_clear_pointer (&message, g_free);

	/* the other methods reach the accounts too */
	name = manager_error (
		f, f->client, "Login",
		g_variant_new ("(s@a{sv})", "", token_options ("x", g_variant_new_uint32 (1))),
		&message);
	g_assert_cmpstr (name, ==, DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_INVALID_ARGUMENT);
	g_assert_nonnull (strstr (message, "unknown option 'x' (Login takes \"join\""));
	g_clear_pointer (&name, g_free);
	g_clear_pointer (&message, g_free);
	name = manager_error (
		f, f->client, "Login",
		g_variant_new ("(s@a{sv})", "", token_options ("join", g_variant_new_uint32 (1))),
		&message);
	g_assert_cmpstr (name, ==, DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_INVALID_ARGUMENT);
	g_assert_nonnull (strstr (message, "the option \"join\" is a boolean"));
	g_clear_pointer (&name, g_free);
	g_clear_pointer (&message, g_free);
	name = manager_error (f, f->client, "CancelLogin", g_variant_new ("(s)", "acme"), &message);
	g_assert_cmpstr (name, ==, DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_INVALID_ARGUMENT);
	g_assert_nonnull (strstr (message, "no sign-in running"));
	g_clear_pointer (&name, g_free);
	name = manager_error (f, f->client, "Refresh", g_variant_new ("(s)", "other"), NULL);
	g_assert_cmpstr (name, ==, DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_NOT_SIGNED_IN);
}

/* a caller's GetToken rate is its own: a new connection starts afresh */
static void
test_bus_rate (BusFixture *f, gconstpointer data)
{
	g_autoptr(GDBusConnection) second = NULL;
	guint refused = 0;

	for (guint i = 0; i < 20; i++) {
		g_autofree gchar *name = manager_error (
			f, f->client, "GetToken",
			g_variant_new ("(s@a{sv})", "", token_options (NULL, NULL)), NULL);
		if (g_strcmp0 (name, DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_RATE_LIMITED) == 0)
			refused++;
		else
			g_assert_cmpstr (name, ==,
					 DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_NOT_SIGNED_IN);
	}
	/* bursts of 10, and at most one refilled while the loop ran */
	g_assert_cmpuint (refused, >=, 9);
	g_assert_cmpuint (refused, <=, 10);

	second = bus_connect (f);
	{
		g_autofree gchar *name = manager_error (
			f, second, "GetToken",
			g_variant_new ("(s@a{sv})", "", token_options (NULL, NULL)), NULL);
		g_assert_cmpstr (name, ==, DA_DBUS_ERROR_PREFIX DA_ERROR_NAME_NOT_SIGNED_IN);
	}
}

/* ListAccounts, the objects, their properties */
static void
test_bus_accounts (BusFixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) list = NULL;
	g_autoptr(GVariant) objects = NULL;
	g_autoptr(GVariant) objects_inner = NULL;
	g_autoptr(GVariant) state = NULL;
	g_autoptr(GVariant) state_inner = NULL;
	g_autoptr(GVariant) props = NULL;
	const gchar *name = NULL;
	const gchar *path = NULL;

	list = bus_call (f, f->client, DA_MANAGER_OBJECT_PATH, DA_MANAGER_INTERFACE, "ListAccounts",
			 NULL, &error);
	g_assert_no_error (error);
	g_assert_cmpstr (g_variant_get_type_string (list), ==, "(a(so))");
	{
		g_autoptr(GVariant) array = g_variant_get_child_value (list, 0);
		g_assert_cmpuint (g_variant_n_children (array), ==, 2);
		g_variant_get_child (array, 0, "(&s&o)", &name, &path);
		g_assert_cmpstr (name, ==, "acme");
		g_assert_cmpstr (path, ==, DA_ACCOUNT_OBJECT_PREFIX "acme");
	}

	objects =
		bus_call (f, f->client, DA_MANAGER_OBJECT_PATH,
			  "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL, &error);
	g_assert_no_error (error);
	objects_inner = g_variant_get_child_value (objects, 0);
	g_assert_cmpuint (g_variant_n_children (objects_inner), ==, 2);
	g_assert_true (g_variant_lookup (objects_inner, DA_ACCOUNT_OBJECT_PREFIX "other",
					 "a{sa{sv}}", NULL));

	state = bus_call (f, f->client, DA_ACCOUNT_OBJECT_PREFIX "acme",
			  "org.freedesktop.DBus.Properties", "Get",
			  g_variant_new ("(ss)", DA_ACCOUNT_INTERFACE, "State"), &error);
	g_assert_no_error (error);
	g_variant_get (state, "(v)", &state_inner);
	g_assert_cmpstr (g_variant_get_string (state_inner, NULL), ==, "signed-out");

	props = bus_call (f, f->client, DA_ACCOUNT_OBJECT_PREFIX "other",
			  "org.freedesktop.DBus.Properties", "GetAll",
			  g_variant_new ("(s)", DA_ACCOUNT_INTERFACE), &error);
	g_assert_no_error (error);
	{
		g_autoptr(GVariant) dict = g_variant_get_child_value (props, 0);
		const gchar *issuer = NULL;
		g_assert_true (g_variant_lookup (dict, "Issuer", "&s", &issuer));
		g_assert_cmpstr (issuer, ==, "http://127.0.0.1:1");
		/* never a token or a secret among them */
		g_assert_false (g_variant_lookup (dict, "AccessToken", "s", NULL));
	}
}

/* ---- the Varlink front ---- */

typedef struct {
	Fixture base;
	gchar *dir;
	gchar *path;
	DaVarlinkServer *server;
} VarlinkFixture;

static void
varlink_set_up (VarlinkFixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	fixture_set_up (&f->base, data);
	f->dir = g_dir_make_tmp ("devauthd-varlink-XXXXXX", &error);
	g_assert_no_error (error);
	f->path = g_build_filename (f->dir, DA_VARLINK_SOCKET_NAME, NULL);
	f->server = da_varlink_server_new (f->base.pipeline);
	g_assert_true (da_varlink_server_listen (f->server, f->path, &error));
	g_assert_no_error (error);
}

static void
varlink_tear_down (VarlinkFixture *f, gconstpointer data)
{
	g_clear_object (&f->server);
	g_assert_false (g_file_test (f->path, G_FILE_TEST_EXISTS)); /* removed at the end */
	g_rmdir (f->dir);
	g_free (f->path);
	g_free (f->dir);
	fixture_tear_down (&f->base, data);
}

/* One request, its reply (the main loop runs the server meanwhile). */
static JsonObject *
varlink_call (VarlinkFixture *f, const gchar *request)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	g_autoptr(GString) reply = g_string_new (NULL);
	g_autoptr(JsonParser) parser = json_parser_new ();
	g_autoptr(GError) error = NULL;
	gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
	gint fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	g_assert_cmpint (fd, >=, 0);
	g_strlcpy (addr.sun_path, f->path, sizeof (addr.sun_path));
	g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof (addr)), ==, 0);
	g_assert_cmpint (send (fd, request, strlen (request) + 1, MSG_NOSIGNAL), ==,
			 (gssize) strlen (request) + 1);
	while (reply->len == 0 || reply->str[reply->len - 1] != '\0') {
		gchar buf[4096];
		gssize n;

		g_assert_cmpint (g_get_monotonic_time (), <, deadline);
		g_main_context_iteration (NULL, FALSE);
		n = recv (fd, buf, sizeof (buf), 0);
		if (n > 0)
			g_string_append_len (reply, buf, n);
		else if (n == 0)
			g_assert_not_reached ();
		else
			g_usleep (1000);
	}
	close (fd);
	json_parser_load_from_data (parser, reply->str, -1, &error);
	g_assert_no_error (error);
	return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
assert_varlink_error (VarlinkFixture *f, const gchar *request, const gchar *expected)
{
	g_autoptr(JsonObject) reply = varlink_call (f, request);

	g_assert_cmpstr (json_object_get_string_member_with_default (reply, "error", NULL), ==,
			 expected);
}

#define GET_TOKEN "{\"method\":\"" DA_VARLINK_METHOD_GET_TOKEN "\",\"parameters\":"

static void
test_varlink_get_token (VarlinkFixture *f, gconstpointer data)
{
	assert_varlink_error (f, GET_TOKEN "{}}",
			      DA_VARLINK_INTERFACE "." DA_ERROR_NAME_NOT_SIGNED_IN);
	assert_varlink_error (f, GET_TOKEN "{\"account\":\"other\",\"minValidity\":60}}",
			      DA_VARLINK_INTERFACE "." DA_ERROR_NAME_NOT_SIGNED_IN);
	assert_varlink_error (f, GET_TOKEN "{\"account\":\"nope\"}}",
			      DA_VARLINK_INTERFACE "." DA_ERROR_NAME_NO_SUCH_ACCOUNT);
	assert_varlink_error (f, GET_TOKEN "{\"minValidity\":3601}}",
			      DA_VARLINK_INTERFACE "." DA_ERROR_NAME_INVALID_ARGUMENT);
	assert_varlink_error (f, GET_TOKEN "{\"minValidity\":\"60\"}}",
			      DA_VARLINK_SERVICE_ERROR "InvalidParameter");
	assert_varlink_error (f, GET_TOKEN "{\"acount\":\"acme\"}}",
			      DA_VARLINK_SERVICE_ERROR "InvalidParameter");
	assert_varlink_error (f, "{\"method\":\"" DA_VARLINK_INTERFACE ".Login\"}",
			      DA_VARLINK_SERVICE_ERROR "MethodNotFound");
}

static void
test_varlink_service (VarlinkFixture *f, gconstpointer data)
{
	g_autoptr(JsonObject) info =
		varlink_call (f, "{\"method\":\"" DA_VARLINK_SERVICE_GET_INFO "\"}");
	g_autoptr(JsonObject) described = NULL;
	JsonObject *params = json_object_get_object_member (info, "parameters");

	g_assert_nonnull (params);
	g_assert_cmpstr (json_object_get_string_member (params, "product"), ==, "devauthd");
	g_assert_cmpstr (json_object_get_string_member (params, "version"), ==, PACKAGE_VERSION);

	described =
		varlink_call (f, "{\"method\":\"" DA_VARLINK_SERVICE_GET_INTERFACE_DESCRIPTION
				 "\",\"parameters\":{\"interface\":\"" DA_VARLINK_INTERFACE "\"}}");
	params = json_object_get_object_member (described, "parameters");
	g_assert_nonnull (params);
	g_assert_nonnull (
		strstr (json_object_get_string_member (params, "description"), "method GetToken("));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add ("/devauthd/fronts/dbus/get-token", BusFixture, NULL, bus_set_up,
		    test_bus_get_token, bus_tear_down);
	g_test_add ("/devauthd/fronts/dbus/rate", BusFixture, NULL, bus_set_up, test_bus_rate,
		    bus_tear_down);
	g_test_add ("/devauthd/fronts/dbus/accounts", BusFixture, NULL, bus_set_up,
		    test_bus_accounts, bus_tear_down);
	g_test_add ("/devauthd/fronts/varlink/get-token", VarlinkFixture, NULL, varlink_set_up,
		    test_varlink_get_token, varlink_tear_down);
	g_test_add ("/devauthd/fronts/varlink/service", VarlinkFixture, NULL, varlink_set_up,
		    test_varlink_service, varlink_tear_down);
	return g_test_run ();
}
