/*
 * The config reader: collects located records (key, value, file, line) in
 * uWSGI's order -- UWSGI_* environment, then the command line left to right,
 * config files read through the loader plugins where they appear -- runs the
 * immediate options while reading (includes, plugins, strict, placeholders,
 * logic blocks), then expands every stored value in three passes ($(ENV),
 * @(file), %(placeholder)) and applies the records in order to the option
 * registry.
 *
 * Invariants: records are only appended while reading and never reordered;
 * a record's file string is interned and lives until exit (list items and
 * messages point at it); every message names the option and where it came
 * from ("app.ini:4", "command line", "environment UWSGI_PROCESSES").
 * Reading keeps going after an error so that one run reports them all;
 * crl_config_load then returns CRL_ERROR.
 */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/plugin.h>
#include <corral/result.h>

#include "crl_config.h"
#include "crl_expand.h"
#include "crl_option.h"
#include "crl_plugin.h"
#include "crl_uwsgi_names.h"

#ifndef CRL_VERSION
#define CRL_VERSION "0.0.0"
#endif

#define MAX_INCLUDE_DEPTH 16
#define CMDLINE "command line"

enum { REC_OPTION, REC_DONE, REC_PLACEHOLDER };

typedef struct {
    char *key;
    char *value;
    const char *file; /* interned */
    unsigned line;
    int kind;
} record_t;

/* One config file being read. */
typedef struct {
    const char *path; /* as given, interned */
    crl_magic_t magic;
} source_t;

enum { LOGIC_NONE, LOGIC_IF, LOGIC_ELSE, LOGIC_FOR };

typedef struct {
    int kind;
    int failed;    /* the last if-* was false (else runs when set) */
    char *subst;   /* %(_) inside an if block */
    char **items;  /* the values of a for block */
    size_t nitems;
    int running;   /* adding records produced by the block */
} logic_t;

static struct {
    record_t *recs;
    size_t n, cap;
    char **strings; /* interned file names */
    size_t nstrings;
    char **refs;    /* names some %(...) refers to */
    size_t nrefs;
    char cwd[PATH_MAX];
    crl_magic_t first;
    int have_first;
    int depth;
    int errors;
    logic_t logic;
    unsigned logic_gen; /* bumped whenever the block is replaced */
    int registered;
} S;

/* The reader's own options. */
static struct {
    int strict;
    int help, version, show_config, check_config;
    int autoload;
} conf;

/* ---- small helpers ---------------------------------------------------- */

static const char *intern(const char *s)
{
    for (size_t i = 0; i < S.nstrings; i++)
        if (strcmp(S.strings[i], s) == 0)
            return S.strings[i];
    char **v = realloc(S.strings, (S.nstrings + 1) * sizeof(*v));
    if (!v)
        return CMDLINE;
    S.strings = v;
    char *d = strdup(s);
    if (!d)
        return CMDLINE;
    S.strings[S.nstrings++] = d;
    return d;
}

static void where(char *buf, size_t len, const char *file, unsigned line)
{
    snprintf(buf, len, "%s", crl_option_where(file, line));
}

static record_t *add(const char *key, const char *value, const char *file, unsigned line,
                     int kind)
{
    if (S.n == S.cap) {
        size_t cap = S.cap ? S.cap * 2 : 64;
        record_t *r = realloc(S.recs, cap * sizeof(*r));
        if (!r)
            return NULL;
        S.recs = r;
        S.cap = cap;
    }
    record_t *r = &S.recs[S.n];
    r->key = strdup(key);
    r->value = strdup(value);
    if (!r->key || !r->value) {
        free(r->key);
        free(r->value);
        return NULL;
    }
    r->file = file;
    r->line = line;
    r->kind = kind;
    S.n++;
    return r;
}

static const char *first_value(const char *key)
{
    for (size_t i = 0; i < S.n; i++)
        if (strcmp(S.recs[i].key, key) == 0)
            return S.recs[i].value;
    return NULL;
}

static void error_at(const char *file, unsigned line, const char *fmt, const char *a,
                     const char *b)
{
    char w[PATH_MAX + 32];
    where(w, sizeof(w), file, line);
    crl_log(CRL_LOG_ERR, 0, fmt, a, w, b ? b : "");
    S.errors++;
}

/* A warning that `strict` makes an error. */
static void strict_warn(const char *msg)
{
    if (conf.strict) {
        crl_log(CRL_LOG_ERR, 0, "%s (strict)", msg);
        S.errors++;
    } else {
        crl_log(CRL_LOG_WARN, 0, "%s", msg);
    }
}

static int on_record(source_t *src, const char *key, const char *raw, const char *file,
                     unsigned line);

/* ---- includes --------------------------------------------------------- */

