/*
 * Tests for the yaml loader (plugins/yaml/crl_yaml.c): a table of raw files
 * and the records (key|value|line) or the error the loader must produce,
 * plus long values, includes re-entering the loader through emit, and a
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

#include "core/crl_log.h"

#define LOADER_NAME "yaml"
#define LOADER_SUITE yaml
#include "tests/unit/plugins/loader_harness.h"

static const loader_case_t cases[] = {
    { "basic", "uwsgi:\n  master: true\n  processes: 4\n", NULL, CRL_OK,
      "master|true|2\nprocesses|4|3\n", NULL },
    { "other top-level keys are skipped whatever they hold",
      "app:\n  a: {b: [1, 2]}\n  c: [x, {y: z}]\nuwsgi:\n  module: app\nother: [1, 2]\nlast: x\n",
      NULL, CRL_OK, "module|app|5\n", NULL },
    { "flow list", "uwsgi:\n  socket: [a, b]\n", NULL, CRL_OK, "socket|a|2\nsocket|b|2\n", NULL },
    { "block list", "uwsgi:\n  socket:\n    - a\n    - b\n  master: 1\n", NULL, CRL_OK,
      "socket|a|3\nsocket|b|4\nmaster|1|5\n", NULL },
    { "empty list", "uwsgi:\n  socket: []\n  master: 1\n", NULL, CRL_OK, "master|1|3\n", NULL },
    { "flags", "uwsgi:\n  master:\n  vacuum: ~\n  strict: null\n  quoted: '~'\n  empty: ''\n",
      NULL, CRL_OK, "master||2\nvacuum||3\nstrict||4\nquoted|~|5\nempty||6\n", NULL },
    { "flag items", "uwsgi:\n  x: [~, a]\n", NULL, CRL_OK, "x||2\nx|a|2\n", NULL },
    { "a tagged ~ is a string", "uwsgi:\n  x: !!str ~\n", NULL, CRL_OK, "x|~|2\n", NULL },
    { "duplicate keys are all emitted", "uwsgi:\n  socket: a\n  socket: b\n  socket: a\n", NULL,
      CRL_OK, "socket|a|2\nsocket|b|3\nsocket|a|4\n", NULL },
    { "quotes removed as YAML says",
      "uwsgi:\n  env: \"A=1\"\n  x: 'it''s'\n  y: \"a\\tb\"\n  socket: 127.0.0.1:8000\n", NULL,
      CRL_OK, "env|A=1|2\nx|it's|3\ny|a\tb|4\nsocket|127.0.0.1:8000|5\n", NULL },
    { "comments", "# top\nuwsgi:\n  # c\n  processes: 4 # four\n  url: a#b\n", NULL, CRL_OK,
      "processes|4|4\nurl|a#b|5\n", NULL },
    { "flow mapping section", "uwsgi: {master: true, socket: [a, b]}\n", NULL, CRL_OK,
      "master|true|1\nsocket|a|1\nsocket|b|1\n", NULL },
    { "values are text", "uwsgi:\n  harakiri: 60\n  enable-threads: True\n  chmod-socket: 0664\n",
      NULL, CRL_OK, "harakiri|60|2\nenable-threads|True|3\nchmod-socket|0664|4\n", NULL },
    { "folded and literal scalars", "uwsgi:\n  a: >-\n    x\n    y\n  b: |\n    l1\n    l2\n",
      NULL, CRL_OK, "a|x y|2\nb|l1\nl2\n|5\n", NULL },
    { "requested section", "uwsgi:\n  a: 1\nprod:\n  b: 2\n", "prod", CRL_OK, "b|2|4\n", NULL },
    { "empty section", "uwsgi:\nother: 1\n", NULL, CRL_OK, "", NULL },
    { "section given twice", "uwsgi:\n  a: 1\nx: 0\nuwsgi:\n  b: 2\n", NULL, CRL_OK,
      "a|1|2\nb|2|5\n", NULL },
    { "scalar anchors and aliases",
      "defaults: &port 8000\nuwsgi:\n  http-socket: *port\n  socket: [&s a, *s]\n", NULL, CRL_OK,
      "http-socket|8000|3\nsocket|a|4\nsocket|a|4\n", NULL },
    { "anchor inside a skipped collection", "base: {p: &p 9}\nuwsgi:\n  x: *p\n", NULL, CRL_OK,
      "x|9|3\n", NULL },
    { "UTF-8 BOM", "\xEF\xBB\xBFuwsgi:\n  a: 1\n", NULL, CRL_OK, "a|1|2\n", NULL },
    { "CRLF", "uwsgi:\r\n  a: 1\r\n  b:\r\n", NULL, CRL_OK, "a|1|2\nb||3\n", NULL },
    { "only the first document is read",
      "---\nuwsgi:\n  a: 1\n...\n---\nuwsgi:\n  b: 2\n", NULL, CRL_OK, "a|1|3\n", NULL },
    { "a broken second document is not parsed", "uwsgi:\n  a: 1\n---\n[\n", NULL, CRL_OK,
      "a|1|2\n", NULL },
    { "no such section", "app:\n  a: 1\n", NULL, CRL_DECLINED, "",
      "no 'uwsgi' section in FILE" },
    { "no such requested section", "uwsgi:\n  a: 1\n", "prod", CRL_DECLINED, "",
      "no 'prod' section in FILE" },
    { "empty file", "", NULL, CRL_DECLINED, "", "no 'uwsgi' section in FILE" },
    { "comments only", "# nothing\n", NULL, CRL_DECLINED, "", "no 'uwsgi' section in FILE" },
    { "empty document", "---\n", NULL, CRL_DECLINED, "", "no 'uwsgi' section in FILE" },
    { "nested mapping", "uwsgi:\n  a: 1\n  app:\n    b: 2\n", NULL, CRL_ERROR, "a|1|2\n",
      "FILE:3: the value of 'app' is a mapping; expected a scalar or a list" },
    { "flow mapping value", "uwsgi:\n  app: {b: 2}\n", NULL, CRL_ERROR, "",
      "FILE:2: the value of 'app' is a mapping; expected a scalar or a list" },
    { "list in a list", "uwsgi:\n  socket: [a, [b]]\n", NULL, CRL_ERROR, "socket|a|2\n",
      "FILE:2: an item of 'socket' is a list; expected a scalar" },
    { "mapping in a list", "uwsgi:\n  env:\n    - A: 1\n", NULL, CRL_ERROR, "",
      "FILE:3: an item of 'env' is a mapping; expected a scalar" },
    { "unknown alias", "uwsgi:\n  a: *nope\n", NULL, CRL_ERROR, "",
      "FILE:2: cannot resolve alias '*nope' (only aliases of earlier scalars are supported)" },
    { "alias of a mapping", "base: &b {a: 1}\nuwsgi:\n  <<: *b\n", NULL, CRL_ERROR, "",
      "FILE:3: cannot resolve alias '*b' (only aliases of earlier scalars are supported)" },
    { "top level is a list", "- a\n- b\n", NULL, CRL_ERROR, "",
      "FILE:1: the top level is not a mapping" },
    { "top level is a scalar", "hello\n", NULL, CRL_ERROR, "",
      "FILE:1: the top level is not a mapping" },
    { "section is a list", "uwsgi: [a, b]\n", NULL, CRL_ERROR, "",
      "FILE:1: 'uwsgi' must be a mapping of options" },
    { "section is a scalar", "x: 1\nuwsgi: hello\n", NULL, CRL_ERROR, "",
      "FILE:2: 'uwsgi' must be a mapping of options" },
    { "option name is a list", "uwsgi:\n  [a]: 1\n", NULL, CRL_ERROR, "",
      "FILE:2: an option name must be a scalar" },
    { "bad indentation", "uwsgi:\n  a: 1\n b: 2\n", NULL, CRL_ERROR, "a|1|2\n",
      "FILE:3: did not find expected key (while parsing a block mapping at line 1)" },
    { "tab indentation", "uwsgi:\n\ta: 1\n", NULL, CRL_ERROR, "",
      "FILE:2: found character that cannot start any token (while scanning for the next token "
      "at line 2)" },
    { "unclosed flow list", "uwsgi:\n  socket: [a, b\n  master: 1\n", NULL, CRL_ERROR,
      "socket|a|2\nsocket|b master|2\n",
      "FILE:3: did not find expected ',' or ']' (while parsing a flow sequence at line 2)" },
    { "invalid UTF-8", "uwsgi:\n  a: 1\n  b: \xff\n", NULL, CRL_ERROR, "",
      "FILE:3: invalid leading UTF-8 octet" },
};

Test(yaml, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i], strlen(cases[i].input));
}

static void long_value_case(size_t n)
{
    char *value = malloc(n + 1);
    char *input = NULL, *want = NULL;
    cr_assert_not_null(value);
    memset(value, 'x', n);
    value[n] = '\0';
    cr_assert(asprintf(&input,
                       "# %s\nother: %s\nuwsgi:\n  log-format: %s\n  list: [\"%s\", b]\n"
                       "  ? %s\n  : v\n  after: 1\n",
                       value, value, value, value, value) > 0);
    cr_assert(asprintf(&want, "log-format|%s|4\nlist|%s|5\nlist|b|5\n%s|v|6\nafter|1|8\n", value,
                       value, value) > 0);
    loader_case_t t = { "long value", input, NULL, CRL_OK, want, NULL };
    run_case(&t, strlen(input));
    free(value);
    free(input);
    free(want);
}

Test(yaml, long_values)
{
    long_value_case(250);
    long_value_case(5000);
    long_value_case(70000);
}

Test(yaml, include_same_file_section)
{
    static const char input[] = "uwsgi:\n  a: 1\n  yaml: :base\n  b: 2\nbase:\n  c: [3, 4]\n";
    loader_case_t t = { "yaml = :base", input, NULL, CRL_OK,
                      "a|1|2\nyaml|:base|3\nc|3|6\nc|4|6\nb|2|4\n", NULL };
    run_case(&t, strlen(input));
}

Test(yaml, include_other_file_recursively)
{
    static const char inner[] = "uwsgi:\n  inner: 1\n  yaml: :more\nmore:\n  deep: 2\n";
    write_file("inner.yaml", inner, strlen(inner));
    static const char input[] = "uwsgi:\n  yaml: inner.yaml\n  outer: 3\n";
    loader_case_t t = { "yaml = inner.yaml", input, NULL, CRL_OK,
                      "yaml|inner.yaml|2\ninner|1|2\nyaml|:more|3\ndeep|2|5\nouter|3|3\n", NULL };
    run_case(&t, strlen(input));
}

Test(yaml, include_of_missing_section_fails)
{
    static const char input[] = "uwsgi:\n  yaml: :nope\n  after: 1\n";
    loader_case_t t = { "yaml = :nope", input, NULL, CRL_ERROR, "yaml|:nope|2\n",
                      "FILE:2: stopped at 'yaml'" };
    run_case(&t, strlen(input));
}

Test(yaml, emit_error_stops_loading)
{
    char err[512] = "";
    static const char input[] = "uwsgi:\n  a: 1\n  bad: [x, y]\n  c: 3\n";
    const char *path = write_file("fail.yaml", input, strlen(input));
    rec_t r = { .path = path, .fail_on = "bad" };
    int rc = crl_plugin.loader->load(path, NULL, record, &r, err, sizeof(err));
    cr_expect_eq(rc, CRL_ERROR);
    cr_expect_str_eq(r.out, "a|1|2\nbad|x|3\n");
    char *want = expand_file("FILE:3: stopped at 'bad'", path);
    cr_expect_str_eq(err, want);
    free(want);
    free(r.out);
}

Test(yaml, missing_file)
{
    char err[512] = "";
    char path[300];
    rec_t r = { 0 };
    snprintf(path, sizeof(path), "%s/nope.yaml", tmpdir);
    int rc = crl_plugin.loader->load(path, NULL, record, &r, err, sizeof(err));
    cr_expect_eq(rc, CRL_ERROR);
    cr_expect_null(r.out);
    char *want = expand_file("cannot open FILE: No such file or directory", path);
    cr_expect_str_eq(err, want);
    free(want);
}

Test(yaml, directory)
{
    char err[512] = "";
    rec_t r = { 0 };
    int rc = crl_plugin.loader->load(tmpdir, NULL, record, &r, err, sizeof(err));
    cr_expect_eq(rc, CRL_ERROR);
    char *want = expand_file("cannot read FILE: Is a directory", tmpdir);
    cr_expect_str_eq(err, want);
    free(want);
}

Test(yaml, later_documents_are_reported)
{
    static const char input[] = "uwsgi:\n  a: 1\n---\nuwsgi:\n  b: 2\n";
    char log[512] = "";
    FILE *logf = tmpfile();
    cr_assert_not_null(logf);
    crl_log_fd = fileno(logf);
    loader_case_t t = { "two documents", input, NULL, CRL_OK, "a|1|2\n", NULL };
    run_case(&t, strlen(input));
    crl_log_fd = 2;
    rewind(logf);
    size_t n = fread(log, 1, sizeof(log) - 1, logf);
    log[n] = '\0';
    fclose(logf);
    char *want = expand_file("warning: FILE:3: only the first yaml document is read\n",
                             write_file("case.yaml", input, strlen(input)));
    cr_expect_str_eq(log, want);
    free(want);
}

Test(yaml, null_err)
{
    rec_t r = { 0 };
    const char *path = write_file("x.yaml", "- a\n", 4);
    cr_expect_eq(crl_plugin.loader->load(path, NULL, record, &r, NULL, 0), CRL_ERROR);
}

Test(yaml, descriptor)
{
    cr_expect_eq(crl_plugin.abi, CRL_PLUGIN_ABI);
    cr_expect_str_eq(crl_plugin.name, "yaml");
    cr_expect_str_eq(crl_plugin.aliases, "yml");
    cr_assert_not_null(crl_plugin.loader);
    cr_expect_null(crl_plugin.app);
    cr_expect_str_eq(crl_plugin.loader->extensions[0], ".yaml");
    cr_expect_str_eq(crl_plugin.loader->extensions[1], ".yml");
    cr_expect_null(crl_plugin.loader->extensions[2]);
}
