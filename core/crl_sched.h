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
 * A thread that finds one request per wake-up gains nothing from waiting
 * (its request could only be delayed behind whatever else runs on the
 * core), so in `auto` mode a thread runs as SCHED_BATCH only while
 * requests queue for it. Every CRL_SCHED_WINDOW requests it looks at two
 * signs, and batch is on while either holds:
 *  - of its tries to accept another uwsgi connection right after serving
 *    one (the worker's probes of the listen queue), at least half found
 *    one waiting (a quarter to stay on), out of 8 tries or more. Under
 *    load 85-96% do. One sequential client, whose next connection comes
 *    only after the answer, makes a quarter to three quarters of them find
 *    one, from run to run: while batch is on every turn probes, and each
 *    failed probe is a syscall, so below half it would cost more than the
 *    probes that find one save;
 *  - it served 1.5 requests per epoll wake-up or more (1.25 to stay on),
 *    as keep-alive HTTP clients with requests ready give.
 * The lower bar to stay on keeps it from flapping. A second without
 * events turns it off.
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
    unsigned probes;   /* tries to accept another connection after one */
    unsigned found;    /* of which found one waiting */
} crl_sched_t;

/* Whether a thread in state `batch` should run as SCHED_BATCH after a
 * window with these counts. Pure: the rule above. */
int crl_sched_want_batch(const crl_sched_t *s);

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

/* One try to accept another connection right after serving one; found:
 * there was one. */
static inline void crl_sched_probe(crl_sched_t *s, int found)
{
    s->probes++;
    s->found += found != 0;
}

/* epoll_wait's timeout for a thread that would otherwise wait forever: a
 * batch thread wakes after a second to turn batch off when idle. */
static inline int crl_sched_timeout_ms(const crl_sched_t *s)
{
    return s->batch && s->mode == CRL_SCHED_AUTO ? 1000 : -1;
}

#endif
