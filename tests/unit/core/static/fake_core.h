/*
 * Fakes for the static-file tests: a request built from variable pairs, a
 * response recorder in place of the core's crl_response_* calls, an option
 * registry that stores values with the rows' types, and a log recorder.
 */
#ifndef FAKE_CORE_H
#define FAKE_CORE_H

#include <stddef.h>
#include <sys/types.h>

#include <corral/request.h>

#define FAKE_MAX_HEADERS 32
#define FAKE_BODY_MAX (1 << 16)

typedef struct {
    int started;       /* crl_response_start succeeded */
    int finished;      /* crl_response_finish called */
    int status;        /* from the status line, or crl_response_error's */
    char status_line[64];
    int error_called;  /* crl_response_error */
    size_t nheaders;
    char names[FAKE_MAX_HEADERS][64];
    char values[FAKE_MAX_HEADERS][2048];
    char body[FAKE_BODY_MAX];
    size_t body_len;
    int sendfile_calls;
} fake_resp_t;

extern fake_resp_t fake_resp;
extern int fake_warnings;
extern char fake_last_log[1024];

/* Reset the recorder and build a request from NULL-terminated
 * key, value, key, value, ... pairs (strings copied). */
crl_request_t *fake_request(const char *first_key, ...);

/* A variant whose values may hold NUL bytes: vlen gives PATH_INFO's length. */
crl_request_t *fake_request_path(const char *method, const char *path, size_t plen);

/* The value of response header name (case-insensitive), or NULL. */
const char *fake_header(const char *name);

/* Set an option registered by the module, by name or alias; CRL_OK or
 * CRL_ERROR when unknown or invalid. */
int fake_option_set(const char *name, const char *value);

/* Registered rows, to check the table itself. */
const void *fake_option_rows(size_t *n);

#endif
