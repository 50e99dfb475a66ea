/* Tests of core/crl_config.c and core/crl_plugin.c: the command line, the
 * UWSGI_* environment, config files read through (fake) loader plugins,
 * magic variables, logic blocks, the three expansion passes, unknown-option
 * handling with its exact messages, strict, plugins and the actions. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <corral/result.h>

#include "crl_config.h"
#include "crl_option.h"
#include "crl_plugin.h"
#include "helpers.h"

#include "core_table.h"

static char *no_env[] = { NULL };

static void setup(void)
{
    capture_log();
    make_tmp_dir();
    crl_plugin_add_dir(FAKE_PLUGIN_DIR);
    cr_assert_eq(crl_option_register("core", core_rows, sizeof(core_rows) / sizeof(core_rows[0]),
                                     &core),
                 CRL_OK);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    if (tmp_dir[0] && system(cmd) != 0)
        cr_log_warn("cannot remove %s", tmp_dir);
}

TestSuite(config, .init = setup, .fini = teardown);
TestSuite(plugin, .init = setup, .fini = teardown);

static crl_config_action_t action;

/* Run crl_config_load on "corral" + the NULL-terminated args. */
static int load_env(char **envp, const char *const *args)
{
    char *argv[64] = { "corral" };
    int argc = 1;
    while (args && args[argc - 1] && argc < 63) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    argv[argc] = NULL;
    return crl_config_load(argc, argv, envp, &action);
}

#define LOAD(...) load_env(no_env, (const char *const[]){ __VA_ARGS__, NULL })
#define LOAD_ENV(envp, ...) load_env(envp, (const char *const[]){ __VA_ARGS__, NULL })

/* ---- the command line ---- */

typedef struct {
    const char *args[8];
    long processes;
    int master;
    size_t nsockets;
    unsigned chmod;
} cli_case_t;

static size_t config_command_line_forms_cases(cli_case_t **out)
{
    static cli_case_t cases[] = {
        { { "--processes", "4" }, 4, 0, 0, 0 },
        { { "--processes=4" }, 4, 0, 0, 0 },
        { { "--workers", "3" }, 3, 0, 0, 0 },
        { { "--process", "8" }, 8, 0, 0, 0 },       /* getopt_long prefix */
        { { "-p", "4" }, 4, 0, 0, 0 },
        { { "-p4" }, 4, 0, 0, 0 },
        { { "-M" }, 1, 1, 0, 0 },
        { { "-Mp", "2" }, 2, 1, 0, 0 },
        { { "-Mp2" }, 2, 1, 0, 0 },
        { { "--master" }, 1, 1, 0, 0 },
        { { "--master=false" }, 1, 0, 0, 0 },
        { { "--master", "--processes", "2" }, 2, 1, 0, 0 }, /* a flag takes no value */
        { { "--processes", "2", "--processes", "5" }, 5, 0, 0, 0 },
        { { "--socket", "/run/a.sock", "-s", ":3031", "--uwsgi-socket=:3032" }, 1, 0, 3, 0 },
        { { "--chmod-socket" }, 1, 0, 0, 0666 },
        { { "--chmod-socket=660" }, 1, 0, 0, 0660 },
        { { "--chmod-socket", "660" }, 1, 0, 0, 0660 },
        { { "-C" }, 1, 0, 0, 0666 },
        { { "-C", "660" }, 1, 0, 0, 0660 },
        { { "-C664" }, 1, 0, 0, 0664 },
        { { "--chmod-socket", "--master" }, 1, 1, 0, 0666 },
        { { "--processes", "-3" }, 1, 0, 0, 0 }, /* error, checked below */
    };
    *out = cases;
    return sizeof(cases) / sizeof(cases[0]);
}

static void config_command_line_forms_one(cli_case_t *c)
{
    /* Each case starts from the defaults. */
    core.processes = 1;
    core.master = 0;
    core.socket.n = 0;
    core.chmod = 0;
    clear_log();
    int rc = load_env(no_env, c->args);
    if (c->args[1] && strcmp(c->args[1], "-3") == 0) {
        cr_assert_eq(rc, CRL_ERROR);
        assert_logged("option 'processes' at command line must be at least 1, got '-3'");
        return;
    }
    cr_assert_eq(rc, CRL_OK, "log: %s", logged());
    cr_assert_eq(action, CRL_CONFIG_RUN);
    cr_assert_eq(core.processes, c->processes);
    cr_assert_eq(core.master, c->master);
    cr_assert_eq(core.socket.n, c->nsockets);
    cr_assert_eq(core.chmod, c->chmod, "chmod %o", core.chmod);
    cr_assert_str_empty(logged(), "unexpected log: %s", logged());
}