/* Split "file:section" at the last colon whose right side has no '/'. */
static void split_section(char *spec, char **section)
{
    char *colon = strrchr(spec, ':');
    *section = NULL;
    if (colon && !strchr(colon + 1, '/')) {
        *colon = '\0';
        *section = colon[1] ? colon + 1 : NULL;
    }
}

static int emit_cb(void *ctx, const char *key, const char *value, unsigned line)
{
    source_t *src = ctx;
    return on_record(src, key, value, src->path, line);
}

/* Read one config file through `loader` (already chosen). */
static int read_file(const crl_plugin_t *loader, const char *path, const char *section,
                     const char *from, unsigned from_line)
{
    char err[512] = "", w[PATH_MAX + 64] = "";
    source_t src = { intern(path), { { 0 } } };
    int rc = CRL_ERROR;

    if (from)
        where(w, sizeof(w), from, from_line);
    if (access(path, R_OK) != 0) {
        crl_log(CRL_LOG_ERR, errno, "cannot read config file '%s'%s%s", path,
                from ? " included at " : "", w);
        S.errors++;
        return CRL_ERROR;
    }
    if (S.depth >= MAX_INCLUDE_DEPTH) {
        crl_log(CRL_LOG_ERR, 0, "config file '%s'%s%s: includes nest deeper than %d (a cycle?)",
                path, from ? " included at " : "", w, MAX_INCLUDE_DEPTH);
        S.errors++;
        return CRL_ERROR;
    }
    if (crl_magic_fill(&src.magic, path, section ? section : "uwsgi", S.cwd,
                       S.have_first ? &S.first : NULL) != 0)
        goto out;
    if (!S.have_first) {
        crl_magic_fill(&S.first, path, section ? section : "uwsgi", S.cwd, NULL);
        S.have_first = 1;
    }
    S.depth++;
    rc = loader->loader->load(path, section, emit_cb, &src, err, sizeof(err));
    S.depth--;
    if (rc == CRL_DECLINED) {
        crl_log(CRL_LOG_ERR, 0, "%s has no [%s] section%s%s%s", path,
                section ? section : "uwsgi", from ? " (included at " : "", w, from ? ")" : "");
    } else if (rc != CRL_OK) {
        crl_log(CRL_LOG_ERR, 0, "cannot load config file '%s'%s%s: %s", path,
                from ? " included at " : "", w, err[0] ? err : "loader failed");
    }
out:
    crl_magic_free(&src.magic);
    if (rc != CRL_OK)
        S.errors++;
    return rc == CRL_OK ? CRL_OK : CRL_ERROR;
}

/* ini = / yaml = / include = / a positional file: `how` is the option name
 * or NULL to choose the loader by the file's extension. */
static int include(source_t *cur, const char *how, const char *value, const char *file,
                   unsigned line)
{
    char *spec = strdup(value), *section;
    const crl_plugin_t *loader;
    int rc = CRL_ERROR;

    if (!spec)
        return CRL_ERROR;
    split_section(spec, &section);
    const char *path = spec;
    if (!path[0]) {
        if (!cur) {
            error_at(file, line, "option '%s' at %s: ':section' needs a current config file%s",
                     how ? how : "include", NULL);
            goto out;
        }
        path = cur->path;
    }
    loader = how ? crl_plugin_loader_for_option(how) : crl_plugin_loader_for_path(path);
    if (!loader) {
        error_at(file, line, "no loader plugin can read '%s' (from %s)%s", path, NULL);
        goto out;
    }
    rc = read_file(loader, path, section, cur || strcmp(file, CMDLINE) ? file : NULL, line);
out:
    free(spec);
    return rc;
}

/* ---- logic blocks ----------------------------------------------------- */

static void logic_reset(void)
{
    S.logic_gen++;
    free(S.logic.subst);
    for (size_t i = 0; i < S.logic.nitems; i++)
        free(S.logic.items[i]);
    free(S.logic.items);
    S.logic = (logic_t){ 0 };
}

static int logic_push_item(const char *s, size_t n)
{
    char **v = realloc(S.logic.items, (S.logic.nitems + 1) * sizeof(*v));
    if (!v)
        return -1;
    S.logic.items = v;
    if (!(v[S.logic.nitems] = strndup(s, n)))
        return -1;
    S.logic.nitems++;
    return 0;
}

/* Compare "NAME" or "NAME=value" against a lookup; *subst receives the
 * value found (or NULL). */
static int cond_lookup(const char *arg, int from_env, const char **found)
{
    char name[256];
    const char *eq = strchr(arg, '=');
    snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
    const char *v = from_env ? getenv(name) : first_value(name);
    *found = v;
    if (!v)
        return 0;
    return eq ? strcmp(eq + 1, v) == 0 : 1;
}

