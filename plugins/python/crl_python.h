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
 *   crl_python_uwsgi.c the `uwsgi` and `uwsgidecorators` modules, postfork
 *                      hooks, py-autoreload
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
    crl_list_t mounts;      /* "/prefix=spec" */
    int manage_script_name; /* compatibility only: mounts always split */
    int disable_write_exception; /* write() does not raise when the client left */
    int ignore_sigpipe;     /* compatibility only: SIGPIPE is always ignored */
    int ignore_write_errors;/* no log line when the client left */
    long post_buffering;    /* bodies above this many bytes are spooled (0: off) */
    long post_buffering_bufsize;
    int manage_chunked_input; /* stream chunked uploads: no CONTENT_LENGTH */
    long autoreload;        /* py-autoreload seconds (0: off) */
} crl_python_conf_t;

/* One mounted application: requests whose PATH_INFO is `prefix` or starts
 * with `prefix` + "/" (the longest such prefix wins). */
typedef struct {
    const char *prefix;     /* without a trailing "/"; "" for "/" */
    size_t len;
    PyObject *script_name;  /* prefix as str */
    PyObject *app;
    const char *spec;       /* what was loaded, for messages */
} crl_python_mount_t;

/* All per-process plugin state. Fields are written only with the GIL held
 * (or before any request thread exists). */
typedef struct {
    crl_python_conf_t conf;

    int initialized;         /* the interpreter is up */
    PyThreadState *main_ts;  /* saved while the main thread is out of Python */
    PyObject *app;           /* the default WSGI callable, or NULL */
    crl_python_mount_t *mounts;
    size_t nmounts;
    int no_app_logged;       /* "no Python application loaded" said once */

    /* Built once per process (crl__python_worker_setup). */
    PyObject *environ_proto; /* constant environ entries */
    PyObject *errors;        /* the wsgi.errors object */
    PyObject *s_http, *s_https, *s_empty, *s_close;
    PyObject *k_input, *k_url_scheme, *k_path_info, *k_script_name;
} crl_python_ctx_t;

extern crl_python_ctx_t crl__python;

/* Per request thread: what one request being served needs. Created on the
 * thread's first request (crl__python_wsgi_handle) and kept for the life of
 * the thread; only that thread uses it. */
typedef struct {
    PyObject *self;           /* capsule for this struct: the callables' self */
    PyObject *start_response; /* the start_response callable */
    PyObject *write;          /* what start_response returns */
    PyObject *input;          /* the wsgi.input object, reused when unshared */

    /* The request being served (req is NULL outside handle()). */
    crl_request_t *req;
    int sr_called;            /* start_response was called */
    int finished;             /* the response was completed (crl_response_end) */
    int client_gone;          /* a read or write failed: the client went away */
    int gone_errno;
    int gone_logged;          /* the one "client went away" line was written */
    PyObject *violation;      /* the error raised for the app's misuse of the API */
    int spool_fd;             /* post-buffering temporary file, or -1 */
    char *spool_buf;          /* post-buffering-bufsize bytes, or NULL */
    crl_header_t headers[CRL_PY_MAX_HEADERS];
} crl_python_thread_t;

/* The one pair of GIL wrappers. release() saves the calling thread's state
 * and drops the GIL; acquire() takes it back with that state. */
PyThreadState *crl__python_release(void);
void crl__python_acquire(PyThreadState *ts);
/* Around a socket write that rarely blocks: the GIL is released only when
 * another Python thread exists to take it (NULL: it was kept). A thread
 * started meanwhile waits at most until the request ends. */
PyThreadState *crl__python_release_for_io(void);
void crl__python_acquire_after_io(PyThreadState *ts);

/* Write the pending Python exception's traceback to the log and clear it. */
void crl__python_log_exception(void);

/* Build the per-worker objects (types, callables, prototype environ).
 * With the GIL. CRL_OK or CRL_ERROR (Python exception logged). */
int crl__python_worker_setup(void);

/* Serve one request; with the GIL held. Result as crl_app_ops_t.handle. */
int crl__python_wsgi_handle(crl_request_t *req);

/* Log "client went away during ... METHOD URI" once per request (unless
 * ignore-write-errors). */
void crl__python_log_gone(crl_python_thread_t *t);

/* Types of crl_python_io.c. Ready them once with crl__python_io_init()
 * (with the GIL): CRL_OK or CRL_ERROR with a Python exception set. */
extern PyTypeObject crl__python_input_type;
extern PyTypeObject crl__python_errors_type;
extern PyTypeObject crl__python_file_wrapper_type;
int crl__python_io_init(void);

/* A new wsgi.input object, not bound to a request. */
PyObject *crl__python_input_new(void);
/* Bind the input object to t's request (NULL detaches: later reads raise).
 * With post-buffering the body is read from `spool_fd` ([0, spool_len))
 * instead of the core (spool_fd -1: from the core). */
void crl__python_input_bind(PyObject *input, crl_python_thread_t *t, int spool_fd,
                            int64_t spool_len);

/* The `uwsgi` and `uwsgidecorators` built-in modules: register them
 * before the interpreter starts (CRL_OK or CRL_ERROR, logged). */
int crl__python_uwsgi_register(void);
/* After a fork, in a worker, with the GIL: run uwsgi.post_fork_hook (the
 * uwsgidecorators.postfork functions) if the app set one. */
void crl__python_uwsgi_postfork(void);
/* At exit, with the GIL: call uwsgi.atexit if the app set it. */
void crl__python_uwsgi_atexit(void);
/* In a worker, with the GIL: start the py-autoreload thread, checking
 * every `interval` seconds. CRL_OK or CRL_ERROR (logged). */
int crl__python_autoreload_start(long interval);

/* The file wrapper's file object and block size (borrowed). */
PyObject *crl__python_file_wrapper_file(PyObject *wrapper, Py_ssize_t *blksize);

#endif
