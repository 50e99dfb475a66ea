/*
 * Fake core for the static-file tests (see fake_core.h). The response
 * recorder keeps what the core would put on the wire: the status, the
 * headers as given, and the body bytes (sendfile reads the file range).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/option.h>
#include <corral/result.h>

#include "crl_option.h"
#include "fake_core.h"

fake_resp_t fake_resp;
int fake_warnings;
char fake_last_log[1024];
int crl_log_level = CRL_LOG_DEBUG;

#define MAX_VARS 32
static crl_var_t vars[MAX_VARS];
static char var_store[MAX_VARS][4096];
static crl_request_t req;

static const crl_option_t *rows;
static size_t nrows;
static void *rows_conf;

void crl_log_write(int level, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fake_last_log, sizeof(fake_last_log), fmt, ap);
    va_end(ap);
    if (level <= CRL_LOG_WARN)
        fake_warnings++;
    (void)err;
}

static void add_var(size_t i, const char *k, const char *v, size_t vlen)
{
    size_t klen = strlen(k);
    memcpy(var_store[i], k, klen);
    memcpy(var_store[i] + klen, v, vlen);
    vars[i].key = (crl_str_t){ var_store[i], klen };
    vars[i].value = (crl_str_t){ var_store[i] + klen, vlen };
}

static void reset_response(void)
{
    memset(&fake_resp, 0, sizeof(fake_resp));
    fake_warnings = 0;
    fake_last_log[0] = '\0';
}

crl_request_t *fake_request(const char *first_key, ...)
{
    va_list ap;
    size_t n = 0;

    reset_response();
    va_start(ap, first_key);
    for (const char *k = first_key; k && n < MAX_VARS; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        add_var(n++, k, v, strlen(v));
    }
    va_end(ap);
    req = (crl_request_t){ .vars = vars, .nvars = n };
    return &req;
}

crl_request_t *fake_request_path(const char *method, const char *path, size_t plen)
{
    reset_response();
    add_var(0, "REQUEST_METHOD", method, strlen(method));
    add_var(1, "PATH_INFO", path, plen);
    req = (crl_request_t){ .vars = vars, .nvars = 2 };
    return &req;
}

const char *fake_header(const char *name)
{
    for (size_t i = 0; i < fake_resp.nheaders; i++)
        if (strcasecmp(fake_resp.names[i], name) == 0)
            return fake_resp.values[i];
    return NULL;
}

crl_str_t crl_request_var(const crl_request_t *r, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < r->nvars; i++)
        if (r->vars[i].key.len == klen && memcmp(r->vars[i].key.data, key, klen) == 0)
            return r->vars[i].value;
    return CRL_STR_NULL;
}

ssize_t crl_request_read(crl_request_t *r, void *buf, size_t len)
{
    (void)r, (void)buf, (void)len;
    return 0;
}

int crl_response_start(crl_request_t *r, crl_str_t status, const crl_header_t *h, size_t n)
{
    (void)r;
    if (fake_resp.started || n > FAKE_MAX_HEADERS || status.len >= sizeof(fake_resp.status_line))
        return CRL_ERROR;
    memcpy(fake_resp.status_line, status.data, status.len);
    fake_resp.status = atoi(fake_resp.status_line);
    for (size_t i = 0; i < n; i++) {
        if (h[i].name.len >= 64 || h[i].value.len >= 2048)
            return CRL_ERROR;
        for (size_t k = 0; k < h[i].value.len; k++)
            if (h[i].value.data[k] == '\r' || h[i].value.data[k] == '\n' || !h[i].value.data[k])
                return CRL_ERROR;
        memcpy(fake_resp.names[i], h[i].name.data, h[i].name.len);
        memcpy(fake_resp.values[i], h[i].value.data, h[i].value.len);
    }
    fake_resp.nheaders = n;
    fake_resp.started = 1;
    return CRL_OK;
}

int crl_response_write(crl_request_t *r, const void *data, size_t len)
{
    (void)r;
    if (!fake_resp.started || fake_resp.body_len + len > FAKE_BODY_MAX)
        return CRL_ERROR;
    memcpy(fake_resp.body + fake_resp.body_len, data, len);
    fake_resp.body_len += len;
    return CRL_OK;
}

int crl_response_sendfile(crl_request_t *r, int fd, off_t offset, size_t len)
{
    (void)r;
    fake_resp.sendfile_calls++;
    if (!fake_resp.started || fake_resp.body_len + len > FAKE_BODY_MAX)
        return CRL_ERROR;
    ssize_t got = pread(fd, fake_resp.body + fake_resp.body_len, len, offset);
    if (got < 0 || (size_t)got != len)
        return CRL_ERROR;
    fake_resp.body_len += len;
    return CRL_OK;
}

int crl_response_head_sent(const crl_request_t *r)
{
    (void)r;
    return fake_resp.started;
}

int crl_response_finish(crl_request_t *r)
{
    (void)r;
    fake_resp.finished = 1;
    return CRL_OK;
}

void crl_response_error(crl_request_t *r, int status)
{
    (void)r;
    fake_resp.error_called = 1;
    fake_resp.status = status;
}

/* ---- option registry -------------------------------------------------------- */

