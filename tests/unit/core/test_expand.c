/* Tests of core/crl_expand.c: magic variables, $(ENV), @(file), %(name)
 * placeholders and math. Tables of input and expected output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "crl_expand.h"

typedef struct {
    const char *in;
    const char *out;
} case_t;

/* ---- magic ---- */

static crl_magic_t fake_magic(void)
{
    crl_magic_t m;
    memset(&m, 0, sizeof(m));
    m.v['d'] = "/srv/app/conf/";
    m.v['n'] = "uwsgi";
    m.v['k'] = "4";
    m.v['x'] = "uwsgi";
    return m;
}

static size_t magic_table_cases(case_t **out)
{
    static case_t cases[] = {
        { "", "" },
        { "plain", "plain" },
        { "%dglobal.ini", "/srv/app/conf/global.ini" },
        { "/var/log/%n.log", "/var/log/uwsgi.log" },
        { "%(%k * 2)", "%(4 * 2)" },
        { "%(base)/x", "%(base)/x" },
        { "%%Y-%%m-%%d", "%Y-%m-%d" },
        { "100%", "100%" },
        { "%Y", "" },          /* unknown letters expand to nothing, as in uWSGI */
        { "127.0.0.1:%PORT%", "127.0.0.1:ORT%" },
        { "%k%k", "44" },
        { "%%%k", "%4" },
        { "%x", "uwsgi" },
    };
    *out = cases;
    return sizeof(cases) / sizeof(cases[0]);
}

static void magic_table_one(case_t *c)
{
    crl_magic_t m = fake_magic();
    char *out = crl_expand_magic(c->in, &m);
    cr_assert_str_eq(out, c->out, "'%s'", c->in);
    free(out);
}

Test(magic, table)
{
    case_t *cases;
    size_t n = magic_table_cases(&cases);
    for (size_t i = 0; i < n; i++)
        magic_table_one(&cases[i]);
}

Test(magic, fill_from_a_path)
{
    crl_magic_t m, first;
    char cwd[512];
    cr_assert(getcwd(cwd, sizeof(cwd)) != NULL);
    cr_assert_eq(crl_magic_fill(&first, "/etc/corral/main.ini", "uwsgi", cwd, NULL), 0);
    cr_assert_eq(crl_magic_fill(&m, "/srv/my app/conf/site.prod.ini", "dev", cwd, &first), 0);
    cr_assert_str_eq(m.v['o'], "/srv/my app/conf/site.prod.ini");
    cr_assert_str_eq(m.v['p'], "/srv/my app/conf/site.prod.ini");
    cr_assert_str_eq(m.v['d'], "/srv/my app/conf/");
    cr_assert_str_eq(m.v['s'], "site.prod.ini");
    cr_assert_str_eq(m.v['n'], "site.prod");
    cr_assert_str_eq(m.v['e'], "ini");
    cr_assert_str_eq(m.v['c'], "conf");
    cr_assert_str_eq(m.v['x'], "dev");
    cr_assert_str_eq(m.v['0'], "srv");
    cr_assert_str_eq(m.v['1'], "my app");
    cr_assert_str_eq(m.v['2'], "conf");
    cr_assert_null(m.v['3']);
    cr_assert_str_eq(m.v['v'], cwd);
    cr_assert_str_eq(m.v['V'], CRL_VERSION);
    cr_assert_gt(atoi(m.v['k']), 0);
    cr_assert_str_eq(m.v['O'], "/etc/corral/main.ini");
    cr_assert_str_eq(m.v['D'], "/etc/corral/");
    cr_assert_str_eq(m.v['N'], "main");
    cr_assert_str_eq(m.v['X'], "uwsgi");
    char uid[32];
    snprintf(uid, sizeof(uid), "%d", (int)getuid());
    cr_assert_str_eq(m.v['u'], uid);
    cr_assert_gt(strtoll(m.v['T'], NULL, 10), strtoll(m.v['t'], NULL, 10));
    crl_magic_free(&m);
    crl_magic_free(&first);
}

