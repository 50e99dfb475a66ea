/*
 * core/crl_procname.c: titles as /proc/self/cmdline and /proc/self/comm
 * show them (the real argv block, captured by a constructor that glibc
 * calls with argc/argv), the option rules, and that argv[] and the
 * environment stay usable after the block is overwritten.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/crl_procname.h"
#include "lifecycle_test.h"

static int real_argc;
static char **real_argv;

/* glibc passes (argc, argv, envp) to ELF constructors. */
__attribute__((constructor)) static void grab_argv(int argc, char **argv, char **envp)
{
    (void)envp;
    real_argc = argc;
    real_argv = argv;
}

/* /proc/self/cmdline with NULs shown as '|' (a title reads "title|",
 * exactly like a one-word command line). */
static const char *cmdline(void)
{
    static char buf[8192];
    int fd = open("/proc/self/cmdline", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = '|';
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static const char *comm(void)
{
    static char buf[64];
    snprintf(buf, sizeof(buf), "%s", read_file("/proc/self/comm"));
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

static char before[8192];

static void setup(void)
{
    make_tmpdir();
    capture_log();
    cr_assert_eq(crl_procname_options_register(), CRL_OK);
    cr_assert_geq(real_argc, 1);
    setenv("CRL_TEST_KEEP", "still here", 1);
    snprintf(before, sizeof(before), "%s", cmdline());
    crl_procname_init(real_argc, real_argv);
}

static void teardown(void)
{
    remove_tmpdir();
}

TestSuite(procname, .init = setup, .fini = teardown, .timeout = 10);

Test(procname, default_worker_title_and_untouched_master)
{
    crl_procname_master();
    cr_assert_str_eq(cmdline(), before, "no option: the master keeps its command line");
    crl_procname_worker(1);
    cr_assert_str_eq(cmdline(), "corral worker 1|");
    cr_assert_str_eq(comm(), "corral worker 1");
    crl_procname_worker(12);
    cr_assert_str_eq(cmdline(), "corral worker 12|");
    cr_assert_str_eq(comm(), "corral worker 1"); /* the kernel keeps 15 bytes */
}

Test(procname, auto_procname_titles_the_master)
{
    set_opt("auto-procname", "true");
    crl_procname_master();
    cr_assert_str_eq(cmdline(), "corral master|");
    cr_assert_str_eq(comm(), "corral master");
}

static const struct {
    const char *opts[4][2];
    const char *master, *worker;
} cases[] = {
    { { { "procname-prefix", "app-" } }, "app-corral master", "app-corral worker 3" },
    { { { "procname-prefix-spaced", "[indico]" } }, "[indico] corral master",
      "[indico] corral worker 3" },
    { { { "procname-append", " (prod)" } }, "corral master (prod)", "corral worker 3 (prod)" },
    { { { "procname-master", "boss" } }, "boss", "corral worker 3" },
    { { { "procname", "shop" } }, "shop", "shop" },
    { { { "procname", "shop" }, { "procname-master", "shop master" } }, "shop master", "shop" },
    { { { "procname-prefix", "x " }, { "procname-append", "!" }, { "procname-master", "m" } },
      "x m!", "x corral worker 3!" },
};

Test(procname, options)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pid_t pid = fork(); /* options cannot be unset: one process per case */
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            for (int k = 0; k < 4 && cases[i].opts[k][0]; k++)
                set_opt(cases[i].opts[k][0], cases[i].opts[k][1]);
            crl_procname_master();
            char want[128];
            snprintf(want, sizeof(want), "%s|", cases[i].master);
            int ok = strcmp(cmdline(), want) == 0;
            crl_procname_worker(3);
            snprintf(want, sizeof(want), "%s|", cases[i].worker);
            ok = ok && strcmp(cmdline(), want) == 0;
            if (!ok)
                fprintf(stderr, "case %zu: cmdline '%s'\n", i, cmdline());
            _exit(ok ? 0 : 1);
        }
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "case %zu (master '%s')", i,
                  cases[i].master);
    }
}

Test(procname, argv_and_environment_survive)
{
    char *saved0 = strdup(real_argv[0]);
    set_opt("procname", "a title long enough to run over the whole argv block, environment "
                        "strings included, as long as it fits in the area");
    crl_procname_master();
    cr_assert_str_eq(real_argv[0], saved0, "argv[] points to copies");
    cr_assert_str_eq(getenv("CRL_TEST_KEEP"), "still here");
    cr_assert_str_eq(program_invocation_name, saved0);
    cr_assert(strncmp(cmdline(), "a title long enough", 19) == 0, "%s", cmdline());
    free(saved0);
}

Test(procname, title_is_cut_to_the_block)
{
    char big[100000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    set_opt("procname", big);
    crl_procname_master();
    const char *c = cmdline();
    cr_assert_gt(strlen(c), 0);
    cr_assert_lt(strlen(c), sizeof(big) - 1);
    size_t xs = strspn(c, "x");
    cr_assert_gt(xs, 0);
    cr_assert_str_eq(c + xs, "|", "only the title, no stale bytes: %.80s", c + xs);
}

Test(procname_fake, block_that_is_not_the_process_argv, .timeout = 10)
{
    /* a contiguous argv that is not the process's: that buffer is written */
    static char block[] = "prog\0--ini\0app.ini";
    char *argv[] = { block, block + 5, block + 11, NULL };
    crl_procname_init(3, argv);
    cr_assert_str_eq(argv[1], "--ini");
    crl_procname_worker(2);
    cr_assert_str_eq(block, "corral worker 2");
    cr_assert_str_eq(argv[2], "app.ini");
    crl_procname_init(3, argv); /* a second call changes nothing */
    cr_assert_str_eq(argv[2], "app.ini");
    for (int i = 0; i < 3; i++)
        free(argv[i]);
}
