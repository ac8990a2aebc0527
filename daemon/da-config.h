/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "da-oidc.h"
#include "da-secret.h"

G_BEGIN_DECLS

#define DA_ACCOUNT_NAME_MAX	      64
#define DA_DEFAULT_SCOPES	      "openid offline_access"
#define DA_TOKEN_REQUESTS_PER_SEC_DEF 100

/* Grant=: how the account gets its tokens */
typedef enum {
	DA_GRANT_DEVICE_CODE,	     /* RFC 8628: a person approves on a phone */
	DA_GRANT_CLIENT_CREDENTIALS, /* RFC 6749 4.4: the device itself, no person */
} DaGrant;

/* One accounts.d/NAME.conf. */
typedef struct {
	gchar *name;
	gchar *path;
	gchar *issuer;
	gchar *client_id;
	DaSecret *client_secret;
	DaSecret *client_key;		     /* PEM, for private_key_jwt */
	gchar *client_key_id;		     /* the assertion's kid */
	gchar *client_certificate_file;	     /* PEM, for tls_client_auth (its key: client_key) */
	GTlsCertificate *client_certificate; /* of that file, with its key; NULL: none */
	DaClientAuthMethod client_auth_method;
	gchar **scopes;
	gchar *device_authorization_endpoint;
	gchar *token_endpoint;
	gchar *revocation_endpoint;
	DaGrant grant;
	gboolean auto_login;
	gboolean pkce;
	gchar *ca_file;		       /* the one CA trusted for this IdP; NULL: the system's */
	gchar *proxy;		       /* Proxy= (da_proxy_is_valid); NULL: the daemon's */
	gchar *proxy_credentials_file; /* NULL: the daemon's */
	gchar **allow_users;
	gchar **allow_groups;
	gchar **allow_units;
	gchar **allow_flatpaks;
	gchar **allow_snaps;
	GPtrArray *warnings; /* of gchar*: "PATH:LINE: …" of keys that were ignored */
} DaAccountConfig;

/* An account file that was refused, or a key in one that was ignored */
typedef struct {
	gchar *account; /* the file's name without .conf */
	gboolean error; /* the file was refused (else: a warning) */
	gchar *message; /* "PATH[:LINE]: …" */
} DaConfigNote;

/* devauthd.conf plus every account that loaded. */
typedef struct {
	gchar *config_dir;
	gchar *storage_key_file;
	gchar *default_account;
	gchar *keyring_name;
	guint http_timeout;
	guint token_requests_per_sec; /* per caller; bursts of twice that */
	gchar *proxy;		      /* Proxy= (da_proxy_is_valid); NULL: direct */
	gchar *proxy_credentials_file;
	GPtrArray *accounts; /* of DaAccountConfig, sorted by name */
	GPtrArray *problems; /* of gchar*: one line per file that was refused */
	GPtrArray *notes;    /* of DaConfigNote: the account files' errors and warnings */
} DaConfig;

gboolean
da_account_name_is_valid (const gchar *name);
gboolean
da_url_is_acceptable (const gchar *url, GError **error);
/* The line (from 1) of KEY= in [GROUP] of a key file's text, or 0 */
guint
da_config_line_of (const gchar *data, gsize len, const gchar *group, const gchar *key);
/* The key of @known most like @key (a typo: at most 2 edits, ignoring
 * case), or NULL */
const gchar *
da_config_suggest (const gchar *key, const gchar *const *known);
/* Proxy=: "" (direct), "env" (http_proxy, https_proxy and no_proxy of
 * devauthd's environment) or http://HOST[:PORT] or https://HOST[:PORT] */
gboolean
da_proxy_is_valid (const gchar *value, GError **error);
/* ProxyCredentialsFile=: "USER:PASSWORD" on one line */
DaSecret *
da_proxy_credentials_read (const gchar *path, GError **error);

DaAccountConfig *
da_account_config_load_from_data (const gchar *name,
				  const gchar *path,
				  const gchar *data,
				  gsize len,
				  GError **error);
DaAccountConfig *
da_account_config_load_from_file (const gchar *name, const gchar *path, GError **error);
void
da_account_config_free (DaAccountConfig *self);

DaConfig *
da_config_load (const gchar *config_dir, GError **error);
gboolean
da_config_load_daemon_data (DaConfig *self,
			    const gchar *path,
			    const gchar *data,
			    gsize len,
			    GError **error);
void
da_config_free (DaConfig *self);
/* One more DaConfigNote (an account left out after its file was read) */
void
da_config_note (DaConfig *self, const gchar *account, gboolean error, const gchar *message);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaAccountConfig, da_account_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DaConfig, da_config_free)

G_END_DECLS
