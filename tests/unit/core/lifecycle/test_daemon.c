/*
 * core/crl_daemon.c: umask parsing, privilege dropping (as root, in a
 * forked child that reports its /proc/self/status), chroot, pidfile2 and
 * daemonize/daemonize2 (a forked child detaches; the test reads what the
 * daemon wrote to its log file).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/crl_daemon.h"
#include "lifecycle_test.h"

static void setup(void)
{
    make_tmpdir();
    capture_log();
    cr_assert_eq(crl_daemon_options_register(), CRL_OK);
}

static void teardown(void)
{
    remove_tmpdir();
}

TestSuite(daemon, .init = setup, .fini = teardown, .timeout = 20);

/* ---- umask ---------------------------------------------------------------- */

static const struct {
    const char *value;
    int ok;
    mode_t mask;
} umask_cases[] = {
    { "022", 1, 022 },   { "0027", 1, 027 },      { "002", 1, 02 },  { "000", 1, 0 },
    { "77", 1, 077 },    { "027 ; comment", 1, 027 }, { " 022", 1, 022 },
    { "abc", 0, 0 },     { "", 0, 0 },            { "0999", 0, 0 },  { "01777", 0, 0 },
    { "1777", 0, 0 },    { "022x", 0, 0 },        { "-022", 0, 0 },
};

Test(daemon, umask_values)
{
    for (size_t i = 0; i < sizeof(umask_cases) / sizeof(umask_cases[0]); i++) {
        umask(0777);
        int rc = set_opt("umask", umask_cases[i].value);
        cr_assert_eq(rc == CRL_OK, umask_cases[i].ok, "umask '%s'", umask_cases[i].value);
        if (!umask_cases[i].ok)
            continue;
        crl_daemon_apply_umask();
        cr_assert_eq(umask(0), umask_cases[i].mask, "umask '%s'", umask_cases[i].value);
    }
    cr_assert(strstr(captured_log(), "option 'umask' at test.ini:7 expects an octal mask"),
              "log: %s", captured_log());
}

Test(daemon, no_umask_leaves_it_alone)
{
    umask(0023);
    crl_daemon_apply_umask();
    cr_assert_eq(umask(0), 0023);
}

/* ---- privileges ----------------------------------------------------------- */

/* Run fn in a child; it writes its Uid/Gid/Groups lines (or "FAILED") to
 * tmpdir/status. Returns the file's text. */
static const char *in_child(void (*fn)(void))
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        FILE *out = fopen(tmp_path("status"), "w");
        fn();
        if (crl_daemon_drop_privileges() != CRL_OK) {
            fprintf(out, "FAILED\n");
            fclose(out);
            _exit(0);
        }
        FILE *st = fopen("/proc/self/status", "r");
        char line[512];
        while (st && fgets(line, sizeof(line), st))
            if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4) ||
                !strncmp(line, "Groups:", 7))
                fputs(line, out);
        char cwd[256] = "";
        fprintf(out, "cwd=%s\n", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
        /* inside a chroot there is no /proc: the ids as the process sees them */
        fprintf(out, "ids=%u/%u marker=%d\n", (unsigned)getuid(), (unsigned)getgid(),
                access("/marker", F_OK) == 0);
        fclose(out);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return read_file(tmp_path("status"));
}

/* 1 when the Groups: line of a status text lists no group. */
static int no_groups(const char *s)
{
    const char *g = strstr(s, "Groups:");
    if (g == NULL)
        return 0;
    for (g += 7; *g && *g != '\n'; g++)
        if (*g != ' ' && *g != '\t')
            return 0;
    return 1;
}

static void need_root(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
}

static void as_nobody(void)
{
    gid_t extra[] = { 0, 4, 27 };
    setgroups(3, extra); /* root's groups must not survive the drop */
    set_opt("uid", "nobody");
}

