/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One accounts.d/NAME.conf: its keys, their values checked, the client
 * secret read from its file or credential, the account validated. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "da-client-assertion.h"
#include "da-config-private.h"
#include "da-file.h"

#define DA_SECRET_FILE_MAX 4096

typedef enum {
	DA_KEY_STRING,
	DA_KEY_PATH,  /* an absolute path */
	DA_KEY_PROXY, /* da_proxy_is_valid (); may be empty */
	DA_KEY_URL,
	DA_KEY_BOOL,
	DA_KEY_LIST,
	DA_KEY_ENUM, /* one of @names, into an int field */
} DaKeyKind;

typedef struct {
	const gchar *name;
	gint value;
} DaKeyName;

typedef struct {
	const gchar *group;
	const gchar *key;
	DaKeyKind kind;
	gsize offset;
	const DaKeyName *names; /* DA_KEY_ENUM: ends with a NULL name */
} DaKeySpec;

static const DaKeyName grant_names[] = {
	{"device_code", DA_GRANT_DEVICE_CODE},
	{"client_credentials", DA_GRANT_CLIENT_CREDENTIALS},
	{NULL, 0},
};

static const DaKeyName auth_method_names[] = {
	{"client_secret_post", DA_CLIENT_AUTH_SECRET_POST},
	{"client_secret_basic", DA_CLIENT_AUTH_SECRET_BASIC},
	{"private_key_jwt", DA_CLIENT_AUTH_PRIVATE_KEY_JWT},
	{"tls_client_auth", DA_CLIENT_AUTH_TLS},
	{NULL, 0},
};

#define ACC(field) G_STRUCT_OFFSET (DaAccountConfig, field)
/* keys read by a function of their own */
#define ACC_SEPARATE G_MAXSIZE

static const gchar *
key_name_of (const DaKeyName *names, gint value)
{
	for (const DaKeyName *n = names; n->name != NULL; n++) {
		if (n->value == value)
			return n->name;
	}
	return "(unset)";
}

static const DaKeySpec account_keys[] = {
	{"Account", "Issuer", DA_KEY_URL, ACC (issuer)},
	{"Account", "ClientId", DA_KEY_STRING, ACC (client_id)},
	{"Account", "Scopes", DA_KEY_LIST, ACC (scopes)},
	{"Account", "DeviceAuthorizationEndpoint", DA_KEY_URL, ACC (device_authorization_endpoint)},
	{"Account", "TokenEndpoint", DA_KEY_URL, ACC (token_endpoint)},
	{"Account", "RevocationEndpoint", DA_KEY_URL, ACC (revocation_endpoint)},
	{"Account", "Grant", DA_KEY_ENUM, ACC (grant), grant_names},
	{"Account", "AutoLogin", DA_KEY_BOOL, ACC (auto_login)},
	{"Account", "Pkce", DA_KEY_BOOL, ACC (pkce)},
	{"Account", "ClientSecretFile", DA_KEY_STRING, ACC_SEPARATE},
	{"Account", "ClientSecretCredential", DA_KEY_STRING, ACC_SEPARATE},
	{"Account", "ClientAuthMethod", DA_KEY_ENUM, ACC (client_auth_method), auth_method_names},
	{"Account", "ClientKeyFile", DA_KEY_STRING, ACC_SEPARATE},
	{"Account", "ClientKeyCredential", DA_KEY_STRING, ACC_SEPARATE},
	{"Account", "ClientKeyId", DA_KEY_STRING, ACC (client_key_id)},
	{"Account", "ClientCertificateFile", DA_KEY_PATH, ACC (client_certificate_file)},
	{"Account", "CAFile", DA_KEY_STRING, ACC (ca_file)},
	{"Account", "Proxy", DA_KEY_PROXY, ACC (proxy)},
	{"Account", "ProxyCredentialsFile", DA_KEY_PATH, ACC (proxy_credentials_file)},
	{"Access", "AllowUsers", DA_KEY_LIST, ACC (allow_users)},
	{"Access", "AllowGroups", DA_KEY_LIST, ACC (allow_groups)},
	{"Access", "AllowUnits", DA_KEY_LIST, ACC (allow_units)},
	{"Access", "AllowFlatpaks", DA_KEY_LIST, ACC (allow_flatpaks)},
	{"Access", "AllowSnaps", DA_KEY_LIST, ACC (allow_snaps)},
};

