/*
 * A worker process: waits in epoll on every listening socket (registered
 * with EPOLLEXCLUSIVE, so one connection wakes one worker) and on a
 * self-pipe its signal handlers write to; accepts; reads one request; hands
 * it to the application plugin; logs it; closes.
 *
 * Signals: SIGTERM finishes the request in progress and exits (graceful);
 * SIGINT and SIGQUIT exit at once. The worker also gets SIGTERM when the
 * master dies (PR_SET_PDEATHSIG), so it never outlives it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/plugin.h>
#include <corral/result.h>

#include "crl_daemon.h"
#include "crl_log.h"
#include "crl_option.h"
#include "crl_plugin.h"
#include "crl_request.h"
#include "crl_sched.h"
#include "crl_scoreboard.h"
#include "crl_server.h"
#include "crl_socket.h"
#include "crl_static.h"
#include "crl_worker.h"

typedef struct {
    long buffer_size;
    long socket_timeout;
    int disable_logging;
    int log_4xx;
    int log_5xx;
    long max_requests;
    long http_timeout;
    long keepalive_timeout;
    long max_requests_delta;
    long max_worker_lifetime;
    long min_worker_lifetime;
    long reload_on_rss;
    int memory_report;
    int log_x_forwarded_for;
    long threads;
    long thread_stacksize;
    crl_list_t add_header;
    long limit_post;
    long sched_batch;
    int noop;
} crl_worker_conf_t;

static crl_worker_conf_t conf;

/* A flag as configs write it: 1 for true, yes, on, 1 or a bare key, 0 for
 * false, no, off, 0, -1 for anything else. */
static int flag_value(const char *v)
{
    if (*v == '\0' || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") ||
        !strcmp(v, "1"))
        return 1;
    if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcmp(v, "0"))
        return 0;
    return -1;
}

/* http-keepalive as real configs write it: a flag (true, 1, bare) keeps
 * the default timeout, false/0 turns keep-alive off, N > 1 is seconds. */