Test(daemon, uid_nobody_gets_its_group_and_no_supplementary_groups)
{
    need_root();
    const char *s = in_child(as_nobody);
    cr_assert(strstr(s, "Uid:\t65534\t65534\t65534\t65534\n"), "%s", s);
    cr_assert(strstr(s, "Gid:\t65534\t65534\t65534\t65534\n"), "%s", s);
    cr_assert(no_groups(s), "%s", s);
    cr_assert(strstr(captured_log(), "running as uid 65534 gid 65534 with 0 supplementary"),
              "%s", captured_log());
}

static void numeric_ids(void)
{
    set_opt("uid", "65534");
    set_opt("gid", "65534");
}

Test(daemon, numeric_uid_and_gid)
{
    need_root();
    const char *s = in_child(numeric_ids);
    cr_assert(strstr(s, "Uid:\t65534\t65534\t65534\t65534\n"), "%s", s);
    cr_assert(strstr(s, "Gid:\t65534\t65534\t65534\t65534\n"), "%s", s);
}

/* A user that /etc/group lists as a member of some group, and that group. */
static char member_user[64];
static gid_t member_gid;

static int find_member(void)
{
    struct group *g;
    setgrent();
    while ((g = getgrent()) != NULL) {
        for (char **m = g->gr_mem; *m; m++) {
            struct passwd *pw = getpwnam(*m);
            if (pw && pw->pw_gid != g->gr_gid && pw->pw_uid != 0) {
                snprintf(member_user, sizeof(member_user), "%s", *m);
                member_gid = g->gr_gid;
                endgrent();
                return 1;
            }
        }
    }
    endgrent();
    return 0;
}

static void as_member(void)
{
    set_opt("uid", member_user);
}

static void as_member_no_initgroups(void)
{
    set_opt("uid", member_user);
    set_opt("no-initgroups", "true");
}

Test(daemon, uid_takes_the_users_supplementary_groups)
{
    need_root();
    if (!find_member())
        cr_skip_test("no user with supplementary groups in /etc/group");
    char want[32];
    snprintf(want, sizeof(want), "%u", (unsigned)member_gid);
    const char *s = in_child(as_member);
    const char *groups = strstr(s, "Groups:");
    cr_assert_not_null(groups, "%s", s);
    cr_assert(strstr(groups, want), "user %s should be in group %s: %s", member_user, want, s);
    s = in_child(as_member_no_initgroups);
    cr_assert(no_groups(s), "%s", s);
}

static void gid_only(void)
{
    set_opt("gid", "nogroup");
}

Test(daemon, gid_alone_resets_groups_and_warns_about_root)
{
    need_root();
    if (getgrnam("nogroup") == NULL)
        cr_skip_test("no group nogroup");
    const char *s = in_child(gid_only);
    cr_assert(strstr(s, "Uid:\t0\t0\t0\t0\n"), "%s", s);
    cr_assert(strstr(s, "Gid:\t65534\t65534\t65534\t65534\n"), "%s", s);
    cr_assert(no_groups(s), "%s", s);
    cr_assert(strstr(captured_log(), "warning: running as root"), "%s", captured_log());
}

static void unknown_user(void)
{
    set_opt("uid", "crl-no-such-user");
}

static void unknown_group(void)
{
    set_opt("uid", "nobody");
    set_opt("gid", "crl-no-such-group");
}

Test(daemon, unknown_user_or_group_is_one_clear_error)
{
    const char *s = in_child(unknown_user);
    cr_assert_str_eq(s, "FAILED\n");
    cr_assert(strstr(captured_log(), "error: option 'uid': no user named 'crl-no-such-user'\n"),
              "%s", captured_log());
    s = in_child(unknown_group);
    cr_assert_str_eq(s, "FAILED\n");
    cr_assert(strstr(captured_log(), "error: option 'gid': no group named 'crl-no-such-group'\n"),
              "%s", captured_log());
}

static void already_nobody_asks_for_root(void)
{
    if (setgid(65534) != 0 || setuid(65534) != 0)
        _exit(3);
    set_opt("uid", "root");
}

