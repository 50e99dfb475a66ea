/*
 * Tests for the ini loader (plugins/ini/crl_ini.c): a table of raw files
 * and the records (key|value|line) or the error the loader must produce,
 * plus long lines, includes re-entering the loader through emit, and a
 * failing emit. Fixtures are written to a fresh temporary directory.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <corral/plugin.h>
#include <corral/result.h>

#define LOADER_NAME "ini"
#define LOADER_SUITE ini
#include "tests/unit/plugins/loader_harness.h"

static const loader_case_t cases[] = {
    { "basic", "[uwsgi]\nmaster = true\nprocesses=4\n", NULL, CRL_OK,
      "master|true|2\nprocesses|4|3\n", NULL },
    { "other sections and keys before any header are ignored",
      "top = 0\n[app:main]\nuse = egg:app\n[uwsgi]\nmodule = app.wsgi\n[loggers]\nkeys = root\n",
      NULL, CRL_OK, "module|app.wsgi|5\n", NULL },
    { "split at the first '=' only",
      "[uwsgi]\nenv = DJANGO_SETTINGS_MODULE=app.settings\nroute = ^/a=b$ goto:x\n", NULL, CRL_OK,
      "env|DJANGO_SETTINGS_MODULE=app.settings|2\nroute|^/a=b$ goto:x|3\n", NULL },
    { "never split at ':'",
      "[uwsgi]\nsocket = 127.0.0.1:8000\nhttp: 9090\nroute-host = ^a:b$ last:\n", NULL, CRL_OK,
      "socket|127.0.0.1:8000|2\nhttp: 9090||3\nroute-host|^a:b$ last:|4\n", NULL },
    { "keys and values trimmed", "[uwsgi]\n  chdir   =   /srv/app  \n\tuid\t=\twww-data\t\n", NULL,
      CRL_OK, "chdir|/srv/app|2\nuid|www-data|3\n", NULL },
    { "keys are case-sensitive", "[uwsgi]\nMaster = 1\nmaster = 2\n", NULL, CRL_OK,
      "Master|1|2\nmaster|2|3\n", NULL },
    { "quotes are literal",
      "[uwsgi]\nenable-threads = \"*\"\nvirtualenv = '%(_)'\nx = \"a = b\"\n", NULL, CRL_OK,
      "enable-threads|\"*\"|2\nvirtualenv|'%(_)'|3\nx|\"a = b\"|4\n", NULL },
    { "no escapes", "[uwsgi]\nlog-format = a\\tb \\; c\\\n", NULL, CRL_OK,
      "log-format|a\\tb \\; c\\|2\n", NULL },
    { "comment lines", "; top\n[uwsgi]\n; a = 1\n# b = 2\n   # c = 3\n\t; d\nkeep = 1\n", NULL,
      CRL_OK, "keep|1|7\n", NULL },
    { "inline comments",
      "[uwsgi]\nprocesses = 4 ; four\nharakiri = 60 # kill\nurl = http://x/a#b\nsep = a;b\n"
      "tab = v\t# c\nempty = ;x\nglued =;x\n",
      NULL, CRL_OK,
      "processes|4|2\nharakiri|60|3\nurl|http://x/a#b|4\nsep|a;b|5\ntab|v|6\nempty||7\n"
      "glued|;x|8\n",
      NULL },
    { "bare keys are flags", "[uwsgi]\nmaster\nvacuum ; clean up\n  strict\nempty =\n", NULL,
      CRL_OK, "master||2\nvacuum||3\nstrict||4\nempty||5\n", NULL },
    { "an indented line is not a continuation",
      "[uwsgi]\nsocket = /run/a.sock\n    processes = 2\n\tmaster\n", NULL, CRL_OK,
      "socket|/run/a.sock|2\nprocesses|2|3\nmaster||4\n", NULL },
    { "repeated keys", "[uwsgi]\nsocket = a\nsocket = b\nsocket = a\n", NULL, CRL_OK,
      "socket|a|2\nsocket|b|3\nsocket|a|4\n", NULL },
    { "UTF-8 BOM", "\xEF\xBB\xBF[uwsgi]\nmodule = app\n", NULL, CRL_OK, "module|app|2\n", NULL },
    { "BOM before a key line", "\xEF\xBB\xBF" "a = 1\n[uwsgi]\nb = 2\n", NULL, CRL_OK,
      "b|2|3\n", NULL },
    { "CRLF", "[uwsgi]\r\nmodule = app\r\nmaster\r\n\r\nx = 1 ; c\r\n", NULL, CRL_OK,
      "module|app|2\nmaster||3\nx|1|5\n", NULL },
    { "no final newline", "[uwsgi]\nmodule = app", NULL, CRL_OK, "module|app|2\n", NULL },
    { "UTF-8 text kept", "[uwsgi]\nmodule = app:app ;第一個\nname = café\n", NULL, CRL_OK,
      "module|app:app|2\nname|café|3\n", NULL },
    { "requested section", "[uwsgi]\na = 1\n[base]\nb = 2\n", "base", CRL_OK, "b|2|4\n", NULL },
    { "section with a colon", "[uwsgi]\na = 1\n[app:main]\nb = 2\n", "app:main", CRL_OK,
      "b|2|4\n", NULL },
    { "section header with a comment", "[uwsgi] ; main\na = 1\n[x] # other\nb = 2\n", NULL,
      CRL_OK, "a|1|2\n", NULL },
    { "section names are exact", "[UWSGI]\na = 1\n[ uwsgi ]\nb = 2\n[uwsgi]\nc = 3\n", NULL,
      CRL_OK, "c|3|6\n", NULL },
    { "empty section", "[uwsgi]\n; nothing\n", NULL, CRL_OK, "", NULL },
    { "section opened twice", "[uwsgi]\na = 1\n[x]\nb = 2\n[uwsgi]\nc = 3\n", NULL, CRL_OK,
      "a|1|2\nc|3|6\n", NULL },
    { "no such section", "[app:main]\nuse = egg:x\n", NULL, CRL_DECLINED, "",
      "no [uwsgi] section in FILE" },
    { "no such requested section", "[uwsgi]\na = 1\n", "prod", CRL_DECLINED, "",
      "no [prod] section in FILE" },
    { "empty file", "", NULL, CRL_DECLINED, "", "no [uwsgi] section in FILE" },
    { "unterminated section header", "[uwsgi]\na = 1\n[base\nb = 2\n", NULL, CRL_ERROR,
      "a|1|2\n", "FILE:3: unterminated section header (no ']')" },
    { "text after a section header", "[uwsgi] extra\na = 1\n", NULL, CRL_ERROR, "",
      "FILE:1: unexpected text after section header" },
    { "no key before '='", "[uwsgi]\na = 1\n  = 2\nb = 3\n", NULL, CRL_ERROR, "a|1|2\n",
      "FILE:3: no key before '='" },
    { "malformed line outside the section", "[x]\n[y\n[uwsgi]\na = 1\n", NULL, CRL_ERROR, "",
      "FILE:2: unterminated section header (no ']')" },
};

Test(ini, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i], strlen(cases[i].input));
}

Test(ini, nul_byte_ends_the_line)
{
    static const char input[] = "[uwsgi]\na = 1\0junk\nb = 2\n";
    loader_case_t t = { "NUL", input, NULL, CRL_OK, "a|1|2\nb|2|3\n", NULL };
    run_case(&t, sizeof(input) - 1);
}

/* A file whose line `lineno` is "key = <n x's>" after `before`. */
static void long_value_case(size_t n)
{
    char *value = malloc(n + 1);
    char *input = NULL, *want = NULL;
    cr_assert_not_null(value);
    memset(value, 'x', n);
    value[n] = '\0';
    /* Long lines everywhere: a comment, another section, the key itself,
     * a long key; line numbers after them must stay exact. */
    cr_assert(asprintf(&input,
                       "; %s\n[other]\nk = %s\n[uwsgi]\nlog-format = %s ; comment\n%s\n"
                       "%s = v\nafter = 1\n",
                       value, value, value, value, value) > 0);
    cr_assert(asprintf(&want, "log-format|%s|5\n%s||6\n%s|v|7\nafter|1|8\n", value, value,
                       value) > 0);
    loader_case_t t = { "long line", input, NULL, CRL_OK, want, NULL };
    run_case(&t, strlen(input));
    free(value);
    free(input);
    free(want);
}

