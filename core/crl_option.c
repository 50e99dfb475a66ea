/*
 * The option registry: the tables every module registers, lookups by name,
 * alias and short flag, and one set of functions per option type that
 * parses, formats and validates values (so --help, --show-config and the
 * round-trip test come from the same code).
 *
 * Invariants: a name, alias or short flag belongs to at most one row of all
 * registered tables; tables and their rows live until exit; every string a
 * STRING or LIST field holds is owned by the registry (strdup'ed), and the
 * previous STRING value is freed when it is replaced. Messages name the
 * option and where the value came from ("app.ini:4", "command line").
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <corral/log.h>
#include <corral/result.h>

#include "crl_option.h"
#include "crl_uwsgi_names.h"

#define MAX_TABLES 64

typedef struct {
    const char *module;
    const crl_option_t *rows;
    size_t nrows;
    void *conf;
} table_t;

static table_t tables[MAX_TABLES];
static size_t ntables;

/* ---- lookups ---------------------------------------------------------- */

/* 1 when `name` is one of the space-separated words of `list`. */
static int word_in(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;

    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && len > 0 && memcmp(p, name, n) == 0)
            return 1;
        p = end;
    }
    return 0;
}

const crl_option_t *crl_option_find(const char *name, void **conf)
{
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; i < tables[t].nrows; i++) {
            const crl_option_t *o = &tables[t].rows[i];
            if (strcmp(o->name, name) == 0 || (o->aliases && word_in(o->aliases, name))) {
                if (conf)
                    *conf = tables[t].conf;
                return o;
            }
        }
    }
    return NULL;
}

const crl_option_t *crl_option_find_short(char c, void **conf)
{
    if (c == 0)
        return NULL;
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; i < tables[t].nrows; i++) {
            if (tables[t].rows[i].short_name == c) {
                if (conf)
                    *conf = tables[t].conf;
                return &tables[t].rows[i];
            }
        }
    }
    return NULL;
}

/* 1 when one of the words of `list` starts with prefix. */
static int word_prefix(const char *list, const char *prefix, size_t n)
{
    for (const char *p = list; p && *p;) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " ");
        if (len >= n && strncmp(p, prefix, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

const crl_option_t *crl_option_find_prefix(const char *prefix, int *ambiguous)
{
    const crl_option_t *found = NULL;
    size_t n = strlen(prefix);

    *ambiguous = 0;
    if (n == 0)
        return NULL;
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; i < tables[t].nrows; i++) {
            const crl_option_t *o = &tables[t].rows[i];
            if (strncmp(o->name, prefix, n) != 0 && !(o->aliases && word_prefix(o->aliases, prefix, n)))
                continue;
            if (found && found != o)
                *ambiguous = 1;
            found = o;
        }
    }
    return *ambiguous ? NULL : found;
}

/* ---- per-type parsing ------------------------------------------------- */

static int parse_bool(const char *value)
{
    static const char *const falsy[] = { "false", "off", "no", "0" };
    for (size_t i = 0; i < sizeof(falsy) / sizeof(falsy[0]); i++)
        if (strcasecmp(value, falsy[i]) == 0)
            return 0;
    return 1;
}

/* Parse a decimal integer the way uWSGI's atoi-based options accept it, but
 * say what was ignored. Returns CRL_OK (warn set when text was ignored) or
 * CRL_ERROR with err set. */
static int parse_long(const crl_option_t *opt, const char *value, long *out, char *err,
                      size_t errlen, char *warn, size_t warnlen)
{
    const char *p = value;
    char *end;

    while (*p == ' ' || *p == '\t')
        p++;
    if (!(isdigit((unsigned char)p[0]) ||
          ((p[0] == '-' || p[0] == '+') && isdigit((unsigned char)p[1])))) {
        snprintf(err, errlen, "expects a number, got '%s'", value);
        return CRL_ERROR;
    }
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno == ERANGE) {
        snprintf(err, errlen, "value '%s' is out of range", value);
        return CRL_ERROR;
    }
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0' && *end != ';' && *end != '#')
        snprintf(warn, warnlen, "ignores the text after the number in '%s'", value);

    if (opt->min != 0 || opt->max != 0) {
        if (v < opt->min) {
            snprintf(err, errlen, "must be at least %ld, got '%s'", opt->min, value);
            return CRL_ERROR;
        }
        if (v > opt->max) {
            if (!(opt->flags & CRL_OPTF_CLAMP)) {
                snprintf(err, errlen, "must be at most %ld, got '%s'", opt->max, value);
                return CRL_ERROR;
            }
            v = opt->max;
        }
    }
    *out = v;
    return CRL_OK;
}

