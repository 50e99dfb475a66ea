/* Tests of core/crl_option.c: per-type parsing (uWSGI's value pitfalls),
 * lookups, registration conflicts, --help, --show-config round trip, the
 * uWSGI name universe and suggestions. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <corral/result.h>

#include "crl_option.h"
#include "helpers.h"

typedef struct {
    crl_list_t socket;
    long processes;
    int master;
    int vacuum;
    unsigned chmod;
    long buffer_size;
    char *chdir;
    char *password;
    long listen;
} test_conf_t;

static test_conf_t tc;

static const crl_option_t rows[] = {
    { .name = "socket", .aliases = "uwsgi-socket", .short_name = 's', .type = CRL_OPT_LIST,
      .offset = offsetof(test_conf_t, socket), .help = "bind a socket" },
    { .name = "processes", .aliases = "workers", .short_name = 'p', .type = CRL_OPT_INT,
      .offset = offsetof(test_conf_t, processes), .def = "1", .min = 1, .max = 4096,
      .help = "number of workers" },
    { .name = "master", .short_name = 'M', .type = CRL_OPT_BOOL,
      .offset = offsetof(test_conf_t, master), .help = "run a master" },
    { .name = "vacuum", .type = CRL_OPT_BOOL, .offset = offsetof(test_conf_t, vacuum),
      .def = "false", .help = "clean up on exit" },
    { .name = "chmod-socket", .aliases = "chmod", .short_name = 'C', .type = CRL_OPT_MODE,
      .flags = CRL_OPTF_OPTARG, .offset = offsetof(test_conf_t, chmod), .help = "socket mode" },
    { .name = "buffer-size", .short_name = 'b', .type = CRL_OPT_INT,
      .flags = CRL_OPTF_CLAMP, .offset = offsetof(test_conf_t, buffer_size), .def = "4096",
      .min = 1, .max = 65535, .help = "request header buffer" },
    { .name = "chdir", .type = CRL_OPT_STRING, .offset = offsetof(test_conf_t, chdir),
      .help = "directory" },
    { .name = "password", .type = CRL_OPT_STRING, .flags = CRL_OPTF_SENSITIVE,
      .offset = offsetof(test_conf_t, password), .help = "a secret" },
    { .name = "listen", .short_name = 'l', .type = CRL_OPT_INT,
      .offset = offsetof(test_conf_t, listen), .def = "1024", .help = "backlog" },
};

static void setup(void)
{
    capture_log();
    cr_assert_eq(crl_option_register("test", rows, sizeof(rows) / sizeof(rows[0]), &tc), CRL_OK);
}

TestSuite(option, .init = setup);

static int set(const char *name, const char *value)
{
    void *c;
    const crl_option_t *o = crl_option_find(name, &c);
    cr_assert(o != NULL, "no option %s", name);
    return crl_option_set(o, c, value, "app.ini", 4);
}

Test(option, defaults_applied_at_registration)
{
    cr_assert_eq(tc.processes, 1);
    cr_assert_eq(tc.buffer_size, 4096);
    cr_assert_eq(tc.listen, 1024);
    cr_assert_eq(tc.vacuum, 0);
    cr_assert_null(tc.chdir);
    cr_assert_eq(tc.socket.n, 0);
}

typedef struct {
    const char *value;
    int expect;
} bool_case_t;

static size_t option_bool_values_cases(bool_case_t **out)
{
    static bool_case_t cases[] = {
        { "true", 1 }, { "True", 1 }, { "1", 1 }, { "yes", 1 }, { "", 1 }, { "tue", 1 },
        { "*", 1 }, { "true;", 1 }, { "backurne-api.fqdn", 1 }, { "false", 0 },
        { "FALSE", 0 }, { "False", 0 }, { "off", 0 }, { "Off", 0 }, { "no", 0 }, { "NO", 0 },
        { "0", 0 }, { "00", 1 }, { "false # comment", 1 },
    };
    *out = cases;
    return sizeof(cases) / sizeof(cases[0]);
}

static void option_bool_values_one(bool_case_t *c)
{
    tc.master = -1;
    cr_assert_eq(set("master", c->value), CRL_OK);
    cr_assert_eq(tc.master, c->expect, "'%s' gave %d", c->value, tc.master);
}

Test(option, bool_values)
{
    bool_case_t *cases;
    size_t n = option_bool_values_cases(&cases);
    for (size_t i = 0; i < n; i++)
        option_bool_values_one(&cases[i]);
}

typedef struct {
    const char *name;
    const char *value;
    int rc;
    long expect;
    const char *log; /* expected log text, or NULL for a silent parse */
} int_case_t;

