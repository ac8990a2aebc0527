/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The system's trust store, loaded once, when a certificate is first
 * checked against it, and shared.
 *
 * glib-networking (2.74) builds the GnuTLS credentials of every TLS
 * connection from the connection's database when the connection is made:
 * a copy of the whole store (~140 CAs, some 3.8 MiB of parsed
 * certificates) for each connection, held for as long as it lives. And a
 * client connection starts with the backend's default database whatever
 * libsoup sets on it next, so that an account with CAFile= loaded the
 * system's store too, at every connection, and once more for the backend's
 * cache. The database installed here as the default is not GnuTLS's own:
 * a connection made with it gets empty credentials, and glib-networking
 * verifies its peer with g_tls_database_verify_chain() on this database,
 * which asks the one store, loaded on first use. A CAFile= database
 * (GnuTLS's own, of one CA) is set on its connections by libsoup as
 * before and checked by GnuTLS in the session. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include "da-tls-trust.h"

#define DA_TYPE_TLS_TRUST (da_tls_trust_get_type ())
G_DECLARE_FINAL_TYPE (DaTlsTrust, da_tls_trust, DA, TLS_TRUST, GTlsDatabase)

struct _DaTlsTrust {
	GTlsDatabase parent_instance;
	GMutex lock;	     /* handshakes check their peer in worker threads */
	GTlsDatabase *store; /* the backend's own default database, once loaded */
};

G_DEFINE_TYPE (DaTlsTrust, da_tls_trust, G_TYPE_TLS_DATABASE)

/* The store, loaded by the first caller (a failure is said, and tried again
 * at the next check); NULL: none, every certificate's CA is unknown. */
static GTlsDatabase *
trust_store (DaTlsTrust *self)
{
	GTlsDatabase *store;

	g_mutex_lock (&self->lock);
	if (self->store == NULL) {
		GTlsBackend *backend = g_tls_backend_get_default ();
		GTlsBackendInterface *iface = G_TLS_BACKEND_GET_INTERFACE (backend);

		/* the backend's own function: g_tls_backend_get_default_database()
		 * answers with this database */
		if (iface->get_default_database != NULL)
			self->store = iface->get_default_database (backend);
		if (self->store == NULL)
			g_warning ("TLS: the system's trust store cannot be loaded");
		else
			g_debug ("TLS: the system's trust store is loaded");
	}
	store = self->store != NULL ? g_object_ref (self->store) : NULL;
	g_mutex_unlock (&self->lock);
	return store;
}

static GTlsCertificateFlags
da_tls_trust_verify_chain (GTlsDatabase *database,
			   GTlsCertificate *chain,
			   const gchar *purpose,
			   GSocketConnectable *identity,
			   GTlsInteraction *interaction,
			   GTlsDatabaseVerifyFlags flags,
			   GCancellable *cancellable,
			   GError **error)
{
	g_autoptr(GTlsDatabase) store = trust_store (DA_TLS_TRUST (database));

	if (store == NULL)
		return G_TLS_CERTIFICATE_UNKNOWN_CA;
	return g_tls_database_verify_chain (store, chain, purpose, identity, interaction, flags,
					    cancellable, error);
}

static gchar *
da_tls_trust_create_certificate_handle (GTlsDatabase *database, GTlsCertificate *certificate)
{
	g_autoptr(GTlsDatabase) store = trust_store (DA_TLS_TRUST (database));

	return store != NULL ? g_tls_database_create_certificate_handle (store, certificate) : NULL;
}

static GTlsCertificate *
da_tls_trust_lookup_certificate_for_handle (GTlsDatabase *database,
					    const gchar *handle,
					    GTlsInteraction *interaction,
					    GTlsDatabaseLookupFlags flags,
					    GCancellable *cancellable,
					    GError **error)
{
	g_autoptr(GTlsDatabase) store = trust_store (DA_TLS_TRUST (database));

	if (store == NULL)
		return NULL;
	return g_tls_database_lookup_certificate_for_handle (store, handle, interaction, flags,
							     cancellable, error);
}

static GTlsCertificate *
da_tls_trust_lookup_certificate_issuer (GTlsDatabase *database,
					GTlsCertificate *certificate,
					GTlsInteraction *interaction,
					GTlsDatabaseLookupFlags flags,
					GCancellable *cancellable,
					GError **error)
{
	g_autoptr(GTlsDatabase) store = trust_store (DA_TLS_TRUST (database));

	if (store == NULL)
		return NULL;
	return g_tls_database_lookup_certificate_issuer (store, certificate, interaction, flags,
							 cancellable, error);
}

static GList *
da_tls_trust_lookup_certificates_issued_by (GTlsDatabase *database,
					    GByteArray *issuer_raw_dn,
					    GTlsInteraction *interaction,
					    GTlsDatabaseLookupFlags flags,
					    GCancellable *cancellable,
					    GError **error)
{
	g_autoptr(GTlsDatabase) store = trust_store (DA_TLS_TRUST (database));

	if (store == NULL)
		return NULL;
	return g_tls_database_lookup_certificates_issued_by (store, issuer_raw_dn, interaction,
							     flags, cancellable, error);
}

static void
da_tls_trust_finalize (GObject *object)
{
	DaTlsTrust *self = DA_TLS_TRUST (object);

	g_clear_object (&self->store);
	g_mutex_clear (&self->lock);
	G_OBJECT_CLASS (da_tls_trust_parent_class)->finalize (object);
}

static void
da_tls_trust_class_init (DaTlsTrustClass *klass)
{
	GTlsDatabaseClass *database_class = G_TLS_DATABASE_CLASS (klass);

	G_OBJECT_CLASS (klass)->finalize = da_tls_trust_finalize;
	database_class->verify_chain = da_tls_trust_verify_chain;
	database_class->create_certificate_handle = da_tls_trust_create_certificate_handle;
	database_class->lookup_certificate_for_handle = da_tls_trust_lookup_certificate_for_handle;
	database_class->lookup_certificate_issuer = da_tls_trust_lookup_certificate_issuer;
	database_class->lookup_certificates_issued_by = da_tls_trust_lookup_certificates_issued_by;
}

static void
da_tls_trust_init (DaTlsTrust *self)
{
	g_mutex_init (&self->lock);
}

void
da_tls_trust_install (void)
{
	static gsize installed = 0;

	if (g_once_init_enter (&installed)) {
		g_autoptr(GTlsDatabase) trust = g_object_new (DA_TYPE_TLS_TRUST, NULL);

		g_tls_backend_set_default_database (g_tls_backend_get_default (), trust);
		g_once_init_leave (&installed, 1);
	}
}
