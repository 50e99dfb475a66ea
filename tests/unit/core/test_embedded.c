/* Tests of core/crl_plugin.c with a plugin built into the binary, as the
 * Python plugin is with CORRAL_PYTHON_STATIC: fake_app.c compiled here with
 * CRL_PLUGIN_EMBEDDED=app (embedded_app.c), listed in crl_embedded_plugins[] as the generated
 * table lists crl_builtin_plugin_python. The same plugin also exists on disk
 * (fakeplugins/corral_app.so); the built-in one must win every time, and
 * the file must never be loaded next to it. */
#include <dlfcn.h>
#include <stddef.h>

#include <criterion/criterion.h>

#include <corral/result.h>

#include "crl_option.h"
#include "crl_plugin.h"
#include "helpers.h"

extern const crl_plugin_t crl_builtin_plugin_app;
const crl_plugin_t *const crl_embedded_plugins[] = { &crl_builtin_plugin_app, NULL };

#define DISK_APP FAKE_PLUGIN_DIR "/corral_app.so"

static void setup(void)
{
    capture_log();
    crl_plugin_add_dir(FAKE_PLUGIN_DIR);
}

TestSuite(embedded, .init = setup);

/* Whether corral_app.so was dlopen()ed into this process. */
static int disk_copy_loaded(void)
{
    void *h = dlopen(DISK_APP, RTLD_NOW | RTLD_NOLOAD);
    if (h)
        dlclose(h);
    return h != NULL;
}

Test(embedded, listed)
{
    cr_assert_eq(crl_plugin_embedded_at(0), &crl_builtin_plugin_app);
    cr_assert_null(crl_plugin_embedded_at(1));
    cr_assert(crl_plugin_embedded("app"));
    cr_assert(crl_plugin_embedded("/usr/lib/uwsgi/plugins/app_plugin.so"));
    cr_assert_not(crl_plugin_embedded("yaml"));
    cr_assert_eq(crl_plugin_count(), 0, "listing loads nothing");
}

Test(embedded, by_name_before_the_disk)
{
    cr_assert_eq(crl_plugin_load("app"), CRL_OK);
    cr_assert_eq(crl_plugin_count(), 1);
    cr_assert_eq(crl_plugin_at(0), &crl_builtin_plugin_app);
    cr_assert_eq(crl_plugin_app(), &crl_builtin_plugin_app);
    cr_assert_not(disk_copy_loaded());
}

Test(embedded, by_path_to_the_file_of_the_same_plugin)
{
    cr_assert_eq(crl_plugin_load(DISK_APP), CRL_OK);
    cr_assert_eq(crl_plugin_count(), 1);
    cr_assert_eq(crl_plugin_at(0), &crl_builtin_plugin_app);
    cr_assert_not(disk_copy_loaded(), "the file was loaded next to the built-in plugin");
}

Test(embedded, autoload_for_an_option_finds_it_first)
{
    cr_assert_eq(crl_plugin_autoload_for_option("fake-module"), CRL_OK);
    cr_assert_eq(crl_plugin_at(0), &crl_builtin_plugin_app);
    cr_assert_not_null(crl_option_find("fake-module", NULL));
    cr_assert_not(disk_copy_loaded());
}

Test(embedded, once_only)
{
    cr_assert_eq(crl_plugin_load("app"), CRL_OK);
    cr_assert_eq(crl_plugin_load("fakeapp"), CRL_OK); /* an alias */
    cr_assert_eq(crl_plugin_load(DISK_APP), CRL_OK);
    cr_assert_eq(crl_plugin_count(), 1);
}

Test(embedded, other_plugins_still_come_from_disk)
{
    cr_assert_eq(crl_plugin_load("ini"), CRL_OK);
    cr_assert_eq(crl_plugin_count(), 1);
    cr_assert_str_eq(crl_plugin_at(0)->name, "ini");
}
