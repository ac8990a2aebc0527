/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The accounts on the bus: their objects, properties and PropertiesChanged,
 * and the ObjectManager that lists them (see the comment below). */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <string.h>

#include "da-dbus-generated.h"
#include "da-dbus-objects.h"
#include "da-error.h"
#include "da-names.h"

struct _DaBusObjects {
	DaManager *manager;
	GDBusConnection *connection; /* NULL until exported */
	guint object_manager_id;
	GHashTable *bus_accounts; /* object path → DaBusAccount */
};

gchar *
da_bus_account_object_path (DaAccount *account)
{
	g_autofree gchar *escaped = g_dbus_escape_object_path (da_account_get_name (account));
	return g_strconcat (DA_ACCOUNT_OBJECT_PREFIX, escaped, NULL);
}

/* ---- accounts on the bus ----
 *
 * Each account is an object with the Account interface, registered on the
 * connection with one vtable for all of them, and the ObjectManager at the
 * Manager's path lists them. GDBusObjectManagerServer did this with a
 * GDBusObjectSkeleton, a generated interface skeleton (which kept a copy of
 * every property) and registrations of their own for each account: 2.4 KiB
 * of private memory an account. What clients see is what they saw then: the
 * same objects and introspection, the same values, PropertiesChanged
 * gathered until the main loop is idle as the skeleton gathered them,
 * GetManagedObjects in the same order. */

enum {
	ACCOUNT_PROP_NAME,
	ACCOUNT_PROP_ISSUER,
	ACCOUNT_PROP_CLIENT_ID,
	ACCOUNT_PROP_SCOPES,
	ACCOUNT_PROP_STATE,
	ACCOUNT_PROP_SUBJECT,
	ACCOUNT_PROP_ACCESS_TOKEN_EXPIRES_AT,
	ACCOUNT_PROP_LOGIN_EXPIRES_AT,
	ACCOUNT_PROP_LAST_ERROR,
	ACCOUNT_PROP_USER_NAME,
	ACCOUNT_PROP_SIGN_IN_EXPIRES_AT,
	ACCOUNT_N_PROPS,
};

/* the DaAccount property behind each Account property, in the order of the
 * XML (checked by account_properties_match_xml()) */
static const gchar *const account_properties[ACCOUNT_N_PROPS] = {
	"name",
	"issuer",
	"client-id",
	"scopes",
	"state",
	"subject",
	"access-token-expires-at",
	"login-expires-at",
	"last-error",
	"user-name",
	"sign-in-expires-at",
};

typedef struct {
	DaBusObjects *objects; /* owns this */
	DaAccount *account;    /* owned by the manager, which self holds */
	guint registration_id;
	/* the properties that change, as clients were last told ("" is NULL);
	 * the others are read from the account */
	const gchar *state;
	gchar *subject;
	gchar *last_error;
	gchar *user_name;
	gint64 access_token_expires_at;
	gint64 login_expires_at;
	gint64 sign_in_expires_at;
	GSList *changes; /* of DaBusChange, the newest first: PropertiesChanged to come */
	GSource *changes_source;
	gchar path[]; /* the object path */
} DaBusAccount;

/* a property that changed, and its value when the PropertiesChanged last went out */
typedef struct {
	guint prop;
	GVariant *before;
} DaBusChange;

static DaBusChange *
da_bus_change_new (guint prop, GVariant *before)
{
	DaBusChange *change = g_new (DaBusChange, 1);

	change->prop = prop;
	change->before = before;
	return change;
}

static void
da_bus_change_free (DaBusChange *change)
{
	g_variant_unref (change->before);
	g_free (change);
}

/* "AccessTokenExpiresAt" names "access-token-expires-at" */
static gboolean
dbus_name_is_property (const gchar *dbus_name, const gchar *property)
{
	for (const gchar *p = property; *p != '\0'; p++) {
		if (*p == '-')
			continue;
		if (g_ascii_tolower (*dbus_name) != *p)
			return FALSE;
		dbus_name++;
	}
	return *dbus_name == '\0';
}