static int parse_keepalive(const crl_option_t *opt, void *field, const char *value, char *err,
                           size_t errlen)
{
    long *out = field;
    char *end;
    int flag = flag_value(value);
    if (flag >= 0) {
        *out = flag ? 15 : 0;
        return CRL_OK;
    }
    long v = strtol(value, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (end == value || v < 0 || v > 86400 || (*end && *end != ';' && *end != '#')) {
        snprintf(err, errlen, "expects seconds or true/false, got '%s'", value);
        return CRL_ERROR;
    }
    *out = v;
    (void)opt;
    return CRL_OK;
}

/* sched-batch: auto (the default), or a flag. */
static int parse_sched_batch(const crl_option_t *opt, void *field, const char *value, char *err,
                             size_t errlen)
{
    long *out = field;
    int flag = flag_value(value);
    (void)opt;
    if (!strcasecmp(value, "auto")) {
        *out = CRL_SCHED_AUTO;
    } else if (flag >= 0) {
        *out = flag ? CRL_SCHED_ON : CRL_SCHED_OFF;
    } else {
        snprintf(err, errlen, "expects auto, true or false, got '%s'", value);
        return CRL_ERROR;
    }
    return CRL_OK;
}

static const crl_option_t options[] = {
    { .name = "buffer-size", .short_name = 'b', .type = CRL_OPT_INT, .flags = CRL_OPTF_CLAMP,
      .offset = offsetof(crl_worker_conf_t, buffer_size), .def = "4096", .min = 512,
      .max = 65535, .help = "largest request head (uwsgi vars block or HTTP head) in bytes" },
    { .name = "socket-timeout", .short_name = 'z', .type = CRL_OPT_INT,
      .offset = offsetof(crl_worker_conf_t, socket_timeout), .def = "4", .min = 1,
      .max = 86400, .help = "seconds to wait for a client to send or receive before giving up" },
    { .name = "disable-logging", .short_name = 'L', .type = CRL_OPT_BOOL,
      .offset = offsetof(crl_worker_conf_t, disable_logging),
      .help = "do not log each request (errors are still logged)" },
    { .name = "log-4xx", .type = CRL_OPT_BOOL, .offset = offsetof(crl_worker_conf_t, log_4xx),
      .help = "log requests answered with 4xx even with disable-logging" },
    { .name = "log-5xx", .type = CRL_OPT_BOOL, .offset = offsetof(crl_worker_conf_t, log_5xx),
      .help = "log requests answered with 5xx even with disable-logging" },
    { .name = "max-requests", .short_name = 'R', .type = CRL_OPT_INT,
      .offset = offsetof(crl_worker_conf_t, max_requests), .def = "0", .min = 0,
      .max = 0x7fffffffL,
      .help = "replace a worker after it has served this many requests (0: never)" },
    { .name = "http-timeout", .type = CRL_OPT_INT,
      .offset = offsetof(crl_worker_conf_t, http_timeout), .def = "60", .min = 1, .max = 86400,
      .help = "seconds an HTTP client has to send a whole request head (then 408)" },
    { .name = "http-keepalive", .type = CRL_OPT_CUSTOM, .flags = CRL_OPTF_OPTARG,
      .offset = offsetof(crl_worker_conf_t, keepalive_timeout), .def = "15",
      .parse = parse_keepalive,
      .help = "seconds an idle HTTP/1.1 keep-alive connection is kept; on by default (15 s); "
              "true or 1 keep the default, false or 0 close after every response" },
    { .name = "http-auto-chunked", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_NOOP,
      .offset = offsetof(crl_worker_conf_t, noop),
      .help = "accepted: responses without a length are always sent chunked on HTTP/1.1" },
    { .name = "honour-range", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_NOOP,
      .offset = offsetof(crl_worker_conf_t, noop),
      .help = "accepted: static files always answer single Range requests (206/416)" },
    { .name = "max-requests-delta", .type = CRL_OPT_INT,
      .offset = offsetof(crl_worker_conf_t, max_requests_delta), .def = "0", .min = 0,
      .max = 0x7fffffffL,
      .help = "add worker id x this to max-requests so workers do not all recycle at once" },
    { .name = "max-worker-lifetime", .type = CRL_OPT_INT,
      .offset = offsetof(crl_worker_conf_t, max_worker_lifetime), .def = "0", .min = 0,
      .max = 0x7fffffffL, .help = "replace a worker after this many seconds (0: never)" },
    { .name = "min-worker-lifetime", .type = CRL_OPT_INT,
      .offset = offsetof(crl_worker_conf_t, min_worker_lifetime), .def = "10", .min = 0,
      .max = 0x7fffffffL,
      .help = "a worker is not recycled (max-requests, reload-on-rss) before this many seconds" },
    { .name = "reload-on-rss", .type = CRL_OPT_INT,
      .offset = offsetof(crl_worker_conf_t, reload_on_rss), .def = "0", .min = 0,
      .max = 0x7fffffffL,
      .help = "replace a worker whose resident memory exceeds this many megabytes after a request" },
    { .name = "memory-report", .short_name = 'm', .type = CRL_OPT_BOOL,
      .offset = offsetof(crl_worker_conf_t, memory_report),
      .help = "add the worker's resident memory to every request log line" },
    { .name = "threads", .type = CRL_OPT_INT, .offset = offsetof(crl_worker_conf_t, threads),
      .def = "1", .min = 1, .max = 256,
      .help = "request threads per worker: each serves its own connections and requests" },
    { .name = "thread-stacksize", .aliases = "threads-stacksize thread-stack-size "
                                             "threads-stack-size",
      .type = CRL_OPT_INT, .offset = offsetof(crl_worker_conf_t, thread_stacksize), .def = "0",
      .min = 0, .max = 1024 * 1024,
      .help = "stack size of request threads in kilobytes (0: the system default)" },
    { .name = "add-header", .type = CRL_OPT_LIST, .offset = offsetof(crl_worker_conf_t, add_header),
      .help = "add 'Name: value' to every response (repeatable)" },
    { .name = "limit-post", .type = CRL_OPT_INT, .offset = offsetof(crl_worker_conf_t, limit_post),
      .def = "0", .min = 0, .max = 0x7fffffffffffffffL,
      .help = "refuse request bodies larger than this many bytes with 413 (0: no limit)" },
    { .name = "sched-batch", .type = CRL_OPT_CUSTOM, .flags = CRL_OPTF_OPTARG,
      .offset = offsetof(crl_worker_conf_t, sched_batch), .def = "auto",
      .parse = parse_sched_batch,
      .help = "run request threads as SCHED_BATCH (no preempting nginx on every connection: "
              "fewer context switches); auto (default) while requests queue for a thread, "
              "true always, false never" },
    { .name = "log-x-forwarded-for", .type = CRL_OPT_BOOL,
      .offset = offsetof(crl_worker_conf_t, log_x_forwarded_for),
      .help = "log the X-Forwarded-For address instead of the peer's" },
};

/* Resident memory in kB from /proc/self/statm, read with one pread on a
 * descriptor kept open (only when reload-on-rss or memory-report asks). */
static int statm_fd = -1;

static uint64_t rss_kb(void)
{
    char buf[128];
    ssize_t n = statm_fd >= 0 ? pread(statm_fd, buf, sizeof(buf) - 1, 0) : -1;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long long size, resident;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return 0;
    return resident * (uint64_t)(sysconf(_SC_PAGESIZE) / 1024);
}

/* Validate add-header entries and hand them, with limit-post, to the
 * connection layer (in the master, so workers inherit it). */
int crl_worker_prepare(void)
{
    size_t len = 0;
    for (size_t i = 0; i < conf.add_header.n; i++)
        len += strlen(conf.add_header.items[i].value) + 4;
    char *lines = len ? malloc(len + 1) : NULL;
    size_t at = 0;

    for (size_t i = 0; i < conf.add_header.n; i++) {
        const crl_list_item_t *it = &conf.add_header.items[i];
        const char *colon = strchr(it->value, ':');
        if (colon == NULL || colon == it->value || strpbrk(it->value, "\r\n") ||
            memchr(it->value, ' ', (size_t)(colon - it->value))) {
            crl_log(CRL_LOG_ERR, 0, "add-header '%s' at %s must be 'Name: value'", it->value,
                    crl_option_where(it->file, it->line));
            free(lines);
            return CRL_ERROR;
        }
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        at += (size_t)sprintf(lines + at, "%.*s: %s\r\n", (int)(colon - it->value), it->value, v);
    }
    crl_conn_configure(lines, conf.limit_post);
    return CRL_OK;
}

unsigned crl_worker_threads(void)
{
    return (unsigned)conf.threads;
}

int crl_worker_options_register(void)
{
    return crl_option_register("worker", options, sizeof(options) / sizeof(options[0]), &conf);
}

static volatile sig_atomic_t stopping;
static int recycle_asked;    /* max-requests and co.: a replacement was asked for */
static uint64_t served;      /* requests served by this worker (atomic) */
static int ctl_fd = -1;      /* the worker's end of the control socket */
static int sigpipe_fds[2] = { -1, -1 };

static void on_term(int signo)
{
    int saved = errno;
    stopping = 1;
    if (write(sigpipe_fds[1], "t", 1) < 0) {
        /* the pipe is full: a wake-up is pending anyway */
    }
    errno = saved;
    (void)signo;
}

static void on_quit(int signo)
{
    (void)signo;
    _exit(0);
}

static void setup_signals(void)
{
    struct sigaction sa = { .sa_handler = on_term };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_quit;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

static void send_msg(int ctl, unsigned id, crl_msg_type_t type)
{
    crl_msg_t m = { .type = type, .worker_id = id };
    if (send(ctl, &m, sizeof(m), MSG_NOSIGNAL) < 0 && errno != EPIPE)
        crl_log(CRL_LOG_WARN, errno, "worker %u cannot reach the master", id);
}

/* ---- request log ---------------------------------------------------------- */

static void clean_copy(char *dst, size_t cap, crl_str_t s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.data[i];
        dst[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    dst[n] = '\0';
}

static const char *log_time(void)
{
    static __thread char buf[32];
    static __thread time_t last;
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &tm);
        last = now;
    }
    return buf;
}

static void log_request(crl_conn_t *c, unsigned id, unsigned long long nreq,
                        const struct timespec *t0)
{
    int st = c->status;
    if (conf.disable_logging && !(conf.log_4xx && st >= 400 && st < 500) &&
        !(conf.log_5xx && st >= 500))
        return;

    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
    char addr[64], method[32], uri[1024], proto[16];
    crl_str_t a = crl_request_var(&c->req, "REMOTE_ADDR");
    if (conf.log_x_forwarded_for) {
        crl_str_t x = crl_request_var(&c->req, "HTTP_X_FORWARDED_FOR");
        if (x.len)
            a = x;
    }
    crl_str_t u = crl_request_var(&c->req, "REQUEST_URI");
    clean_copy(addr, sizeof(addr), a.data ? a : (crl_str_t){ c->peer, strlen(c->peer) });
    clean_copy(method, sizeof(method), crl_request_var(&c->req, "REQUEST_METHOD"));
    clean_copy(uri, sizeof(uri), u.data ? u : crl_request_var(&c->req, "PATH_INFO"));
    clean_copy(proto, sizeof(proto), crl_request_var(&c->req, "SERVER_PROTOCOL"));

    char line[1400], mem[48] = "";
    if (conf.memory_report)
        snprintf(mem, sizeof(mem), "{address space usage: rss %llu kB} ",
                 (unsigned long long)rss_kb());
    int n = snprintf(line, sizeof(line),
                     "[pid: %d|worker: %u|req: %llu] %s {%zu vars in %zu bytes} [%s] %s %s => "
                     "generated %llu bytes in %ld msecs (%s %d) %u headers in %zu bytes%s%s\n",
                     (int)getpid(), id, nreq, addr, c->req.nvars, c->head_bytes, log_time(),
                     method, uri, (unsigned long long)c->body_bytes, ms,
                     proto[0] ? proto : "HTTP/1.1", st, c->nheaders, c->hlen,
                     mem[0] ? " " : "", mem);
    if (n > 0)
        crl_log_raw(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Record the request in the thread's scoreboard entry so the master can
 * enforce harakiri and name the request it kills. */
static void scoreboard_begin(crl_scoreboard_thread_t *th, crl_conn_t *c,
                             const struct timespec *t0)
{
    crl_str_t m = crl_request_var(&c->req, "REQUEST_METHOD");
    crl_str_t u = crl_request_var(&c->req, "REQUEST_URI");
    size_t ml = m.len < 16 ? m.len : 16;
    size_t ul = u.len < CRL_SCOREBOARD_REQLINE - 18 ? u.len : CRL_SCOREBOARD_REQLINE - 18;

    if (ml)
        memcpy(th->request_line, m.data, ml);
    th->request_line[ml] = ' ';
    if (ul)
        memcpy(th->request_line + ml + 1, u.data, ul);
    th->request_line[ml + 1 + ul] = '\0';
    th->request_start_ms = (int64_t)t0->tv_sec * 1000 + t0->tv_nsec / 1000000;
}

/* ---- serving -------------------------------------------------------------- */

static void balance(void);

/* An open HTTP client connection: registered in its thread's epoll from
 * accept to close; between requests it waits on the idle list, costing no
 * worker time. (uwsgi connections carry one request and need no record.) */
typedef struct client_s {
    int kind;                  /* EV_CLIENT: first member, like ev_tag_t */
    int fd;
    const crl_listener_t *listener;
    char peer[64], port[8];
    char *pending;             /* bytes of a head that has not fully arrived */
    size_t npending;
    int64_t deadline_ms;       /* close (or 408) when idle past this */
    struct client_s *prev, *next;
    int idle;                  /* on the idle list */
    int lingering;             /* answered and shut down: discard input until EOF */
} client_t;

enum { EV_LISTENER = 1, EV_SIGNAL, EV_CLIENT, EV_CTL };

typedef struct {
    int kind;
    unsigned index;
} ev_tag_t;

/* One request thread of the worker (the whole worker when threads = 1):
 * its own epoll set (the listeners, with EPOLLEXCLUSIVE, so one connection
 * wakes one thread of one worker), its own connections and buffers. */
typedef struct {
    crl_conn_t conn;
    const crl_plugin_t *app;
    unsigned id;               /* worker id */
    unsigned tid;              /* thread index, 0 = the main thread */
    crl_scoreboard_thread_t *th;
    int epfd;
    int draining;              /* stopped accepting; answer keep-alive with close */
    int queue_seen;            /* the last extra accept found a connection waiting */
    unsigned probe;            /* turns since, to try again now and then */
    crl_sched_t sched;         /* sched-batch state of this thread */
    client_t *idle_head, *idle_tail;
    size_t nclients;
    pthread_t thread;
} wt_t;

static ev_tag_t listener_tags[64];
static int listen_fds[64]; /* this worker's descriptor for each listener */
static ev_tag_t signal_tag = { EV_SIGNAL, 0 };
static ev_tag_t ctl_tag = { EV_CTL, 0 };
static crl_scoreboard_slot_t *scoreboard;

#define MAX_CLIENTS 4096
#define ACCEPT_BATCH 16
#define LINGER_MS 2000
#define DRAIN_GRACE_MS 2000

static void idle_remove(wt_t *w, client_t *cl)
{
    if (!cl->idle)
        return;
    *(cl->prev ? &cl->prev->next : &w->idle_head) = cl->next;
    *(cl->next ? &cl->next->prev : &w->idle_tail) = cl->prev;
    cl->prev = cl->next = NULL;
    cl->idle = 0;
}

static void idle_append(wt_t *w, client_t *cl)
{
    cl->prev = w->idle_tail;
    cl->next = NULL;
    *(w->idle_tail ? &w->idle_tail->next : &w->idle_head) = cl;
    w->idle_tail = cl;
    cl->idle = 1;
}

static void client_free(wt_t *w, client_t *cl)
{
    idle_remove(w, cl);
    if (cl->fd >= 0)
        close(cl->fd); /* also leaves the epoll set */
    free(cl->pending);
    free(cl);
    w->nclients--;
    __atomic_sub_fetch(&scoreboard->conns, 1, __ATOMIC_RELAXED);
    balance();
}

/* Keep the connection for its next request; save a partial head. */
static void client_park(wt_t *w, client_t *cl, int64_t now)
{
    crl_conn_t *c = &w->conn;
    int had_partial = cl->npending > 0;
    free(cl->pending);
    cl->pending = NULL;
    cl->npending = 0;
    if (c->rlen > 0 && (cl->pending = malloc(c->rlen)) != NULL) {
        memcpy(cl->pending, c->rbuf, c->rlen);
        cl->npending = c->rlen;
    }
    /* A head must arrive whole within http-timeout (socket-timeout for the
     * uwsgi protocol) of its first bytes: a client trickling bytes does not
     * push the deadline back. */
    if (cl->listener->proto != CRL_PROTO_HTTP) {
        if (cl->deadline_ms == 0)
            cl->deadline_ms = now + conf.socket_timeout * 1000;
    } else if (cl->npending == 0) {
        cl->deadline_ms = now + (w->draining ? DRAIN_GRACE_MS : conf.keepalive_timeout * 1000);
    } else if (!had_partial) {
        cl->deadline_ms = now + conf.http_timeout * 1000;
    }
    c->fd = -1;
    idle_append(w, cl);
}

static void serve_one(wt_t *w, const struct timespec *t0)
{
    crl_conn_t *c = &w->conn;

    c->req.worker_id = w->id;
    if (w->draining || conf.keepalive_timeout == 0)
        c->keepalive_ok = 0;
    crl_sched_request(&w->sched);
    scoreboard_begin(w->th, c, t0);
    if (crl_static_enabled() && crl_static_serve(&c->req) == CRL_OK) {
    } else if (w->app == NULL || w->app->app->handle(&c->req) != CRL_OK) {
        crl_response_error(&c->req, 500);
    }
    crl_response_finish(&c->req);
    w->th->request_start_ms = 0;
    uint64_t n = __atomic_add_fetch(&served, 1, __ATOMIC_RELAXED);
    scoreboard->requests = n;
    crl__server_count_request();
    log_request(c, w->id, n, t0);
}

/* A lingering client: read and drop what it still sends until it closes
 * (or the deadline passes), so that closing does not reset the connection
 * before it has read our answer. */
static void client_linger(wt_t *w, client_t *cl)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(cl->fd, buf, sizeof(buf))) > 0) {
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR))
        client_free(w, cl);
}

