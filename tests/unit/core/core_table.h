/* A stand-in for the core option tables the lead registers in crl_main.c,
 * shared by the config reader's tests. */
#ifndef TEST_CORE_TABLE_H
#define TEST_CORE_TABLE_H

#include <stddef.h>

#include <corral/option.h>

/* A stand-in for the core tables the lead registers in crl_main.c. */
typedef struct {
    crl_list_t socket;
    crl_list_t http_socket;
    long processes;
    int master;
    int vacuum;
    unsigned chmod;
    long buffer_size;
    char *chdir;
    crl_list_t env;
    char *pidfile;
    int need_app;
    int die_on_term;
    char *logto;
} core_t;

static core_t core;

static const crl_option_t core_rows[] = {
    { .name = "socket", .aliases = "uwsgi-socket", .short_name = 's', .type = CRL_OPT_LIST,
      .offset = offsetof(core_t, socket), .help = "bind a uwsgi socket" },
    { .name = "http-socket", .type = CRL_OPT_LIST, .offset = offsetof(core_t, http_socket),
      .help = "bind an http socket" },
    { .name = "processes", .aliases = "workers", .short_name = 'p', .type = CRL_OPT_INT,
      .offset = offsetof(core_t, processes), .def = "1", .min = 1, .max = 4096,
      .help = "workers" },
    { .name = "master", .short_name = 'M', .type = CRL_OPT_BOOL,
      .offset = offsetof(core_t, master), .help = "master" },
    { .name = "vacuum", .type = CRL_OPT_BOOL, .offset = offsetof(core_t, vacuum),
      .help = "clean up" },
    { .name = "chmod-socket", .short_name = 'C', .type = CRL_OPT_MODE, .flags = CRL_OPTF_OPTARG,
      .offset = offsetof(core_t, chmod), .help = "socket mode" },
    { .name = "buffer-size", .short_name = 'b', .type = CRL_OPT_INT, .flags = CRL_OPTF_CLAMP,
      .offset = offsetof(core_t, buffer_size), .def = "4096", .min = 1, .max = 65535,
      .help = "buffer" },
    { .name = "chdir", .type = CRL_OPT_STRING, .offset = offsetof(core_t, chdir),
      .help = "chdir" },
    { .name = "env", .type = CRL_OPT_LIST, .offset = offsetof(core_t, env), .help = "env" },
    { .name = "pidfile", .type = CRL_OPT_STRING, .offset = offsetof(core_t, pidfile),
      .help = "pidfile" },
    { .name = "need-app", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_OPTARG,
      .offset = offsetof(core_t, need_app), .help = "need app" },
    { .name = "die-on-term", .type = CRL_OPT_BOOL, .flags = CRL_OPTF_NOOP,
      .offset = offsetof(core_t, die_on_term), .help = "SIGTERM always stops" },
    { .name = "logto", .type = CRL_OPT_STRING, .flags = CRL_OPTF_DEPRECATED,
      .offset = offsetof(core_t, logto), .help = "use logger instead" },
};

#endif