Test(config, command_line_forms)
{
    cli_case_t *cases;
    size_t n = config_command_line_forms_cases(&cases);
    for (size_t i = 0; i < n; i++)
        config_command_line_forms_one(&cases[i]);
}

Test(config, command_line_unknown_option_is_an_error_with_suggestion)
{
    cr_assert_eq(LOAD("--vaccum"), CRL_ERROR);
    assert_logged("error: unknown option '--vaccum' on the command line; did you mean '--vacuum'?");
}

Test(config, command_line_unknown_short_flag_is_an_error)
{
    cr_assert_eq(LOAD("-q"), CRL_ERROR);
    assert_logged("error: unknown option '-q' on the command line");
}

Test(config, command_line_uwsgi_option_not_implemented_is_a_warning)
{
    cr_assert_eq(LOAD("--harakiri", "30", "--processes", "2", "--lazy"), CRL_OK, "%s", logged());
    assert_logged("warning: option 'harakiri' at command line is not implemented by Corral yet; "
                  "ignored");
    assert_logged("warning: option 'lazy' at command line is not implemented by Corral yet");
    cr_assert_eq(core.processes, 2); /* "30" was harakiri's value, not a positional */
    cr_assert_str_eq(crl_config_get("harakiri"), "30");
}

Test(config, command_line_missing_value)
{
    cr_assert_eq(LOAD("--processes"), CRL_ERROR);
    assert_logged("error: option '--processes' on the command line needs a value");
}

Test(config, command_line_ambiguous_prefix)
{
    cr_assert_eq(LOAD("--p", "3"), CRL_ERROR);
    assert_logged("option '--p' on the command line is ambiguous");
}

Test(config, command_line_positional_python_file)
{
    cr_assert_eq(LOAD("app.py"), CRL_OK);
    cr_assert_str_eq(crl_config_get("wsgi-file"), "app.py");
}

Test(config, command_line_xml_and_json_are_refused)
{
    cr_assert_eq(LOAD("app.xml"), CRL_ERROR);
    assert_logged("Corral does not read XML config files (app.xml); convert it to ini");
    cr_assert_eq(LOAD("--json", "app.json"), CRL_ERROR);
    assert_logged("Corral does not read JSON files");
}

Test(config, command_line_stray_argument)
{
    cr_assert_eq(LOAD("4"), CRL_ERROR);
    assert_logged("unexpected argument '4' on the command line");
}

/* ---- UWSGI_* environment ---- */

Test(config, environment_comes_before_the_command_line)
{
    char *env[] = { "UWSGI_PROCESSES=3", "UWSGI_MASTER=1", "UWSGI_HTTP_SOCKET=:8000",
                    "PATH=/bin", "UWSGI_RELOADS=2", NULL };
    cr_assert_eq(LOAD_ENV(env, "--processes", "5"), CRL_OK, "%s", logged());
    cr_assert_eq(core.processes, 5);
    cr_assert_eq(core.master, 1);
    cr_assert_eq(core.http_socket.n, 1);
    cr_assert_str_eq(core.http_socket.items[0].value, ":8000");
    cr_assert_str_eq(core.http_socket.items[0].file, "environment UWSGI_HTTP_SOCKET");
    cr_assert_str_empty(logged(), "%s", logged());
}

Test(config, environment_errors_name_the_variable)
{
    char *env[] = { "UWSGI_PROCESSES=four", NULL };
    cr_assert_eq(load_env(env, NULL), CRL_ERROR);
    assert_logged("option 'processes' at environment UWSGI_PROCESSES expects a number, got 'four'");
}

/* ---- config files ---- */

Test(config, ini_file_by_option_and_positional)
{
    char *ini = write_file("app.ini", "[uwsgi]\nprocesses = 4\nmaster\nsocket = :3031\n"
                                      "socket = /run/b.sock\n\n[other]\nprocesses = 9\n");
    cr_assert_eq(LOAD("--ini", ini), CRL_OK, "%s", logged());
    cr_assert_eq(core.processes, 4);
    cr_assert_eq(core.master, 1);
    cr_assert_eq(core.socket.n, 2);
    cr_assert_str_eq(core.socket.items[1].file, ini);
    cr_assert_eq(core.socket.items[1].line, 5);
}