static gboolean
account_properties_match_xml (GError **error)
{
	GDBusPropertyInfo **props = da_dbus_account_interface_info ()->properties;

	for (guint i = 0; i < ACCOUNT_N_PROPS; i++) {
		if (props[i] == NULL ||
		    !dbus_name_is_property (props[i]->name, account_properties[i])) {
			g_set_error (error, DA_ERROR, DA_ERROR_INTERNAL,
				     "the Account interface has no property %s at %u",
				     account_properties[i], i);
			return FALSE;
		}
	}
	if (props[ACCOUNT_N_PROPS] != NULL) {
		g_set_error (error, DA_ERROR, DA_ERROR_INTERNAL,
			     "the Account interface has a property %s devauthd does not know",
			     props[ACCOUNT_N_PROPS]->name);
		return FALSE;
	}
	return TRUE;
}

static guint
account_property_from_dbus_name (const gchar *dbus_name)
{
	GDBusPropertyInfo **props = da_dbus_account_interface_info ()->properties;

	for (guint i = 0; i < ACCOUNT_N_PROPS; i++) {
		if (g_strcmp0 (props[i]->name, dbus_name) == 0)
			return i;
	}
	return ACCOUNT_N_PROPS;
}

static guint
account_property_from_pspec (GParamSpec *pspec)
{
	for (guint i = 0; i < ACCOUNT_N_PROPS; i++) {
		if (g_strcmp0 (pspec->name, account_properties[i]) == 0)
			return i;
	}
	return ACCOUNT_N_PROPS;
}

/* Takes @value (NULL for ""); FALSE when clients were told that already. */
static gboolean
take_string (gchar **field, gchar *value)
{
	g_autofree gchar *owned = value;

	if (owned != NULL && owned[0] == '\0')
		g_clear_pointer (&owned, g_free);
	if (g_strcmp0 (*field, owned) == 0)
		return FALSE;
	g_free (*field);
	*field = g_steal_pointer (&owned);
	return TRUE;
}

static gboolean
take_int64 (gint64 *field, gint64 value)
{
	if (*field == value)
		return FALSE;
	*field = value;
	return TRUE;
}

/* Takes the account's value of @prop; FALSE when it did not change. */
static gboolean
da_bus_account_take (DaBusAccount *ba, guint prop)
{
	GObject *account = G_OBJECT (ba->account);
	const gchar *state;
	gchar *str = NULL;
	gint64 value = 0;

	switch (prop) {
	case ACCOUNT_PROP_STATE:
		state = da_account_state_to_string (da_account_get_state (ba->account));
		if (g_strcmp0 (ba->state, state) == 0)
			return FALSE;
		ba->state = state;
		return TRUE;
	case ACCOUNT_PROP_SUBJECT:
		g_object_get (account, account_properties[prop], &str, NULL);
		return take_string (&ba->subject, str);
	case ACCOUNT_PROP_LAST_ERROR:
		g_object_get (account, account_properties[prop], &str, NULL);
		return take_string (&ba->last_error, str);
	case ACCOUNT_PROP_ACCESS_TOKEN_EXPIRES_AT:
		g_object_get (account, account_properties[prop], &value, NULL);
		return take_int64 (&ba->access_token_expires_at, value);
	case ACCOUNT_PROP_LOGIN_EXPIRES_AT:
		g_object_get (account, account_properties[prop], &value, NULL);
		return take_int64 (&ba->login_expires_at, value);
	case ACCOUNT_PROP_USER_NAME:
		g_object_get (account, account_properties[prop], &str, NULL);
		return take_string (&ba->user_name, str);
	case ACCOUNT_PROP_SIGN_IN_EXPIRES_AT:
		g_object_get (account, account_properties[prop], &value, NULL);
		return take_int64 (&ba->sign_in_expires_at, value);
	default:
		/* the configuration's: they never change */
		return FALSE;
	}
}

static GVariant *
string_value (const gchar *value)
{
	return g_variant_ref_sink (g_variant_new_string (value != NULL ? value : ""));
}

