/*
 * The `uwsgi` and `uwsgidecorators` modules that apps and libraries import
 * to detect the server and hook into it, the postfork and atexit hooks, and
 * py-autoreload.
 *
 * `uwsgi` (built in, like uWSGI's; what a user sees):
 *   opt               dict: every configuration key -> its value as bytes
 *                     (the last one for a repeated key; b'' for a bare key),
 *                     as uWSGI 2.0 gives it
 *   numproc           number of worker processes
 *   cores             request threads per worker
 *   version           b'2.0.21-corral'; version_info (2, 0, 21, 0, 'corral')
 *   hostname          bytes
 *   started_on        when the master started (seconds since the epoch)
 *   worker_id()       this worker's id (1-based; 0 in the master)
 *   mule_id()         0: Corral has no mules
 *   masterpid()       the master's pid
 *   total_requests()  requests this worker has completed
 *   reload()          ask the master for a graceful reload; True when sent
 *   log(msg)          write a line to the Corral log
 *   set_logvar(k, v)  accepted and ignored (Corral's log format has no vars)
 *   atexit            set it to a callable: called when a worker or the
 *                     master exits normally
 *   post_fork_hook    set it to a callable: called in each worker after fork
 *                     (after the app is loaded with lazy-apps)
 * `uwsgidecorators`:
 *   postfork          decorator: run the function in each worker after fork
 *   thread            decorator: calling the function runs it in a new
 *                     daemon thread
 *   lock              decorator: calls of the function hold one lock
 *                     (per worker process)
 *
 * Everything else from uWSGI's modules (the spooler, mules, caches,
 * signals, timers) is absent, so that `hasattr`/ImportError checks tell the
 * truth.
 */
#include "crl_python.h"

#include <time.h>
#include <unistd.h>

#include <corral/server.h>

static long started_on;

static PyObject *u_worker_id(PyObject *self, PyObject *unused)
{
    return PyLong_FromUnsignedLong(crl_server_worker_id());
}

static PyObject *u_mule_id(PyObject *self, PyObject *unused)
{
    return PyLong_FromLong(0);
}

static PyObject *u_masterpid(PyObject *self, PyObject *unused)
{
    return PyLong_FromLong((long)crl_server_master_pid());
}

static PyObject *u_total_requests(PyObject *self, PyObject *unused)
{
    return PyLong_FromUnsignedLongLong(crl_server_worker_requests());
}

static PyObject *u_reload(PyObject *self, PyObject *unused)
{
    int rc = crl_server_reload();

    if (rc != CRL_OK)
        crl_log(CRL_LOG_WARN, -rc, "uwsgi.reload(): cannot ask the master to reload");
    return PyBool_FromLong(rc == CRL_OK);
}

static PyObject *u_log(PyObject *self, PyObject *msg)
{
    const char *s;
    Py_ssize_t n;

    if (!PyUnicode_Check(msg)) {
        PyErr_Format(PyExc_TypeError, "uwsgi.log() takes str, not %.100s",
                     Py_TYPE(msg)->tp_name);
        return NULL;
    }
    s = PyUnicode_AsUTF8AndSize(msg, &n);
    if (s == NULL)
        return NULL;
    crl_log(CRL_LOG_INFO, 0, "%.*s", (int)n, s);
    Py_RETURN_TRUE;
}