static int test_path(const char *path, int what)
{
    struct stat st;
    if (what == 'e')
        return access(path, R_OK) == 0;
    if (stat(path, &st) != 0)
        return 0;
    return what == 'f' ? S_ISREG(st.st_mode) : S_ISDIR(st.st_mode);
}

static int logic_if(const char *name, const char *value)
{
    int neg = strncmp(name, "if-not-", 7) == 0;
    const char *what = name + (neg ? 7 : 3);
    const char *found = NULL;
    int cond;

    if (strcmp(name, "ifenv") == 0 || strcmp(what, "env") == 0)
        cond = cond_lookup(value, 1, &found);
    else if (strcmp(what, "opt") == 0)
        cond = cond_lookup(value, 0, &found);
    else if (strcmp(name, "ifexists") == 0 || strcmp(what, "exists") == 0)
        cond = test_path(value, 'e');
    else if (strcmp(what, "file") == 0)
        cond = test_path(value, 'f');
    else
        cond = test_path(value, 'd');
    if (neg)
        cond = !cond;
    logic_reset();
    S.logic.kind = LOGIC_IF;
    S.logic.failed = !cond;
    S.logic.subst = strdup(found ? found : value);
    return S.logic.subst ? CRL_OK : CRL_ERROR;
}

static int for_readline(const char *path, const char *file, unsigned line)
{
    char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f) {
        error_at(file, line, "option '%s' at %s cannot read '%s'", "for-readline", path);
        return CRL_ERROR;
    }
    while (fgets(buf, sizeof(buf), f)) {
        size_t n = strcspn(buf, "\r\n");
        if (n > 0 && logic_push_item(buf, n) != 0)
            break;
    }
    fclose(f);
    return CRL_OK;
}

static int logic_for(const char *name, const char *value, const char *file, unsigned line)
{
    int rc = CRL_OK;

    logic_reset();
    S.logic.kind = LOGIC_FOR;
    if (strcmp(name, "for") == 0) {
        for (const char *p = value; *p;) {
            size_t n = strcspn(p, " \t");
            if (n && logic_push_item(p, n) != 0)
                return CRL_ERROR;
            p += n;
            p += strspn(p, " \t");
        }
    } else if (strcmp(name, "for-glob") == 0) {
        glob_t g;
        if (glob(value, GLOB_MARK | GLOB_NOCHECK, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++)
                logic_push_item(g.gl_pathv[i], strlen(g.gl_pathv[i]));
            globfree(&g);
        }
    } else if (strcmp(name, "for-readline") == 0) {
        rc = for_readline(value, file, line);
    } else {
        long n = strtol(value, NULL, 10);
        for (long i = 1; i <= n && i <= 100000; i++) {
            char num[24];
            snprintf(num, sizeof(num), "%ld", i);
            logic_push_item(num, strlen(num));
        }
    }
    return rc;
}

static int add_record(source_t *src, const char *key, const char *value, const char *file,
                      unsigned line);

/* Feed a record through the active block: repeat it for a for block, keep
 * or drop it for an if/else block. */
static int logic_apply(source_t *src, const char *key, const char *value, const char *file,
                       unsigned line)
{
    int rc = CRL_OK;
    S.logic.running = 1;
    if (S.logic.kind == LOGIC_FOR) {
        unsigned gen = S.logic_gen;
        /* A logic option inside the block replaces the block (as in uWSGI):
         * stop iterating over the items it freed. */
        for (size_t i = 0; i < S.logic.nitems && rc == CRL_OK && S.logic_gen == gen; i++) {
            char *v = crl_expand_substitute(value, "%(_)", S.logic.items[i]);
            rc = v ? add_record(src, key, v, file, line) : CRL_ERROR;
            free(v);
        }
    } else if (S.logic.kind == LOGIC_IF && !S.logic.failed) {
        char *v = crl_expand_substitute(value, "%(_)", S.logic.subst ? S.logic.subst : "");
        rc = v ? add_record(src, key, v, file, line) : CRL_ERROR;
        free(v);
    } else if (S.logic.kind == LOGIC_ELSE && S.logic.failed) {
        rc = add_record(src, key, value, file, line);
    }
    S.logic.running = 0;
    return rc;
}

static int is_end(const char *key)
{
    return strcmp(key, "end") == 0 || strcmp(key, "endif") == 0 || strcmp(key, "end-if") == 0 ||
           strcmp(key, "endfor") == 0 || strcmp(key, "end-for") == 0;
}

/* ---- immediate options ------------------------------------------------ */