gboolean
da_account_name_is_valid (const gchar *name)
{
	gsize len;

	if (name == NULL)
		return FALSE;
	len = strlen (name);
	if (len == 0 || len > DA_ACCOUNT_NAME_MAX)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum (name[i]) && name[i] != '.' && name[i] != '_' &&
		    name[i] != '-')
			return FALSE;
	}
	/* "." and ".." are file system names, not accounts */
	return strspn (name, ".") != len;
}

static gboolean
host_is_loopback (const gchar *host)
{
	g_autoptr(GInetAddress) addr = NULL;
	g_autofree gchar *bare = NULL;

	if (g_ascii_strcasecmp (host, "localhost") == 0)
		return TRUE;
	/* GUri keeps the brackets of an IPv6 literal */
	if (host[0] == '[' && g_str_has_suffix (host, "]"))
		bare = g_strndup (host + 1, strlen (host) - 2);
	else
		bare = g_strdup (host);
	addr = g_inet_address_new_from_string (bare);
	return addr != NULL && g_inet_address_get_is_loopback (addr);
}

/* https:// everywhere; http:// only to a loopback host. */
gboolean
da_url_is_acceptable (const gchar *url, GError **error)
{
	g_autoptr(GUri) uri = NULL;
	const gchar *scheme;
	const gchar *host;

	uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
	if (uri == NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "'%s' is not a URL",
			     url);
		return FALSE;
	}
	scheme = g_uri_get_scheme (uri);
	host = g_uri_get_host (uri);
	if (host == NULL || host[0] == '\0') {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "'%s' has no host",
			     url);
		return FALSE;
	}
	if (g_uri_get_userinfo (uri) != NULL || g_uri_get_fragment (uri) != NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "'%s' must not carry user information or a fragment", url);
		return FALSE;
	}
	if (g_ascii_strcasecmp (scheme, "https") == 0)
		return TRUE;
	if (g_ascii_strcasecmp (scheme, "http") == 0 && host_is_loopback (host))
		return TRUE;
	g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		     "'%s' must use https:// (http:// is allowed only for loopback hosts)", url);
	return FALSE;
}

static DaSecret *
read_secret_file (const gchar *path, gsize max, GError **error);

gboolean
da_proxy_is_valid (const gchar *value, GError **error)
{
	g_autoptr(GUri) uri = NULL;
	const gchar *scheme;
	const gchar *path;

	if (value[0] == '\0' || g_str_equal (value, "env"))
		return TRUE;
	uri = g_uri_parse (value, G_URI_FLAGS_NONE, NULL);
	if (uri == NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "'%s' is not a proxy URL (http://HOST:PORT or https://HOST:PORT), "
			     "env or empty",
			     value);
		return FALSE;
	}
	scheme = g_uri_get_scheme (uri);
	path = g_uri_get_path (uri);
	if (g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "'%s': a proxy is http:// or https://", value);
		return FALSE;
	}
	if (g_uri_get_host (uri) == NULL || g_uri_get_host (uri)[0] == '\0') {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "'%s' has no host",
			     value);
		return FALSE;
	}
	if (g_uri_get_userinfo (uri) != NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "'%s' carries credentials: put them in ProxyCredentialsFile=", value);
		return FALSE;
	}
	if ((path[0] != '\0' && !g_str_equal (path, "/")) || g_uri_get_query (uri) != NULL ||
	    g_uri_get_fragment (uri) != NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "'%s': a proxy URL has no path, query or fragment", value);
		return FALSE;
	}
	return TRUE;
}