static void reset_field(const crl_option_t *o, char *field)
{
    switch (o->type) {
    case CRL_OPT_LIST: {
        crl_list_t *l = (crl_list_t *)field;
        for (size_t i = 0; i < l->n; i++)
            free(l->items[i].value);
        free(l->items);
        l->items = NULL;
        l->n = 0;
        break;
    }
    case CRL_OPT_BOOL:
        *(int *)field = 0;
        break;
    case CRL_OPT_INT:
        *(long *)field = o->def ? strtol(o->def, NULL, 10) : 0;
        break;
    case CRL_OPT_STRING:
        free(*(char **)field);
        *(char **)field = o->def ? strdup(o->def) : NULL;
        break;
    default:
        break;
    }
}

/* The registry's location formatter, as crl_option.c writes it. */
const char *crl_option_where(const char *file, unsigned line)
{
    static char buf[512];
    if (line)
        snprintf(buf, sizeof(buf), "%s:%u", file ? file : "command line", line);
    else
        snprintf(buf, sizeof(buf), "%s", file ? file : "command line");
    return buf;
}

int crl_option_register(const char *module, const crl_option_t *r, size_t n, void *conf)
{
    (void)module;
    rows = r;
    nrows = n;
    rows_conf = conf;
    for (size_t i = 0; i < n; i++)
        reset_field(&r[i], (char *)conf + r[i].offset);
    return CRL_OK;
}

const void *fake_option_rows(size_t *n)
{
    *n = nrows;
    return rows;
}

static int name_is(const crl_option_t *o, const char *name)
{
    if (strcmp(o->name, name) == 0)
        return 1;
    size_t len = strlen(name);
    for (const char *a = o->aliases; a && *a;) {
        size_t w = strcspn(a, " ");
        if (w == len && strncmp(a, name, len) == 0)
            return 1;
        a += w;
        a += strspn(a, " ");
    }
    return 0;
}

int fake_option_set(const char *name, const char *value)
{
    for (size_t i = 0; i < nrows; i++) {
        const crl_option_t *o = &rows[i];
        char *field = (char *)rows_conf + o->offset;
        if (!name_is(o, name))
            continue;
        if (o->type == CRL_OPT_LIST) {
            crl_list_t *l = (crl_list_t *)field;
            l->items = realloc(l->items, (l->n + 1) * sizeof(*l->items));
            l->items[l->n++] = (crl_list_item_t){ strdup(value), "test.ini", 1 };
        } else if (o->type == CRL_OPT_BOOL) {
            *(int *)field = strcasecmp(value, "false") && strcasecmp(value, "0") &&
                            strcasecmp(value, "no") && strcasecmp(value, "off");
        } else if (o->type == CRL_OPT_INT) {
            char *end;
            long v = strtol(value, &end, 10);
            if (end == value || *end || (o->max && (v < o->min || v > o->max)))
                return CRL_ERROR;
            *(long *)field = v;
        } else if (o->type == CRL_OPT_STRING) {
            free(*(char **)field);
            *(char **)field = strdup(value);
        } else {
            return CRL_ERROR;
        }
        return CRL_OK;
    }
    return CRL_ERROR;
}
