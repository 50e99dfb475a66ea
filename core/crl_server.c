/*
 * Facts about the instance for plugins (include/corral/server.h). Set once
 * in the master before the first fork (inherited by workers) and by each
 * worker for itself; read by plugins at any time.
 */
#include <errno.h>
#include <signal.h>

#include <corral/result.h>
#include <corral/server.h>

#include "crl_config.h"
#include "crl_server.h"

static pid_t master_pid;
static unsigned nprocesses = 1, nthreads = 1, worker_id;
static uint64_t worker_requests;

void crl__server_set_master(pid_t master, unsigned processes, unsigned threads)
{
    master_pid = master;
    nprocesses = processes;
    nthreads = threads ? threads : 1;
}

void crl__server_set_worker(unsigned id)
{
    worker_id = id;
    worker_requests = 0;
}

void crl__server_count_request(void)
{
    __atomic_add_fetch(&worker_requests, 1, __ATOMIC_RELAXED);
}

unsigned crl_server_worker_id(void)
{
    return worker_id;
}

unsigned crl_server_processes(void)
{
    return nprocesses;
}

unsigned crl_server_threads(void)
{
    return nthreads;
}

pid_t crl_server_master_pid(void)
{
    return master_pid;
}

uint64_t crl_server_worker_requests(void)
{
    return __atomic_load_n(&worker_requests, __ATOMIC_RELAXED);
}

int crl_server_reload(void)
{
    if (master_pid <= 0)
        return -ESRCH;
    return kill(master_pid, SIGHUP) == 0 ? CRL_OK : -errno;
}

void crl_server_foreach_option(crl_server_option_cb cb, void *ctx)
{
    crl_config_foreach(cb, ctx);
}