#define DA_PROXY_CREDENTIALS_MAX 4096
/* a certificate chain of a few PEM certificates */
#define DA_CLIENT_CERTIFICATE_MAX (64 * 1024)

static GTlsCertificate *
da_client_certificate_load (const gchar *path, const DaSecret *key, GError **error)
{
	g_autofree gchar *pem = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *both = NULL;
	GTlsCertificate *cert;
	gsize len = 0;
	gsize key_len = strlen (key);

	if (!da_file_read (path, DA_CLIENT_CERTIFICATE_MAX, DA_FILE_NONE, &pem, &len,
			   &error_local)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: %s", path,
			     error_local->message);
		return NULL;
	}
	/* GIO takes the certificate and its key from one PEM text */
	both = g_malloc (len + 1 + key_len + 1);
	memcpy (both, pem, len);
	both[len] = '\n';
	memcpy (both + len + 1, key, key_len);
	both[len + 1 + key_len] = '\0';
	cert = g_tls_certificate_new_from_pem (both, (gssize) (len + 1 + key_len), &error_local);
	da_secret_wipe (both, len + 1 + key_len);
	if (cert == NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "%s with the key of ClientKeyFile=: %s", path, error_local->message);
		return NULL;
	}
	return cert;
}

DaSecret *
da_proxy_credentials_read (const gchar *path, GError **error)
{
	DaSecret *secret = read_secret_file (path, DA_PROXY_CREDENTIALS_MAX, error);
	const gchar *colon;

	if (secret == NULL)
		return NULL;
	colon = strchr (secret, ':');
	if (colon == NULL || colon == secret || strchr (secret, '\n') != NULL) {
		da_secret_free (secret);
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "'%s' does not hold USER:PASSWORD on one line", path);
		return NULL;
	}
	return secret;
}

static gboolean
parse_bool (const gchar *value, gboolean *out)
{
	static const gchar *const yes[] = {"yes", "true", "on", "1", NULL};
	static const gchar *const no[] = {"no", "false", "off", "0", NULL};

	for (guint i = 0; yes[i] != NULL; i++) {
		if (g_ascii_strcasecmp (value, yes[i]) == 0) {
			*out = TRUE;
			return TRUE;
		}
		if (g_ascii_strcasecmp (value, no[i]) == 0) {
			*out = FALSE;
			return TRUE;
		}
	}
	return FALSE;
}

/* Space- or comma-separated words, as systemd's list settings. */
static gchar **
split_words (const gchar *value)
{
	g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
	g_auto(GStrv) parts = g_strsplit_set (value, " \t,", -1);

	for (guint i = 0; parts[i] != NULL; i++) {
		if (parts[i][0] != '\0')
			g_ptr_array_add (words, g_strdup (parts[i]));
	}
	g_ptr_array_add (words, NULL);
	return (gchar **) g_ptr_array_free (g_steal_pointer (&words), FALSE);
}

static DaSecret *
read_secret_file (const gchar *path, gsize max, GError **error)
{
	g_autofree gchar *data = NULL;
	gsize len = 0;
	DaSecret *secret;
	g_autoptr(GError) error_local = NULL;

	if (!g_path_is_absolute (path)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "'%s' is not an absolute path", path);
		return NULL;
	}
	if (!da_file_read (path, max, DA_FILE_SECRET, &data, &len, &error_local)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "cannot read '%s': %s",
			     path, error_local->message);
		return NULL;
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len == 0 || memchr (data, '\0', len) != NULL) {
		da_secret_wipe (data, len);
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "'%s' holds no secret",
			     path);
		return NULL;
	}
	secret = da_secret_new_len (data, len);
	da_secret_wipe (data, len);
	return secret;
}

/* NAMEFile= (an absolute path) or NAMECredential= (a systemd credential):
 * the secret they hold in @out, or nothing when neither is set */
