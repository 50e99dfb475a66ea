/*
 * The python plugin: embeds CPython (the main interpreter only) and serves a
 * WSGI application, or several mounted under URL prefixes. This file holds
 * the plugin descriptor, the option table, the interpreter's life cycle
 * around the core's forks, the GIL for request threads, and loading the
 * applications; crl_python_wsgi.c serves requests.
 *
 * Invariants:
 *  - handle() may run in several request threads at once
 *    (CRL_PLUGIN_THREADS). Each thread has its own PyThreadState for its
 *    whole life (thread_ts); the main thread's is main_ts, the one the
 *    hooks use, and hooks run only on the main thread.
 *  - After init_master returns, no process holds the GIL outside the
 *    plugin's hooks: every hook that runs Python takes it with
 *    crl__python_acquire(crl__python.main_ts) and gives it back with
 *    crl__python_release(). fork_prepare takes it and fork_parent /
 *    init_worker give it back, so a fork never happens while another thread
 *    of the master runs Python.
 *  - sys.path is, like uWSGI's: the pythonpath entries (the last configured
 *    first), ".", "", then the interpreter's own paths.
 */
#include "crl_python.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <corral/plugin.h>
#include <corral/server.h>

crl_python_ctx_t crl__python;

#define CONF_OFF(field) offsetof(crl_python_conf_t, field)

static const crl_option_t options[] = {
    { .name = "module", .aliases = "wsgi", .short_name = 'w', .type = CRL_OPT_STRING,
      .offset = CONF_OFF(module),
      .help = "WSGI module to load: pkg.mod, pkg.mod:callable or pkg.mod:factory()" },
    { .name = "wsgi-file", .aliases = "file", .type = CRL_OPT_STRING,
      .offset = CONF_OFF(wsgi_file),
      .help = "Python file (.py or .wsgi) run as a module to find the WSGI callable" },
    { .name = "callable", .type = CRL_OPT_STRING, .offset = CONF_OFF(callable),
      .def = "application", .help = "name of the WSGI callable in the module or file" },
    { .name = "pythonpath", .aliases = "python-path pp", .type = CRL_OPT_LIST,
      .offset = CONF_OFF(pythonpath),
      .help = "directory (or glob) put in front of sys.path; repeatable" },
    { .name = "home", .aliases = "virtualenv venv pyhome", .short_name = 'H',
      .type = CRL_OPT_STRING, .offset = CONF_OFF(home),
      .help = "virtualenv (with pyvenv.cfg) or full Python installation to run in" },
    { .name = "enable-threads", .short_name = 'T', .type = CRL_OPT_BOOL,
      .offset = CONF_OFF(enable_threads), .def = "1",
      .help = "kept for uWSGI configs: Python threads always work in Corral" },
    { .name = "single-interpreter", .short_name = 'i', .type = CRL_OPT_BOOL,
      .flags = CRL_OPTF_NOOP, .offset = CONF_OFF(single_interpreter),
      .help = "kept for uWSGI configs: Corral always runs the main interpreter" },
    { .name = "import", .aliases = "pyimport py-import python-import", .type = CRL_OPT_LIST,
      .offset = CONF_OFF(imports),
      .help = "module (or .py file) imported at start-up, before the app; repeatable" },
    { .name = "pyargv", .type = CRL_OPT_STRING, .offset = CONF_OFF(pyargv),
      .help = "arguments given to the app as sys.argv[1:], split on blanks" },
    { .name = "py-call-osafterfork", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_NOOP,
      .offset = CONF_OFF(call_osafterfork),
      .help = "kept for uWSGI configs: Corral always tells Python about forks" },
    { .name = "mount", .aliases = "worker-mount", .type = CRL_OPT_LIST,
      .offset = CONF_OFF(mounts),
      .help = "/prefix=app: serve paths under /prefix with app (module, module:callable or "
              "file.py); repeatable, the longest prefix wins" },
    { .name = "manage-script-name", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_NOOP,
      .offset = CONF_OFF(manage_script_name),
      .help = "kept for uWSGI configs: Corral always moves a mount's prefix from PATH_INFO "
              "to SCRIPT_NAME" },
    { .name = "disable-write-exception", .type = CRL_OPT_BOOL,
      .offset = CONF_OFF(disable_write_exception),
      .help = "write() does not raise OSError in the app when the client went away" },
    { .name = "ignore-sigpipe", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_NOOP,
      .offset = CONF_OFF(ignore_sigpipe),
      .help = "kept for uWSGI configs: Corral always ignores SIGPIPE" },
    { .name = "ignore-write-errors", .type = CRL_OPT_BOOL,
      .offset = CONF_OFF(ignore_write_errors),
      .help = "do not log clients that went away during a response" },
    { .name = "post-buffering", .type = CRL_OPT_INT, .offset = CONF_OFF(post_buffering),
      .def = "0", .min = 0, .max = 0x7fffffffL,
      .help = "spool request bodies larger than this many bytes to a temporary file before "
              "the app runs (0: off)" },
    { .name = "post-buffering-bufsize", .type = CRL_OPT_INT,
      .offset = CONF_OFF(post_buffering_bufsize), .def = "8192", .min = 512,
      .max = 64 * 1024 * 1024, .help = "buffer size for reading a body with post-buffering" },
    { .name = "wsgi-manage-chunked-input", .type = CRL_OPT_BOOL,
      .offset = CONF_OFF(manage_chunked_input),
      .help = "hand a chunked upload to the app as it arrives (wsgi.input_terminated, no "
              "CONTENT_LENGTH) instead of reading it whole first and giving its length" },
    { .name = "py-autoreload", .aliases = "python-autoreload py-auto-reload",
      .type = CRL_OPT_INT, .offset = CONF_OFF(autoreload), .def = "0", .min = 0,
      .max = 86400,
      .help = "check loaded modules' files every N seconds and reload the workers when one "
              "changed (development only; 0: off)" },
};

