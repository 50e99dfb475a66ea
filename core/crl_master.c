/*
 * The master process.
 *
 * Start-up, in order: log file, env, chdir, sockets (bound once and kept
 * across reloads), pidfile, plugins' init_master, the application (unless
 * lazy-apps), then the workers. Corral always runs a master: `master` is
 * accepted and has no effect.
 *
 * The loop is a short dispatcher. Signal handlers only write the signal
 * number to a self-pipe; the loop polls that pipe and the workers' control
 * sockets, then handles, in a fixed order: reaped children, shutdown
 * requests, reload, messages, timers (respawn delays, kill deadlines).
 *
 * Workers live in a table of process slots. A worker that dies unexpectedly
 * is respawned; one that dies within RESPAWN_FAST_SECONDS of starting backs
 * off exponentially so a crashing app cannot fork-loop the machine. A
 * reload (SIGHUP) forks the new generation first and stops each old worker
 * once its replacement reports ready; old workers finish the request they
 * are serving.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/plugin.h>
#include <corral/result.h>

#include "crl_daemon.h"
#include "crl_fifo.h"
#include "crl_log.h"
#include "crl_master.h"
#include "crl_option.h"
#include "crl_plugin.h"
#include "crl_procname.h"
#include "crl_scoreboard.h"
#include "crl_server.h"
#include "crl_socket.h"
#include "crl_static.h"
#include "crl_worker.h"

#define MAX_PROCS 2048
#define RESPAWN_FAST_SECONDS 2
#define RESPAWN_MAX_DELAY 30

typedef struct {
    int master;
    long processes;
    int die_on_term;
    int vacuum;
    char *pidfile;
    int need_app;
    int lazy_apps;
    char *chdir;
    crl_list_t env;
    crl_list_t hook_master_start;
    int thunder_lock;
    long worker_reload_mercy;
    long reload_mercy;
    char *logto;
    long harakiri;
    int harakiri_verbose;
    long harakiri_graceful_timeout;
    crl_list_t touch_reload;
    crl_list_t touch_chain_reload;
    crl_list_t touch_logreopen;
    int log_reopen;
} crl_master_conf_t;

static crl_master_conf_t conf;

#define OFF(f) offsetof(crl_master_conf_t, f)
static const crl_option_t options[] = {
    { .name = "master", .short_name = 'M', .type = CRL_OPT_BOOL, .flags = CRL_OPTF_NOOP,
      .offset = OFF(master), .help = "accepted: Corral always runs a master process" },
    { .name = "processes", .aliases = "workers", .short_name = 'p', .type = CRL_OPT_INT,
      .offset = OFF(processes), .def = "1", .min = 1, .max = 1024,
      .help = "number of worker processes" },
    { .name = "die-on-term", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_NOOP,
      .offset = OFF(die_on_term),
      .help = "accepted: SIGTERM always shuts Corral down gracefully" },
    { .name = "vacuum", .type = CRL_OPT_BOOL, .offset = OFF(vacuum),
      .help = "on exit remove the unix sockets and pidfile Corral created" },
    { .name = "pidfile", .type = CRL_OPT_STRING, .offset = OFF(pidfile),
      .help = "write the master's pid to this file" },
    { .name = "need-app", .type = CRL_OPT_BOOL, .offset = OFF(need_app), .def = "true",
      .help = "exit if the application cannot be loaded (on by default, as in uWSGI 2.1)" },
    { .name = "lazy-apps", .aliases = "lazy", .type = CRL_OPT_BOOL, .offset = OFF(lazy_apps),
      .help = "load the application in each worker after fork instead of once in the master" },
    { .name = "chdir", .type = CRL_OPT_STRING, .offset = OFF(chdir),
      .help = "change to this directory before binding sockets and loading the app" },
    { .name = "env", .type = CRL_OPT_LIST, .offset = OFF(env),
      .help = "set an environment variable KEY=VALUE (repeatable)" },
    { .name = "hook-master-start", .type = CRL_OPT_LIST, .offset = OFF(hook_master_start),
      .help = "accepted for 'unix_signal:15 gracefully_kill_them_all' (Corral's default)" },
    { .name = "thunder-lock", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_NOOP,
      .offset = OFF(thunder_lock),
      .help = "accepted: one connection already wakes one worker (EPOLLEXCLUSIVE)" },
    { .name = "worker-reload-mercy", .type = CRL_OPT_INT, .offset = OFF(worker_reload_mercy),
      .def = "60", .min = 1, .max = 86400,
      .help = "seconds a stopping worker may take to finish before it is killed" },
    { .name = "reload-mercy", .type = CRL_OPT_INT, .offset = OFF(reload_mercy), .def = "60",
      .min = 1, .max = 86400,
      .help = "seconds the whole instance may take to stop gracefully before workers are killed" },
    { .name = "logto", .type = CRL_OPT_STRING, .offset = OFF(logto),
      .help = "append the log to this file instead of stderr" },
    { .name = "harakiri", .short_name = 't', .type = CRL_OPT_INT, .offset = OFF(harakiri),
      .def = "0", .min = 0, .max = 86400 * 365,
      .help = "kill and replace a worker whose request runs longer than this many seconds" },
    { .name = "harakiri-verbose", .type = CRL_OPT_BOOL, .offset = OFF(harakiri_verbose),
      .help = "before a harakiri kill, ask the worker to log the stack of every thread" },
    { .name = "harakiri-graceful-timeout", .type = CRL_OPT_INT,
      .offset = OFF(harakiri_graceful_timeout), .def = "0", .min = 0, .max = 86400,
      .help = "on harakiri send SIGTERM first and wait this many seconds before SIGKILL" },
    { .name = "touch-reload", .type = CRL_OPT_LIST, .offset = OFF(touch_reload),
      .help = "gracefully reload the workers when this file is touched (repeatable)" },
    { .name = "touch-chain-reload", .type = CRL_OPT_LIST, .offset = OFF(touch_chain_reload),
      .help = "replace the workers one at a time when this file is touched (repeatable)" },
    { .name = "touch-logreopen", .type = CRL_OPT_LIST, .offset = OFF(touch_logreopen),
      .help = "reopen the log file when this file is touched (repeatable)" },
    { .name = "log-reopen", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_NOOP,
      .offset = OFF(log_reopen), .help = "accepted: the log is always reopened on SIGUSR2" },
};

int crl_master_options_register(void)
{
    return crl_option_register("master", options, sizeof(options) / sizeof(options[0]), &conf);
}

/* ---- process table -------------------------------------------------------- */