static gboolean
load_secret (GKeyFile *kf,
	     const gchar *file_key,
	     const gchar *cred_key,
	     gsize max,
	     DaSecret **out,
	     GError **error)
{
	g_autofree gchar *file = g_key_file_get_string (kf, "Account", file_key, NULL);
	g_autofree gchar *cred = g_key_file_get_string (kf, "Account", cred_key, NULL);
	g_autofree gchar *cred_path = NULL;
	const gchar *dir;
	const gchar *key = file_key;

	if (file != NULL && cred != NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "[Account] %s and %s exclude each other", file_key, cred_key);
		return FALSE;
	}
	if (cred != NULL) {
		key = cred_key;
		dir = g_getenv ("CREDENTIALS_DIRECTORY");
		if (dir == NULL || strchr (cred, '/') != NULL || cred[0] == '.') {
			g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				     "[Account] %s: no systemd credential '%s'"
				     " ($CREDENTIALS_DIRECTORY is %s)",
				     cred_key, cred, dir != NULL ? "set" : "not set");
			return FALSE;
		}
		cred_path = g_build_filename (dir, cred, NULL);
		file = g_steal_pointer (&cred_path);
	}
	if (file == NULL)
		return TRUE;
	*out = read_secret_file (file, max, error);
	if (*out == NULL) {
		g_prefix_error (error, "[Account] %s: ", key);
		return FALSE;
	}
	return TRUE;
}

/* a PEM private key: RSA 8192 is about 6.4 KiB */
#define DA_CLIENT_KEY_FILE_MAX (16 * 1024)

/* ClientAuthMethod=, and the secret or key it needs: the method is left to
 * discovery (AUTO) unless set, or private_key_jwt when there is a key */
static gboolean
load_client_auth (DaAccountConfig *self, GKeyFile *kf, GError **error)
{
	g_autoptr(GError) key_error = NULL;

	if (!load_secret (kf, "ClientSecretFile", "ClientSecretCredential", DA_SECRET_FILE_MAX,
			  &self->client_secret, error) ||
	    !load_secret (kf, "ClientKeyFile", "ClientKeyCredential", DA_CLIENT_KEY_FILE_MAX,
			  &self->client_key, error))
		return FALSE;
	if (self->client_certificate_file != NULL &&
	    self->client_auth_method == DA_CLIENT_AUTH_AUTO)
		self->client_auth_method = DA_CLIENT_AUTH_TLS;
	if (self->client_auth_method == DA_CLIENT_AUTH_TLS) {
		if (self->client_certificate_file == NULL || self->client_key == NULL) {
			g_set_error_literal (
				error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				"[Account] ClientAuthMethod=tls_client_auth needs the client's "
				"certificate and its key: set ClientCertificateFile= and "
				"ClientKeyFile= (or ClientKeyCredential=)");
			return FALSE;
		}
		/* read once, here: the account's HTTP session shows this one */
		self->client_certificate = da_client_certificate_load (
			self->client_certificate_file, self->client_key, &key_error);
		if (self->client_certificate == NULL) {
			g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				     "[Account] ClientCertificateFile: %s", key_error->message);
			return FALSE;
		}
		return TRUE;
	}
	if (self->client_certificate_file != NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "[Account] ClientCertificateFile: not used with ClientAuthMethod=%s "
			     "(it is for tls_client_auth)",
			     key_name_of (auth_method_names, (gint) self->client_auth_method));
		return FALSE;
	}
	if (self->client_key != NULL && !da_client_key_check (self->client_key, &key_error)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "[Account] ClientKeyFile: %s", key_error->message);
		return FALSE;
	}
	if (self->client_auth_method == DA_CLIENT_AUTH_PRIVATE_KEY_JWT &&
	    self->client_key == NULL) {
		g_set_error_literal (
			error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			"[Account] ClientAuthMethod=private_key_jwt needs the client's "
			"key: set ClientKeyFile= or ClientKeyCredential=");
		return FALSE;
	}
	if ((self->client_auth_method == DA_CLIENT_AUTH_SECRET_POST ||
	     self->client_auth_method == DA_CLIENT_AUTH_SECRET_BASIC) &&
	    self->client_secret == NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "[Account] ClientAuthMethod=%s needs the client's secret: set "
			     "ClientSecretFile= or ClientSecretCredential=",
			     key_name_of (auth_method_names, (gint) self->client_auth_method));
		return FALSE;
	}
	if (self->client_key != NULL && self->client_auth_method == DA_CLIENT_AUTH_AUTO)
		self->client_auth_method = DA_CLIENT_AUTH_PRIVATE_KEY_JWT;
	if (self->client_key != NULL && self->client_auth_method != DA_CLIENT_AUTH_PRIVATE_KEY_JWT)
		g_warning ("%s: [Account] ClientKeyFile: not used with ClientAuthMethod=%s",
			   self->path,
			   key_name_of (auth_method_names, (gint) self->client_auth_method));
	return TRUE;
}

