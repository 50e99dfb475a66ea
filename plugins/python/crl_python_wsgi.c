/*
 * WSGI (PEP 3333) request handling: build the environ, call the app, send
 * what it returns.
 *
 * Invariants:
 *  - Everything here runs with the GIL held; it is dropped only around the
 *    core's blocking calls (crl_response_write/sendfile, and the body reads
 *    in crl_python_io.c), always through crl__python_release/acquire.
 *  - Threads: handle() may run in several request threads of a worker at
 *    once. Everything about one request lives in that thread's
 *    crl_python_thread_t (found through a __thread pointer, and as the
 *    `self` of its start_response and write callables). What is shared (the
 *    key cache, path_buf, the prototype environ, the mounts) is only
 *    touched with the GIL held and without calling Python code or dropping
 *    the GIL in between.
 *  - No C allocation per request. Per-process objects (the prototype
 *    environ, wsgi.errors, constant strings) are built once by
 *    crl__python_worker_setup(), per-thread ones (start_response, write,
 *    wsgi.input, the post-buffering file) on a thread's first request;
 *    environ keys come from a fixed-size cache of interned strings; response
 *    headers are passed to the core as slices of the app's str objects
 *    (latin-1 strings are stored one byte per character), in a fixed array.
 *  - t->req is non-NULL only while a request is served; the callables
 *    refuse to work without it.
 *  - The response iterable's close() is always called, whatever happened,
 *    also when the client went away.
 *  - A client that goes away is logged once per request, never as a
 *    traceback per write.
 */
#include "crl_python.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <corral/server.h>

/* This thread's context, created on its first request. */
static __thread crl_python_thread_t *cur;

/* Cache of environ keys: var-name bytes -> interned str, plus the last
 * value seen for the key (most values repeat from request to request, so
 * the str is reused instead of decoded again). Open addressing, filled at
 * most half, short names and values only: bounded whatever clients send. */
#define KEY_SLOTS 512
#define KEY_MAX_LEN 64
#define VALUE_MAX_LEN 128

typedef struct {
    uint32_t hash;
    PyObject *str;
    PyObject *last; /* last value, or NULL */
} key_slot_t;

static key_slot_t key_cache[KEY_SLOTS];
static size_t key_count;

/* Decoded PATH_INFO when a front end sent only REQUEST_URI. */
static char path_buf[65536];

/* Length and the first and last 8 bytes: enough to tell CGI and HTTP_
 * names apart cheaply (collisions only cost a probe and a memcmp). */
static uint32_t key_hash(const char *p, size_t n)
{
    uint64_t a = 0, b = 0;

    if (n >= 8) {
        memcpy(&a, p, 8);
        memcpy(&b, p + n - 8, 8);
    } else {
        memcpy(&a, p, n);
    }
    a = (a ^ (b * 0x9e3779b97f4a7c15ull) ^ n) * 0xff51afd7ed558ccdull;
    return (uint32_t)(a >> 32);
}

/* The environ key for name bytes p[0..n): a new reference in *key (NULL
 * on error). Returns the key's cache slot, or NULL when it is not cached. */
static key_slot_t *key_lookup(const char *p, size_t n, PyObject **key)
{
    uint32_t h = key_hash(p, n);
    key_slot_t *free_slot = NULL, *s;
    size_t i;

    for (i = 0; i < 8; i++) {
        s = &key_cache[(h + i) & (KEY_SLOTS - 1)];
        if (s->str == NULL) {
            free_slot = s;
            break;
        }
        if (s->hash == h && (size_t)PyUnicode_GET_LENGTH(s->str) == n &&
            memcmp(PyUnicode_1BYTE_DATA(s->str), p, n) == 0) {
            *key = Py_NewRef(s->str);
            return s;
        }
    }
    *key = PyUnicode_DecodeLatin1(p, (Py_ssize_t)n, NULL);
    if (*key == NULL)
        return NULL;
    PyUnicode_InternInPlace(key);
    if (free_slot == NULL || n > KEY_MAX_LEN || key_count >= KEY_SLOTS / 2)
        return NULL;
    free_slot->hash = h;
    free_slot->str = Py_NewRef(*key);
    key_count++;
    return free_slot;
}

static PyObject *key_for(const char *p, size_t n)
{
    PyObject *key;

    key_lookup(p, n, &key);
    return key;
}

/* The str for value bytes v of the key in slot (NULL: uncached). New ref. */
static PyObject *value_for(key_slot_t *slot, crl_str_t v)
{
    PyObject *s;

    if (v.len == 0)
        return Py_NewRef(crl__python.s_empty);
    if (slot && slot->last && (size_t)PyUnicode_GET_LENGTH(slot->last) == v.len &&
        memcmp(PyUnicode_1BYTE_DATA(slot->last), v.data, v.len) == 0)
        return Py_NewRef(slot->last);
    s = PyUnicode_DecodeLatin1(v.data, (Py_ssize_t)v.len, NULL);
    if (s && slot && v.len <= VALUE_MAX_LEN)
        Py_XSETREF(slot->last, Py_NewRef(s));
    return s;
}