/* Serve every request the client has ready; park it or close it after. */
static void client_run(wt_t *w, client_t *cl)
{
    crl_conn_t *c = &w->conn;
    struct timespec t0;

    if (cl->lingering) {
        client_linger(w, cl);
        return;
    }
    idle_remove(w, cl);
    crl_conn_start(c, cl->fd, cl->listener, cl->peer, cl->port, cl->pending, cl->npending);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = crl_conn_read_request(c, 1);
        if (rc == CRL_AGAIN) {
            client_park(w, cl, crl_scoreboard_now_ms());
            return;
        }
        if (rc != CRL_OK)
            break;
        serve_one(w, &t0);
        if (!crl_conn_next(c))
            break;
        if (c->rlen == 0) {
            /* Nothing pipelined: wait in epoll rather than try a read. */
            client_park(w, cl, crl_scoreboard_now_ms());
            return;
        }
    }
    crl_conn_close(c);
    cl->fd = -1;
    client_free(w, cl);
}

/* Accept one connection and serve or park it. Returns 1 when a uwsgi
 * request was served to the end (another connection may be waiting),
 * 0 otherwise. */
static int client_accept(wt_t *w, crl_listener_t *l, int lfd)
{
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    /* A unix peer's address says nothing (it is unnamed, or a path that
     * only nginx cares about): do not have the kernel copy it out. */
    int unix_peer = l->family == AF_UNIX;
    int fd = accept4(lfd, unix_peer ? NULL : (struct sockaddr *)&peer, unix_peer ? NULL : &plen,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (unix_peer)
        peer.ss_family = AF_UNIX;
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {
            static int64_t last_warned;
            int64_t now = crl_scoreboard_now_ms();
            if (w->idle_head)
                client_free(w, w->idle_head); /* make room: the longest-idle client goes */
            if (now - last_warned >= 10000) { /* once per 10 s, not per connection */
                crl_log(CRL_LOG_WARN, errno, "worker %u: accept on %s (out of descriptors: "
                        "closing the longest-idle connections)", w->id, l->name);
                last_warned = now;
            }
        } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            crl_log(CRL_LOG_ERR, errno, "worker %u: accept on %s", w->id, l->name);
        }
        return 0;
    }
    if (!crl_socket_peer_allowed(l, (struct sockaddr *)&peer)) {
        close(fd); /* logged (rate-limited) by the check */
        return 0;
    }
    if (l->proto != CRL_PROTO_HTTP) {
        /* uwsgi: one request per connection. nginx sends the head at once:
         * serve it now, with nothing to keep. A head still on its way is
         * parked in epoll rather than waited for. */
        char host[64], port[8];
        struct timespec t0;
        crl_conn_peer_text((struct sockaddr *)&peer, host, sizeof(host), port, sizeof(port));
        crl_conn_start(&w->conn, fd, l, host, port, NULL, 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = crl_conn_read_request(&w->conn, 1);
        if (rc != CRL_AGAIN) {
            if (rc == CRL_OK)
                serve_one(w, &t0);
            crl_conn_close(&w->conn);
            return rc == CRL_OK;
        }
    }
    client_t *cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
        close(fd);
        return 0;
    }
    cl->kind = EV_CLIENT;
    cl->fd = fd;
    cl->listener = l;
    crl_conn_peer_text((struct sockaddr *)&peer, cl->peer, sizeof(cl->peer), cl->port,
                       sizeof(cl->port));
    w->nclients++;
    __atomic_add_fetch(&scoreboard->conns, 1, __ATOMIC_RELAXED);
    if (w->nclients > MAX_CLIENTS && w->idle_head)
        client_free(w, w->idle_head);
    balance();
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = cl };
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        crl_log(CRL_LOG_ERR, errno, "worker %u: epoll_ctl", w->id);
        client_free(w, cl);
        return 0;
    }
    if (l->proto == CRL_PROTO_HTTP)
        client_run(w, cl);
    else
        client_park(w, cl, crl_scoreboard_now_ms()); /* the bytes so far are in conn */
    return 0;
}

