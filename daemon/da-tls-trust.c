/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The system's trust store, read when a certificate is checked against it
 * and dropped after the check.
 *
 * glib-networking (2.74) builds the GnuTLS credentials of every TLS
 * connection from the connection's database when the connection is made:
 * a copy of the whole store (~140 CAs, some 3.8 MiB of parsed
 * certificates) for each connection, held for as long as it lives; its
 * default database holds one more copy for the life of the process. And a
 * client connection starts with the backend's default database whatever
 * libsoup sets on it next, so that an account with CAFile= loaded the
 * system's store too, at every connection.
 *
 * The database installed here as the backend's default is not GnuTLS's
 * own: a connection made with it gets empty credentials, and glib-networking
 * verifies its peer with g_tls_database_verify_chain() on this database.
 * That check reads the store into a GnuTLS trust list of its own (some
 * 15 ms of CPU), verifies the chain with it (the signatures up to an
 * anchor, the validity times, the host name, the purpose) and frees it; the
 * pages are given back after the handshake (da-oidc-request.c). The same
 * chain checked again for the same host within 10 s gets the same answer
 * without a second read. An idle daemon holds none of the store. Given
 * up with it: glib-networking checks a stapled OCSP response only with
 * credentials that hold the store, so not on these connections. A
 * CAFile= database (GnuTLS's own, of one CA) is set on its connections by
 * libsoup as before and checked by GnuTLS in the session. GnuTLS is
 * opened, not linked, as in da-client-assertion.c. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>

#include "da-gnutls.h"
#include "da-tls-trust.h"

#define DA_TLS_CHAIN_MAX 16
/* a new connection is checked twice (by glib-networking in the handshake,
 * then by da-oidc-request.c): the second check of the same chain for the
 * same host within this time is answered without reading the store again */
#define DA_TLS_REUSE_US (10 * G_USEC_PER_SEC)

#define DA_TYPE_TLS_TRUST (da_tls_trust_get_type ())
G_DECLARE_FINAL_TYPE (DaTlsTrust, da_tls_trust, DA, TLS_TRUST, GTlsDatabase)

struct _DaTlsTrust {
	GTlsDatabase parent_instance;
	GMutex lock;	  /* handshakes check their peer in worker threads */
	GBytes *last_key; /* the chain, host and purpose of the last check */
	gint64 last_us;	  /* when it was made (monotonic) */
	GTlsCertificateFlags last_result;
};

G_DEFINE_TYPE (DaTlsTrust, da_tls_trust, G_TYPE_TLS_DATABASE)

static typeof (gnutls_x509_trust_list_init) *sym_trust_list_init;
static typeof (gnutls_x509_trust_list_deinit) *sym_trust_list_deinit;
static typeof (gnutls_x509_trust_list_add_system_trust) *sym_trust_list_add_system_trust;
static typeof (gnutls_x509_trust_list_verify_crt2) *sym_trust_list_verify_crt2;
static typeof (gnutls_x509_crt_init) *sym_crt_init;
static typeof (gnutls_x509_crt_deinit) *sym_crt_deinit;
static typeof (gnutls_x509_crt_import) *sym_crt_import;

/* Once per process, from whichever thread checks first; FALSE each time
 * when the library cannot be used (said once). */
static gboolean
load_gnutls (void)
{
	static gsize loaded = 0;

	if (g_once_init_enter (&loaded)) {
		const DaGnutlsSymbol symbols[] = {
			{"gnutls_x509_trust_list_init", (gpointer *) &sym_trust_list_init},
			{"gnutls_x509_trust_list_deinit", (gpointer *) &sym_trust_list_deinit},
			{"gnutls_x509_trust_list_add_system_trust",
			 (gpointer *) &sym_trust_list_add_system_trust},
			{"gnutls_x509_trust_list_verify_crt2",
			 (gpointer *) &sym_trust_list_verify_crt2},
			{"gnutls_x509_crt_init", (gpointer *) &sym_crt_init},
			{"gnutls_x509_crt_deinit", (gpointer *) &sym_crt_deinit},
			{"gnutls_x509_crt_import", (gpointer *) &sym_crt_import},
		};
		g_autoptr(GError) error = NULL;
		gsize result = 1;

		if (!da_gnutls_resolve (symbols, G_N_ELEMENTS (symbols), &error)) {
			g_warning ("TLS: %s: no certificate is trusted without CAFile=",
				   error->message);
			result = 2;
		}
		g_once_init_leave (&loaded, result);
	}
	return loaded == 1;
}

/* The host name (or address) that the certificate must be made out for */
static gchar *
identity_host (GSocketConnectable *identity)
{
	if (G_IS_NETWORK_ADDRESS (identity))
		return g_strdup (g_network_address_get_hostname (G_NETWORK_ADDRESS (identity)));
	if (G_IS_NETWORK_SERVICE (identity))
		return g_strdup (g_network_service_get_domain (G_NETWORK_SERVICE (identity)));
	if (G_IS_INET_SOCKET_ADDRESS (identity))
		return g_inet_address_to_string (
			g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (identity)));
	return NULL;
}