static int set_item(PyObject *d, const char *key, PyObject *value)
{
    PyObject *k = key_for(key, strlen(key));
    int rc;

    if (k == NULL || value == NULL) {
        Py_XDECREF(k);
        Py_XDECREF(value);
        return -1;
    }
    rc = PyDict_SetItem(d, k, value);
    Py_DECREF(k);
    Py_DECREF(value);
    return rc;
}

/* The constant part of every environ. */
static PyObject *make_proto(void)
{
    /* Room for the ~30 keys of a typical request: PyDict_Copy() keeps the
     * size of the table it copies, so no environ grows (a rehash) while
     * the front end's variables go in. */
    PyObject *d = _PyDict_NewPresized(40);
    PyObject *mt = crl_server_threads() > 1 ? Py_True : Py_False;

    if (d == NULL)
        return NULL;
    if (set_item(d, "wsgi.version", Py_BuildValue("(ii)", 1, 0)) < 0 ||
        set_item(d, "wsgi.url_scheme", Py_NewRef(crl__python.s_http)) < 0 ||
        set_item(d, "wsgi.input", Py_NewRef(Py_None)) < 0 ||
        set_item(d, "wsgi.errors", Py_NewRef(crl__python.errors)) < 0 ||
        set_item(d, "wsgi.multithread", Py_NewRef(mt)) < 0 ||
        set_item(d, "wsgi.multiprocess", Py_NewRef(Py_True)) < 0 ||
        set_item(d, "wsgi.run_once", Py_NewRef(Py_False)) < 0 ||
        set_item(d, "wsgi.input_terminated", Py_NewRef(Py_True)) < 0 ||
        set_item(d, "wsgi.file_wrapper",
                 Py_NewRef((PyObject *)&crl__python_file_wrapper_type)) < 0 ||
        /* required keys, in case the front end does not send them */
        set_item(d, "REQUEST_METHOD", PyUnicode_FromString("GET")) < 0 ||
        set_item(d, "SCRIPT_NAME", Py_NewRef(crl__python.s_empty)) < 0 ||
        set_item(d, "PATH_INFO", Py_NewRef(crl__python.s_empty)) < 0 ||
        set_item(d, "QUERY_STRING", Py_NewRef(crl__python.s_empty)) < 0 ||
        set_item(d, "SERVER_NAME", PyUnicode_FromString("localhost")) < 0 ||
        set_item(d, "SERVER_PORT", PyUnicode_FromString("80")) < 0 ||
        set_item(d, "SERVER_PROTOCOL", PyUnicode_FromString("HTTP/1.0")) < 0)
        Py_CLEAR(d);
    return d;
}

static PyObject *start_response(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames);
static PyObject *write_cb(PyObject *self, PyObject *data);

static PyMethodDef start_response_def = {
    "start_response", (PyCFunction)(void (*)(void))start_response,
    METH_FASTCALL | METH_KEYWORDS, "start_response(status, headers, exc_info=None)"
};
static PyMethodDef write_def = { "write", write_cb, METH_O, "write(bytes)" };

int crl__python_worker_setup(void)
{
    crl_python_ctx_t *c = &crl__python;

    if (c->environ_proto != NULL)
        return CRL_OK;
    if (crl__python_io_init() != CRL_OK)
        return CRL_ERROR;
    c->s_empty = PyUnicode_InternFromString("");
    c->s_http = c->s_empty ? PyUnicode_InternFromString("http") : NULL;
    c->s_https = c->s_http ? PyUnicode_InternFromString("https") : NULL;
    c->s_close = c->s_https ? PyUnicode_InternFromString("close") : NULL;
    c->k_input = c->s_close ? key_for("wsgi.input", 10) : NULL;
    c->k_url_scheme = c->k_input ? key_for("wsgi.url_scheme", 15) : NULL;
    c->k_path_info = c->k_url_scheme ? key_for("PATH_INFO", 9) : NULL;
    c->k_script_name = c->k_path_info ? key_for("SCRIPT_NAME", 11) : NULL;
    c->errors = c->k_script_name ? PyObject_New(PyObject, &crl__python_errors_type) : NULL;
    c->environ_proto = c->errors ? make_proto() : NULL;
    return c->environ_proto ? CRL_OK : CRL_ERROR;
}

/* This thread's context, made on its first request (once per thread, with
 * the GIL), or NULL with a Python exception set. */