PyThreadState *crl__python_release(void)
{
    return PyEval_SaveThread();
}

void crl__python_acquire(PyThreadState *ts)
{
    PyEval_RestoreThread(ts);
}

PyThreadState *crl__python_release_for_io(void)
{
    PyThreadState *ts = PyThreadState_Get();
    PyThreadState *head = PyInterpreterState_ThreadHead(PyThreadState_GetInterpreter(ts));

    if (head == ts && PyThreadState_Next(head) == NULL)
        return NULL; /* the only thread: nobody to hand the GIL to */
    return PyEval_SaveThread();
}

void crl__python_acquire_after_io(PyThreadState *ts)
{
    if (ts)
        PyEval_RestoreThread(ts);
}

/* Format the pending exception with the traceback module and write it with
 * crl_log_raw (sys.stderr may not be where the log goes). SystemExit and
 * KeyboardInterrupt are logged like any other exception. */
void crl__python_log_exception(void)
{
    PyObject *type = NULL, *value = NULL, *trace = NULL;
    PyObject *tb = NULL, *lines = NULL, *sep = NULL, *text = NULL;
    const char *s;
    Py_ssize_t n;

    PyErr_Fetch(&type, &value, &trace);
    if (type == NULL)
        return;
    PyErr_NormalizeException(&type, &value, &trace);
    tb = PyImport_ImportModule("traceback");
    lines = tb ? PyObject_CallMethod(tb, "format_exception", "OOO", type,
                                     value ? value : Py_None, trace ? trace : Py_None)
               : NULL;
    sep = lines ? PyUnicode_FromString("") : NULL;
    text = sep ? PyUnicode_Join(sep, lines) : NULL;
    s = text ? PyUnicode_AsUTF8AndSize(text, &n) : NULL;
    if (s != NULL) {
        crl_log_raw(s, (size_t)n);
    } else {
        /* not PyErr_Print(): it would exit the process on SystemExit */
        PyErr_Clear();
        crl_log(CRL_LOG_ERR, 0, "Python exception %s (its traceback could not be formatted)",
                ((PyTypeObject *)type)->tp_name);
    }
    Py_XDECREF(text);
    Py_XDECREF(sep);
    Py_XDECREF(lines);
    Py_XDECREF(tb);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(trace);
}

/* Point the interpreter at `home`: a venv made by `python3 -m venv` is found
 * through its bin/python (getpath then reads pyvenv.cfg, which keeps the base
 * stdlib and honours system-site-packages); anything else is a full
 * installation used as PYTHONHOME. */
