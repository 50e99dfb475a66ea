/*
 * Process titles, as `ps` and /proc/PID/cmdline show them: "corral master",
 * "corral worker 1", with uWSGI's auto-procname, procname-prefix,
 * procname-prefix-spaced, procname-append, procname-master and procname.
 *
 * The title is written over the memory that held argv: crl_procname_init()
 * first copies every argv string and the environment elsewhere (argv[] and
 * environ then point to the copies, so nothing else notices), which makes
 * the whole block from argv[0] to the end of the last environment string
 * free for titles. Linux shows a rewritten block as a single string only
 * when the last byte of the original argv strings is not NUL, so a short
 * title is padded there; /proc/PID/cmdline then reads exactly the title.
 * prctl(PR_SET_NAME) sets /proc/PID/comm (15 bytes, cut by the kernel).
 *
 * Any procname option turns titles on, as in uWSGI. Without one the master
 * keeps its command line and workers are still titled "corral worker N".
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <corral/log.h>
#include <corral/result.h>

#include "crl_option.h"
#include "crl_procname.h"

extern char **environ;

#define TITLE_MAX 512

typedef struct {
    int auto_procname;
    char *prefix;
    char *prefix_spaced;
    char *append;
    char *master;
    char *procname;
} crl_procname_conf_t;

static crl_procname_conf_t conf;

#define OFF(f) offsetof(crl_procname_conf_t, f)
static const crl_option_t options[] = {
    { .name = "auto-procname", .type = CRL_OPT_BOOL, .offset = OFF(auto_procname),
      .help = "title the master \"corral master\" in ps (workers are always titled \"corral "
              "worker N\" unless procname says otherwise)" },
    { .name = "procname-prefix", .type = CRL_OPT_STRING, .offset = OFF(prefix),
      .help = "put this text before every process title (turns titles on)" },
    { .name = "procname-prefix-spaced", .type = CRL_OPT_STRING, .offset = OFF(prefix_spaced),
      .help = "like procname-prefix, followed by a space" },
    { .name = "procname-append", .type = CRL_OPT_STRING, .offset = OFF(append),
      .help = "put this text after every process title (turns titles on)" },
    { .name = "procname-master", .type = CRL_OPT_STRING, .offset = OFF(master),
      .help = "title of the master process instead of \"corral master\"" },
    { .name = "procname", .type = CRL_OPT_STRING, .offset = OFF(procname),
      .help = "title of every process (the master's unless procname-master is set)" },
};

static char *area;      /* the argv block, NULL when titles cannot be set */
static size_t area_len; /* bytes from argv[0] to the end of the last env string */
static size_t arg_len;  /* bytes of the original argv strings, NULs included */
static char **volatile arg_copies; /* the heap copies argv[] now points to */
static char **volatile env_copies; /* the copied environment strings, listed apart */
static char **volatile env_array;  /* the copied environ array (setenv may replace it) */

int crl_procname_options_register(void)
{
    return crl_option_register("procname", options, sizeof(options) / sizeof(options[0]), &conf);
}

/* End of the strings of v[0..n) (n < 0: NULL-terminated) that lie one
 * after the other from `from`; stops at the first that does not. */
static char *contiguous_end(char *from, char **v, int n)
{
    char *end = from;
    for (int i = 0; (n < 0 ? v[i] != NULL : i < n); i++) {
        if (v[i] != end)
            break;
        end = v[i] + strlen(v[i]) + 1;
    }
    return end;
}

/* Heap copies of the n strings of v (NULL-terminated array), or NULL. */
static char **copy_strings(char **v, size_t n)
{
    char **c = calloc(n + 1, sizeof(*c));
    for (size_t i = 0; c && i < n; i++) {
        c[i] = strdup(v[i]);
        if (c[i] == NULL) {
            while (i > 0)
                free(c[--i]);
            free(c);
            return NULL;
        }
    }
    return c;
}

void crl_procname_init(int argc, char **argv)
{
    size_t nenv = 0;

    if (area != NULL || argc < 1 || argv == NULL || argv[0] == NULL)
        return; /* once per process: the copies live until exit */
    char *end = contiguous_end(argv[0], argv, argc);
    size_t alen = (size_t)(end - argv[0]);
    while (environ && environ[nenv])
        nenv++;
    if (environ)
        end = contiguous_end(end, environ, -1);
    char **args = copy_strings(argv, (size_t)argc);
    char **env = copy_strings(environ, nenv);
    if (args == NULL || env == NULL) {
        free(args);
        free(env);
        return; /* titles stay off; the process runs as it is */
    }
    area = argv[0];
    area_len = (size_t)(end - argv[0]);
    arg_len = alen;
    for (int i = 0; i < argc; i++)
        argv[i] = args[i];
    /* Kept for the process lifetime: argv[] (outside the heap and the stack
     * LeakSanitizer scans) points into these copies. */
    arg_copies = args;
    environ = env;
    env_array = env;
    /* A list of its own: unsetenv shifts entries inside environ, which
     * would leave removed strings unreachable. */
    env_copies = calloc(nenv + 1, sizeof(char *));
    if (env_copies)
        memcpy((char **)env_copies, env, nenv * sizeof(char *));
    program_invocation_name = argv[0];
    const char *slash = strrchr(argv[0], '/');
    program_invocation_short_name = (char *)(slash ? slash + 1 : argv[0]);
}

static void set_title(const char *title)
{
    prctl(PR_SET_NAME, title, 0, 0, 0);
    if (area == NULL || area_len < 2)
        return;
    size_t n = strlen(title);
    if (n > area_len - 1)
        n = area_len - 1;
    memcpy(area, title, n);
    memset(area + n, 0, area_len - n);
    if (n + 1 < arg_len)
        area[arg_len - 1] = ' '; /* see the file comment */
}

static int titles_on(void)
{
    return conf.auto_procname || conf.prefix || conf.prefix_spaced || conf.append ||
           conf.master || conf.procname;
}

/* prefix + name + append into buf. */
static void compose(char *buf, size_t len, const char *name)
{
    const char *prefix = conf.prefix ? conf.prefix : "";
    const char *space = "";

    if (conf.prefix_spaced) {
        prefix = conf.prefix_spaced;
        space = " ";
    }
    snprintf(buf, len, "%s%s%s%s", prefix, space, name, conf.append ? conf.append : "");
}

void crl_procname_master(void)
{
    char title[TITLE_MAX];

    if (!titles_on())
        return;
    if (conf.prefix && conf.prefix_spaced)
        crl_log(CRL_LOG_WARN, 0, "procname-prefix and procname-prefix-spaced are both set; "
                "using procname-prefix-spaced");
    compose(title, sizeof(title),
            conf.master ? conf.master : conf.procname ? conf.procname : "corral master");
    set_title(title);
}

void crl_procname_worker(unsigned id)
{
    char title[TITLE_MAX], name[64];

    snprintf(name, sizeof(name), "corral worker %u", id);
    if (titles_on())
        compose(title, sizeof(title), conf.procname ? conf.procname : name);
    else
        snprintf(title, sizeof(title), "%s", name);
    set_title(title);
}