static void already_nobody_asks_for_nobody(void)
{
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
        _exit(3);
    set_opt("uid", "nobody");
}

Test(daemon, not_root_cannot_switch_but_may_name_itself)
{
    need_root(); /* to become nobody first */
    const char *s = in_child(already_nobody_asks_for_root);
    cr_assert_str_eq(s, "FAILED\n");
    cr_assert(strstr(captured_log(), "option 'uid': cannot switch to user root when not "
                                     "running as root"), "%s", captured_log());
    s = in_child(already_nobody_asks_for_nobody);
    cr_assert(strstr(s, "Uid:\t65534\t65534\t65534\t65534\n"), "%s", s);
}

static void jailed(void)
{
    mkdir(tmp_path("jail"), 0755);
    mkdir(tmp_path("jail/app"), 0755);
    close(open(tmp_path("jail/marker"), O_CREAT | O_WRONLY, 0644));
    if (chdir(tmp_path("jail/app")) != 0)
        _exit(3);
    set_opt("chroot", tmp_path("jail"));
    set_opt("uid", "nobody");
}

Test(daemon, chroot_keeps_the_working_directory_inside_the_jail)
{
    need_root();
    const char *s = in_child(jailed);
    cr_assert(strstr(s, "cwd=/app\nids=65534/65534 marker=1\n"), "%s", s);
    cr_assert(strstr(captured_log(), "chroot to "), "%s", captured_log());
}

/* ---- pidfile2 ------------------------------------------------------------- */

Test(daemon, pidfile2_holds_our_pid_and_vacuum_removes_it)
{
    char want[32];
    snprintf(want, sizeof(want), "%d\n", (int)getpid());
    cr_assert_eq(crl_daemon_write_pidfile2(), CRL_OK); /* not configured */
    set_opt("pidfile2", tmp_path("app.pid"));
    cr_assert_eq(crl_daemon_write_pidfile2(), CRL_OK);
    cr_assert_str_eq(read_file(tmp_path("app.pid")), want);
    crl_daemon_vacuum();
    cr_assert_eq(access(tmp_path("app.pid"), F_OK), -1);
}

Test(daemon, vacuum_keeps_a_pidfile2_taken_over_by_another_process)
{
    set_opt("pidfile2", tmp_path("app.pid"));
    cr_assert_eq(crl_daemon_write_pidfile2(), CRL_OK);
    FILE *f = fopen(tmp_path("app.pid"), "w");
    fprintf(f, "%d\n", (int)getpid() + 1);
    fclose(f);
    crl_daemon_vacuum();
    cr_assert_eq(access(tmp_path("app.pid"), F_OK), 0);
}

Test(daemon, pidfile2_in_a_missing_directory)
{
    set_opt("pidfile2", tmp_path("nodir/app.pid"));
    cr_assert_eq(crl_daemon_write_pidfile2(), CRL_ERROR);
    char want[512];
    snprintf(want, sizeof(want), "error: option 'pidfile2': cannot write %s: the directory %s "
             "does not exist\n", tmp_path("nodir/app.pid"), tmp_path("nodir"));
    cr_assert(strstr(captured_log(), want), "%s", captured_log());
}

/* ---- daemonize ------------------------------------------------------------ */

/* Poll file until it contains needle (5 s at most). */
static const char *wait_for(const char *path, const char *needle)
{
    for (int i = 0; i < 500; i++) {
        const char *s = read_file(path);
        if (strstr(s, needle))
            return s;
        usleep(10000);
    }
    return read_file(path);
}

/* In the daemon: report what a user would check, then leave. */
static void report_daemon(void)
{
    char in[64] = "";
    ssize_t n = readlink("/proc/self/fd/0", in, sizeof(in) - 1);
    in[n > 0 ? n : 0] = '\0';
    mode_t m = umask(0);
    printf("stdout pid=%d sid=%d umask=%03o stdin=%s\n", (int)getpid(), (int)getsid(0),
           (unsigned)m, in);
    fflush(stdout);
    fprintf(stderr, "stderr line\n");
}