static int set_home(PyConfig *cfg, const char *given)
{
    char path[PATH_MAX + 32], home[PATH_MAX];
    struct stat st;
    PyStatus status;

    /* Absolute and without a trailing slash: sys.executable and sys.prefix
     * derive from it, and subprocess/multiprocessing run sys.executable
     * after the app may have changed directory. */
    if (stat(given, &st) != 0 || !S_ISDIR(st.st_mode) || realpath(given, home) == NULL) {
        crl_log(CRL_LOG_ERR, 0, "python home '%s' does not exist or is not a directory", given);
        return CRL_ERROR;
    }
    snprintf(path, sizeof(path), "%s/pyvenv.cfg", home);
    if (stat(path, &st) == 0) {
        snprintf(path, sizeof(path), "%s/bin/python3", home);
        if (stat(path, &st) != 0)
            snprintf(path, sizeof(path), "%s/bin/python", home);
        status = PyConfig_SetBytesString(cfg, &cfg->executable, path);
    } else {
        status = PyConfig_SetBytesString(cfg, &cfg->home, home);
    }
    if (PyStatus_Exception(status)) {
        crl_log(CRL_LOG_ERR, 0, "python home '%s': %s", home,
                status.err_msg ? status.err_msg : "cannot be set");
        return CRL_ERROR;
    }
    return CRL_OK;
}

/* argv = "corral" plus pyargv split on blanks. */
static PyStatus set_argv(PyConfig *cfg, const char *pyargv)
{
    char buf[4096];
    char *argv[64];
    int argc = 0;
    char *save = NULL, *tok;

    argv[argc++] = "corral";
    snprintf(buf, sizeof(buf), "%s", pyargv ? pyargv : "");
    for (tok = strtok_r(buf, " \t", &save); tok && argc < 64; tok = strtok_r(NULL, " \t", &save))
        argv[argc++] = tok;
    return PyConfig_SetBytesArgv(cfg, argc, argv);
}

static void log_status(PyStatus status)
{
    crl_log(CRL_LOG_ERR, 0, "cannot initialise Python: %s",
            status.err_msg ? status.err_msg : "unknown error");
}

static int init_interpreter(void)
{
    const char *home = crl__python.conf.home;
    PyPreConfig pre;
    PyConfig cfg;
    PyStatus status;
    int rc = CRL_ERROR;

    if (crl__python_uwsgi_register() != CRL_OK)
        return CRL_ERROR;
    PyPreConfig_InitPythonConfig(&pre);
    pre.utf8_mode = 1;
    status = Py_PreInitialize(&pre);
    if (PyStatus_Exception(status)) {
        log_status(status);
        return CRL_ERROR;
    }
    PyConfig_InitPythonConfig(&cfg);
    cfg.install_signal_handlers = 0;
    cfg.parse_argv = 0;
    cfg.buffered_stdio = 0; /* print() reaches the log at once */
    status = PyConfig_SetBytesString(&cfg, &cfg.program_name, "corral");
    if (!PyStatus_Exception(status))
        status = set_argv(&cfg, crl__python.conf.pyargv);
    /* Without home, sys.executable is the interpreter Corral embeds, so
     * that apps that start sys.executable (multiprocessing, subprocess) run
     * Python and not corral; getpath finds the stdlib from it too. */
    if (!PyStatus_Exception(status) && !home)
        status = PyConfig_SetBytesString(&cfg, &cfg.executable, CRL_PYTHON_EXECUTABLE);
    if (!PyStatus_Exception(status) && home && set_home(&cfg, home) != CRL_OK)
        goto done; /* logged */
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&cfg);
    if (PyStatus_Exception(status))
        log_status(status);
    else
        rc = CRL_OK;
done:
    PyConfig_Clear(&cfg);
    return rc;
}

static int path_insert(PyObject *path, const char *dir)
{
    PyObject *s = PyUnicode_DecodeFSDefault(dir);
    int rc;

    if (s == NULL)
        return -1;
    rc = PyList_Insert(path, 0, s);
    Py_DECREF(s);
    return rc;
}

