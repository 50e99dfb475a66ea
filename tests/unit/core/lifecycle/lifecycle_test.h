/*
 * Helpers shared by the lifecycle unit tests (one copy per test program):
 * a scratch directory, capture of the log into a file, setting options
 * through the real registry, and reading whole files.
 */
#ifndef LIFECYCLE_TEST_H
#define LIFECYCLE_TEST_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/result.h>

#include "core/crl_log.h"
#include "core/crl_option.h"

static char tmpdir[128];

static inline void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/crl-lifecycle-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    chmod(tmpdir, 0755); /* reachable after dropping to nobody */
}

static inline void remove_tmpdir(void)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (tmpdir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* tmpdir/name in a static rotating buffer. */
static inline const char *tmp_path(const char *name)
{
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, 256, "%s/%s", tmpdir, name);
    return b;
}

/* Whole file into a static buffer ("" when missing). */
static inline const char *read_file(const char *path)
{
    static char buf[16384];
    buf[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return buf;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* Send crl_log lines to tmpdir/log. */
static inline void capture_log(void)
{
    int fd = open(tmp_path("log"), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    cr_assert_geq(fd, 0);
    crl_log_fd = fd;
}

static inline const char *captured_log(void)
{
    return read_file(tmp_path("log"));
}

static inline int set_opt(const char *name, const char *value)
{
    void *conf = NULL;
    const crl_option_t *o = crl_option_find(name, &conf);
    cr_assert_not_null(o, "option %s is not registered", name);
    return crl_option_set(o, conf, value, "test.ini", 7);
}

#endif