static int parse_mode(const char *value, unsigned *out, char *err, size_t errlen)
{
    if (value[0] == '\0' || strcmp(value, "1") == 0) {
        *out = 0666;
        return CRL_OK;
    }
    if (strlen(value) == 3 && value[0] >= '0' && value[0] <= '7' && value[1] >= '0' &&
        value[1] <= '7' && value[2] >= '0' && value[2] <= '7') {
        *out = (unsigned)strtoul(value, NULL, 8);
        return CRL_OK;
    }
    snprintf(err, errlen, "expects three octal digits like 660, got '%s'", value);
    return CRL_ERROR;
}

static int list_append(crl_list_t *list, const char *value, const char *file, unsigned line)
{
    crl_list_item_t *items = realloc(list->items, (list->n + 1) * sizeof(*items));
    if (!items)
        return CRL_ERROR;
    list->items = items;
    char *v = strdup(value);
    if (!v)
        return CRL_ERROR;
    items[list->n].value = v;
    items[list->n].file = file;
    items[list->n].line = line;
    list->n++;
    return CRL_OK;
}

/* Convert value into the field. Returns CRL_OK (warn may be set) or
 * CRL_ERROR with err set. */
static int convert(const crl_option_t *opt, void *field, const char *value, const char *file,
                   unsigned line, char *err, size_t errlen, char *warn, size_t warnlen)
{
    switch (opt->type) {
    case CRL_OPT_BOOL:
        *(int *)field = parse_bool(value);
        return CRL_OK;
    case CRL_OPT_INT: {
        long v;
        if (parse_long(opt, value, &v, err, errlen, warn, warnlen) != CRL_OK)
            return CRL_ERROR;
        *(long *)field = v;
        return CRL_OK;
    }
    case CRL_OPT_STRING: {
        char *s = strdup(value);
        if (!s) {
            snprintf(err, errlen, "out of memory");
            return CRL_ERROR;
        }
        free(*(char **)field);
        *(char **)field = s;
        return CRL_OK;
    }
    case CRL_OPT_LIST:
        if (list_append(field, value, file, line) != CRL_OK) {
            snprintf(err, errlen, "out of memory");
            return CRL_ERROR;
        }
        return CRL_OK;
    case CRL_OPT_MODE:
        return parse_mode(value, field, err, errlen);
    case CRL_OPT_CUSTOM:
        if (!opt->parse) {
            snprintf(err, errlen, "has no parser");
            return CRL_ERROR;
        }
        return opt->parse(opt, field, value, err, errlen) == CRL_OK ? CRL_OK : CRL_ERROR;
    }
    snprintf(err, errlen, "has an unknown type");
    return CRL_ERROR;
}

/* "app.ini:4", "command line", "environment UWSGI_X". */
static void format_where(char *buf, size_t len, const char *file, unsigned line)
{
    if (!file)
        file = "command line";
    if (line)
        snprintf(buf, len, "%s:%u", file, line);
    else
        snprintf(buf, len, "%s", file);
}

const char *crl_option_where(const char *file, unsigned line)
{
    static __thread char buf[512];
    format_where(buf, sizeof(buf), file, line);
    return buf;
}

int crl_option_set(const crl_option_t *opt, void *conf, const char *value, const char *file,
                   unsigned line)
{
    char err[512] = "", warn[512] = "", where[512];
    void *field = (char *)conf + opt->offset;

    format_where(where, sizeof(where), file, line);
    if (convert(opt, field, value ? value : "", file ? file : "command line", line, err,
                sizeof(err), warn, sizeof(warn)) != CRL_OK) {
        crl_log(CRL_LOG_ERR, 0, "option '%s' at %s %s", opt->name, where, err);
        return CRL_ERROR;
    }
    if (warn[0])
        crl_log(CRL_LOG_WARN, 0, "option '%s' at %s %s", opt->name, where, warn);
    if (opt->type == CRL_OPT_BOOL && value && *(int *)field) {
        /* uWSGI compares the whole value: "false ; comment" is true. */
        static const char *const falsy[] = { "false", "off", "no", "0" };
        for (size_t i = 0; i < 4; i++) {
            size_t n = strlen(falsy[i]);
            if (strncasecmp(value, falsy[i], n) == 0 && (value[n] == ' ' || value[n] == '\t')) {
                crl_log(CRL_LOG_WARN, 0,
                        "option '%s' at %s is true: '%s' is not exactly '%s' (as in uWSGI)",
                        opt->name, where, value, falsy[i]);
                break;
            }
        }
    }
    return CRL_OK;
}