typedef struct {
    pid_t pid;          /* 0: free slot */
    unsigned id;        /* worker number, 1..processes */
    unsigned gen;       /* reload generation */
    int ctl;            /* master's end of the control socketpair */
    int stopping;       /* asked to stop: its exit is expected */
    int ready;
    time_t started;
    time_t kill_at;     /* SIGKILL deadline when stopping, else 0 */
    int harakiri;       /* 1: SIGKILL when kill_at passes; 2: killed */
    uint64_t serial;    /* spawn order: a ready worker retires older ones of its id */
    int recycling;      /* asked to be replaced; serves until its replacement is ready */
} proc_t;

typedef struct {
    unsigned fast_deaths;
    time_t respawn_at;  /* 0: no respawn pending */
} wslot_t;

enum { RUNNING, STOPPING, STOPPING_NOW };

static proc_t procs[MAX_PROCS];
static wslot_t *wslots; /* [processes + 1], index 0 unused */
static unsigned generation;
static uint64_t spawn_serial;
static int state = RUNNING;
static int exit_status;
static int sigpipe_fds[2] = { -1, -1 };
static int pidfile_written;
static unsigned chain_next; /* chain reload: the worker id being replaced, 0: none */
static unsigned nthreads = 1;     /* request threads per worker */
static int saved_argc;            /* the command line, for a re-exec reload */
static char **saved_argv;
static int reexeced;              /* this image replaced a master in a reload */
static int degraded;              /* the reloaded app failed: old workers serve */
static int reload_requested;      /* a reload waits for the current one to complete */

#define CRL_REEXEC_ENV "CORRAL_REEXEC"
#define CRL_WORKERS_ENV "CORRAL_WORKERS"
static size_t scoreboard_slots;   /* process-table entries that have a slot */

/* Watched files: mtime seen last, 0 when the file did not exist. */
typedef struct {
    const crl_list_item_t *item;
    time_t mtime;
    long mtime_ns;
    void (*action)(void);
} watch_t;

static watch_t *watches;
static size_t nwatches;

static time_t now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void on_signal(int signo)
{
    int saved = errno;
    unsigned char b = (unsigned char)signo;
    if (write(sigpipe_fds[1], &b, 1) < 0) {
        /* full pipe: the loop is already due to wake */
    }
    errno = saved;
}

static const int master_sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2 };

static void master_signals(void)
{
    struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
    sigset_t handled;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&handled);
    for (size_t i = 0; i < sizeof(master_sigs) / sizeof(master_sigs[0]); i++) {
        sigaction(master_sigs[i], &sa, NULL);
        sigaddset(&handled, master_sigs[i]);
    }
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    /* Signals that arrived while a re-exec reload was starting this image
     * were blocked and are pending: deliver them now, to the handlers. */
    sigprocmask(SIG_UNBLOCK, &handled, NULL);
}

static proc_t *proc_by_pid(pid_t pid)
{
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (procs[i].pid == pid)
            return &procs[i];
    return NULL;
}

static size_t live_procs(void)
{
    size_t n = 0;
    for (size_t i = 0; i < MAX_PROCS; i++)
        n += procs[i].pid != 0;
    return n;
}

static void run_hooks_fork(int parent)
{
    for (size_t i = 0; i < crl_plugin_count(); i++) {
        const crl_plugin_t *p = crl_plugin_at(i);
        if (parent < 0 && p->fork_prepare)
            p->fork_prepare();
        else if (parent > 0 && p->fork_parent)
            p->fork_parent();
    }
}

/* In the new child: drop what belongs to the master, then become a worker. */
static void become_worker(unsigned id, unsigned slot, int ctl)
{
    close(sigpipe_fds[0]);
    close(sigpipe_fds[1]);
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (procs[i].pid && procs[i].ctl >= 0)
            close(procs[i].ctl);
    crl_fifo_close();
    crl_procname_worker(id);
    crl_worker_main(id, slot, ctl, conf.lazy_apps);
}

