/*
 * The ini loader plugin: turns a uWSGI ini file into (key, value, line)
 * records for the core, in file order. It knows no option.
 *
 * uWSGI's dialect, which real files rely on: the section is `uwsgi` unless
 * one is asked for and other sections are ignored; `key = value` is split at
 * the first '=' (never at ':'), key and value are trimmed, quotes are
 * literal, there are no escapes; lines starting with ';' or '#' are
 * comments, and a ';' or '#' preceded by a blank starts an inline comment;
 * a bare key (no '=') is a flag with value ""; an indented line is an
 * ordinary line; repeated keys are all emitted; a UTF-8 BOM is skipped and
 * CRLF line ends work.
 *
 * Debian's libinih is built with a 200-byte stack line buffer, ':' as a
 * second separator, indented lines as continuations, ';' as the only inline
 * comment, no bare keys and section names cut at 50 bytes, so it cannot be
 * given the raw file. Instead inih is driven through ini_parse_stream() with
 * our own reader: the reader reads the file itself with getline() (lines of
 * any length), counts physical lines, lexes each line by the rules above
 * into the context, and hands inih one short canonical line per physical
 * line:
 *
 *     "\n"       blank or comment line
 *     "[+]\n"    header of the requested section
 *     "[-]\n"    header of any other section
 *     "k=v\n"    a key; the real key and value are kept aside in the context
 *     "[\n"      a malformed line: inih reports it as an error on this line
 *
 * inih keeps the section state and calls the handler for the keys of the
 * current section; its line count is ours, and the handler runs while the
 * line the reader has just returned is current, so every record and the
 * first error carry the exact line. Real keys and values never pass through
 * inih's fixed-size buffer, so nothing is ever truncated.
 *
 * Invariants: no global or static mutable state (emit may re-enter
 * ini_load() for `ini = other.ini` or `ini = :section`); the reader stops
 * handing lines to inih after the first malformed line or failed emit, so
 * nothing is emitted after an error; key and value pointers given to emit
 * point into the reader's line buffer and live until the next line is read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

#include <corral/plugin.h>
#include <corral/result.h>

#define DEFAULT_SECTION "uwsgi"

typedef struct {
    FILE *fp;
    const char *path;
    const char *section; /* the section whose keys are emitted */
    crl_record_cb emit;
    void *emit_ctx;
    char *buf; /* getline() buffer: the current physical line */
    size_t cap;
    unsigned lineno; /* 1-based number of the current line */
    const char *key; /* lexed key and value of the current line */
    const char *value;
    const char *malformed; /* why the current line is malformed, or NULL */
    int read_errno;        /* set when reading the file failed */
    int emit_failed;
    int found; /* the requested section's header was seen */
    int stop;  /* hand inih no more lines */
} ini_ctx_t;

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static char *skip_space(char *s)
{
    while (is_space(*s))
        s++;
    return s;
}

static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        n--;
    s[n] = '\0';
}

/* Cut s at the first ';' or '#' that follows a blank (an inline comment),
 * then trim the end. A comment sign glued to text (`a#b`) is kept. */
static void strip_comment(char *s)
{
    for (char *p = s + 1; *p != '\0'; p++) {
        if ((*p == ';' || *p == '#') && is_blank(p[-1])) {
            *p = '\0';
            break;
        }
    }
    rtrim(s);
}

/* s: a comment-stripped line starting with '['. */
static const char *lex_section(ini_ctx_t *c, char *s)
{
    char *close = strchr(s + 1, ']');
    if (close == NULL) {
        c->malformed = "unterminated section header (no ']')";
        return "[\n";
    }
    *close = '\0';
    const char *rest = skip_space(close + 1);
    if (*rest != '\0' && *rest != ';' && *rest != '#') {
        c->malformed = "unexpected text after section header";
        return "[\n";
    }
    if (strcmp(s + 1, c->section) != 0)
        return "[-]\n";
    c->found = 1;
    return "[+]\n";
}

/* Lex one physical line (newline included) by uWSGI's rules, keeping the
 * key and value in c; returns the canonical line for inih. */
