/*
 * The harness shared by the loader tests (tests/unit/plugins/ini,
 * tests/unit/plugins/yaml): a fresh temporary directory per test, an emit
 * callback that records "key|value|line" and re-enters the loader for
 * includes the way the core does, and a runner for tables of raw files
 * and the records or error they must give.
 *
 * Include once, after defining LOADER_NAME (the loader's option and file
 * extension, "ini") and LOADER_SUITE (the Criterion suite name, ini); the
 * test is linked with the loader's source, which defines crl_plugin.
 */
#ifndef CRL_TEST_LOADER_HARNESS_H
#define CRL_TEST_LOADER_HARNESS_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <corral/plugin.h>
#include <corral/result.h>

extern const crl_plugin_t crl_plugin;

/* What emit received, one "key|value|line\n" per record. */
typedef struct {
    char *out;
    size_t len;
    const char *path; /* the file being read, for `<loader> = :section` */
    const char *fail_on; /* emit returns CRL_ERROR for this key */
} rec_t;

static char tmpdir[64];

static void setup(void)
{
    strcpy(tmpdir, "/tmp/crl_" LOADER_NAME "_test.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(LOADER_SUITE, .init = setup, .fini = teardown);

static const char *write_file(const char *name, const char *data, size_t len)
{
    static char path[8][256];
    static unsigned next;
    char *p = path[next++ % 8];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *fp = fopen(p, "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(data, 1, len, fp), len);
    fclose(fp);
    return p;
}

static void append(rec_t *r, const char *s)
{
    size_t n = strlen(s);
    r->out = realloc(r->out, r->len + n + 1);
    cr_assert_not_null(r->out);
    memcpy(r->out + r->len, s, n + 1);
    r->len += n;
}

static int record(void *ctx, const char *key, const char *value, unsigned line);

/* An include the way the core does it (`<loader> = :section`,
 * `<loader> = file`): re-enter the loader from emit. */
static int include(rec_t *r, const char *value)
{
    char err[512] = "";
    const char *path = r->path;
    const char *section = NULL;
    char other[256];

    if (value[0] == ':') {
        section = value + 1;
    } else {
        snprintf(other, sizeof(other), "%s/%s", tmpdir, value);
        path = other;
    }
    rec_t inner = { .path = path, .fail_on = r->fail_on };
    int rc = crl_plugin.loader->load(path, section, record, &inner, err, sizeof(err));
    if (inner.out != NULL)
        append(r, inner.out);
    free(inner.out);
    return rc == CRL_OK ? CRL_OK : CRL_ERROR;
}

static int record(void *ctx, const char *key, const char *value, unsigned line)
{
    rec_t *r = ctx;
    char *s = NULL;
    cr_assert(asprintf(&s, "%s|%s|%u\n", key, value, line) > 0);
    append(r, s);
    free(s);
    if (r->fail_on != NULL && strcmp(key, r->fail_on) == 0)
        return CRL_ERROR;
    if (strcmp(key, LOADER_NAME) == 0)
        return include(r, value);
    return CRL_OK;
}

/* Replace "FILE" in the expected error by the fixture's path. */
static char *expand_file(const char *fmt, const char *path)
{
    char *out = calloc(1, strlen(fmt) + 4 * strlen(path) + 1);
    const char *p;
    cr_assert_not_null(out);
    while ((p = strstr(fmt, "FILE")) != NULL) {
        strncat(out, fmt, (size_t)(p - fmt));
        strcat(out, path);
        fmt = p + 4;
    }
    strcat(out, fmt);
    return out;
}

typedef struct {
    const char *name;
    const char *input;
    const char *section; /* NULL: the default */
    int rc;
    const char *records; /* key|value|line lines */
    const char *err;     /* expected err when rc != CRL_OK; FILE = path */
} loader_case_t;

static void run_case(const loader_case_t *t, size_t len)
{
    char err[512] = "";
    const char *path = write_file("case." LOADER_NAME, t->input, len);
    rec_t r = { .path = path };

    int rc = crl_plugin.loader->load(path, t->section, record, &r, err, sizeof(err));
    cr_expect_eq(rc, t->rc, "%s: rc %d, expected %d (err: %s)", t->name, rc, t->rc, err);
    cr_expect_str_eq(r.out != NULL ? r.out : "", t->records, "%s: records", t->name);
    if (t->rc != CRL_OK) {
        char *want = expand_file(t->err, path);
        cr_expect_str_eq(err, want, "%s: err", t->name);
        free(want);
    }
    free(r.out);
}

#endif