static size_t option_int_values_cases(int_case_t **out)
{
    static int_case_t cases[] = {
        { "processes", "4", CRL_OK, 4, NULL },
        { "processes", " 8 ", CRL_OK, 8, NULL },
        { "processes", "128 ; Maximum number of workers", CRL_OK, 128, NULL },
        { "processes", "4 # four workers", CRL_OK, 4, NULL },
        { "processes", "4#x", CRL_OK, 4, NULL },
        { "processes", "4 workers", CRL_OK, 4,
          "warning: option 'processes' at app.ini:4 ignores the text after the number in "
          "'4 workers'" },
        { "processes", "four", CRL_ERROR, 1,
          "error: option 'processes' at app.ini:4 expects a number, got 'four'" },
        { "processes", "", CRL_ERROR, 1, "expects a number, got ''" },
        { "processes", "true", CRL_ERROR, 1, "expects a number, got 'true'" },
        { "processes", "0", CRL_ERROR, 1, "option 'processes' at app.ini:4 must be at least 1" },
        { "processes", "-3", CRL_ERROR, 1, "must be at least 1, got '-3'" },
        { "processes", "5000", CRL_ERROR, 1, "must be at most 4096, got '5000'" },
        { "processes", "99999999999999999999999", CRL_ERROR, 1, "out of range" },
        { "buffer-size", "65535", CRL_OK, 65535, NULL },
        { "buffer-size", "65536", CRL_OK, 65535, NULL },
        { "buffer-size", "32768", CRL_OK, 32768, NULL },
        { "listen", "-5", CRL_OK, -5, NULL },
        { "listen", "+7", CRL_OK, 7, NULL },
    };
    *out = cases;
    return sizeof(cases) / sizeof(cases[0]);
}

static void option_int_values_one(int_case_t *c)
{
    void *conf;
    const crl_option_t *o = crl_option_find(c->name, &conf);
    long *field = (long *)((char *)conf + o->offset);
    long before = *field;
    clear_log();

    cr_assert_eq(set(c->name, c->value), c->rc, "'%s'", c->value);
    cr_assert_eq(*field, c->rc == CRL_OK ? c->expect : before, "'%s' gave %ld", c->value,
                 *field);
    if (c->log)
        assert_logged(c->log);
    else
        cr_assert_str_empty(logged(), "'%s' logged: %s", c->value, logged());
}

Test(option, int_values)
{
    int_case_t *cases;
    size_t n = option_int_values_cases(&cases);
    for (size_t i = 0; i < n; i++)
        option_int_values_one(&cases[i]);
}

typedef struct {
    const char *value;
    int rc;
    unsigned expect;
} mode_case_t;

static size_t option_mode_values_cases(mode_case_t **out)
{
    static mode_case_t cases[] = {
        { "660", CRL_OK, 0660 }, { "666", CRL_OK, 0666 }, { "777", CRL_OK, 0777 },
        { "600", CRL_OK, 0600 }, { "", CRL_OK, 0666 },    { "1", CRL_OK, 0666 },
        { "0666", CRL_ERROR, 0 }, { "664 # comment", CRL_ERROR, 0 }, { "888", CRL_ERROR, 0 },
        { "66", CRL_ERROR, 0 },   { "rw-rw-rw-", CRL_ERROR, 0 }, { " 660", CRL_ERROR, 0 },
    };
    *out = cases;
    return sizeof(cases) / sizeof(cases[0]);
}

static void option_mode_values_one(mode_case_t *c)
{
    tc.chmod = 0;
    cr_assert_eq(set("chmod-socket", c->value), c->rc, "'%s'", c->value);
    cr_assert_eq(tc.chmod, c->expect, "'%s' gave %o", c->value, tc.chmod);
    if (c->rc != CRL_OK) {
        char msg[128];
        snprintf(msg, sizeof(msg),
                 "option 'chmod-socket' at app.ini:4 expects three octal digits like 660, got "
                 "'%s'",
                 c->value);
        assert_logged(msg);
    }
}

Test(option, mode_values)
{
    mode_case_t *cases;
    size_t n = option_mode_values_cases(&cases);
    for (size_t i = 0; i < n; i++)
        option_mode_values_one(&cases[i]);
}