static crl_python_thread_t *thread_ctx(void)
{
    crl_python_thread_t *t = cur;

    if (t != NULL)
        return t;
    t = PyMem_RawCalloc(1, sizeof(*t));
    if (t == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    t->spool_fd = -1;
    t->self = PyCapsule_New(t, NULL, NULL);
    t->start_response = t->self ? PyCFunction_New(&start_response_def, t->self) : NULL;
    t->write = t->start_response ? PyCFunction_New(&write_def, t->self) : NULL;
    t->input = t->write ? crl__python_input_new() : NULL;
    if (t->input == NULL) {
        Py_XDECREF(t->write);
        Py_XDECREF(t->start_response);
        Py_XDECREF(t->self);
        PyMem_RawFree(t);
        return NULL;
    }
    cur = t;
    return t;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode %XX escapes of REQUEST_URI's path into path_buf; the result is a
 * slice of path_buf (or of uri when it does not fit). */
static crl_str_t path_from_uri(crl_str_t uri)
{
    const char *q = memchr(uri.data, '?', uri.len);
    size_t n = q ? (size_t)(q - uri.data) : uri.len, i, o = 0;

    if (n > sizeof(path_buf))
        return (crl_str_t){ uri.data, n };
    for (i = 0; i < n; i++) {
        int hi = -1, lo = -1;

        if (uri.data[i] == '%' && i + 2 < n) {
            hi = hex(uri.data[i + 1]);
            lo = hex(uri.data[i + 2]);
        }
        if (hi >= 0 && lo >= 0) {
            path_buf[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            path_buf[o++] = uri.data[i];
        }
    }
    return (crl_str_t){ path_buf, o };
}

static int value_is(crl_str_t v, const char *lit)
{
    size_t n = strlen(lit);

    return v.len == n && strncasecmp(v.data, lit, n) == 0;
}

/* What the environ's derived entries and the mount choice depend on. */
typedef struct {
    crl_str_t path;        /* PATH_INFO (data NULL: not sent) */
    crl_str_t script_name; /* SCRIPT_NAME from the front end */
    int https;
} seen_t;

static void note_var(const crl_var_t *v, seen_t *seen)
{
    switch (v->key.len) {
    case 5:
        if (memcmp(v->key.data, "HTTPS", 5) == 0)
            seen->https |= value_is(v->value, "on") || value_is(v->value, "1");
        break;
    case 9:
        if (memcmp(v->key.data, "PATH_INFO", 9) == 0)
            seen->path = (crl_str_t){ v->value.data ? v->value.data : "", v->value.len };
        break;
    case 11:
        if (memcmp(v->key.data, "SCRIPT_NAME", 11) == 0)
            seen->script_name = v->value;
        break;
    case 12:
        if (memcmp(v->key.data, "UWSGI_SCHEME", 12) == 0)
            seen->https |= value_is(v->value, "https");
        break;
    case 14:
        if (memcmp(v->key.data, "REQUEST_SCHEME", 14) == 0)
            seen->https |= value_is(v->value, "https");
        break;
    }
}

/* 1 when path is prefix or starts with prefix + "/" (a path-segment
 * boundary: /api matches /api and /api/x, not /apix). */
static int has_prefix(crl_str_t path, const char *prefix, size_t len)
{
    return path.len >= len && memcmp(path.data, prefix, len) == 0 &&
           (path.len == len || path.data[len] == '/');
}

/* The mount whose prefix is SCRIPT_NAME (when the front end split the path
 * already, as nginx does with `uwsgi_param SCRIPT_NAME`), else the one with
 * the longest prefix of the path; NULL for the default app. */
static const crl_python_mount_t *find_mount(const seen_t *seen)
{
    const crl_python_mount_t *best = NULL;
    size_t i;

    for (i = 0; i < crl__python.nmounts; i++) {
        const crl_python_mount_t *m = &crl__python.mounts[i];

        if (seen->script_name.len > 0 && m->len == seen->script_name.len &&
            memcmp(m->prefix, seen->script_name.data, m->len) == 0)
            return m;
    }
    for (i = 0; i < crl__python.nmounts; i++) {
        const crl_python_mount_t *m = &crl__python.mounts[i];

        if (has_prefix(seen->path, m->prefix, m->len) && (best == NULL || m->len > best->len))
            best = m;
    }
    return best;
}

/* Set PATH_INFO to path minus its first `skip` bytes. */
static int set_path(PyObject *env, crl_str_t path, size_t skip)
{
    PyObject *v = path.len > skip ? PyUnicode_DecodeLatin1(path.data + skip,
                                                           (Py_ssize_t)(path.len - skip), NULL)
                                  : Py_NewRef(crl__python.s_empty);
    int rc = v ? PyDict_SetItem(env, crl__python.k_path_info, v) : -1;

    Py_XDECREF(v);
    return rc;
}

/* Choose the app for the request and split SCRIPT_NAME / PATH_INFO as
 * PEP 3333 says: modifier1 30 strips the front end's SCRIPT_NAME from
 * PATH_INFO (as in uWSGI); a mount matched by path prefix becomes
 * SCRIPT_NAME and the rest PATH_INFO. *app is borrowed (NULL: no app
 * serves this path). 0, or -1 with an exception. */
static int route(crl_request_t *req, PyObject *env, seen_t *seen, int path_set, PyObject **app)
{
    const crl_python_mount_t *m;
    size_t sn = seen->script_name.len;

    if (req->modifier1 == 30 && sn > 0 && has_prefix(seen->path, seen->script_name.data, sn)) {
        seen->path.data += sn;
        seen->path.len -= sn;
        path_set = 0;
    }
    m = crl__python.nmounts ? find_mount(seen) : NULL;
    if (m != NULL && !(sn > 0 && m->len == sn && memcmp(m->prefix, seen->script_name.data, sn) == 0)) {
        if (PyDict_SetItem(env, crl__python.k_script_name, m->script_name) < 0 ||
            set_path(env, seen->path, m->len) < 0)
            return -1;
        path_set = 1;
    }
    *app = m ? m->app : crl__python.app;
    return path_set ? 0 : set_path(env, seen->path, 0);
}

/* A new environ for req (new reference) and the app to call (borrowed,
 * NULL when no app serves the path), or NULL with an exception. body_len
 * is the length of a body that came without one (a chunked upload) and
 * was spooled, given to the app as CONTENT_LENGTH; -1 otherwise. */
static PyObject *build_environ(crl_python_thread_t *t, crl_request_t *req, int64_t body_len,
                               PyObject **app)
{
    crl_python_ctx_t *c = &crl__python;
    PyObject *env = PyDict_Copy(c->environ_proto), *k = NULL, *v = NULL;
    seen_t seen = { CRL_STR_NULL, CRL_STR_NULL, 0 };
    size_t i;

    if (env == NULL)
        return NULL;
    for (i = 0; i < req->nvars; i++) {
        const crl_var_t *var = &req->vars[i];
        key_slot_t *slot = key_lookup(var->key.data, var->key.len, &k);

        v = k ? value_for(slot, var->value) : NULL;
        if (v == NULL || PyDict_SetItem(env, k, v) < 0)
            goto fail;
        Py_CLEAR(k);
        Py_CLEAR(v);
        note_var(var, &seen);
    }
    if (body_len >= 0) {
        v = PyUnicode_FromFormat("%lld", (long long)body_len);
        if (v == NULL || PyDict_SetItemString(env, "CONTENT_LENGTH", v) < 0)
            goto fail;
        Py_CLEAR(v);
    }
    if (seen.path.data == NULL) {
        crl_str_t uri = crl_request_var(req, "REQUEST_URI");

        seen.path = uri.data ? path_from_uri(uri) : (crl_str_t){ "", 0 };
        if (route(req, env, &seen, 0, app) < 0)
            goto fail;
    } else if (route(req, env, &seen, 1, app) < 0) {
        goto fail;
    }
    if (PyDict_SetItem(env, c->k_input, t->input) < 0 ||
        PyDict_SetItem(env, c->k_url_scheme, seen.https ? c->s_https : c->s_http) < 0)
        goto fail;
    return env;
fail:
    Py_XDECREF(k);
    Py_XDECREF(v);
    Py_DECREF(env);
    return NULL;
}

/* The latin-1 bytes of str s as a slice, or -1 with an exception. */
static int latin1(PyObject *s, const char *what, crl_str_t *out)
{
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(s)->tp_name);
        return -1;
    }
    if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
        PyErr_Format(PyExc_ValueError, "%s is not latin-1 encodable: %R", what, s);
        return -1;
    }
    out->data = (const char *)PyUnicode_1BYTE_DATA(s);
    out->len = (size_t)PyUnicode_GET_LENGTH(s);
    return 0;
}