/* Close idle clients whose time is up; a partial head gets a 408. */
static void sweep_idle(wt_t *w, int64_t now)
{
    client_t *next;
    for (client_t *cl = w->idle_head; cl; cl = next) {
        next = cl->next;
        if (cl->deadline_ms > now)
            continue;
        if (cl->lingering) {
            client_free(w, cl);
            continue;
        }
        if (cl->npending && cl->listener->proto != CRL_PROTO_HTTP) {
            crl_log(CRL_LOG_ERR, 0, "uwsgi request from %s on %s: the head did not arrive "
                    "within socket-timeout (%zu bytes received)", cl->peer, cl->listener->name,
                    cl->npending);
        } else if (cl->npending) {
            crl_log(CRL_LOG_ERR, 0, "bad HTTP request from %s on %s: the request head did not "
                    "arrive within http-timeout (408)", cl->peer, cl->listener->name);
            char resp[160];
            int n = snprintf(resp, sizeof(resp), "HTTP/1.1 408 Request Timeout\r\n"
                             "Content-Length: 0\r\n%sConnection: close\r\n\r\n",
                             crl_http_date_line());
            if (send(cl->fd, resp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n &&
                shutdown(cl->fd, SHUT_WR) == 0) {
                /* Linger: the client may still be sending; closing now
                 * would reset the connection and lose the 408. */
                cl->lingering = 1;
                cl->deadline_ms = now + LINGER_MS;
                continue;
            }
        }
        client_free(w, cl);
    }
}

static int setup_epoll(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -1;
    for (size_t i = 0; i < crl_socket_count() && i < 64; i++) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
                                  .data.ptr = &listener_tags[i] };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, listen_fds[i], &ev) != 0)
            return -1;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &signal_tag };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sigpipe_fds[0], &ev) != 0)
        return -1;
    return ep;
}

