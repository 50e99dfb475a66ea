/*
 * The yaml loader plugin: turns a uWSGI yaml file into (key, value, line)
 * records for the core, in file order, with libyaml's event API. It knows
 * no option.
 *
 * The first document must be a mapping; its key equal to the section
 * (`uwsgi` unless one is asked for) holds a mapping of options, other keys
 * are skipped whatever they hold. Inside it:
 *
 *     key: scalar          one record (quotes removed as YAML says)
 *     key: [a, b]          one record per item, in order (also as a block
 *                          sequence); each item carries its own line
 *     key:   / key: ~      one record with value "" (a flag); also `null`
 *     key: *anchor         the anchored scalar's value
 *
 * Duplicate keys are all emitted (real configs repeat keys for list
 * options). A mapping as a value, a list inside a list, an alias that does
 * not name an earlier anchored scalar, or a top level that is not a mapping
 * is an error naming FILE:LINE; a syntax error gives libyaml's problem text
 * and line. No such section -> CRL_DECLINED. Only the first document is
 * read: later ones are neither parsed nor validated (a warning says so).
 *
 * Invariants: no global or static mutable state (emit may re-enter
 * yaml_load() for an include); one parser, one current event and the anchor
 * table live in the per-call context; the current event is deleted before
 * the next one is parsed and once more at the end, so nothing leaks on any
 * path. Lines are 1-based (libyaml marks are 0-based).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include <corral/log.h>
#include <corral/plugin.h>
#include <corral/result.h>

#define DEFAULT_SECTION "uwsgi"

typedef struct {
    char *name;
    char *value;
} anchor_t;

typedef struct {
    yaml_parser_t parser;
    FILE *fp;
    yaml_event_t ev; /* the current event, valid when has_event */
    int has_event;
    const char *path;
    const char *section;
    crl_record_cb emit;
    void *emit_ctx;
    char *err;
    size_t errlen;
    anchor_t *anchors; /* anchored scalars seen so far, in order */
    size_t nanchors, anchors_cap;
    char *key; /* copy of the current option name */
    size_t key_cap;
} yaml_ctx_t;

