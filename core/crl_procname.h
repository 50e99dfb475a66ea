/*
 * Process titles as `ps` shows them ("corral master", "corral worker 1"),
 * with uWSGI's options auto-procname, procname-prefix,
 * procname-prefix-spaced, procname-append, procname-master, procname.
 */
#ifndef CRL_PROCNAME_H
#define CRL_PROCNAME_H

int crl_procname_options_register(void);

/* Call first in main(), before anything reads argv or environ: records the
 * memory of argv (and environ, which is copied elsewhere) that titles are
 * written over. */
void crl_procname_init(int argc, char **argv);

/* Set the title of the master / of worker id, as the options say (no-op
 * when no procname option is set, except that "corral worker N" titles are
 * always set by auto-procname). Also sets prctl(PR_SET_NAME). */
void crl_procname_master(void);
void crl_procname_worker(unsigned id);

#endif