static int plugins_opt(const char *value, const char *file, unsigned line, int need)
{
    char *list = strdup(value), *save = NULL;
    int rc = CRL_OK;
    if (!list)
        return CRL_ERROR;
    for (char *p = strtok_r(list, ", \t", &save); p; p = strtok_r(NULL, ", \t", &save)) {
        int r = crl_plugin_load(p);
        if (r == CRL_DECLINED && need) {
            error_at(file, line, "plugin '%s' needed at %s is not available%s", p, NULL);
            rc = CRL_ERROR;
        } else if (r == CRL_DECLINED) {
            char w[PATH_MAX + 32];
            where(w, sizeof(w), file, line);
            crl_log(CRL_LOG_WARN, 0, "plugin '%s' at %s is not available in Corral; ignored", p,
                    w);
        } else if (r != CRL_OK) {
            S.errors++;
            rc = CRL_ERROR;
        }
    }
    free(list);
    return rc;
}

/* set-placeholder / set-ph / set: "name=value". */
static int set_opt(const char *opt, const char *value, const char *file, unsigned line)
{
    const char *eq = strchr(value, '=');
    if (!eq || eq == value) {
        error_at(file, line, "option '%s' at %s expects name=value, got '%s'", opt, value);
        return CRL_ERROR;
    }
    char *name = strndup(value, (size_t)(eq - value));
    if (!name)
        return CRL_ERROR;
    int kind = REC_PLACEHOLDER;
    if (strcmp(opt, "set") == 0 && crl_option_find(name, NULL))
        kind = REC_OPTION;
    record_t *r = add(name, eq + 1, file, line, kind);
    free(name);
    return r ? CRL_OK : CRL_ERROR;
}

/* Run one of the reader's own immediate options. */
static int run_immediate(source_t *src, const crl_option_t *opt, const char *value,
                         const char *file, unsigned line)
{
    const char *n = opt->name;
    if (strcmp(n, "ini") == 0 || strcmp(n, "yaml") == 0)
        return include(src, n, value, file, line);
    if (strcmp(n, "include") == 0)
        return include(src, NULL, value, file, line);
    if (strcmp(n, "xml") == 0 || strcmp(n, "json") == 0) {
        error_at(file, line, "option '%s' at %s: Corral does not read %s files; convert it to ini",
                 n, strcmp(n, "xml") == 0 ? "XML" : "JSON");
        return CRL_ERROR;
    }
    if (strcmp(n, "plugins") == 0 || strcmp(n, "need-plugin") == 0)
        return plugins_opt(value, file, line, n[0] == 'n');
    if (strcmp(n, "plugins-dir") == 0) {
        crl_plugin_add_dir(value);
        return CRL_OK;
    }
    if (strcmp(n, "set-placeholder") == 0 || strcmp(n, "set") == 0)
        return set_opt(n, value, file, line);
    if (strncmp(n, "if", 2) == 0)
        return logic_if(n, value);
    if (strncmp(n, "for", 3) == 0)
        return logic_for(n, value, file, line);
    if (strcmp(n, "else") == 0 || strcmp(n, "endif") == 0 || strcmp(n, "endfor") == 0)
        return CRL_OK; /* handled in on_record; reached inside a running block */
    if (crl_option_set(opt, &conf, value, file, line) != CRL_OK) {
        S.errors++;
        return CRL_ERROR;
    }
    return CRL_OK;
}

/* Store one record, or run it now when it is immediate. */
static int add_record(source_t *src, const char *key, const char *value, const char *file,
                      unsigned line)
{
    void *c = NULL;
    const crl_option_t *opt = crl_option_find(key, &c);

    if (!opt || !(opt->flags & CRL_OPTF_IMMEDIATE))
        return add(key, value, file, line, REC_OPTION) ? CRL_OK : CRL_ERROR;
    int is_set = strcmp(opt->name, "set") == 0 || strcmp(opt->name, "set-placeholder") == 0;
    if (!is_set && !add(key, value, file, line, REC_DONE))
        return CRL_ERROR;
    if (c == &conf)
        return run_immediate(src, opt, value, file, line);
    if (crl_option_set(opt, c, value, file, line) != CRL_OK)
        S.errors++;
    return CRL_OK;
}

/* Every record from every source comes here, in order. */
static int on_record(source_t *src, const char *key, const char *raw, const char *file,
                     unsigned line)
{
    char *value = src ? crl_expand_magic(raw, &src->magic) : strdup(raw);
    int rc = CRL_OK;

    if (!value)
        return CRL_ERROR;
    if (!S.logic.running && is_end(key)) {
        logic_reset();
    } else if (!S.logic.running && strcmp(key, "else") == 0) {
        int failed = S.logic.failed;
        logic_reset();
        S.logic.kind = LOGIC_ELSE;
        S.logic.failed = failed;
    } else if (!S.logic.running && S.logic.kind != LOGIC_NONE) {
        rc = logic_apply(src, key, value, file, line);
    } else {
        rc = add_record(src, key, value, file, line);
    }
    free(value);
    return rc == CRL_OK || S.errors ? CRL_OK : rc; /* keep reading to report every error */
}