static gboolean
load_key (DaAccountConfig *self, GKeyFile *kf, const DaKeySpec *spec, GError **error)
{
	g_autofree gchar *value = NULL;
	gpointer field;
	g_autoptr(GError) error_local = NULL;

	if (spec->offset == ACC_SEPARATE)
		return TRUE;
	field = G_STRUCT_MEMBER_P (self, spec->offset);
	value = g_key_file_get_string (kf, spec->group, spec->key, &error_local);
	if (value == NULL) {
		if (g_error_matches (error_local, G_KEY_FILE_ERROR,
				     G_KEY_FILE_ERROR_KEY_NOT_FOUND) ||
		    g_error_matches (error_local, G_KEY_FILE_ERROR,
				     G_KEY_FILE_ERROR_GROUP_NOT_FOUND))
			return TRUE;
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[%s] %s: %s",
			     spec->group, spec->key, error_local->message);
		return FALSE;
	}
	g_strstrip (value);
	switch (spec->kind) {
	case DA_KEY_PROXY:
		if (!da_proxy_is_valid (value, &error_local)) {
			g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[%s] %s: %s",
				     spec->group, spec->key, error_local->message);
			return FALSE;
		}
		*(gchar **) field = g_steal_pointer (&value);
		return TRUE;
	case DA_KEY_PATH:
		if (!g_path_is_absolute (value)) {
			g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				     "[%s] %s: '%s' is not an absolute path", spec->group,
				     spec->key, value);
			return FALSE;
		}
		*(gchar **) field = g_steal_pointer (&value);
		return TRUE;
	case DA_KEY_URL:
		if (!da_url_is_acceptable (value, &error_local)) {
			g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[%s] %s: %s",
				     spec->group, spec->key, error_local->message);
			return FALSE;
		}
		/* fall through */
	case DA_KEY_STRING:
		if (value[0] == '\0') {
			g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				     "[%s] %s: must not be empty", spec->group, spec->key);
			return FALSE;
		}
		*(gchar **) field = g_steal_pointer (&value);
		return TRUE;
	case DA_KEY_BOOL:
		if (!parse_bool (value, (gboolean *) field)) {
			g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				     "[%s] %s: '%s' is not a boolean (use yes or no)", spec->group,
				     spec->key, value);
			return FALSE;
		}
		return TRUE;
	case DA_KEY_LIST:
		*(gchar ***) field = split_words (value);
		return TRUE;
	case DA_KEY_ENUM: {
		g_autoptr(GString) choices = g_string_new (NULL);
		g_autofree gchar *shown = NULL;

		for (const DaKeyName *n = spec->names; n->name != NULL; n++) {
			if (g_str_equal (value, n->name)) {
				*(gint *) field = n->value;
				return TRUE;
			}
			g_string_append_printf (choices, "%s%s", choices->len > 0 ? ", " : "",
						n->name);
		}
		shown = g_strescape (value, NULL);
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "[%s] %s: '%s' is not one of %s", spec->group, spec->key, shown,
			     choices->str);
		return FALSE;
	}
	default:
		g_assert_not_reached ();
	}
}