Test(config, positional_ini_with_section_and_command_line_order)
{
    char *ini = write_file("app.ini", "[uwsgi]\nprocesses = 4\n[prod]\nprocesses = 9\n");
    char spec[256];
    snprintf(spec, sizeof(spec), "%s:prod", ini);
    cr_assert_eq(LOAD("--processes", "2", spec), CRL_OK, "%s", logged());
    cr_assert_eq(core.processes, 9);
    cr_assert_eq(LOAD(ini, "--processes", "3"), CRL_OK);
    cr_assert_eq(core.processes, 3);
}

Test(config, yaml_by_option_short_flag_and_extension)
{
    char *y = write_file("app.yml", "uwsgi:\n  processes: 6\n  master: true\n");
    cr_assert_eq(LOAD("-y", y), CRL_OK, "%s", logged());
    cr_assert_eq(core.processes, 6);
    char *y2 = write_file("b.yaml", "uwsgi:\n  processes: 7\n");
    cr_assert_eq(LOAD("--yml", y2), CRL_OK, "%s", logged());
    cr_assert_eq(core.processes, 7);
    char *y3 = write_file("c.yaml", "uwsgi:\n  processes: 8\n");
    cr_assert_eq(LOAD(y3), CRL_OK, "%s", logged());
    cr_assert_eq(core.processes, 8);
}

Test(config, missing_file_and_missing_section)
{
    cr_assert_eq(LOAD("--ini", "/nonexistent/app.ini"), CRL_ERROR);
    assert_logged("error: cannot read config file '/nonexistent/app.ini': No such file or directory");

    char *ini = write_file("app.ini", "[base]\nprocesses = 4\n");
    cr_assert_eq(LOAD(ini), CRL_ERROR);
    char msg[256];
    snprintf(msg, sizeof(msg), "error: %s has no [uwsgi] section", ini);
    assert_logged(msg);
}

Test(config, include_errors_name_the_including_line)
{
    char *ini = write_file("app.ini", "[uwsgi]\nmaster = 1\nini = /nonexistent/x.ini\n");
    cr_assert_eq(LOAD(ini), CRL_ERROR);
    char msg[256];
    snprintf(msg, sizeof(msg), "cannot read config file '/nonexistent/x.ini' included at %s:3",
             ini);
    assert_logged(msg);
}

Test(config, include_cycle_is_an_error)
{
    char *ini = write_file("loop.ini", "[uwsgi]\nini = %p\n");
    cr_assert_eq(LOAD(ini), CRL_ERROR);
    assert_logged("includes nest deeper than 16 (a cycle?)");
}

Test(config, include_same_file_section_and_relative_dir)
{
    write_file("global.ini", "[uwsgi]\nvacuum = true\nprocesses = 3\n");
    char *ini = write_file("app.ini", "[uwsgi]\nini = :base\nprocesses = 5\n"
                                      "ini = %dglobal.ini\n"
                                      "[base]\nmaster = true\nprocesses = 2\n");
    cr_assert_eq(LOAD(ini), CRL_OK, "%s", logged());
    cr_assert_eq(core.master, 1);
    cr_assert_eq(core.vacuum, 1);
    cr_assert_eq(core.processes, 3);
}

Test(config, include_by_extension)
{
    char *y = write_file("extra.yaml", "uwsgi:\n  vacuum: 1\n");
    char body[256];
    snprintf(body, sizeof(body), "[uwsgi]\ninclude = %s\n", y);
    char *ini = write_file("app.ini", body);
    cr_assert_eq(LOAD(ini), CRL_OK, "%s", logged());
    cr_assert_eq(core.vacuum, 1);
}

/* ---- unknown keys ---- */