/* ---- the option table ------------------------------------------------- */

static int no_parse(const crl_option_t *opt, void *field, const char *value, char *err,
                    size_t errlen)
{
    return CRL_OK;
}

static int print_parse(const crl_option_t *opt, void *field, const char *value, char *err,
                       size_t errlen)
{
    printf("%s\n", value);
    fflush(stdout);
    return CRL_OK;
}

#define IMM(n, a, s, h)                                                                        \
    { .name = n, .aliases = a, .short_name = s, .type = CRL_OPT_CUSTOM,                       \
      .flags = CRL_OPTF_IMMEDIATE, .help = h, .parse = no_parse }
#define LOGIC(n, a, h)                                                                         \
    { .name = n, .aliases = a, .type = CRL_OPT_CUSTOM,                                        \
      .flags = CRL_OPTF_IMMEDIATE | CRL_OPTF_OPTARG, .help = h, .parse = no_parse }
#define ACTION(n, s, field, h)                                                                 \
    { .name = n, .short_name = s, .type = CRL_OPT_BOOL, .flags = CRL_OPTF_IMMEDIATE,           \
      .offset = offsetof(__typeof__(conf), field), .def = "false", .help = h }

static const crl_option_t rows[] = {
    IMM("ini", NULL, 0, "read an ini file now (file[:section]; ':section' re-reads this file)"),
    IMM("yaml", "yml", 'y', "read a yaml file now (file[:section])"),
    IMM("include", NULL, 0, "read a config file now, its type chosen by extension"),
    IMM("xml", "xmlconfig", 'x', "not supported: convert XML configs to ini"),
    IMM("json", "js", 'j', "not supported: convert JSON configs to ini"),
    { .name = "strict", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_IMMEDIATE,
      .offset = offsetof(__typeof__(conf), strict), .def = "false",
      .help = "make unknown and unimplemented options errors instead of warnings" },
    IMM("set-placeholder", "set-ph", 0, "define placeholder name=value for %(name)"),
    IMM("set", NULL, 'S', "set name=value: an option when one has that name, else a placeholder"),
    IMM("plugins", "plugin", 0, "load plugins now (comma or blank separated names)"),
    IMM("plugins-dir", "plugin-dir", 0, "search this directory for plugins first"),
    IMM("need-plugin", NULL, 0, "load plugins now; a missing one is an error"),
    LOGIC("if-env", "ifenv", "keep the options up to endif when env VAR (or VAR=value) is set"),
    LOGIC("if-not-env", NULL, "keep the options up to endif when env VAR is not set"),
    LOGIC("if-exists", "ifexists", "keep the options up to endif when the path exists"),
    LOGIC("if-not-exists", NULL, "keep the options up to endif when the path does not exist"),
    LOGIC("if-file", NULL, "keep the options up to endif when the path is a file"),
    LOGIC("if-not-file", NULL, "keep the options up to endif unless the path is a file"),
    LOGIC("if-dir", "ifdir if-directory", "keep the options up to endif when the path is a dir"),
    LOGIC("if-not-dir", NULL, "keep the options up to endif unless the path is a directory"),
    LOGIC("if-opt", NULL, "keep the options up to endif when option NAME (or NAME=value) is set"),
    LOGIC("if-not-opt", NULL, "keep the options up to endif when option NAME is not set"),
    LOGIC("else", NULL, "keep the options up to endif when the previous if-* was false"),
    LOGIC("endif", "end-if end", "close an if-* block"),
    LOGIC("for", NULL, "repeat the options up to endfor for each blank-separated value"),
    LOGIC("for-glob", NULL, "repeat the options up to endfor for each path matching a glob"),
    LOGIC("for-readline", NULL, "repeat the options up to endfor for each line of a file"),
    LOGIC("for-times", NULL, "repeat the options up to endfor N times (%(_) = 1..N)"),
    LOGIC("endfor", "end-for", "close a for block"),
    ACTION("help", 'h', help, "print this help and exit"),
    ACTION("version", 0, version, "print the version and exit"),
    ACTION("show-config", 0, show_config, "print the resolved configuration as ini and exit"),
    ACTION("check-config", 0, check_config, "validate the configuration and exit"),
    { .name = "print", .type = CRL_OPT_CUSTOM, .help = "print the (expanded) value",
      .parse = print_parse },
    { .name = "autoload", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_NOOP,
      .offset = offsetof(__typeof__(conf), autoload),
      .help = "accepted for uWSGI compatibility: Corral always loads plugins for options" },
};

/* ---- command line ----------------------------------------------------- */