Test(option, string_replaced_and_list_accumulates)
{
    cr_assert_eq(set("chdir", "/srv/a"), CRL_OK);
    cr_assert_eq(set("chdir", "/srv/b ; not a comment"), CRL_OK);
    cr_assert_str_eq(tc.chdir, "/srv/b ; not a comment");

    cr_assert_eq(set("socket", "/run/a.sock"), CRL_OK);
    cr_assert_eq(set("uwsgi-socket", ":3031"), CRL_OK);
    cr_assert_eq(tc.socket.n, 2);
    cr_assert_str_eq(tc.socket.items[0].value, "/run/a.sock");
    cr_assert_str_eq(tc.socket.items[1].value, ":3031");
    cr_assert_str_eq(tc.socket.items[1].file, "app.ini");
    cr_assert_eq(tc.socket.items[1].line, 4);
}

Test(option, location_of_command_line_and_environment)
{
    void *c;
    const crl_option_t *o = crl_option_find("processes", &c);
    cr_assert_eq(crl_option_set(o, c, "x", "command line", 0), CRL_ERROR);
    assert_logged("option 'processes' at command line expects a number, got 'x'");
    cr_assert_eq(crl_option_set(o, c, "y", "environment UWSGI_PROCESSES", 0), CRL_ERROR);
    assert_logged("option 'processes' at environment UWSGI_PROCESSES expects a number, got 'y'");
}

Test(option, lookups_by_name_alias_short_prefix)
{
    void *c = NULL;
    cr_assert_eq(crl_option_find("workers", &c), &rows[1]);
    cr_assert_eq(c, &tc);
    cr_assert_eq(crl_option_find("uwsgi-socket", NULL), &rows[0]);
    cr_assert_eq(crl_option_find("chmod", NULL), &rows[4]);
    cr_assert_null(crl_option_find("work", NULL));
    cr_assert_null(crl_option_find("socket-", NULL));
    cr_assert_eq(crl_option_find_short('p', NULL), &rows[1]);
    cr_assert_eq(crl_option_find_short('M', NULL), &rows[2]);
    cr_assert_null(crl_option_find_short('q', NULL));
    cr_assert_null(crl_option_find_short(0, NULL));

    int amb;
    cr_assert_eq(crl_option_find_prefix("process", &amb), &rows[1]);
    cr_assert_eq(amb, 0);
    cr_assert_eq(crl_option_find_prefix("work", &amb), &rows[1]);
    cr_assert_eq(crl_option_find_prefix("buf", &amb), &rows[5]);
    cr_assert_null(crl_option_find_prefix("c", &amb)); /* chmod-socket, chdir */
    cr_assert_eq(amb, 1);
    cr_assert_null(crl_option_find_prefix("zzz", &amb));
    cr_assert_eq(amb, 0);
}

Test(option, duplicate_names_are_refused)
{
    static int other;
    static const crl_option_t dup_name[] = {
        { .name = "master", .type = CRL_OPT_BOOL, .offset = 0, .help = "again" },
    };
    static const crl_option_t dup_alias[] = {
        { .name = "foo", .aliases = "bar workers", .type = CRL_OPT_BOOL, .help = "x" },
    };
    static const crl_option_t dup_short[] = {
        { .name = "foo2", .short_name = 'p', .type = CRL_OPT_BOOL, .help = "x" },
    };
    static const crl_option_t name_is_alias[] = {
        { .name = "chmod", .type = CRL_OPT_BOOL, .help = "x" },
    };
    cr_assert_eq(crl_option_register("dup", dup_name, 1, &other), CRL_ERROR);
    cr_assert_eq(crl_option_register("dup", dup_alias, 1, &other), CRL_ERROR);
    cr_assert_eq(crl_option_register("dup", dup_short, 1, &other), CRL_ERROR);
    cr_assert_eq(crl_option_register("dup", name_is_alias, 1, &other), CRL_ERROR);
    assert_logged("option 'master' (or its short flag) is registered twice");
    assert_logged("alias 'workers' of option 'foo' is registered twice");
    cr_assert_null(crl_option_find("foo", NULL));
}

static char *capture(void (*fn)(FILE *, int), int all)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fn(f, all);
    fclose(f);
    return buf;
}

static void help_adapter(FILE *f, int all)
{
    crl_option_print_help(f);
}

Test(option, help_lists_every_option_with_details)
{
    char *h = capture(help_adapter, 0);
    cr_assert(strstr(h, "test options:") != NULL, "%s", h);
    cr_assert(strstr(h, "-p, --processes") != NULL, "%s", h);
    cr_assert(strstr(h, "number of workers (number, default 1; also workers)") != NULL, "%s", h);
    cr_assert(strstr(h, "-s, --socket") != NULL, "%s", h);
    cr_assert(strstr(h, "(list, repeatable; also uwsgi-socket)") != NULL, "%s", h);
    cr_assert(strstr(h, "    --vacuum") != NULL, "%s", h);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "--%s ", rows[i].name);
        cr_assert(strstr(h, needle) != NULL, "help lacks %s", rows[i].name);
    }
    free(h);
}