Test(config, unknown_uwsgi_and_custom_keys)
{
    char *ini = write_file("app.ini", "[uwsgi]\n"
                                      "base = /srv\n"
                                      "chdir = %(base)/app\n"
                                      "vaccum = true\n"
                                      "harakiri = 60\n"
                                      "my_private_note = hello\n"
                                      "chmod-sock = 660\n");
    cr_assert_eq(LOAD(ini), CRL_OK, "%s", logged());
    cr_assert_str_eq(core.chdir, "/srv/app");
    char msg[512];
    snprintf(msg, sizeof(msg),
             "warning: unknown option 'vaccum' at %s:4 ignored; did you mean 'vacuum'?\n", ini);
    assert_logged(msg);
    snprintf(msg, sizeof(msg),
             "warning: option 'harakiri' at %s:5 is not implemented by Corral yet; ignored\n",
             ini);
    assert_logged(msg);
    snprintf(msg, sizeof(msg), "warning: unknown option 'my_private_note' at %s:6 ignored\n",
             ini);
    assert_logged(msg);
    snprintf(msg, sizeof(msg),
             "unknown option 'chmod-sock' at %s:7 ignored; did you mean 'chmod-socket'?", ini);
    assert_logged(msg);
    assert_not_logged("'base'");
}

Test(config, strict_turns_warnings_into_errors)
{
    char *ini = write_file("app.ini", "[uwsgi]\nprocesses = 2\nvaccum = true\nstrict = true\n");
    cr_assert_eq(LOAD(ini), CRL_ERROR);
    assert_logged("error: unknown option 'vaccum' at");
    cr_assert_eq(core.processes, 2);

    char *ok = write_file("ok.ini", "[uwsgi]\nstrict\nbase = /x\nset-placeholder = p=/y\n"
                                    "chdir = %(base)%(p)\n");
    cr_assert_eq(LOAD(ok), CRL_OK, "%s", logged());
    cr_assert_str_eq(core.chdir, "/x/y");
}

Test(config, strict_false_keeps_warnings)
{
    char *ini = write_file("app.ini", "[uwsgi]\nstrict = false\nvaccum = true\n");
    cr_assert_eq(LOAD(ini), CRL_OK);
    assert_logged("warning: unknown option 'vaccum'");
}

Test(config, noop_and_deprecated_options)
{
    cr_assert_eq(LOAD("--die-on-term", "--logto", "/tmp/x.log"), CRL_OK);
    assert_not_logged("die-on-term");
    assert_logged("note: option 'logto' at command line is deprecated: use logger instead");
    cr_assert_str_eq(core.logto, "/tmp/x.log");
}

/* ---- plugins ---- */

Test(config, autoload_plugin_for_its_option)
{
    char *ini = write_file("app.ini", "[uwsgi]\nfake-module = mysite.wsgi\nfake-threads = 4\n");
    cr_assert_eq(LOAD(ini), CRL_OK, "%s", logged());
    const crl_plugin_t *app = crl_plugin_app();
    cr_assert_not_null(app);
    cr_assert_str_eq(app->name, "app");
    void *c;
    const crl_option_t *o = crl_option_find("fake-module", &c);
    cr_assert_str_eq(*(char **)((char *)c + o->offset), "mysite.wsgi");
    o = crl_option_find("fake-threads", &c);
    cr_assert_eq(*(long *)((char *)c + o->offset), 4);
}

Test(config, autoload_from_the_command_line_long_and_short)
{
    cr_assert_eq(LOAD("-W", "mysite.wsgi", "-I"), CRL_OK, "%s", logged());
    cr_assert_str_eq(crl_config_get("fake-module"), "mysite.wsgi");
}

Test(config, plugins_line)
{
    char *ini = write_file("app.ini", "[uwsgi]\nplugins = python3, gevent http\n"
                                      "plugin = /usr/lib/uwsgi/logfile_plugin.so\n"
                                      "plugins = fakeapp3\n");
    cr_assert_eq(LOAD(ini), CRL_OK, "%s", logged());
    char msg[512];
    snprintf(msg, sizeof(msg), "warning: plugin 'gevent' at %s:2 is not available in Corral; "
                               "ignored", ini);
    assert_logged(msg);
    assert_logged("plugin 'python3' at");
    assert_logged("plugin '/usr/lib/uwsgi/logfile_plugin.so' at");
    assert_not_logged("plugin 'http'");
    cr_assert_not_null(crl_plugin_app());
}

Test(config, need_plugin_missing_is_an_error)
{
    char *ini = write_file("app.ini", "[uwsgi]\nneed-plugin = gevent\n");
    cr_assert_eq(LOAD(ini), CRL_ERROR);
    assert_logged("plugin 'gevent' needed at");
}

