/*
 * WSGI (PEP 3333) request handling: build the environ, call the app, send
 * what it returns.
 *
 * Invariants:
 *  - Everything here runs with the GIL held; it is dropped only around the
 *    core's blocking calls (crl_response_write/sendfile, and the body reads
 *    in crl_python_io.c), always through crl__python_release/acquire.
 *  - No C allocation per request. Per-worker objects (the prototype environ,
 *    the start_response and write callables, wsgi.input/errors, constant
 *    strings) are built once by crl__python_worker_setup(); environ keys come
 *    from a fixed-size cache of interned strings; response headers are
 *    passed to the core as slices of the app's str objects (latin-1 strings
 *    are stored one byte per character), in a fixed array.
 *  - crl__python.req is non-NULL only while a request is served; the
 *    callables refuse to work without it.
 *  - The response iterable's close() is always called, whatever happened.
 */
#include "crl_python.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    PyObject *d = PyDict_New();

    if (d == NULL)
        return NULL;
    if (set_item(d, "wsgi.version", Py_BuildValue("(ii)", 1, 0)) < 0 ||
        set_item(d, "wsgi.url_scheme", Py_NewRef(crl__python.s_http)) < 0 ||
        set_item(d, "wsgi.input", Py_NewRef(Py_None)) < 0 ||
        set_item(d, "wsgi.errors", Py_NewRef(crl__python.errors)) < 0 ||
        set_item(d, "wsgi.multithread", Py_NewRef(Py_False)) < 0 ||
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
    c->errors = c->k_path_info ? PyObject_New(PyObject, &crl__python_errors_type) : NULL;
    c->input = c->errors ? crl__python_input_new() : NULL;
    c->start_response = c->input ? PyCFunction_New(&start_response_def, NULL) : NULL;
    c->write = c->start_response ? PyCFunction_New(&write_def, NULL) : NULL;
    c->environ_proto = c->write ? make_proto() : NULL;
    return c->environ_proto ? CRL_OK : CRL_ERROR;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode %XX escapes of REQUEST_URI's path (into path_buf). New ref. */
static PyObject *path_from_uri(crl_str_t uri)
{
    const char *q = memchr(uri.data, '?', uri.len);
    size_t n = q ? (size_t)(q - uri.data) : uri.len, i, o = 0;

    if (n > sizeof(path_buf))
        return PyUnicode_DecodeLatin1(uri.data, (Py_ssize_t)n, NULL);
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
    return PyUnicode_DecodeLatin1(path_buf, (Py_ssize_t)o, NULL);
}

static int value_is(crl_str_t v, const char *lit)
{
    size_t n = strlen(lit);

    return v.len == n && strncasecmp(v.data, lit, n) == 0;
}

/* Note the variables the environ's derived entries depend on. */
static void note_var(const crl_var_t *v, int *have_path, int *https)
{
    switch (v->key.len) {
    case 5:
        if (memcmp(v->key.data, "HTTPS", 5) == 0)
            *https |= value_is(v->value, "on") || value_is(v->value, "1");
        break;
    case 9:
        if (memcmp(v->key.data, "PATH_INFO", 9) == 0)
            *have_path = 1;
        break;
    case 12:
        if (memcmp(v->key.data, "UWSGI_SCHEME", 12) == 0)
            *https |= value_is(v->value, "https");
        break;
    case 14:
        if (memcmp(v->key.data, "REQUEST_SCHEME", 14) == 0)
            *https |= value_is(v->value, "https");
        break;
    }
}

/* A new environ for req (new reference), or NULL with an exception. */
static PyObject *build_environ(crl_request_t *req)
{
    crl_python_ctx_t *c = &crl__python;
    PyObject *env = PyDict_Copy(c->environ_proto), *k = NULL, *v = NULL;
    int have_path = 0, https = 0;
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
        note_var(var, &have_path, &https);
    }
    if (!have_path) {
        crl_str_t uri = crl_request_var(req, "REQUEST_URI");

        v = uri.data ? path_from_uri(uri) : Py_NewRef(c->s_empty);
        if (v == NULL || PyDict_SetItem(env, c->k_path_info, v) < 0)
            goto fail;
        Py_CLEAR(v);
    }
    if (PyDict_SetItem(env, c->k_input, c->input) < 0 ||
        PyDict_SetItem(env, c->k_url_scheme, https ? c->s_https : c->s_http) < 0)
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

/* Validate status and headers and hand them to the core. */
static int set_head(PyObject *status, PyObject *headers)
{
    crl_python_ctx_t *c = &crl__python;
    crl_str_t st;
    Py_ssize_t i, n;

    if (latin1(status, "status", &st) < 0)
        return -1;
    if (st.len < 4 || st.data[3] != ' ' || st.data[0] < '1' || st.data[0] > '9' ||
        st.data[1] < '0' || st.data[1] > '9' || st.data[2] < '0' || st.data[2] > '9') {
        PyErr_Format(PyExc_ValueError, "status must be 'NNN reason', not %R", status);
        return -1;
    }
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
            PyErr_Format(PyExc_TypeError, "headers must be (name, value) tuples, not %R", h);
            return -1;
        }
        if (latin1(PyTuple_GET_ITEM(h, 0), "header name", &c->headers[i].name) < 0 ||
            latin1(PyTuple_GET_ITEM(h, 1), "header value", &c->headers[i].value) < 0)
            return -1;
    }
    if (crl_response_start(c->req, st, c->headers, (size_t)n) != CRL_OK) {
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

static PyObject *start_response(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    crl_python_ctx_t *c = &crl__python;
    PyObject *a[3], *status, *headers, *exc_info;

    if (sr_args(args, nargs, kwnames, a) < 0)
        return NULL;
    status = a[0];
    headers = a[1];
    exc_info = a[2];
    if (c->req == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called outside of a request");
        return NULL;
    }
    /* (None, None, None), what sys.exc_info() gives outside an except
     * block, means no error */
    if (PyTuple_Check(exc_info) && PyTuple_GET_SIZE(exc_info) == 3 &&
        PyTuple_GET_ITEM(exc_info, 0) == Py_None)
        exc_info = Py_None;
    if (exc_info != Py_None) {
        if (crl_response_head_sent(c->req)) {
            if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
                PyErr_SetString(PyExc_TypeError, "exc_info must be a 3-tuple");
                return NULL;
            }
            PyErr_Restore(Py_NewRef(PyTuple_GET_ITEM(exc_info, 0)),
                          Py_NewRef(PyTuple_GET_ITEM(exc_info, 1)),
                          Py_NewRef(PyTuple_GET_ITEM(exc_info, 2)));
            return NULL;
        }
    } else if (c->sr_called) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called again without exc_info");
        return NULL;
    }
    if (set_head(status, headers) < 0)
        return NULL;
    c->sr_called = 1;
    return Py_NewRef(c->write);
}