Test(ini, lines_longer_than_inih_buffer)
{
    long_value_case(197);
    long_value_case(198);
    long_value_case(250);
    long_value_case(5000);
    long_value_case(70000);
}

Test(ini, long_section_name)
{
    char name[301];
    char *input = NULL;
    memset(name, 's', 300);
    name[300] = '\0';
    cr_assert(asprintf(&input, "[%s]\na = 1\n[%.50s]\nb = 2\n", name, name) > 0);
    loader_case_t t = { "long section", input, name, CRL_OK, "a|1|2\n", NULL };
    run_case(&t, strlen(input));
    free(input);
}

Test(ini, include_same_file_section)
{
    static const char input[] = "[uwsgi]\na = 1\nini = :base\nb = 2\n[base]\nc = 3\nd = 4\n";
    loader_case_t t = { "ini = :base", input, NULL, CRL_OK,
                     "a|1|2\nini|:base|3\nc|3|6\nd|4|7\nb|2|4\n", NULL };
    run_case(&t, strlen(input));
}

Test(ini, include_other_file_recursively)
{
    static const char inner[] = "[uwsgi]\ninner = 1\nini = :more\n[more]\ndeep = 2\n";
    write_file("inner.ini", inner, strlen(inner));
    static const char input[] = "[uwsgi]\nini = inner.ini\nouter = 3\n";
    loader_case_t t = { "ini = inner.ini", input, NULL, CRL_OK,
                     "ini|inner.ini|2\ninner|1|2\nini|:more|3\ndeep|2|5\nouter|3|3\n", NULL };
    run_case(&t, strlen(input));
}

