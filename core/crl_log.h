/*
 * Core side of logging: where log lines go. The calls plugins use are in
 * include/corral/log.h.
 */
#ifndef CRL_LOG_CORE_H
#define CRL_LOG_CORE_H

/* The descriptor every line is written to (2 until logto/daemonize). */
extern int crl_log_fd;

/* Send the log to a file opened for append (created 0640). Returns CRL_OK,
 * or CRL_ERROR after logging to the current descriptor. */
int crl_log_open(const char *path);

/* Open the file of the last crl_log_open again (log rotation): CRL_OK,
 * CRL_ERROR, or CRL_DECLINED when the log is not a file. */
int crl_log_reopen(void);

#endif
