/*
 * Tests of the python plugin (plugins/python/) without the core runtime:
 * this file provides fake crl_request_* / crl_response_* / crl_log_*
 * functions that capture the response bytes and the log, dlopen()s the
 * built corral_python.so (CRL_PYTHON_PLUGIN), sets its options through its
 * option rows, and drives init_master/load/handle with fake requests against
 * the apps in apps/ (CRL_PYTHON_APPS). Criterion runs every test in its own
 * process, so each test starts its own interpreter.
 *
 * The fake core writes a response as "<status>\n<name>: <value>\n...\n\n"
 * followed by the body, and an error response as "ERROR <status>".
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/plugin.h>
#include <corral/request.h>
#include <corral/server.h>

/* ---- the fake core ---- */

int crl_log_level = CRL_LOG_DEBUG;
static char logbuf[1 << 16];
static size_t loglen;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_append(const char *p, size_t n)
{
    pthread_mutex_lock(&log_lock);
    if (n > sizeof(logbuf) - 1 - loglen)
        n = sizeof(logbuf) - 1 - loglen;
    memcpy(logbuf + loglen, p, n);
    loglen += n;
    logbuf[loglen] = '\0';
    pthread_mutex_unlock(&log_lock);
}

void crl_log_write(int level, int err, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    int n;

    n = snprintf(line, sizeof(line), "%s", level == CRL_LOG_ERR ? "error: "
                                            : level == CRL_LOG_WARN ? "warning: " : "");
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (err)
        n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s (%d)", strerror(err), err);
    n += snprintf(line + n, sizeof(line) - (size_t)n, "\n");
    log_append(line, (size_t)n);
}

void crl_log_raw(const char *buf, size_t len)
{
    log_append(buf, len);
}

void crl_log_signal_safe(const char *msg)
{
    log_append(msg, strlen(msg));
}

/* The response, per thread: the threads tests serve from several. */
static __thread char out[1 << 16];
static __thread size_t outlen;
static __thread char head[4096];
static __thread size_t headlen;
static __thread int head_pending, head_sent, finished, closed, error_status, sendfile_used;
static __thread int one_piece; /* crl_response_end sent head and whole body at once */
static __thread int fail_write_after = -1; /* writes after this many bytes fail */
static __thread int write_failed;          /* a write failed: the client is gone */
static __thread int in_python_check;       /* 1: assert the GIL is released in calls */

/* The request body. */
static __thread const char *body;
static __thread size_t body_len, body_pos, read_chunk = 1 << 20;
static __thread int read_error; /* -errno returned once the body is used up */

static void out_append(const char *p, size_t n)
{
    cr_assert_leq(outlen + n, sizeof(out) - 1, "response too large for the test");
    memcpy(out + outlen, p, n);
    outlen += n;
    out[outlen] = '\0';
}

