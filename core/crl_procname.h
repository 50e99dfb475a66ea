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
 * written over. argv[i] and environ are pointed at heap copies that live
 * until exit. Only the first call has an effect. */
void crl_procname_init(int argc, char **argv);

/* Set the title of the master / of worker id, as the options say. Any
 * procname option (auto-procname included) turns titles on: the master
 * becomes procname-master, procname or "corral master", a worker procname
 * or "corral worker N", each between procname-prefix(-spaced) and
 * procname-append. With no option set the master's title is left alone
 * and a worker is still titled "corral worker N". Also sets
 * prctl(PR_SET_NAME). Call crl_procname_worker() in the worker right after
 * fork. */
void crl_procname_master(void);
void crl_procname_worker(unsigned id);

#endif
