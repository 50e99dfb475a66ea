/*
 * Facts about the running instance that application plugins expose to apps
 * (the `uwsgi` module: worker_id(), numproc, masterpid(), opt, reload()).
 */
#ifndef CORRAL_SERVER_H
#define CORRAL_SERVER_H

#include <stdint.h>
#include <sys/types.h>

/* The id (1-based) of the worker this process is; 0 in the master. */
unsigned crl_server_worker_id(void);

/* The configured number of worker processes. */
unsigned crl_server_processes(void);

/* Request threads per worker (the `threads` option; 1 when unset). When it
 * is above 1 the app plugin's handle() is called from that many threads of
 * the worker at once, each with its own crl_request_t. */
unsigned crl_server_threads(void);

/* The master's pid. */
pid_t crl_server_master_pid(void);

/* Requests this worker has completed. */
uint64_t crl_server_worker_requests(void);

/* Ask the master for a graceful reload (as SIGHUP). CRL_OK or -errno. */
int crl_server_reload(void);

/* Call cb for every configuration record (key, value) in the order read,
 * after expansion: what uWSGI exposes as uwsgi.opt. */
typedef void (*crl_server_option_cb)(void *ctx, const char *key, const char *value);
void crl_server_foreach_option(crl_server_option_cb cb, void *ctx);

#endif
