/*
 * The Python types the environ carries:
 *  - wsgi.input: the request body, read through crl_request_read with the
 *    GIL released, never past CONTENT_LENGTH. A small buffer inside the
 *    object serves readline(); read() copies from the buffer first and then
 *    reads straight into the result. The object is bound to one request at a
 *    time; unbound, every read raises OSError. With post-buffering the body
 *    was spooled to a file before the app ran and is read from there.
 *  - wsgi.errors: text written to the log as it is.
 *  - wsgi.file_wrapper: PEP 3333's optional wrapper; the response code sends
 *    a wrapped real file with sendfile, anything else is iterated in blocks.
 */
#include "crl_python.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define INPUT_BUF 8192

typedef struct {
    PyObject_HEAD
    crl_request_t *req;
    crl_python_thread_t *owner; /* the thread context serving req */
    int spool_fd;      /* post-buffering file holding the body, or -1 */
    int64_t spool_off; /* next byte to read from it */
    int64_t remaining; /* body bytes the core still has for us; -1 while
                          unknown (chunked upload: read until 0) */
    size_t pos, end;   /* buffered bytes are buf[pos, end) */
    char buf[INPUT_BUF];
} input_t;

/* Raise OSError for a failed read (-errno, or unbound). */
static void input_raise(input_t *in, ssize_t n)
{
    if (n == 0) {
        PyErr_SetString(PyExc_OSError, "wsgi.input used outside of its request");
        return;
    }
    if (in->owner != NULL && in->spool_fd < 0) { /* a spool file error is not the client */
        in->owner->client_gone = 1;
        in->owner->gone_errno = (int)-n;
    }
    errno = (int)-n;
    PyErr_SetFromErrno(PyExc_OSError);
}

/* Read from the post-buffering file: the count, or -errno. */
static ssize_t spool_read(input_t *in, char *dst, size_t len)
{
    ssize_t n;

    do
        n = pread(in->spool_fd, dst, len, in->spool_off);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    in->spool_off += n;
    return n;
}

/* Read up to len body bytes into dst with the GIL released. Returns the
 * count, 0 at the end of the body, -1 with an exception set. */
static ssize_t input_raw(input_t *in, char *dst, size_t len)
{
    PyThreadState *ts;
    ssize_t n;

    if (in->req == NULL) {
        input_raise(in, 0);
        return -1;
    }
    if (in->remaining == 0 || len == 0)
        return 0;
    if (in->remaining > 0 && (int64_t)len > in->remaining)
        len = (size_t)in->remaining;
    if (in->spool_fd >= 0) {
        n = spool_read(in, dst, len);
    } else {
        ts = crl__python_release();
        n = crl_request_read(in->req, dst, len);
        crl__python_acquire(ts);
    }
    if (n < 0) {
        input_raise(in, n);
        return -1;
    }
    if (n == 0)
        in->remaining = 0; /* the body ended (early): do not ask again */
    else if (in->remaining > 0)
        in->remaining -= n;
    return n;
}

static ssize_t input_fill(input_t *in)
{
    ssize_t n = input_raw(in, in->buf, sizeof(in->buf));

    in->pos = 0;
    in->end = n > 0 ? (size_t)n : 0;
    return n;
}