/* Validate the headers list into t->headers; the count, or -1. */
static Py_ssize_t check_headers(crl_python_thread_t *t, PyObject *headers)
{
    Py_ssize_t i, n;

    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "headers must be a list, not %.100s",
                     Py_TYPE(headers)->tp_name);
        return -1;
    }
    n = PyList_GET_SIZE(headers);
    if (n > CRL_PY_MAX_HEADERS) {
        PyErr_Format(PyExc_ValueError, "too many response headers (%zd, at most %d)", n,
                     CRL_PY_MAX_HEADERS);
        return -1;
    }
    for (i = 0; i < n; i++) {
        PyObject *h = PyList_GET_ITEM(headers, i);

        if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) != 2) {
            PyErr_Format(PyExc_TypeError, "headers must be (name, value) tuples, not %.100s",
                         Py_TYPE(h)->tp_name);
            return -1;
        }
        if (latin1(PyTuple_GET_ITEM(h, 0), "header name", &t->headers[i].name) < 0 ||
            latin1(PyTuple_GET_ITEM(h, 1), "header value", &t->headers[i].value) < 0)
            return -1;
    }
    return n;
}

/* Validate status and headers and hand them to the core. */
static int set_head(crl_python_thread_t *t, PyObject *status, PyObject *headers)
{
    crl_str_t st;
    Py_ssize_t n;

    if (latin1(status, "status", &st) < 0)
        return -1;
    if (st.len < 4 || st.data[3] != ' ' || st.data[0] < '1' || st.data[0] > '9' ||
        st.data[1] < '0' || st.data[1] > '9' || st.data[2] < '0' || st.data[2] > '9') {
        PyErr_Format(PyExc_ValueError, "status must be 'NNN reason', not %R", status);
        return -1;
    }
    n = check_headers(t, headers);
    if (n < 0)
        return -1;
    if (crl_response_start(t->req, st, t->headers, (size_t)n) != CRL_OK) {
        PyErr_SetString(PyExc_ValueError,
                        "response head refused: a status or header holds CR, LF or NUL, "
                        "or the head is too large");
        return -1;
    }
    return 0;
}

/* start_response's arguments from a vectorcall: (status, headers,
 * exc_info=None), any of them by keyword. */
static int sr_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **out)
{
    static const char *const names[3] = { "status", "headers", "exc_info" };
    Py_ssize_t i, nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    int j;

    if (nargs > 3) {
        PyErr_Format(PyExc_TypeError, "start_response() takes at most 3 arguments (%zd given)",
                     nargs + nkw);
        return -1;
    }
    out[0] = out[1] = NULL;
    out[2] = Py_None;
    for (i = 0; i < nargs; i++)
        out[i] = args[i];
    for (i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);

        for (j = 0; j < 3 && PyUnicode_CompareWithASCIIString(name, names[j]) != 0; j++)
            ;
        if (j == 3 || j < nargs) {
            PyErr_Format(PyExc_TypeError, "start_response() got an unexpected or repeated "
                         "keyword argument %R", name);
            return -1;
        }
        out[j] = args[nargs + i];
    }
    if (out[0] == NULL || out[1] == NULL) {
        PyErr_SetString(PyExc_TypeError, "start_response() needs status and headers");
        return -1;
    }
    return 0;
}

