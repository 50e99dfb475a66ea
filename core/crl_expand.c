/*
 * Expansion of configuration values: magic variables (%d, %k, ...), $(ENV),
 * @(file) and %(placeholder) with math. Pure string functions: no logging,
 * no globals; lookups and file reads go through callbacks. Each function
 * builds its result in a growable buffer and returns it malloc'ed (NULL only
 * when out of memory), so a caller never sees a half-expanded string.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "crl_expand.h"

#ifndef CRL_VERSION
#define CRL_VERSION "0.0.0"
#endif

#define MAX_FILE_CONTENT (1024 * 1024)

/* ---- growable buffer ---------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} buf_t;

static void buf_add(buf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* The result, or NULL (freeing what was built) when memory ran out. */
static char *buf_done(buf_t *b)
{
    if (!b->oom && !b->p)
        buf_add(b, "", 0);
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

/* ---- magic variables ---------------------------------------------------- */

static int set(crl_magic_t *m, int c, const char *s, size_t n)
{
    free(m->v[c]);
    m->v[c] = strndup(s, n);
    return m->v[c] ? 0 : -1;
}

static int setf(crl_magic_t *m, int c, const char *fmt, long long v)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), fmt, v);
    return set(m, c, tmp, strlen(tmp));
}

/* %d %s %n %e %c %p %0..%9 from the absolute path. */
static int fill_path(crl_magic_t *m, const char *given, const char *abs)
{
    const char *slash = strrchr(abs, '/');
    const char *base = slash ? slash + 1 : abs;
    size_t dirlen = slash ? (size_t)(slash - abs) + 1 : 0;
    int rc = 0;

    rc |= set(m, 'o', given, strlen(given));
    rc |= set(m, 'p', abs, strlen(abs));
    rc |= set(m, 's', base, strlen(base));
    rc |= set(m, 'd', abs, dirlen);
    const char *dot = strrchr(base, '.');
    rc |= set(m, 'e', dot ? dot + 1 : "", dot ? strlen(dot + 1) : 0);
    rc |= set(m, 'n', base, dot ? (size_t)(dot - base) : strlen(base));

    /* %c: the name of the file's directory; %0..%9: its components. */
    const char *p = abs;
    int idx = 0;
    const char *last = "";
    size_t lastlen = 0;
    while (p < abs + dirlen) {
        while (p < abs + dirlen && *p == '/')
            p++;
        const char *e = p;
        while (e < abs + dirlen && *e != '/')
            e++;
        if (e > p) {
            if (idx < 10)
                rc |= set(m, '0' + idx, p, (size_t)(e - p));
            idx++;
            last = p;
            lastlen = (size_t)(e - p);
        }
        p = e;
    }
    rc |= set(m, 'c', last, lastlen);
    return rc;
}