/* The value of @prop as clients see it. */
static GVariant *
da_bus_account_get (DaBusAccount *ba, guint prop)
{
	GDBusPropertyInfo *info = da_dbus_account_interface_info ()->properties[prop];
	g_auto(GValue) value = G_VALUE_INIT;

	switch (prop) {
	case ACCOUNT_PROP_STATE:
		return string_value (ba->state);
	case ACCOUNT_PROP_SUBJECT:
		return string_value (ba->subject);
	case ACCOUNT_PROP_LAST_ERROR:
		return string_value (ba->last_error);
	case ACCOUNT_PROP_ACCESS_TOKEN_EXPIRES_AT:
		return g_variant_ref_sink (g_variant_new_int64 (ba->access_token_expires_at));
	case ACCOUNT_PROP_LOGIN_EXPIRES_AT:
		return g_variant_ref_sink (g_variant_new_int64 (ba->login_expires_at));
	case ACCOUNT_PROP_USER_NAME:
		return string_value (ba->user_name);
	case ACCOUNT_PROP_SIGN_IN_EXPIRES_AT:
		return g_variant_ref_sink (g_variant_new_int64 (ba->sign_in_expires_at));
	default:
		/* as the skeleton converted its copy */
		g_object_get_property (G_OBJECT (ba->account), account_properties[prop], &value);
		return g_dbus_gvalue_to_gvariant (&value, G_VARIANT_TYPE (info->signature));
	}
}

static GVariant *
da_bus_account_get_all (DaBusAccount *ba)
{
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
	GDBusPropertyInfo **props = da_dbus_account_interface_info ()->properties;

	for (guint i = 0; i < ACCOUNT_N_PROPS; i++) {
		g_autoptr(GVariant) value = da_bus_account_get (ba, i);
		g_variant_builder_add (&b, "{sv}", props[i]->name, value);
	}
	return g_variant_builder_end (&b);
}

/* One PropertiesChanged for what changed since the last, newest first, as
 * the generated skeleton sent it; nothing for values that changed back. */
static gboolean
da_bus_account_emit_changes_cb (gpointer user_data)
{
	DaBusAccount *ba = user_data;
	GDBusInterfaceInfo *info = da_dbus_account_interface_info ();
	GSList *changes = g_steal_pointer (&ba->changes);
	g_auto(GVariantBuilder) changed = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
	guint n = 0;

	ba->changes_source = NULL;
	for (GSList *l = changes; l != NULL; l = l->next) {
		DaBusChange *change = l->data;
		g_autoptr(GVariant) now = da_bus_account_get (ba, change->prop);
		if (g_variant_equal (now, change->before))
			continue;
		g_variant_builder_add (&changed, "{sv}", info->properties[change->prop]->name, now);
		n++;
	}
	g_slist_free_full (changes, (GDestroyNotify) da_bus_change_free);
	if (n > 0)
		g_dbus_connection_emit_signal (ba->objects->connection, NULL, ba->path,
					       "org.freedesktop.DBus.Properties",
					       "PropertiesChanged",
					       g_variant_new ("(sa{sv}@as)", info->name, &changed,
							      g_variant_new_strv (NULL, 0)),
					       NULL);
	return G_SOURCE_REMOVE;
}

static gboolean
da_bus_account_has_change (DaBusAccount *ba, guint prop)
{
	for (GSList *l = ba->changes; l != NULL; l = l->next) {
		if (((DaBusChange *) l->data)->prop == prop)
			return TRUE;
	}
	return FALSE;
}

/* One handler per account: a GBinding per property (a GObject with two
 * handlers and closures each) cost 6 KB an account. */
static void
da_bus_account_notify_cb (DaAccount *account, GParamSpec *pspec, DaBusAccount *ba)
{
	guint prop = account_property_from_pspec (pspec);
	g_autoptr(GVariant) before = NULL;

	if (prop == ACCOUNT_N_PROPS)
		return;
	if (ba->registration_id != 0 && !da_bus_account_has_change (ba, prop))
		before = da_bus_account_get (ba, prop);
	if (!da_bus_account_take (ba, prop) || before == NULL)
		return;
	ba->changes =
		g_slist_prepend (ba->changes, da_bus_change_new (prop, g_steal_pointer (&before)));
	if (ba->changes_source != NULL)
		return;
	ba->changes_source = g_idle_source_new ();
	g_source_set_priority (ba->changes_source, G_PRIORITY_DEFAULT);
	g_source_set_callback (ba->changes_source, da_bus_account_emit_changes_cb, ba, NULL);
	g_source_set_static_name (ba->changes_source, "[devauthd] PropertiesChanged");
	g_source_attach (ba->changes_source, NULL);
	g_source_unref (ba->changes_source);
}