static int spawn(unsigned id)
{
    proc_t *p = proc_by_pid(0);
    int sv[2];
    sigset_t all, old;

    if (p != NULL && (size_t)(p - procs) >= scoreboard_slots)
        p = NULL; /* more overlapping generations than the scoreboard holds */
    if (p == NULL || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        crl_log(CRL_LOG_ERR, p ? errno : 0, "cannot spawn worker %u", id);
        return CRL_ERROR;
    }
    /* Signals stay blocked across fork so that a signal reaching the child
     * before it installs its own handlers is not taken for the master's. */
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    run_hooks_fork(-1);
    unsigned slot = (unsigned)(p - procs) + 1;
    crl_scoreboard_slot_t *sb = crl_scoreboard_slot(slot);
    sb->pid = 0;
    sb->requests = 0;
    sb->conns = 0;
    sb->eligible = 0;
    for (unsigned t = 0; t < nthreads; t++)
        sb->threads[t].request_start_ms = 0;
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        become_worker(id, slot, sv[1]);
    }
    sb->pid = pid;
    run_hooks_fork(1);
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(sv[1]);
    if (pid < 0) {
        crl_log(CRL_LOG_ERR, errno, "fork of worker %u", id);
        close(sv[0]);
        return CRL_ERROR;
    }
    *p = (proc_t){ .pid = pid, .id = id, .gen = generation, .ctl = sv[0], .started = now(),
                   .serial = ++spawn_serial };
    crl_log(CRL_LOG_INFO, 0, "spawned worker %u (pid %d)", id, (int)pid);
    return CRL_OK;
}

/* Ask a worker to stop with sig; a graceful signal gets a SIGKILL deadline
 * mercy seconds away, SIGKILL itself needs none. */
static void stop_proc(proc_t *p, int sig, long mercy)
{
    if (sig == SIGKILL)
        p->kill_at = 0;
    else if (!p->stopping)
        p->kill_at = now() + mercy;
    p->stopping = 1;
    kill(p->pid, sig);
}

/* ---- events ---------------------------------------------------------------- */

static int read_message(proc_t *p);
static int has_message(const proc_t *p);
static unsigned failed_gen = (unsigned)-1; /* a reload generation that could not load */
static int ever_ready;                     /* some worker has served: past start-up */

/* 1 when a worker of an older generation than p still serves. */
static int older_generation_serving(const proc_t *p)
{
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (procs[i].pid && procs[i].gen < p->gen && !procs[i].stopping)
            return 1;
    return 0;
}

static void schedule_respawn(proc_t *p)
{
    wslot_t *w = &wslots[p->id];
    if (now() - p->started < RESPAWN_FAST_SECONDS) {
        w->fast_deaths++;
        unsigned shift = w->fast_deaths < 6 ? w->fast_deaths - 1 : 5;
        time_t delay = (time_t)1 << shift;
        if (delay > RESPAWN_MAX_DELAY)
            delay = RESPAWN_MAX_DELAY;
        crl_log(CRL_LOG_WARN, 0, "worker %u died %u time(s) right after starting; respawning "
                "in %ld s", p->id, w->fast_deaths, (long)delay);
        w->respawn_at = now() + delay;
    } else {
        w->fast_deaths = 0;
        w->respawn_at = now();
    }
}

static void reap(void)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        proc_t *p = proc_by_pid(pid);
        if (p == NULL)
            continue;
        if (WIFSIGNALED(status))
            crl_log(p->stopping ? CRL_LOG_INFO : CRL_LOG_ERR, 0,
                    "worker %u (pid %d) killed by signal %d", p->id, (int)pid, WTERMSIG(status));
        else if (!p->stopping && !has_message(p) && WEXITSTATUS(status) != 0)
            crl_log(CRL_LOG_ERR, 0, "worker %u (pid %d) exited with status %d", p->id, (int)pid,
                    WEXITSTATUS(status));
        else
            crl_log(CRL_LOG_INFO, 0, "worker %u (pid %d) %s", p->id, (int)pid,
                    WEXITSTATUS(status) ? "exited" : "stopped");
        /* A recycling worker may exit before its message was read. */
        while (p->ctl >= 0 && read_message(p) == CRL_OK) {
        }
        int expected = p->stopping;
        crl_scoreboard_slot_t *dead = crl_scoreboard_slot((unsigned)(p - procs) + 1);
        dead->pid = 0;
        dead->eligible = 0;
        if (p->ctl >= 0)
            close(p->ctl);
        if (!expected && state == RUNNING && !degraded && p->gen != failed_gen)
            schedule_respawn(p);
        p->pid = 0;
    }
}

static void begin_shutdown(int immediate)
{
    if (immediate || state == STOPPING) {
        state = STOPPING_NOW;
        crl_log(CRL_LOG_INFO, 0, "stopping now");
        for (size_t i = 0; i < MAX_PROCS; i++)
            if (procs[i].pid)
                stop_proc(&procs[i], SIGKILL, 0);
        return;
    }
    state = STOPPING;
    crl_log(CRL_LOG_INFO, 0, "graceful shutdown: waiting up to %ld s for requests in progress",
            conf.reload_mercy);
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (procs[i].pid)
            stop_proc(&procs[i], SIGTERM, conf.reload_mercy);
}

void crl_master_set_argv(int argc, char **argv)
{
    saved_argc = argc;
    saved_argv = argv;
}

/* Run this corral with the same arguments plus --check-config; 1 when the
 * configuration as it is on disk now is valid. */
