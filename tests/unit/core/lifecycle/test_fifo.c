/*
 * core/crl_fifo.c: FIFOs created and replaced as they should be, commands
 * read as `echo X > fifo` writes them, digits switching the selected FIFO,
 * no EOF spin after a writer leaves, and vacuum removing only our FIFOs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/crl_fifo.h"
#include "lifecycle_test.h"

static void setup(void)
{
    make_tmpdir();
    capture_log();
    cr_assert_eq(crl_fifo_options_register(), CRL_OK);
}

static void teardown(void)
{
    crl_fifo_vacuum();
    remove_tmpdir();
}

TestSuite(fifo, .init = setup, .fini = teardown, .timeout = 10);

/* What `echo text > path` does: open for writing, write, close. */
static void echo_to(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_NONBLOCK);
    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Commands available now on the selected FIFO, as a string. */
static const char *commands(void)
{
    static char buf[64];
    size_t n = crl_fifo_read(buf, sizeof(buf) - 1);
    buf[n] = '\0';
    return buf;
}

static int readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) > 0 ? p.revents : 0;
}

Test(fifo, none_configured)
{
    cr_assert_eq(crl_fifo_open(), CRL_OK);
    cr_assert_eq(crl_fifo_fd(), -1);
    cr_assert_str_eq(commands(), "");
}