/* the keys of [@group] that the table knows, NULL-terminated; NULL when
 * the group is not one of an account file */
static const gchar **
known_keys_of (const gchar *group)
{
	g_autoptr(GPtrArray) keys = g_ptr_array_new ();

	for (guint s = 0; s < G_N_ELEMENTS (account_keys); s++) {
		if (g_strcmp0 (account_keys[s].group, group) == 0)
			g_ptr_array_add (keys, (gpointer) account_keys[s].key);
	}
	if (keys->len == 0)
		return NULL;
	g_ptr_array_add (keys, NULL);
	return (const gchar **) g_ptr_array_free (g_steal_pointer (&keys), FALSE);
}

/* "PATH:LINE: " when @key= is on a line of [@group], else "PATH: " */
static gchar *
location (const gchar *path, const gchar *data, gsize len, const gchar *group, const gchar *key)
{
	guint line = key != NULL ? da_config_line_of (data, len, group, key) : 0;

	return line > 0 ? g_strdup_printf ("%s:%u: ", path, line) : g_strdup_printf ("%s: ", path);
}

static void
warn_unknown_keys (DaAccountConfig *self, GKeyFile *kf, const gchar *data, gsize len)
{
	g_auto(GStrv) groups = g_key_file_get_groups (kf, NULL);

	for (guint i = 0; groups[i] != NULL; i++) {
		g_auto(GStrv) keys = g_key_file_get_keys (kf, groups[i], NULL, NULL);
		g_autofree const gchar **known = known_keys_of (groups[i]);

		if (known == NULL) {
			g_autofree gchar *where = location (self->path, data, len, groups[i], NULL);
			gchar *msg = g_strdup_printf ("%s[%s]: unknown section, ignored", where,
						      groups[i]);
			g_warning ("%s", msg);
			g_ptr_array_add (self->warnings, msg);
			continue;
		}
		for (guint k = 0; keys != NULL && keys[k] != NULL; k++) {
			g_autofree gchar *where = NULL;
			const gchar *near;
			gchar *msg;

			if (g_strv_contains (known, keys[k]))
				continue;
			where = location (self->path, data, len, groups[i], keys[k]);
			near = da_config_suggest (keys[k], known);
			msg = g_strdup_printf ("%s[%s] %s: unknown key, ignored%s%s%s", where,
					       groups[i], keys[k],
					       near != NULL ? " (did you mean " : "",
					       near != NULL ? near : "", near != NULL ? "?)" : "");
			g_warning ("%s", msg);
			g_ptr_array_add (self->warnings, msg);
		}
	}
}

/* A refusal of the file: "PATH[:LINE]: [Group] Key: …", the line of the
 * key it names. A required key that is missing while an unknown key of
 * [Account] looks like it is said as the typo it probably is. */
