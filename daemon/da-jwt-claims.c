/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An ID token's claims checked (OIDC Core 3.1.3.7): iss, aud, azp, exp,
 * iat, nbf; and the person's name from them. */
#define G_LOG_DOMAIN "devauthd"

#include "config.h"

#include <math.h>
#include <string.h>

#include "da-jwt-private.h"

/* ---- the claims ---- */

/* A NumericDate claim (seconds since 1970, maybe with a fraction), cut to
 * whole seconds; -1 with no error when absent. */
gint64
da_jwt_claim_time (JsonObject *claims, const gchar *name, GError **error)
{
	JsonNode *node = json_object_get_member (claims, name);
	gint64 value = -1;

	if (node == NULL)
		return -1;
	if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64) {
		value = json_node_get_int (node);
	} else if (JSON_NODE_HOLDS_VALUE (node) &&
		   json_node_get_value_type (node) == G_TYPE_DOUBLE) {
		gdouble d = json_node_get_double (node);
		if (isfinite (d) && d >= 0 && d <= (gdouble) DA_JWT_TIME_MAX)
			value = (gint64) d;
	}
	if (value < 0 || value > DA_JWT_TIME_MAX) {
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "\"%s\" claim of the ID token is not a time (seconds since 1970)",
			     name);
		return -2;
	}
	return value;
}

static gint64
required_claim_time (JsonObject *claims, const gchar *name, GError **error)
{
	gint64 value = da_jwt_claim_time (claims, name, error);

	if (value == -1)
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE, "ID token has no \"%s\" claim",
			     name);
	return value;
}

static gboolean
check_issuer (JsonObject *claims, const gchar *issuer, GError **error)
{
	const gchar *iss = da_jwt_member_string (claims, "iss");
	g_autofree gchar *shown = NULL;

	if (iss == NULL) {
		g_set_error_literal (error, DA_ERROR, DA_JWT_ERROR_CODE,
				     "ID token has no \"iss\" claim");
		return FALSE;
	}
	if (strcmp (iss, issuer) != 0) {
		shown = da_jwt_show (iss);
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token is from the issuer '%s', not '%s'", shown, issuer);
		return FALSE;
	}
	return TRUE;
}

/* aud is the client or a list with it; azp, needed with several
 * audiences, is the client */
static gboolean
check_audience (JsonObject *claims, const gchar *client_id, GError **error)
{
	JsonNode *aud = json_object_get_member (claims, "aud");
	JsonNode *azp_node = json_object_get_member (claims, "azp");
	const gchar *first = NULL;
	g_autofree gchar *shown = NULL;
	gboolean ours = FALSE;
	guint n_aud = 0;

	if (da_jwt_node_is_string (aud)) {
		first = json_node_get_string (aud);
		n_aud = 1;
		ours = strcmp (first, client_id) == 0;
	} else if (aud != NULL && JSON_NODE_HOLDS_ARRAY (aud)) {
		JsonArray *array = json_node_get_array (aud);
		n_aud = json_array_get_length (array);
		for (guint i = 0; i < n_aud; i++) {
			JsonNode *node = json_array_get_element (array, i);
			if (!da_jwt_node_is_string (node)) {
				g_set_error_literal (
					error, DA_ERROR, DA_JWT_ERROR_CODE,
					"\"aud\" claim of the ID token is not a string "
					"or an array of strings");
				return FALSE;
			}
			if (first == NULL)
				first = json_node_get_string (node);
		}
		ours = da_jwt_array_has_string (array, client_id);
	}
	if (first == NULL) {
		g_set_error_literal (error, DA_ERROR, DA_JWT_ERROR_CODE,
				     "ID token has no \"aud\" claim");
		return FALSE;
	}
	if (!ours) {
		shown = da_jwt_show (first);
		if (n_aud == 1)
			g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
				     "ID token is for audience '%s', not the client '%s'", shown,
				     client_id);
		else
			g_set_error (
				error, DA_ERROR, DA_JWT_ERROR_CODE,
				"ID token is for audience '%s' and %u more, not the client '%s'",
				shown, n_aud - 1, client_id);
		return FALSE;
	}
	if (azp_node != NULL && !da_jwt_node_is_string (azp_node)) {
		g_set_error_literal (error, DA_ERROR, DA_JWT_ERROR_CODE,
				     "\"azp\" claim of the ID token is not a string");
		return FALSE;
	}
	if (azp_node == NULL && n_aud > 1) {
		g_set_error (
			error, DA_ERROR, DA_JWT_ERROR_CODE,
			"ID token has %u audiences but no \"azp\" claim naming the client '%s'",
			n_aud, client_id);
		return FALSE;
	}
	if (azp_node != NULL && strcmp (json_node_get_string (azp_node), client_id) != 0) {
		shown = da_jwt_show (json_node_get_string (azp_node));
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token was issued to the client '%s' (azp), not '%s'", shown,
			     client_id);
		return FALSE;
	}
	return TRUE;
}