/* Remember the pending exception as the app's misuse of the API (reported
 * in one line if the app lets it through). Returns NULL. */
static PyObject *misuse(crl_python_thread_t *t)
{
    PyObject *type, *value, *tb;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    Py_XSETREF(t->violation, Py_XNewRef(value));
    PyErr_Restore(type, value, tb);
    return NULL;
}

/* start_response's checks; NULL with an exception. */
static PyObject *do_start_response(crl_python_thread_t *t, PyObject **a)
{
    PyObject *exc_info = a[2];

    if (t->req == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called outside of a request");
        return NULL;
    }
    /* (None, None, None), what sys.exc_info() gives outside an except
     * block, means no error */
    if (PyTuple_Check(exc_info) && PyTuple_GET_SIZE(exc_info) == 3 &&
        PyTuple_GET_ITEM(exc_info, 0) == Py_None)
        exc_info = Py_None;
    if (exc_info != Py_None) {
        if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
            PyErr_SetString(PyExc_TypeError, "exc_info must be a 3-tuple");
            return NULL;
        }
        if (crl_response_head_sent(t->req)) {
            PyErr_Restore(Py_NewRef(PyTuple_GET_ITEM(exc_info, 0)),
                          Py_NewRef(PyTuple_GET_ITEM(exc_info, 1)),
                          Py_NewRef(PyTuple_GET_ITEM(exc_info, 2)));
            return NULL;
        }
    } else if (t->sr_called) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called again without exc_info");
        return NULL;
    }
    if (set_head(t, a[0], a[1]) < 0)
        return NULL;
    t->sr_called = 1;
    return Py_NewRef(t->write);
}

static PyObject *start_response(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    crl_python_thread_t *t = PyCapsule_GetPointer(self, NULL);
    PyObject *a[3], *r;

    if (sr_args(args, nargs, kwnames, a) < 0)
        return misuse(t);
    r = do_start_response(t, a);
    /* every error but the app's own exception re-raised through exc_info
     * is a misuse */
    if (r == NULL && !(a[2] != Py_None && t->req && crl_response_head_sent(t->req)))
        return misuse(t);
    return r;
}

void crl__python_log_gone(crl_python_thread_t *t)
{
    crl_str_t method, uri;

    if (t->gone_logged || t->req == NULL)
        return;
    t->gone_logged = 1;
    if (crl__python.conf.ignore_write_errors)
        return;
    method = crl_request_var(t->req, "REQUEST_METHOD");
    uri = crl_request_var(t->req, "REQUEST_URI");
    if (uri.data == NULL)
        uri = crl_request_var(t->req, "PATH_INFO");
    crl_log(CRL_LOG_WARN, t->gone_errno, "client went away during the %s %.*s %.*s",
            t->finished || t->sr_called ? "response to" : "request",
            (int)method.len, method.data ? method.data : "", (int)uri.len,
            uri.data ? uri.data : "");
}

/* Send body bytes with the GIL released; `last` completes the response
 * (and lets the core frame a body sent in one piece with Content-Length).
 * CRL_OK or -errno; a failure is logged once per request. */
static int write_body(crl_python_thread_t *t, const char *p, size_t n, int last)
{
    PyThreadState *ts;
    int rc;

    if (n == 0 && !last)
        return CRL_OK;
    ts = crl__python_release_for_io();
    rc = last ? crl_response_end(t->req, p, n) : crl_response_write(t->req, p, n);
    crl__python_acquire_after_io(ts);
    if (rc < 0 && !t->client_gone) {
        t->client_gone = 1;
        t->gone_errno = -rc;
        crl__python_log_gone(t);
    }
    t->finished |= last && rc == CRL_OK;
    return rc < 0 ? rc : CRL_OK;
}

static PyObject *write_cb(PyObject *self, PyObject *data)
{
    crl_python_thread_t *t = PyCapsule_GetPointer(self, NULL);
    Py_buffer view;
    int rc;

    if (t->req == NULL || !t->sr_called) {
        PyErr_SetString(PyExc_RuntimeError, "write() called before start_response()");
        return misuse(t);
    }
    if (PyUnicode_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "write() takes bytes, not str");
        return misuse(t);
    }
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return misuse(t);
    rc = write_body(t, view.buf, (size_t)view.len, 0);
    PyBuffer_Release(&view);
    if (rc < 0 && !crl__python.conf.disable_write_exception) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* " (file:line)" of the innermost Python frame of traceback tb, or "". */