static int config_still_valid(void)
{
    char **args = calloc((size_t)saved_argc + 2, sizeof(*args));
    if (args == NULL)
        return 0;
    for (int i = 0; i < saved_argc; i++)
        args[i] = saved_argv[i];
    args[saved_argc] = "--check-config";
    pid_t pid = fork();
    if (pid == 0) {
        execv("/proc/self/exe", args);
        _exit(127);
    }
    free(args);
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Reload by executing a fresh image of corral in this same process (same
 * pid: pidfiles, systemd and the workers' parent stay right). It re-reads
 * the configuration and re-imports the application; the listening sockets
 * and the current workers are handed over, and the workers keep serving
 * until their replacements are ready. Returns only when it did not happen:
 * CRL_DECLINED when the new configuration is invalid (nothing must change),
 * CRL_ERROR when exec failed (the caller reloads by forking instead). */
static int reexec(void)
{
    char buf[16384];
    size_t len = 0;

    if (!config_still_valid()) {
        crl_log(CRL_LOG_ERR, 0, "reload refused: the configuration on disk has errors (see "
                "above); the current workers keep serving");
        return CRL_DECLINED;
    }
    for (size_t i = 0; i < MAX_PROCS && len < sizeof(buf) - 48; i++)
        if (procs[i].pid)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%d:%u:%zu:%d ",
                                    (int)procs[i].pid, procs[i].id, i, procs[i].stopping);
    if (crl_socket_export() != CRL_OK || crl_scoreboard_export() != CRL_OK ||
        setenv(CRL_WORKERS_ENV, buf, 1) != 0 || setenv(CRL_REEXEC_ENV, "1", 1) != 0)
        goto undo;
    crl_log(CRL_LOG_INFO, 0, "graceful reload: re-executing corral to load the new code");
    crl_fifo_close();
    /* The new image has default dispositions until it installs its
     * handlers: a SIGHUP or SIGTERM arriving meanwhile (several reload
     * requests in a row) would kill it. Blocked signals stay pending across
     * exec; master_signals() unblocks them once handled. */
    sigset_t block, old;
    sigemptyset(&block);
    for (size_t i = 0; i < sizeof(master_sigs) / sizeof(master_sigs[0]); i++)
        sigaddset(&block, master_sigs[i]);
    sigprocmask(SIG_BLOCK, &block, &old);
    execv("/proc/self/exe", saved_argv);
    sigprocmask(SIG_SETMASK, &old, NULL);
    crl_log(CRL_LOG_ERR, errno, "cannot re-execute corral; reloading by forking instead");
    crl_fifo_open();
undo:
    crl_socket_unexport();
    crl_scoreboard_unexport();
    unsetenv(CRL_WORKERS_ENV);
    unsetenv(CRL_REEXEC_ENV);
    return CRL_ERROR;
}

/* In a re-executed master: take over the previous image's workers. They
 * stop when their replacements report ready (retire_replaced). */
static void adopt_workers(void)
{
    const char *env = getenv(CRL_WORKERS_ENV);
    int pid, was_stopping, n = 0;
    unsigned id;
    size_t index;

    /* Each keeps its process-table index: it is also its scoreboard slot,
     * which the new image shares (harakiri still applies to it). */
    for (const char *p = env;
         p && sscanf(p, "%d:%u:%zu:%d%n", &pid, &id, &index, &was_stopping, &n) == 4; p += n) {
        if (index >= scoreboard_slots || procs[index].pid) {
            kill(pid, SIGTERM);
            continue;
        }
        procs[index] = (proc_t){ .pid = pid, .id = id, .gen = 0, .ctl = -1, .ready = 1,
                                 .started = now() };
        ever_ready = 1;
        if (was_stopping || id == 0 || id > (unsigned)conf.processes)
            stop_proc(&procs[index], SIGTERM, conf.worker_reload_mercy);
    }
    unsetenv(CRL_WORKERS_ENV);
    unsetenv(CRL_REEXEC_ENV);
}

static void reload(void)
{
    if (!conf.lazy_apps && saved_argv && !crl_daemon_chroot_configured()) {
        /* Refused (bad configuration): keep the current workers. Degraded
         * (no loadable app): forking new workers cannot help either. */
        if (reexec() == CRL_DECLINED || degraded)
            return;
    }
    crl_log(CRL_LOG_INFO, 0, "graceful reload: starting new workers");
    generation++;
    for (unsigned id = 1; id <= (unsigned)conf.processes; id++) {
        wslots[id].respawn_at = 0;
        spawn(id);
    }
}

/* Chain reload: replace one worker at a time; the next starts when the
 * previous replacement is ready. */
static void chain_reload(void)
{
    if (chain_next) {
        crl_log(CRL_LOG_INFO, 0, "chain reload already in progress");
        return;
    }
    crl_log(CRL_LOG_INFO, 0, "chain reload: replacing the workers one at a time");
    generation++;
    chain_next = 1;
    spawn(chain_next);
}

/* A new-generation worker is ready: retire the old worker it replaces. */
static void retire_replaced(const proc_t *fresh)
{
    for (size_t i = 0; i < MAX_PROCS; i++) {
        proc_t *p = &procs[i];
        if (p->pid && p->id == fresh->id && p->serial < fresh->serial && !p->stopping)
            stop_proc(p, SIGTERM, conf.worker_reload_mercy);
    }
    if (chain_next && fresh->id == chain_next && fresh->gen == generation) {
        chain_next = fresh->id < (unsigned)conf.processes ? fresh->id + 1 : 0;
        if (chain_next)
            spawn(chain_next);
        else
            crl_log(CRL_LOG_INFO, 0, "chain reload done");
    }
}

static void reopen_logs(void)
{
    if (crl_daemon_reopen_log() == CRL_DECLINED && conf.logto)
        crl_log_open(conf.logto);
    crl_msg_t m = { .type = CRL_MSG_REOPEN_LOG };
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (procs[i].pid && procs[i].ctl >= 0)
            send(procs[i].ctl, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT);
    crl_log(CRL_LOG_INFO, 0, "log reopened");
}

/* SIGUSR1 and the FIFO's 's': the worker table in the log. */
static void log_stats(void)
{
    int64_t now_ms = crl_scoreboard_now_ms();
    crl_log(CRL_LOG_INFO, 0, "stats: master pid %d, generation %u, %zu worker process(es)",
            (int)getpid(), generation, live_procs());
    for (size_t i = 0; i < MAX_PROCS; i++) {
        proc_t *p = &procs[i];
        if (!p->pid)
            continue;
        crl_scoreboard_slot_t *sb = crl_scoreboard_slot((unsigned)i + 1);
        unsigned busy = 0;
        int64_t oldest = 0;
        for (unsigned t = 0; t < nthreads; t++) {
            int64_t start = sb->threads[t].request_start_ms;
            busy += start != 0;
            if (start && (!oldest || start < oldest))
                oldest = start;
        }
        char longest[48] = "";
        if (oldest)
            snprintf(longest, sizeof(longest), ", the longest for %lld ms",
                     (long long)(now_ms - oldest));
        crl_log(CRL_LOG_INFO, 0, "stats: worker %u pid %d%s: %llu requests, %u of %u threads "
                "busy%s", p->id, (int)p->pid, p->stopping ? " (stopping)" : "",
                (unsigned long long)sb->requests, busy, nthreads, longest);
    }
}

/* 1 when a message from p waits to be read. */
static int has_message(const proc_t *p)
{
    crl_msg_t m;
    return p->ctl >= 0 && recv(p->ctl, &m, sizeof(m), MSG_DONTWAIT | MSG_PEEK) > 0;
}

/* Handle one message from worker p: CRL_OK, or CRL_DONE when none waits. */
static int read_message(proc_t *p)
{
    crl_msg_t m;
    ssize_t n = recv(p->ctl, &m, sizeof(m), MSG_DONTWAIT);
    if (n != (ssize_t)sizeof(m))
        return CRL_DONE; /* EOF or nothing: the reaper deals with exits */
    switch (m.type) {
    case CRL_MSG_READY:
        p->ready = 1;
        ever_ready = 1;
        wslots[p->id].fast_deaths = 0;
        retire_replaced(p);
        break;
    case CRL_MSG_RECYCLE:
        /* Start the replacement; this worker is retired when it is ready. */
        if (state == RUNNING && !p->recycling && !p->stopping) {
            p->recycling = 1;
            spawn(p->id);
        }
        break;
    case CRL_MSG_APP_FAILED:
        if (older_generation_serving(p)) {
            /* A reload whose new code does not load: abandon that
             * generation, the previous workers keep serving. */
            if (failed_gen != p->gen)
                crl_log(CRL_LOG_ERR, 0, "reload failed: worker %u could not load the new "
                        "application; the previous workers keep serving", p->id);
            failed_gen = p->gen;
            for (size_t i = 0; i < MAX_PROCS; i++)
                if (procs[i].pid && procs[i].gen == p->gen)
                    stop_proc(&procs[i], SIGTERM, conf.worker_reload_mercy);
            chain_next = 0;
        } else if (!ever_ready && conf.need_app && state == RUNNING) {
            crl_log(CRL_LOG_ERR, 0, "worker %u could not load the application and need-app is "
                    "on: shutting down", p->id);
            exit_status = 1;
            begin_shutdown(0);
        } else if (ever_ready) {
            /* A replacement (recycle, respawn) cannot load the code on disk:
             * the worker it replaces keeps serving; respawns back off. */
            crl_log(CRL_LOG_ERR, 0, "worker %u could not load the application; the running "
                    "workers keep serving", p->id);
        }
        break;
    }
    return CRL_OK;
}

/* Harakiri: a request older than the limit gets its worker killed (after
 * an optional stack dump and graceful signal); the reaper respawns it. */
static void check_harakiri(proc_t *p, int64_t now_ms)
{
    crl_scoreboard_slot_t *sb = crl_scoreboard_slot((unsigned)(p - procs) + 1);

    if (p->harakiri)
        return;
    for (unsigned t = 0; t < nthreads; t++) {
        crl_scoreboard_thread_t *th = &sb->threads[t];
        int64_t start = th->request_start_ms;
        if (start == 0 || now_ms - start < conf.harakiri * 1000)
            continue;
        char line[CRL_SCOREBOARD_REQLINE];
        memcpy(line, th->request_line, sizeof(line));
        line[sizeof(line) - 1] = '\0';
        crl_log(CRL_LOG_ERR, 0, "HARAKIRI: worker %u (pid %d) thread %u has been serving '%s' "
                "for %lld s (harakiri = %ld); killing it", p->id, (int)p->pid, t, line,
                (long long)((now_ms - start) / 1000), conf.harakiri);
        if (conf.harakiri_verbose)
            kill(p->pid, SIGUSR2); /* the Python plugin dumps every thread's stack */
        p->harakiri = 1;
        if (conf.harakiri_graceful_timeout > 0) {
            kill(p->pid, SIGTERM);
            p->kill_at = now() + conf.harakiri_graceful_timeout;
        } else {
            p->kill_at = now() + (conf.harakiri_verbose ? 1 : 0);
        }
        return;
    }
}

static void timers(void)
{
    time_t t = now();
    int64_t now_ms = crl_scoreboard_now_ms();
    for (size_t i = 0; i < MAX_PROCS; i++) {
        proc_t *p = &procs[i];
        if (p->pid && conf.harakiri > 0)
            check_harakiri(p, now_ms);
        if (p->pid && p->harakiri == 1 && t >= p->kill_at) {
            kill(p->pid, SIGKILL);
            p->harakiri = 2; /* killed: wait for the reaper, never again */
            p->kill_at = 0;
            continue;
        }
        if (p->pid && p->stopping && p->kill_at && t >= p->kill_at) {
            crl_log(CRL_LOG_WARN, 0, "worker %u (pid %d) did not stop in time; killing it",
                    p->id, (int)p->pid);
            kill(p->pid, SIGKILL);
            p->kill_at = 0;
        }
    }
    for (unsigned id = 1; state == RUNNING && id <= (unsigned)conf.processes; id++) {
        if (wslots[id].respawn_at && t >= wslots[id].respawn_at) {
            wslots[id].respawn_at = 0;
            spawn(id);
        }
    }
}

static int next_timeout_ms(void)
{
    time_t t = now(), next = 0;
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (procs[i].pid && procs[i].kill_at && (!next || procs[i].kill_at < next))
            next = procs[i].kill_at;
    for (unsigned id = 1; id <= (unsigned)conf.processes; id++)
        if (wslots[id].respawn_at && (!next || wslots[id].respawn_at < next))
            next = wslots[id].respawn_at;
    int ms = !next ? -1 : next <= t ? 0 : (int)(next - t) * 1000;
    if ((conf.harakiri > 0 || nwatches) && (ms < 0 || ms > 1000))
        ms = 1000; /* harakiri and touched files are checked every second */
    return ms;
}

static void dispatch_signals(void)
{
    unsigned char buf[64];
    int chld = 0, term = 0, quit = 0, hup = 0, usr1 = 0, usr2 = 0;
    ssize_t n;

    while ((n = read(sigpipe_fds[0], buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            chld |= buf[i] == SIGCHLD;
            term |= buf[i] == SIGTERM;
            quit |= buf[i] == SIGINT || buf[i] == SIGQUIT;
            hup |= buf[i] == SIGHUP;
            usr1 |= buf[i] == SIGUSR1;
            usr2 |= buf[i] == SIGUSR2;
        }
    }
    if (chld)
        reap();
    if (term)
        begin_shutdown(0);
    if (quit)
        begin_shutdown(1);
    if (hup && state == RUNNING)
        reload_requested = 1; /* performed by the loop, one at a time */
    if (usr2)
        reopen_logs();
    if (usr1)
        log_stats();
}

/* uWSGI's master FIFO letters. */
static void fifo_commands(void)
{
    char cmds[64];
    size_t n = crl_fifo_read(cmds, sizeof(cmds));
    for (size_t i = 0; i < n; i++) {
        switch (cmds[i]) {
        case 'r':
        case 'R':
        case 'w':
            reload_requested = 1;
            break;
        case 'c':
            if (state == RUNNING)
                chain_reload();
            break;
        case 'q':
            begin_shutdown(0);
            break;
        case 'Q':
        case 'i':
            begin_shutdown(1);
            break;
        case 's':
            log_stats();
            break;
        case 'l':
            reopen_logs();
            break;
        default:
            crl_log(CRL_LOG_WARN, 0, "master fifo: unknown command '%c' (known: r c q Q s l, "
                    "0-9 select a fifo)", cmds[i] > ' ' && cmds[i] < 0x7f ? cmds[i] : '?');
        }
    }
}

static int stat_mtime(const char *path, time_t *sec, long *nsec)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    *sec = st.st_mtim.tv_sec;
    *nsec = st.st_mtim.tv_nsec;
    return 1;
}

static void watch_add(const crl_list_t *list, void (*action)(void))
{
    for (size_t i = 0; i < list->n; i++) {
        watch_t *w = &watches[nwatches++];
        w->item = &list->items[i];
        w->action = action;
        if (!stat_mtime(w->item->value, &w->mtime, &w->mtime_ns))
            crl_log(CRL_LOG_WARN, 0, "%s: %s does not exist yet; creating it will trigger "
                    "the action", crl_option_where(w->item->file, w->item->line), w->item->value);
    }
}

static void reload_if_running(void)
{
    reload_requested = 1;
}

static void chain_if_running(void)
{
    if (state == RUNNING)
        chain_reload();
}

static int watch_init(void)
{
    size_t n = conf.touch_reload.n + conf.touch_chain_reload.n + conf.touch_logreopen.n;
    if (n == 0)
        return CRL_OK;
    watches = calloc(n, sizeof(*watches));
    if (watches == NULL)
        return CRL_ERROR;
    watch_add(&conf.touch_reload, reload_if_running);
    watch_add(&conf.touch_chain_reload, chain_if_running);
    watch_add(&conf.touch_logreopen, reopen_logs);
    return CRL_OK;
}

static void watch_check(void)
{
    for (size_t i = 0; i < nwatches; i++) {
        watch_t *w = &watches[i];
        time_t sec = 0;
        long nsec = 0;
        if (!stat_mtime(w->item->value, &sec, &nsec) || (sec == w->mtime && nsec == w->mtime_ns))
            continue;
        w->mtime = sec;
        w->mtime_ns = nsec;
        crl_log(CRL_LOG_INFO, 0, "%s was touched", w->item->value);
        w->action();
    }
}

/* A reload is under way while a worker of an older generation still
 * serves or a new one is not ready yet. */
static int reload_in_progress(void)
{
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (procs[i].pid && !procs[i].stopping && (procs[i].gen < generation || !procs[i].ready))
            return 1;
    return 0;
}

/* Reload requests (SIGHUP, FIFO, touch files, uwsgi.reload() from every
 * worker at once) coalesce: one arriving during a reload is done once that
 * reload completes, so a burst cannot pile up generations. */
static void reload_if_requested(void)
{
    if (reload_requested && state == RUNNING && !reload_in_progress()) {
        reload_requested = 0;
        reload();
    }
}

static void master_loop(void)
{
    struct pollfd fds[MAX_PROCS + 2];
    proc_t *owner[MAX_PROCS + 2];

    while (state == RUNNING || live_procs() > 0) {
        nfds_t n = 0;
        fds[n++] = (struct pollfd){ .fd = sigpipe_fds[0], .events = POLLIN };
        fds[n++] = (struct pollfd){ .fd = crl_fifo_fd(), .events = POLLIN };
        for (size_t i = 0; i < MAX_PROCS; i++) {
            if (procs[i].pid) {
                owner[n] = &procs[i];
                fds[n++] = (struct pollfd){ .fd = procs[i].ctl, .events = POLLIN };
            }
        }
        int rc = poll(fds, n, next_timeout_ms());
        if (rc < 0 && errno != EINTR) {
            crl_log(CRL_LOG_ERR, errno, "master poll");
            break;
        }
        if (rc > 0 && fds[0].revents)
            dispatch_signals();
        if (rc > 0 && (fds[1].revents & POLLIN))
            fifo_commands();
        for (nfds_t i = 2; rc > 0 && i < n; i++)
            if ((fds[i].revents & POLLIN) && owner[i]->pid)
                read_message(owner[i]);
        timers();
        if (nwatches)
            watch_check();
        reload_if_requested();
    }
}

/* ---- start-up ---------------------------------------------------------------- */

static int apply_env(void)
{
    for (size_t i = 0; i < conf.env.n; i++) {
        crl_list_item_t *it = &conf.env.items[i];
        if (strchr(it->value, '=') == NULL || it->value[0] == '=') {
            crl_log(CRL_LOG_ERR, 0, "env '%s' at %s must be KEY=VALUE", it->value, crl_option_where(it->file, it->line));
            return CRL_ERROR;
        }
        putenv(it->value); /* the registry keeps the string for the process lifetime */
    }
    return CRL_OK;
}

static void check_hooks(void)
{
    for (size_t i = 0; i < conf.hook_master_start.n; i++) {
        crl_list_item_t *it = &conf.hook_master_start.items[i];
        if (strcmp(it->value, "unix_signal:15 gracefully_kill_them_all") != 0)
            crl_log(CRL_LOG_WARN, 0, "hook-master-start '%s' at %s is not supported; ignored",
                    it->value, crl_option_where(it->file, it->line));
    }
}

static int daemonize2_pending(void)
{
    return !reexeced && crl_daemon_detaches_late();
}

static int pidfile_is_ours(void)
{
    char buf[32] = { 0 };
    int fd = open(conf.pidfile, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    return n > 0 && atoi(buf) == (int)getpid();
}

/* The pidfile stays open: daemonize2 detaches after privileges are
 * dropped, and the detached master rewrites its pid through it. */
static int pidfile_fd = -1;

static int write_pid(void)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(pidfile_fd, 0) != 0 || pwrite(pidfile_fd, buf, (size_t)n, 0) != n) {
        crl_log(CRL_LOG_ERR, errno, "option 'pidfile': cannot write %s", conf.pidfile);
        return CRL_ERROR;
    }
    return CRL_OK;
}

