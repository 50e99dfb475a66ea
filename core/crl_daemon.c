/*
 * The process environment of the instance: daemonize / daemonize2, umask,
 * chroot, the switch to uid and gid with the user's supplementary groups,
 * and pidfile2 (uWSGI's options of the same names).
 *
 * Invariants:
 *  - user and group names are resolved before chroot, so the jail needs no
 *    /etc/passwd; the group list is computed then too and only applied
 *    after chroot;
 *  - gid and the supplementary groups are set before uid (after setuid the
 *    process could no longer change them); when uid is set, root's groups
 *    never survive: the process gets the user's groups (initgroups) or none;
 *  - the log file of daemonize is opened before forking, so a bad path is
 *    reported on the terminal with a failing exit, never by a process that
 *    already detached;
 *  - pidfile2 is removed only while it still holds our pid.
 *
 * Where Corral differs from uWSGI, on purpose: with `uid` but no `gid`,
 * uWSGI kept gid 0 and root's supplementary groups; Corral takes the
 * user's primary group from the passwd entry. The primary gid is not
 * repeated in the supplementary list (it grants nothing more), so a user
 * with no other groups runs with an empty Groups: line.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/result.h>

#include "crl_daemon.h"
#include "crl_log.h"
#include "crl_option.h"

typedef struct {
    char *daemonize;
    char *daemonize2;
    char *uid;
    char *gid;
    int no_initgroups;
    long umask; /* -1: not set */
    char *chroot;
    char *pidfile2;
} crl_daemon_conf_t;

static crl_daemon_conf_t conf = { .umask = -1 };

static int parse_umask(const crl_option_t *opt, void *field, const char *value, char *err,
                       size_t errlen);

#define OFF(f) offsetof(crl_daemon_conf_t, f)
static const crl_option_t options[] = {
    { .name = "daemonize", .short_name = 'd', .type = CRL_OPT_STRING, .offset = OFF(daemonize),
      .help = "detach into the background at start and append stdout, stderr and the log to "
              "this file (a file name: `daemonize = true` writes to ./true, as in uWSGI)" },
    { .name = "daemonize2", .type = CRL_OPT_STRING, .offset = OFF(daemonize2),
      .help = "like daemonize, but detach only once the application has loaded" },
    { .name = "uid", .type = CRL_OPT_STRING, .offset = OFF(uid),
      .help = "after binding the sockets, run as this user (name or number); without gid the "
              "user's primary group is used, and the supplementary groups become the user's" },
    { .name = "gid", .type = CRL_OPT_STRING, .offset = OFF(gid),
      .help = "after binding the sockets, run as this group (name or number); supplementary "
              "groups are reset" },
    { .name = "no-initgroups", .type = CRL_OPT_BOOL, .offset = OFF(no_initgroups),
      .help = "with uid, drop every supplementary group instead of taking the user's" },
    { .name = "umask", .type = CRL_OPT_CUSTOM, .offset = OFF(umask), .parse = parse_umask,
      .help = "file creation mask in octal (022, 0027), set before the sockets are bound" },
    { .name = "chroot", .type = CRL_OPT_STRING, .offset = OFF(chroot),
      .help = "chroot into this directory before switching uid/gid (needs root)" },
    { .name = "pidfile2", .type = CRL_OPT_STRING, .offset = OFF(pidfile2),
      .help = "write the master's pid to this file after dropping privileges" },
};

/* The log file daemonize opened (for crl_daemon_reopen_log). */
static const char *active_log;
static int pidfile2_written;

int crl_daemon_options_register(void)
{
    return crl_option_register("daemon", options, sizeof(options) / sizeof(options[0]), &conf);
}

/* ---- umask ----------------------------------------------------------------- */

/* One to four octal digits ("22", "022", "0027"); blanks and an inline
 * comment after them are ignored, as uWSGI read only the digits. */
