/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An account's [Access]: whether a caller's uid, groups, system unit,
 * Flatpak or Snap is one that AllowUsers=, AllowGroups=, AllowUnits=,
 * AllowFlatpaks= or AllowSnaps= names (users and groups by name or number,
 * looked up with NSS). */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "da-caller.h"

/* getpwnam_r()/getgrnam_r() buffers grow up to this */
#define DA_NSS_BUFFER_MAX (1024 * 1024)

static gboolean
is_digits (const gchar *s)
{
	if (*s == '\0')
		return FALSE;
	for (; *s != '\0'; s++) {
		if (!g_ascii_isdigit (*s))
			return FALSE;
	}
	return TRUE;
}

static gboolean
parse_id (const gchar *s, guint32 *out)
{
	guint64 v = 0;

	if (!is_digits (s))
		return FALSE;
	/* (uid_t) -1 is "no id" */
	if (!g_ascii_string_to_unsigned (s, 10, 0, G_MAXUINT32 - 1, &v, NULL))
		return FALSE;
	*out = (guint32) v;
	return TRUE;
}

static gboolean
lookup_user (const gchar *name, guint32 *uid)
{
	gsize size = 1024;

	while (size <= DA_NSS_BUFFER_MAX) {
		g_autofree gchar *buf = g_malloc (size);
		struct passwd pw;
		struct passwd *result = NULL;
		int r = getpwnam_r (name, &pw, buf, size, &result);

		if (r == ERANGE) {
			size *= 2;
			continue;
		}
		if (r != 0 || result == NULL)
			return FALSE;
		*uid = (guint32) pw.pw_uid;
		return TRUE;
	}
	return FALSE;
}

static gboolean
lookup_group (const gchar *name, guint32 *gid)
{
	gsize size = 1024;

	while (size <= DA_NSS_BUFFER_MAX) {
		g_autofree gchar *buf = g_malloc (size);
		struct group gr;
		struct group *result = NULL;
		int r = getgrnam_r (name, &gr, buf, size, &result);

		if (r == ERANGE) {
			size *= 2;
			continue;
		}
		if (r != 0 || result == NULL)
			return FALSE;
		*gid = (guint32) gr.gr_gid;
		return TRUE;
	}
	return FALSE;
}

static gboolean
user_entry_matches (const gchar *entry, guint32 uid)
{
	guint32 want;

	if (!parse_id (entry, &want) && !lookup_user (entry, &want))
		return FALSE;
	return want == uid;
}

static gboolean
caller_has_gid (const DaCaller *caller, guint32 gid)
{
	if (caller->gids == NULL)
		return FALSE;
	for (guint i = 0; i < caller->gids->len; i++) {
		if (g_array_index (caller->gids, guint32, i) == gid)
			return TRUE;
	}
	return FALSE;
}

static gboolean
group_entry_matches (const gchar *entry, const DaCaller *caller)
{
	guint32 want;

	if (!parse_id (entry, &want) && !lookup_group (entry, &want))
		return FALSE;
	return caller_has_gid (caller, want);
}

static const gchar *
first_user_match (const DaCaller *caller, gchar *const *users)
{
	for (gsize i = 0; users != NULL && users[i] != NULL; i++) {
		if (user_entry_matches (users[i], caller->uid))
			return users[i];
	}
	return NULL;
}

static const gchar *
first_group_match (const DaCaller *caller, gchar *const *groups)
{
	for (gsize i = 0; groups != NULL && groups[i] != NULL; i++) {
		if (group_entry_matches (groups[i], caller))
			return groups[i];
	}
	return NULL;
}

static const gchar *
first_name_match (const gchar *name, gchar *const *names)
{
	if (name == NULL || names == NULL)
		return NULL;
	for (gsize i = 0; names[i] != NULL; i++) {
		if (g_strcmp0 (names[i], name) == 0)
			return names[i];
	}
	return NULL;
}

static void
log_allowed (const DaCaller *caller,
	     const DaAccountConfig *config,
	     const gchar *rule,
	     const gchar *value)
{
	g_autofree gchar *who = NULL;

	if (!g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN)) {
		who = da_caller_describe (caller);
		g_debug ("%s may use account %s: %s=%s", who, config->name, rule, value);
	}
}

/* The account's [Access] section; root is always allowed. A caller it does
 * not allow may still be allowed by polkit. */
gboolean
da_caller_is_allowed_by_config (const DaCaller *caller, const DaAccountConfig *config)
{
	const gchar *hit;

	g_return_val_if_fail (caller != NULL, FALSE);
	g_return_val_if_fail (config != NULL, FALSE);

	if (caller->uid == 0) {
		log_allowed (caller, config, "uid", "0");
		return TRUE;
	}
	if ((hit = first_user_match (caller, config->allow_users)) != NULL) {
		log_allowed (caller, config, "AllowUsers", hit);
		return TRUE;
	}
	if ((hit = first_group_match (caller, config->allow_groups)) != NULL) {
		log_allowed (caller, config, "AllowGroups", hit);
		return TRUE;
	}
	if ((hit = first_name_match (caller->unit, config->allow_units)) != NULL) {
		log_allowed (caller, config, "AllowUnits", hit);
		return TRUE;
	}
	if ((hit = first_name_match (caller->flatpak_id, config->allow_flatpaks)) != NULL) {
		log_allowed (caller, config, "AllowFlatpaks", hit);
		return TRUE;
	}
	if ((hit = first_name_match (caller->snap_name, config->allow_snaps)) != NULL) {
		log_allowed (caller, config, "AllowSnaps", hit);
		return TRUE;
	}
	return FALSE;
}