Test(fifo, echo_commands_and_no_eof_spin)
{
    set_opt("master-fifo", tmp_path("ctl"));
    cr_assert_eq(crl_fifo_open(), CRL_OK);
    struct stat st;
    cr_assert_eq(stat(tmp_path("ctl"), &st), 0);
    cr_assert(S_ISFIFO(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0600);
    int fd = crl_fifo_fd();
    cr_assert_geq(fd, 0);
    cr_assert_eq(readable(fd), 0);

    echo_to(tmp_path("ctl"), "r\n");
    cr_assert(readable(fd) & POLLIN);
    cr_assert_str_eq(commands(), "r");
    /* the writer has gone: nothing to read, and no POLLHUP to spin on */
    cr_assert_eq(readable(fd), 0);
    cr_assert_str_eq(commands(), "");

    echo_to(tmp_path("ctl"), "s c\tQ?\r\n");
    cr_assert_str_eq(commands(), "scQ?");
}

Test(fifo, digits_select_another_fifo)
{
    set_opt("master-fifo", tmp_path("f0"));
    set_opt("master-fifo", tmp_path("f1"));
    cr_assert_eq(crl_fifo_open(), CRL_OK);
    int fd0 = crl_fifo_fd();

    /* written to f1 while it is not selected: discarded on selection */
    echo_to(tmp_path("f1"), "Q");
    echo_to(tmp_path("f0"), "r1s\n");
    cr_assert_str_eq(commands(), "rs"); /* s came through f0 before the switch took effect */
    int fd1 = crl_fifo_fd();
    cr_assert_neq(fd1, fd0);
    cr_assert_eq(readable(fd1), 0, "stale bytes of f1 must be gone");
    cr_assert(strstr(captured_log(), "discarded 1 byte(s) written to"), "%s", captured_log());
    cr_assert(strstr(captured_log(), "master fifo is now "), "%s", captured_log());

    echo_to(tmp_path("f1"), "c\n");
    cr_assert_str_eq(commands(), "c");

    /* a slot that does not exist: logged, selection unchanged */
    echo_to(tmp_path("f1"), "7q");
    cr_assert_str_eq(commands(), "q");
    cr_assert_eq(crl_fifo_fd(), fd1);
    cr_assert(strstr(captured_log(), "selects FIFO number 7, but only 2 are configured"), "%s",
              captured_log());

    echo_to(tmp_path("f1"), "0");
    cr_assert_str_eq(commands(), "");
    cr_assert_eq(crl_fifo_fd(), fd0);
}

Test(fifo, stale_fifo_is_replaced)
{
    cr_assert_eq(mkfifo(tmp_path("ctl"), 0644), 0);
    int old = open(tmp_path("ctl"), O_RDWR | O_NONBLOCK); /* the old instance's */
    cr_assert_geq(old, 0);
    set_opt("master-fifo", tmp_path("ctl"));
    cr_assert_eq(crl_fifo_open(), CRL_OK);
    struct stat st;
    cr_assert_eq(fstat(old, &st), 0);
    cr_assert_eq(st.st_nlink, 0, "the stale FIFO was unlinked");
    cr_assert_eq(stat(tmp_path("ctl"), &st), 0);
    cr_assert(S_ISFIFO(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0600);
    echo_to(tmp_path("ctl"), "r");
    cr_assert_str_eq(commands(), "r");
    close(old);
}

Test(fifo, regular_file_is_never_replaced)
{
    FILE *f = fopen(tmp_path("data"), "w");
    fputs("precious\n", f);
    fclose(f);
    set_opt("master-fifo", tmp_path("ok"));
    set_opt("master-fifo", tmp_path("data"));
    cr_assert_eq(crl_fifo_open(), CRL_ERROR);
    cr_assert_str_eq(read_file(tmp_path("data")), "precious\n");
    char want[256];
    snprintf(want, sizeof(want), "error: master-fifo '%s' at test.ini:7: the path exists and is "
             "not a FIFO", tmp_path("data"));
    cr_assert(strstr(captured_log(), want), "%s", captured_log());
    /* the first FIFO, created before the failure, is cleaned up */
    cr_assert_eq(access(tmp_path("ok"), F_OK), -1);
    cr_assert_eq(crl_fifo_fd(), -1);
}

Test(fifo, missing_directory_names_file_and_line)
{
    set_opt("master-fifo", tmp_path("nodir/ctl"));
    cr_assert_eq(crl_fifo_open(), CRL_ERROR);
    cr_assert(strstr(captured_log(), "at test.ini:7: cannot create the FIFO: No such file"),
              "%s", captured_log());
}

Test(fifo, too_many_and_duplicates)
{
    char name[16];
    for (int i = 0; i < 11; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        set_opt("master-fifo", tmp_path(name));
    }
    cr_assert_eq(crl_fifo_open(), CRL_ERROR);
    cr_assert(strstr(captured_log(), "at most 10 master-fifo"), "%s", captured_log());
    cr_assert_eq(access(tmp_path("f0"), F_OK), -1, "nothing created on a config error");
}

Test(fifo, duplicate_path)
{
    set_opt("master-fifo", tmp_path("ctl"));
    set_opt("master-fifo", tmp_path("ctl"));
    cr_assert_eq(crl_fifo_open(), CRL_ERROR);
    cr_assert(strstr(captured_log(), "listed twice"), "%s", captured_log());
}

Test(fifo, vacuum_removes_only_our_fifos)
{
    set_opt("master-fifo", tmp_path("mine"));
    set_opt("master-fifo", tmp_path("taken"));
    cr_assert_eq(crl_fifo_open(), CRL_OK);
    /* another instance replaced the second one meanwhile */
    unlink(tmp_path("taken"));
    cr_assert_eq(mkfifo(tmp_path("taken"), 0600), 0);
    crl_fifo_vacuum();
    cr_assert_eq(access(tmp_path("mine"), F_OK), -1);
    cr_assert_eq(access(tmp_path("taken"), F_OK), 0);
    cr_assert_eq(crl_fifo_fd(), -1);
}

Test(fifo, a_forked_child_closes_without_removing)
{
    set_opt("master-fifo", tmp_path("ctl"));
    cr_assert_eq(crl_fifo_open(), CRL_OK);
    pid_t pid = fork();
    if (pid == 0) {
        crl_fifo_close();
        crl_fifo_vacuum(); /* not the creator: must not unlink */
        _exit(crl_fifo_fd() == -1 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(access(tmp_path("ctl"), F_OK), 0);
    cr_assert_geq(crl_fifo_fd(), 0);
}
