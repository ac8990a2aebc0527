/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The request that the IdP refused. */
typedef enum {
	DA_HINT_DEVICE_REQUEST,	    /* RFC 8628 3.1 */
	DA_HINT_DEVICE_POLL,	    /* RFC 8628 3.4 */
	DA_HINT_REFRESH,	    /* RFC 6749 6 */
	DA_HINT_CLIENT_CREDENTIALS, /* RFC 6749 4.4 */
	DA_HINT_ANY,		    /* in the table: a hint for every request */
} DaHintRequest;

typedef struct {
	const gchar *client_id;
	gboolean has_secret;
	gboolean pkce;
	gboolean certificate; /* tls_client_auth */
} DaHintClient;

gchar *
da_hint_for_refusal (DaHintRequest request, const gchar *message, const DaHintClient *client);

G_END_DECLS