Test(option, show_config_prints_only_changes_and_masks_secrets)
{
    char *c = capture(crl_option_print_config, 0);
    cr_assert_str_eq(c, "[uwsgi]\n");
    free(c);

    set("processes", "4");
    set("socket", ":3031");
    set("socket", "/run/b.sock");
    set("master", "true");
    set("chmod-socket", "660");
    set("password", "hunter2");
    c = capture(crl_option_print_config, 0);
    cr_assert_str_eq(c, "[uwsgi]\n; test\n"
                        "socket = :3031\n"
                        "socket = /run/b.sock\n"
                        "processes = 4\n"
                        "master = true\n"
                        "chmod-socket = 660\n"
                        "password = ********\n");
    free(c);
}

/* Every option's printed value parses back to the same value: print all,
 * feed each line to crl_option_set, print again. */
Test(option, show_config_round_trip)
{
    set("processes", "12");
    set("socket", "127.0.0.1:8000");
    set("vacuum", "yes");
    set("chmod-socket", "");
    set("buffer-size", "65536");
    set("chdir", "/srv/app with spaces");
    set("listen", "-1");
    char *first = capture(crl_option_print_config, 1);

    crl_list_t saved = tc.socket;
    tc.socket = (crl_list_t){ 0 };
    tc.processes = tc.buffer_size = tc.listen = 0;
    tc.master = tc.vacuum = 7;
    tc.chmod = 0;
    char *line, *save = NULL, *copy = strdup(first);
    for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strstr(line, " = ");
        if (line[0] == '[' || line[0] == ';' || !eq)
            continue;
        *eq = '\0';
        if (strcmp(line, "password") == 0)
            continue; /* masked on purpose */
        cr_assert_eq(set(line, eq + 3), CRL_OK, "%s = %s does not parse back", line, eq + 3);
    }
    char *second = capture(crl_option_print_config, 1);
    cr_assert_str_eq(second, first);
    cr_assert_eq(tc.socket.n, saved.n);
    for (size_t i = 0; i < saved.n; i++)
        free(saved.items[i].value);
    free(saved.items);
    free(first);
    free(second);
    free(copy);
}

Test(option, uwsgi_universe)
{
    const char *known[] = { "harakiri", "processes", "module", "wsgi-file", "http",
                            "https", "gevent", "carbon-root", "zeus", "else",
                            "py-call-osafterfork", "static-map", "chmod-socket", "ini" };
    const char *unknown[] = { "vaccum", "chmod-sock", "enabled-threads", "py-callos-afterfork",
                              "Haharakiri", "", "project_name", "wsgi_file" };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        cr_assert(crl_option_is_uwsgi_name(known[i]), "%s should be a uWSGI name", known[i]);
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
        cr_assert(!crl_option_is_uwsgi_name(unknown[i]), "%s is no uWSGI name", unknown[i]);
}

typedef struct {
    const char *typo;
    const char *expect; /* NULL: no suggestion */
} suggest_case_t;

static size_t option_suggestions_cases(suggest_case_t **out)
{
    static suggest_case_t cases[] = {
        { "vaccum", "vacuum" },
        { "chmod-sock", "chmod-socket" },
        { "enabled-threads", "enable-threads" },
        { "proceses", "processes" },
        { "harakri", "harakiri" },
        { "Haharakiri", "harakiri" },
        { "py-callos-afterfork", "py-call-osafterfork" },
        { "master-", "master" },
        { "project_name", NULL },
        { "my-custom-thing", NULL },
        { "base", NULL },
        { "xyz", NULL },
    };
    *out = cases;
    return sizeof(cases) / sizeof(cases[0]);
}

static void option_suggestions_one(suggest_case_t *c)
{
    const char *s = crl_option_suggest(c->typo);
    if (c->expect)
        cr_assert(s && strcmp(s, c->expect) == 0, "%s -> %s, wanted %s", c->typo,
                  s ? s : "(none)", c->expect);
    else
        cr_assert_null(s, "%s -> %s, wanted none", c->typo, s);
}

Test(option, suggestions)
{
    suggest_case_t *cases;
    size_t n = option_suggestions_cases(&cases);
    for (size_t i = 0; i < n; i++)
        option_suggestions_one(&cases[i]);
}
