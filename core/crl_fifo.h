/*
 * The master FIFO (uWSGI's master-fifo): named pipes the master reads
 * one-letter commands from. Only the I/O lives here; the master maps the
 * letters to actions.
 */
#ifndef CRL_FIFO_H
#define CRL_FIFO_H

#include <stddef.h>

int crl_fifo_options_register(void);

/* Create (mkfifo 0600, replacing a stale FIFO, refusing a regular file)
 * and open every configured master-fifo; the first is selected. CRL_OK
 * when none is configured. */
int crl_fifo_open(void);

/* The descriptor of the selected FIFO to poll for POLLIN, or -1. It never
 * reports EOF-spin: the module keeps its own writer end open. */
int crl_fifo_fd(void);

/* Read pending command bytes (non-blocking) into cmds; returns how many.
 * Digits '0'..'9' select another configured FIFO and are consumed here
 * (logged); blanks and newlines (`echo r > fifo`) are dropped; every
 * other byte is returned for the master to map or report as unknown. */
size_t crl_fifo_read(char *cmds, size_t cap);

/* Close the descriptors without removing anything (in a freshly forked
 * worker, which must not hold the master's FIFOs). */
void crl_fifo_close(void);

/* Remove the FIFOs this process created (only while each path is still
 * the FIFO it created) and close them. */
void crl_fifo_vacuum(void);

#endif