static int parse_umask(const crl_option_t *opt, void *field, const char *value, char *err,
                       size_t errlen)
{
    const char *p = value;
    size_t n;

    while (*p == ' ' || *p == '\t')
        p++;
    n = strspn(p, "01234567");
    const char *rest = p + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (n == 0 || n > 4 || (*rest != '\0' && *rest != ';' && *rest != '#') ||
        strtol(p, NULL, 8) > 0777) {
        snprintf(err, errlen, "expects an octal mask like 022, got '%s'", value);
        return CRL_ERROR;
    }
    *(long *)field = strtol(p, NULL, 8);
    return CRL_OK;
}

void crl_daemon_apply_umask(void)
{
    if (conf.umask >= 0)
        umask((mode_t)conf.umask);
}

/* ---- daemonize ------------------------------------------------------------- */

/* fork(); the parent leaves at once with _exit (no atexit handlers, no
 * stdio flush: those belong to the process that goes on). Only the child
 * returns. A failed fork in the intermediate process ends it: returning
 * would leave two processes running the instance. */
static int fork_and_leave(int first)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        crl_log(CRL_LOG_ERR, errno, "cannot fork to detach into the background");
        if (!first)
            _exit(1);
        return CRL_ERROR;
    }
    if (pid > 0)
        _exit(0);
    return CRL_OK;
}

static void point_std_fds(int nullfd, int logfd)
{
    dup2(nullfd, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    if (nullfd > 2)
        close(nullfd);
    if (logfd > 2)
        close(logfd);
    if (crl_log_fd > 2)
        close(crl_log_fd);
    crl_log_fd = 2;
}

static int write_pid(const char *path)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0)
        return -errno;
    ssize_t w = write(fd, buf, (size_t)n);
    int saved = errno;
    close(fd);
    return w == n ? 0 : -(w < 0 ? saved : EIO);
}

static void log_pidfile2_error(int err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", conf.pidfile2);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    struct stat st;
    if (err == ENOENT && slash && stat(dir, &st) != 0)
        crl_log(CRL_LOG_ERR, 0, "option 'pidfile2': cannot write %s: the directory %s does not "
                "exist", conf.pidfile2, dir);
    else
        crl_log(CRL_LOG_ERR, err, "option 'pidfile2': cannot write %s", conf.pidfile2);
}

int crl_daemon_detach(int when)
{
    const char *name = when == CRL_DAEMON_EARLY ? "daemonize" : "daemonize2";
    const char *path = when == CRL_DAEMON_EARLY ? conf.daemonize : conf.daemonize2;
    int logfd = -1, nullfd = -1, rc = CRL_ERROR;

    if (path == NULL)
        return CRL_OK;
    if (strchr(path, ':') && !strchr(path, '/')) {
        crl_log(CRL_LOG_ERR, 0, "option '%s': '%s' looks like a UDP address; Corral logs only "
                "to files", name, path);
        return CRL_ERROR;
    }
    logfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (logfd < 0) {
        crl_log(CRL_LOG_ERR, errno, "option '%s': cannot open the log file %s", name, path);
        goto done;
    }
    nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nullfd < 0) {
        crl_log(CRL_LOG_ERR, errno, "option '%s': cannot open /dev/null", name);
        goto done;
    }
    crl_log(CRL_LOG_INFO, 0, "detaching into the background; the log goes on in %s", path);
    if (fork_and_leave(1) != CRL_OK)
        goto done;
    /* A new session without a terminal; the second fork makes sure the
     * daemon, no longer a session leader, can never acquire one again. */
    setsid();
    fork_and_leave(0);
    if (conf.umask < 0)
        umask(0); /* uWSGI's daemonize does this unless umask is set */
    point_std_fds(nullfd, logfd);
    logfd = nullfd = -1;
    active_log = path;
    if (when == CRL_DAEMON_LATE && pidfile2_written) {
        int err = write_pid(conf.pidfile2);
        if (err)
            log_pidfile2_error(-err);
    }
    crl_log(CRL_LOG_INFO, 0, "detached: pid %d", (int)getpid());
    rc = CRL_OK;
done:
    if (logfd >= 0)
        close(logfd);
    if (nullfd >= 0)
        close(nullfd);
    return rc;
}