static void where(PyObject *tb, char *buf, size_t len)
{
    PyObject *next, *line, *frame, *code, *file;
    const char *name;

    buf[0] = '\0';
    if (tb == NULL || tb == Py_None)
        return;
    Py_INCREF(tb);
    while ((next = PyObject_GetAttrString(tb, "tb_next")) != NULL && next != Py_None)
        Py_SETREF(tb, next);
    Py_XDECREF(next);
    line = PyObject_GetAttrString(tb, "tb_lineno");
    frame = PyObject_GetAttrString(tb, "tb_frame");
    code = frame ? PyObject_GetAttrString(frame, "f_code") : NULL;
    file = code ? PyObject_GetAttrString(code, "co_filename") : NULL;
    name = file && PyUnicode_Check(file) ? PyUnicode_AsUTF8(file) : NULL;
    if (name && line)
        snprintf(buf, len, " (%s:%ld)", name, PyLong_AsLong(line));
    PyErr_Clear();
    Py_XDECREF(file);
    Py_XDECREF(code);
    Py_XDECREF(frame);
    Py_XDECREF(line);
    Py_DECREF(tb);
}

/* One log line for an error the plugin raised because the app broke
 * PEP 3333 (no traceback: the message names the problem, the location
 * where the app made it). The exception is fetched and normalized. */
static void log_violation(PyObject *type, PyObject *value, PyObject *tb)
{
    PyObject *msg;
    const char *text;
    char loc[1024];

    where(tb, loc, sizeof(loc));
    msg = value ? PyObject_Str(value) : NULL;
    text = msg ? PyUnicode_AsUTF8(msg) : NULL;
    crl_log(CRL_LOG_ERR, 0, "the WSGI application broke PEP 3333: %s: %s%s",
            ((PyTypeObject *)type)->tp_name, text ? text : "?", loc);
    PyErr_Clear();
    Py_XDECREF(msg);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* Log the pending exception: a traceback; one line when it is the OSError
 * raised in the app because the client went away, or an error of ours
 * about the app's misuse of start_response or write. */
static void report_exception(crl_python_thread_t *t)
{
    if (t->client_gone && PyErr_ExceptionMatches(PyExc_OSError)) {
        PyErr_Clear();
        crl__python_log_gone(t);
        return;
    }
    if (t->violation != NULL) {
        PyObject *type, *value, *tb;

        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (value == t->violation) {
            log_violation(type, value, tb);
            return;
        }
        PyErr_Restore(type, value, tb);
    }
    crl__python_log_exception();
}

/* Send one item of the response iterable (`last`: the only one). CRL_OK or
 * CRL_ERROR (logged). */
static int send_item(crl_python_thread_t *t, PyObject *item, int last)
{
    Py_buffer view;
    int rc;

    if (PyUnicode_Check(item)) {
        crl_log(CRL_LOG_ERR, 0, "the WSGI application broke PEP 3333: response body items "
                "must be bytes, not str");
        return CRL_ERROR;
    }
    if (PyObject_GetBuffer(item, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        crl_log(CRL_LOG_ERR, 0, "the WSGI application broke PEP 3333: response body items "
                "must be bytes, not %.100s", Py_TYPE(item)->tp_name);
        return CRL_ERROR;
    }
    rc = CRL_OK;
    if ((view.len > 0 || last) && !t->sr_called) {
        crl_log(CRL_LOG_ERR, 0, "the WSGI application broke PEP 3333: it sent body bytes "
                "before calling start_response");
        rc = CRL_ERROR;
    } else if (write_body(t, view.buf, (size_t)view.len, last) < 0) {
        rc = CRL_ERROR;
    }
    PyBuffer_Release(&view);
    return rc;
}

static int send_iter(crl_python_thread_t *t, PyObject *result)
{
    PyObject *it, *item;
    int rc = CRL_OK;

    if (Py_TYPE(result)->tp_iter == NULL && !PySequence_Check(result)) {
        crl_log(CRL_LOG_ERR, 0, "the WSGI application broke PEP 3333: it returned %.100s, "
                "which is not an iterable of bytes", Py_TYPE(result)->tp_name);
        return CRL_ERROR;
    }
    it = PyObject_GetIter(result);
    if (it == NULL) {
        report_exception(t);
        return CRL_ERROR;
    }
    while ((item = PyIter_Next(it)) != NULL) {
        rc = send_item(t, item, 0);
        Py_DECREF(item);
        if (rc != CRL_OK)
            break;
    }
    if (rc == CRL_OK && PyErr_Occurred()) {
        report_exception(t);
        rc = CRL_ERROR;
    }
    Py_DECREF(it);
    return rc;
}

/* The file descriptor, offset and length to sendfile for a file wrapper,
 * or CRL_DECLINED when its file is not a regular file with a fileno(). */
static int wrapped_file(PyObject *file, int *fd, off_t *off, size_t *len)
{
    struct stat st;
    PyObject *pos;
    long long p = -1;

    *fd = PyObject_AsFileDescriptor(file);
    if (*fd < 0 || fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        PyErr_Clear();
        return CRL_DECLINED;
    }
    pos = PyObject_CallMethod(file, "tell", NULL); /* buffered files read ahead */
    if (pos != NULL)
        p = PyLong_AsLongLong(pos);
    Py_XDECREF(pos);
    if (p < 0) {
        PyErr_Clear();
        p = lseek(*fd, 0, SEEK_CUR);
    }
    if (p < 0)
        return CRL_DECLINED;
    *off = (off_t)p;
    *len = st.st_size > *off ? (size_t)(st.st_size - *off) : 0;
    return CRL_OK;
}

static int send_file_wrapper(crl_python_thread_t *t, PyObject *result)
{
    Py_ssize_t blksize;
    PyObject *file = crl__python_file_wrapper_file(result, &blksize);
    PyThreadState *ts;
    off_t off;
    size_t len;
    int fd, rc;

    if (wrapped_file(file, &fd, &off, &len) != CRL_OK)
        return send_iter(t, result);
    if (!t->sr_called) {
        crl_log(CRL_LOG_ERR, 0, "the WSGI application broke PEP 3333: it sent a file before "
                "calling start_response");
        return CRL_ERROR;
    }
    if (len == 0)
        return CRL_OK;
    ts = crl__python_release();
    rc = crl_response_sendfile(t->req, fd, off, len);
    crl__python_acquire(ts);
    if (rc < 0) {
        t->client_gone = 1;
        t->gone_errno = -rc;
        crl__python_log_gone(t);
        return CRL_ERROR;
    }
    return CRL_OK;
}

/* Send the iterable, then call its close(). CRL_OK or CRL_ERROR (logged). */
static int send_result(crl_python_thread_t *t, PyObject *result)
{
    PyObject *close, *r;
    int rc;

    if (Py_IS_TYPE(result, &crl__python_file_wrapper_type))
        rc = send_file_wrapper(t, result);
    else if (PyList_CheckExact(result) && PyList_GET_SIZE(result) == 1)
        rc = send_item(t, PyList_GET_ITEM(result, 0), 1);
    else if (PyTuple_CheckExact(result) && PyTuple_GET_SIZE(result) == 1)
        rc = send_item(t, PyTuple_GET_ITEM(result, 0), 1);
    else
        rc = send_iter(t, result);
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result))
        return rc;
    close = PyObject_GetAttr(result, crl__python.s_close);
    if (close == NULL) {
        PyErr_Clear();
        return rc;
    }
    r = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    if (r == NULL) {
        crl__python_log_exception();
        rc = CRL_ERROR;
    }
    Py_XDECREF(r);
    return rc;
}