/* sys.path: pythonpath items (globs expanded) in front of ".", "". */
static int setup_sys_path(void)
{
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    const crl_list_t *pp = &crl__python.conf.pythonpath;
    glob_t g;
    size_t i, j;

    if (path == NULL || !PyList_Check(path)) {
        PyErr_SetString(PyExc_RuntimeError, "sys.path is not a list");
        return -1;
    }
    if (path_insert(path, "") < 0 || path_insert(path, ".") < 0)
        return -1;
    for (i = 0; i < pp->n; i++) {
        const char *item = pp->items[i].value;

        if (strpbrk(item, "*?[") && glob(item, 0, NULL, &g) == 0) {
            for (j = 0; j < g.gl_pathc; j++) {
                if (path_insert(path, g.gl_pathv[j]) < 0) {
                    globfree(&g);
                    return -1;
                }
            }
            globfree(&g);
            continue;
        }
        if (path_insert(path, item) < 0)
            return -1;
    }
    return 0;
}

static int init_master(void)
{
    if (crl__python.initialized)
        return CRL_OK;
    if (init_interpreter() != CRL_OK)
        return CRL_ERROR;
    crl__python.initialized = 1;
    if (setup_sys_path() < 0) {
        crl__python_log_exception();
        crl__python.main_ts = crl__python_release();
        return CRL_ERROR;
    }
    crl__python.main_ts = crl__python_release();
    return CRL_OK;
}

/* Set between fork_prepare and fork_parent (and so in a new worker). */
static int fork_prepared;

static void fork_prepare(void)
{
    if (!crl__python.initialized)
        return;
    crl__python_acquire(crl__python.main_ts);
    PyOS_BeforeFork();
    fork_prepared = 1;
}

static void fork_parent(void)
{
    if (!crl__python.initialized)
        return;
    fork_prepared = 0;
    PyOS_AfterFork_Parent();
    crl__python.main_ts = crl__python_release();
}

/* SIGUSR2 makes a worker write every thread's Python stack to the log:
 * the master sends it before a harakiri kill (harakiri-verbose), and an
 * operator can send it to see what a busy worker is doing. faulthandler's
 * handler works even while the interpreter is stuck in C code. */
static void register_stack_dump(void)
{
    PyObject *fh = PyImport_ImportModule("faulthandler");
    PyObject *r = fh ? PyObject_CallMethod(fh, "register", "iii", SIGUSR2, 2, 1) : NULL;

    if (r == NULL) {
        crl_log(CRL_LOG_WARN, 0, "cannot register the SIGUSR2 stack dump (faulthandler)");
        PyErr_Clear();
    }
    Py_XDECREF(r);
    Py_XDECREF(fh);
}

static int init_worker(unsigned worker_id)
{
    int rc;

    (void)worker_id;
    if (!crl__python.initialized)
        return CRL_OK;
    /* PyOS_AfterFork_Child needs this thread's state; without fork_prepare
     * that is only safe when no other thread held the GIL at fork time. */
    if (!fork_prepared)
        crl__python_acquire(crl__python.main_ts);
    fork_prepared = 0;
    PyOS_AfterFork_Child();
    crl__python.no_app_logged = 0;
    register_stack_dump();
    crl__python_uwsgi_postfork();
    rc = crl__python.conf.autoreload > 0 ? crl__python_autoreload_start(crl__python.conf.autoreload)
                                         : CRL_OK;
    crl__python.main_ts = crl__python_release();
    return rc;
}

static void flush_stream(const char *name)
{
    PyObject *f = PySys_GetObject(name); /* borrowed */
    PyObject *r = f && f != Py_None ? PyObject_CallMethod(f, "flush", NULL) : NULL;

    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
}

/* Run atexit handlers and flush stdio; the process exits right after, so
 * the interpreter is not finalised (that would wait for app threads). */
static void run_exit(void)
{
    PyObject *mod, *r;

    if (!crl__python.initialized)
        return;
    crl__python_acquire(crl__python.main_ts);
    crl__python_uwsgi_atexit();
    mod = PyImport_ImportModule("atexit");
    r = mod ? PyObject_CallMethod(mod, "_run_exitfuncs", NULL) : NULL;
    if (r == NULL)
        crl__python_log_exception();
    Py_XDECREF(r);
    Py_XDECREF(mod);
    flush_stream("stdout");
    flush_stream("stderr");
    crl__python.main_ts = crl__python_release();
}

static void exit_worker(void)
{
    run_exit();
}

static void exit_master(void)
{
    run_exit();
}

/* "path/to/app.py" -> "uwsgi_file_path_to_app" (uWSGI's module name for a
 * wsgi-file, which some apps see in __name__). */