static int write_pidfile(void)
{
    if (reexeced && pidfile_is_ours()) {
        pidfile_written = 1; /* same pid across the reload: nothing to write */
        return CRL_OK;
    }
    pidfile_fd = open(conf.pidfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (pidfile_fd < 0) {
        crl_log(CRL_LOG_ERR, errno, "option 'pidfile': cannot create %s", conf.pidfile);
        return CRL_ERROR;
    }
    pidfile_written = 1;
    /* With daemonize2 the pid that stays is the detached child's: the file
     * is written once, after the detach, never with the parent's pid. */
    return daemonize2_pending() ? CRL_OK : write_pid();
}

/* Remove the pidfile only if it still holds our pid: another instance may
 * have taken it over. */
static void remove_pidfile(void)
{
    if (pidfile_is_ours() && unlink(conf.pidfile) != 0 && errno != ENOENT)
        crl_log(CRL_LOG_WARN, errno, "vacuum: cannot remove pidfile %s", conf.pidfile);
}

static int load_app(void)
{
    const crl_plugin_t *app = crl_plugin_app();
    int rc = app ? app->app->load() : CRL_DECLINED;

    if (rc == CRL_OK)
        return CRL_OK;
    if (rc == CRL_DECLINED)
        crl_log(conf.need_app ? CRL_LOG_ERR : CRL_LOG_WARN, 0,
                "no application configured: set module, wsgi-file or mount");
    else
        crl_log(conf.need_app ? CRL_LOG_ERR : CRL_LOG_WARN, 0,
                "the application could not be loaded%s",
                !conf.need_app ? "; serving 500s"
                : reexeced     ? ""
                               : "; exiting (need-app is on; set need-app = false to serve "
                                 "errors instead)");
    return conf.need_app ? CRL_ERROR : CRL_OK;
}

static int prepare(void)
{
    if (conf.logto && crl_log_open(conf.logto) != CRL_OK)
        return CRL_ERROR;
    if (apply_env() != CRL_OK)
        return CRL_ERROR;
    check_hooks();
    if (conf.chdir && chdir(conf.chdir) != 0) {
        crl_log(CRL_LOG_ERR, errno, "chdir to %s", conf.chdir);
        return CRL_ERROR;
    }
    if (crl_static_init() != CRL_OK || watch_init() != CRL_OK || crl_worker_prepare() != CRL_OK)
        return CRL_ERROR;
    crl_daemon_apply_umask();
    crl_socket_set_workers((unsigned)conf.processes);
    if (crl_socket_open_all() != CRL_OK)
        return CRL_ERROR;
    if (conf.pidfile && write_pidfile() != CRL_OK)
        return CRL_ERROR;
    /* The FIFO is created after the drop so the app's user owns it. */
    if (crl_daemon_drop_privileges() != CRL_OK || crl_daemon_write_pidfile2() != CRL_OK ||
        crl_fifo_open() != CRL_OK)
        return CRL_ERROR;
    for (size_t i = 0; i < crl_plugin_count(); i++) {
        const crl_plugin_t *p = crl_plugin_at(i);
        if (p->init_master && p->init_master() != CRL_OK) {
            crl_log(CRL_LOG_ERR, 0, "plugin %s failed to initialise", p->name);
            return CRL_ERROR;
        }
    }
    if (!conf.lazy_apps && load_app() != CRL_OK)
        return CRL_ERROR;
    if (conf.lazy_apps && crl_plugin_app() == NULL && conf.need_app) {
        crl_log(CRL_LOG_ERR, 0, "no application configured: set module, wsgi-file or mount");
        return CRL_ERROR;
    }
    if (!reexeced && crl_daemon_detach(CRL_DAEMON_LATE) != CRL_OK)
        return CRL_ERROR;
    if (pidfile_fd >= 0 && daemonize2_pending() && write_pid() != CRL_OK)
        return CRL_ERROR; /* daemonize2: the master is now the detached child */
    return CRL_OK;
}

static void cleanup(void)
{
    for (size_t i = 0; i < crl_plugin_count(); i++)
        if (crl_plugin_at(i)->exit_master)
            crl_plugin_at(i)->exit_master();
    if (conf.vacuum) {
        crl_socket_vacuum();
        if (pidfile_written)
            remove_pidfile();
        crl_daemon_vacuum();
        crl_fifo_vacuum();
    }
}

int crl_master_run(void)
{
    reexeced = getenv(CRL_REEXEC_ENV) != NULL;
    if (!reexeced && crl_daemon_detach(CRL_DAEMON_EARLY) != CRL_OK)
        return 1;
    if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        crl_log(CRL_LOG_ERR, errno, "pipe");
        return 1;
    }
    master_signals();
    crl__server_set_master(getpid(), (unsigned)conf.processes, crl_worker_threads());
    wslots = calloc((size_t)conf.processes + 1, sizeof(*wslots));
    nthreads = crl_worker_threads();
    scoreboard_slots = (size_t)conf.processes * 8 + 8 < MAX_PROCS ? (size_t)conf.processes * 8 + 8
                                                                   : MAX_PROCS;
    if (wslots == NULL || crl_scoreboard_init((unsigned)scoreboard_slots) != CRL_OK)
        return 1;
    if (reexeced)
        adopt_workers();
    if (prepare() != CRL_OK) {
        if (live_procs() == 0) {
            cleanup();
            return 1;
        }
        /* A reload whose new code does not load: the previous workers keep
         * serving; a later reload (after a fix) tries again. */
        crl_log(CRL_LOG_ERR, 0, "reload failed: the previous workers keep serving the previous "
                "code; fix the problem and reload again");
        degraded = 1;
    }
    crl__server_set_master(getpid(), (unsigned)conf.processes, crl_worker_threads());
    crl_procname_master();
    crl_log(CRL_LOG_INFO, 0, "corral %s: master pid %d, %ld worker(s)", CRL_VERSION,
            (int)getpid(), conf.processes);
    if (!degraded) {
        generation = reexeced ? 1 : 0;
        for (unsigned id = 1; id <= (unsigned)conf.processes; id++)
            if (spawn(id) != CRL_OK)
                wslots[id].respawn_at = now() + 1;
    }
    master_loop();
    cleanup();
    crl_log(CRL_LOG_INFO, 0, "bye");
    return exit_status;
}