/* size argument: an int or None, negative meaning "all". */
static int size_arg(PyObject *const *args, Py_ssize_t nargs, const char *fn, Py_ssize_t *size)
{
    *size = -1;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument (%zd given)", fn, nargs);
        return -1;
    }
    if (nargs == 1 && args[0] != Py_None) {
        *size = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
        if (*size == -1 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

/* Append len bytes to *res (capacity *cap, used *used), growing by doubling. */
static int append(PyObject **res, Py_ssize_t *cap, Py_ssize_t *used, const char *p, size_t len)
{
    if (*res == NULL) {
        *cap = (Py_ssize_t)len < 256 ? 256 : (Py_ssize_t)len;
        *res = PyBytes_FromStringAndSize(NULL, *cap);
        if (*res == NULL)
            return -1;
    }
    if (*used + (Py_ssize_t)len > *cap) {
        while (*used + (Py_ssize_t)len > *cap)
            *cap *= 2;
        if (_PyBytes_Resize(res, *cap) < 0)
            return -1;
    }
    memcpy(PyBytes_AS_STRING(*res) + *used, p, len);
    *used += (Py_ssize_t)len;
    return 0;
}

/* Everything up to the end of a body of unknown length. */
static PyObject *input_read_all(input_t *in)
{
    PyObject *res = NULL;
    Py_ssize_t cap = 0, used = 0;
    ssize_t n;

    if (append(&res, &cap, &used, in->buf + in->pos, in->end - in->pos) < 0)
        return NULL;
    in->pos = in->end = 0;
    for (;;) {
        if (used == cap && _PyBytes_Resize(&res, cap *= 2) < 0)
            return NULL;
        n = input_raw(in, PyBytes_AS_STRING(res) + used, (size_t)(cap - used));
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        used += n;
    }
    if (_PyBytes_Resize(&res, used) < 0)
        return NULL;
    return res;
fail:
    Py_DECREF(res);
    return NULL;
}

static PyObject *input_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    input_t *in = (input_t *)self;
    Py_ssize_t size, have, buffered;
    PyObject *res;
    ssize_t n;

    if (size_arg(args, nargs, "read", &size) < 0)
        return NULL;
    if (in->req == NULL) {
        input_raise(in, 0);
        return NULL;
    }
    buffered = (Py_ssize_t)(in->end - in->pos);
    if (in->remaining < 0 && size < 0)
        return input_read_all(in);
    if (in->remaining >= 0 && (size < 0 || size > buffered + in->remaining))
        size = buffered + (Py_ssize_t)in->remaining;
    res = PyBytes_FromStringAndSize(NULL, size);
    if (res == NULL)
        return NULL;
    have = size < buffered ? size : buffered;
    memcpy(PyBytes_AS_STRING(res), in->buf + in->pos, (size_t)have);
    in->pos += (size_t)have;
    while (have < size) {
        n = input_raw(in, PyBytes_AS_STRING(res) + have, (size_t)(size - have));
        if (n < 0) {
            Py_DECREF(res);
            return NULL;
        }
        if (n == 0)
            break;
        have += n;
    }
    if (have < size && _PyBytes_Resize(&res, have) < 0)
        return NULL;
    return res;
}

/* One line (with its "\n"), at most limit bytes; b"" at the end. */
static PyObject *input_line(input_t *in, Py_ssize_t limit)
{
    PyObject *res = NULL;
    Py_ssize_t cap = 0, used = 0;
    size_t chunk, take;
    const char *nl;
    ssize_t n;

    if (in->req == NULL) {
        input_raise(in, 0);
        return NULL;
    }
    while (used < limit) {
        if (in->pos == in->end) {
            n = input_fill(in);
            if (n < 0)
                goto fail;
            if (n == 0)
                break;
        }
        chunk = in->end - in->pos;
        if ((Py_ssize_t)chunk > limit - used)
            chunk = (size_t)(limit - used);
        nl = memchr(in->buf + in->pos, '\n', chunk);
        take = nl ? (size_t)(nl - (in->buf + in->pos)) + 1 : chunk;
        if (res == NULL && nl) { /* the usual case: the line is in the buffer */
            res = PyBytes_FromStringAndSize(in->buf + in->pos, (Py_ssize_t)take);
            in->pos += take;
            return res;
        }
        if (append(&res, &cap, &used, in->buf + in->pos, take) < 0)
            goto fail;
        in->pos += take;
        if (nl)
            break;
    }
    if (res == NULL)
        return PyBytes_FromStringAndSize("", 0);
    if (used < cap && _PyBytes_Resize(&res, used) < 0)
        return NULL;
    return res;
fail:
    Py_XDECREF(res);
    return NULL;
}

static PyObject *input_readline(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t size;

    if (size_arg(args, nargs, "readline", &size) < 0)
        return NULL;
    return input_line((input_t *)self, size < 0 ? PY_SSIZE_T_MAX : size);
}

static PyObject *input_readlines(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t hint, total = 0;
    PyObject *list, *line;

    if (size_arg(args, nargs, "readlines", &hint) < 0)
        return NULL;
    list = PyList_New(0);
    if (list == NULL)
        return NULL;
    for (;;) {
        line = input_line((input_t *)self, PY_SSIZE_T_MAX);
        if (line == NULL)
            goto fail;
        if (PyBytes_GET_SIZE(line) == 0) {
            Py_DECREF(line);
            break;
        }
        total += PyBytes_GET_SIZE(line);
        if (PyList_Append(list, line) < 0) {
            Py_DECREF(line);
            goto fail;
        }
        Py_DECREF(line);
        if (hint > 0 && total >= hint)
            break;
    }
    return list;
fail:
    Py_DECREF(list);
    return NULL;
}

static PyObject *input_next(PyObject *self)
{
    PyObject *line = input_line((input_t *)self, PY_SSIZE_T_MAX);

    if (line != NULL && PyBytes_GET_SIZE(line) == 0)
        Py_CLEAR(line); /* StopIteration */
    return line;
}

static PyMethodDef input_methods[] = {
    { "read", (PyCFunction)(void (*)(void))input_read, METH_FASTCALL, "read(size=-1)" },
    { "readline", (PyCFunction)(void (*)(void))input_readline, METH_FASTCALL,
      "readline(size=-1)" },
    { "readlines", (PyCFunction)(void (*)(void))input_readlines, METH_FASTCALL,
      "readlines(hint=-1)" },
    { NULL, NULL, 0, NULL },
};

PyTypeObject crl__python_input_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corral.Input",
    .tp_basicsize = sizeof(input_t),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.input: the request body",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = input_next,
    .tp_methods = input_methods,
};

