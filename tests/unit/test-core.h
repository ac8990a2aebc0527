/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "da-authorizer.h"
#include "da-manager.h"
#include "da-pipeline.h"

/* A daemon's core for unit tests: a configuration in a temporary directory
 * with two signed-out accounts whose IdP (127.0.0.1:1) nobody listens on,
 * "acme" (the default, [Access] AllowUsers=4242) and "other", and
 * TokenRequestsPerSecond=5 (bursts of 10); the manager made from it. */
typedef struct {
	gchar *dir;
	DaManager *manager;
} TestCore;

TestCore *
test_core_new (void);
void
test_core_free (TestCore *core);

/* An authorizer that lets the uids in allowed_uids through (every uid with
 * allow_all) and records each question as "uid action account interactive".
 * With hold, it answers only at test_authorizer_release (), as a polkit
 * that waits for the person would. */
#define TEST_TYPE_AUTHORIZER (test_authorizer_get_type ())
G_DECLARE_FINAL_TYPE (TestAuthorizer, test_authorizer, TEST, AUTHORIZER, GObject)

struct _TestAuthorizer {
	GObject parent_instance;
	GArray *allowed_uids; /* of guint32 */
	gboolean allow_all;
	GPtrArray *asked;
	gboolean hold;
	GPtrArray *held; /* of GTask, with its answer as task data */
};

/* answers every question held; returns how many */
guint
test_authorizer_release (TestAuthorizer *self);

/* The pipeline over a TestCore, with a TestAuthorizer that lets nobody
 * through until told. */
typedef struct {
	TestCore *core;
	TestAuthorizer *authorizer;
	DaPipeline *pipeline;
} TestPipeline;

void
test_pipeline_set_up (TestPipeline *t);
void
test_pipeline_tear_down (TestPipeline *t);
