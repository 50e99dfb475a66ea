/*
 * sched-batch: a request thread's scheduling policy, chosen from its load.
 *
 * Behind nginx, a worker and nginx take turns on a core. Under the default
 * policy every connection nginx opens wakes the worker, which preempts
 * nginx at once, serves one request and sleeps again: two context
 * switches per request, about 7 us of a core each on a virtual machine.
 * Under SCHED_BATCH the woken worker waits until nginx yields, and then
 * finds several connections queued: fewer switches, less CPU per request.
 *
 * A thread that blocks in epoll for every request gains nothing from
 * waiting (a lone client's request would only be delayed behind whatever
 * else runs on the core), so in `auto` mode a thread runs as SCHED_BATCH
 * only while it finds more than one request per wake-up:
 *  - every CRL_SCHED_WINDOW requests it compares the requests it served
 *    with the times epoll_wait returned, and turns batch on at 1.5
 *    requests per wake-up or more, off below 1.25 (the gap keeps it from
 *    flapping);
 *  - a second without requests turns it off.
 * Nice values are not changed; a policy set from outside (chrt) is kept.
 */
#ifndef CRL_SCHED_H
#define CRL_SCHED_H

enum {
    CRL_SCHED_OFF = 0,   /* sched-batch = false: never */
    CRL_SCHED_ON = 1,    /* sched-batch = true: always */
    CRL_SCHED_AUTO = -1, /* the default: from the load, as above */
};

#define CRL_SCHED_WINDOW 128

/* Per request thread. */
typedef struct {
    int mode;          /* CRL_SCHED_*; OFF once the policy cannot be changed */
    int batch;         /* the thread runs as SCHED_BATCH */
    unsigned requests; /* served in the current window */
    unsigned wakeups;  /* epoll_wait calls that returned events */
} crl_sched_t;

/* Whether a thread in state `batch` that served `requests` over `wakeups`
 * wake-ups should run as SCHED_BATCH. Pure: the rule above. */
int crl_sched_want_batch(int batch, unsigned requests, unsigned wakeups);

/* Start in `mode` on the calling thread: ON switches to SCHED_BATCH now.
 * A thread whose policy is not SCHED_OTHER (set with chrt, say) is left
 * alone: mode becomes OFF. */
void crl_sched_init(crl_sched_t *s, int mode);

/* After each epoll_wait: events is what it returned (0: timed out). Counts
 * the wake-up, ends the window when it is full and switches the calling
 * thread's policy when the rule says so. */
void crl_sched_wakeup(crl_sched_t *s, int events);

/* One request served. */
static inline void crl_sched_request(crl_sched_t *s)
{
    s->requests++;
}

/* epoll_wait's timeout for a thread that would otherwise wait forever: a
 * batch thread wakes after a second to turn batch off when idle. */
static inline int crl_sched_timeout_ms(const crl_sched_t *s)
{
    return s->batch && s->mode == CRL_SCHED_AUTO ? 1000 : -1;
}

#endif