static void log_gone(void)
{
    crl_python_ctx_t *c = &crl__python;

    if (c->client_gone == 2)
        return;
    c->client_gone = 2;
    crl_log(CRL_LOG_WARN, c->gone_errno, "client went away before the response was complete");
}

/* Send body bytes with the GIL released; `last` completes the response
 * (and lets the core frame a body sent in one piece with Content-Length).
 * CRL_OK or -errno. */
static int write_body(const char *p, size_t n, int last)
{
    crl_python_ctx_t *c = &crl__python;
    PyThreadState *ts;
    int rc;

    if (n == 0 && !last)
        return CRL_OK;
    ts = crl__python_release();
    rc = last ? crl_response_end(c->req, p, n) : crl_response_write(c->req, p, n);
    crl__python_acquire(ts);
    if (rc < 0 && !c->client_gone) {
        c->client_gone = 1;
        c->gone_errno = -rc;
    }
    c->finished |= last && rc == CRL_OK;
    return rc < 0 ? rc : CRL_OK;
}

static PyObject *write_cb(PyObject *self, PyObject *data)
{
    crl_python_ctx_t *c = &crl__python;
    Py_buffer view;
    int rc;

    if (c->req == NULL || !c->sr_called) {
        PyErr_SetString(PyExc_RuntimeError, "write() called before start_response()");
        return NULL;
    }
    if (PyUnicode_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "write() takes bytes, not str");
        return NULL;
    }
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    rc = write_body(view.buf, (size_t)view.len, 0);
    PyBuffer_Release(&view);
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* Log the pending exception: a traceback, or one line when it is the
 * OSError raised in the app because the client went away. */
static void report_exception(void)
{
    if (crl__python.client_gone && PyErr_ExceptionMatches(PyExc_OSError)) {
        PyErr_Clear();
        log_gone();
        return;
    }
    crl__python_log_exception();
}

/* Send one item of the response iterable (`last`: the only one). CRL_OK or
 * CRL_ERROR (logged). */