static void
locate_error (DaAccountConfig *self, GKeyFile *kf, const gchar *data, gsize len, GError *error)
{
	g_autofree gchar *group = NULL;
	g_autofree gchar *key = NULL;
	g_autofree gchar *where = NULL;
	const gchar *m = error->message;
	const gchar *end;
	gchar *message;

	if (m[0] == '[' && (end = strchr (m, ']')) != NULL && end[1] == ' ') {
		gsize n = 0;
		group = g_strndup (m + 1, (gsize) (end - m - 1));
		while (g_ascii_isalnum (end[2 + n]))
			n++;
		key = g_strndup (end + 2, n);
	}
	if (group != NULL && g_str_equal (group, "Account") &&
	    (g_str_has_prefix (m, "[Account] Issuer: missing") ||
	     g_str_has_prefix (m, "[Account] ClientId: missing"))) {
		g_auto(GStrv) keys = g_key_file_get_keys (kf, "Account", NULL, NULL);
		const gchar *const want[] = {key, NULL};

		for (guint k = 0; keys != NULL && keys[k] != NULL; k++) {
			if (da_config_suggest (keys[k], want) == NULL || g_str_equal (keys[k], key))
				continue;
			where = location (self->path, data, len, "Account", keys[k]);
			message = g_strdup_printf ("%s[Account] %s: unknown key; did you mean %s? "
						   "(%s is missing)",
						   where, keys[k], key, key);
			g_free (error->message);
			error->message = message;
			return;
		}
	}
	where = location (self->path, data, len, group != NULL ? group : "", key);
	message = g_strconcat (where, m, NULL);
	g_free (error->message);
	error->message = message;
}

/* a PEM file of one or more certificates: the IdP's CA */
#define DA_CA_FILE_MAX (1024 * 1024)

/* CAFile=: an absolute path to a PEM file that holds a certificate, read
 * as every file is (regular, bounded); what it says is checked when it is
 * used, by the TLS library. */
static gboolean
check_ca_file (DaAccountConfig *self, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *data = NULL;
	g_autoptr(GTlsCertificate) cert = NULL;
	gsize len = 0;

	if (self->ca_file == NULL)
		return TRUE;
	if (!g_path_is_absolute (self->ca_file)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "[Account] CAFile: '%s' is not an absolute path", self->ca_file);
		return FALSE;
	}
	if (!da_file_read (self->ca_file, DA_CA_FILE_MAX, DA_FILE_NONE, &data, &len,
			   &error_local)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "[Account] CAFile: %s: %s", self->ca_file, error_local->message);
		return FALSE;
	}
	cert = g_tls_certificate_new_from_pem (data, (gssize) len, &error_local);
	if (cert == NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "[Account] CAFile: %s holds no PEM certificate: %s", self->ca_file,
			     error_local->message);
		return FALSE;
	}
	return TRUE;
}

/* A service account (Grant=client_credentials) authenticates as the client
 * alone: it needs the client's secret or key, has no device flow and no person,
 * asks for no scope unless told (the IdP's defaults for the client), and
 * gets its token at start unless AutoLogin=no. */
static gboolean
service_account_validate (DaAccountConfig *self, GKeyFile *kf, GError **error)
{
	if (self->grant != DA_GRANT_CLIENT_CREDENTIALS)
		return TRUE;
	if (self->client_secret == NULL && self->client_key == NULL) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				     "[Account] Grant=client_credentials needs the client's secret "
				     "or key: set ClientSecretFile=, ClientSecretCredential=, "
				     "ClientKeyFile= or ClientKeyCredential=");
		return FALSE;
	}
	if (self->pkce) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				     "[Account] Pkce=yes is for the device flow; "
				     "Grant=client_credentials has none");
		return FALSE;
	}
	if (self->device_authorization_endpoint != NULL)
		g_warning ("%s: [Account] DeviceAuthorizationEndpoint: not used with "
			   "Grant=client_credentials",
			   self->path);
	if (!g_key_file_has_key (kf, "Account", "AutoLogin", NULL))
		self->auto_login = TRUE;
	return TRUE;
}