static GTlsCertificateFlags
convert_status (guint status)
{
	GTlsCertificateFlags flags = 0;

	if (status == 0)
		return 0;
	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
		flags |= G_TLS_CERTIFICATE_UNKNOWN_CA;
	if (status & GNUTLS_CERT_NOT_ACTIVATED)
		flags |= G_TLS_CERTIFICATE_NOT_ACTIVATED;
	if (status & GNUTLS_CERT_EXPIRED)
		flags |= G_TLS_CERTIFICATE_EXPIRED;
	if (status & GNUTLS_CERT_REVOKED)
		flags |= G_TLS_CERTIFICATE_REVOKED;
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		flags |= G_TLS_CERTIFICATE_INSECURE;
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
		flags |= G_TLS_CERTIFICATE_BAD_IDENTITY;
	/* invalid for a reason of its own (a bad signature, a constraint) */
	return flags != 0 ? flags : G_TLS_CERTIFICATE_GENERIC_ERROR;
}

/* The chain against the store, read for this check and freed after it */
static GTlsCertificateFlags
verify_with_store (GTlsCertificate *chain, const gchar *purpose, const gchar *host)
{
	gnutls_x509_crt_t crts[DA_TLS_CHAIN_MAX];
	gnutls_x509_trust_list_t list = NULL;
	gnutls_typed_vdata_st vdata[2];
	GTlsCertificateFlags result = G_TLS_CERTIFICATE_GENERIC_ERROR;
	guint n = 0;
	guint nvdata = 0;
	guint status = 0;

	if (!load_gnutls ())
		return G_TLS_CERTIFICATE_UNKNOWN_CA;
	for (GTlsCertificate *c = chain; c != NULL && n < DA_TLS_CHAIN_MAX;
	     c = g_tls_certificate_get_issuer (c)) {
		g_autoptr(GByteArray) der = NULL;
		gnutls_datum_t datum;

		g_object_get (c, "certificate", &der, NULL);
		if (der == NULL || sym_crt_init (&crts[n]) < 0)
			goto out;
		n++;
		datum.data = der->data;
		datum.size = der->len;
		if (sym_crt_import (crts[n - 1], &datum, GNUTLS_X509_FMT_DER) < 0)
			goto out;
	}
	if (n == 0 || sym_trust_list_init (&list, 0) < 0)
		goto out;
	if (sym_trust_list_add_system_trust (list, 0, 0) <= 0) {
		result = G_TLS_CERTIFICATE_UNKNOWN_CA;
		goto out;
	}
	if (host != NULL) {
		vdata[nvdata].type = GNUTLS_DT_DNS_HOSTNAME;
		vdata[nvdata].data = (guchar *) host;
		vdata[nvdata].size = 0;
		nvdata++;
	}
	vdata[nvdata].type = GNUTLS_DT_KEY_PURPOSE_OID;
	vdata[nvdata].data =
		(guchar *) (g_strcmp0 (purpose, G_TLS_DATABASE_PURPOSE_AUTHENTICATE_CLIENT) == 0
				    ? GNUTLS_KP_TLS_WWW_CLIENT
				    : GNUTLS_KP_TLS_WWW_SERVER);
	vdata[nvdata].size = 0;
	nvdata++;
	if (sym_trust_list_verify_crt2 (list, crts, n, vdata, nvdata, 0, &status, NULL) < 0)
		goto out;
	result = convert_status (status);
out:
	if (list != NULL)
		sym_trust_list_deinit (list, 1);
	for (guint i = 0; i < n; i++)
		sym_crt_deinit (crts[i]);
	return result;
}