PyObject *crl__python_input_new(void)
{
    input_t *in = PyObject_New(input_t, &crl__python_input_type);

    if (in == NULL)
        return NULL;
    in->req = NULL;
    in->owner = NULL;
    in->spool_fd = -1;
    in->spool_off = 0;
    in->remaining = 0;
    in->pos = in->end = 0;
    return (PyObject *)in;
}

void crl__python_input_bind(PyObject *input, crl_python_thread_t *t, int spool_fd,
                            int64_t spool_len)
{
    input_t *in = (input_t *)input;
    crl_request_t *req = t ? t->req : NULL;

    in->req = req;
    in->owner = t;
    in->spool_fd = spool_fd;
    in->spool_off = 0;
    if (req == NULL)
        in->remaining = 0;
    else if (spool_fd >= 0)
        in->remaining = spool_len;
    else
        in->remaining = req->content_length < 0 ? -1 : req->content_length;
    in->pos = in->end = 0;
}

/* wsgi.errors */

static PyObject *errors_write(PyObject *self, PyObject *arg)
{
    const char *s;
    Py_ssize_t n;

    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "wsgi.errors.write() takes str, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    s = PyUnicode_AsUTF8AndSize(arg, &n);
    if (s == NULL)
        return NULL;
    crl_log_raw(s, (size_t)n);
    return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(arg));
}

static PyObject *errors_writelines(PyObject *self, PyObject *seq)
{
    PyObject *it = PyObject_GetIter(seq), *item, *r;

    if (it == NULL)
        return NULL;
    while ((item = PyIter_Next(it)) != NULL) {
        r = errors_write(self, item);
        Py_DECREF(item);
        if (r == NULL)
            break;
        Py_DECREF(r);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *errors_flush(PyObject *self, PyObject *unused)
{
    Py_RETURN_NONE;
}

static PyMethodDef errors_methods[] = {
    { "write", errors_write, METH_O, "write(str)" },
    { "writelines", errors_writelines, METH_O, "writelines(iterable of str)" },
    { "flush", errors_flush, METH_NOARGS, "flush()" },
    { NULL, NULL, 0, NULL },
};

PyTypeObject crl__python_errors_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corral.Errors",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.errors: writes to the Corral log",
    .tp_methods = errors_methods,
};

/* wsgi.file_wrapper */

typedef struct {
    PyObject_HEAD
    PyObject *file;
    Py_ssize_t blksize;
} file_wrapper_t;

static PyObject *fw_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "filelike", "blksize", NULL };
    file_wrapper_t *fw;
    PyObject *file;
    Py_ssize_t blksize = 8192;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n:file_wrapper", kwlist, &file, &blksize))
        return NULL;
    if (blksize <= 0)
        blksize = 8192;
    fw = (file_wrapper_t *)type->tp_alloc(type, 0);
    if (fw == NULL)
        return NULL;
    Py_INCREF(file);
    fw->file = file;
    fw->blksize = blksize;
    return (PyObject *)fw;
}

static void fw_dealloc(PyObject *self)
{
    file_wrapper_t *fw = (file_wrapper_t *)self;

    PyObject_GC_UnTrack(self);
    Py_CLEAR(fw->file);
    Py_TYPE(self)->tp_free(self);
}

static int fw_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((file_wrapper_t *)self)->file);
    return 0;
}

static PyObject *fw_next(PyObject *self)
{
    file_wrapper_t *fw = (file_wrapper_t *)self;
    PyObject *data = PyObject_CallMethod(fw->file, "read", "n", fw->blksize);

    if (data != NULL && PyObject_Length(data) == 0)
        Py_CLEAR(data); /* StopIteration */
    return data;
}

static PyObject *fw_close(PyObject *self, PyObject *unused)
{
    file_wrapper_t *fw = (file_wrapper_t *)self;
    PyObject *close;

    close = PyObject_GetAttrString(fw->file, "close");
    if (close == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Py_SETREF(close, PyObject_CallNoArgs(close));
    return close;
}

static PyMethodDef fw_methods[] = {
    { "close", fw_close, METH_NOARGS, "close the wrapped file" },
    { NULL, NULL, 0, NULL },
};

PyTypeObject crl__python_file_wrapper_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corral.FileWrapper",
    .tp_basicsize = sizeof(file_wrapper_t),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "wsgi.file_wrapper(filelike, blksize=8192)",
    .tp_new = fw_new,
    .tp_dealloc = fw_dealloc,
    .tp_traverse = fw_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = fw_next,
    .tp_methods = fw_methods,
};

PyObject *crl__python_file_wrapper_file(PyObject *wrapper, Py_ssize_t *blksize)
{
    file_wrapper_t *fw = (file_wrapper_t *)wrapper;

    *blksize = fw->blksize;
    return fw->file;
}

int crl__python_io_init(void)
{
    if (PyType_Ready(&crl__python_input_type) < 0 ||
        PyType_Ready(&crl__python_errors_type) < 0 ||
        PyType_Ready(&crl__python_file_wrapper_type) < 0)
        return CRL_ERROR;
    return CRL_OK;
}