static int fill_process(crl_magic_t *m, const char *cwd)
{
    char host[256] = "";
    struct timeval tv;
    int rc = 0;

    gethostname(host, sizeof(host) - 1);
    gettimeofday(&tv, NULL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    rc |= setf(m, 'k', "%lld", ncpu > 0 ? ncpu : 1);
    rc |= set(m, 'h', host, strlen(host));
    rc |= set(m, 'v', cwd, strlen(cwd));
    rc |= setf(m, 'u', "%lld", (long long)getuid());
    rc |= setf(m, 'g', "%lld", (long long)getgid());
    struct passwd *pw = getpwuid(getuid());
    struct group *gr = getgrgid(getgid());
    rc |= set(m, 'U', pw ? pw->pw_name : "", pw ? strlen(pw->pw_name) : 0);
    rc |= set(m, 'G', gr ? gr->gr_name : "", gr ? strlen(gr->gr_name) : 0);
    rc |= setf(m, 't', "%lld", (long long)tv.tv_sec);
    rc |= setf(m, 'T', "%lld", (long long)tv.tv_sec * 1000000 + tv.tv_usec);
    rc |= set(m, 'V', CRL_VERSION, strlen(CRL_VERSION));
    return rc;
}

int crl_magic_fill(crl_magic_t *m, const char *given, const char *section, const char *cwd,
                   const crl_magic_t *first)
{
    char resolved[PATH_MAX];
    char *abs = NULL;
    int rc = 0;

    memset(m, 0, sizeof(*m));
    if (given[0] == '/') {
        abs = strdup(given);
    } else if (realpath(given, resolved)) {
        abs = strdup(resolved);
    } else {
        size_t n = strlen(cwd) + strlen(given) + 2;
        abs = malloc(n);
        if (abs)
            snprintf(abs, n, "%s/%s", cwd, given);
    }
    if (!abs)
        return -1;
    rc |= fill_path(m, given, abs);
    free(abs);
    rc |= set(m, 'x', section ? section : "", section ? strlen(section) : 0);
    rc |= fill_process(m, cwd);

    /* Uppercase: the same values for the first config file. */
    static const char upper[] = "opsdnecx";
    const crl_magic_t *src = first ? first : m;
    for (const char *c = upper; *c; c++) {
        const char *v = src->v[(int)*c];
        rc |= set(m, toupper((unsigned char)*c), v ? v : "", v ? strlen(v) : 0);
    }
    return rc ? -1 : 0;
}

void crl_magic_free(crl_magic_t *m)
{
    for (size_t i = 0; i < 128; i++) {
        free(m->v[i]);
        m->v[i] = NULL;
    }
}

char *crl_expand_magic(const char *in, const crl_magic_t *m)
{
    buf_t b = { 0 };

    for (const char *p = in; *p; p++) {
        if (p[0] != '%' || p[1] == '\0') {
            buf_add(&b, p, 1);
            continue;
        }
        unsigned char c = (unsigned char)p[1];
        if (c == '%')
            buf_add(&b, "%", 1);
        else if (c == '(')
            buf_add(&b, "%(", 2);
        else if (c < 128 && m && m->v[c])
            buf_str(&b, m->v[c]);
        /* else: an unknown letter expands to nothing, as in uWSGI */
        p++;
    }
    return buf_done(&b);
}

char *crl_expand_substitute(const char *in, const char *what, const char *with)
{
    buf_t b = { 0 };
    size_t wl = strlen(what);
    const char *p = in;

    if (wl == 0)
        return strdup(in);
    for (const char *hit; (hit = strstr(p, what)); p = hit + wl) {
        buf_add(&b, p, (size_t)(hit - p));
        buf_str(&b, with);
    }
    buf_str(&b, p);
    return buf_done(&b);
}

/* ---- $(ENV) ------------------------------------------------------------- */

static void env_one(buf_t *b, const char *expr, size_t len, crl_lookup_cb getenv_cb, void *ctx,
                    char *unset, size_t unsetlen)
{
    char *inner = strndup(expr, len);
    if (!inner) {
        b->oom = 1;
        return;
    }
    const char *def = NULL;
    int empty_too = 0;
    char *sep = strstr(inner, ":-");
    if (sep) {
        *sep = '\0';
        def = sep + 2;
        empty_too = 1;
    } else if ((sep = strchr(inner, '-'))) {
        *sep = '\0';
        def = sep + 1;
    }
    const char *v = getenv_cb ? getenv_cb(ctx, inner) : NULL;
    if (v && !(empty_too && v[0] == '\0'))
        buf_str(b, v);
    else if (def)
        buf_str(b, def);
    else {
        buf_add(b, expr - 2, len + 3); /* "$(" name ")" as written */
        if (unset && unsetlen && unset[0] == '\0')
            snprintf(unset, unsetlen, "%s", inner);
    }
    free(inner);
}

char *crl_expand_env(const char *in, crl_lookup_cb getenv_cb, void *ctx, char *unset,
                     size_t unsetlen)
{
    buf_t b = { 0 };
    const char *p = in;

    if (unset && unsetlen)
        unset[0] = '\0';
    for (const char *hit; (hit = strstr(p, "$(")); ) {
        const char *close = strchr(hit + 2, ')');
        if (!close)
            break;
        buf_add(&b, p, (size_t)(hit - p));
        env_one(&b, hit + 2, (size_t)(close - hit - 2), getenv_cb, ctx, unset, unsetlen);
        p = close + 1;
    }
    buf_str(&b, p);
    return buf_done(&b);
}

/* ---- @(file) ------------------------------------------------------------ */

int crl_expand_read_file(void *ctx, const char *path, char **content, char *err, size_t errlen)
{
    char *buf = NULL;
    int fd = -1, rc = -1;

    (void)ctx;
    if (strncmp(path, "exec://", 7) == 0) {
        snprintf(err, errlen, "@(%s): Corral never runs commands from a configuration", path);
        goto out;
    }
    if (strstr(path, "://")) {
        snprintf(err, errlen, "@(%s): only plain files can be read", path);
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "@(%s): %s", path, strerror(errno));
        goto out;
    }
    buf = malloc(MAX_FILE_CONTENT + 1);
    if (!buf) {
        snprintf(err, errlen, "@(%s): out of memory", path);
        goto out;
    }
    size_t len = 0;
    ssize_t n;
    while (len < MAX_FILE_CONTENT && (n = read(fd, buf + len, MAX_FILE_CONTENT - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "@(%s): %s", path, strerror(errno));
            goto out;
        }
        len += (size_t)n;
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    *content = buf;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

char *crl_expand_files(const char *in, crl_read_cb read_cb, void *ctx, int *failed, char *err,
                       size_t errlen)
{
    buf_t b = { 0 };
    const char *p = in;

    *failed = 0;
    for (const char *hit; (hit = strstr(p, "@(")); ) {
        const char *close = strchr(hit + 2, ')');
        if (!close)
            break;
        buf_add(&b, p, (size_t)(hit - p));
        char *path = strndup(hit + 2, (size_t)(close - hit - 2));
        char *content = NULL;
        if (!path || read_cb(ctx, path, &content, err, errlen) != 0) {
            free(path);
            free(b.p);
            *failed = path != NULL;
            return NULL;
        }
        buf_str(&b, content);
        free(content);
        free(path);
        p = close + 1;
    }
    buf_str(&b, p);
    return buf_done(&b);
}

/* ---- %(placeholder) and math -------------------------------------------- */

typedef struct {
    crl_lookup_cb lookup;
    crl_ref_cb ref;
    void *ctx;
    int *too_deep;
    unsigned lookups; /* these two bound the work of self-multiplying */
    size_t produced;  /* references ("a = %(b)%(b)", "b = %(c)%(c)", ...) */
} ph_t;

#define MAX_LOOKUPS 1024
#define MAX_PRODUCED (256 * 1024)

static char *expand_ph(ph_t *ph, const char *in, int depth);

static int is_number(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* The value of one name, expanded; NULL when unknown (or out of memory). */
static char *resolve(ph_t *ph, const char *name, int depth, int *known)
{
    *known = 0;
    if (ph->ref)
        ph->ref(ph->ctx, name);
    const char *v = ph->lookup ? ph->lookup(ph->ctx, name) : NULL;
    if (!v)
        return NULL;
    *known = 1;
    if (depth + 1 >= CRL_EXPAND_MAX_DEPTH || ++ph->lookups > MAX_LOOKUPS ||
        ph->produced > MAX_PRODUCED) {
        if (ph->too_deep)
            *ph->too_deep = 1;
        return strdup(v);
    }
    char *out = expand_ph(ph, v, depth + 1);
    if (out)
        ph->produced += strlen(out);
    return out;
}

static int apply_op(char op, long long a, long long b, long long *out)
{
    switch (op) {
    case '+':
        *out = (long long)((unsigned long long)a + (unsigned long long)b);
        return 0;
    case '-':
        *out = (long long)((unsigned long long)a - (unsigned long long)b);
        return 0;
    case '*':
        *out = (long long)((unsigned long long)a * (unsigned long long)b);
        return 0;
    case '/':
        if (b == 0 || (a == LLONG_MIN && b == -1))
            return -1;
        *out = a / b;
        return 0;
    }
    return -1;
}

/* Evaluate "a + b" style expressions into out. Returns 0, or -1 when the
 * expression must be left as written (nothing known, division by zero). */
static int eval_math(ph_t *ph, char *expr, int depth, buf_t *out)
{
    char acc[64] = "", *tok, *save = NULL;
    buf_t cat = { 0 };
    char op = 0;
    int known_any = 0, has_op = 0, numeric = 0, rc = -1;
    long long cur = 0;

    for (tok = strtok_r(expr, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (strlen(tok) == 1 && strchr("+-*/", tok[0])) {
            op = tok[0];
            has_op = 1;
            continue;
        }
        if (strcmp(tok, "++") == 0 || strcmp(tok, "--") == 0) {
            cur = numeric ? cur : strtoll(cat.p ? cat.p : "0", NULL, 10);
            apply_op(tok[0], cur, 1, &cur); /* wraps like the binary operators */
            numeric = 1;
            has_op = 1;
            continue;
        }
        int known = is_number(tok);
        char *val = known ? strdup(tok) : resolve(ph, tok, depth, &known);
        known_any |= known;
        const char *v = val ? val : tok;
        if (op) {
            long long lhs = numeric ? cur : strtoll(cat.p ? cat.p : "0", NULL, 10);
            if (apply_op(op, lhs, strtoll(v, NULL, 10), &cur) != 0) {
                free(val);
                goto done;
            }
            numeric = 1;
            op = 0;
        } else if (numeric) {
            snprintf(acc, sizeof(acc), "%lld", cur);
            cat.len = 0;
            buf_str(&cat, acc);
            buf_str(&cat, v);
            numeric = 0;
        } else {
            buf_str(&cat, v);
        }
        free(val);
    }
    if (!known_any && !has_op)
        goto done;
    if (numeric) {
        snprintf(acc, sizeof(acc), "%lld", cur);
        buf_str(out, acc);
    } else {
        buf_str(out, cat.p ? cat.p : "");
    }
    rc = 0;
done:
    free(cat.p);
    return rc;
}

static char *expand_ph(ph_t *ph, const char *in, int depth)
{
    buf_t b = { 0 };
    const char *p = in;

    for (const char *hit; (hit = strstr(p, "%(")); ) {
        const char *close = strchr(hit + 2, ')');
        if (!close)
            break;
        buf_add(&b, p, (size_t)(hit - p));
        char *inner = strndup(hit + 2, (size_t)(close - hit - 2));
        if (!inner) {
            b.oom = 1;
            break;
        }
        int known = 0;
        if (strpbrk(inner, " \t")) {
            if (eval_math(ph, inner, depth, &b) != 0)
                buf_add(&b, hit, (size_t)(close - hit) + 1);
        } else {
            char *v = inner[0] ? resolve(ph, inner, depth, &known) : NULL;
            if (v)
                buf_str(&b, v);
            else
                buf_add(&b, hit, (size_t)(close - hit) + 1);
            if (known && !v)
                b.oom = 1;
            free(v);
        }
        free(inner);
        p = close + 1;
    }
    buf_str(&b, p);
    return buf_done(&b);
}

char *crl_expand_placeholders(const char *in, crl_lookup_cb lookup, crl_ref_cb ref, void *ctx,
                              int *too_deep)
{
    ph_t ph = { lookup, ref, ctx, too_deep, 0, 0 };
    if (too_deep)
        *too_deep = 0;
    return expand_ph(&ph, in, 0);
}