/* Stop taking connections: leave the listeners (and the signal pipe, which
 * stays readable), give idle keep-alive clients a short grace to send a last
 * request (answered with close). */
static void start_draining(wt_t *w)
{
    int64_t limit = crl_scoreboard_now_ms() + DRAIN_GRACE_MS;
    w->draining = 1;
    for (size_t i = 0; i < crl_socket_count() && i < 64; i++)
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, listen_fds[i], NULL);
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, sigpipe_fds[0], NULL);
    for (client_t *cl = w->idle_head; cl; cl = cl->next)
        if (cl->deadline_ms > limit)
            cl->deadline_ms = limit;
}

static void worker_init(unsigned id, int ctl, int lazy, pid_t master)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        _exit(0); /* the master died while we were forking */
    if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        crl_log(CRL_LOG_ERR, errno, "worker %u: pipe", id);
        _exit(1);
    }
    setup_signals();

    for (size_t i = 0; i < crl_plugin_count(); i++) {
        const crl_plugin_t *p = crl_plugin_at(i);
        if (p->init_worker && p->init_worker(id) != CRL_OK) {
            crl_log(CRL_LOG_ERR, 0, "worker %u: plugin %s failed to start", id, p->name);
            send_msg(ctl, id, CRL_MSG_APP_FAILED);
            _exit(1);
        }
    }
    const crl_plugin_t *app = crl_plugin_app();
    if (lazy && app) {
        int rc = app->app->load();
        if (rc != CRL_OK) {
            send_msg(ctl, id, CRL_MSG_APP_FAILED);
            if (rc == CRL_ERROR)
                _exit(1);
        }
    }
}