static void set_err(yaml_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(yaml_ctx_t *c, const char *fmt, ...)
{
    if (c->err == NULL || c->errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
}

static unsigned ev_line(const yaml_ctx_t *c)
{
    return (unsigned)c->ev.start_mark.line + 1;
}

/* The 1-based line holding byte `offset` of the file (libyaml gives only
 * an offset for input errors such as invalid UTF-8, found while it reads
 * ahead of the scanner). */
static size_t line_at_offset(yaml_ctx_t *c, size_t offset)
{
    size_t line = 1;
    int ch;

    if (fseek(c->fp, 0, SEEK_SET) != 0)
        return line;
    for (size_t i = 0; i < offset && (ch = getc(c->fp)) != EOF; i++)
        line += ch == '\n';
    return line;
}

static int syntax_error(yaml_ctx_t *c)
{
    const yaml_parser_t *p = &c->parser;

    if (p->error == YAML_MEMORY_ERROR) {
        set_err(c, "cannot parse %s: out of memory", c->path);
    } else if (p->error == YAML_READER_ERROR) {
        set_err(c, "%s:%zu: %s", c->path, line_at_offset(c, p->problem_offset),
                p->problem != NULL ? p->problem : "cannot read input");
    } else if (p->context != NULL) {
        set_err(c, "%s:%zu: %s (%s at line %zu)", c->path, p->problem_mark.line + 1,
                p->problem != NULL ? p->problem : "syntax error", p->context,
                p->context_mark.line + 1);
    } else {
        set_err(c, "%s:%zu: %s", c->path, p->problem_mark.line + 1,
                p->problem != NULL ? p->problem : "syntax error");
    }
    return CRL_ERROR;
}

/* Remember an anchored scalar so that later aliases can be resolved. */
static int keep_anchor(yaml_ctx_t *c)
{
    const char *name = (const char *)c->ev.data.scalar.anchor;
    const char *value = (const char *)c->ev.data.scalar.value;

    if (c->nanchors == c->anchors_cap) {
        size_t cap = c->anchors_cap != 0 ? c->anchors_cap * 2 : 8;
        anchor_t *a = realloc(c->anchors, cap * sizeof(*a));
        if (a == NULL)
            goto oom;
        c->anchors = a;
        c->anchors_cap = cap;
    }
    anchor_t *a = &c->anchors[c->nanchors];
    a->name = strdup(name);
    a->value = strdup(value);
    if (a->name == NULL || a->value == NULL) {
        free(a->name);
        free(a->value);
        goto oom;
    }
    c->nanchors++;
    return CRL_OK;
oom:
    set_err(c, "cannot parse %s: out of memory", c->path);
    return CRL_ERROR;
}

/* Make the next event current. Anchored scalars are recorded here, so that
 * anchors in skipped parts of the file can be used in the section too. */
static int next_event(yaml_ctx_t *c)
{
    if (c->has_event) {
        yaml_event_delete(&c->ev);
        c->has_event = 0;
    }
    if (!yaml_parser_parse(&c->parser, &c->ev))
        return syntax_error(c);
    c->has_event = 1;
    if (c->ev.type == YAML_SCALAR_EVENT && c->ev.data.scalar.anchor != NULL)
        return keep_anchor(c);
    return CRL_OK;
}

/* The value of the current alias event, or NULL (error set) if it names no
 * anchored scalar. The latest definition of a name wins, as in YAML. */
static const char *resolve_alias(yaml_ctx_t *c)
{
    const char *name = (const char *)c->ev.data.alias.anchor;

    for (size_t i = c->nanchors; i > 0; i--) {
        if (strcmp(c->anchors[i - 1].name, name) == 0)
            return c->anchors[i - 1].value;
    }
    set_err(c, "%s:%u: cannot resolve alias '*%s' (only aliases of earlier scalars are supported)",
            c->path, ev_line(c), name);
    return NULL;
}

/* 1 when the current scalar event is YAML's null: untagged, unquoted and
 * empty, ~ or null. */
static int is_null_scalar(const yaml_ctx_t *c)
{
    const char *v = (const char *)c->ev.data.scalar.value;

    if (c->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE || c->ev.data.scalar.tag != NULL)
        return 0;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* The text of the current scalar or alias event as an option value, or NULL
 * (error set) for anything else; `what` names it in the error. */
static const char *scalar_value(yaml_ctx_t *c, const char *what)
{
    if (c->ev.type == YAML_ALIAS_EVENT)
        return resolve_alias(c);
    if (c->ev.type == YAML_SCALAR_EVENT)
        return is_null_scalar(c) ? "" : (const char *)c->ev.data.scalar.value;
    set_err(c, "%s:%u: %s '%s' is a %s; expected a scalar", c->path, ev_line(c), what, c->key,
            c->ev.type == YAML_MAPPING_START_EVENT ? "mapping" : "list");
    return NULL;
}

static int emit_value(yaml_ctx_t *c, const char *value, unsigned line)
{
    if (c->emit(c->emit_ctx, c->key, value, line) != CRL_OK) {
        set_err(c, "%s:%u: stopped at '%s'", c->path, line, c->key);
        return CRL_ERROR;
    }
    return CRL_OK;
}

/* The current event starts the value of option c->key: emit it. */
static int read_option_value(yaml_ctx_t *c, unsigned key_line)
{
    if (c->ev.type == YAML_MAPPING_START_EVENT) {
        set_err(c, "%s:%u: the value of '%s' is a mapping; expected a scalar or a list", c->path,
                key_line, c->key);
        return CRL_ERROR;
    }
    if (c->ev.type != YAML_SEQUENCE_START_EVENT) {
        const char *value = scalar_value(c, "the value of");
        return value != NULL ? emit_value(c, value, key_line) : CRL_ERROR;
    }
    for (;;) {
        if (next_event(c) != CRL_OK)
            return CRL_ERROR;
        if (c->ev.type == YAML_SEQUENCE_END_EVENT)
            return CRL_OK;
        const char *value = scalar_value(c, "an item of");
        if (value == NULL || emit_value(c, value, ev_line(c)) != CRL_OK)
            return CRL_ERROR;
    }
}

static int copy_key(yaml_ctx_t *c, const char *key)
{
    size_t len = strlen(key) + 1;

    if (len > c->key_cap) {
        char *k = realloc(c->key, len);
        if (k == NULL) {
            set_err(c, "cannot parse %s: out of memory", c->path);
            return CRL_ERROR;
        }
        c->key = k;
        c->key_cap = len;
    }
    memcpy(c->key, key, len);
    return CRL_OK;
}

/* The current event starts the value of the section key. */
static int read_section(yaml_ctx_t *c)
{
    if (c->ev.type == YAML_SCALAR_EVENT && is_null_scalar(c))
        return CRL_OK; /* `uwsgi:` with nothing under it */
    if (c->ev.type != YAML_MAPPING_START_EVENT) {
        set_err(c, "%s:%u: '%s' must be a mapping of options", c->path, ev_line(c), c->section);
        return CRL_ERROR;
    }
    for (;;) {
        if (next_event(c) != CRL_OK)
            return CRL_ERROR;
        if (c->ev.type == YAML_MAPPING_END_EVENT)
            return CRL_OK;
        unsigned key_line = ev_line(c);
        const char *key = NULL;
        if (c->ev.type == YAML_SCALAR_EVENT)
            key = (const char *)c->ev.data.scalar.value;
        else if (c->ev.type == YAML_ALIAS_EVENT)
            key = resolve_alias(c);
        else
            set_err(c, "%s:%u: an option name must be a scalar", c->path, key_line);
        if (key == NULL || copy_key(c, key) != CRL_OK)
            return CRL_ERROR;
        if (next_event(c) != CRL_OK || read_option_value(c, key_line) != CRL_OK)
            return CRL_ERROR;
    }
}

/* Skip the node the current event starts (whatever it holds). */
static int skip_node(yaml_ctx_t *c)
{
    size_t depth = 0;

    do {
        if (c->ev.type == YAML_SEQUENCE_START_EVENT || c->ev.type == YAML_MAPPING_START_EVENT)
            depth++;
        else if (c->ev.type == YAML_SEQUENCE_END_EVENT || c->ev.type == YAML_MAPPING_END_EVENT)
            depth--;
        if (depth > 0 && next_event(c) != CRL_OK)
            return CRL_ERROR;
    } while (depth > 0);
    return CRL_OK;
}

/* The current event starts the top-level mapping; *found is set when the
 * section key is seen. */
static int read_top(yaml_ctx_t *c, int *found)
{
    for (;;) {
        if (next_event(c) != CRL_OK)
            return CRL_ERROR;
        if (c->ev.type == YAML_MAPPING_END_EVENT)
            return CRL_OK;
        int is_section = c->ev.type == YAML_SCALAR_EVENT &&
                         strcmp((const char *)c->ev.data.scalar.value, c->section) == 0;
        if (skip_node(c) != CRL_OK || next_event(c) != CRL_OK)
            return CRL_ERROR;
        if (!is_section) {
            if (skip_node(c) != CRL_OK)
                return CRL_ERROR;
            continue;
        }
        *found = 1;
        if (read_section(c) != CRL_OK)
            return CRL_ERROR;
    }
}

/* Warn when the file holds more documents than the one read. Errors in the
 * rest of the file are none of our business, so err is left alone. */
static void check_more_documents(yaml_ctx_t *c)
{
    yaml_event_t ev;

    if (!yaml_parser_parse(&c->parser, &ev))
        return;
    if (ev.type == YAML_DOCUMENT_START_EVENT)
        crl_log(CRL_LOG_WARN, 0, "%s:%zu: only the first yaml document is read", c->path,
                ev.start_mark.line + 1);
    yaml_event_delete(&ev);
}

/* Read the first document; CRL_OK, CRL_DECLINED or CRL_ERROR. */
static int read_document(yaml_ctx_t *c)
{
    int found = 0;

    /* stream start, then document start or stream end */
    if (next_event(c) != CRL_OK || next_event(c) != CRL_OK)
        return CRL_ERROR;
    if (c->ev.type == YAML_STREAM_END_EVENT)
        goto none; /* an empty file */
    if (next_event(c) != CRL_OK) /* the root node */
        return CRL_ERROR;
    if (c->ev.type == YAML_SCALAR_EVENT && is_null_scalar(c))
        goto none; /* an empty document */
    if (c->ev.type != YAML_MAPPING_START_EVENT) {
        set_err(c, "%s:%u: the top level is not a mapping", c->path, ev_line(c));
        return CRL_ERROR;
    }
    if (read_top(c, &found) != CRL_OK)
        return CRL_ERROR;
    if (next_event(c) != CRL_OK) /* document end */
        return CRL_ERROR;
    check_more_documents(c);
    if (found)
        return CRL_OK;
none:
    set_err(c, "no '%s' section in %s", c->section, c->path);
    return CRL_DECLINED;
}

/* fopen() for reading, refusing directories (which fopen() accepts). */
static FILE *open_config(yaml_ctx_t *c)
{
    struct stat st;
    FILE *fp = fopen(c->path, "re");

    if (fp == NULL) {
        set_err(c, "cannot open %s: %s", c->path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        set_err(c, "cannot read %s: %s", c->path, strerror(EISDIR));
        fclose(fp);
        return NULL;
    }
    return fp;
}

static int yaml_load(const char *path, const char *section, crl_record_cb emit, void *ctx,
                     char *err, size_t errlen)
{
    yaml_ctx_t c = {
        .path = path,
        .section = (section != NULL && section[0] != '\0') ? section : DEFAULT_SECTION,
        .emit = emit,
        .emit_ctx = ctx,
        .err = err,
        .errlen = errlen,
    };
    int rc = CRL_ERROR;
    FILE *fp = open_config(&c);

    if (fp == NULL)
        return CRL_ERROR;
    c.fp = fp;
    if (!yaml_parser_initialize(&c.parser)) {
        set_err(&c, "cannot parse %s: out of memory", path);
        goto out;
    }
    yaml_parser_set_input_file(&c.parser, fp);
    rc = read_document(&c);
    if (c.has_event)
        yaml_event_delete(&c.ev);
    yaml_parser_delete(&c.parser);
out:
    for (size_t i = 0; i < c.nanchors; i++) {
        free(c.anchors[i].name);
        free(c.anchors[i].value);
    }
    free(c.anchors);
    free(c.key);
    fclose(fp);
    return rc;
}

static const char *const yaml_extensions[] = { ".yaml", ".yml", NULL };

static const crl_loader_ops_t yaml_ops = {
    .extensions = yaml_extensions,
    .load = yaml_load,
};

CRL_PLUGIN_DESCRIPTOR(yaml) = {
    .abi = CRL_PLUGIN_ABI,
    .name = "yaml",
    .aliases = "yml",
    .loader = &yaml_ops,
};
