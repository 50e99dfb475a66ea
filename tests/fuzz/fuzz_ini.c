/*
 * libFuzzer target for the ini loader (plugins/ini/crl_ini.c): arbitrary
 * bytes are loaded as a config file (an in-memory file named through
 * /proc/self/fd). `ini = :section` records re-enter the loader the way the
 * core's includes do, a few levels deep. Aborts when a record or result
 * breaks the loader's contract: line numbers outside the file or going
 * backwards, an empty key, a result other than OK/ERROR/DECLINED, or a
 * failure without a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <corral/plugin.h>
#include <corral/result.h>

#include "core/crl_log.h"

extern const crl_plugin_t crl_plugin;

typedef struct {
    const char *path;
    unsigned last_line;
    unsigned max_line; /* lines in the file */
    int depth;
} fuzz_ctx_t;

static int load(const char *path, const char *section, int depth, unsigned max_line);

static int record(void *ctx, const char *key, const char *value, unsigned line)
{
    fuzz_ctx_t *f = ctx;

    if (line == 0 || line > f->max_line || line < f->last_line || key[0] == '\0')
        abort();
    f->last_line = line;
    (void)strlen(value);
    if (strcmp(key, "ini") == 0 && value[0] == ':' && f->depth < 3)
        return load(f->path, value + 1, f->depth + 1, f->max_line) == CRL_OK ? CRL_OK : CRL_ERROR;
    return CRL_OK;
}

static int load(const char *path, const char *section, int depth, unsigned max_line)
{
    char err[256] = "";
    fuzz_ctx_t f = { .path = path, .max_line = max_line, .depth = depth };

    int rc = crl_plugin.loader->load(path, section, record, &f, err, sizeof(err));
    if (rc != CRL_OK && rc != CRL_ERROR && rc != CRL_DECLINED)
        abort();
    if (rc != CRL_OK && err[0] == '\0')
        abort();
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    unsigned lines = 1;

    if (fd < 0) {
        fd = memfd_create("fuzz_ini", MFD_CLOEXEC);
        if (fd < 0)
            abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        crl_log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC); /* still formatted */
        if (crl_log_fd < 0)
            abort();
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    load(path, NULL, 0, lines);
    return 0;
}
