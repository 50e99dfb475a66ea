/* Shared by the core unit tests: capture the log into a temporary file and
 * write config files into a temporary directory. */
#ifndef TEST_CORE_HELPERS_H
#define TEST_CORE_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "crl_log.h"

static char log_path[64];
static char tmp_dir[64];

/* Log lines go to a file the test reads back. */
__attribute__((unused)) static void capture_log(void)
{
    snprintf(log_path, sizeof(log_path), "/tmp/crl-test-log-XXXXXX");
    int fd = mkstemp(log_path);
    cr_assert(fd >= 0);
    unlink(log_path);
    crl_log_fd = fd;
}

/* Everything logged so far (static buffer). */
__attribute__((unused)) static const char *logged(void)
{
    static char buf[65536];
    ssize_t n = pread(crl_log_fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

__attribute__((unused)) /* Forget what was logged so far. */
__attribute__((unused)) static void clear_log(void)
{
    cr_assert(ftruncate(crl_log_fd, 0) == 0);
    lseek(crl_log_fd, 0, SEEK_SET);
}

__attribute__((unused)) static void make_tmp_dir(void)
{
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/crl-test-XXXXXX");
    cr_assert(mkdtemp(tmp_dir) != NULL);
}

/* Write tmp_dir/name and return its path (one of 16 static buffers, so a
 * test may hold several paths at once). */
__attribute__((unused)) static char *write_file(const char *name, const char *content)
{
    static char paths[16][256];
    static unsigned next;
    char *path = paths[next++ % 16];
    snprintf(path, 256, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL, "cannot write %s", path);
    fputs(content, f);
    fclose(f);
    return path;
}

#define assert_logged(text) \
    cr_assert(strstr(logged(), (text)) != NULL, "log lacks <%s>; log is:\n%s", (text), logged())
#define assert_not_logged(text) \
    cr_assert(strstr(logged(), (text)) == NULL, "log has <%s>; log is:\n%s", (text), logged())

#endif
