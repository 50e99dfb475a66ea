/*
 * The request as the core hands it to an application plugin, and the
 * functions the plugin calls to read the body and write the response.
 *
 * Whatever the socket spoke (uwsgi packet or HTTP/1.1), the plugin sees the
 * same CGI-style variables (REQUEST_METHOD, PATH_INFO, QUERY_STRING,
 * CONTENT_LENGTH, CONTENT_TYPE, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL,
 * REQUEST_URI, REMOTE_ADDR, HTTP_*, ...). Keys and values are slices into
 * the worker's buffers, valid until the plugin's handle() returns. Values
 * are raw bytes: PATH_INFO is already percent-decoded.
 *
 * The core owns framing: it writes the status line and headers it is given,
 * adds what the protocol needs, and combines the head with the first body
 * bytes in one writev.
 */
#ifndef CORRAL_REQUEST_H
#define CORRAL_REQUEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <corral/str.h>

typedef struct {
    crl_str_t key;
    crl_str_t value;
} crl_var_t;

typedef struct {
    crl_str_t name;
    crl_str_t value;
} crl_header_t;

typedef struct crl_request_s {
    const crl_var_t *vars;
    size_t nvars;
    int64_t content_length;   /* body length; 0 when there is no body; -1 when
                                 the length is not known in advance (a chunked
                                 HTTP upload): read until crl_request_read
                                 returns 0 */
    unsigned worker_id;       /* 1-based */
    uint8_t modifier1, modifier2;
    void *core;               /* the core's connection state; opaque */
} crl_request_t;

/* The value of variable `key` (NUL-terminated name), or CRL_STR_NULL. */
crl_str_t crl_request_var(const crl_request_t *r, const char *key);

/* Read up to len body bytes into buf. Returns the number read, 0 at the end
 * of the body (never reads past content_length), or -errno (-ETIMEDOUT when
 * the client is too slow, -ECONNRESET when it went away). */
ssize_t crl_request_read(crl_request_t *r, void *buf, size_t len);

/* Set the response status ("200 OK": code, space, reason) and headers.
 * Copied into the core's response buffer; nothing is sent yet. Returns
 * CRL_ERROR when a name or value holds CR, LF or NUL, the status is
 * malformed, or the head does not fit; the caller then sends a 500 with
 * crl_response_error(). Calling it again before anything is sent replaces
 * the pending head. */
int crl_response_start(crl_request_t *r, crl_str_t status, const crl_header_t *headers,
                       size_t nheaders);

/* Send body bytes (the pending head goes first, in the same writev).
 * Returns CRL_OK, or -errno when the client is gone or too slow; later
 * writes then fail at once without a syscall. */
int crl_response_write(crl_request_t *r, const void *data, size_t len);

/* Send the last body bytes and complete the response (like
 * crl_response_write then crl_response_finish). When nothing has been sent
 * yet the core knows the whole length and frames the response with it
 * (Content-Length, keep-alive) instead of chunked encoding: the fast path
 * for a body that is one buffer. */
int crl_response_end(crl_request_t *r, const void *data, size_t len);

/* Send len bytes of file fd from offset (sendfile). Same results. */
int crl_response_sendfile(crl_request_t *r, int fd, off_t offset, size_t len);

/* 1 once the head has been written to the socket. */
int crl_response_head_sent(const crl_request_t *r);

/* Complete the response (sends a pending head with an empty body). */
int crl_response_finish(crl_request_t *r);

/* Send a short plain-text error response (e.g. 500) if the head has not
 * been sent yet; otherwise mark the connection to be closed without
 * completing the response. */
void crl_response_error(crl_request_t *r, int status);

#endif