/* ---- registration ----------------------------------------------------- */

static int name_taken(const crl_option_t *o)
{
    if (crl_option_find(o->name, NULL) || crl_option_find_short(o->short_name, NULL)) {
        crl_log(CRL_LOG_ERR, 0, "option '%s' (or its short flag) is registered twice", o->name);
        return 1;
    }
    const char *p = o->aliases;
    while (p && *p) {
        char word[128];
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == 0)
            break;
        snprintf(word, sizeof(word), "%.*s", (int)len, p);
        if (crl_option_find(word, NULL)) {
            crl_log(CRL_LOG_ERR, 0, "alias '%s' of option '%s' is registered twice", word,
                    o->name);
            return 1;
        }
        p += len;
    }
    return 0;
}

static int apply_default(const crl_option_t *o, void *conf)
{
    char err[256] = "", warn[256] = "";
    if (!o->def || (o->type == CRL_OPT_CUSTOM && !o->parse))
        return CRL_OK;
    if (convert(o, (char *)conf + o->offset, o->def, "default", 0, err, sizeof(err), warn,
                sizeof(warn)) != CRL_OK) {
        crl_log(CRL_LOG_ERR, 0, "default of option '%s' %s", o->name, err);
        return CRL_ERROR;
    }
    return CRL_OK;
}

int crl_option_register(const char *module, const crl_option_t *rows, size_t nrows, void *conf)
{
    if (ntables == MAX_TABLES) {
        crl_log(CRL_LOG_ERR, 0, "too many option tables (registering %s)", module);
        return CRL_ERROR;
    }
    for (size_t i = 0; i < nrows; i++) {
        if (name_taken(&rows[i]))
            return CRL_ERROR;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(rows[i].name, rows[j].name) == 0 ||
                (rows[i].short_name && rows[i].short_name == rows[j].short_name)) {
                crl_log(CRL_LOG_ERR, 0, "option '%s' appears twice in table %s", rows[i].name,
                        module);
                return CRL_ERROR;
            }
        }
    }
    for (size_t i = 0; i < nrows; i++)
        if (conf && apply_default(&rows[i], conf) != CRL_OK)
            return CRL_ERROR;
    tables[ntables++] = (table_t){ module, rows, nrows, conf };
    return CRL_OK;
}

/* ---- printing --------------------------------------------------------- */

static const char *type_name(const crl_option_t *o)
{
    switch (o->type) {
    case CRL_OPT_BOOL:
        return "flag";
    case CRL_OPT_INT:
        return "number";
    case CRL_OPT_STRING:
        return "string";
    case CRL_OPT_LIST:
        return "list, repeatable";
    case CRL_OPT_MODE:
        return "mode";
    case CRL_OPT_CUSTOM:
        return "value";
    }
    return "?";
}

void crl_option_print_help(FILE *out)
{
    fprintf(out, "Usage: corral [options...] [config.ini|config.yaml|app.py]\n");
    for (size_t t = 0; t < ntables; t++) {
        fprintf(out, "\n%s options:\n", tables[t].module);
        for (size_t i = 0; i < tables[t].nrows; i++) {
            const crl_option_t *o = &tables[t].rows[i];
            char flags[160];
            if (o->short_name)
                snprintf(flags, sizeof(flags), "-%c, --%s", o->short_name, o->name);
            else
                snprintf(flags, sizeof(flags), "    --%s", o->name);
            fprintf(out, "  %-32s %s (%s", flags, o->help ? o->help : "", type_name(o));
            if (o->def && o->def[0])
                fprintf(out, ", default %s", o->def);
            if (o->aliases)
                fprintf(out, "; also %s", o->aliases);
            if (o->flags & CRL_OPTF_NOOP)
                fprintf(out, "; accepted, no effect");
            if (o->flags & CRL_OPTF_DEPRECATED)
                fprintf(out, "; deprecated");
            fprintf(out, ")\n");
        }
    }
}

/* Print one option's current value as ini lines; `def` compares with the
 * default (skip when equal unless all). */
