/*
 * Core side of include/corral/server.h: the master and workers record the
 * facts the plugin API reports.
 */
#ifndef CRL_SERVER_CORE_H
#define CRL_SERVER_CORE_H

#include <stdint.h>
#include <sys/types.h>

void crl__server_set_master(pid_t master, unsigned processes, unsigned threads);
void crl__server_set_worker(unsigned id);
void crl__server_count_request(void);

#endif
