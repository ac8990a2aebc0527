/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The wire names of common/da-names.h: what the public API promises, and
 * the files that spell them without including the header (the interface
 * XML, the bus policy, the activation file, the unit, the polkit policy). */

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "da-error.h"
#include "da-names.h"

static gchar *
read_source_file (const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_test_build_filename (G_TEST_DIST, "..", "..", dir, name, NULL);
	g_autoptr(GError) error = NULL;
	gchar *contents = NULL;

	if (!g_file_get_contents (path, &contents, NULL, &error))
		g_error ("%s: %s", path, error->message);
	return contents;
}

/* The names are the API: a change here breaks every client in the field. */
static void
test_names_public (void)
{
	g_assert_cmpstr (DA_BUS_NAME, ==, "org.devauth.DeviceAuth1");
	g_assert_cmpstr (DA_MANAGER_OBJECT_PATH, ==, "/org/devauth/DeviceAuth1");
	g_assert_cmpstr (DA_ACCOUNT_OBJECT_PREFIX, ==, "/org/devauth/DeviceAuth1/account/");
	g_assert_cmpstr (DA_MANAGER_INTERFACE, ==, "org.devauth.DeviceAuth1.Manager");
	g_assert_cmpstr (DA_ACCOUNT_INTERFACE, ==, "org.devauth.DeviceAuth1.Account");
	g_assert_cmpstr (DA_DBUS_ERROR (DA_ERROR_NAME_LOGIN_DENIED), ==,
			 "org.devauth.DeviceAuth1.Error.LoginDenied");
	g_assert_cmpstr (DA_VARLINK_ERROR (DA_ERROR_NAME_LOGIN_DENIED), ==,
			 "org.devauth.DeviceAuth1.LoginDenied");
	g_assert_cmpstr (DA_VARLINK_SOCKET_NAME, ==, "org.devauth.DeviceAuth1");
	g_assert_cmpstr (DA_VARLINK_METHOD_GET_TOKEN, ==, "org.devauth.DeviceAuth1.GetToken");
	g_assert_cmpstr (DA_ACTION_GET_TOKEN, ==, "org.devauth.get-token");

	g_assert_true (g_dbus_is_name (DA_BUS_NAME) && !g_dbus_is_unique_name (DA_BUS_NAME));
	g_assert_true (g_variant_is_object_path (DA_MANAGER_OBJECT_PATH));
	g_assert_true (g_dbus_is_interface_name (DA_MANAGER_INTERFACE));
	g_assert_true (g_dbus_is_interface_name (DA_ACCOUNT_INTERFACE));
}

/* every DaError has its own name, and it is the header's */
static void
test_names_errors (void)
{
	static const gchar *const header[] = {
		DA_ERROR_NAME_NO_SUCH_ACCOUNT,	 DA_ERROR_NAME_NOT_SIGNED_IN,
		DA_ERROR_NAME_PERMISSION_DENIED, DA_ERROR_NAME_LOGIN_IN_PROGRESS,
		DA_ERROR_NAME_LOGIN_DENIED,	 DA_ERROR_NAME_LOGIN_EXPIRED,
		DA_ERROR_NAME_IDP_UNREACHABLE,	 DA_ERROR_NAME_IDP_ERROR,
		DA_ERROR_NAME_INVALID_ARGUMENT,	 DA_ERROR_NAME_RATE_LIMITED,
		DA_ERROR_NAME_CANCELLED,	 DA_ERROR_NAME_INTERNAL,
	};
	g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

	g_assert_cmpuint (G_N_ELEMENTS (header), ==, DA_ERROR_LAST);
	for (guint code = 0; code < DA_ERROR_LAST; code++) {
		const gchar *name = da_error_to_dbus_name (code);
		gboolean in_header = FALSE;

		g_assert_true (g_str_has_prefix (name, DA_DBUS_ERROR_PREFIX));
		g_assert_true (g_dbus_is_interface_name (name));
		g_assert_false (g_hash_table_contains (seen, name));
		g_hash_table_add (seen, (gpointer) name);
		for (guint i = 0; i < G_N_ELEMENTS (header); i++)
			in_header |= g_str_equal (name + strlen (DA_DBUS_ERROR_PREFIX), header[i]);
		if (!in_header)
			g_error ("%s is not in da-names.h", name);
	}
}