/* The core calls that may write to the socket, with the GIL released. */
static void send_error(crl_request_t *req, int status)
{
    PyThreadState *ts = crl__python_release();

    crl_response_error(req, status);
    crl__python_acquire(ts);
}

static int send_finish(crl_request_t *req)
{
    PyThreadState *ts = crl__python_release_for_io();
    int rc = crl_response_finish(req);

    crl__python_acquire_after_io(ts);
    return rc;
}

/* Finish the response after a failure: a 500 when nothing was sent. */
static int fail_response(crl_python_thread_t *t)
{
    int sent = crl_response_head_sent(t->req);

    if (!t->client_gone || !sent)
        send_error(t->req, 500);
    return sent || t->client_gone ? CRL_ERROR : CRL_OK;
}

/* Call the app and send its response; the environ is built. */
static int run_app(crl_python_thread_t *t, PyObject *app, PyObject *environ)
{
    PyObject *args[2] = { environ, t->start_response };
    PyObject *result = PyObject_Vectorcall(app, args, 2, NULL);
    int rc;

    if (result == NULL) {
        report_exception(t);
        return fail_response(t);
    }
    rc = send_result(t, result);
    Py_DECREF(result);
    if (rc != CRL_OK)
        return fail_response(t);
    if (!t->sr_called) {
        crl_log(CRL_LOG_ERR, 0, "the WSGI application broke PEP 3333: it returned without "
                "calling start_response");
        return fail_response(t);
    }
    if (t->client_gone) /* the app went on after a failed write */
        return CRL_ERROR;
    rc = t->finished ? CRL_OK : send_finish(t->req);
    if (rc < 0) {
        if (!t->client_gone)
            t->gone_errno = -rc;
        t->client_gone = 1;
        crl__python_log_gone(t);
        return CRL_ERROR;
    }
    return CRL_OK;
}

static size_t spool_bufsize(void)
{
    long n = crl__python.conf.post_buffering_bufsize;

    return n >= 512 ? (size_t)n : 8192;
}

/* The spool (post-buffering, chunked uploads): a temporary file for this
 * thread, reused from request to request (emptied after each). CRL_OK or
 * CRL_ERROR (logged). */
static int spool_open(crl_python_thread_t *t)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    size_t bufsize = spool_bufsize();

    if (t->spool_buf == NULL && (t->spool_buf = PyMem_RawMalloc(bufsize)) == NULL) {
        crl_log(CRL_LOG_ERR, ENOMEM, "request body spool: cannot allocate %zu bytes", bufsize);
        return CRL_ERROR;
    }
    if (t->spool_fd >= 0)
        return CRL_OK;
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    t->spool_fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (t->spool_fd < 0) { /* a file system without O_TMPFILE */
        snprintf(path, sizeof(path), "%s/corral-body-XXXXXX", dir);
        t->spool_fd = mkostemp(path, O_CLOEXEC);
        if (t->spool_fd >= 0)
            unlink(path);
    }
    if (t->spool_fd < 0) {
        crl_log(CRL_LOG_ERR, errno, "request body spool: cannot create a temporary file in %s",
                dir);
        return CRL_ERROR;
    }
    return CRL_OK;
}

/* Read the whole body into the spool file, without the GIL. The body's
 * length, or -errno for a read error, -EIO (logged) for a write error. */