Test(daemon, daemonize_returns_at_once_and_logs_to_the_file)
{
    set_opt("daemonize", tmp_path("daemon.log"));
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        if (crl_daemon_detach(CRL_DAEMON_EARLY) != CRL_OK)
            _exit(2);
        usleep(300000); /* the caller must not have waited for this */
        report_daemon();
        rename(tmp_path("daemon.log"), tmp_path("daemon.log.1"));
        crl_daemon_reopen_log();
        crl_log(CRL_LOG_INFO, 0, "after reopen");
        _exit(0);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int status;
    waitpid(child, &status, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_lt(t1.tv_sec - t0.tv_sec, 1, "the starting process waited for the daemon");
    const char *s = wait_for(tmp_path("daemon.log.1"), "stderr line");
    cr_assert(strstr(s, "detached: pid "), "%s", s);
    int pid = 0, sid = 0;
    const char *line = strstr(s, "stdout pid=");
    cr_assert_not_null(line, "%s", s);
    cr_assert_eq(sscanf(line, "stdout pid=%d sid=%d", &pid, &sid), 2);
    cr_assert_neq(pid, child);
    cr_assert_neq(sid, pid, "the daemon must not be a session leader");
    cr_assert(strstr(line, "umask=000 stdin=/dev/null\n"), "%s", s);
    cr_assert(strstr(wait_for(tmp_path("daemon.log"), "after reopen"), "after reopen"));
    /* the terminal's log got the notice before detaching */
    cr_assert(strstr(captured_log(), "detaching into the background"), "%s", captured_log());
}

Test(daemonize_true, writes_a_file_named_true, .timeout = 20)
{
    make_tmpdir();
    cr_assert_eq(crl_daemon_options_register(), CRL_OK);
    set_opt("daemonize", "true");
    set_opt("umask", "027");
    pid_t child = fork();
    if (child == 0) {
        umask(022);
        if (chdir(tmpdir) != 0 || crl_daemon_detach(CRL_DAEMON_EARLY) != CRL_OK)
            _exit(2);
        crl_daemon_apply_umask(); /* the master's order: detach, then umask */
        report_daemon();
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const char *s = wait_for(tmp_path("true"), "stderr line");
    cr_assert(strstr(s, "umask=027"), "umask set by the option is kept: %s", s);
    remove_tmpdir();
}

Test(daemon, daemonize_to_an_unusable_file_fails_before_forking)
{
    set_opt("daemonize", tmp_path("nodir/app.log"));
    pid_t me = getpid();
    cr_assert_eq(crl_daemon_detach(CRL_DAEMON_EARLY), CRL_ERROR);
    cr_assert_eq(getpid(), me);
    cr_assert(strstr(captured_log(), "error: option 'daemonize': cannot open the log file"),
              "%s", captured_log());
    cr_assert_eq(crl_daemon_detach(CRL_DAEMON_LATE), CRL_OK); /* daemonize2 not set */
}

Test(daemon, daemonize2_rewrites_pidfile2)
{
    set_opt("daemonize2", tmp_path("late.log"));
    set_opt("pidfile2", tmp_path("app.pid"));
    pid_t child = fork();
    if (child == 0) {
        if (crl_daemon_detach(CRL_DAEMON_EARLY) != CRL_OK || crl_daemon_write_pidfile2() != CRL_OK ||
            crl_daemon_detach(CRL_DAEMON_LATE) != CRL_OK)
            _exit(2);
        report_daemon();
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const char *s = wait_for(tmp_path("late.log"), "stderr line");
    int pid = 0;
    cr_assert_eq(sscanf(strstr(s, "stdout pid="), "stdout pid=%d", &pid), 1, "%s", s);
    char want[32];
    snprintf(want, sizeof(want), "%d\n", pid);
    cr_assert_str_eq(read_file(tmp_path("app.pid")), want);
}