static void file_module_name(const char *path, char *out, size_t outlen)
{
    size_t n = strlen(path), i, o;
    const char *dot = strrchr(path, '.');

    if (dot && (strcmp(dot, ".py") == 0 || strcmp(dot, ".wsgi") == 0))
        n = (size_t)(dot - path);
    o = (size_t)snprintf(out, outlen, "uwsgi_file_");
    for (i = 0; i < n && o + 1 < outlen; i++, o++) {
        char c = path[i];
        out[o] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                     ? c : '_';
    }
    out[o] = '\0';
}

/* importlib.util.spec_from_file_location(name, path, loader=loader) */
static PyObject *spec_for(PyObject *util, const char *name, const char *path, PyObject *loader)
{
    PyObject *fn = PyObject_GetAttrString(util, "spec_from_file_location");
    PyObject *args = fn ? Py_BuildValue("(ss)", name, path) : NULL;
    PyObject *kw = args ? Py_BuildValue("{sO}", "loader", loader) : NULL;
    PyObject *spec = kw ? PyObject_Call(fn, args, kw) : NULL;

    Py_XDECREF(kw);
    Py_XDECREF(args);
    Py_XDECREF(fn);
    return spec;
}

/* Execute a file as module `name` (registered in sys.modules). New ref. */
static PyObject *import_file(const char *path)
{
    char name[512];
    PyObject *util = NULL, *mach = NULL, *loader = NULL, *spec = NULL, *mod = NULL, *r = NULL;
    PyObject *modules;

    file_module_name(path, name, sizeof(name));
    util = PyImport_ImportModule("importlib.util");
    mach = util ? PyImport_ImportModule("importlib.machinery") : NULL;
    loader = mach ? PyObject_CallMethod(mach, "SourceFileLoader", "ss", name, path) : NULL;
    spec = loader ? spec_for(util, name, path, loader) : NULL;
    mod = spec ? PyObject_CallMethod(util, "module_from_spec", "O", spec) : NULL;
    modules = PyImport_GetModuleDict();
    if (mod == NULL || PyDict_SetItemString(modules, name, mod) < 0) {
        Py_CLEAR(mod);
        goto done;
    }
    r = PyObject_CallMethod(loader, "exec_module", "O", mod);
    if (r == NULL) {
        /* keep the import error, not a failure to remove the entry */
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        if (PyDict_DelItemString(modules, name) < 0)
            PyErr_Clear();
        PyErr_Restore(t, v, tb);
        Py_CLEAR(mod);
    }
done:
    Py_XDECREF(r);
    Py_XDECREF(spec);
    Py_XDECREF(loader);
    Py_XDECREF(mach);
    Py_XDECREF(util);
    return mod;
}

/* 1 when a module name is rather a file: a path, or a .py/.wsgi name that
 * exists as a file. Django's `module = mysite.wsgi` is a module: a name is
 * only taken for a file when there is one. */
static int is_file(const char *name)
{
    size_t n = strlen(name);

    if (strchr(name, '/') != NULL)
        return 1;
    if ((n > 3 && strcmp(name + n - 3, ".py") == 0) ||
        (n > 5 && strcmp(name + n - 5, ".wsgi") == 0))
        return access(name, F_OK) == 0;
    return 0;
}

/* The `import` list: module names, or paths of .py files. */
static int run_imports(void)
{
    const crl_list_t *l = &crl__python.conf.imports;
    PyObject *m;
    size_t i;

    for (i = 0; i < l->n; i++) {
        const char *v = l->items[i].value;

        if (is_file(v))
            m = import_file(v);
        else
            m = PyImport_ImportModule(v);
        if (m == NULL) {
            crl__python_log_exception();
            crl_log(CRL_LOG_ERR, 0, "cannot import '%s' (import option at %s:%u)", v,
                    l->items[i].file ? l->items[i].file : "?", l->items[i].line);
            return CRL_ERROR;
        }
        Py_DECREF(m);
    }
    return CRL_OK;
}

/* Find the callable `spec` ("name" or "factory()") in mod. New ref or NULL
 * after logging. `what` names the module or file in messages. */