Test(magic, relative_path_resolves_against_cwd)
{
    crl_magic_t m;
    cr_assert_eq(crl_magic_fill(&m, "conf/app.ini", NULL, "/nonexistent/base", NULL), 0);
    cr_assert_str_eq(m.v['o'], "conf/app.ini");
    cr_assert_str_eq(m.v['p'], "/nonexistent/base/conf/app.ini");
    cr_assert_str_eq(m.v['d'], "/nonexistent/base/conf/");
    cr_assert_str_eq(m.v['O'], "conf/app.ini");
    crl_magic_free(&m);
}

/* ---- $(ENV) ---- */

static const char *fake_env(void *ctx, const char *name)
{
    if (strcmp(name, "PORT") == 0)
        return "8000";
    if (strcmp(name, "EMPTY") == 0)
        return "";
    if (strcmp(name, "N") == 0)
        return "4";
    return NULL;
}

typedef struct {
    const char *in;
    const char *out;
    const char *unset;
} env_case_t;

static size_t env_table_cases(env_case_t **out)
{
    static env_case_t cases[] = {
        { ":$(PORT)", ":8000", "" },
        { "$(PORT)$(N)", "80004", "" },
        { "$(MISSING)", "$(MISSING)", "MISSING" },
        { "a $(MISSING) $(ALSO) b", "a $(MISSING) $(ALSO) b", "MISSING" },
        { "$(MISSING:-4)", "4", "" },
        { "$(EMPTY:-4)", "4", "" },
        { "$(EMPTY-4)", "", "" },
        { "$(MISSING-x y)", "x y", "" },
        { "$(PORT:-1)", "8000", "" },
        { "$(PORT", "$(PORT", "" },
        { "$PORT ${PORT}", "$PORT ${PORT}", "" },
        { "$()", "$()", "" },
        { "", "", "" },
    };
    *out = cases;
    return sizeof(cases) / sizeof(cases[0]);
}

static void env_table_one(env_case_t *c)
{
    char unset[64] = "junk";
    char *out = crl_expand_env(c->in, fake_env, NULL, unset, sizeof(unset));
    cr_assert_str_eq(out, c->out, "'%s'", c->in);
    cr_assert_str_eq(unset, c->unset, "'%s'", c->in);
    free(out);
}

Test(env, table)
{
    env_case_t *cases;
    size_t n = env_table_cases(&cases);
    for (size_t i = 0; i < n; i++)
        env_table_one(&cases[i]);
}

/* ---- @(file) ---- */

Test(files, reads_content_without_final_newline)
{
    char dir[] = "/tmp/crl-expand-XXXXXX", path[128], in[256], err[256];
    int failed;
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/hostname", dir);
    FILE *f = fopen(path, "w");
    fputs("node-1\n", f);
    fclose(f);

    snprintf(in, sizeof(in), "name=@(%s)!", path);
    char *out = crl_expand_files(in, crl_expand_read_file, NULL, &failed, err, sizeof(err));
    cr_assert_str_eq(out, "name=node-1!");
    cr_assert_eq(failed, 0);
    free(out);

    f = fopen(path, "w");
    fputs("two\r\nlines\r\n", f);
    fclose(f);
    out = crl_expand_files(in, crl_expand_read_file, NULL, &failed, err, sizeof(err));
    cr_assert_str_eq(out, "name=two\r\nlines!");
    free(out);
    unlink(path);
    rmdir(dir);
}

Test(files, errors_and_refused_schemes)
{
    char err[256];
    int failed;
    char *out = crl_expand_files("@(/nonexistent/x)", crl_expand_read_file, NULL, &failed, err,
                                 sizeof(err));
    cr_assert_null(out);
    cr_assert_eq(failed, 1);
    cr_assert(strstr(err, "@(/nonexistent/x): No such file or directory") != NULL, "%s", err);

    out = crl_expand_files("/app/uwsgi-@(exec://date +%Y).log", crl_expand_read_file, NULL,
                           &failed, err, sizeof(err));
    cr_assert_null(out);
    cr_assert(strstr(err, "never runs commands") != NULL, "%s", err);

    out = crl_expand_files("@(http://example.com/x)", crl_expand_read_file, NULL, &failed, err,
                           sizeof(err));
    cr_assert_null(out);
    cr_assert(strstr(err, "only plain files") != NULL, "%s", err);

    out = crl_expand_files("no file @( here", crl_expand_read_file, NULL, &failed, err,
                           sizeof(err));
    cr_assert_str_eq(out, "no file @( here");
    free(out);
}

