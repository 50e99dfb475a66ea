/*
 * Static files (issue 5): static-map, static-map2, static-index,
 * static-expires-*, static-gzip, check-static, served with sendfile on
 * both the uwsgi and the HTTP sockets, before the application is called.
 */
#ifndef CRL_STATIC_H
#define CRL_STATIC_H

#include <corral/request.h>

int crl_static_options_register(void);

/* Load /etc/mime.types and resolve the configured roots; in the master,
 * after chdir. CRL_ERROR (logged) on an unusable configuration. */
int crl_static_init(void);

/* 1 when any static option is configured (the worker skips the lookup
 * otherwise). */
int crl_static_enabled(void);

/* Serve r from the static maps when its PATH_INFO matches one: CRL_OK when
 * a response (file, 304, 206, 403, 404, 416, ...) was sent through the
 * crl_response_* calls; CRL_DECLINED when no map matches (the app gets the
 * request). */
int crl_static_serve(crl_request_t *r);

#endif