/* The interface XML: its interfaces, and the error list of its preamble. */
static void
test_names_interface_xml (void)
{
	g_autofree gchar *xml = read_source_file ("dbus", DA_BUS_NAME ".xml");
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusNodeInfo) node = g_dbus_node_info_new_for_xml (xml, &error);
	const gchar *list;
	g_autofree gchar *errors = NULL;
	g_auto(GStrv) listed = NULL;

	g_assert_no_error (error);
	g_assert_nonnull (node->interfaces[0]);
	g_assert_nonnull (node->interfaces[1]);
	g_assert_null (node->interfaces[2]);
	g_assert_cmpstr (node->interfaces[0]->name, ==, DA_MANAGER_INTERFACE);
	g_assert_cmpstr (node->interfaces[1]->name, ==, DA_ACCOUNT_INTERFACE);

	list = strstr (xml, "Errors are " DA_DBUS_ERROR_PREFIX "<Name>: ");
	g_assert_nonnull (list);
	list += strlen ("Errors are " DA_DBUS_ERROR_PREFIX "<Name>: ");
	errors = g_strndup (list, strchr (list, '.') - list);
	g_strdelimit (errors, "\n", ' ');
	listed = g_strsplit (errors, ", ", -1);
	g_assert_cmpuint (g_strv_length (listed), ==, DA_ERROR_LAST);
	for (guint code = 0; code < DA_ERROR_LAST; code++) {
		const gchar *name = da_error_to_dbus_name (code) + strlen (DA_DBUS_ERROR_PREFIX);
		gboolean found = FALSE;

		for (guint i = 0; listed[i] != NULL; i++)
			found |= g_str_equal (g_strstrip (listed[i]), name);
		if (!found)
			g_error ("the interface XML does not list the error %s", name);
	}
}

/* The bus policy, the activation file and the unit own the same name. */
static void
test_names_bus_files (void)
{
	g_autofree gchar *policy = read_source_file ("dbus", DA_BUS_NAME ".conf");
	g_autofree gchar *service = read_source_file ("dbus", DA_BUS_NAME ".service");
	g_autofree gchar *unit = read_source_file ("systemd", "devauthd.service.in");
	g_autoptr(GKeyFile) activation = g_key_file_new ();
	g_autoptr(GKeyFile) unit_file = g_key_file_new ();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = NULL;
	g_autofree gchar *bus_name = NULL;

	g_assert_nonnull (strstr (policy, "<allow own=\"" DA_BUS_NAME "\"/>"));
	g_assert_true (
		g_key_file_load_from_data (activation, service, -1, G_KEY_FILE_NONE, &error));
	name = g_key_file_get_string (activation, "D-BUS Service", "Name", &error);
	g_assert_no_error (error);
	g_assert_cmpstr (name, ==, DA_BUS_NAME);
	g_assert_true (g_key_file_load_from_data (unit_file, unit, -1, G_KEY_FILE_NONE, &error));
	bus_name = g_key_file_get_string (unit_file, "Service", "BusName", &error);
	g_assert_no_error (error);
	g_assert_cmpstr (bus_name, ==, DA_BUS_NAME);
}

static void
policy_start_element (GMarkupParseContext *context,
		      const gchar *element,
		      const gchar **names,
		      const gchar **values,
		      gpointer user_data,
		      GError **error)
{
	GPtrArray *actions = user_data;

	if (!g_str_equal (element, "action"))
		return;
	for (guint i = 0; names[i] != NULL; i++) {
		if (g_str_equal (names[i], "id"))
			g_ptr_array_add (actions, g_strdup (values[i]));
	}
}

/* The polkit policy declares exactly the actions devauthd asks about. */
static void
test_names_polkit_policy (void)
{
	static const gchar *const header[] = {
		DA_ACTION_GET_TOKEN,
		DA_ACTION_READ_STATUS,
		DA_ACTION_LOGIN,
		DA_ACTION_LOGOUT,
	};
	GMarkupParser parser = {.start_element = policy_start_element};
	g_autofree gchar *policy = read_source_file ("polkit", "org.devauth.policy");
	g_autoptr(GPtrArray) actions = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GMarkupParseContext) context = NULL;
	g_autoptr(GError) error = NULL;

	context = g_markup_parse_context_new (&parser, G_MARKUP_IGNORE_QUALIFIED, actions, NULL);
	/* GMarkup reads no DOCTYPE: parse from the root element */
	g_assert_true (g_markup_parse_context_parse (context, strstr (policy, "<policyconfig>"), -1,
						     &error));
	g_assert_no_error (error);
	g_assert_cmpuint (actions->len, ==, G_N_ELEMENTS (header));
	for (guint i = 0; i < G_N_ELEMENTS (header); i++) {
		if (!g_ptr_array_find_with_equal_func (actions, header[i], g_str_equal, NULL))
			g_error ("polkit/org.devauth.policy does not declare %s", header[i]);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/names/public", test_names_public);
	g_test_add_func ("/names/errors", test_names_errors);
	g_test_add_func ("/names/interface-xml", test_names_interface_xml);
	g_test_add_func ("/names/bus-files", test_names_bus_files);
	g_test_add_func ("/names/polkit-policy", test_names_polkit_policy);
	return g_test_run ();
}