static void print_scalar(FILE *out, const crl_option_t *o, const char *value, const char *def,
                         int all)
{
    if (!all && def && strcmp(value, def) == 0)
        return;
    if (!all && !def && value[0] == '\0' && o->type == CRL_OPT_STRING)
        return;
    fprintf(out, "%s = %s\n", o->name, (o->flags & CRL_OPTF_SENSITIVE) ? "********" : value);
}

/* The default as the printer would format it (parsed then formatted). */
static void format_value(const crl_option_t *o, const void *field, char *buf, size_t len)
{
    switch (o->type) {
    case CRL_OPT_BOOL:
        snprintf(buf, len, "%s", *(const int *)field ? "true" : "false");
        break;
    case CRL_OPT_INT:
        snprintf(buf, len, "%ld", *(const long *)field);
        break;
    case CRL_OPT_MODE:
        if (*(const unsigned *)field)
            snprintf(buf, len, "%03o", *(const unsigned *)field);
        else
            buf[0] = '\0';
        break;
    case CRL_OPT_STRING: {
        const char *s = *(char *const *)field;
        snprintf(buf, len, "%s", s ? s : "");
        break;
    }
    default:
        buf[0] = '\0';
    }
}

static void print_option(FILE *out, const crl_option_t *o, const void *conf, int all)
{
    const void *field = (const char *)conf + o->offset;
    char value[4096], def[4096];
    union {
        int b;
        long l;
        unsigned m;
        char *s;
    } tmp = { 0 };

    if (o->type == CRL_OPT_LIST) {
        const crl_list_t *l = field;
        for (size_t i = 0; i < l->n; i++)
            fprintf(out, "%s = %s\n", o->name,
                    (o->flags & CRL_OPTF_SENSITIVE) ? "********" : l->items[i].value);
        return;
    }
    format_value(o, field, value, sizeof(value));
    if (o->def && o->type != CRL_OPT_STRING) {
        char e[64], w[64];
        convert(o, &tmp, o->def, "default", 0, e, sizeof(e), w, sizeof(w));
        format_value(o, &tmp, def, sizeof(def));
        print_scalar(out, o, value, def, all);
    } else if (o->type == CRL_OPT_STRING) {
        print_scalar(out, o, value, o->def ? o->def : NULL, all);
    } else {
        format_value(o, &tmp, def, sizeof(def)); /* zero value */
        print_scalar(out, o, value, def, all);
    }
}

void crl_option_print_config(FILE *out, int all)
{
    fprintf(out, "[uwsgi]\n");
    for (size_t t = 0; t < ntables; t++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        if (!tables[t].conf || !mem) {
            if (mem)
                fclose(mem);
            free(buf);
            continue;
        }
        for (size_t i = 0; i < tables[t].nrows; i++) {
            const crl_option_t *o = &tables[t].rows[i];
            /* Immediate options were done while reading (their effect is
             * what is printed); custom ones have no printer. */
            if (o->flags & (CRL_OPTF_IMMEDIATE | CRL_OPTF_NOOP) || o->type == CRL_OPT_CUSTOM)
                continue;
            print_option(mem, o, tables[t].conf, all);
        }
        fclose(mem);
        if (len > 0) /* a module with nothing to say gets no header */
            fprintf(out, "; %s\n%s", tables[t].module, buf);
        free(buf);
    }
}

/* ---- uWSGI names and suggestions -------------------------------------- */

int crl_option_is_uwsgi_name(const char *name)
{
    return crl__uwsgi_name_find(name) != NULL;
}

/* Optimal string alignment distance (Damerau-Levenshtein without repeated
 * edits of a substring), capped: returns cap+1 once it must exceed cap. */
static size_t edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;

    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

static void consider(const char *name, const char *cand, size_t cap, const char **best,
                     size_t *bestd)
{
    size_t d = edit_distance(name, cand, cap);
    if (d <= cap && d < *bestd && strcmp(name, cand) != 0) {
        *best = cand;
        *bestd = d;
    }
}

const char *crl_option_suggest(const char *name)
{
    size_t len = strlen(name);
    size_t cap = len <= 4 ? 1 : len <= 12 ? 2 : 3;
    const char *best = NULL;
    size_t bestd = SIZE_MAX;

    /* Registered names first so that, at equal distance, what Corral
     * implements wins. */
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].nrows; i++)
            consider(name, tables[t].rows[i].name, cap, &best, &bestd);
    for (size_t i = 0; i < crl__uwsgi_nnames; i++)
        consider(name, crl__uwsgi_names[i].name, cap, &best, &bestd);
    return best;
}
