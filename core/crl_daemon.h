/*
 * The process environment of the instance: daemonizing, privileges and
 * the second pidfile (issue 4).
 *
 * The master calls these in this order:
 *   crl_daemon_options_register()          at start, with the other tables
 *   crl_daemon_detach(CRL_DAEMON_EARLY)     after the config is read, before
 *                                           anything else (daemonize)
 *   crl_daemon_apply_umask()                before sockets are bound
 *   ... sockets bound, chmod/chown, pidfile written ...
 *   crl_daemon_drop_privileges()            chroot, gid, groups, uid
 *   crl_daemon_write_pidfile2()             pidfile2, as the dropped user
 *   ... app loaded ...
 *   crl_daemon_detach(CRL_DAEMON_LATE)      daemonize2
 *   crl_daemon_vacuum()                     at exit, with vacuum
 */
#ifndef CRL_DAEMON_H
#define CRL_DAEMON_H

enum { CRL_DAEMON_EARLY, CRL_DAEMON_LATE };

int crl_daemon_options_register(void);

/* daemonize (EARLY) / daemonize2 (LATE) = LOGFILE: when configured, fork;
 * the parent exits 0 at once (the caller's terminal gets its prompt back),
 * the child calls setsid(), reopens stdin on /dev/null and stdout/stderr
 * (and crl_log_fd) on LOGFILE (append). Returns CRL_OK in the child (or
 * when not configured), CRL_ERROR (logged) when LOGFILE cannot be opened.
 * The pid that stays is the master's. Must run before any worker is
 * forked (the process that continues is a new child). Without umask the
 * daemon's umask becomes 0, as in uWSGI. After LATE, a pidfile2 already
 * written is rewritten with the new pid; the master must rewrite its own
 * pidfile likewise. */
int crl_daemon_detach(int when);

/* Reopen the daemonize log file on stdout/stderr (SIGUSR2, log rotation).
 * CRL_DECLINED when the process did not daemonize; CRL_ERROR (logged) when
 * the file cannot be opened. */
int crl_daemon_reopen_log(void);

/* umask option (octal, e.g. 022). */
void crl_daemon_apply_umask(void);

/* chroot, then gid, supplementary groups (initgroups for uid's user, or
 * none), then uid. Names or numbers; without gid, uid's primary group.
 * Logs a warning when running as root without uid. Not running as root:
 * CRL_OK only when uid/gid already match and there is no chroot.
 * CRL_ERROR (logged) on an unknown user or group or a failed call: the
 * master then exits. */
int crl_daemon_drop_privileges(void);

/* Write pidfile2 (after the drop). CRL_OK when not configured. */
int crl_daemon_write_pidfile2(void);

/* 1 when daemonize2 is configured (the master's pid changes after the
 * app is loaded). */
int crl_daemon_detaches_late(void);

/* 1 when the instance runs in a chroot (a re-exec reload is impossible
 * there: the binary is outside). */
int crl_daemon_chroot_configured(void);

/* Remove pidfile2 when it still holds our pid. */
void crl_daemon_vacuum(void);

#endif
