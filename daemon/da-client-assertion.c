/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Client assertions for private_key_jwt (RFC 7523): the JWT is built here,
 * the key is read and the signature made by GnuTLS, opened when the first
 * assertion is made (or a key is checked at start), not linked: most
 * devices never use it, and glib-networking has loaded the same library
 * anyway once there is an HTTPS connection. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <gio/gio.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/random.h>

#include "da-client-assertion.h"
#include "da-gnutls.h"
#include "da-jwt.h"

static typeof (gnutls_privkey_init) *sym_privkey_init;
static typeof (gnutls_privkey_deinit) *sym_privkey_deinit;
static typeof (gnutls_privkey_import_x509_raw) *sym_privkey_import_x509_raw;
static typeof (gnutls_privkey_get_pk_algorithm) *sym_privkey_get_pk_algorithm;
static typeof (gnutls_privkey_sign_data2) *sym_privkey_sign_data2;
static int (*sym_decode_rs_value) (const gnutls_datum_t *sig_value,
				   gnutls_datum_t *r,
				   gnutls_datum_t *s);
static typeof (gnutls_strerror) *sym_strerror;
static gnutls_free_function sym_free;

/* Once per process, on the main thread; FALSE with @error each time when
 * the library cannot be used. */
static gboolean
load_gnutls (GError **error)
{
	static gsize loaded = 0;
	static gchar *failure = NULL;

	if (g_once_init_enter (&loaded)) {
		gnutls_free_function *free_var = NULL;
		const DaGnutlsSymbol symbols[] = {
			{"gnutls_privkey_init", (gpointer *) &sym_privkey_init},
			{"gnutls_privkey_deinit", (gpointer *) &sym_privkey_deinit},
			{"gnutls_privkey_import_x509_raw",
			 (gpointer *) &sym_privkey_import_x509_raw},
			{"gnutls_privkey_get_pk_algorithm",
			 (gpointer *) &sym_privkey_get_pk_algorithm},
			{"gnutls_privkey_sign_data2", (gpointer *) &sym_privkey_sign_data2},
			{"gnutls_decode_rs_value", (gpointer *) &sym_decode_rs_value},
			{"gnutls_strerror", (gpointer *) &sym_strerror},
			/* a variable in GnuTLS: the function pointer it holds */
			{"gnutls_free", (gpointer *) &free_var},
		};
		g_autoptr(GError) error_local = NULL;

		if (da_gnutls_resolve (symbols, G_N_ELEMENTS (symbols), &error_local))
			sym_free = *free_var;
		else
			failure = g_strdup (error_local->message);
		g_once_init_leave (&loaded, 1);
	}
	if (failure != NULL) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
			     "private_key_jwt is not available: %s", failure);
		return FALSE;
	}
	return TRUE;
}

typedef struct {
	gnutls_privkey_t key;
	gnutls_sign_algorithm_t sign;
	const gchar *alg; /* JOSE */
	guint rs_len;	  /* ECDSA: the length of r and of s in the JOSE form; 0: RSA */
} DaClientKey;

static void
da_client_key_clear (DaClientKey *k)
{
	if (k->key != NULL)
		sym_privkey_deinit (k->key);
	k->key = NULL;
}

static gboolean
da_client_key_load (DaClientKey *k, const DaSecret *pem, GError **error)
{
	gnutls_datum_t datum = {(unsigned char *) pem, (unsigned int) strlen (pem)};
	unsigned int bits = 0;
	int ret;
	int pk;

	memset (k, 0, sizeof (*k));
	if (!load_gnutls (error))
		return FALSE;
	ret = sym_privkey_init (&k->key);
	if (ret < 0) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", sym_strerror (ret));
		k->key = NULL;
		return FALSE;
	}
	ret = sym_privkey_import_x509_raw (k->key, &datum, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (ret < 0) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			     "not a PEM private key without a passphrase (%s)", sym_strerror (ret));
		da_client_key_clear (k);
		return FALSE;
	}
	pk = sym_privkey_get_pk_algorithm (k->key, &bits);
	if (pk == GNUTLS_PK_RSA && bits >= 2048) {
		k->sign = GNUTLS_SIGN_RSA_SHA256;
		k->alg = "RS256";
		return TRUE;
	}
	if (pk == GNUTLS_PK_ECDSA && bits == 256) {
		k->sign = GNUTLS_SIGN_ECDSA_SHA256;
		k->alg = "ES256";
		k->rs_len = 32;
		return TRUE;
	}
	g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		     "a %s key of %u bits: devauthd signs with RSA of 2048 bits or more (RS256) "
		     "or EC P-256 (ES256)",
		     pk == GNUTLS_PK_RSA     ? "RSA"
		     : pk == GNUTLS_PK_ECDSA ? "EC"
					     : "other",
		     bits);
	da_client_key_clear (k);
	return FALSE;
}

gboolean
da_client_key_check (const DaSecret *pem, GError **error)
{
	DaClientKey k;

	if (!da_client_key_load (&k, pem, error))
		return FALSE;
	da_client_key_clear (&k);
	return TRUE;
}