static void check_gil_released(void)
{
    /* PyGILState_Check() is 0 when this thread does not hold the GIL. */
    int (*check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Check");

    if (in_python_check && check)
        cr_assert_eq(check(), 0, "a blocking core call was made with the GIL held");
}

static __thread int writes_with_gil; /* writes made holding the GIL, alone */

/* Writes keep the GIL when no other Python thread could take it, and must
 * release it when one exists. */
static void check_gil_released_for_write(void)
{
    int (*check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Check");
    void *(*get)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyThreadState_Get");
    void *(*interp)(void *) =
        (void *(*)(void *))dlsym(RTLD_DEFAULT, "PyThreadState_GetInterpreter");
    void *(*first)(void *) =
        (void *(*)(void *))dlsym(RTLD_DEFAULT, "PyInterpreterState_ThreadHead");
    void *(*next)(void *) = (void *(*)(void *))dlsym(RTLD_DEFAULT, "PyThreadState_Next");

    if (!in_python_check || !check || !check())
        return;
    cr_assert(get && interp && first && next);
    void *ts = get(), *h = first(interp(ts));
    cr_assert(h == ts && next(h) == NULL,
              "a write was made with the GIL held while another Python thread exists");
    writes_with_gil++;
}

crl_str_t crl_request_var(const crl_request_t *r, const char *key)
{
    size_t i, n = strlen(key);

    for (i = 0; i < r->nvars; i++)
        if (r->vars[i].key.len == n && memcmp(r->vars[i].key.data, key, n) == 0)
            return r->vars[i].value;
    return CRL_STR_NULL;
}

ssize_t crl_request_read(crl_request_t *r, void *buf, size_t len)
{
    size_t n = body_len - body_pos;

    check_gil_released();
    if (n == 0)
        return read_error ? read_error : 0;
    if (n > len)
        n = len;
    if (n > read_chunk)
        n = read_chunk;
    memcpy(buf, body + body_pos, n);
    body_pos += n;
    return (ssize_t)n;
}

int crl_response_start(crl_request_t *r, crl_str_t status, const crl_header_t *headers,
                       size_t nheaders)
{
    size_t i;

    cr_assert(!head_sent, "crl_response_start after the head was sent");
    if (memchr(status.data, '\n', status.len) || memchr(status.data, '\r', status.len))
        return CRL_ERROR;
    headlen = (size_t)snprintf(head, sizeof(head), "%.*s\n", (int)status.len, status.data);
    for (i = 0; i < nheaders; i++) {
        const crl_header_t *h = &headers[i];

        if (memchr(h->value.data, '\r', h->value.len) || memchr(h->value.data, '\n', h->value.len) ||
            memchr(h->name.data, '\n', h->name.len) || memchr(h->value.data, 0, h->value.len))
            return CRL_ERROR;
        headlen += (size_t)snprintf(head + headlen, sizeof(head) - headlen, "%.*s: %.*s\n",
                                    (int)h->name.len, h->name.data, (int)h->value.len,
                                    h->value.data);
    }
    headlen += (size_t)snprintf(head + headlen, sizeof(head) - headlen, "\n");
    head_pending = 1;
    return CRL_OK;
}

static int send_head(void)
{
    if (!head_pending)
        return CRL_ERROR;
    if (!head_sent)
        out_append(head, headlen);
    head_sent = 1;
    return CRL_OK;
}

int crl_response_write(crl_request_t *r, const void *data, size_t len)
{
    check_gil_released_for_write();
    cr_assert(head_pending, "body written without a head");
    if (fail_write_after >= 0 && outlen >= (size_t)fail_write_after) {
        send_head();
        write_failed = 1;
        return -EPIPE;
    }
    send_head();
    out_append(data, len);
    return CRL_OK;
}

int crl_response_end(crl_request_t *r, const void *data, size_t len)
{
    int rc;

    check_gil_released_for_write();
    cr_assert(!finished, "crl_response_end after the response was complete");
    if (!head_pending)
        return CRL_ERROR;
    one_piece = !head_sent;
    rc = len ? crl_response_write(r, data, len) : CRL_OK;
    if (rc != CRL_OK)
        return rc;
    return crl_response_finish(r);
}

int crl_response_sendfile(crl_request_t *r, int fd, off_t offset, size_t len)
{
    char buf[4096];
    ssize_t n;

    check_gil_released();
    sendfile_used = 1;
    send_head();
    while (len > 0 && (n = pread(fd, buf, len < sizeof(buf) ? len : sizeof(buf), offset)) > 0) {
        out_append(buf, (size_t)n);
        offset += n;
        len -= (size_t)n;
    }
    return CRL_OK;
}

int crl_response_head_sent(const crl_request_t *r)
{
    return head_sent;
}

int crl_response_finish(crl_request_t *r)
{
    check_gil_released_for_write();
    if (write_failed)
        return -EPIPE; /* like the core: later calls fail at once */
    cr_assert(!finished, "response finished twice");
    cr_assert(send_head() == CRL_OK, "finish without a head");
    finished = 1;
    return CRL_OK;
}

void crl_response_error(crl_request_t *r, int status)
{
    check_gil_released();
    if (head_sent) {
        closed = 1;
        return;
    }
    error_status = status;
    outlen = (size_t)snprintf(out, sizeof(out), "ERROR %d", status);
}

/* The instance facts (include/corral/server.h). */
static unsigned fake_worker_id, fake_threads = 1;
static uint64_t fake_requests;
static int reload_calls;

unsigned crl_server_worker_id(void)
{
    return fake_worker_id;
}

unsigned crl_server_processes(void)
{
    return 3;
}

unsigned crl_server_threads(void)
{
    return fake_threads;
}

pid_t crl_server_master_pid(void)
{
    return 4242;
}

uint64_t crl_server_worker_requests(void)
{
    return fake_requests;
}

int crl_server_reload(void)
{
    __atomic_add_fetch(&reload_calls, 1, __ATOMIC_SEQ_CST);
    return CRL_OK;
}

void crl_server_foreach_option(crl_server_option_cb cb, void *ctx)
{
    cb(ctx, "socket", "127.0.0.1:3031");
    cb(ctx, "env", "A=1");
    cb(ctx, "env", "B=2");
    cb(ctx, "master", "");
}

/* ---- driving the plugin ---- */

static const crl_plugin_t *plugin;

static void open_plugin(void)
{
    void *h = dlopen(CRL_PYTHON_PLUGIN, RTLD_NOW | RTLD_GLOBAL);

    cr_assert_not_null(h, "dlopen: %s", dlerror());
    plugin = dlsym(h, CRL_PLUGIN_SYMBOL);
    cr_assert_not_null(plugin);
    cr_assert_eq(plugin->abi, CRL_PLUGIN_ABI);
    cr_assert_str_eq(plugin->name, "python");
    cr_assert_not_null(plugin->app);
}

/* 1 when the space-separated list aliases holds name. */
static int has_alias(const char *aliases, const char *name)
{
    size_t n = strlen(name);
    const char *p = aliases;

    while (p && (p = strstr(p, name)) != NULL) {
        if ((p == aliases || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}

/* Set option `name` (or an alias) as the registry would. */
static void set_opt(const char *name, const char *value)
{
    size_t i;

    for (i = 0; i < plugin->noptions; i++) {
        const crl_option_t *o = &plugin->options[i];
        char *field = (char *)plugin->conf + o->offset;

        if (strcmp(o->name, name) != 0 && !has_alias(o->aliases, name))
            continue;
        if (o->type == CRL_OPT_STRING) {
            *(char **)field = strdup(value);
        } else if (o->type == CRL_OPT_INT) {
            *(long *)field = atol(value);
        } else if (o->type == CRL_OPT_BOOL) {
            *(int *)field = strcmp(value, "0") != 0;
        } else if (o->type == CRL_OPT_LIST) {
            crl_list_t *l = (crl_list_t *)field;

            l->items = realloc(l->items, (l->n + 1) * sizeof(*l->items));
            l->items[l->n++] = (crl_list_item_t){ strdup(value), "test", 1 };
        } else {
            cr_assert_fail("option %s: type not handled by the test", name);
        }
        return;
    }
    cr_assert_fail("no option row named '%s'", name);
}

/* Start the interpreter with the apps directory on sys.path and load
 * `module`; returns load()'s result. */
static int start(const char *module)
{
    open_plugin();
    set_opt("pythonpath", CRL_PYTHON_APPS);
    if (module)
        set_opt("module", module);
    cr_assert_eq(plugin->init_master(), CRL_OK, "init_master failed: %s", logbuf);
    return plugin->app->load();
}

static void start_ok(const char *module)
{
    cr_assert_eq(start(module), CRL_OK, "load failed: %s", logbuf);
}

static void reset_response(void)
{
    outlen = headlen = 0;
    out[0] = '\0';
    head_pending = head_sent = finished = closed = error_status = sendfile_used = 0;
    one_piece = 0;
    fail_write_after = -1;
    write_failed = 0;
    loglen = 0;
    logbuf[0] = '\0';
}

static __thread uint8_t modifier1; /* of the next requests */

/* Serve one request. vars: NULL-terminated "KEY=VALUE" strings; b[0..blen)
 * is what the client sends of a body of content_length bytes. Returns
 * handle()'s result; the response is in out. */
static int request_cl(const char *const *vars, const char *b, size_t blen, int64_t clen)
{
    static __thread crl_var_t v[64];
    static __thread crl_request_t req;
    size_t n = 0;

    for (; vars && *vars; vars++, n++) {
        const char *eq = strchr(*vars, '=');

        v[n].key = (crl_str_t){ *vars, (size_t)(eq - *vars) };
        v[n].value = (crl_str_t){ eq + 1, strlen(eq + 1) };
    }
    req = (crl_request_t){ .vars = v, .nvars = n, .content_length = clen,
                           .worker_id = 1, .modifier1 = modifier1 };
    body = b;
    body_len = blen;
    body_pos = 0;
    in_python_check = 1;
    return plugin->app->handle(&req);
}

static int request_body(const char *const *vars, const char *b, size_t blen)
{
    return request_cl(vars, b, blen, (int64_t)blen);
}

static const char *const get_vars[] = {
    "REQUEST_METHOD=GET", "REQUEST_URI=/p?q=1", "PATH_INFO=/p", "QUERY_STRING=q=1",
    "SERVER_NAME=example.org", "SERVER_PORT=8080", "SERVER_PROTOCOL=HTTP/1.1",
    "REMOTE_ADDR=10.0.0.1", "HTTP_HOST=example.org:8080", NULL,
};

static int get(void)
{
    reset_response();
    return request_body(get_vars, NULL, 0);
}

static int post(const char *b)
{
    static char cl[48];
    const char *vars[] = { "REQUEST_METHOD=POST", "PATH_INFO=/", "SERVER_NAME=h",
                           "SERVER_PORT=80", "SERVER_PROTOCOL=HTTP/1.1", cl,
                           "CONTENT_TYPE=text/plain", NULL };

    snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", strlen(b));
    reset_response();
    return request_body(vars, b, strlen(b));
}

#define assert_out(expected) cr_assert_str_eq(out, expected, "log:\n%s", logbuf)
#define assert_log_has(s) cr_assert(strstr(logbuf, s), "log lacks \"%s\":\n%s", s, logbuf)
#define assert_log_lacks(s) cr_assert(!strstr(logbuf, s), "log has \"%s\":\n%s", s, logbuf)
#define assert_out_has(s) cr_assert(strstr(out, s), "response lacks \"%s\":\n%s", s, out)

/* ---- loading ---- */

Test(load, module_and_callable)
{
    start_ok("testapps:simple");
    cr_assert_eq(get(), CRL_OK);
    assert_out("200 OK\nContent-Type: text/plain\n\nhello");
    cr_assert(finished);
    cr_assert(one_piece, "a one-item list is sent with crl_response_end");
}

Test(load, callable_option)
{
    open_plugin();
    set_opt("callable", "simple");
    start_ok("testapps");
    get();
    assert_out("200 OK\nContent-Type: text/plain\n\nhello");
}

Test(load, default_callable_application)
{
    start_ok("ticker");
    get();
    assert_out_has("200 OK\n\n");
}

Test(load, factory)
{
    start_ok("testapps:factory()");
    get();
    assert_out_has("hello");
}

Test(load, wsgi_file_relative_to_cwd)
{
    cr_assert_eq(chdir(CRL_PYTHON_APPS), 0);
    open_plugin();
    set_opt("wsgi-file", "app_file.wsgi");
    set_opt("callable", "app");
    start_ok(NULL);
    get();
    assert_out("200 OK\n\nfile app uwsgi_file_app_file");
}

Test(load, file_given_as_module)
{
    cr_assert_eq(chdir(CRL_PYTHON_APPS), 0);
    start_ok("app_file.wsgi:app");
    get();
    assert_out("200 OK\n\nfile app uwsgi_file_app_file");
}

Test(load, nothing_configured_declines)
{
    cr_assert_eq(start(NULL), CRL_DECLINED);
}

Test(load, missing_module)
{
    cr_assert_eq(start("no_such_module_xyz"), CRL_ERROR);
    assert_log_has("ModuleNotFoundError");
    assert_log_has("cannot load WSGI app: cannot import module 'no_such_module_xyz'");
}

Test(load, broken_module_logs_traceback)
{
    cr_assert_eq(start("broken"), CRL_ERROR);
    assert_log_has("Traceback (most recent call last)");
    assert_log_has("this module is broken on purpose");
}

Test(load, missing_callable)
{
    cr_assert_eq(start("testapps:app"), CRL_ERROR);
    assert_log_has("cannot load WSGI app: module 'testapps' has no callable 'app'");
}

Test(load, not_callable)
{
    cr_assert_eq(start("testapps:notcallable"), CRL_ERROR);
    assert_log_has("'notcallable' in module 'testapps' is not callable");
}

Test(load, missing_file)
{
    open_plugin();
    set_opt("wsgi-file", "/nonexistent/app.py");
    cr_assert_eq(start(NULL), CRL_ERROR);
    assert_log_has("cannot load WSGI app: cannot import file '/nonexistent/app.py'");
}

Test(load, import_option_by_name_and_by_path)
{
    open_plugin();
    set_opt("import", "startup");
    set_opt("import", CRL_PYTHON_APPS "/startup.py");
    start_ok("testapps:marks");
    get();
    assert_out("200 OK\n\nmarks=2");
}

Test(load, failed_import_option)
{
    open_plugin();
    set_opt("import", "broken");
    cr_assert_eq(start("testapps:simple"), CRL_ERROR);
    assert_log_has("cannot import 'broken'");
}

Test(load, no_app_answers_500_and_logs_once)
{
    cr_assert_eq(start(NULL), CRL_DECLINED);
    cr_assert_eq(get(), CRL_OK);
    assert_out("ERROR 500");
    assert_log_has("no Python application loaded");
    cr_assert_eq(get(), CRL_OK);
    assert_out("ERROR 500");
    assert_log_lacks("no Python application loaded");
}

Test(load, home_that_does_not_exist)
{
    open_plugin();
    set_opt("home", "/nonexistent/venv");
    cr_assert_eq(plugin->init_master(), CRL_ERROR);
    assert_log_has("'/nonexistent/venv' does not exist");
}

Test(load, options_have_aliases_and_help)
{
    size_t i;
    int seen = 0;

    open_plugin();
    for (i = 0; i < plugin->noptions; i++) {
        const crl_option_t *o = &plugin->options[i];

        cr_assert(o->help && *o->help, "option %s has no help", o->name);
        if (strcmp(o->name, "module") == 0)
            seen += o->short_name == 'w' && strstr(o->aliases, "wsgi") != NULL;
        if (strcmp(o->name, "home") == 0)
            seen += o->short_name == 'H' && strstr(o->aliases, "virtualenv") != NULL;
        if (strcmp(o->name, "pythonpath") == 0)
            seen += strstr(o->aliases, "python-path") && strstr(o->aliases, "pp");
    }
    cr_assert_eq(seen, 3);
}

/* ---- the interpreter ---- */

Test(interp, sys_path_like_uwsgi)
{
    open_plugin();
    set_opt("pythonpath", "/tmp/first");
    start_ok("testapps:path");
    get();
    /* pythonpath items are inserted in front, the last configured first */
    assert_out("200 OK\n\n['" CRL_PYTHON_APPS "', '/tmp/first', '.', '']");
}

Test(interp, pyargv)
{
    open_plugin();
    set_opt("pyargv", "-c  conf.ini");
    start_ok("testapps:argv");
    get();
    assert_out("200 OK\n\n['corral', '-c', 'conf.ini']");
}

Test(interp, gil_released_between_requests)
{
    long a, b;

    open_plugin();
    set_opt("import", "ticker");
    start_ok("ticker");
    get();
    a = atol(strstr(out, "\n\n") + 2);
    usleep(200 * 1000);
    get();
    b = atol(strstr(out, "\n\n") + 2);
    /* the thread sleeps 1 ms per tick: it ran only if the GIL was free */
    cr_assert_gt(b - a, 20, "thread ticked %ld times in 200 ms", b - a);
    /* with the ticker alive, every write released the GIL */
    cr_assert_eq(writes_with_gil, 0);
}

Test(interp, writes_keep_the_gil_when_python_has_one_thread)
{
    start_ok("testapps:simple");
    writes_with_gil = 0;
    cr_assert_eq(get(), CRL_OK);
    assert_out_has("hello");
    cr_assert_gt(writes_with_gil, 0, "the only Python thread released the GIL to write");
}

Test(interp, fork_hooks)
{
    start_ok("testapps:simple");
    plugin->fork_prepare();
    plugin->fork_parent();
    plugin->fork_prepare();
    pid_t pid = fork();
    if (pid == 0) {
        if (plugin->init_worker(1) != CRL_OK || get() != CRL_OK ||
            strcmp(out, "200 OK\nContent-Type: text/plain\n\nhello") != 0)
            _exit(1);
        plugin->exit_worker();
        _exit(0);
    }
    plugin->fork_parent();
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker failed");
    cr_assert_eq(get(), CRL_OK);
    assert_out_has("hello");
}

Test(interp, exit_worker_runs_atexit)
{
    char path[] = "/tmp/crl_atexit_XXXXXX";
    char buf[64] = "";
    int fd = mkstemp(path);
    FILE *f;

    cr_assert_geq(fd, 0);
    close(fd);
    setenv("CRL_TEST_ATEXIT", path, 1);
    start_ok("testapps:simple");
    plugin->exit_worker();
    f = fopen(path, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    unlink(path);
    cr_assert_str_eq(buf, "atexit ran");
}

Test(interp, sys_executable_is_python)
{
    start_ok("testapps:executable");
    cr_assert_eq(get(), CRL_OK);
    assert_out("200 OK\n\n/usr/bin/python3.11 /usr");
}

Test(interp, full_installation_as_home)
{
    open_plugin();
    set_opt("home", "/usr");
    start_ok("testapps:prefix");
    get();
    assert_out("200 OK\n\n/usr /usr");
}

/* A venv made by `python3 -m venv` as home: its prefix, the base stdlib,
 * and system site-packages only when the venv asks for them. */
static void venv_case(const char *venv_flags, const char *expect_flask)
{
    char cmd[512], dir[] = "/tmp/crl_venv_XXXXXX", expected[512];
    FILE *f;
    int rc;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 -m venv --without-pip %s %s/v", venv_flags,
             dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s/v/venvapp.py", dir);
    f = fopen(cmd, "w");
    cr_assert_not_null(f);
    fputs("import importlib.util, sys\n"
          "def application(e, s):\n"
          "    s('200 OK', [])\n"
          "    flask = importlib.util.find_spec('flask') is not None\n"
          "    return [('%s %s flask=%s' % (sys.prefix, sys.base_prefix, flask)).encode()]\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "%s/v", dir);
    open_plugin();
    set_opt("home", cmd);
    set_opt("pythonpath", cmd);
    rc = start("venvapp");
    if (rc == CRL_OK)
        get();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(rc, CRL_OK, "load failed: %s", logbuf);
    snprintf(expected, sizeof(expected), "200 OK\n\n%s/v /usr flask=%s", dir, expect_flask);
    assert_out(expected);
}

Test(interp, venv_home)
{
    venv_case("", "False");
}

Test(interp, venv_home_with_system_site_packages)
{
    venv_case("--system-site-packages", "True");
}

/* ---- environ ---- */

Test(environ, contents_and_types)
{
    start_ok("testapps:show");
    cr_assert_eq(get(), CRL_OK);
    assert_out_has("REQUEST_METHOD str 'GET' str\n");
    assert_out_has("PATH_INFO str '/p' str\n");
    assert_out_has("QUERY_STRING str 'q=1' str\n");
    assert_out_has("SCRIPT_NAME str '' str\n");
    assert_out_has("HTTP_HOST str 'example.org:8080' str\n");
    assert_out_has("SERVER_PORT str '8080' str\n");
    assert_out_has("wsgi.version tuple (1, 0) str\n");
    assert_out_has("wsgi.url_scheme str 'http' str\n");
    assert_out_has("wsgi.multithread bool False str\n");
    assert_out_has("wsgi.multiprocess bool True str\n");
    assert_out_has("wsgi.run_once bool False str\n");
    assert_out_has("wsgi.input_terminated bool True str\n");
    assert_out_has("wsgi.input Input '<object>' str\n");
    assert_out_has("wsgi.errors Errors '<object>' str\n");
    assert_out_has("wsgi.file_wrapper type '<object>' str\n");
}

Test(environ, latin1_values_and_derived_path)
{
    const char *vars[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/a%20b/%C3%A9?x=%20",
                           "HTTP_X_NAME=caf\xc3\xa9", "HTTPS=on", NULL };

    start_ok("testapps:show");
    reset_response();
    cr_assert_eq(request_body(vars, NULL, 0), CRL_OK);
    /* no PATH_INFO from the front end: decoded from REQUEST_URI */
    assert_out_has("PATH_INFO str '/a b/\xc3\x83\xc2\xa9' str\n");
    assert_out_has("HTTP_X_NAME str 'caf\xc3\x83\xc2\xa9' str\n");
    assert_out_has("QUERY_STRING str '' str\n");
    assert_out_has("SERVER_NAME str");
    assert_out_has("wsgi.url_scheme str 'https' str\n");
}

Test(environ, scheme_from_request_scheme)
{
    const char *vars[] = { "REQUEST_METHOD=GET", "PATH_INFO=/", "REQUEST_SCHEME=https", NULL };
    const char *vars2[] = { "REQUEST_METHOD=GET", "PATH_INFO=/", "HTTPS=off", NULL };

    start_ok("testapps:show");
    reset_response();
    request_body(vars, NULL, 0);
    assert_out_has("wsgi.url_scheme str 'https' str\n");
    reset_response();
    request_body(vars2, NULL, 0);
    assert_out_has("wsgi.url_scheme str 'http' str\n");
}

Test(environ, fresh_per_request)
{
    const char *vars[] = { "REQUEST_METHOD=GET", "PATH_INFO=/", "HTTP_X_ONLY_ONCE=1", NULL };

    start_ok("testapps:show");
    reset_response();
    request_body(vars, NULL, 0);
    assert_out_has("HTTP_X_ONLY_ONCE");
    get();
    cr_assert(!strstr(out, "HTTP_X_ONLY_ONCE"), "a variable leaked into the next request");
}

Test(environ, changed_values_are_not_reused)
{
    const char *v1[] = { "REQUEST_METHOD=GET", "PATH_INFO=/a", "HTTP_X_V=first", NULL };
    const char *v2[] = { "REQUEST_METHOD=POST", "PATH_INFO=/a", "HTTP_X_V=second", NULL };
    const char *v3[] = { "REQUEST_METHOD=POST", "PATH_INFO=/b", "HTTP_X_V=", NULL };

    start_ok("testapps:show");
    reset_response();
    request_body(v1, NULL, 0);
    assert_out_has("HTTP_X_V str 'first' str\n");
    reset_response();
    request_body(v2, NULL, 0);
    assert_out_has("HTTP_X_V str 'second' str\n");
    assert_out_has("REQUEST_METHOD str 'POST' str\n");
    reset_response();
    request_body(v3, NULL, 0);
    assert_out_has("HTTP_X_V str '' str\n");
    assert_out_has("PATH_INFO str '/b' str\n");
}

Test(environ, pep3333_validator)
{
    start_ok("testapps:validated");
    cr_assert_eq(get(), CRL_OK);
    assert_out("200 OK\nContent-Type: text/plain\n\nhello");
    assert_log_lacks("Traceback");
}

Test(environ, pep3333_validator_with_body)
{
    start_ok("testapps:validated_echo");
    cr_assert_eq(post("abc"), CRL_OK);
    assert_out("200 OK\nContent-Type: text/plain\nContent-Length: 4\n\nabc|");
    assert_log_lacks("Traceback");
}

/* ---- wsgi.input ---- */

Test(input, read_bounded_by_content_length)
{
    start_ok("testapps:echo");
    read_chunk = 2; /* the core hands the body over in small pieces */
    cr_assert_eq(post("hello world"), CRL_OK);
    assert_out("200 OK\n\n11:hello world|");
}

Test(input, body_longer_than_content_length_is_not_read)
{
    const char *vars[] = { "REQUEST_METHOD=POST", "PATH_INFO=/", "CONTENT_LENGTH=4", NULL };

    start_ok("testapps:echo");
    reset_response();
    request_cl(vars, "abcdEXTRA", 9, 4);
    assert_out("200 OK\n\n4:abcd|");
}

Test(input, readline)
{
    start_ok("testapps:lines");
    read_chunk = 3;
    post("one\ntwo\n\nlast");
    assert_out("200 OK\n\n[b'one\\n', b'two\\n', b'\\n', b'last']");
}

Test(input, long_line_across_buffer)
{
    static char b[20001];

    memset(b, 'x', 20000);
    b[9000] = '\n';
    start_ok("testapps:lines");
    post(b);
    assert_out_has("[b'xxxx");
    assert_out_has("x\\n', b'xxx");
    /* 19999 x, the head (8), "[b'" "\\n" "', b'" "']" (12) */
    cr_assert_eq(outlen, 19999 + 8 + 12, "%zu", outlen);
}

Test(input, chunked_body_of_unknown_length)
{
    const char *vars[] = { "REQUEST_METHOD=POST", "PATH_INFO=/", NULL };
    static char b[30000];

    memset(b, 'y', sizeof(b));
    memcpy(b, "hello\n", 6);
    start_ok("testapps:echo");
    reset_response();
    read_chunk = 700;
    request_cl(vars, b, sizeof(b), -1); /* read until the core says 0 */
    cr_assert_eq(outlen, strlen("200 OK\n\n30000:|") + sizeof(b));
    assert_out_has("200 OK\n\n30000:hello\nyyy");
}

Test(input, chunked_body_mixed_sizes)
{
    const char *vars[] = { "REQUEST_METHOD=POST", "PATH_INFO=/", NULL };
    const char *b = "abcdefgh\nline2\nline3\nline4\ntail";

    start_ok("testapps:mixed");
    reset_response();
    read_chunk = 4;
    request_cl(vars, b, strlen(b), -1);
    assert_out("200 OK\n\n[b'abc', b'de', b'fgh\\n', [b'line2\\n'], [b'line3\\n', b'line4\\n', "
               "b'tail'], b'']");
}

Test(input, iteration)
{
    start_ok("testapps:iterate");
    post("a\nb\nc");
    assert_out("200 OK\n\n[b'a\\n', b'b\\n', b'c']");
}

Test(input, mixed_sizes)
{
    start_ok("testapps:mixed");
    post("abcdefgh\nline2\nline3\nline4\ntail");
    /* read(3), readline(2), readline(), readlines(1), readlines(), read() */
    assert_out("200 OK\n\n[b'abc', b'de', b'fgh\\n', [b'line2\\n'], [b'line3\\n', b'line4\\n', "
               "b'tail'], b'']");
}

Test(input, client_gone_raises_oserror)
{
    const char *vars[] = { "REQUEST_METHOD=POST", "PATH_INFO=/", "CONTENT_LENGTH=10", NULL };

    start_ok("testapps:input_error");
    reset_response();
    read_error = -ECONNRESET;
    request_cl(vars, "abc", 3, 10); /* only 3 of 10 bytes arrive */
    assert_out_has("OSError ConnectionResetError");
    reset_response();
    read_error = -ETIMEDOUT;
    request_cl(vars, "abc", 3, 10);
    assert_out_has("OSError TimeoutError");
    read_error = 0;
}

Test(input, kept_object_is_detached)
{
    start_ok("testapps:keep_input");
    post("first");
    set_opt("module", "testapps:stale_input");
    cr_assert_eq(plugin->app->load(), CRL_OK);
    post("second");
    assert_out("200 OK\n\nstale OSError+second");
}

/* ---- responses ---- */

Test(response, pep3333_validator_generator)
{
    start_ok("testapps:validated_gen");
    cr_assert_eq(get(), CRL_OK);
    assert_out("200 OK\nContent-Type: text/plain\n\nabc");
    assert_log_has("close called\n");
    assert_log_lacks("Traceback");
}

Test(response, write_callable)
{
    start_ok("testapps:writer");
    cr_assert_eq(get(), CRL_OK);
    assert_out("200 OK\nX-A: 1\n\none,two,three");
    cr_assert(finished && !one_piece);
}

Test(response, generator_and_close)
{
    start_ok("testapps:generator");
    cr_assert_eq(get(), CRL_OK);
    assert_out("200 OK\n\nabc");
    cr_assert(finished && !one_piece);
    assert_log_has("close called\n");
}

Test(response, several_items)
{
    start_ok("testapps:big");
    cr_assert_eq(get(), CRL_OK);
    cr_assert_eq(outlen, strlen("200 OK\n\n") + 5000);
}

Test(response, empty_body_sends_head_at_finish)
{
    start_ok("testapps:empty");
    cr_assert_eq(get(), CRL_OK);
    assert_out("204 No Content\nX-E: 1\n\n");
    cr_assert(finished);
}

Test(response, wsgi_errors_to_log)
{
    start_ok("testapps:prints");
    get();
    assert_log_has("to the log\na\nb\n");
}

Test(response, exception_before_head_is_500)
{
    start_ok("testapps:fail_before");
    cr_assert_eq(get(), CRL_OK);
    assert_out("ERROR 500");
    assert_log_has("Traceback");
    assert_log_has("KeyError: 'boom before'");
}

Test(response, system_exit_is_logged_not_obeyed)
{
    start_ok("testapps:exits");
    cr_assert_eq(get(), CRL_OK);
    assert_out("ERROR 500");
    assert_log_has("SystemExit: 3");
    cr_assert_eq(get(), CRL_OK, "the worker goes on serving");
}

Test(response, exception_in_iterable_before_body_is_500_and_closes)
{
    start_ok("testapps:fail_gen_before");
    cr_assert_eq(get(), CRL_OK);
    assert_out("ERROR 500");
    assert_log_has("ValueError: failed in the middle");
    assert_log_has("close called\n");
}

Test(response, exception_after_head_closes_connection)
{
    start_ok("testapps:gen_fail_after");
    cr_assert_eq(get(), CRL_ERROR);
    assert_out("200 OK\n\npart");
    cr_assert(closed);
    cr_assert(!finished);
    assert_log_has("ValueError: failed in the middle");
    assert_log_has("close called\n");
}

Test(response, exc_info_before_head_replaces_it)
{
    start_ok("testapps:exc_info_before");
    cr_assert_eq(get(), CRL_OK);
    assert_out("500 Oops\nX-Err: 1\n\nerror page");
}

Test(response, exc_info_after_head_reraises)
{
    start_ok("testapps:exc_info_after");
    cr_assert_eq(get(), CRL_ERROR);
    assert_out("200 OK\n\nsent");
    cr_assert(closed);
    assert_log_has("ValueError: late failure");
}

Test(response, start_response_arguments)
{
    start_ok("testapps:sr_bad_args");
    cr_assert_eq(get(), CRL_OK);
    assert_out("200 OK\n\nstart_response() needs status and headers|"
               "start_response() takes at most 3 arguments (4 given)|"
               "start_response() got an unexpected or repeated keyword argument 'status'");
}

Test(response, start_response_twice_is_an_error)
{
    start_ok("testapps:twice");
    cr_assert_eq(get(), CRL_OK);
    assert_out("ERROR 500");
    assert_log_has("start_response() called again without exc_info");
}

Test(response, str_item_is_500)
{
    start_ok("testapps:str_item");
    cr_assert_eq(get(), CRL_OK);
    assert_out("ERROR 500");
    assert_log_has("response body items must be bytes, not str");
}

Test(response, str_item_first_in_generator_is_500_and_closes)
{
    start_ok("testapps:gen_str_first");
    cr_assert_eq(get(), CRL_OK);
    assert_out("ERROR 500");
    assert_log_has("response body items must be bytes, not str");
    assert_log_has("close called\n");
}

Test(response, str_item_after_head_closes)
{
    start_ok("testapps:gen_str_after");
    cr_assert_eq(get(), CRL_ERROR);
    assert_out("200 OK\n\npart");
    cr_assert(closed);
    assert_log_has("response body items must be bytes, not str");
    assert_log_has("close called\n");
}

Test(response, header_with_crlf_is_500)
{
    start_ok("testapps:bad_header");
    cr_assert_eq(get(), CRL_OK);
    assert_out("ERROR 500");
    assert_log_has("response head refused");
}

Test(response, header_not_latin1_is_500)
{
    start_ok("testapps:nonlatin_header");
    cr_assert_eq(get(), CRL_OK);
    assert_out("ERROR 500");
    assert_log_has("header value is not latin-1 encodable");
}

Test(response, latin1_header_passes_as_latin1_bytes)
{
    start_ok("testapps:latin1_header");
    get();
    assert_out("200 OK\nX-A: caf\xe9\n\nx");
}

Test(response, headers_must_be_a_list)
{
    start_ok("testapps:tuple_headers");
    get();
    assert_out("ERROR 500");
    assert_log_has("headers must be a list, not tuple");
}

Test(response, malformed_status)
{
    start_ok("testapps:bad_status");
    get();
    assert_out("ERROR 500");
    assert_log_has("status must be 'NNN reason'");
}

Test(response, no_start_response)
{
    start_ok("testapps:no_start");
    cr_assert_eq(get(), CRL_OK);
    assert_out("ERROR 500");
    assert_log_has("before calling start_response");
}

Test(response, file_wrapper_real_file_uses_sendfile)
{
    start_ok("testapps:file_real");
    cr_assert_eq(get(), CRL_OK);
    cr_assert(sendfile_used);
    assert_out("200 OK\n\nghijklmnopqrstuvwxyz\n");
}

Test(response, file_wrapper_without_fileno_is_iterated)
{
    start_ok("testapps:file_bytesio");
    cr_assert_eq(get(), CRL_OK);
    cr_assert(!sendfile_used);
    assert_out("200 OK\n\n0123456789");
}

/* The log holds s exactly once. */
#define assert_log_once(s)                                                                  \
    do {                                                                                    \
        assert_log_has(s);                                                                  \
        cr_assert_null(strstr(strstr(logbuf, s) + 1, s), "logged more than once:\n%s",      \
                       logbuf);                                                             \
    } while (0)

static int get_with_failing_writes(int after)
{
    reset_response();
    fail_write_after = after;
    return request_body(get_vars, NULL, 0);
}

/* ---- clients that go away ---- */

Test(client_gone, iterable_logged_once_and_closed)
{
    start_ok("testapps:big_closing");
    cr_assert_eq(get_with_failing_writes(0), CRL_ERROR);
    assert_log_once("client went away during the response to GET /p?q=1: Broken pipe");
    assert_log_has("close called\n");
    assert_log_lacks("Traceback");
}

Test(client_gone, one_line_for_the_whole_list)
{
    start_ok("testapps:big");
    cr_assert_eq(get_with_failing_writes(0), CRL_ERROR);
    assert_log_once("client went away");
    assert_log_lacks("Traceback");
}

Test(client_gone, write_raises_oserror_by_default)
{
    start_ok("testapps:write_many");
    cr_assert_eq(get_with_failing_writes(50), CRL_ERROR);
    assert_out_has("200 OK\n\nx");
    /* the first 100 bytes went out, then every write raised */
    assert_log_has("wrote 20, 19 raised\n");
    assert_log_once("client went away");
}

Test(client_gone, uncaught_write_error_is_one_line)
{
    start_ok("testapps:write_uncaught");
    cr_assert_eq(get_with_failing_writes(0), CRL_ERROR);
    assert_log_once("client went away during the response to GET /p?q=1");
    assert_log_lacks("Traceback");
    assert_log_lacks("BrokenPipeError");
}

Test(client_gone, disable_write_exception)
{
    open_plugin();
    set_opt("disable-write-exception", "1");
    start_ok("testapps:write_many");
    cr_assert_eq(get_with_failing_writes(0), CRL_ERROR);
    assert_log_has("wrote 20, 0 raised\n");
    assert_log_once("client went away");
}

Test(client_gone, ignore_write_errors_logs_nothing)
{
    open_plugin();
    set_opt("ignore-write-errors", "1");
    set_opt("ignore-sigpipe", "1");
    start_ok("testapps:big_closing");
    cr_assert_eq(get_with_failing_writes(0), CRL_ERROR);
    assert_log_lacks("client went away");
    assert_log_has("close called\n");
    cr_assert_eq(get(), CRL_OK, "the worker goes on serving");
}

Test(client_gone, during_the_write_callable)
{
    start_ok("testapps:writer");
    cr_assert_eq(get_with_failing_writes(0), CRL_ERROR);
    assert_log_once("client went away");
    assert_log_lacks("Traceback");
}

/* GET path (PATH_INFO as the front end sends it); the body in out. */
static int get_path(const char *path)
{
    static char pv[256];
    const char *vars[] = { "REQUEST_METHOD=GET", pv, "SERVER_NAME=h", "SERVER_PORT=80",
                           "SERVER_PROTOCOL=HTTP/1.1", "HTTP_HOST=h", NULL };

    snprintf(pv, sizeof(pv), "PATH_INFO=%s", path);
    reset_response();
    return request_body(vars, NULL, 0);
}

static const char *body_of(void)
{
    const char *p = strstr(out, "\n\n");

    return p ? p + 2 : out;
}

/* ---- apps that break PEP 3333 ---- */

static int log_lines(void)
{
    int n = 0;
    const char *p;

    for (p = logbuf; *p; p++)
        n += *p == '\n';
    return n;
}

/* GET /kind from testapps:bad: a 500, exactly one log line holding
 * `line`, and the next request is served. */
static void bad_case(const char *kind, const char *line)
{
    char path[64];

    snprintf(path, sizeof(path), "/%s", kind);
    cr_assert_eq(get_path(path), CRL_OK, "%s", kind);
    cr_assert_str_eq(out, "ERROR 500", "%s: %s", kind, out);
    cr_assert(strstr(logbuf, line), "%s: log lacks \"%s\":\n%s", kind, line, logbuf);
    cr_assert_eq(log_lines(), 1, "%s: not one log line:\n%s", kind, logbuf);
    cr_assert_eq(get_path("/ok"), CRL_OK);
    cr_assert_str_eq(out, "200 OK\nContent-Type: text/plain\n\nok", "after %s", kind);
}

Test(pep3333, bad_apps_get_500_and_one_line)
{
    start_ok("testapps:bad");
    bad_case("none", "broke PEP 3333: it returned NoneType, which is not an iterable of bytes");
    bad_case("int", "broke PEP 3333: it returned int, which is not an iterable of bytes");
    bad_case("twice", "broke PEP 3333: RuntimeError: start_response() called again without "
                      "exc_info (" CRL_PYTHON_APPS "/testapps.py:");
    bad_case("str_items", "broke PEP 3333: response body items must be bytes, not str");
    bad_case("header_list", "broke PEP 3333: TypeError: headers must be (name, value) tuples, "
                            "not list");
    bad_case("header_triple", "headers must be (name, value) tuples, not tuple");
    bad_case("header_bytes", "TypeError: header name must be str, not bytes");
    bad_case("header_int", "TypeError: header value must be str, not int");
    bad_case("headers_dict", "TypeError: headers must be a list, not dict");
    bad_case("status_bytes", "TypeError: status must be str, not bytes");
    bad_case("write_str", "TypeError: write() takes bytes, not str");
}

Test(pep3333, app_catching_the_error_is_not_reported)
{
    start_ok("testapps:sr_bad_args");
    cr_assert_eq(get(), CRL_OK);
    assert_out_has("200 OK\n\n");
    cr_assert_eq(log_lines(), 0, "%s", logbuf);
}

Test(pep3333, app_exception_keeps_its_traceback)
{
    start_ok("testapps:fail_before");
    get();
    assert_log_has("Traceback (most recent call last)");
    assert_log_lacks("broke PEP 3333");
}

Test(pep3333, validator_write_callable)
{
    start_ok("testapps:validated_writer");
    cr_assert_eq(get(), CRL_OK);
    assert_out("200 OK\nContent-Type: text/plain\n\none,two");
    assert_log_lacks("Traceback");
}

Test(pep3333, validator_file_wrapper)
{
    start_ok("testapps:validated_file");
    cr_assert_eq(get(), CRL_OK);
    assert_out("200 OK\nContent-Type: text/plain\n\nabcdefghijklmnopqrstuvwxyz\n");
    assert_log_lacks("Traceback");
}

Test(pep3333, validator_threads_and_mounts)
{
    const char *vars[] = { "REQUEST_METHOD=GET", "PATH_INFO=/api/x", "SERVER_NAME=h",
                           "SERVER_PORT=80", "SERVER_PROTOCOL=HTTP/1.1", NULL };

    fake_threads = 4;
    open_plugin();
    set_opt("mount", "/api=testapps:where_api");
    start_ok(NULL);
    reset_response();
    cr_assert_eq(request_body(vars, NULL, 0), CRL_OK);
    assert_out("200 OK\nContent-Type: text/plain\n\napi|/api|/x");
    assert_log_lacks("Traceback");
}

/* ---- mounts ---- */

#define assert_routes(path, expected)                                                      \
    do {                                                                                   \
        cr_assert_eq(get_path(path), CRL_OK);                                              \
        cr_assert_str_eq(body_of(), expected, "GET %s: %s\nlog:\n%s", path, out, logbuf); \
    } while (0)

Test(mount, longest_prefix_on_a_segment_boundary)
{
    open_plugin();
    set_opt("mount", "/api=testapps:where_api");
    set_opt("mount", "/api/v2/=testapps:where_v2");
    start_ok("testapps:where_default");
    assert_routes("/api/x", "api|/api|/x");
    assert_routes("/api", "api|/api|");
    assert_routes("/api/", "api|/api|/");
    assert_routes("/api/v2/y/z", "v2|/api/v2|/y/z");
    assert_routes("/api/v2", "v2|/api/v2|");
    assert_routes("/api/v22", "api|/api|/v22");
    assert_routes("/apix", "default||/apix");
    assert_routes("/", "default||/");
    assert_log_lacks("Traceback");
}

Test(mount, no_default_app_is_404)
{
    open_plugin();
    set_opt("mount", "/api=testapps:where_api");
    start_ok(NULL);
    assert_routes("/api/x", "api|/api|/x");
    cr_assert_eq(get_path("/other"), CRL_OK);
    assert_out("ERROR 404");
}

Test(mount, root_mount_serves_the_rest)
{
    open_plugin();
    set_opt("mount", "/=testapps:where_root");
    set_opt("mount", "/api=testapps:where_api");
    start_ok(NULL);
    assert_routes("/else", "root||/else");
    assert_routes("/api/a", "api|/api|/a");
}

Test(mount, module_file_and_default_callable_forms)
{
    cr_assert_eq(chdir(CRL_PYTHON_APPS), 0);
    open_plugin();
    set_opt("worker-mount", "/t=ticker");
    set_opt("mount", "/f=mounted.py");
    set_opt("mount", "/w=app_file.wsgi:app");
    set_opt("mount", "/abs=" CRL_PYTHON_APPS "/mounted.py");
    start_ok(NULL);
    cr_assert_eq(get_path("/t/x"), CRL_OK);
    assert_out_has("200 OK\n\n");
    assert_routes("/f/a", "file uwsgi_file_mounted|/f|/a");
    assert_routes("/w", "file app uwsgi_file_app_file");
    /* a file's module name is uWSGI's: uwsgi_file_ + the path, [^A-Za-z0-9] -> _ */
    char expected[512], *p;
    snprintf(expected, sizeof(expected), "file uwsgi_file_%s/mounted|/abs|/b", CRL_PYTHON_APPS);
    for (p = expected + strlen("file uwsgi_file_"); *p != '|'; p++)
        if (!isalnum((unsigned char)*p))
            *p = '_';
    assert_routes("/abs/b", expected);
}

Test(mount, front_end_script_name_selects_the_mount)
{
    const char *vars[] = { "REQUEST_METHOD=GET", "SCRIPT_NAME=/api", "PATH_INFO=/api/x", NULL };

    open_plugin();
    set_opt("mount", "/api=testapps:where_api");
    start_ok("testapps:where_default");
    reset_response();
    request_body(vars, NULL, 0);
    /* nginx split the path already (uwsgi_param SCRIPT_NAME): as uWSGI */
    cr_assert_str_eq(body_of(), "api|/api|/api/x");
    /* modifier1 30 strips SCRIPT_NAME from PATH_INFO */
    modifier1 = 30;
    reset_response();
    request_body(vars, NULL, 0);
    modifier1 = 0;
    cr_assert_str_eq(body_of(), "api|/api|/x");
}

Test(mount, modifier1_30_without_mounts)
{
    const char *vars[] = { "REQUEST_METHOD=GET", "SCRIPT_NAME=/app", "PATH_INFO=/app/p", NULL };

    start_ok("testapps:where_default");
    modifier1 = 30;
    reset_response();
    request_body(vars, NULL, 0);
    modifier1 = 0;
    cr_assert_str_eq(body_of(), "default|/app|/p");
}

Test(mount, path_from_request_uri)
{
    const char *vars[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/api/a%20b?q=1", NULL };

    open_plugin();
    set_opt("mount", "/api=testapps:where_api");
    start_ok(NULL);
    reset_response();
    request_body(vars, NULL, 0);
    cr_assert_str_eq(body_of(), "api|/api|/a b");
}

Test(mount, bad_spec_and_failing_app)
{
    open_plugin();
    set_opt("mount", "api");
    cr_assert_eq(start(NULL), CRL_ERROR);
    assert_log_has("mount 'api' (test:1): expected /prefix=module-or-file");
}

Test(mount, failing_mounted_app_fails_the_load)
{
    open_plugin();
    set_opt("mount", "/b=broken");
    cr_assert_eq(start("testapps:simple"), CRL_ERROR);
    assert_log_has("cannot load the app mounted at '/b' (test:1)");
}

/* Django mounted under /api: reverse() and redirects carry the prefix. */
Test(mount, django_under_a_prefix)
{
    open_plugin();
    set_opt("mount", "/api=djangoapp");
    start_ok(NULL);
    cr_assert_eq(get_path("/api/where"), CRL_OK);
    cr_assert_str_eq(body_of(), "/api/echo /api/where /where", "%s\n%s", out, logbuf);
    cr_assert_eq(get_path("/api/go"), CRL_OK);
    assert_out_has("302 Found\n");
    assert_out_has("Location: /api/echo\n");
}

/* ---- post-buffering ---- */

static char big_body[30000];

static int post_big(int64_t clen)
{
    const char *vars[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/up", NULL };

    memset(big_body, 'y', sizeof(big_body));
    memcpy(big_body, "hello\n", 6);
    memcpy(big_body + sizeof(big_body) - 4, "end\n", 4);
    reset_response();
    read_chunk = 700;
    return request_cl(vars, big_body, sizeof(big_body), clen);
}

/* A body above the limit is read whole before the app runs, wsgi.input
 * then reads it from the temporary file. */
Test(post_buffering, large_body_spooled_before_the_app)
{
    open_plugin();
    set_opt("post-buffering", "4096");
    start_ok("testapps:ignore_body");
    cr_assert_eq(post_big(sizeof(big_body)), CRL_OK);
    assert_out("200 OK\n\nignored");
    cr_assert_eq(body_pos, sizeof(big_body), "the body was not read before the app");
    set_opt("module", "testapps:echo");
    cr_assert_eq(plugin->app->load(), CRL_OK);
    cr_assert_eq(post_big(sizeof(big_body)), CRL_OK);
    cr_assert_eq(outlen, strlen("200 OK\n\n30000:|") + sizeof(big_body));
    assert_out_has("200 OK\n\n30000:hello\nyyy");
    assert_out_has("yyyend\n|");
}

Test(post_buffering, readline_and_small_bufsize)
{
    open_plugin();
    set_opt("post-buffering", "1");
    set_opt("post-buffering-bufsize", "512");
    start_ok("testapps:mixed");
    post("abcdefgh\nline2\nline3\nline4\ntail");
    assert_out("200 OK\n\n[b'abc', b'de', b'fgh\\n', [b'line2\\n'], [b'line3\\n', b'line4\\n', "
               "b'tail'], b'']");
}

Test(post_buffering, small_body_is_streamed)
{
    open_plugin();
    set_opt("post-buffering", "4096");
    start_ok("testapps:ignore_body");
    cr_assert_eq(post("small"), CRL_OK);
    cr_assert_eq(body_pos, 0, "a body under the limit is left to the app");
}

Test(post_buffering, chunked_body_is_spooled)
{
    open_plugin();
    set_opt("post-buffering", "4096");
    start_ok("testapps:echo");
    cr_assert_eq(post_big(-1), CRL_OK);
    assert_out_has("200 OK\n\n30000:hello\nyyy");
    cr_assert_eq(outlen, strlen("200 OK\n\n30000:|") + sizeof(big_body));
}

Test(post_buffering, client_gone_while_spooling)
{
    const char *vars[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/up", "CONTENT_LENGTH=10000",
                           NULL };

    open_plugin();
    set_opt("post-buffering", "100");
    start_ok("testapps:simple");
    reset_response();
    read_error = -ETIMEDOUT;
    cr_assert_eq(request_cl(vars, "abc", 3, 10000), CRL_ERROR);
    read_error = 0;
    assert_out("ERROR 408");
    assert_log_once("client went away during the request POST /up");
    cr_assert_eq(get(), CRL_OK, "the worker goes on serving");
    assert_out_has("hello");
}

Test(post_buffering, temporary_file_leaves_nothing)
{
    char dir[] = "/tmp/crl_spool_XXXXXX", cmd[128];

    cr_assert_not_null(mkdtemp(dir));
    setenv("TMPDIR", dir, 1);
    open_plugin();
    set_opt("post-buffering", "10");
    start_ok("testapps:echo");
    cr_assert_eq(post_big(sizeof(big_body)), CRL_OK);
    cr_assert_eq(post_big(sizeof(big_body)), CRL_OK);
    assert_out_has("30000:hello");
    cr_assert_eq(rmdir(dir), 0, "the spool directory is not empty");
    (void)cmd;
}

/* ---- gc.freeze, py-autoreload ---- */

Test(preload, gc_frozen_after_loading_in_the_master)
{
    start_ok("testapps:frozen");
    get();
    assert_out("200 OK\n\nfrozen=yes");
}

/* In a forked worker: no reload while nothing changes, a reload within a
 * few seconds once a loaded module's file is edited. */
Test(preload, py_autoreload)
{
    char dir[] = "/tmp/crl_autoreload_XXXXXX", path[128];
    int status;
    FILE *f;
    pid_t pid;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/editme.py", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("def application(e, s):\n    s('200 OK', [])\n    return [b'v1']\n", f);
    fclose(f);
    open_plugin();
    set_opt("pythonpath", dir);
    set_opt("py-autoreload", "1");
    start_ok("editme");
    plugin->fork_prepare();
    pid = fork();
    if (pid == 0) {
        int i;

        if (plugin->init_worker(1) != CRL_OK)
            _exit(1);
        usleep(1500 * 1000);
        if (reload_calls != 0)
            _exit(2);
        f = fopen(path, "a");
        fputs("# edited\n", f);
        fclose(f);
        for (i = 0; i < 60 && reload_calls == 0; i++)
            usleep(100 * 1000);
        if (reload_calls != 1 || !strstr(logbuf, "py-autoreload: ") ||
            !strstr(logbuf, "editme.py changed; reloading"))
            _exit(3);
        _exit(0);
    }
    plugin->fork_parent();
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    unlink(path);
    rmdir(dir);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker exit status %d",
              WEXITSTATUS(status));
}

Test(preload, py_autoreload_aliases)
{
    size_t i;

    open_plugin();
    for (i = 0; i < plugin->noptions; i++)
        if (strcmp(plugin->options[i].name, "py-autoreload") == 0)
            cr_assert_str_eq(plugin->options[i].aliases, "python-autoreload py-auto-reload");
}

/* ---- the uwsgi module ---- */

Test(uwsgi_module, facts)
{
    fake_worker_id = 2;
    fake_requests = 17;
    start_ok("uwsgiapp:info");
    cr_assert_eq(get(), CRL_OK);
    /* uWSGI 2.0 gives opt values as bytes, the last of a repeated key */
    assert_out("200 OK\n\n([('env', b'B=2'), ('master', b''), ('socket', b'127.0.0.1:3031')], "
               "3, 1, 2, 4242, 17, 0, b'2.0.21-corral', (2, 0), 'int')");
    assert_log_has("hello from the app\n");
}

Test(uwsgi_module, reload_asks_the_master)
{
    start_ok("uwsgiapp:do_reload");
    get();
    assert_out("200 OK\n\nTrue");
    cr_assert_eq(reload_calls, 1);
}

Test(uwsgi_module, decorators_thread_and_lock)
{
    start_ok("uwsgiapp:decorated");
    get();
    assert_out("200 OK\n\n[42]");
}

/* The lines of the marks file, or "" */
static const char *read_marks(const char *path)
{
    static char buf[1024];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

static char marks_path[64];

static void marks_init(void)
{
    int fd;

    snprintf(marks_path, sizeof(marks_path), "/tmp/crl_marks_XXXXXX");
    fd = mkstemp(marks_path);
    cr_assert_geq(fd, 0);
    close(fd);
    setenv("CRL_TEST_MARKS", marks_path, 1);
}

/* postfork functions run in each worker after fork, not in the master;
 * uwsgi.atexit runs when the worker exits. */
Test(uwsgi_module, postfork_in_each_worker_and_atexit)
{
    char expected[256];
    pid_t pids[2];
    int i, status;

    marks_init();
    start_ok("uwsgiapp:info");
    cr_assert_str_eq(read_marks(marks_path), "", "hooks ran in the master");
    for (i = 0; i < 2; i++) {
        plugin->fork_prepare();
        pids[i] = fork();
        if (pids[i] == 0) {
            fake_worker_id = (unsigned)i + 1;
            if (plugin->init_worker(fake_worker_id) != CRL_OK || get() != CRL_OK)
                _exit(1);
            plugin->exit_worker();
            _exit(0);
        }
        plugin->fork_parent();
        cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker failed");
    }
    snprintf(expected, sizeof(expected),
             "postfork %d\npostfork2 %d\natexit %d\npostfork %d\npostfork2 %d\natexit %d\n",
             pids[0], pids[0], pids[0], pids[1], pids[1], pids[1]);
    cr_assert_str_eq(read_marks(marks_path), expected);
    unlink(marks_path);
}

/* lazy-apps: the app is loaded in the worker, and its postfork functions
 * run right after, once. */
Test(uwsgi_module, postfork_after_lazy_load)
{
    char expected[64];

    marks_init();
    fake_worker_id = 1; /* load() runs in a worker */
    start_ok("uwsgiapp:info");
    snprintf(expected, sizeof(expected), "postfork %d\npostfork2 %d\n", getpid(), getpid());
    cr_assert_str_eq(read_marks(marks_path), expected);
    unlink(marks_path);
}

/* ---- request threads ---- */

typedef struct {
    char path[32];
    int rc;
    char out[256];
} thread_job_t;

static void *serve_in_thread(void *arg)
{
    thread_job_t *job = arg;
    char pv[48];
    const char *vars[] = { "REQUEST_METHOD=GET", pv, "SERVER_NAME=h", NULL };

    snprintf(pv, sizeof(pv), "PATH_INFO=%s", job->path);
    reset_response();
    job->rc = request_body(vars, NULL, 0);
    snprintf(job->out, sizeof(job->out), "%.255s", out);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* N threads of one worker call handle() at once on a view that sleeps
 * 0.5 s: they overlap (the GIL is free while a view sleeps), and each gets
 * its own response. */
Test(threads, concurrent_requests_overlap)
{
    enum { N = 6 };
    pthread_t th[N];
    thread_job_t jobs[N];
    char expected[256];
    double t0, elapsed;
    int i;

    fake_threads = N;
    start_ok("testapps:sleepy");
    t0 = now_s();
    for (i = 0; i < N; i++) {
        snprintf(jobs[i].path, sizeof(jobs[i].path), "/t%d", i);
        cr_assert_eq(pthread_create(&th[i], NULL, serve_in_thread, &jobs[i]), 0);
    }
    for (i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    elapsed = now_s() - t0;
    for (i = 0; i < N; i++) {
        snprintf(expected, sizeof(expected), "200 OK\nX-Path: /t%d\n\n/t%d mt=True", i, i);
        cr_assert_eq(jobs[i].rc, CRL_OK);
        cr_assert_str_eq(jobs[i].out, expected, "log:\n%s", logbuf);
    }
    /* serialised they would take N x 0.5 = 3 s */
    cr_assert_lt(elapsed, N * 0.5 / 2, "%d sleeping requests took %.2f s", N, elapsed);
    assert_log_lacks("Traceback");
}

static void *serve_three(void *arg)
{
    thread_job_t *job = arg;
    int i;

    for (i = 0; i < 3 && job->rc == CRL_OK; i++) {
        reset_response();
        job->rc = request_body(get_vars, NULL, 0);
    }
    snprintf(job->out, sizeof(job->out), "%.255s", out);
    return NULL;
}

/* A request thread keeps its Python thread state between requests, so
 * threading.local data (Django's database connections) survives. */
Test(threads, thread_state_persists_per_thread)
{
    pthread_t a, b;
    thread_job_t ja = { .rc = CRL_OK }, jb = { .rc = CRL_OK };

    fake_threads = 2;
    start_ok("testapps:thread_local");
    cr_assert_eq(pthread_create(&a, NULL, serve_three, &ja), 0);
    cr_assert_eq(pthread_create(&b, NULL, serve_three, &jb), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    cr_assert_str_eq(ja.out, "200 OK\n\nn=3", "log:\n%s", logbuf);
    cr_assert_str_eq(jb.out, "200 OK\n\nn=3", "log:\n%s", logbuf);
}

Test(threads, single_thread_is_not_multithread)
{
    start_ok("testapps:show");
    get();
    assert_out_has("wsgi.multithread bool False str\n");
}

/* ---- real frameworks ---- */

Test(frameworks, flask_query_string)
{
    const char *vars[] = { "REQUEST_METHOD=GET", "PATH_INFO=/", "QUERY_STRING=name=corral",
                           "SERVER_NAME=h", "SERVER_PORT=80", "SERVER_PROTOCOL=HTTP/1.1",
                           "HTTP_HOST=h", NULL };

    start_ok("flaskapp:app");
    reset_response();
    cr_assert_eq(request_body(vars, NULL, 0), CRL_OK);
    assert_out_has("200 OK\n");
    assert_out_has("\n\nhello corral");
}

Test(frameworks, flask_multipart_upload)
{
    static const char b[] = "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n"
                            "My doc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
                            "filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n"
                            "hello file body\r\n--XyZ--\r\n";
    char cl[48];
    const char *vars[] = { "REQUEST_METHOD=POST", "PATH_INFO=/upload", "SERVER_NAME=h",
                           "SERVER_PORT=80", "SERVER_PROTOCOL=HTTP/1.1", "HTTP_HOST=h",
                           "CONTENT_TYPE=multipart/form-data; boundary=XyZ", cl, NULL };

    snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", sizeof(b) - 1);
    start_ok("flaskapp:app");
    reset_response();
    read_chunk = 7;
    cr_assert_eq(request_body(vars, b, sizeof(b) - 1), CRL_OK);
    assert_out_has("200 OK\n");
    assert_out_has("\n\nMy doc a.txt 15 hello");
}

/* UTF-8 mode: a non-ASCII upload file name arrives intact. */
Test(frameworks, flask_non_ascii_file_name)
{
    static const char b[] = "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n"
                            "T\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
                            "filename=\"caf\xc3\xa9 \xe6\x97\xa5.txt\"\r\n"
                            "Content-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n";
    char cl[48];
    const char *vars[] = { "REQUEST_METHOD=POST", "PATH_INFO=/upload", "SERVER_NAME=h",
                           "SERVER_PORT=80", "SERVER_PROTOCOL=HTTP/1.1", "HTTP_HOST=h",
                           "CONTENT_TYPE=multipart/form-data; boundary=XyZ", cl, NULL };

    snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", sizeof(b) - 1);
    open_plugin();
    set_opt("post-buffering", "10"); /* and read back from the spool file */
    start_ok("flaskapp:app");
    reset_response();
    cr_assert_eq(request_body(vars, b, sizeof(b) - 1), CRL_OK);
    assert_out_has("\n\nT caf\xc3\xa9 \xe6\x97\xa5.txt 5 hello");
    assert_log_lacks("Traceback");
}

Test(frameworks, flask_json_and_https)
{
    static const char b[] = "{\"a\": [1, 2]}";
    const char *vars[] = { "REQUEST_METHOD=POST", "PATH_INFO=/json", "SERVER_NAME=h",
                           "SERVER_PORT=443", "SERVER_PROTOCOL=HTTP/1.1",
                           "HTTP_HOST=example.org", "HTTPS=on", "CONTENT_TYPE=application/json",
                           "CONTENT_LENGTH=13", NULL };

    start_ok("flaskapp:app");
    reset_response();
    cr_assert_eq(request_body(vars, b, sizeof(b) - 1), CRL_OK);
    assert_out_has("Content-Type: application/json\n");
    assert_out_has("\"got\":{\"a\":[1,2]}");
    assert_out_has("\"host\":\"example.org\"");
    assert_out_has("\"scheme\":\"https\"");
}

Test(frameworks, django_get_and_post)
{
    const char *get_q[] = { "REQUEST_METHOD=GET", "PATH_INFO=/echo", "QUERY_STRING=q=1",
                            "SERVER_NAME=h", "SERVER_PORT=80", "SERVER_PROTOCOL=HTTP/1.1",
                            "HTTP_HOST=h", NULL };
    const char *post_b[] = { "REQUEST_METHOD=POST", "PATH_INFO=/echo", "SERVER_NAME=h",
                             "SERVER_PORT=80", "SERVER_PROTOCOL=HTTP/1.1", "HTTP_HOST=h",
                             "CONTENT_TYPE=text/plain", "CONTENT_LENGTH=3", NULL };

    start_ok("djangoapp");
    reset_response();
    cr_assert_eq(request_body(get_q, NULL, 0), CRL_OK);
    assert_out_has("200 OK\n");
    assert_out_has("\n\nGET 1 ");
    reset_response();
    cr_assert_eq(request_body(post_b, "xyz", 3), CRL_OK);
    assert_out_has("\n\nPOST None xyz");
    assert_log_lacks("Traceback");
}

Test(frameworks, django_file_response_uses_sendfile)
{
    const char *vars[] = { "REQUEST_METHOD=GET", "PATH_INFO=/download", "SERVER_NAME=h",
                           "SERVER_PORT=80", "SERVER_PROTOCOL=HTTP/1.1", "HTTP_HOST=h", NULL };

    start_ok("djangoapp");
    reset_response();
    cr_assert_eq(request_body(vars, NULL, 0), CRL_OK);
    cr_assert(sendfile_used, "FileResponse went through wsgi.file_wrapper and sendfile");
    assert_out_has("Content-Length: 27\n");
    assert_out_has("\n\nabcdefghijklmnopqrstuvwxyz\n");
}