/* How many arguments an option takes: 'n' none, 'o' optional, 'r' one. */
static char arg_kind(const crl_option_t *opt, const crl__uwsgi_name_t *u)
{
    if (opt)
        return opt->type == CRL_OPT_BOOL ? 'n' : (opt->flags & CRL_OPTF_OPTARG) ? 'o' : 'r';
    return u ? u->arg : 'r';
}

/* The value of a bare option (no value given). */
static const char *bare_value(const crl_option_t *opt)
{
    return opt && opt->type == CRL_OPT_INT ? "1" : "";
}

static const char *ext_of(const char *path)
{
    const char *base = strrchr(path, '/');
    const char *dot = strrchr(base ? base : path, '.');
    return dot ? dot : "";
}

/* An optional value is taken from the next argument unless it looks like an
 * option or a config file. */
static int takes_next(const char *next)
{
    const char *e;
    if (!next || next[0] == '-')
        return 0;
    e = ext_of(next);
    return strcmp(e, ".ini") && strcmp(e, ".yaml") && strcmp(e, ".yml") && strcmp(e, ".py") &&
           strcmp(e, ".wsgi");
}

static void load_all_plugins(void)
{
    /* No option has this name, so every plugin on disk gets loaded. */
    crl_plugin_autoload_for_option(" all plugins ");
}

static void unknown_cli(const char *dash, const char *name)
{
    const char *s = crl_option_suggest(name);
    if (s)
        crl_log(CRL_LOG_ERR, 0, "unknown option '%s%s' on the command line; did you mean '--%s'?",
                dash, name, s);
    else
        crl_log(CRL_LOG_ERR, 0, "unknown option '%s%s' on the command line", dash, name);
    S.errors++;
}

/* --name[=value] [value]. Returns the number of extra argv entries used. */
static int cli_long(char *arg, char *next)
{
    char name[256];
    const char *value = NULL;
    char *eq = strchr(arg, '=');
    int ambiguous = 0, used = 0;

    snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
    if (eq)
        value = eq + 1;
    const crl_option_t *opt = crl_option_find(name, NULL);
    if (!opt && crl_plugin_autoload_for_option(name) == CRL_OK)
        opt = crl_option_find(name, NULL);
    const crl__uwsgi_name_t *u = opt ? NULL : crl__uwsgi_name_find(name);
    if (!opt && !u && (opt = crl_option_find_prefix(name, &ambiguous)))
        snprintf(name, sizeof(name), "%s", opt->name);
    if (!opt && !u) {
        if (ambiguous) {
            crl_log(CRL_LOG_ERR, 0, "option '--%s' on the command line is ambiguous", name);
            S.errors++;
        } else {
            unknown_cli("--", name);
        }
        return 0;
    }
    char kind = arg_kind(opt, u);
    if (!value && kind == 'r') {
        if (!next) {
            crl_log(CRL_LOG_ERR, 0, "option '--%s' on the command line needs a value", name);
            S.errors++;
            return 0;
        }
        value = next;
        used = 1;
    } else if (!value && kind == 'o' && takes_next(next)) {
        value = next;
        used = 1;
    }
    on_record(NULL, name, value ? value : bare_value(opt), CMDLINE, 0);
    return used;
}

/* -abc / -p4 / -p 4. Returns the number of extra argv entries used. */
static int cli_short(const char *arg, char *next)
{
    for (const char *p = arg; *p; p++) {
        const crl_option_t *opt = crl_option_find_short(*p, NULL);
        const crl__uwsgi_name_t *u = crl__uwsgi_short_find(*p);
        if (!opt && u && crl_plugin_autoload_for_option(u->name) == CRL_OK)
            opt = crl_option_find_short(*p, NULL);
        if (!opt) { /* a short flag only a Corral plugin defines */
            load_all_plugins();
            opt = crl_option_find_short(*p, NULL);
        }
        if (!opt && !u) {
            char flag[2] = { *p, 0 };
            unknown_cli("-", flag);
            return 0;
        }
        const char *name = opt ? opt->name : u->name;
        char kind = arg_kind(opt, u);
        if (kind == 'n' || (kind == 'o' && !p[1] && !takes_next(next))) {
            on_record(NULL, name, bare_value(opt), CMDLINE, 0);
            continue;
        }
        if (p[1]) {
            on_record(NULL, name, p + 1, CMDLINE, 0);
            return 0;
        }
        if (!next) {
            crl_log(CRL_LOG_ERR, 0, "option '-%c' on the command line needs a value", *p);
            S.errors++;
            return 0;
        }
        on_record(NULL, name, next, CMDLINE, 0);
        return 1;
    }
    return 0;
}

