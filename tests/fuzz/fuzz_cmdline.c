/*
 * libFuzzer target for the command-line parser of core/crl_config.c: the
 * input, split at newlines, is argv; crl_config_load parses it against a
 * stand-in core option table (every option type). Files named by the input
 * are opened for real, so the target keeps stdin away (/dev/null) and skips
 * glob patterns; logs and printed output go to /dev/null.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <corral/option.h>
#include <corral/result.h>

#include "crl_config.h"
#include "crl_log.h"
#include "crl_option.h"

#define MAX_ARGS 32

typedef struct {
    crl_list_t socket;
    long processes;
    int master;
    unsigned chmod;
    long buffer_size;
    char *chdir;
    int need_app;
} core_t;

static core_t core;

static const crl_option_t rows[] = {
    { .name = "socket", .aliases = "uwsgi-socket", .short_name = 's', .type = CRL_OPT_LIST,
      .offset = offsetof(core_t, socket), .help = "socket" },
    { .name = "processes", .aliases = "workers", .short_name = 'p', .type = CRL_OPT_INT,
      .offset = offsetof(core_t, processes), .def = "1", .min = 1, .max = 4096, .help = "n" },
    { .name = "master", .short_name = 'M', .type = CRL_OPT_BOOL,
      .offset = offsetof(core_t, master), .help = "master" },
    { .name = "chmod-socket", .short_name = 'C', .type = CRL_OPT_MODE,
      .flags = CRL_OPTF_OPTARG, .offset = offsetof(core_t, chmod), .help = "mode" },
    { .name = "buffer-size", .short_name = 'b', .type = CRL_OPT_INT, .flags = CRL_OPTF_CLAMP,
      .offset = offsetof(core_t, buffer_size), .def = "4096", .min = 1, .max = 65535,
      .help = "buffer" },
    { .name = "chdir", .type = CRL_OPT_STRING, .offset = offsetof(core_t, chdir), .help = "d" },
    { .name = "need-app", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_OPTARG,
      .offset = offsetof(core_t, need_app), .help = "need" },
};

static void clear_list(crl_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].value);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    char *argv[MAX_ARGS + 2] = { "corral" };
    char *envp[] = { "UWSGI_PROCESSES=2", NULL };
    int argc = 1;
    crl_config_action_t action;

    if (!ready) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        crl_log_fd = null;
        crl_option_register("core", rows, sizeof(rows) / sizeof(rows[0]), &core);
        ready = 1;
    }
    if (memchr(data, '*', size) || memchr(data, '?', size) || memchr(data, '[', size))
        return 0; /* globs could walk the whole file system */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *p = text; argc <= MAX_ARGS;) {
        argv[argc++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    argv[argc] = NULL;
    crl_config_load(argc, argv, envp, &action);
    clear_list(&core.socket);
    free(text);
    return 0;
}
