/*
 * Scoreboard storage: an anonymous shared mapping created once in the
 * master, inherited by every worker across fork.
 */
#include <errno.h>
#include <sys/mman.h>
#include <time.h>

#include <corral/log.h>
#include <corral/result.h>

#include "crl_scoreboard.h"

static crl_scoreboard_slot_t *slots;
static unsigned nslots;

int crl_scoreboard_init(unsigned nworkers)
{
    size_t len = sizeof(*slots) * (nworkers + 1);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        crl_log(CRL_LOG_ERR, errno, "cannot map the scoreboard (%zu bytes)", len);
        return CRL_ERROR;
    }
    slots = p;
    nslots = nworkers;
    return CRL_OK;
}

crl_scoreboard_slot_t *crl_scoreboard_slot(unsigned id)
{
    return slots && id >= 1 && id <= nslots ? &slots[id] : NULL;
}

int64_t crl_scoreboard_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