int crl_daemon_reopen_log(void)
{
    if (active_log == NULL)
        return CRL_DECLINED;
    int fd = open(active_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) {
        crl_log(CRL_LOG_ERR, errno, "cannot reopen the log file %s", active_log);
        return CRL_ERROR;
    }
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    return CRL_OK;
}

/* ---- privileges ------------------------------------------------------------ */

typedef struct {
    int has_uid, has_gid;
    uid_t uid;
    gid_t gid;
    char user[256];  /* passwd name of uid, "" when it has none */
    gid_t *groups;   /* supplementary groups to set (malloc'ed), without gid */
    int ngroups;
} creds_t;

static int all_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

static int resolve_user(creds_t *c)
{
    struct passwd *pw;

    errno = 0;
    if (all_digits(conf.uid)) {
        c->uid = (uid_t)strtoul(conf.uid, NULL, 10);
        pw = getpwuid(c->uid);
    } else {
        pw = getpwnam(conf.uid);
        if (pw == NULL) {
            crl_log(CRL_LOG_ERR, errno == ENOENT ? 0 : errno,
                    "option 'uid': no user named '%s'", conf.uid);
            return CRL_ERROR;
        }
        c->uid = pw->pw_uid;
    }
    c->has_uid = 1;
    if (pw) {
        snprintf(c->user, sizeof(c->user), "%s", pw->pw_name);
        if (!c->has_gid) {
            c->gid = pw->pw_gid; /* see the file comment: never keep gid 0 */
            c->has_gid = 1;
        }
    }
    return CRL_OK;
}

static int resolve_group(creds_t *c)
{
    if (all_digits(conf.gid)) {
        c->gid = (gid_t)strtoul(conf.gid, NULL, 10);
    } else {
        errno = 0;
        struct group *gr = getgrnam(conf.gid);
        if (gr == NULL) {
            crl_log(CRL_LOG_ERR, errno == ENOENT ? 0 : errno,
                    "option 'gid': no group named '%s'", conf.gid);
            return CRL_ERROR;
        }
        c->gid = gr->gr_gid;
    }
    c->has_gid = 1;
    return CRL_OK;
}

/* The user's groups as initgroups() would set them, minus the primary gid. */
static int resolve_groups(creds_t *c)
{
    int n = 64;

    if (!c->has_uid || conf.no_initgroups || c->user[0] == '\0')
        return CRL_OK;
    for (;;) {
        gid_t *list = realloc(c->groups, (size_t)n * sizeof(*list));
        if (list == NULL) {
            crl_log(CRL_LOG_ERR, ENOMEM, "groups of user %s", c->user);
            return CRL_ERROR;
        }
        c->groups = list;
        int want = n;
        if (getgrouplist(c->user, c->gid, list, &want) >= 0) {
            n = want;
            break;
        }
        n = want > n ? want : n * 2;
    }
    c->ngroups = 0;
    for (int i = 0; i < n; i++)
        if (c->groups[i] != c->gid)
            c->groups[c->ngroups++] = c->groups[i];
    return CRL_OK;
}

static int resolve(creds_t *c)
{
    memset(c, 0, sizeof(*c));
    if (conf.gid && resolve_group(c) != CRL_OK)
        return CRL_ERROR;
    if (conf.uid && resolve_user(c) != CRL_OK)
        return CRL_ERROR;
    return resolve_groups(c);
}

/* Not root: nothing can be switched; succeed only when nothing needs to. */
static int check_unprivileged(const creds_t *c)
{
    if (conf.chroot) {
        crl_log(CRL_LOG_ERR, 0, "option 'chroot': only root can chroot to %s (running as uid "
                "%u)", conf.chroot, (unsigned)getuid());
        return CRL_ERROR;
    }
    if (conf.gid && c->gid != getgid()) {
        crl_log(CRL_LOG_ERR, 0, "option 'gid': cannot switch to group %s when not running as "
                "root (running as gid %u)", conf.gid, (unsigned)getgid());
        return CRL_ERROR;
    }
    if (conf.uid && c->uid != getuid()) {
        crl_log(CRL_LOG_ERR, 0, "option 'uid': cannot switch to user %s when not running as "
                "root (running as uid %u)", conf.uid, (unsigned)getuid());
        return CRL_ERROR;
    }
    return CRL_OK;
}