static int send_item(PyObject *item, int last)
{
    Py_buffer view;
    int rc;

    if (PyUnicode_Check(item)) {
        crl_log(CRL_LOG_ERR, 0, "response body items must be bytes, not str");
        return CRL_ERROR;
    }
    if (PyObject_GetBuffer(item, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        crl_log(CRL_LOG_ERR, 0, "response body items must be bytes, not %.100s",
                Py_TYPE(item)->tp_name);
        return CRL_ERROR;
    }
    rc = CRL_OK;
    if ((view.len > 0 || last) && !crl__python.sr_called) {
        crl_log(CRL_LOG_ERR, 0, "the application sent body bytes before calling start_response");
        rc = CRL_ERROR;
    } else if (write_body(view.buf, (size_t)view.len, last) < 0) {
        log_gone();
        rc = CRL_ERROR;
    }
    PyBuffer_Release(&view);
    return rc;
}

static int send_iter(PyObject *result)
{
    PyObject *it = PyObject_GetIter(result), *item;
    int rc = CRL_OK;

    if (it == NULL) {
        report_exception();
        return CRL_ERROR;
    }
    while ((item = PyIter_Next(it)) != NULL) {
        rc = send_item(item, 0);
        Py_DECREF(item);
        if (rc != CRL_OK)
            break;
    }
    if (rc == CRL_OK && PyErr_Occurred()) {
        report_exception();
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

static int send_file_wrapper(PyObject *result)
{
    crl_python_ctx_t *c = &crl__python;
    Py_ssize_t blksize;
    PyObject *file = crl__python_file_wrapper_file(result, &blksize);
    PyThreadState *ts;
    off_t off;
    size_t len;
    int fd, rc;

    if (wrapped_file(file, &fd, &off, &len) != CRL_OK)
        return send_iter(result);
    if (!c->sr_called) {
        crl_log(CRL_LOG_ERR, 0, "the application sent a file before calling start_response");
        return CRL_ERROR;
    }
    if (len == 0)
        return CRL_OK;
    ts = crl__python_release();
    rc = crl_response_sendfile(c->req, fd, off, len);
    crl__python_acquire(ts);
    if (rc < 0) {
        c->client_gone = 1;
        c->gone_errno = -rc;
        log_gone();
        return CRL_ERROR;
    }
    return CRL_OK;
}

/* Send the iterable, then call its close(). CRL_OK or CRL_ERROR (logged). */
static int send_result(PyObject *result)
{
    PyObject *close, *r;
    int rc;

    if (Py_IS_TYPE(result, &crl__python_file_wrapper_type))
        rc = send_file_wrapper(result);
    else if (PyList_CheckExact(result) && PyList_GET_SIZE(result) == 1)
        rc = send_item(PyList_GET_ITEM(result, 0), 1);
    else if (PyTuple_CheckExact(result) && PyTuple_GET_SIZE(result) == 1)
        rc = send_item(PyTuple_GET_ITEM(result, 0), 1);
    else
        rc = send_iter(result);
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
    PyThreadState *ts = crl__python_release();
    int rc = crl_response_finish(req);

    crl__python_acquire(ts);
    return rc;
}

/* Finish the response after a failure: a 500 when nothing was sent. */
static int fail_response(crl_request_t *req)
{
    int sent = crl_response_head_sent(req);

    if (!crl__python.client_gone || !sent)
        send_error(req, 500);
    return sent || crl__python.client_gone ? CRL_ERROR : CRL_OK;
}

/* Call the app and send its response; the environ is built. */
static int run_app(crl_request_t *req, PyObject *environ)
{
    crl_python_ctx_t *c = &crl__python;
    PyObject *args[2] = { environ, c->start_response };
    PyObject *result = PyObject_Vectorcall(c->app, args, 2, NULL);
    int rc;

    if (result == NULL) {
        report_exception();
        return fail_response(req);
    }
    rc = send_result(result);
    Py_DECREF(result);
    if (rc != CRL_OK)
        return fail_response(req);
    if (!c->sr_called) {
        crl_log(CRL_LOG_ERR, 0, "the application returned without calling start_response");
        return fail_response(req);
    }
    rc = c->finished ? CRL_OK : send_finish(req);
    if (rc < 0) {
        if (!c->client_gone)
            c->gone_errno = -rc;
        c->client_gone = 1;
        log_gone();
        return CRL_ERROR;
    }
    return CRL_OK;
}

/* Unbind wsgi.input; if the app kept a reference, it stays unbound and
 * the next request gets a new one. */
static void end_request(void)
{
    crl_python_ctx_t *c = &crl__python;

    crl__python_input_bind(c->input, NULL);
    if (Py_REFCNT(c->input) > 1) {
        Py_SETREF(c->input, crl__python_input_new());
        if (c->input == NULL)
            crl__python_log_exception();
    }
    c->req = NULL;
}

int crl__python_wsgi_handle(crl_request_t *req)
{
    crl_python_ctx_t *c = &crl__python;
    PyObject *environ;
    int rc;

    if (c->app == NULL) {
        if (!c->no_app_logged)
            crl_log(CRL_LOG_ERR, 0, "no Python application loaded");
        c->no_app_logged = 1;
        send_error(req, 500);
        return CRL_OK;
    }
    if ((c->environ_proto == NULL && crl__python_worker_setup() != CRL_OK) ||
        (c->input == NULL && (c->input = crl__python_input_new()) == NULL)) {
        crl__python_log_exception();
        send_error(req, 500);
        return CRL_OK;
    }
    c->req = req;
    c->sr_called = 0;
    c->finished = 0;
    c->client_gone = 0;
    c->gone_errno = 0;
    crl__python_input_bind(c->input, req);
    environ = build_environ(req);
    if (environ == NULL) {
        crl__python_log_exception();
        rc = fail_response(req);
    } else {
        rc = run_app(req, environ);
        Py_DECREF(environ);
    }
    end_request();
    return rc;
}