Test(ini, include_of_missing_section_fails)
{
    static const char input[] = "[uwsgi]\nini = :nope\nafter = 1\n";
    loader_case_t t = { "ini = :nope", input, NULL, CRL_ERROR, "ini|:nope|2\n",
                     "FILE:2: stopped at 'ini'" };
    run_case(&t, strlen(input));
}

Test(ini, emit_error_stops_loading)
{
    char err[512] = "";
    static const char input[] = "[uwsgi]\na = 1\nbad = x\nc = 3\n";
    const char *path = write_file("fail.ini", input, strlen(input));
    rec_t r = { .path = path, .fail_on = "bad" };
    int rc = crl_plugin.loader->load(path, NULL, record, &r, err, sizeof(err));
    cr_expect_eq(rc, CRL_ERROR);
    cr_expect_str_eq(r.out, "a|1|2\nbad|x|3\n");
    char *want = expand_file("FILE:3: stopped at 'bad'", path);
    cr_expect_str_eq(err, want);
    free(want);
    free(r.out);
}

Test(ini, missing_file)
{
    char err[512] = "";
    char path[300];
    rec_t r = { 0 };
    snprintf(path, sizeof(path), "%s/nope.ini", tmpdir);
    int rc = crl_plugin.loader->load(path, NULL, record, &r, err, sizeof(err));
    cr_expect_eq(rc, CRL_ERROR);
    cr_expect_null(r.out);
    char *want = expand_file("cannot open FILE: No such file or directory", path);
    cr_expect_str_eq(err, want);
    free(want);
}

Test(ini, directory)
{
    char err[512] = "";
    rec_t r = { 0 };
    int rc = crl_plugin.loader->load(tmpdir, NULL, record, &r, err, sizeof(err));
    cr_expect_eq(rc, CRL_ERROR);
    char *want = expand_file("cannot read FILE: Is a directory", tmpdir);
    cr_expect_str_eq(err, want);
    free(want);
}

Test(ini, unreadable_file)
{
    char err[512] = "";
    rec_t r = { 0 };
    const char *path = write_file("secret.ini", "[uwsgi]\n", 8);
    cr_assert_eq(chmod(path, 0), 0);
    if (access(path, R_OK) == 0)
        cr_skip_test("running as root: permissions are not enforced");
    int rc = crl_plugin.loader->load(path, NULL, record, &r, err, sizeof(err));
    cr_expect_eq(rc, CRL_ERROR);
    char *want = expand_file("cannot open FILE: Permission denied", path);
    cr_expect_str_eq(err, want);
    free(want);
}

Test(ini, small_err_buffer_and_null_err)
{
    char err[8];
    rec_t r = { 0 };
    const char *path = write_file("x.ini", "[x]\n", 4);
    cr_expect_eq(crl_plugin.loader->load(path, NULL, record, &r, err, sizeof(err)), CRL_DECLINED);
    cr_expect_str_eq(err, "no [uws");
    cr_expect_eq(crl_plugin.loader->load(path, NULL, record, &r, NULL, 0), CRL_DECLINED);
}

Test(ini, descriptor)
{
    cr_expect_eq(crl_plugin.abi, CRL_PLUGIN_ABI);
    cr_expect_str_eq(crl_plugin.name, "ini");
    cr_assert_not_null(crl_plugin.loader);
    cr_expect_null(crl_plugin.app);
    cr_expect_str_eq(crl_plugin.loader->extensions[0], ".ini");
    cr_expect_null(crl_plugin.loader->extensions[1]);
}
