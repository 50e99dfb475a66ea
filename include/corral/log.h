/*
 * Logging: one call shape for the core and plugins.
 *
 *   crl_log(CRL_LOG_WARN, 0, "unknown option '%s' at %s:%u", ...);
 *   crl_log(CRL_LOG_ERR, errno, "bind %s", addr);
 *
 * A line is written with a single write(2) so that lines from the master and
 * the workers never interleave. `err`, when non-zero, is an errno value whose
 * text is appended (": Address already in use (98)"). The level is checked
 * before formatting.
 */
#ifndef CORRAL_LOG_H
#define CORRAL_LOG_H

#include <stddef.h>

enum {
    CRL_LOG_ERR = 1,   /* "error: ..." something failed */
    CRL_LOG_WARN = 2,  /* "warning: ..." something is probably wrong */
    CRL_LOG_INFO = 3,  /* plain progress lines */
    CRL_LOG_DEBUG = 4,
};

/* Current threshold; lines above it are skipped before formatting. */
extern int crl_log_level;

void crl_log_write(int level, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define crl_log(level, err, ...)                          \
    do {                                                  \
        if ((level) <= crl_log_level)                     \
            crl_log_write((level), (err), __VA_ARGS__);   \
    } while (0)

/* Write bytes to the log as they are (used for wsgi.errors and tracebacks).
 * A missing final newline is not added. */
void crl_log_raw(const char *buf, size_t len);

/* Async-signal-safe: write a fixed message line; no formatting. */
void crl_log_signal_safe(const char *msg);

#endif