/* What a check depends on: every certificate of the chain, the host, the
 * purpose */
static GBytes *
check_key (GTlsCertificate *chain, const gchar *purpose, const gchar *host)
{
	g_autoptr(GByteArray) key = g_byte_array_new ();

	for (GTlsCertificate *c = chain; c != NULL; c = g_tls_certificate_get_issuer (c)) {
		g_autoptr(GByteArray) der = NULL;
		guint32 len;

		g_object_get (c, "certificate", &der, NULL);
		len = der != NULL ? der->len : 0;
		g_byte_array_append (key, (const guint8 *) &len, sizeof len);
		if (der != NULL)
			g_byte_array_append (key, der->data, der->len);
	}
	g_byte_array_append (key, (const guint8 *) (host != NULL ? host : ""),
			     (guint) strlen (host != NULL ? host : "") + 1);
	g_byte_array_append (key, (const guint8 *) purpose, (guint) strlen (purpose) + 1);
	return g_byte_array_free_to_bytes (g_steal_pointer (&key));
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
	DaTlsTrust *self = DA_TLS_TRUST (database);
	g_autofree gchar *host = identity != NULL ? identity_host (identity) : NULL;
	g_autoptr(GBytes) key = NULL;
	GTlsCertificateFlags result;
	gint64 now = g_get_monotonic_time ();

	if (g_cancellable_set_error_if_cancelled (cancellable, error))
		return G_TLS_CERTIFICATE_GENERIC_ERROR;
	key = check_key (chain, purpose, host);
	g_mutex_lock (&self->lock);
	if (self->last_key != NULL && now - self->last_us < DA_TLS_REUSE_US &&
	    g_bytes_equal (self->last_key, key)) {
		result = self->last_result;
	} else {
		result = verify_with_store (chain, purpose, host);
		g_clear_pointer (&self->last_key, g_bytes_unref);
		self->last_key = g_steal_pointer (&key);
		self->last_us = now;
		self->last_result = result;
	}
	g_mutex_unlock (&self->lock);
	return result;
}

/* The store is not kept: no certificate is looked up in it */
static gchar *
da_tls_trust_create_certificate_handle (GTlsDatabase *database, GTlsCertificate *certificate)
{
	return NULL;
}

static GTlsCertificate *
da_tls_trust_lookup_certificate_for_handle (GTlsDatabase *database,
					    const gchar *handle,
					    GTlsInteraction *interaction,
					    GTlsDatabaseLookupFlags flags,
					    GCancellable *cancellable,
					    GError **error)
{
	return NULL;
}

static GTlsCertificate *
da_tls_trust_lookup_certificate_issuer (GTlsDatabase *database,
					GTlsCertificate *certificate,
					GTlsInteraction *interaction,
					GTlsDatabaseLookupFlags flags,
					GCancellable *cancellable,
					GError **error)
{
	return NULL;
}

static GList *
da_tls_trust_lookup_certificates_issued_by (GTlsDatabase *database,
					    GByteArray *issuer_raw_dn,
					    GTlsInteraction *interaction,
					    GTlsDatabaseLookupFlags flags,
					    GCancellable *cancellable,
					    GError **error)
{
	return NULL;
}

static void
da_tls_trust_finalize (GObject *object)
{
	DaTlsTrust *self = DA_TLS_TRUST (object);

	g_clear_pointer (&self->last_key, g_bytes_unref);
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