static PyObject *find_callable(PyObject *mod, const char *spec, const char *what)
{
    char name[256];
    size_t n = strlen(spec);
    int factory = n > 2 && strcmp(spec + n - 2, "()") == 0;
    PyObject *obj, *app;

    snprintf(name, sizeof(name), "%.*s", (int)(factory ? n - 2 : n), spec);
    obj = PyObject_GetAttrString(mod, name);
    if (obj == NULL) {
        PyErr_Clear();
        crl_log(CRL_LOG_ERR, 0, "cannot load WSGI app: %s has no callable '%s'", what, name);
        return NULL;
    }
    if (!factory) {
        app = obj;
    } else {
        app = PyObject_CallNoArgs(obj);
        Py_DECREF(obj);
        if (app == NULL) {
            crl__python_log_exception();
            crl_log(CRL_LOG_ERR, 0, "cannot load WSGI app: factory '%s()' of %s failed", name,
                    what);
            return NULL;
        }
    }
    if (!PyCallable_Check(app)) {
        crl_log(CRL_LOG_ERR, 0, "cannot load WSGI app: '%s' in %s is not callable (%s)", spec,
                what, Py_TYPE(app)->tp_name);
        Py_DECREF(app);
        return NULL;
    }
    return app;
}

/* Import `spec` (module, module:callable, file.py, file.py:callable; a
 * wsgi-file when `file`) and return its WSGI callable (new ref), or NULL
 * after logging. */
static PyObject *load_spec(const char *spec, int file)
{
    const crl_python_conf_t *c = &crl__python.conf;
    const char *callable = c->callable && *c->callable ? c->callable : "application";
    char modname[512], what[600];
    const char *colon = file ? NULL : strchr(spec, ':');
    PyObject *mod, *app;

    snprintf(modname, sizeof(modname), "%.*s",
             (int)(colon ? (size_t)(colon - spec) : strlen(spec)), spec);
    if (colon && colon[1])
        callable = colon + 1;
    if (file || is_file(modname)) { /* uWSGI also takes a file in `module` */
        snprintf(what, sizeof(what), "file '%s'", modname);
        mod = import_file(modname);
    } else {
        snprintf(what, sizeof(what), "module '%s'", modname);
        mod = PyImport_ImportModule(modname);
    }
    if (mod == NULL) {
        crl__python_log_exception();
        crl_log(CRL_LOG_ERR, 0, "cannot load WSGI app: cannot import %s", what);
        return NULL;
    }
    app = find_callable(mod, callable, what);
    Py_DECREF(mod);
    return app;
}

static void clear_mounts(void)
{
    size_t i;

    for (i = 0; i < crl__python.nmounts; i++) {
        Py_CLEAR(crl__python.mounts[i].app);
        Py_CLEAR(crl__python.mounts[i].script_name);
    }
    crl__python.nmounts = 0;
}

/* One `mount` item, "/prefix=spec", into m. CRL_OK; CRL_DECLINED when the
 * app failed to load (m kept with app None); CRL_ERROR (logged). */
static int load_mount(const crl_list_item_t *item, crl_python_mount_t *m)
{
    const char *v = item->value, *eq = strchr(v, '=');
    size_t len = eq ? (size_t)(eq - v) : 0;

    if (eq == NULL || eq[1] == '\0' || (len > 0 && v[0] != '/')) {
        crl_log(CRL_LOG_ERR, 0, "mount '%s' (%s:%u): expected /prefix=module-or-file", v,
                item->file ? item->file : "?", item->line);
        return CRL_ERROR;
    }
    while (len > 0 && v[len - 1] == '/')
        len--; /* "/api/" mounts /api; "/" mounts everything */
    m->prefix = v;
    m->len = len;
    m->spec = eq + 1;
    m->script_name = PyUnicode_DecodeLatin1(v, (Py_ssize_t)len, NULL);
    if (m->script_name == NULL) {
        crl__python_log_exception();
        return CRL_ERROR;
    }
    m->app = load_spec(eq + 1, 0);
    if (m->app == NULL) {
        crl_log(CRL_LOG_ERR, 0, "cannot load the app mounted at '%.*s' (%s:%u)", (int)len, v,
                item->file ? item->file : "?", item->line);
        /* Keep the mount, app-less (None): with need-app off its prefix
         * answers 500 instead of falling to another app. */
        Py_INCREF(Py_None);
        m->app = Py_None;
        return CRL_DECLINED;
    }
    crl_log(CRL_LOG_INFO, 0, "WSGI app mounted at '%.*s' loaded from %s", (int)len, v, eq + 1);
    return CRL_OK;
}

