/*
 * The master process: prepares the process (env, chdir, sockets, pidfile,
 * plugins, the preloaded app), forks the workers and supervises them until
 * it is told to stop.
 */
#ifndef CRL_MASTER_H
#define CRL_MASTER_H

int crl_master_options_register(void);

/* The command line, kept for a reload that re-executes corral. */
void crl_master_set_argv(int argc, char **argv);

/* Run the instance. Returns the process exit status: 0 after a requested
 * shutdown, 1 when start-up failed (already logged). */
int crl_master_run(void);

#endif
