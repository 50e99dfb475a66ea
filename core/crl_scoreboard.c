/*
 * Scoreboard storage: a shared mapping of a memfd created once in the
 * master and inherited by every worker across fork. The memfd is also
 * handed across a re-exec reload, so the new master image sees the slots of
 * the workers it adopts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/result.h>

#include "crl_scoreboard.h"

#define CRL_SCOREBOARD_ENV "CORRAL_SCOREBOARD"

static crl_scoreboard_slot_t *slots;
static unsigned nslots;
static int sb_fd = -1;

int crl_scoreboard_init(unsigned nworkers)
{
    size_t len = sizeof(*slots) * (nworkers + 1);
    const char *env = getenv(CRL_SCOREBOARD_ENV);

    if (env) {
        sb_fd = atoi(env); /* from the image before a re-exec reload */
        unsetenv(CRL_SCOREBOARD_ENV);
        fcntl(sb_fd, F_SETFD, FD_CLOEXEC);
        off_t cur = lseek(sb_fd, 0, SEEK_END);
        if (cur < (off_t)len && ftruncate(sb_fd, (off_t)len) != 0)
            sb_fd = -1;
        else if (cur > (off_t)len)
            len = (size_t)cur;
    } else {
        sb_fd = memfd_create("corral-scoreboard", MFD_CLOEXEC);
        if (sb_fd >= 0 && ftruncate(sb_fd, (off_t)len) != 0) {
            close(sb_fd);
            sb_fd = -1;
        }
    }
    void *p = sb_fd >= 0 ? mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, sb_fd, 0)
                         : MAP_FAILED;
    if (p == MAP_FAILED) {
        crl_log(CRL_LOG_ERR, errno, "cannot map the scoreboard (%zu bytes)", len);
        return CRL_ERROR;
    }
    slots = p;
    nslots = (unsigned)(len / sizeof(*slots)) - 1;
    return CRL_OK;
}

int crl_scoreboard_export(void)
{
    char buf[16];
    if (sb_fd < 0)
        return CRL_ERROR;
    snprintf(buf, sizeof(buf), "%d", sb_fd);
    fcntl(sb_fd, F_SETFD, 0);
    return setenv(CRL_SCOREBOARD_ENV, buf, 1) == 0 ? CRL_OK : CRL_ERROR;
}

void crl_scoreboard_unexport(void)
{
    if (sb_fd >= 0)
        fcntl(sb_fd, F_SETFD, FD_CLOEXEC);
    unsetenv(CRL_SCOREBOARD_ENV);
}

unsigned crl_scoreboard_count(void)
{
    return nslots;
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