/* corral app.ini | app.yaml[:section] | app.py */
static void cli_positional(const char *arg)
{
    char *spec = strdup(arg), *section;
    if (!spec)
        return;
    split_section(spec, &section);
    const char *e = ext_of(spec);
    if (strcmp(e, ".ini") == 0 || strcmp(e, ".yaml") == 0 || strcmp(e, ".yml") == 0) {
        include(NULL, NULL, arg, CMDLINE, 0);
    } else if (strcmp(e, ".py") == 0 || strcmp(e, ".wsgi") == 0) {
        on_record(NULL, "wsgi-file", arg, CMDLINE, 0);
    } else if (strcmp(e, ".xml") == 0 || strcmp(e, ".json") == 0 || strcmp(e, ".js") == 0) {
        crl_log(CRL_LOG_ERR, 0, "Corral does not read %s config files (%s); convert it to ini",
                strcmp(e, ".xml") == 0 ? "XML" : "JSON", arg);
        S.errors++;
    } else {
        crl_log(CRL_LOG_ERR, 0,
                "unexpected argument '%s' on the command line (not an option, nor a .ini, "
                ".yaml or .py file)",
                arg);
        S.errors++;
    }
    free(spec);
}

static void read_cmdline(int argc, char **argv)
{
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (only_files || a[0] != '-' || a[1] == '\0')
            cli_positional(a);
        else if (strcmp(a, "--") == 0)
            only_files = 1;
        else if (a[1] == '-')
            i += cli_long(a + 2, next);
        else
            i += cli_short(a + 1, next);
    }
}

/* UWSGI_FOO_BAR=v -> foo-bar = v, before the command line. */
static void read_environment(char **envp)
{
    static const char *const skip[] = { "UWSGI_RELOADS", "UWSGI_ORIGINAL_PROC_NAME", NULL };
    for (char **e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, "UWSGI_", 6) != 0 || !eq || eq == *e + 6)
            continue;
        char var[256], key[256], file[300];
        snprintf(var, sizeof(var), "%.*s", (int)(eq - *e), *e);
        int skipped = 0;
        for (size_t i = 0; skip[i]; i++)
            skipped |= strcmp(var, skip[i]) == 0;
        if (skipped)
            continue;
        size_t n = 0;
        for (const char *p = var + 6; *p && n < sizeof(key) - 1; p++)
            key[n++] = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
        key[n] = '\0';
        snprintf(file, sizeof(file), "environment %s", var);
        on_record(NULL, key, eq + 1, intern(file), 0);
    }
}

/* ---- expansion passes ------------------------------------------------- */

static const char *env_lookup(void *ctx, const char *name)
{
    return getenv(name);
}

static const char *ph_lookup(void *ctx, const char *name)
{
    return first_value(name);
}

static void ph_ref(void *ctx, const char *name)
{
    for (size_t i = 0; i < S.nrefs; i++)
        if (strcmp(S.refs[i], name) == 0)
            return;
    char **v = realloc(S.refs, (S.nrefs + 1) * sizeof(*v));
    if (!v)
        return;
    S.refs = v;
    if ((v[S.nrefs] = strdup(name)))
        S.nrefs++;
}

static int referenced(const char *name)
{
    for (size_t i = 0; i < S.nrefs; i++)
        if (strcmp(S.refs[i], name) == 0)
            return 1;
    return 0;
}

static void replace_value(record_t *r, char *v)
{
    if (!v)
        return;
    free(r->value);
    r->value = v;
}

static void expand_env_and_files(void)
{
    char unset[256], err[512], w[PATH_MAX + 32];
    int failed;

    for (size_t i = 0; i < S.n; i++) {
        record_t *r = &S.recs[i];
        replace_value(r, crl_expand_env(r->value, env_lookup, NULL, unset, sizeof(unset)));
        if (unset[0]) {
            where(w, sizeof(w), r->file, r->line);
            crl_log(CRL_LOG_WARN, 0,
                    "option '%s' at %s uses environment variable '%s', which is not set; "
                    "left as written",
                    r->key, w, unset);
        }
    }
    for (size_t i = 0; i < S.n; i++) {
        record_t *r = &S.recs[i];
        char *v = crl_expand_files(r->value, crl_expand_read_file, NULL, &failed, err,
                                   sizeof(err));
        if (failed) {
            where(w, sizeof(w), r->file, r->line);
            crl_log(CRL_LOG_ERR, 0, "option '%s' at %s: %s", r->key, w, err);
            S.errors++;
        }
        replace_value(r, v);
    }
}

/* %(name): every value sees the others as they were before this pass. */
static void expand_placeholders(void)
{
    char **vals = calloc(S.n ? S.n : 1, sizeof(*vals));
    char w[PATH_MAX + 32];
    if (!vals)
        return;
    for (size_t i = 0; i < S.n; i++) {
        int deep = 0;
        vals[i] = crl_expand_placeholders(S.recs[i].value, ph_lookup, ph_ref, NULL, &deep);
        if (deep) {
            where(w, sizeof(w), S.recs[i].file, S.recs[i].line);
            crl_log(CRL_LOG_WARN, 0,
                    "option '%s' at %s: placeholders nest too deeply (a cycle?); left as written",
                    S.recs[i].key, w);
        }
    }
    for (size_t i = 0; i < S.n; i++)
        replace_value(&S.recs[i], vals[i]);
    free(vals);
}