/* Recycling happens only between requests, and not before
 * min-worker-lifetime (except max-worker-lifetime, a hard limit). The
 * master starts the replacement when it gets CRL_MSG_RECYCLE. */
static int should_recycle(unsigned id, uint64_t nreq, int64_t started_ms)
{
    int64_t age = crl_scoreboard_now_ms() - started_ms;
    uint64_t limit = (uint64_t)conf.max_requests + (uint64_t)conf.max_requests_delta * id;

    if (conf.max_worker_lifetime > 0 && age >= conf.max_worker_lifetime * 1000) {
        crl_log(CRL_LOG_INFO, 0, "worker %u reached max-worker-lifetime (%ld s); recycling", id,
                conf.max_worker_lifetime);
        return 1;
    }
    if (age < conf.min_worker_lifetime * 1000)
        return 0;
    if (conf.max_requests > 0 && nreq >= limit) {
        crl_log(CRL_LOG_INFO, 0, "worker %u served %llu requests (max-requests); recycling", id,
                (unsigned long long)nreq);
        return 1;
    }
    if (conf.reload_on_rss > 0) {
        uint64_t rss = rss_kb();
        if (rss > (uint64_t)conf.reload_on_rss * 1024) {
            crl_log(CRL_LOG_INFO, 0, "worker %u uses %llu MB (reload-on-rss %ld); recycling", id,
                    (unsigned long long)(rss / 1024), conf.reload_on_rss);
            return 1;
        }
    }
    return 0;
}

