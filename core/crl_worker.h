/*
 * Worker processes: accept connections on the inherited sockets, serve one
 * request at a time through the application plugin, log each request.
 */
#ifndef CRL_WORKER_H
#define CRL_WORKER_H

#include <stdint.h>

/* Messages a worker sends the master on its control socket. */
typedef enum {
    CRL_MSG_READY = 1,     /* initialised, accepting */
    CRL_MSG_APP_FAILED,    /* lazy-apps: the app could not be loaded */
    CRL_MSG_RECYCLE,       /* max-requests reached: replace me */
    CRL_MSG_REOPEN_LOG,    /* master -> worker: reopen the log file */
} crl_msg_type_t;

typedef struct {
    uint32_t type;         /* crl_msg_type_t */
    uint32_t worker_id;
} crl_msg_t;

int crl_worker_options_register(void);

/* Check the worker options that can be wrong (add-header) and set up what
 * every worker inherits. In the master, before forking. CRL_OK or
 * CRL_ERROR (logged with file and line). */
int crl_worker_prepare(void);

/* The configured request threads per worker. */
unsigned crl_worker_threads(void);

/* Run worker `id` in a freshly forked process; slot is its scoreboard
 * slot, ctl its end of the control socketpair; lazy says whether to load
 * the app here. Never returns. */
void crl_worker_main(unsigned id, unsigned slot, int ctl, int lazy) __attribute__((noreturn));

#endif