static gboolean
account_config_validate (DaAccountConfig *self, GError **error)
{
	gboolean service = self->grant == DA_GRANT_CLIENT_CREDENTIALS;

	if (self->client_id == NULL) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				     "[Account] ClientId: missing");
		return FALSE;
	}
	if (service && self->issuer == NULL && self->token_endpoint == NULL) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				     "[Account] Issuer: missing (or set TokenEndpoint)");
		return FALSE;
	}
	if (!service && self->issuer == NULL &&
	    (self->device_authorization_endpoint == NULL || self->token_endpoint == NULL)) {
		g_set_error_literal (
			error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			"[Account] Issuer: missing (or set both DeviceAuthorizationEndpoint "
			"and TokenEndpoint)");
		return FALSE;
	}
	/* offline_access: a device stays signed in past the IdP's browser
	 * session (Keycloak's SSO Session Max) */
	if (self->scopes == NULL || self->scopes[0] == NULL) {
		g_strfreev (self->scopes);
		self->scopes = service ? g_new0 (gchar *, 1)
				       : g_strsplit (DA_DEFAULT_SCOPES, " ", -1);
	}
	if (self->issuer == NULL)
		self->issuer = g_strdup ("");
	return TRUE;
}

DaAccountConfig *
da_account_config_load_from_data (const gchar *name,
				  const gchar *path,
				  const gchar *data,
				  gsize len,
				  GError **error)
{
	g_autoptr(DaAccountConfig) self = g_new0 (DaAccountConfig, 1);
	g_autoptr(GKeyFile) kf = g_key_file_new ();
	g_autoptr(GError) error_local = NULL;

	self->name = g_strdup (name);
	self->path = g_strdup (path);
	self->warnings = g_ptr_array_new_with_free_func (g_free);
	/* unless ClientAuthMethod= says: from the key, or from discovery */
	self->client_auth_method = DA_CLIENT_AUTH_AUTO;
	if (!da_account_name_is_valid (name)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "%s: '%s' is not a valid account name (1 to %d of A-Z a-z 0-9 . _ -)",
			     path, name, DA_ACCOUNT_NAME_MAX);
		return NULL;
	}
	if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, &error_local)) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: %s", path,
			     error_local->message);
		return NULL;
	}
	if (!g_key_file_has_group (kf, "Account")) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "%s: [Account]: missing section", path);
		return NULL;
	}
	for (guint i = 0; i < G_N_ELEMENTS (account_keys); i++) {
		if (!load_key (self, kf, &account_keys[i], error)) {
			if (error != NULL)
				locate_error (self, kf, data, len, *error);
			return NULL;
		}
	}
	if (!account_config_validate (self, error) || !check_ca_file (self, error) ||
	    !load_client_auth (self, kf, error) || !service_account_validate (self, kf, error)) {
		if (error != NULL)
			locate_error (self, kf, data, len, *error);
		return NULL;
	}
	warn_unknown_keys (self, kf, data, len);
	return g_steal_pointer (&self);
}

DaAccountConfig *
da_account_config_load_from_file (const gchar *name, const gchar *path, GError **error)
{
	g_autofree gchar *data = NULL;
	gsize len = 0;

	if (!da_file_read (path, DA_CONFIG_FILE_MAX, DA_FILE_NONE, &data, &len, error)) {
		g_prefix_error (error, "%s: ", path);
		return NULL;
	}
	return da_account_config_load_from_data (name, path, data, len, error);
}

void
da_account_config_free (DaAccountConfig *self)
{
	if (self == NULL)
		return;
	g_free (self->name);
	g_free (self->path);
	g_free (self->issuer);
	g_free (self->client_id);
	da_secret_free (self->client_secret);
	da_secret_free (self->client_key);
	g_free (self->client_key_id);
	g_free (self->client_certificate_file);
	g_clear_object (&self->client_certificate);
	g_strfreev (self->scopes);
	g_free (self->device_authorization_endpoint);
	g_free (self->token_endpoint);
	g_free (self->revocation_endpoint);
	g_free (self->ca_file);
	g_free (self->proxy);
	g_free (self->proxy_credentials_file);
	g_strfreev (self->allow_users);
	g_strfreev (self->allow_groups);
	g_strfreev (self->allow_units);
	g_strfreev (self->allow_flatpaks);
	g_strfreev (self->allow_snaps);
	g_clear_pointer (&self->warnings, g_ptr_array_unref);
	g_free (self);
}