static wt_t *threads_all;  /* every request thread of this worker */
static unsigned nthreads_all;
static int paused;         /* listeners out of every thread's epoll (atomic) */
static int has_http;       /* some listener speaks HTTP: balance keep-alive clients */

/* Leave the listeners in every thread: connections queue in the backlog
 * for other workers (or the replacement) while the open ones finish. */
static void stop_accepting(void)
{
    if (__atomic_exchange_n(&paused, 1, __ATOMIC_ACQ_REL))
        return;
    for (unsigned t = 0; t < nthreads_all; t++)
        for (size_t i = 0; i < crl_socket_count() && i < 64; i++)
            epoll_ctl(threads_all[t].epfd, EPOLL_CTL_DEL, listen_fds[i], NULL);
}

static void start_accepting(void)
{
    if (!__atomic_exchange_n(&paused, 0, __ATOMIC_ACQ_REL))
        return;
    for (unsigned t = 0; t < nthreads_all; t++) {
        for (size_t i = 0; i < crl_socket_count() && i < 64; i++) {
            struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
                                      .data.ptr = &listener_tags[i] };
            epoll_ctl(threads_all[t].epfd, EPOLL_CTL_ADD, listen_fds[i], &ev);
        }
    }
}

/* Keep-alive clients stay with the worker that accepted them, and the
 * kernel wakes the first waiting worker for a new one: left alone, one
 * worker would collect nearly all of them. Each worker publishes how many
 * it holds and takes new connections only while it holds no more than the
 * least loaded worker plus one; the others take them meanwhile. The shared
 * socket stays work-conserving: a worker busy with a slow request is not
 * woken for new connections at all. */
static void balance(void)
{
    if (!has_http || stopping || recycle_asked)
        return;
    uint32_t mine = scoreboard->conns, least = UINT32_MAX;
    for (unsigned i = 1; i <= crl_scoreboard_count(); i++) {
        crl_scoreboard_slot_t *o = crl_scoreboard_slot(i);
        if (o != scoreboard && o->pid > 0 && o->eligible && o->conns < least)
            least = o->conns;
    }
    if (least == UINT32_MAX || mine <= least + 1)
        start_accepting();
    else
        stop_accepting();
}

/* A message from the master on the control socket (main thread only). */
static void master_message(wt_t *w)
{
    crl_msg_t m;
    ssize_t n = recv(ctl_fd, &m, sizeof(m), MSG_DONTWAIT);
    if (n == 0) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, ctl_fd, NULL); /* the master is gone */
        return;
    }
    if (n == (ssize_t)sizeof(m) && m.type == CRL_MSG_REOPEN_LOG &&
        crl_daemon_reopen_log() == CRL_DECLINED)
        crl_log_reopen();
}

/* The event loop of one request thread; the main thread (tid 0) also
 * decides recycling and tells the master. */