static gboolean
check_times (JsonObject *claims, gint64 now, guint leeway, gint64 *exp, gint64 *iat, GError **error)
{
	g_autofree gchar *now_str = da_jwt_format_time (now);
	g_autofree gchar *when = NULL;
	gint64 nbf;

	*exp = required_claim_time (claims, "exp", error);
	if (*exp < 0)
		return FALSE;
	*iat = required_claim_time (claims, "iat", error);
	if (*iat < 0)
		return FALSE;
	nbf = da_jwt_claim_time (claims, "nbf", error);
	if (nbf == -2)
		return FALSE;
	/* the claims are at most DA_JWT_TIME_MAX and leeway a guint: no overflow */
	if (now >= *exp + (gint64) leeway) {
		when = da_jwt_format_time (*exp);
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token expired at %s (now %s, leeway %u s)", when, now_str, leeway);
		return FALSE;
	}
	if (*iat - (gint64) leeway > now) {
		when = da_jwt_format_time (*iat);
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token was issued in the future, at %s (now %s, leeway %u s): "
			     "is this machine's clock or the IdP's wrong?",
			     when, now_str, leeway);
		return FALSE;
	}
	if (nbf >= 0 && nbf - (gint64) leeway > now) {
		when = da_jwt_format_time (nbf);
		g_set_error (error, DA_ERROR, DA_JWT_ERROR_CODE,
			     "ID token is not valid before %s (now %s, leeway %u s)", when, now_str,
			     leeway);
		return FALSE;
	}
	return TRUE;
}

/* an optional claim for display: a copy, or NULL when absent or unusable */
gchar *
da_jwt_display_claim (JsonObject *claims, const gchar *name)
{
	const gchar *value = da_jwt_member_string (claims, name);

	if (value == NULL || !da_jwt_text_is_printable (value, DA_JWT_CLAIM_MAX))
		return NULL;
	return g_strdup (value);
}

DaIdClaims *
da_jwt_check_claims (JsonObject *claims,
		     const gchar *issuer,
		     const gchar *client_id,
		     gint64 now,
		     guint leeway,
		     GError **error)
{
	g_autoptr(DaIdClaims) self = g_new0 (DaIdClaims, 1);
	const gchar *sub;

	if (!check_issuer (claims, issuer, error))
		return NULL;
	if (!check_audience (claims, client_id, error))
		return NULL;
	if (!check_times (claims, now, leeway, &self->exp, &self->iat, error))
		return NULL;
	sub = da_jwt_member_string (claims, "sub");
	if (sub == NULL || !da_jwt_text_is_printable (sub, DA_JWT_CLAIM_MAX)) {
		g_set_error (
			error, DA_ERROR, DA_JWT_ERROR_CODE,
			"ID token has no usable \"sub\" claim (a printable string of at most %u bytes)",
			(guint) DA_JWT_CLAIM_MAX);
		return NULL;
	}
	self->sub = g_strdup (sub);
	self->preferred_username = da_jwt_display_claim (claims, "preferred_username");
	self->name = da_jwt_display_claim (claims, "name");
	self->email = da_jwt_display_claim (claims, "email");
	return g_steal_pointer (&self);
}