static int64_t spool_fill(crl_python_thread_t *t)
{
    size_t bufsize = spool_bufsize();
    int64_t total = 0;
    ssize_t n, w, off;

    for (;;) {
        n = crl_request_read(t->req, t->spool_buf, bufsize);
        if (n <= 0)
            return n < 0 ? n : total;
        for (off = 0; off < n; off += w) {
            w = write(t->spool_fd, t->spool_buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) {
                w = 0;
                continue;
            }
            if (w <= 0) {
                crl_log(CRL_LOG_ERR, w < 0 ? errno : ENOSPC,
                        "request body spool: cannot write the body to a temporary file");
                return -EIO;
            }
        }
        total += n;
    }
}

/* Whether the body is read whole into the spool file before the app runs:
 * with post-buffering, a body above the limit or of unknown length; and a
 * chunked upload (unknown length) always, unless wsgi-manage-chunked-input
 * asks for it as it arrives. WSGI apps learn a body's length only from
 * CONTENT_LENGTH, and Django reads nothing without it. */
static int must_spool(const crl_request_t *req)
{
    const crl_python_conf_t *c = &crl__python.conf;

    if (req->content_length < 0)
        return c->post_buffering > 0 || !c->manage_chunked_input;
    return c->post_buffering > 0 && req->content_length > c->post_buffering;
}

/* Spool the body when must_spool says so. *len is the spooled length, -1
 * when the body is not spooled. CRL_OK, or CRL_ERROR after answering the
 * request. */
static int spool_body(crl_python_thread_t *t, int64_t *len)
{
    PyThreadState *ts;
    int64_t n;

    *len = -1;
    if (!must_spool(t->req))
        return CRL_OK;
    if (spool_open(t) != CRL_OK) {
        send_error(t->req, 500);
        return CRL_ERROR;
    }
    ts = crl__python_release();
    n = spool_fill(t);
    crl__python_acquire(ts);
    if (n >= 0) {
        *len = n;
        return CRL_OK;
    }
    if (n != -EIO) {
        t->client_gone = 1;
        t->gone_errno = (int)-n;
        crl__python_log_gone(t);
    }
    send_error(t->req, n == -EIO ? 500 : n == -ETIMEDOUT ? 408 : 400);
    return CRL_ERROR;
}

/* Unbind wsgi.input; if the app kept a reference, it stays unbound and
 * the next request gets a new one. Empty the spool file. */
static void end_request(crl_python_thread_t *t, int64_t spooled)
{
    crl__python_input_bind(t->input, NULL, -1, 0);
    if (Py_REFCNT(t->input) > 1) {
        Py_SETREF(t->input, crl__python_input_new());
        if (t->input == NULL)
            crl__python_log_exception();
    }
    if (spooled > 0 && (ftruncate(t->spool_fd, 0) != 0 || lseek(t->spool_fd, 0, SEEK_SET) < 0))
        crl_log(CRL_LOG_WARN, errno, "post-buffering: cannot empty the temporary file");
    Py_CLEAR(t->violation);
    t->req = NULL;
}

/* Start serving req in thread context t: CRL_OK, or CRL_ERROR after
 * answering (no app, or setup failed). */
static int begin_request(crl_python_thread_t *t, crl_request_t *req)
{
    t->req = req;
    t->sr_called = 0;
    t->finished = 0;
    t->client_gone = 0;
    t->gone_errno = 0;
    t->gone_logged = 0;
    if (t->input == NULL && (t->input = crl__python_input_new()) == NULL) {
        crl__python_log_exception();
        send_error(req, 500);
        t->req = NULL;
        return CRL_ERROR;
    }
    return CRL_OK;
}

static int no_app(crl_request_t *req)
{
    if (!crl__python.no_app_logged)
        crl_log(CRL_LOG_ERR, 0, "no Python application loaded");
    crl__python.no_app_logged = 1;
    send_error(req, 500);
    return CRL_OK;
}

int crl__python_wsgi_handle(crl_request_t *req)
{
    crl_python_thread_t *t;
    PyObject *environ, *app = NULL;
    int64_t spooled = -1;
    int rc;

    if (crl__python.app == NULL && crl__python.nmounts == 0)
        return no_app(req);
    if ((crl__python.environ_proto == NULL && crl__python_worker_setup() != CRL_OK) ||
        (t = thread_ctx()) == NULL) {
        crl__python_log_exception();
        send_error(req, 500);
        return CRL_OK;
    }
    if (begin_request(t, req) != CRL_OK)
        return CRL_OK;
    if (spool_body(t, &spooled) != CRL_OK) {
        rc = CRL_ERROR;
        goto done;
    }
    crl__python_input_bind(t->input, t, spooled >= 0 ? t->spool_fd : -1, spooled);
    environ = build_environ(t, req, req->content_length < 0 ? spooled : -1, &app);
    if (environ == NULL) {
        crl__python_log_exception();
        rc = fail_response(t);
    } else if (app == NULL) {
        send_error(req, 404);
        rc = CRL_OK;
    } else if (app == Py_None) {
        send_error(req, 500); /* a mount whose app failed to load (logged at start) */
        rc = CRL_OK;
    } else {
        rc = run_app(t, app, environ);
    }
    Py_XDECREF(environ);
done:
    end_request(t, spooled);
    return rc;
}