static int load_mounts(void)
{
    const crl_list_t *l = &crl__python.conf.mounts;
    size_t i;

    clear_mounts();
    free(crl__python.mounts);
    crl__python.mounts = NULL;
    if (l->n == 0)
        return CRL_OK;
    if ((crl__python.mounts = calloc(l->n, sizeof(*crl__python.mounts))) == NULL) {
        crl_log(CRL_LOG_ERR, ENOMEM, "mount");
        return CRL_ERROR;
    }
    int rc = CRL_OK;
    for (i = 0; i < l->n; i++) {
        int one = load_mount(&l->items[i], &crl__python.mounts[i]);
        if (one == CRL_ERROR) {
            Py_CLEAR(crl__python.mounts[i].script_name);
            clear_mounts();
            return CRL_ERROR;
        }
        if (one == CRL_DECLINED)
            rc = CRL_ERROR; /* loaded the rest; need-app decides */
        crl__python.nmounts = i + 1;
    }
    return rc;
}

/* In the master after preloading: keep everything loaded so far out of
 * the collector, so that forked workers do not touch (and copy) those
 * pages; Python 3.7's gc.freeze(). */
static void gc_freeze(void)
{
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *r = gc ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;

    if (r == NULL)
        crl__python_log_exception();
    Py_XDECREF(r);
    Py_XDECREF(gc);
}

/* The default app and the mounts. CRL_OK, CRL_DECLINED (nothing
 * configured), CRL_ERROR (logged). With the GIL. */
static int load_apps(void)
{
    const crl_python_conf_t *c = &crl__python.conf;
    int have_module = c->module && *c->module, have_file = c->wsgi_file && *c->wsgi_file;

    if (!have_module && !have_file && c->mounts.n == 0)
        return CRL_DECLINED;
    Py_CLEAR(crl__python.app);
    if (have_module || have_file) {
        crl__python.app = load_spec(have_module ? c->module : c->wsgi_file, !have_module);
        if (crl__python.app == NULL)
            return CRL_ERROR;
        crl_log(CRL_LOG_INFO, 0, "WSGI app loaded from %s", have_module ? c->module
                                                                          : c->wsgi_file);
    }
    return load_mounts();
}

static int load(void)
{
    int rc = CRL_ERROR;

    if (!crl__python.initialized && init_master() != CRL_OK)
        return CRL_ERROR;
    crl__python_acquire(crl__python.main_ts);
    if (run_imports() != CRL_OK)
        goto done;
    rc = load_apps();
    if (rc != CRL_OK)
        goto done;
    if (crl__python_worker_setup() != CRL_OK) {
        crl__python_log_exception();
        rc = CRL_ERROR;
        goto done;
    }
    if (crl_server_worker_id() == 0)
        gc_freeze();
    else /* lazy-apps: the app registered its postfork hooks just now */
        crl__python_uwsgi_postfork();
done:
    crl__python.main_ts = crl__python_release();
    return rc;
}

/* Each request thread keeps one PyThreadState for its life (so that
 * threading.local data, such as Django's database connections, persists
 * from request to request): made by PyGILState_Ensure on the thread's first
 * request and never released, so that the GILState API also knows it. */
static __thread PyThreadState *thread_ts;

static int handle(crl_request_t *req)
{
    int rc;

    if (thread_ts == NULL)
        PyGILState_Ensure();
    else
        crl__python_acquire(thread_ts);
    rc = crl__python_wsgi_handle(req);
    thread_ts = crl__python_release();
    return rc;
}

static const crl_app_ops_t app_ops = {
    .load = load,
    .handle = handle,
};

CRL_PLUGIN_DESCRIPTOR(python) = {
    .abi = CRL_PLUGIN_ABI,
    .name = "python",
    .aliases = "python3 python311 python3.11",
    .options = options,
    .noptions = sizeof(options) / sizeof(options[0]),
    .conf = &crl__python.conf,
    .init_master = init_master,
    .fork_prepare = fork_prepare,
    .fork_parent = fork_parent,
    .init_worker = init_worker,
    .exit_worker = exit_worker,
    .exit_master = exit_master,
    .app = &app_ops,
    /* handle() is safe from several threads: see crl_python_wsgi.c */
    .flags = CRL_PLUGIN_THREADS,
};