Test(plugin, wrong_abi_is_a_clear_error)
{
    crl_plugin_add_dir(BAD_PLUGIN_DIR);
    cr_assert_eq(crl_plugin_load("badabi"), CRL_ERROR);
    char msg[128];
    snprintf(msg, sizeof(msg), "was built for plugin ABI %d but this corral needs ABI %d; "
             "rebuild it", CRL_PLUGIN_ABI + 98, CRL_PLUGIN_ABI);
    assert_logged(msg);
    cr_assert_eq(crl_plugin_count(), 0);
}

Test(plugin, load_by_name_alias_and_path)
{
    cr_assert_eq(crl_plugin_load(FAKE_PLUGIN_DIR "/corral_app.so"), CRL_OK);
    cr_assert_eq(crl_plugin_count(), 1);
    cr_assert_eq(crl_plugin_load("fakeapp"), CRL_OK);
    cr_assert_eq(crl_plugin_load("app"), CRL_OK);
    cr_assert_eq(crl_plugin_count(), 1);
    cr_assert_not_null(crl_plugin_loader_for_path("/x/y.ini"));
    cr_assert_eq(crl_plugin_count(), 2);
    cr_assert_str_eq(crl_plugin_loader_for_option("yml")->name, "yaml");
    cr_assert_eq(crl_plugin_count(), 3);
    cr_assert_null(crl_plugin_loader_for_path("/x/y.toml"));
    cr_assert_str_eq(crl_plugin_at(0)->name, "app");
    cr_assert_str_eq(crl_plugin_at(1)->name, "ini");
    cr_assert_null(crl_plugin_at(3));
    /* An unknown name is looked for among the aliases of what is on disk. */
    cr_assert_eq(crl_plugin_load("nope"), CRL_DECLINED);
    cr_assert_eq(crl_plugin_load("/usr/lib/uwsgi/python3_plugin.so"), CRL_DECLINED);
    cr_assert_eq(crl_plugin_load("http"), CRL_OK);
}

/* ---- actions ---- */

Test(config, version)
{
    cr_redirect_stdout();
    cr_assert_eq(LOAD("--version"), CRL_OK);
    cr_assert_eq(action, CRL_CONFIG_EXIT);
    fflush(stdout);
    cr_assert_stdout_eq_str("corral " CRL_VERSION "\n");
}

Test(config, check_config_ok_and_failing)
{
    cr_redirect_stdout();
    cr_assert_eq(LOAD("--check-config", "--processes", "2"), CRL_OK);
    cr_assert_eq(action, CRL_CONFIG_EXIT);
    fflush(stdout);
    cr_assert_stdout_eq_str("configuration OK\n");
}

Test(config, check_config_with_errors_fails)
{
    cr_assert_eq(LOAD("--check-config", "--processes", "x"), CRL_ERROR);
}

Test(config, show_config_prints_the_resolved_configuration)
{
    cr_redirect_stdout();
    char *ini = write_file("app.ini", "[uwsgi]\nbase = /srv\nchdir = %(base)\nprocesses = 4\n");
    cr_assert_eq(LOAD("--show-config", ini), CRL_OK, "%s", logged());
    cr_assert_eq(action, CRL_CONFIG_EXIT);
    fflush(stdout);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, cr_get_redirected_stdout());
    buf[n] = '\0';
    cr_assert_str_eq(buf, "[uwsgi]\n; core\nprocesses = 4\nchdir = /srv\n");
}

Test(config, help_lists_plugin_options_too)
{
    cr_redirect_stdout();
    cr_assert_eq(LOAD("-h"), CRL_OK);
    cr_assert_eq(action, CRL_CONFIG_EXIT);
    fflush(stdout);
    FILE *f = cr_get_redirected_stdout();
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    cr_assert(strstr(buf, "config options:") != NULL);
    cr_assert(strstr(buf, "core options:") != NULL);
    cr_assert(strstr(buf, "app options:") != NULL, "%s", buf);
    cr_assert(strstr(buf, "-W, --fake-module") != NULL);
}

/* ---- logic blocks ---- */

static const char *env_of(const char *key)
{
    for (size_t i = 0; i < core.env.n; i++)
        if (strncmp(core.env.items[i].value, key, strlen(key)) == 0)
            return core.env.items[i].value;
    return NULL;
}

