/*
 * Private interface of the python plugin: the plugin's one context struct
 * and the functions its three files share (crl__python_* symbols, hidden in
 * the shared object).
 *
 *   crl_python.c       descriptor, options, interpreter life cycle, GIL,
 *                      loading the application
 *   crl_python_wsgi.c  environ, start_response/write, serving a request
 *   crl_python_io.c    the wsgi.input, wsgi.errors and wsgi.file_wrapper types
 *
 * Python.h must be included before any system header.
 */
#ifndef CRL_PYTHON_H
#define CRL_PYTHON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <corral/log.h>
#include <corral/option.h>
#include <corral/request.h>
#include <corral/result.h>

/* Most response headers start_response accepts in one call. */
#define CRL_PY_MAX_HEADERS 256

/* The options (registry-owned strings and lists). */
typedef struct {
    char *module;           /* pkg.mod, pkg.mod:callable, pkg.mod:factory() */
    char *wsgi_file;        /* a .py/.wsgi file, relative to the cwd */
    char *callable;         /* NULL means "application" */
    crl_list_t pythonpath;
    char *home;
    int enable_threads;     /* compatibility only: threads are always on */
    int single_interpreter; /* compatibility only: always the main one */
    crl_list_t imports;
    char *pyargv;
    int call_osafterfork;   /* compatibility only: always done */
} crl_python_conf_t;

/* All plugin state. One request at a time per worker (wsgi.multithread is
 * False), so the per-request fields live here too. */
typedef struct {
    crl_python_conf_t conf;

    int initialized;         /* the interpreter is up */
    PyThreadState *main_ts;  /* saved while the main thread is out of Python */
    PyObject *app;           /* the WSGI callable, or NULL */
    int no_app_logged;       /* "no Python application loaded" said once */

    /* Built once per worker (crl__python_worker_setup). */
    PyObject *environ_proto; /* constant environ entries */
    PyObject *start_response;/* the start_response callable */
    PyObject *write;         /* what start_response returns */
    PyObject *input;         /* the wsgi.input object, reused when unshared */
    PyObject *errors;        /* the wsgi.errors object */
    PyObject *s_http, *s_https, *s_empty, *s_close;
    PyObject *k_input, *k_url_scheme, *k_path_info;

    /* The request being served (NULL outside handle()). */
    crl_request_t *req;
    int sr_called;           /* start_response was called */
    int finished;            /* the response was completed (crl_response_end) */
    int client_gone;         /* a write failed: the client went away */
    int gone_errno;
    crl_header_t headers[CRL_PY_MAX_HEADERS];
} crl_python_ctx_t;

extern crl_python_ctx_t crl__python;

/* The one pair of GIL wrappers. release() saves the calling thread's state
 * and drops the GIL; acquire() takes it back with that state. */
PyThreadState *crl__python_release(void);
void crl__python_acquire(PyThreadState *ts);

/* Write the pending Python exception's traceback to the log and clear it. */
void crl__python_log_exception(void);

/* Build the per-worker objects (types, callables, prototype environ).
 * With the GIL. CRL_OK or CRL_ERROR (Python exception logged). */
int crl__python_worker_setup(void);

/* Serve one request; with the GIL held. Result as crl_app_ops_t.handle. */
int crl__python_wsgi_handle(crl_request_t *req);

/* Types of crl_python_io.c. Ready them once with crl__python_io_init()
 * (with the GIL): CRL_OK or CRL_ERROR with a Python exception set. */
extern PyTypeObject crl__python_input_type;
extern PyTypeObject crl__python_errors_type;
extern PyTypeObject crl__python_file_wrapper_type;
int crl__python_io_init(void);

/* A new wsgi.input object, not bound to a request. */
PyObject *crl__python_input_new(void);
/* Bind the input object to req (NULL detaches: later reads raise). */
void crl__python_input_bind(PyObject *input, crl_request_t *req);

/* The file wrapper's file object and block size (borrowed). */
PyObject *crl__python_file_wrapper_file(PyObject *wrapper, Py_ssize_t *blksize);

#endif