static gchar *
json_object_text (JsonBuilder *b)
{
	g_autoptr(JsonNode) root = json_builder_get_root (b);
	g_autoptr(JsonGenerator) gen = json_generator_new ();

	json_generator_set_root (gen, root);
	return json_generator_to_data (gen, NULL);
}

static gchar *
b64url_text (const gchar *text)
{
	return da_jwt_base64url_encode ((const guchar *) text, strlen (text));
}

/* ECDSA's DER (r, s) as JOSE wants it: r and s, big-endian, each @n bytes */
static GBytes *
ecdsa_jose_signature (const gnutls_datum_t *der, guint n, GError **error)
{
	gnutls_datum_t r = {NULL, 0};
	gnutls_datum_t s = {NULL, 0};
	g_autofree guchar *out = NULL;
	const gnutls_datum_t *parts[] = {&r, &s};
	int ret = sym_decode_rs_value (der, &r, &s);

	if (ret < 0) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "ECDSA signature: %s",
			     sym_strerror (ret));
		return NULL;
	}
	out = g_malloc0 (2 * n);
	for (guint i = 0; i < 2; i++) {
		const guchar *p = parts[i]->data;
		gsize len = parts[i]->size;

		/* DER integers carry a leading zero when the top bit is set */
		while (len > n && *p == 0) {
			p++;
			len--;
		}
		if (len > n) {
			sym_free (r.data);
			sym_free (s.data);
			g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
					     "ECDSA signature: a value is too long");
			return NULL;
		}
		memcpy (out + i * n + (n - len), p, len);
	}
	sym_free (r.data);
	sym_free (s.data);
	return g_bytes_new_take (g_steal_pointer (&out), 2 * n);
}

gchar *
da_client_assertion_new (const DaSecret *pem,
			 const gchar *key_id,
			 const gchar *client_id,
			 const gchar *audience,
			 gint64 now,
			 GError **error)
{
	g_autoptr(JsonBuilder) header = json_builder_new ();
	g_autoptr(JsonBuilder) claims = json_builder_new ();
	g_autofree gchar *header_text = NULL;
	g_autofree gchar *claims_text = NULL;
	g_autofree gchar *header_b64 = NULL;
	g_autofree gchar *claims_b64 = NULL;
	g_autofree gchar *signing_input = NULL;
	g_autofree gchar *jti = NULL;
	g_autofree gchar *sig_b64 = NULL;
	g_autoptr(GBytes) sig_jose = NULL;
	guint8 random[16];
	gnutls_datum_t data;
	gnutls_datum_t sig = {NULL, 0};
	DaClientKey k;
	int ret;

	if (!da_client_key_load (&k, pem, error))
		return NULL;
	if (getrandom (random, sizeof (random), 0) != sizeof (random)) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
				     "no random bytes for the assertion's jti");
		da_client_key_clear (&k);
		return NULL;
	}
	jti = da_jwt_base64url_encode (random, sizeof (random));

	json_builder_begin_object (header);
	json_builder_set_member_name (header, "alg");
	json_builder_add_string_value (header, k.alg);
	json_builder_set_member_name (header, "typ");
	json_builder_add_string_value (header, "JWT");
	if (key_id != NULL) {
		json_builder_set_member_name (header, "kid");
		json_builder_add_string_value (header, key_id);
	}
	json_builder_end_object (header);

	json_builder_begin_object (claims);
	json_builder_set_member_name (claims, "iss");
	json_builder_add_string_value (claims, client_id);
	json_builder_set_member_name (claims, "sub");
	json_builder_add_string_value (claims, client_id);
	json_builder_set_member_name (claims, "aud");
	json_builder_add_string_value (claims, audience);
	json_builder_set_member_name (claims, "jti");
	json_builder_add_string_value (claims, jti);
	json_builder_set_member_name (claims, "iat");
	json_builder_add_int_value (claims, now);
	json_builder_set_member_name (claims, "exp");
	json_builder_add_int_value (claims, now + DA_CLIENT_ASSERTION_LIFETIME_SEC);
	json_builder_end_object (claims);

	header_text = json_object_text (header);
	claims_text = json_object_text (claims);
	header_b64 = b64url_text (header_text);
	claims_b64 = b64url_text (claims_text);
	signing_input = g_strconcat (header_b64, ".", claims_b64, NULL);
	data.data = (unsigned char *) signing_input;
	data.size = (unsigned int) strlen (signing_input);
	ret = sym_privkey_sign_data2 (k.key, k.sign, 0, &data, &sig);
	da_client_key_clear (&k);
	if (ret < 0) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
			     "cannot sign the client assertion: %s", sym_strerror (ret));
		return NULL;
	}
	if (k.rs_len > 0) {
		sig_jose = ecdsa_jose_signature (&sig, k.rs_len, error);
		sym_free (sig.data);
		if (sig_jose == NULL)
			return NULL;
	} else {
		sig_jose = g_bytes_new (sig.data, sig.size);
		sym_free (sig.data);
	}
	sig_b64 = da_jwt_base64url_encode (g_bytes_get_data (sig_jose, NULL),
					   g_bytes_get_size (sig_jose));
	return g_strconcat (signing_input, ".", sig_b64, NULL);
}