static PyObject *u_set_logvar(PyObject *self, PyObject *args)
{
    PyObject *k, *v;

    if (!PyArg_UnpackTuple(args, "set_logvar", 2, 2, &k, &v))
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef uwsgi_methods[] = {
    { "worker_id", u_worker_id, METH_NOARGS, "this worker's id (0 in the master)" },
    { "mule_id", u_mule_id, METH_NOARGS, "0: Corral has no mules" },
    { "masterpid", u_masterpid, METH_NOARGS, "the master's pid" },
    { "total_requests", u_total_requests, METH_NOARGS, "requests this worker completed" },
    { "reload", u_reload, METH_NOARGS, "ask the master for a graceful reload" },
    { "log", u_log, METH_O, "write a line to the log" },
    { "set_logvar", u_set_logvar, METH_VARARGS, "accepted and ignored" },
    { NULL, NULL, 0, NULL },
};

static struct PyModuleDef uwsgi_def = {
    PyModuleDef_HEAD_INIT, "uwsgi", "Corral's uwsgi module (a subset of uWSGI's)", -1,
    uwsgi_methods, NULL, NULL, NULL, NULL,
};

/* crl_server_foreach_option callback: opt[key] = value as bytes. */
static void add_opt(void *ctx, const char *key, const char *value)
{
    PyObject *v;

    if (PyErr_Occurred())
        return;
    v = PyBytes_FromString(value ? value : "");
    if (v != NULL)
        PyDict_SetItemString((PyObject *)ctx, key, v);
    Py_XDECREF(v);
}

static int add_attrs(PyObject *m)
{
    char host[256] = "";
    PyObject *opt = PyDict_New();

    if (opt == NULL)
        return -1;
    crl_server_foreach_option(add_opt, opt);
    if (PyErr_Occurred() || PyModule_AddObject(m, "opt", opt) < 0) {
        Py_DECREF(opt);
        return -1;
    }
    gethostname(host, sizeof(host) - 1);
    if (PyModule_AddIntConstant(m, "numproc", (long)crl_server_processes()) < 0 ||
        PyModule_AddIntConstant(m, "cores", (long)crl_server_threads()) < 0 ||
        PyModule_AddIntConstant(m, "started_on", started_on) < 0 ||
        PyModule_AddObject(m, "version", PyBytes_FromString("2.0.21-corral")) < 0 ||
        PyModule_AddObject(m, "version_info",
                           Py_BuildValue("(iiiis)", 2, 0, 21, 0, "corral")) < 0 ||
        PyModule_AddObject(m, "hostname", PyBytes_FromString(host)) < 0)
        return -1;
    return 0;
}

static PyObject *init_uwsgi(void)
{
    PyObject *m = PyModule_Create(&uwsgi_def);

    if (m != NULL && add_attrs(m) < 0)
        Py_CLEAR(m);
    return m;
}

static const char decorators_src[] =
    "import threading\n"
    "import uwsgi\n"
    "_postfork_chain = []\n"
    "def _run_postfork_chain():\n"
    "    for f in _postfork_chain:\n"
    "        f()\n"
    "def postfork(f):\n"
    "    \"\"\"Run f() in each worker after it is forked.\"\"\"\n"
    "    _postfork_chain.append(f)\n"
    "    uwsgi.post_fork_hook = _run_postfork_chain\n"
    "    return f\n"
    "def thread(f):\n"
    "    \"\"\"Calling f runs it in a new daemon thread (returned).\"\"\"\n"
    "    def run(*args, **kwargs):\n"
    "        t = threading.Thread(target=f, args=args, kwargs=kwargs, daemon=True)\n"
    "        t.start()\n"
    "        return t\n"
    "    run.__name__ = getattr(f, '__name__', 'thread')\n"
    "    run.__doc__ = f.__doc__\n"
    "    return run\n"
    "_lock = threading.RLock()\n"
    "def lock(f):\n"
    "    \"\"\"Calls of f hold one lock (per worker process).\"\"\"\n"
    "    def locked(*args, **kwargs):\n"
    "        with _lock:\n"
    "            return f(*args, **kwargs)\n"
    "    locked.__name__ = getattr(f, '__name__', 'locked')\n"
    "    locked.__doc__ = f.__doc__\n"
    "    return locked\n";

static struct PyModuleDef decorators_def = {
    PyModuleDef_HEAD_INIT, "uwsgidecorators",
    "Corral's uwsgidecorators: postfork, thread and lock", -1, NULL, NULL, NULL, NULL, NULL,
};

/* Run Python source in module m's namespace. 0 or -1 with an exception. */
static int exec_in(PyObject *m, const char *src, const char *filename)
{
    PyObject *d = PyModule_GetDict(m); /* borrowed */
    PyObject *code = Py_CompileString(src, filename, Py_file_input);
    PyObject *r = code ? PyEval_EvalCode(code, d, d) : NULL;

    Py_XDECREF(code);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static PyObject *init_decorators(void)
{
    PyObject *m = PyModule_Create(&decorators_def);

    if (m != NULL && (PyModule_AddStringConstant(m, "__file__", "<corral>") < 0 ||
                      exec_in(m, decorators_src, "<corral uwsgidecorators>") < 0))
        Py_CLEAR(m);
    return m;
}

int crl__python_uwsgi_register(void)
{
    static int done;

    if (done)
        return CRL_OK;
    started_on = (long)time(NULL);
    if (PyImport_AppendInittab("uwsgi", init_uwsgi) < 0 ||
        PyImport_AppendInittab("uwsgidecorators", init_decorators) < 0) {
        crl_log(CRL_LOG_ERR, 0, "cannot register the uwsgi module");
        return CRL_ERROR;
    }
    done = 1;
    return CRL_OK;
}

/* Call uwsgi.<name>() when the app imported uwsgi and set it. */
static void call_hook(const char *name)
{
    PyObject *u = PyDict_GetItemString(PyImport_GetModuleDict(), "uwsgi"); /* borrowed */
    PyObject *hook, *r;

    if (u == NULL)
        return;
    hook = PyObject_GetAttrString(u, name);
    if (hook == NULL || !PyCallable_Check(hook)) {
        PyErr_Clear();
        Py_XDECREF(hook);
        return;
    }
    r = PyObject_CallNoArgs(hook);
    if (r == NULL) {
        crl__python_log_exception();
        crl_log(CRL_LOG_ERR, 0, "uwsgi.%s failed", name);
    }
    Py_XDECREF(r);
    Py_DECREF(hook);
}

void crl__python_uwsgi_postfork(void)
{
    call_hook("post_fork_hook");
}

void crl__python_uwsgi_atexit(void)
{
    call_hook("atexit");
}

/* A daemon thread that records the mtime of every loaded module's file
 * and asks for a reload (once) when one changes. Modules loaded later are
 * picked up on the next pass. */
static const char autoreload_src[] =
    "import os, sys, threading, time, uwsgi\n"
    "def _mtimes():\n"
    "    out = {}\n"
    "    for m in list(sys.modules.values()):\n"
    "        f = getattr(m, '__file__', None)\n"
    "        if not isinstance(f, str):\n"
    "            continue\n"
    "        try:\n"
    "            out[f] = os.stat(f).st_mtime_ns\n"
    "        except OSError:\n"
    "            pass\n"
    "    return out\n"
    "def _watch(interval):\n"
    "    seen = _mtimes()\n"
    "    while True:\n"
    "        time.sleep(interval)\n"
    "        now = _mtimes()\n"
    "        changed = [f for f, t in now.items() if seen.setdefault(f, t) != t]\n"
    "        if changed:\n"
    "            uwsgi.log('py-autoreload: %s changed; reloading' % changed[0])\n"
    "            uwsgi.reload()\n"
    "            seen.update(now)  # a reload that fails keeps this worker: watch on\n"
    "threading.Thread(target=_watch, args=(_interval,), name='corral-py-autoreload',\n"
    "                 daemon=True).start()\n";

int crl__python_autoreload_start(long interval)
{
    PyObject *m = PyModule_New("_corral_autoreload");
    int rc = -1;

    if (m != NULL && PyModule_AddIntConstant(m, "_interval", interval) == 0 &&
        PyModule_AddObject(m, "__builtins__", Py_NewRef(PyEval_GetBuiltins())) == 0)
        rc = exec_in(m, autoreload_src, "<corral py-autoreload>");
    Py_XDECREF(m);
    if (rc < 0) {
        crl__python_log_exception();
        crl_log(CRL_LOG_ERR, 0, "cannot start py-autoreload");
        return CRL_ERROR;
    }
    return CRL_OK;
}
