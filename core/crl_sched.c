/* sched-batch: see crl_sched.h. */
#include <errno.h>
#include <sched.h>

#include <corral/log.h>

#include "crl_sched.h"

int crl_sched_want_batch(const crl_sched_t *s)
{
    unsigned long long r = s->requests, w = s->wakeups, p = s->probes, f = s->found;
    int queued = p >= 8 && (s->batch ? f * 4 >= p : f * 2 >= p);
    int several = w == 0 ? r > 0 /* requests without a wake-up: all were queued */
                         : s->batch ? r * 4 >= w * 5 : r * 2 >= w * 3;

    return queued || several;
}

/* Switch the calling thread; on failure log once and stop trying. */
static void set_policy(crl_sched_t *s, int batch)
{
    struct sched_param p = { .sched_priority = 0 };

    if (sched_setscheduler(0, batch ? SCHED_BATCH : SCHED_OTHER, &p) != 0) {
        static int warned;
        if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
            crl_log(CRL_LOG_WARN, errno, "sched-batch: cannot change the scheduling policy; "
                    "workers keep the one they have");
        s->mode = CRL_SCHED_OFF;
        return;
    }
    s->batch = batch;
}

void crl_sched_init(crl_sched_t *s, int mode)
{
    *s = (crl_sched_t){ .mode = mode };
    if (mode == CRL_SCHED_OFF)
        return;
    if (sched_getscheduler(0) != SCHED_OTHER) {
        s->mode = CRL_SCHED_OFF;
        return;
    }
    if (mode == CRL_SCHED_ON)
        set_policy(s, 1);
}

void crl_sched_wakeup(crl_sched_t *s, int events)
{
    int want = 0; /* a timeout: a second with nothing to do */

    if (s->mode != CRL_SCHED_AUTO)
        return;
    if (events > 0) {
        s->wakeups++;
        if (s->requests < CRL_SCHED_WINDOW)
            return;
        want = crl_sched_want_batch(s);
    }
    if (want != s->batch)
        set_policy(s, want);
    s->requests = s->wakeups = s->probes = s->found = 0;
}
