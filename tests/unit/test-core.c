/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>

#include "da-error.h"
#include "test-core.h"

static const gchar *const files[] = {"accounts.d/acme.conf", "accounts.d/other.conf",
				     "devauthd.conf"};

static void
write_file (const gchar *dir, const gchar *name, const gchar *text)
{
	g_autofree gchar *path = g_build_filename (dir, name, NULL);
	g_autoptr(GError) error = NULL;

	g_file_set_contents (path, text, -1, &error);
	g_assert_no_error (error);
}

TestCore *
test_core_new (void)
{
	TestCore *core = g_new0 (TestCore, 1);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *accounts = NULL;
	g_autofree gchar *state = NULL;
	DaConfig *config;

	core->dir = g_dir_make_tmp ("devauthd-unit-XXXXXX", &error);
	g_assert_no_error (error);
	accounts = g_build_filename (core->dir, "accounts.d", NULL);
	state = g_build_filename (core->dir, "state", NULL);
	g_assert_cmpint (g_mkdir (accounts, 0700), ==, 0);
	write_file (core->dir, files[2],
		    "[Daemon]\nKeyringName=devauthd-unit-core\nDefaultAccount=acme\n"
		    "TokenRequestsPerSecond=5\n");
	write_file (core->dir, files[0],
		    "[Account]\nIssuer=http://127.0.0.1:1\nClientId=tv\n"
		    "[Access]\nAllowUsers=4242\n");
	write_file (core->dir, files[1], "[Account]\nIssuer=http://127.0.0.1:1\nClientId=tv\n");
	config = da_config_load (core->dir, &error);
	g_assert_no_error (error);
	g_assert_cmpuint (config->accounts->len, ==, 2);
	core->manager = da_manager_new (config, state);
	return core;
}

void
test_core_free (TestCore *core)
{
	g_autofree gchar *state = g_build_filename (core->dir, "state", NULL);
	g_autofree gchar *accounts = g_build_filename (core->dir, "accounts.d", NULL);

	g_clear_object (&core->manager);
	for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
		g_autofree gchar *path = g_build_filename (core->dir, files[i], NULL);
		g_unlink (path);
	}
	g_rmdir (accounts);
	g_rmdir (state);
	g_rmdir (core->dir);
	g_free (core->dir);
	g_free (core);
}

/* ---- an authorizer that answers from a list and records each question ---- */

static void
test_authorizer_iface_init (DaAuthorizerInterface *iface);

G_DEFINE_TYPE_WITH_CODE (TestAuthorizer,
			 test_authorizer,
			 G_TYPE_OBJECT,
			 G_IMPLEMENT_INTERFACE (DA_TYPE_AUTHORIZER, test_authorizer_iface_init))

static void
test_authorizer_check_async (DaAuthorizer *authorizer,
			     const DaCaller *caller,
			     const gchar *action_id,
			     const gchar *account,
			     gboolean allow_interaction,
			     GCancellable *cancellable,
			     GAsyncReadyCallback callback,
			     gpointer user_data)
{
	TestAuthorizer *self = TEST_AUTHORIZER (authorizer);
	g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
	gboolean allowed = self->allow_all;

	g_ptr_array_add (self->asked,
			 g_strdup_printf ("%u %s %s %s", caller->uid, action_id, account,
					  allow_interaction ? "interactive" : "quiet"));
	for (guint i = 0; !allowed && i < self->allowed_uids->len; i++)
		allowed = g_array_index (self->allowed_uids, guint32, i) == caller->uid;
	if (self->hold) {
		g_task_set_task_data (task, GINT_TO_POINTER (allowed), NULL);
		g_ptr_array_add (self->held, g_steal_pointer (&task));
		return;
	}
	if (allowed)
		g_task_return_boolean (task, TRUE);
	else
		g_task_return_new_error (task, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
					 "not authorized");
}

guint
test_authorizer_release (TestAuthorizer *self)
{
	g_autoptr(GPtrArray) held = g_steal_pointer (&self->held);

	self->held = g_ptr_array_new_with_free_func (g_object_unref);
	for (guint i = 0; i < held->len; i++) {
		GTask *task = g_ptr_array_index (held, i);
		if (g_task_get_task_data (task) != NULL)
			g_task_return_boolean (task, TRUE);
		else
			g_task_return_new_error (task, DA_ERROR, DA_ERROR_PERMISSION_DENIED,
						 "not authorized");
	}
	return held->len;
}

static gboolean
test_authorizer_check_finish (DaAuthorizer *authorizer, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean (G_TASK (res), error);
}

static void
test_authorizer_iface_init (DaAuthorizerInterface *iface)
{
	iface->check_async = test_authorizer_check_async;
	iface->check_finish = test_authorizer_check_finish;
}

static void
test_authorizer_finalize (GObject *object)
{
	TestAuthorizer *self = TEST_AUTHORIZER (object);

	g_array_unref (self->allowed_uids);
	g_ptr_array_unref (self->asked);
	g_ptr_array_unref (self->held);
	G_OBJECT_CLASS (test_authorizer_parent_class)->finalize (object);
}

static void
test_authorizer_class_init (TestAuthorizerClass *klass)
{
	G_OBJECT_CLASS (klass)->finalize = test_authorizer_finalize;
}

static void
test_authorizer_init (TestAuthorizer *self)
{
	self->allowed_uids = g_array_new (FALSE, FALSE, sizeof (guint32));
	self->asked = g_ptr_array_new_with_free_func (g_free);
	self->held = g_ptr_array_new_with_free_func (g_object_unref);
}

void
test_pipeline_set_up (TestPipeline *t)
{
	t->core = test_core_new ();
	t->authorizer = g_object_new (TEST_TYPE_AUTHORIZER, NULL);
	t->pipeline = da_pipeline_new (t->core->manager, DA_AUTHORIZER (t->authorizer));
}

void
test_pipeline_tear_down (TestPipeline *t)
{
	g_clear_object (&t->pipeline);
	g_clear_object (&t->authorizer);
	g_clear_pointer (&t->core, test_core_free);
}
