/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "da-token.h"

#define DA_TOKEN_MAGIC "devauthd-token-1\n"

DaToken *
da_token_new (const gchar *token,
	      gint64 expires_at,
	      const gchar *token_type,
	      const gchar *scope,
	      const gchar *subject)
{
	DaToken *self = g_new0 (DaToken, 1);

	self->token = da_secret_new (token);
	self->expires_at = expires_at;
	self->token_type = g_strdup (token_type);
	self->scope = g_strdup (scope);
	self->subject = g_strdup (subject);
	return self;
}

DaToken *
da_token_copy (const DaToken *self)
{
	DaToken *copy = da_token_new (self->token, self->expires_at, self->token_type, self->scope,
				      self->subject);

	copy->name = g_strdup (self->name);
	da_token_set_clock (copy, self->boot_id, self->clock_offset_us, self->clock_origin);
	return copy;
}

void
da_token_set_clock (DaToken *self,
		    const gchar *boot_id,
		    gint64 clock_offset_us,
		    const gchar *clock_origin)
{
	g_free (self->boot_id);
	g_free (self->clock_origin);
	self->boot_id = boot_id != NULL && boot_id[0] != '\0' ? g_strdup (boot_id) : NULL;
	self->clock_offset_us = clock_offset_us;
	self->clock_origin = g_strdup (clock_origin);
}

void
da_token_set_name (DaToken *self, const gchar *name)
{
	g_free (self->name);
	self->name = g_strdup (name);
}

void
da_token_free (DaToken *self)
{
	if (self == NULL)
		return;
	da_secret_free (self->token);
	g_free (self->token_type);
	g_free (self->scope);
	g_free (self->subject);
	g_free (self->name);
	g_free (self->boot_id);
	g_free (self->clock_origin);
	g_free (self);
}

static gsize
field_len (const gchar *key, const gchar *value)
{
	return value != NULL ? strlen (key) + 1 + strlen (value) + 1 : 0;
}

static gsize
put_field (gchar *buf, gsize pos, const gchar *key, const gchar *value)
{
	gsize klen, vlen;

	if (value == NULL)
		return pos;
	klen = strlen (key);
	vlen = strlen (value);
	memcpy (buf + pos, key, klen);
	buf[pos + klen] = '=';
	memcpy (buf + pos + klen + 1, value, vlen);
	buf[pos + klen + 1 + vlen] = '\n';
	return pos + klen + vlen + 2;
}

/* "key=value" lines, in one allocation so that nothing unwiped is left
 * behind. Values never hold a newline (the OIDC parser refuses control
 * characters). */
DaSecret *
da_token_serialize (const DaToken *self, gsize *len)
{
	gchar expires[32];
	gsize total;
	gsize pos;
	gchar *buf;

	g_autofree gchar *clock = NULL;

	g_snprintf (expires, sizeof expires, "%" G_GINT64_FORMAT, self->expires_at);
	/* "clock=BOOT-ID OFFSET-µs [IDP]" */
	if (self->boot_id != NULL)
		clock = g_strdup_printf ("%s %" G_GINT64_FORMAT "%s%s", self->boot_id,
					 self->clock_offset_us,
					 self->clock_origin != NULL ? " " : "",
					 self->clock_origin != NULL ? self->clock_origin : "");
	total = strlen (DA_TOKEN_MAGIC) + field_len ("expires-at", expires) +
		field_len ("clock", clock) + field_len ("token-type", self->token_type) +
		field_len ("scope", self->scope) + field_len ("subject", self->subject) +
		field_len ("name", self->name) + field_len ("token", self->token);
	buf = g_malloc (total + 1);
	memcpy (buf, DA_TOKEN_MAGIC, strlen (DA_TOKEN_MAGIC));
	pos = strlen (DA_TOKEN_MAGIC);
	pos = put_field (buf, pos, "expires-at", expires);
	pos = put_field (buf, pos, "clock", clock);
	pos = put_field (buf, pos, "token-type", self->token_type);
	pos = put_field (buf, pos, "scope", self->scope);
	pos = put_field (buf, pos, "subject", self->subject);
	pos = put_field (buf, pos, "name", self->name);
	pos = put_field (buf, pos, "token", self->token);
	g_assert (pos == total);
	buf[pos] = '\0';
	if (len != NULL)
		*len = pos;
	return buf;
}

static gboolean
value_is_clean (const gchar *value, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		if ((guchar) value[i] < 0x20 || value[i] == 0x7f)
			return FALSE;
	}
	return TRUE;
}

/* "BOOT-ID OFFSET [IDP]" */
static gboolean
parse_clock (DaToken *self, const gchar *value, gsize len)
{
	g_autofree gchar *text = g_strndup (value, len);
	g_auto(GStrv) parts = g_strsplit (text, " ", 3);
	gint64 offset = 0;
	guint n = g_strv_length (parts);

	if (n < 2 || parts[0][0] == '\0' || strlen (parts[0]) > 64 ||
	    !g_ascii_string_to_signed (parts[1], 10, G_MININT64, G_MAXINT64, &offset, NULL) ||
	    (n == 3 && parts[2][0] == '\0'))
		return FALSE;
	da_token_set_clock (self, parts[0], offset, n == 3 ? parts[2] : NULL);
	return TRUE;
}