static const char *lex_line(ini_ctx_t *c, char *line)
{
    char *s = skip_space(line);

    if (*s == '\0' || *s == ';' || *s == '#')
        return "\n";
    strip_comment(s);
    if (*s == '[')
        return lex_section(c, s);

    char *eq = strchr(s, '=');
    c->key = s;
    c->value = "";
    if (eq == NULL)
        return "k=v\n"; /* a bare key: a flag */
    *eq = '\0';
    rtrim(s);
    if (*s == '\0') {
        c->malformed = "no key before '='";
        return "[\n";
    }
    c->value = skip_space(eq + 1);
    return "k=v\n";
}

/* ini_reader: one canonical line per physical line, NULL at the end. */
static char *read_line(char *str, int num, void *stream)
{
    ini_ctx_t *c = stream;

    if (c->stop || num < 5)
        return NULL;
    errno = 0;
    ssize_t n = getline(&c->buf, &c->cap, c->fp);
    if (n < 0) {
        if (ferror(c->fp))
            c->read_errno = errno != 0 ? errno : EIO;
        return NULL;
    }
    c->lineno++;
    char *line = c->buf;
    if (c->lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3;
    const char *canon = lex_line(c, line);
    if (c->malformed != NULL)
        c->stop = 1;
    snprintf(str, (size_t)num, "%s", canon);
    return str;
}

/* ini_handler: emit the current line's key if inih is in our section. The
 * name and value inih passes are the canonical "k" and "v". */
#if INI_HANDLER_LINENO
static int handle_key(void *user, const char *section, const char *name, const char *value,
                      int lineno)
#else
static int handle_key(void *user, const char *section, const char *name, const char *value)
#endif
{
    ini_ctx_t *c = user;

    if (strcmp(section, "+") != 0)
        return 1;
    if (c->emit(c->emit_ctx, c->key, c->value, c->lineno) != CRL_OK) {
        c->emit_failed = 1;
        c->stop = 1;
        return 0;
    }
    return 1;
}

/* fopen() for reading, refusing directories (which fopen() accepts). */
static FILE *open_config(const char *path, char *err, size_t errlen)
{
    struct stat st;
    FILE *fp = fopen(path, "re");

    if (fp == NULL) {
        set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        set_err(err, errlen, "cannot read %s: %s", path, strerror(EISDIR));
        fclose(fp);
        return NULL;
    }
    return fp;
}

static int ini_load(const char *path, const char *section, crl_record_cb emit, void *ctx,
                    char *err, size_t errlen)
{
    ini_ctx_t c = {
        .path = path,
        .section = (section != NULL && section[0] != '\0') ? section : DEFAULT_SECTION,
        .emit = emit,
        .emit_ctx = ctx,
    };
    int rc = CRL_ERROR;

    c.fp = open_config(path, err, errlen);
    if (c.fp == NULL)
        return CRL_ERROR;

    int bad = ini_parse_stream(read_line, &c, handle_key, &c);
    if (c.emit_failed) {
        set_err(err, errlen, "%s:%u: stopped at '%s'", path, c.lineno, c.key);
    } else if (c.read_errno != 0) {
        set_err(err, errlen, "cannot read %s: %s", path, strerror(c.read_errno));
    } else if (bad > 0) {
        set_err(err, errlen, "%s:%d: %s", path, bad,
                c.malformed != NULL ? c.malformed : "malformed line");
    } else if (bad < 0) {
        set_err(err, errlen, "cannot parse %s: out of memory", path);
    } else if (!c.found) {
        set_err(err, errlen, "no [%s] section in %s", c.section, path);
        rc = CRL_DECLINED;
    } else {
        rc = CRL_OK;
    }
    free(c.buf);
    fclose(c.fp);
    return rc;
}

static const char *const ini_extensions[] = { ".ini", NULL };

static const crl_loader_ops_t ini_ops = {
    .extensions = ini_extensions,
    .load = ini_load,
};

CRL_PLUGIN_DESCRIPTOR(ini) = {
    .abi = CRL_PLUGIN_ABI,
    .name = "ini",
    .loader = &ini_ops,
};