static void *worker_loop(void *arg)
{
    wt_t *w = arg;
    int64_t started = crl_scoreboard_now_ms();

    crl_sched_init(&w->sched, (int)conf.sched_batch);
    while (!w->draining || w->nclients > 0) {
        struct epoll_event evs[16];
        int lifetime = w->tid == 0 && (conf.max_worker_lifetime > 0 || conf.min_worker_lifetime > 0);
        int n = epoll_wait(w->epfd, evs, 16,
                           w->idle_head || lifetime || paused ? 1000
                                                              : crl_sched_timeout_ms(&w->sched));
        if (n < 0 && errno != EINTR) {
            crl_log(CRL_LOG_ERR, errno, "worker %u: epoll_wait", w->id);
            break;
        }
        if (n >= 0)
            crl_sched_wakeup(&w->sched, n);
        /* Connections we were woken for are accepted even if a stop arrived
         * meanwhile: with EPOLLEXCLUSIVE nobody else was woken for them. */
        for (int i = 0; i < n; i++) {
            ev_tag_t *tag = evs[i].data.ptr;
            if (tag->kind == EV_LISTENER && !w->draining) {
                /* uwsgi connections carry one request: under load the next
                 * one is usually queued already, so accept again before
                 * going back to epoll (bounded, so signals and parked
                 * clients are not kept waiting). When the queue was empty
                 * last time, only every 8th turn tries, so that a lightly
                 * loaded worker does not pay a failing accept per request;
                 * under load (sched-batch on) every turn does: the kernel
                 * woke one worker for each new connection, and if that one
                 * waits for a core, a worker that is free takes it. */
                crl_listener_t *l = crl_socket_at(tag->index);
                int more = ACCEPT_BATCH;
                int done = client_accept(w, l, listen_fds[tag->index]);
                while (done && --more > 0 && !stopping && !paused &&
                       (w->queue_seen || w->sched.batch || (++w->probe & 7) == 0)) {
                    done = w->queue_seen = client_accept(w, l, listen_fds[tag->index]);
                    crl_sched_probe(&w->sched, done);
                }
            }
            else if (tag->kind == EV_CLIENT)
                client_run(w, (client_t *)tag);
            else if (tag->kind == EV_CTL)
                master_message(w);
        }
        /* Recycling: ask for a replacement and keep serving; the master
         * retires this worker (SIGTERM, graceful) once the new one is
         * ready, so capacity never dips. */
        if (w->tid == 0 && !recycle_asked && should_recycle(w->id, served, started)) {
            send_msg(ctl_fd, w->id, CRL_MSG_RECYCLE);
            recycle_asked = 1;
            scoreboard->eligible = 0;
            stop_accepting(); /* new connections wait for the replacement */
        }
        if (stopping && !w->draining) {
            scoreboard->eligible = 0;
            start_draining(w);
        }
        if (w->tid == 0 && paused)
            balance(); /* others' counts change too: look again every second */
        if (w->idle_head)
            sweep_idle(w, crl_scoreboard_now_ms());
    }
    return NULL;
}

static int start_thread(wt_t *w)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (conf.thread_stacksize > 0)
        pthread_attr_setstacksize(&attr, (size_t)conf.thread_stacksize * 1024);
    int rc = pthread_create(&w->thread, &attr, worker_loop, w);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        crl_log(CRL_LOG_ERR, rc, "worker %u: cannot start request thread %u", w->id, w->tid);
    return rc == 0 ? CRL_OK : CRL_ERROR;
}

/* Threads the app plugin can take: `threads`, unless it cannot run
 * handle() concurrently. */
static unsigned effective_threads(const crl_plugin_t *app, unsigned id)
{
    if (conf.threads <= 1)
        return 1;
    if (app && !(app->flags & CRL_PLUGIN_THREADS)) {
        if (id == 1)
            crl_log(CRL_LOG_WARN, 0, "threads = %ld: the %s plugin cannot serve requests from "
                    "several threads; each worker runs one", conf.threads, app->name);
        return 1;
    }
    return (unsigned)conf.threads;
}

void crl_worker_main(unsigned id, unsigned slot, int ctl, int lazy)
{
    const crl_plugin_t *app = crl_plugin_app();

    crl__server_set_worker(id);
    scoreboard = crl_scoreboard_slot(slot);
    if (conf.reload_on_rss > 0 || conf.memory_report)
        statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    ctl_fd = ctl;
    worker_init(id, ctl, lazy, getppid());
    for (size_t i = 0; i < crl_socket_count() && i < 64; i++) {
        listener_tags[i] = (ev_tag_t){ EV_LISTENER, (unsigned)i };
        listen_fds[i] = crl_socket_fd_for_worker(crl_socket_at(i), id);
    }

    unsigned nthr = effective_threads(app, id);
    wt_t *ws = calloc(nthr, sizeof(*ws));
    if (ws == NULL)
        _exit(1);
    threads_all = ws;
    nthreads_all = nthr;
    for (unsigned t = 0; t < nthr; t++) {
        wt_t *w = &ws[t];
        *w = (wt_t){ .app = app, .id = id, .tid = t, .th = &scoreboard->threads[t] };
        w->epfd = setup_epoll();
        if (w->epfd < 0 ||
            crl_conn_init(&w->conn, (size_t)conf.buffer_size, (int)conf.socket_timeout * 1000) !=
                CRL_OK) {
            crl_log(CRL_LOG_ERR, errno, "worker %u: cannot set up thread %u", id, t);
            _exit(1);
        }
        if (t > 0 && start_thread(w) != CRL_OK)
            _exit(1);
    }
    struct epoll_event cev = { .events = EPOLLIN, .data.ptr = &ctl_tag };
    epoll_ctl(ws[0].epfd, EPOLL_CTL_ADD, ctl, &cev);
    for (size_t i = 0; i < crl_socket_count(); i++)
        has_http |= crl_socket_at(i)->proto == CRL_PROTO_HTTP;
    scoreboard->eligible = 1;
    send_msg(ctl, id, CRL_MSG_READY);
    worker_loop(&ws[0]);
    for (unsigned t = 1; t < nthr; t++)
        pthread_join(ws[t].thread, NULL);
    for (size_t i = 0; i < crl_plugin_count(); i++)
        if (crl_plugin_at(i)->exit_worker)
            crl_plugin_at(i)->exit_worker();
    _exit(0);
}