DaToken *
da_token_parse (const gchar *data, gsize len, GError **error)
{
	g_autoptr(DaToken) self = g_new0 (DaToken, 1);
	gsize pos;

	if (len < strlen (DA_TOKEN_MAGIC) ||
	    memcmp (data, DA_TOKEN_MAGIC, strlen (DA_TOKEN_MAGIC)) != 0) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				     "not a devauthd token record");
		return NULL;
	}
	pos = strlen (DA_TOKEN_MAGIC);
	while (pos < len) {
		const gchar *line = data + pos;
		const gchar *nl = memchr (line, '\n', len - pos);
		const gchar *eq;
		gsize line_len;
		gsize klen;
		const gchar *value;
		gsize vlen;

		if (nl == NULL) {
			g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
					     "token record is truncated");
			return NULL;
		}
		line_len = (gsize) (nl - line);
		pos += line_len + 1;
		eq = memchr (line, '=', line_len);
		if (eq == NULL)
			continue;
		klen = (gsize) (eq - line);
		value = eq + 1;
		vlen = line_len - klen - 1;
		if (!value_is_clean (value, vlen)) {
			g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
					     "token record holds control characters");
			return NULL;
		}
		if (klen == 5 && memcmp (line, "token", 5) == 0 && vlen > 0) {
			da_secret_free (self->token);
			self->token = da_secret_new_len (value, vlen);
		} else if (klen == 10 && memcmp (line, "expires-at", 10) == 0) {
			g_autofree gchar *v = g_strndup (value, vlen);
			guint64 n = 0;
			if (!g_ascii_string_to_unsigned (v, 10, 0, G_MAXINT64, &n, NULL)) {
				g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
						     "token record has a bad expiry");
				return NULL;
			}
			self->expires_at = (gint64) n;
		} else if (klen == 5 && memcmp (line, "clock", 5) == 0) {
			if (!parse_clock (self, value, vlen)) {
				g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
						     "token record has a bad clock");
				return NULL;
			}
		} else if (klen == 10 && memcmp (line, "token-type", 10) == 0) {
			g_free (self->token_type);
			self->token_type = g_strndup (value, vlen);
		} else if (klen == 5 && memcmp (line, "scope", 5) == 0) {
			g_free (self->scope);
			self->scope = g_strndup (value, vlen);
		} else if (klen == 7 && memcmp (line, "subject", 7) == 0) {
			g_free (self->subject);
			self->subject = g_strndup (value, vlen);
		} else if (klen == 4 && memcmp (line, "name", 4) == 0) {
			g_free (self->name);
			self->name = g_strndup (value, vlen);
		}
	}
	if (self->token == NULL) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				     "token record holds no token");
		return NULL;
	}
	return g_steal_pointer (&self);
}

#define DA_STATE_MAGIC "devauthd-state-1\n"

static void
pack_one (GString *out, const gchar *kind, const DaToken *token)
{
	g_autoptr(DaSecret) record = NULL;
	gsize len = 0;

	if (token == NULL)
		return;
	record = da_token_serialize (token, &len);
	g_string_append_printf (out, "%s %" G_GSIZE_FORMAT "\n", kind, len);
	g_string_append_len (out, record, (gssize) len);
}

DaSecret *
da_token_pack_state (const DaToken *refresh, const DaToken *access, gsize *len)
{
	/* sized up front so that the string never moves (and leaves no copy) */
	GString *out = g_string_sized_new (64 * 1024);
	DaSecret *result;

	g_string_append (out, DA_STATE_MAGIC);
	pack_one (out, "refresh", refresh);
	pack_one (out, "access", access);
	*len = out->len;
	result = da_secret_new_len (out->str, out->len);
	da_secret_wipe (out->str, out->allocated_len);
	g_string_free (out, TRUE);
	return result;
}

gboolean
da_token_unpack_state (const gchar *data,
		       gsize len,
		       DaToken **refresh,
		       DaToken **access,
		       GError **error)
{
	g_autoptr(DaToken) r = NULL;
	g_autoptr(DaToken) a = NULL;
	gsize pos = strlen (DA_STATE_MAGIC);

	if (len < pos || memcmp (data, DA_STATE_MAGIC, pos) != 0) {
		g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				     "not a devauthd state");
		return FALSE;
	}
	while (pos < len) {
		const gchar *nl = memchr (data + pos, '\n', MIN (len - pos, 32));
		g_autofree gchar *header = NULL;
		g_auto(GStrv) parts = NULL;
		guint64 rec_len = 0;
		DaToken **slot;

		if (nl == NULL) {
			g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
					     "state is truncated");
			return FALSE;
		}
		header = g_strndup (data + pos, (gsize) (nl - (data + pos)));
		pos += strlen (header) + 1;
		parts = g_strsplit (header, " ", 2);
		if (g_strv_length (parts) != 2 ||
		    !g_ascii_string_to_unsigned (parts[1], 10, 1, G_MAXUINT32, &rec_len, NULL) ||
		    rec_len > len - pos) {
			g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
					     "state has a bad record header");
			return FALSE;
		}
		if (g_strcmp0 (parts[0], "refresh") == 0)
			slot = &r;
		else if (g_strcmp0 (parts[0], "access") == 0)
			slot = &a;
		else {
			pos += rec_len;
			continue;
		}
		da_token_free (*slot);
		*slot = da_token_parse (data + pos, rec_len, error);
		if (*slot == NULL)
			return FALSE;
		pos += rec_len;
	}
	*refresh = g_steal_pointer (&r);
	*access = g_steal_pointer (&a);
	return TRUE;
}
