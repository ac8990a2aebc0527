/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* A Varlink call as it came on the socket, read without a connection:
 * the front's parsers, pure functions (tests/fuzz/fuzz-varlink.c). */

/* a Varlink call is two levels deep; json-glib recurses once per level */
#define DA_VARLINK_JSON_DEPTH_MAX 16
/* bytes of a caller's input that an error may echo back */
#define DA_VARLINK_ECHO_MAX 256

typedef enum {
	DA_VARLINK_REQUEST_OK,
	/* not a Varlink call: InvalidArgument, and the connection is closed */
	DA_VARLINK_REQUEST_NOT_A_CALL,
	/* "parameters" is not an object: InvalidParameter "parameters" */
	DA_VARLINK_REQUEST_BAD_PARAMETERS,
} DaVarlinkRequestResult;

typedef struct {
	JsonParser *parser; /* owns what follows */
	const gchar *method;
	JsonObject *params; /* NULL when the call has none */
	gboolean oneway;
	gboolean upgrade;
} DaVarlinkRequest;

/* One request, @len bytes without its NUL. With NOT_A_CALL, *@problem says
 * why, for a message: "the request …" or NULL for one that is not a JSON
 * object with a "method" string. */
DaVarlinkRequestResult
da_varlink_request_parse (const gchar *data,
			  gsize len,
			  DaVarlinkRequest *request,
			  const gchar **problem);
void
da_varlink_request_clear (DaVarlinkRequest *request);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DaVarlinkRequest, da_varlink_request_clear)

/* GetToken's parameters. FALSE with *@bad the name of a parameter of the
 * wrong name or type (InvalidParameter), or with @error for one out of
 * range (the bus front's InvalidArgument). @account points into @params. */
gboolean
da_varlink_parse_get_token (JsonObject *params,
			    const gchar **account,
			    guint *min_validity,
			    const gchar **bad,
			    GError **error);

/* A caller's own words for an error reply: valid UTF-8, cut to at most
 * DA_VARLINK_ECHO_MAX bytes on a character boundary. */
gchar *
da_varlink_echo (const gchar *value);

G_END_DECLS
