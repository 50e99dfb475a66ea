/*
 * The scoreboard: one slot per worker in shared memory (mapped by the master
 * before the first fork), written by the worker on its hot path with plain
 * stores and read by the master for harakiri, recycling and stats.
 *
 * A worker writes only its own slot; the master only reads slots and
 * clears one before it spawns a worker into it. Fields are read without
 * locks: a torn read of the request line only garbles a log message.
 */
#ifndef CRL_SCOREBOARD_H
#define CRL_SCOREBOARD_H

#include <stdint.h>
#include <sys/types.h>

#define CRL_SCOREBOARD_REQLINE 128

#define CRL_SCOREBOARD_THREADS 256

/* One request thread of a worker. */
typedef struct {
    volatile int64_t request_start_ms;  /* CLOCK_MONOTONIC ms; 0: idle */
    char request_line[CRL_SCOREBOARD_REQLINE]; /* "GET /path" of the current request */
} crl_scoreboard_thread_t;

typedef struct {
    volatile pid_t pid;                 /* 0: free (the master clears it on reap) */
    volatile uint64_t requests;         /* served since spawn */
    volatile uint32_t conns;            /* open HTTP client connections */
    volatile int eligible;              /* takes new connections (not draining) */
    crl_scoreboard_thread_t threads[CRL_SCOREBOARD_THREADS];
} crl_scoreboard_slot_t;

/* Map slots 1..nworkers (index 0 unused), or the scoreboard a re-executed
 * master handed over (grown when needed). CRL_OK or CRL_ERROR (logged). */
int crl_scoreboard_init(unsigned nworkers);

/* For a re-exec reload: keep the scoreboard's memfd open across exec and
 * name it in the environment, where crl_scoreboard_init finds it. */
int crl_scoreboard_export(void);
void crl_scoreboard_unexport(void);

/* The number of slots (the highest valid index). */
unsigned crl_scoreboard_count(void);

/* The slot of worker id (1-based), or NULL. */
crl_scoreboard_slot_t *crl_scoreboard_slot(unsigned id);

/* Monotonic milliseconds, the scoreboard's clock. */
int64_t crl_scoreboard_now_ms(void);

#endif