/* chroot, then move to the same directory inside the jail when the
 * current one is in it (relative paths keep working), else to its root:
 * a working directory left outside would be a way out. */
static int enter_chroot(void)
{
    char jail[PATH_MAX], cwd[PATH_MAX];
    const char *inside = "/";

    if (realpath(conf.chroot, jail) == NULL) {
        crl_log(CRL_LOG_ERR, errno, "option 'chroot': %s", conf.chroot);
        return CRL_ERROR;
    }
    size_t n = strlen(jail);
    if (getcwd(cwd, sizeof(cwd)) && strncmp(cwd, jail, n) == 0 &&
        (cwd[n] == '/' || cwd[n] == '\0'))
        inside = cwd[n] ? cwd + n : "/";
    if (chroot(jail) != 0) {
        crl_log(CRL_LOG_ERR, errno, "option 'chroot': chroot to %s", jail);
        return CRL_ERROR;
    }
    if (chdir(inside) != 0 && chdir("/") != 0) {
        crl_log(CRL_LOG_ERR, errno, "option 'chroot': chdir inside %s", jail);
        return CRL_ERROR;
    }
    crl_log(CRL_LOG_INFO, 0, "chroot to %s (working directory %s)", jail, inside);
    return CRL_OK;
}

static int switch_ids(const creds_t *c)
{
    if (c->has_gid && setgid(c->gid) != 0) {
        crl_log(CRL_LOG_ERR, errno, "cannot switch to gid %u", (unsigned)c->gid);
        return CRL_ERROR;
    }
    if ((c->has_gid || c->has_uid) && setgroups((size_t)c->ngroups, c->groups) != 0) {
        crl_log(CRL_LOG_ERR, errno, "cannot set the supplementary groups");
        return CRL_ERROR;
    }
    if (c->has_uid && setuid(c->uid) != 0) {
        crl_log(CRL_LOG_ERR, errno, "cannot switch to uid %u", (unsigned)c->uid);
        return CRL_ERROR;
    }
    return CRL_OK;
}

int crl_daemon_drop_privileges(void)
{
    creds_t c;
    int rc = CRL_ERROR;

    if (resolve(&c) != CRL_OK)
        goto done;
    if (geteuid() != 0) {
        rc = check_unprivileged(&c);
        goto done;
    }
    if (conf.chroot && enter_chroot() != CRL_OK)
        goto done;
    if (c.has_uid && !c.has_gid)
        crl_log(CRL_LOG_WARN, 0, "uid %s has no passwd entry and gid is not set: the group "
                "stays %u; set gid", conf.uid, (unsigned)getgid());
    if (switch_ids(&c) != CRL_OK)
        goto done;
    if (c.has_uid)
        crl_log(CRL_LOG_INFO, 0, "running as uid %u gid %u with %d supplementary group(s)",
                (unsigned)getuid(), (unsigned)getgid(), c.ngroups);
    else
        crl_log(CRL_LOG_WARN, 0, "running as root: the application can do anything root can; "
                "set uid (and gid) to drop privileges");
    rc = CRL_OK;
done:
    free(c.groups);
    return rc;
}

/* ---- pidfile2 -------------------------------------------------------------- */

int crl_daemon_write_pidfile2(void)
{
    if (conf.pidfile2 == NULL)
        return CRL_OK;
    int err = write_pid(conf.pidfile2);
    if (err) {
        log_pidfile2_error(-err);
        return CRL_ERROR;
    }
    pidfile2_written = 1;
    return CRL_OK;
}

void crl_daemon_vacuum(void)
{
    char buf[32] = { 0 };

    if (!pidfile2_written)
        return;
    int fd = open(conf.pidfile2, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0 && atol(buf) == (long)getpid() && unlink(conf.pidfile2) != 0)
        crl_log(CRL_LOG_WARN, errno, "vacuum: cannot remove %s", conf.pidfile2);
}

int crl_daemon_chroot_configured(void)
{
    return conf.chroot != NULL;
}

int crl_daemon_detaches_late(void)
{
    return conf.daemonize2 != NULL;
}
