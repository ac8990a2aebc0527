/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ID tokens and JWKS (da-jwt.c). The first byte picks what the rest is:
 *   0: a token, checked against a fixed JWKS
 *   1: a token, a NUL, a JWKS
 *   2: the claims of a token the harness signs (Ed25519), so that the
 *      claim checks behind the signature are reached too
 *   3: the header of such a token
 * da_jwt_unverified_claims() and da_jwt_base64url_decode() see every input. */
#include "config.h"

#include <nettle/eddsa.h>
#include <stdint.h>
#include <string.h>

#include "da-jwt.h"

#define ISSUER "https://idp.example/realms/tv"
#define CLIENT "tv-device"
#define NOW    G_GINT64_CONSTANT (1700000000)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const guint8 ed_priv[ED25519_KEY_SIZE] = "devauthd fuzz-jwt test key 0001";
static guint8 ed_pub[ED25519_KEY_SIZE];
static gchar *jwks;

static gchar *
b64url (const guint8 *data, gsize len)
{
	gchar *s = g_base64_encode (data, len);

	g_strdelimit (s, "+", '-');
	g_strdelimit (s, "/", '_');
	g_strdelimit (s, "=", '\0');
	return s;
}

static void
init_once (void)
{
	g_autofree gchar *x = NULL;
	g_autofree gchar *n = NULL;
	guint8 modulus[256];

	if (jwks != NULL)
		return;
	ed25519_sha512_public_key (ed_pub, ed_priv);
	x = b64url (ed_pub, sizeof ed_pub);
	memset (modulus, 0xa5, sizeof modulus);
	n = b64url (modulus, sizeof modulus);
	jwks = g_strdup_printf (
		"{\"keys\":["
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"f\",\"x\":\"%s\"},"
		"{\"kty\":\"RSA\",\"kid\":\"r\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"AQAB\"},"
		/* RFC 7517 A.1 */
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e\","
		"\"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\","
		"\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\"}]}",
		x, n);
}

/* a token with @header and @claims, signed with the harness's key */
static gchar *
signed_token (const gchar *header, gsize header_len, const gchar *claims, gsize claims_len)
{
	g_autofree gchar *h = b64url ((const guint8 *) header, header_len);
	g_autofree gchar *p = b64url ((const guint8 *) claims, claims_len);
	g_autofree gchar *input = g_strconcat (h, ".", p, NULL);
	g_autofree gchar *s = NULL;
	guint8 sig[ED25519_SIGNATURE_SIZE];

	ed25519_sha512_sign (ed_pub, ed_priv, strlen (input), (const guint8 *) input, sig);
	s = b64url (sig, sizeof sig);
	return g_strconcat (input, ".", s, NULL);
}

static void
verify (const gchar *token, const gchar *keys, gsize keys_len)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(DaIdClaims) claims = NULL;
	g_autoptr(DaIdClaims) unverified = NULL;

	claims = da_jwt_verify_id_token (token, keys, keys_len, ISSUER, CLIENT, NOW, 60, &error);
	g_assert ((claims == NULL) != (error == NULL));
	g_assert (claims == NULL || claims->sub != NULL);
	unverified = da_jwt_unverified_claims (token);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const gchar header[] = "{\"alg\":\"EdDSA\",\"kid\":\"f\"}";
	static const gchar claims[] = "{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT
				      "\",\"sub\":\"s\","
				      "\"iat\":1700000000,\"exp\":4102444800}";
	g_autofree guchar *decoded = NULL;
	g_autofree gchar *rest = NULL;
	g_autofree gchar *token = NULL;
	const gchar *nul;
	gsize len = 0;

	if (size < 1)
		return 0;
	init_once ();
	rest = g_strndup ((const gchar *) data + 1, size - 1);
	decoded = da_jwt_base64url_decode ((const gchar *) data + 1, size - 1, &len);
	switch (data[0] & 3) {
	case 0:
		verify (rest, jwks, strlen (jwks));
		break;
	case 1:
		nul = memchr (data + 1, '\0', size - 1);
		if (nul != NULL)
			verify (rest, nul + 1, size - (gsize) (nul + 1 - (const gchar *) data));
		else
			verify (rest, "", 0);
		break;
	case 2:
		token = signed_token (header, strlen (header), (const gchar *) data + 1, size - 1);
		verify (token, jwks, strlen (jwks));
		break;
	default:
		token = signed_token ((const gchar *) data + 1, size - 1, claims, strlen (claims));
		verify (token, jwks, strlen (jwks));
		break;
	}
	return 0;
}
