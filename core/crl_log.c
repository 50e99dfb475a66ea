/*
 * Logging. Every line is formatted into a stack buffer and written with one
 * write(2) on crl_log_fd, so lines from the master and workers never
 * interleave (O_APPEND on files; pipes and ttys are atomic up to PIPE_BUF).
 * Lines longer than the buffer are cut and end with "...".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/result.h>

#include "crl_log.h"

#define LOG_LINE_MAX 4096

int crl_log_level = CRL_LOG_INFO;
int crl_log_fd = 2;

static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(crl_log_fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        buf += n;
        len -= (size_t)n;
    }
}

void crl_log_write(int level, int err, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    size_t len = 0;
    int saved = errno;

    if (level == CRL_LOG_ERR)
        len = (size_t)snprintf(line, sizeof(line), "error: ");
    else if (level == CRL_LOG_WARN)
        len = (size_t)snprintf(line, sizeof(line), "warning: ");

    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    va_end(ap);
    if (n > 0)
        len += (size_t)n;
    if (len < sizeof(line) && err != 0) {
        n = snprintf(line + len, sizeof(line) - len, ": %s (%d)", strerror(err), err);
        if (n > 0)
            len += (size_t)n;
    }
    if (len >= sizeof(line) - 1) {
        len = sizeof(line) - 1;
        memcpy(line + len - 3, "...", 3);
    }
    line[len++] = '\n';
    write_all(line, len);
    errno = saved;
}

void crl_log_raw(const char *buf, size_t len)
{
    write_all(buf, len);
}

void crl_log_signal_safe(const char *msg)
{
    int saved = errno;
    write_all(msg, strlen(msg));
    write_all("\n", 1);
    errno = saved;
}

static const char *log_path; /* the file crl_log_open last opened */

int crl_log_reopen(void)
{
    return log_path ? crl_log_open(log_path) : CRL_DECLINED;
}

int crl_log_open(const char *path)
{
    log_path = path;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        crl_log(CRL_LOG_ERR, errno, "cannot open log file %s", path);
        return CRL_ERROR;
    }
    /* stdout and stderr follow, so that what the app and Python print
     * (tracebacks, faulthandler stack dumps) lands in the same file. */
    if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
        crl_log(CRL_LOG_ERR, errno, "cannot redirect stderr to %s", path);
        close(fd);
        return CRL_ERROR;
    }
    close(fd);
    crl_log_fd = 2;
    return CRL_OK;
}