/* ---- applying --------------------------------------------------------- */

static void apply_unknown(const record_t *r, const char *w)
{
    char msg[PATH_MAX + 512];
    if (crl_option_is_uwsgi_name(r->key)) {
        snprintf(msg, sizeof(msg), "option '%s' at %s is not implemented by Corral yet; ignored",
                 r->key, w);
        strict_warn(msg);
        return;
    }
    if (referenced(r->key))
        return; /* a custom variable used by %(...) */
    const char *s = crl_option_suggest(r->key);
    if (s)
        snprintf(msg, sizeof(msg), "unknown option '%s' at %s ignored; did you mean '%s'?",
                 r->key, w, s);
    else
        snprintf(msg, sizeof(msg), "unknown option '%s' at %s ignored", r->key, w);
    strict_warn(msg);
}

static void apply_one(const record_t *r)
{
    char w[PATH_MAX + 32];
    void *c = NULL;
    const crl_option_t *opt = crl_option_find(r->key, &c);

    if (!opt && crl_plugin_autoload_for_option(r->key) == CRL_OK)
        opt = crl_option_find(r->key, &c);
    where(w, sizeof(w), r->file, r->line);
    if (!opt) {
        apply_unknown(r, w);
        return;
    }
    if (opt->flags & CRL_OPTF_NOOP)
        return;
    if (opt->flags & CRL_OPTF_DEPRECATED)
        crl_log(CRL_LOG_INFO, 0, "note: option '%s' at %s is deprecated: %s", r->key, w,
                opt->help ? opt->help : "");
    if (crl_option_set(opt, c, r->value, r->file, r->line) != CRL_OK)
        S.errors++;
}

/* ---- entry points ----------------------------------------------------- */

/* Forget the records of a previous crl_config_load (the option values
 * already stored in the registry stay). */
static void reset(void)
{
    for (size_t i = 0; i < S.n; i++) {
        free(S.recs[i].key);
        free(S.recs[i].value);
    }
    S.n = 0;
    for (size_t i = 0; i < S.nrefs; i++)
        free(S.refs[i]);
    S.nrefs = 0;
    if (S.have_first)
        crl_magic_free(&S.first);
    S.have_first = 0;
    S.depth = 0;
    S.errors = 0;
    logic_reset();
    conf.strict = conf.help = conf.version = conf.show_config = conf.check_config = 0;
}

/* --help, --version, --show-config, --check-config. */
static int run_actions(crl_config_action_t *action)
{
    if (conf.help) {
        load_all_plugins();
        crl_option_print_help(stdout);
    } else if (conf.version) {
        printf("corral %s\n", CRL_VERSION);
        const crl_plugin_t *e;
        for (size_t i = 0; (e = crl_plugin_embedded_at(i)); i++)
            printf("%s%s", i ? " " : "built-in plugins: ", e->name);
        if (crl_plugin_embedded_at(0))
            printf("\n");
    } else if (conf.show_config && !S.errors) {
        crl_option_print_config(stdout, 0);
    } else if (conf.check_config && !S.errors) {
        printf("configuration OK\n");
    } else {
        return S.errors ? CRL_ERROR : CRL_OK;
    }
    fflush(stdout);
    *action = CRL_CONFIG_EXIT;
    return CRL_OK;
}

int crl_config_load(int argc, char **argv, char **envp, crl_config_action_t *action)
{
    *action = CRL_CONFIG_RUN;
    if (!S.registered) {
        if (crl_option_register("config", rows, sizeof(rows) / sizeof(rows[0]), &conf) != CRL_OK)
            return CRL_ERROR;
        S.registered = 1;
    }
    reset();
    if (!getcwd(S.cwd, sizeof(S.cwd)))
        snprintf(S.cwd, sizeof(S.cwd), ".");

    read_environment(envp);
    read_cmdline(argc, argv);
    logic_reset();
    if (conf.help || conf.version)
        return run_actions(action);

    expand_env_and_files();
    expand_placeholders();
    for (size_t i = 0; i < S.n; i++)
        if (S.recs[i].kind == REC_OPTION)
            apply_one(&S.recs[i]);
    return run_actions(action);
}

const char *crl_config_get(const char *name)
{
    return first_value(name);
}

void crl_config_foreach(crl_config_each_cb cb, void *ctx)
{
    for (size_t i = 0; i < S.n; i++)
        cb(ctx, S.recs[i].key, S.recs[i].value);
}