static DaBusAccount *
da_bus_account_new (DaBusObjects *objects, DaAccount *account)
{
	g_autofree gchar *path = da_bus_account_object_path (account);
	gsize path_size = strlen (path) + 1;
	DaBusAccount *ba = g_malloc0 (sizeof (DaBusAccount) + path_size);

	ba->objects = objects;
	ba->account = account;
	memcpy (ba->path, path, path_size);
	for (guint i = 0; i < ACCOUNT_N_PROPS; i++)
		da_bus_account_take (ba, i);
	g_signal_connect (account, "notify", G_CALLBACK (da_bus_account_notify_cb), ba);
	return ba;
}

static void
da_bus_account_free (DaBusAccount *ba)
{
	g_signal_handlers_disconnect_by_data (ba->account, ba);
	if (ba->registration_id != 0)
		g_dbus_connection_unregister_object (ba->objects->connection, ba->registration_id);
	if (ba->changes_source != NULL)
		g_source_destroy (ba->changes_source);
	g_slist_free_full (ba->changes, (GDestroyNotify) da_bus_change_free);
	g_free (ba->subject);
	g_free (ba->user_name);
	g_free (ba->last_error);
	g_free (ba);
}

static void
account_method_call (GDBusConnection *connection,
		     const gchar *sender,
		     const gchar *object_path,
		     const gchar *interface_name,
		     const gchar *method_name,
		     GVariant *parameters,
		     GDBusMethodInvocation *invocation,
		     gpointer user_data)
{
	/* never called: the interface has no methods, and GDBus answers calls to
	 * methods it does not have */
	g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR,
					       G_DBUS_ERROR_UNKNOWN_METHOD, "No such method %s",
					       method_name);
}

static GVariant *
account_get_property (GDBusConnection *connection,
		      const gchar *sender,
		      const gchar *object_path,
		      const gchar *interface_name,
		      const gchar *property_name,
		      GError **error,
		      gpointer user_data)
{
	guint prop = account_property_from_dbus_name (property_name);

	/* GDBus checked the name already */
	if (prop == ACCOUNT_N_PROPS) {
		g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
			     "No property with name %s", property_name);
		return NULL;
	}
	return da_bus_account_get (user_data, prop);
}

/* every property is read-only: GDBus refuses Set before it gets here */
static const GDBusInterfaceVTable account_vtable = {account_method_call, account_get_property,
						    NULL};

/* ---- org.freedesktop.DBus.ObjectManager ---- */

/* The standard interface, described as GDBusObjectManagerServer describes
 * it, so that Introspect says the same (the casts are gdbus-codegen's). */
static const GDBusArgInfo om_arg_objects = {-1, (gchar *) "object_paths_interfaces_and_properties",
					    (gchar *) "a{oa{sa{sv}}}", NULL};
static const GDBusArgInfo om_arg_path = {-1, (gchar *) "object_path", (gchar *) "o", NULL};
static const GDBusArgInfo om_arg_interfaces_and_properties = {
	-1, (gchar *) "interfaces_and_properties", (gchar *) "a{sa{sv}}", NULL};
static const GDBusArgInfo om_arg_interfaces = {-1, (gchar *) "interfaces", (gchar *) "as", NULL};

static const GDBusArgInfo *const om_get_managed_objects_out[] = {&om_arg_objects, NULL};
static const GDBusArgInfo *const om_interfaces_added_args[] = {
	&om_arg_path, &om_arg_interfaces_and_properties, NULL};
static const GDBusArgInfo *const om_interfaces_removed_args[] = {&om_arg_path, &om_arg_interfaces,
								 NULL};

static const GDBusMethodInfo om_get_managed_objects = {-1, (gchar *) "GetManagedObjects", NULL,
						       (GDBusArgInfo **) om_get_managed_objects_out,
						       NULL};
static const GDBusSignalInfo om_interfaces_added = {
	-1, (gchar *) "InterfacesAdded", (GDBusArgInfo **) om_interfaces_added_args, NULL};