Test(config, if_env_and_if_not_env)
{
    setenv("CRL_TEST_SET", "yes", 1);
    unsetenv("CRL_TEST_UNSET");
    char *ini = write_file("app.ini", "[uwsgi]\n"
                                      "if-env = CRL_TEST_SET\n"
                                      "env = A=%(_)\n"
                                      "endif =\n"
                                      "if-env = CRL_TEST_UNSET\n"
                                      "env = B=1\n"
                                      "endif\n"
                                      "ifenv = CRL_TEST_SET=yes\n"
                                      "env = C=1\n"
                                      "end-if =\n"
                                      "if-env = CRL_TEST_SET=no\n"
                                      "env = D=1\n"
                                      "end\n"
                                      "if-not-env = CRL_TEST_UNSET\n"
                                      "env = E=1\n"
                                      "endif\n"
                                      "if-not-env = CRL_TEST_SET\n"
                                      "env = F=1\n"
                                      "endif\n"
                                      "env = G=after\n");
    cr_assert_eq(LOAD(ini), CRL_OK, "%s", logged());
    cr_assert_str_eq(env_of("A="), "A=yes");
    cr_assert_null(env_of("B="));
    cr_assert_not_null(env_of("C="));
    cr_assert_null(env_of("D="));
    cr_assert_not_null(env_of("E="));
    cr_assert_null(env_of("F="));
    cr_assert_not_null(env_of("G="));
    cr_assert_str_empty(logged(), "%s", logged());
}

Test(config, if_paths_and_else)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "[uwsgi]\n"
             "if-exists = %s\nenv = A=%%(_)\nendif\n"
             "if-not-exists = %s/nope\nenv = B=1\nendif\n"
             "if-file = %s\nenv = C=1\nendif\n"
             "if-dir = %s\nenv = D=1\nendif\n"
             "if-not-file = %s\nenv = E=1\nendif\n"
             "if-not-dir = %s\nenv = F=1\nendif\n"
             "if-dir = %s/nope\nenv = G=1\nelse\nenv = H=1\nendif\n"
             "if-dir = %s\nenv = I=1\nelse =\nenv = J=1\nendif\n",
             tmp_dir, tmp_dir, tmp_dir, tmp_dir, tmp_dir, tmp_dir, tmp_dir, tmp_dir);
    char *ini = write_file("app.ini", body);
    cr_assert_eq(LOAD(ini), CRL_OK, "%s", logged());
    char a[128];
    snprintf(a, sizeof(a), "A=%s", tmp_dir);
    cr_assert_str_eq(env_of("A="), a);
    cr_assert_not_null(env_of("B="));
    cr_assert_null(env_of("C=")); /* a directory is not a file */
    cr_assert_not_null(env_of("D="));
    cr_assert_not_null(env_of("E="));
    cr_assert_null(env_of("F="));
    cr_assert_null(env_of("G="));
    cr_assert_not_null(env_of("H="));
    cr_assert_not_null(env_of("I="));
    cr_assert_null(env_of("J="));
}

Test(config, if_opt_and_if_not_opt)
{
    char *ini = write_file("app.ini", "[uwsgi]\n"
                                      "processes = 4\n"
                                      "if-opt = processes\nenv = A=%(_)\nendif\n"
                                      "if-opt = processes=4\nenv = B=1\nendif\n"
                                      "if-opt = processes=5\nenv = C=1\nendif\n"
                                      "if-not-opt = master\nenv = D=1\nendif\n"
                                      "if-not-opt = processes\nenv = E=1\nendif\n");
    cr_assert_eq(LOAD("--master", "--ini", ini), CRL_OK, "%s", logged());
    cr_assert_str_eq(env_of("A="), "A=4");
    cr_assert_not_null(env_of("B="));
    cr_assert_null(env_of("C="));
    cr_assert_null(env_of("D="));
    cr_assert_null(env_of("E="));
}

