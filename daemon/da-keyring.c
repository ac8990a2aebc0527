/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <errno.h>
#include <keyutils.h>
#include <string.h>

#include "da-keyring.h"

#define DA_KEYRING_PAYLOAD_MAX (32 * 1024)

struct _DaKeyring {
	gchar *name;
	key_serial_t id;
	gboolean possessed; /* @u is linked into our session keyring */
	int link_errno;	    /* why the last link failed */
};

static void
set_errno_error (GError **error, int errsv, const gchar *what)
{
	GIOErrorEnum code = g_io_error_from_errno (errsv);

	if (errsv == EDQUOT)
		code = G_IO_ERROR_NO_SPACE;
	else if (errsv == ENOKEY || errsv == EKEYEXPIRED || errsv == EKEYREVOKED)
		code = G_IO_ERROR_NOT_FOUND;
	g_set_error (error, G_IO_ERROR, code, "%s: %s", what,
		     errsv == EDQUOT ? "the key quota of this user is exhausted (raise "
				       "kernel.keys.maxbytes)"
				     : g_strerror (errsv));
}

/* A service's session keyring is its own (systemd's KeyringMode=private);
 * linking @u into it gives us possession of our keys, which are
 * possessor-only.  A link costs key quota, so with a full quota it fails;
 * it is tried again whenever a key operation is refused for want of it.
 * Returns TRUE when the link was made now. */
static gboolean
link_user_keyring (DaKeyring *self)
{
	if (self->possessed)
		return FALSE;
	if (keyctl_link (KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING) < 0) {
		int errsv = errno;

		if (errsv != self->link_errno)
			g_debug ("cannot link the user keyring into the session keyring: %s",
				 g_strerror (errsv));
		self->link_errno = errsv;
		return FALSE;
	}
	self->possessed = TRUE;
	self->link_errno = 0;
	return TRUE;
}

/* After an operation failed with @errsv: whether to try it once more
 * (possession was missing and is there now).  Otherwise the error to
 * report: a refusal for want of possession caused by a full key quota is
 * reported as the full quota. */
static gboolean
retry_with_possession (DaKeyring *self, int *errsv)
{
	if (*errsv != EACCES || self->possessed)
		return FALSE;
	if (link_user_keyring (self))
		return TRUE;
	if (self->link_errno == EDQUOT)
		*errsv = EDQUOT;
	return FALSE;
}

DaKeyring *
da_keyring_open (const gchar *name, GError **error)
{
	g_autoptr(DaKeyring) self = g_new0 (DaKeyring, 1);

	self->name = g_strdup (name);
	link_user_keyring (self);

	/* search first: add_key() of an existing keyring replaces it, keys and all */
	self->id = keyctl_search (KEY_SPEC_USER_KEYRING, "keyring", name, 0);
	if (self->id < 0) {
		if (errno != ENOKEY) {
			set_errno_error (error, errno, "cannot search the user keyring");
			return NULL;
		}
		self->id = add_key ("keyring", name, NULL, 0, KEY_SPEC_USER_KEYRING);
		if (self->id < 0) {
			set_errno_error (error, errno, "cannot create the keyring");
			return NULL;
		}
		g_debug ("created keyring '%s' (%d)", name, self->id);
	} else {
		g_debug ("found keyring '%s' (%d)", name, self->id);
	}
	return g_steal_pointer (&self);
}

gboolean
da_keyring_store (DaKeyring *self,
		  const gchar *description,
		  const gchar *payload,
		  gsize len,
		  guint timeout_sec,
		  GError **error)
{
	key_serial_t key;

	if (len > DA_KEYRING_PAYLOAD_MAX) {
		g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			     "cannot store key '%s': larger than %d KiB", description,
			     DA_KEYRING_PAYLOAD_MAX / 1024);
		return FALSE;
	}
	/* add_key() updates a key of the same type and description in place */
	for (guint attempt = 0;; attempt++) {
		int errsv;

		key = add_key ("user", description, payload, len, self->id);
		if (key >= 0)
			break;
		errsv = errno;
		if (attempt == 0 && retry_with_possession (self, &errsv))
			continue;
		g_autofree gchar *what = g_strdup_printf ("cannot store key '%s'", description);
		set_errno_error (error, errsv, what);
		return FALSE;
	}
	if (keyctl_set_timeout (key, timeout_sec) < 0) {
		g_autofree gchar *what =
			g_strdup_printf ("cannot set the timeout of key '%s'", description);
		set_errno_error (error, errno, what);
		return FALSE;
	}
	return TRUE;
}

static key_serial_t
find_key (DaKeyring *self, const gchar *description, GError **error)
{
	/* a non-recursive lookup: only our own keyring */
	key_serial_t key = keyctl_search (self->id, "user", description, 0);

	if (key < 0) {
		int errsv = errno;

		if (retry_with_possession (self, &errsv))
			return find_key (self, description, error);
		g_autofree gchar *what = g_strdup_printf ("no key '%s'", description);
		set_errno_error (error, errsv, what);
	}
	return key;
}

DaSecret *
da_keyring_load (DaKeyring *self, const gchar *description, GError **error)
{
	key_serial_t key = find_key (self, description, error);
	void *buf = NULL;
	long len;
	DaSecret *secret;

	if (key < 0)
		return NULL;
	len = keyctl_read_alloc (key, &buf);
	if (len < 0) {
		g_autofree gchar *what = g_strdup_printf ("cannot read key '%s'", description);
		set_errno_error (error, errno, what);
		return NULL;
	}
	secret = da_secret_new_len (buf, (gsize) len);
	da_secret_wipe (buf, (gsize) len);
	free (buf);
	return secret;
}

gboolean
da_keyring_remove (DaKeyring *self, const gchar *description, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	key_serial_t key = find_key (self, description, &error_local);

	if (key < 0) {
		if (g_error_matches (error_local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
			return TRUE;
		g_propagate_error (error, g_steal_pointer (&error_local));
		return FALSE;
	}
	/* invalidation also wipes the payload at once */
	if (keyctl_invalidate (key) < 0 && keyctl_unlink (key, self->id) < 0) {
		g_autofree gchar *what = g_strdup_printf ("cannot remove key '%s'", description);
		set_errno_error (error, errno, what);
		return FALSE;
	}
	return TRUE;
}

gboolean
da_keyring_clear (DaKeyring *self, GError **error)
{
	if (keyctl_clear (self->id) < 0) {
		int errsv = errno;

		if (retry_with_possession (self, &errsv) && keyctl_clear (self->id) == 0)
			return TRUE;
		set_errno_error (error, errsv, "cannot clear the keyring");
		return FALSE;
	}
	return TRUE;
}

void
da_keyring_free (DaKeyring *self)
{
	if (self == NULL)
		return;
	g_free (self->name);
	g_free (self);
}