static const GDBusSignalInfo om_interfaces_removed = {
	-1, (gchar *) "InterfacesRemoved", (GDBusArgInfo **) om_interfaces_removed_args, NULL};

static const GDBusMethodInfo *const om_methods[] = {&om_get_managed_objects, NULL};
static const GDBusSignalInfo *const om_signals[] = {&om_interfaces_added, &om_interfaces_removed,
						    NULL};

static const GDBusInterfaceInfo object_manager_info = {
	-1,
	(gchar *) "org.freedesktop.DBus.ObjectManager",
	(GDBusMethodInfo **) om_methods,
	(GDBusSignalInfo **) om_signals,
	NULL,
	NULL};

/* GetManagedObjects, its only method; the objects in the order in which
 * GDBusObjectManagerServer listed them (the order of a GHashTable of their
 * paths). */
static void
object_manager_method_call (GDBusConnection *connection,
			    const gchar *sender,
			    const gchar *object_path,
			    const gchar *interface_name,
			    const gchar *method_name,
			    GVariant *parameters,
			    GDBusMethodInvocation *invocation,
			    gpointer user_data)
{
	DaBusObjects *self = user_data;
	const gchar *iface_name = da_dbus_account_interface_info ()->name;
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{oa{sa{sv}}}"));
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init (&iter, self->bus_accounts);
	while (g_hash_table_iter_next (&iter, NULL, &value)) {
		DaBusAccount *ba = value;
		g_auto(GVariantBuilder) ifaces =
			G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{sa{sv}}"));

		g_variant_builder_add (&ifaces, "{s@a{sv}}", iface_name,
				       da_bus_account_get_all (ba));
		g_variant_builder_add (&b, "{oa{sa{sv}}}", ba->path, &ifaces);
	}
	g_dbus_method_invocation_return_value (invocation, g_variant_new ("(a{oa{sa{sv}}})", &b));
}

static const GDBusInterfaceVTable object_manager_vtable = {object_manager_method_call, NULL, NULL};

DaBusObjects *
da_bus_objects_new (DaManager *manager)
{
	DaBusObjects *self = g_new0 (DaBusObjects, 1);

	self->manager = g_object_ref (manager);
	/* keyed by their paths, as GDBusObjectManagerServer kept them */
	self->bus_accounts = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
						    (GDestroyNotify) da_bus_account_free);
	return self;
}

/* Every account's object, and the ObjectManager that lists them. */
gboolean
da_bus_objects_export (DaBusObjects *self, GDBusConnection *connection, GError **error)
{
	GPtrArray *accounts = da_manager_get_accounts (self->manager);
	GHashTableIter iter;
	gpointer value;

	if (!account_properties_match_xml (error))
		return FALSE;
	self->connection = g_object_ref (connection);
	for (guint i = 0; i < accounts->len; i++) {
		DaBusAccount *ba = da_bus_account_new (self, g_ptr_array_index (accounts, i));
		g_hash_table_insert (self->bus_accounts, ba->path, ba);
	}
	self->object_manager_id = g_dbus_connection_register_object (
		connection, DA_MANAGER_OBJECT_PATH, (GDBusInterfaceInfo *) &object_manager_info,
		&object_manager_vtable, self, NULL, error);
	if (self->object_manager_id == 0)
		return FALSE;
	/* in the order GDBusObjectManagerServer registered them */
	g_hash_table_iter_init (&iter, self->bus_accounts);
	while (g_hash_table_iter_next (&iter, NULL, &value)) {
		DaBusAccount *ba = value;
		ba->registration_id = g_dbus_connection_register_object (
			connection, ba->path, da_dbus_account_interface_info (), &account_vtable,
			ba, NULL, error);
		if (ba->registration_id == 0)
			return FALSE;
	}
	return TRUE;
}

void
da_bus_objects_free (DaBusObjects *self)
{
	if (self->object_manager_id != 0)
		g_dbus_connection_unregister_object (self->connection, self->object_manager_id);
	g_hash_table_unref (self->bus_accounts);
	g_clear_object (&self->connection);
	g_object_unref (self->manager);
	g_free (self);
}
