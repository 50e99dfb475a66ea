/* The config reader with the real loader plugins (plugins/ini, plugins/yaml
 * built into build/plugins): real-world uwsgi.ini and yaml shapes from
 * UWSGI-OPTIONS.md, end to end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <corral/result.h>

#include "core_table.h"
#include "crl_config.h"
#include "crl_option.h"
#include "crl_plugin.h"
#include "helpers.h"

static char *no_env[] = { NULL };
static crl_config_action_t action;

static void setup(void)
{
    capture_log();
    make_tmp_dir();
    crl_plugin_add_dir(REAL_PLUGIN_DIR);
    cr_assert_eq(crl_option_register("core", core_rows, sizeof(core_rows) / sizeof(core_rows[0]),
                                     &core),
                 CRL_OK);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0)
        cr_log_warn("cannot remove %s", tmp_dir);
}

TestSuite(real, .init = setup, .fini = teardown);

static int load(const char *a, const char *b, const char *c)
{
    char *argv[] = { "corral", (char *)a, (char *)b, (char *)c, NULL };
    int argc = 1 + (a != NULL) + (b != NULL) + (c != NULL);
    return crl_config_load(argc, argv, no_env, &action);
}

Test(real, production_template_with_inline_comments)
{
    char *ini = write_file("uwsgi.ini",
                           "; production template\n"
                           "[uwsgi]\n"
                           "project = mysite\n"
                           "base = /srv/%(project)\n"
                           "chdir = %(base)\n"
                           "master = true\n"
                           "processes = 128 ; Maximum number of workers allowed\n"
                           "socket = %d%n.sock\n"
                           "chmod-socket = 660\n"
                           "vacuum\n"
                           "buffer-size = 65536\n"
                           "harakiri = 60 ; kill stuck requests\n"
                           "die-on-term = true\n"
                           "\n"
                           "[app:main]\n"
                           "use = egg:mysite\n");
    cr_assert_eq(load("--ini", ini, NULL), CRL_OK, "%s", logged());
    cr_assert_str_eq(core.chdir, "/srv/mysite");
    cr_assert_eq(core.master, 1);
    cr_assert_eq(core.processes, 128);
    char sock[256];
    snprintf(sock, sizeof(sock), "%s/uwsgi.sock", tmp_dir);
    cr_assert_str_eq(core.socket.items[0].value, sock);
    cr_assert_eq(core.chmod, 0660);
    cr_assert_eq(core.vacuum, 1);
    cr_assert_eq(core.buffer_size, 65535);
    char msg[512];
    snprintf(msg, sizeof(msg),
             "warning: option 'harakiri' at %s:12 is not implemented by Corral yet; ignored", ini);
    assert_logged(msg);
    assert_not_logged("project");
}

Test(real, sections_and_same_file_include)
{
    char *ini = write_file("app.ini", "[base]\nmaster = true\nprocesses = 2\n"
                                      "[uwsgi]\nini = :base\nprocesses = 4\n"
                                      "[uwsgi-production]\nini = :uwsgi\nprocesses = 16\n");
    cr_assert_eq(load(ini, NULL, NULL), CRL_OK, "%s", logged());
    cr_assert_eq(core.processes, 4);
    cr_assert_eq(core.master, 1);

    char spec[300];
    snprintf(spec, sizeof(spec), "%s:uwsgi-production", ini);
    cr_assert_eq(load("--ini", spec, NULL), CRL_OK, "%s", logged());
    cr_assert_eq(core.processes, 16);

    snprintf(spec, sizeof(spec), "%s:nope", ini);
    cr_assert_eq(load("--ini", spec, NULL), CRL_ERROR);
    char msg[300];
    snprintf(msg, sizeof(msg), "error: %s has no [nope] section", ini);
    assert_logged(msg);
}

Test(real, yaml_with_duplicate_keys_and_env)
{
    setenv("CRL_REAL_PORT", "9000", 1);
    char *y = write_file("app.yaml", "uwsgi:\n"
                                     "  master: true\n"
                                     "  processes: 3\n"
                                     "  http-socket: :$(CRL_REAL_PORT)\n"
                                     "  env: A=1\n"
                                     "  env: B=2\n"
                                     "  vaccum: true\n");
    cr_assert_eq(load(y, NULL, NULL), CRL_OK, "%s", logged());
    cr_assert_eq(core.processes, 3);
    cr_assert_str_eq(core.http_socket.items[0].value, ":9000");
    cr_assert_eq(core.env.n, 2);
    char msg[300];
    snprintf(msg, sizeof(msg), "unknown option 'vaccum' at %s:7 ignored; did you mean 'vacuum'?",
             y);
    assert_logged(msg);
}

Test(real, logic_and_for_readline_dotenv)
{
    write_file(".env", "DJANGO_SETTINGS_MODULE=mysite.settings\nDEBUG=0\n");
    setenv("VIRTUAL_ENV", "/opt/venv", 1);
    char *ini = write_file("app.ini", "[uwsgi]\n"
                                      "for-readline = %d.env\n"
                                      "env = %(_)\n"
                                      "endfor =\n"
                                      "if-env = VIRTUAL_ENV\n"
                                      "pidfile = %(_)/run.pid\n"
                                      "endif =\n");
    cr_assert_eq(load(ini, NULL, NULL), CRL_OK, "%s", logged());
    cr_assert_eq(core.env.n, 2);
    cr_assert_str_eq(core.env.items[0].value, "DJANGO_SETTINGS_MODULE=mysite.settings");
    cr_assert_str_eq(core.pidfile, "/opt/venv/run.pid");
}

Test(real, bad_chmod_socket_names_file_and_line)
{
    char *ini = write_file("app.ini", "[uwsgi]\nchmod-socket = 0666\n");
    cr_assert_eq(load(ini, NULL, NULL), CRL_ERROR);
    char msg[300];
    snprintf(msg, sizeof(msg),
             "error: option 'chmod-socket' at %s:2 expects three octal digits like 660, got "
             "'0666'",
             ini);
    assert_logged(msg);
}
