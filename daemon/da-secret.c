/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "da-secret.h"

void
da_secret_wipe (gpointer data, gsize len)
{
	if (data != NULL && len > 0)
		explicit_bzero (data, len);
}

DaSecret *
da_secret_new_len (const gchar *value, gsize len)
{
	DaSecret *secret = g_malloc (len + 1);
	memcpy (secret, value, len);
	secret[len] = '\0';
	return secret;
}

DaSecret *
da_secret_new (const gchar *value)
{
	g_return_val_if_fail (value != NULL, NULL);
	return da_secret_new_len (value, strlen (value));
}

void
da_secret_free (DaSecret *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero (secret, strlen (secret));
	g_free (secret);
}

/* A short, stable, non-reversible name for a secret, for logs. */
gchar *
da_secret_fingerprint (const gchar *secret)
{
	g_autofree gchar *sum = NULL;

	if (secret == NULL || secret[0] == '\0')
		return g_strdup ("(none)");
	sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, secret, -1);
	return g_strdup_printf ("sha256:%.8s", sum);
}

/* Drops a reference to bytes that held a secret, wiping them when this was
 * the last reference. */
void
da_secret_bytes_unref (GBytes *bytes)
{
	gsize len = 0;
	gpointer data;

	if (bytes == NULL)
		return;
	data = g_bytes_unref_to_data (bytes, &len);
	da_secret_wipe (data, len);
	g_free (data);
}

void
da_secret_byte_array_free (GByteArray *array)
{
	if (array == NULL)
		return;
	da_secret_wipe (array->data, array->len);
	g_byte_array_unref (array);
}