/* ---- %(placeholders) ---- */

static const char *vars[][2] = {
    { "base", "/srv" },
    { "app", "%(base)/app" },
    { "processes", "4" },
    { "cores", "8" },
    { "loop1", "%(loop2)" },
    { "loop2", "%(loop1)" },
    { "word", "abc" },
    { "zero", "0" },
    { "empty", "" },
};

static const char *lookup(void *ctx, const char *name)
{
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (strcmp(vars[i][0], name) == 0)
            return vars[i][1];
    return NULL;
}

static size_t placeholder_table_cases(case_t **out)
{
    static case_t cases[] = {
        { "%(base)", "/srv" },
        { "chdir=%(app)/x", "chdir=/srv/app/x" },
        { "%(addr) - %(user) [%(ltime)]", "%(addr) - %(user) [%(ltime)]" },
        { "%(base)%(base)", "/srv/srv" },
        { "%(empty)x", "x" },
        { "%(processes + 1)", "5" },
        { "%(4 * 2)", "8" },
        { "%(processes * cores)", "32" },
        { "%(cores / 3)", "2" },
        { "%(cores - 10)", "-2" },
        { "%(1 + 2 * 3)", "9" }, /* left to right, no precedence */
        { "%(processes ++)", "5" },
        { "%(processes -- --)", "2" },
        { "%(-9223372036854775808 --)", "9223372036854775807" }, /* wraps, no UB */
        { "%(9223372036854775807 + 1)", "-9223372036854775808" },
        { "%(processes cores)", "48" },        /* concatenation */
        { "%(processes cores + 2)", "50" },    /* uWSGI's pipeline: "48" + 2 */
        { "%(word 1)", "abc1" },
        { "%(cores / zero)", "%(cores / zero)" }, /* left as written */
        { "%(foo bar)", "%(foo bar)" },          /* nothing known */
        { "%()", "%()" },
        { "%(base", "%(base" },
        { "%%(base)", "%/srv" }, /* the magic pass already turned %% into % */
        { "%(unknown)", "%(unknown)" },
    };
    *out = cases;
    return sizeof(cases) / sizeof(cases[0]);
}

static void placeholder_table_one(case_t *c)
{
    int deep = 1;
    char *out = crl_expand_placeholders(c->in, lookup, NULL, NULL, &deep);
    cr_assert_str_eq(out, c->out, "'%s'", c->in);
    cr_assert_eq(deep, 0);
    free(out);
}

Test(placeholder, table)
{
    case_t *cases;
    size_t n = placeholder_table_cases(&cases);
    for (size_t i = 0; i < n; i++)
        placeholder_table_one(&cases[i]);
}

Test(placeholder, cycles_stop_at_the_depth_bound)
{
    int deep = 0;
    char *out = crl_expand_placeholders("x=%(loop1)", lookup, NULL, NULL, &deep);
    cr_assert_eq(deep, 1);
    cr_assert(strstr(out, "%(loop") != NULL, "%s", out);
    free(out);
}

static char refs[256];
static void record_ref(void *ctx, const char *name)
{
    strcat(refs, name);
    strcat(refs, ",");
}

Test(placeholder, references_are_reported)
{
    refs[0] = '\0';
    char *out = crl_expand_placeholders("%(app) %(nope) %(processes + cores) %(3 * 3)", lookup,
                                        record_ref, NULL, NULL);
    cr_assert_str_eq(out, "/srv/app %(nope) 12 9");
    cr_assert_str_eq(refs, "app,base,nope,processes,cores,");
    free(out);
}

Test(substitute, replaces_every_occurrence)
{
    char *out = crl_expand_substitute("%(_)/a:%(_)", "%(_)", "X");
    cr_assert_str_eq(out, "X/a:X");
    free(out);
    out = crl_expand_substitute("none", "%(_)", "X");
    cr_assert_str_eq(out, "none");
    free(out);
}