Test(config, for_loops)
{
    write_file("dotenv", "X=1\nY=two words\n\nZ=3\n");
    write_file("a.conf", "");
    write_file("b.conf", "");
    char body[1024];
    snprintf(body, sizeof(body),
             "[uwsgi]\n"
             "for = :8001 :8002  :8003\nsocket = %%(_)\nendfor\n"
             "for-readline = %s/dotenv\nenv = %%(_)\nendfor =\n"
             "for-glob = %s/*.conf\nenv = GLOB=%%(_)\nend-for\n"
             "for-times = 3\nenv = N%%(_)=%%(_)\nendfor\n"
             "env = AFTER=1\n",
             tmp_dir, tmp_dir);
    char *ini = write_file("app.ini", body);
    cr_assert_eq(LOAD(ini), CRL_OK, "%s", logged());
    cr_assert_eq(core.socket.n, 3);
    cr_assert_str_eq(core.socket.items[2].value, ":8003");
    cr_assert_eq(core.env.n, 3 + 2 + 3 + 1, "env has %zu items", core.env.n);
    cr_assert_str_eq(core.env.items[1].value, "Y=two words");
    char g[128];
    snprintf(g, sizeof(g), "GLOB=%s/b.conf", tmp_dir);
    cr_assert_str_eq(core.env.items[4].value, g);
    cr_assert_str_eq(core.env.items[7].value, "N3=3");
    cr_assert_str_eq(core.env.items[8].value, "AFTER=1");
}

Test(config, for_readline_missing_file_is_an_error)
{
    char *ini = write_file("app.ini", "[uwsgi]\nfor-readline = /nonexistent/.env\nenv = %(_)\n"
                                      "endfor\n");
    cr_assert_eq(LOAD(ini), CRL_ERROR);
    assert_logged("option 'for-readline' at");
    assert_logged("cannot read '/nonexistent/.env'");
}

Test(config, logic_inside_a_block_replaces_the_block)
{
    char *ini = write_file("app.ini", "[uwsgi]\nfor = a b c\nif-env = HOME\nenv = X=%(_)\n"
                                      "endif\n");
    cr_assert_eq(LOAD(ini), CRL_OK, "%s", logged());
    cr_assert_eq(core.env.n, 1);
}

/* ---- expansion passes ---- */

Test(config, env_substitution_and_unset_warning)
{
    setenv("CRL_TEST_PORT", "8123", 1);
    unsetenv("CRL_TEST_NOPE");
    char *ini = write_file("app.ini", "[uwsgi]\nhttp-socket = :$(CRL_TEST_PORT)\n"
                                      "processes = $(CRL_TEST_NOPE:-3)\n"
                                      "chdir = /srv/$(CRL_TEST_NOPE)\n");
    cr_assert_eq(LOAD(ini), CRL_OK, "%s", logged());
    cr_assert_str_eq(core.http_socket.items[0].value, ":8123");
    cr_assert_eq(core.processes, 3);
    cr_assert_str_eq(core.chdir, "/srv/$(CRL_TEST_NOPE)");
    char msg[512];
    snprintf(msg, sizeof(msg),
             "warning: option 'chdir' at %s:4 uses environment variable 'CRL_TEST_NOPE', which "
             "is not set; left as written",
             ini);
    assert_logged(msg);
}

Test(config, file_substitution)
{
    write_file("name", "node-7\n");
    char body[512];
    snprintf(body, sizeof(body), "[uwsgi]\nchdir = /srv/@(%s/name)\npidfile = @(exec://date)\n",
             tmp_dir);
    char *ini = write_file("app.ini", body);
    cr_assert_eq(LOAD(ini), CRL_ERROR);
    cr_assert_str_eq(core.chdir, "/srv/node-7");
    char msg[512];
    snprintf(msg, sizeof(msg),
             "error: option 'pidfile' at %s:3: @(exec://date): Corral never runs commands", ini);
    assert_logged(msg);
}

Test(config, placeholders_take_the_first_occurrence_and_do_math)
{
    char *ini = write_file("app.ini", "[uwsgi]\n"
                                      "base = /first\n"
                                      "base = /second\n"
                                      "chdir = %(base)/%(name)\n"
                                      "name = app\n"
                                      "processes = %(%k + 1)\n"
                                      "pidfile = %(processes)-%(missing)\n");
    cr_assert_eq(LOAD(ini), CRL_OK, "%s", logged());
    cr_assert_str_eq(core.chdir, "/first/app");
    long k = sysconf(_SC_NPROCESSORS_ONLN);
    cr_assert_eq(core.processes, k + 1);
    char pid[64];
    snprintf(pid, sizeof(pid), "%ld-%%(missing)", k + 1);
    cr_assert_str_eq(core.pidfile, pid);
    cr_assert_str_eq(crl_config_get("base"), "/first");
    assert_not_logged("unknown option 'base'");
    assert_not_logged("unknown option 'name'");
}

Test(config, placeholder_from_the_command_line_and_set)
{
    char *ini = write_file("app.ini", "[uwsgi]\nchdir = %(root)/x\n");
    cr_assert_eq(LOAD("--set-ph", "root=/r", "-S", "processes=3", "--set", "other=1", ini),
                 CRL_OK, "%s", logged());
    cr_assert_str_eq(core.chdir, "/r/x");
    cr_assert_eq(core.processes, 3);
    assert_not_logged("other");
    cr_assert_eq(LOAD("--set", "novalue"), CRL_ERROR);
    assert_logged("option 'set' at command line expects name=value, got 'novalue'");
}

Test(config, magic_variables_in_files_only)
{
    char *ini = write_file("site.ini", "[uwsgi]\nchdir = %d|%n|%s|%e|%c|%x|%%|%Y|%o\n");
    cr_assert_eq(LOAD("--pidfile", "/run/%n.pid", ini), CRL_OK, "%s", logged());
    const char *dirname = strrchr(tmp_dir, '/') + 1;
    char expect[512];
    snprintf(expect, sizeof(expect), "%s/|site|site.ini|ini|%s|uwsgi|%%||%s", tmp_dir, dirname,
             ini);
    cr_assert_str_eq(core.chdir, expect);
    cr_assert_str_eq(core.pidfile, "/run/%n.pid");
}

Test(config, relative_include_is_relative_to_the_process_directory)
{
    mkdir(strcat(strcpy((char[128]){ 0 }, tmp_dir), "/conf"), 0755);
    write_file("conf/app.ini", "[uwsgi]\nini = conf/more.ini\n");
    write_file("conf/more.ini", "[uwsgi]\nprocesses = 6\n");
    cr_assert_eq(chdir(tmp_dir), 0);
    cr_assert_eq(LOAD("conf/app.ini"), CRL_OK, "%s", logged());
    cr_assert_eq(core.processes, 6);
}

Test(config, print_shows_the_expanded_value)
{
    cr_redirect_stdout();
    char *ini = write_file("app.ini", "[uwsgi]\nbase = /srv\nprint = base is %(base)\n");
    cr_assert_eq(LOAD(ini), CRL_OK, "%s", logged());
    fflush(stdout);
    cr_assert_stdout_eq_str("base is /srv\n");
}

static void collect(void *ctx, const char *key, const char *value)
{
    FILE *f = ctx;
    fprintf(f, "%s=%s;", key, value);
}

Test(config, foreach_lists_every_record_in_order)
{
    char *ini = write_file("app.ini", "[uwsgi]\nprocesses = 2\nmy-key = v\n");
    cr_assert_eq(LOAD("--master", ini), CRL_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    crl_config_foreach(collect, f);
    fclose(f);
    cr_assert_str_eq(buf, "master=;processes=2;my-key=v;");
    free(buf);
}

Test(config, uppercase_magic_refers_to_the_first_file)
{
    write_file("inner.ini", "[uwsgi]\npidfile = %o|%O|%n|%N\n");
    char *outer = write_file("outer.ini", "[uwsgi]\nini = %dinner.ini\n");
    cr_assert_eq(LOAD(outer), CRL_OK, "%s", logged());
    char expect[512];
    snprintf(expect, sizeof(expect), "%s/inner.ini|%s|inner|outer", tmp_dir, outer);
    cr_assert_str_eq(core.pidfile, expect);
}

Test(config, uwsgi_ini_in_the_environment_loads_the_file)
{
    char *ini = write_file("env.ini", "[uwsgi]\nprocesses = 7\n");
    char var[300];
    snprintf(var, sizeof(var), "UWSGI_INI=%s", ini);
    char *env[] = { var, NULL };
    cr_assert_eq(load_env(env, NULL), CRL_OK, "%s", logged());
    cr_assert_eq(core.processes, 7);
}

Test(config, strict_makes_unimplemented_options_errors_too)
{
    cr_assert_eq(LOAD("--strict", "--harakiri", "5"), CRL_ERROR);
    assert_logged("error: option 'harakiri' at command line is not implemented by Corral yet; "
                  "ignored (strict)");
}
