/*
 * One client connection in a worker: the receive buffer, the parsed request
 * handed to the app plugin, and the response state behind the
 * crl_request_* / crl_response_* calls of include/corral/request.h.
 *
 * A worker has one crl_conn_t, the connection whose request is being
 * served. HTTP keep-alive connections that wait for their next request are
 * parked by the worker (crl_worker.c) and loaded back with
 * crl_conn_start(). Buffers belong to the worker and are allocated once
 * (crl_conn_init); a request allocates nothing.
 */
#ifndef CRL_REQUEST_CORE_H
#define CRL_REQUEST_CORE_H

#include <stdint.h>
#include <time.h>

#include <corral/request.h>

#include "crl_http.h"
#include "crl_socket.h"

enum { CRL_HEAD_NONE, CRL_HEAD_PENDING, CRL_HEAD_SENT };

typedef struct crl_conn_s {
    crl_request_t req;       /* what the plugin sees; req.core points here */
    int fd;
    const crl_listener_t *listener;
    int timeout_ms;          /* socket-timeout, per blocking wait */
    char peer[64];           /* client address for HTTP and log lines */
    char peer_port[8];

    char *rbuf;              /* receive buffer: head, then early body bytes */
    size_t rcap, rlen, rpos; /* unconsumed bytes: rbuf[rpos..rlen) */
    size_t max_head;         /* buffer-size */
    int64_t body_left;       /* Content-Length bytes the app has not read */
    int chunked_in;          /* the body is chunked (HTTP) */
    int64_t chunked_total;   /* chunked: body bytes decoded so far */
    int64_t body_start_ms;   /* when the head was complete (body rate limit) */
    int64_t body_received;   /* body bytes read from the socket */
    int body_done;           /* chunked: the last chunk has been decoded */
    crl_http_chunked_t chunk_st;
    size_t head_bytes;       /* size of the vars block / HTTP head */

    crl_var_t *vars;         /* vars[0..max_vars) */
    size_t max_vars;
    char *scratch;           /* derived strings of HTTP requests */
    size_t scratch_cap, scratch_len;

    /* HTTP request facts that frame the response */
    int http_minor;
    int is_head;             /* HEAD: body bytes are counted, not sent */
    int keepalive_ok;        /* the client allows another request after this */

    char *hbuf;              /* response head being built / sent */
    size_t hcap, hlen;
    int head_state;          /* CRL_HEAD_* */
    int status;              /* response status code, for the log */
    unsigned nheaders;
    int no_body;             /* 1xx, 204, 304: no body whatever the app says */
    int64_t cl_declared;     /* the app's Content-Length, -1 when none */
    unsigned app_framing;    /* APP_* flags: what the app's headers set */
    int chunked_out;         /* the body is sent chunked */
    int keepalive;           /* the connection stays open after this response */
    uint64_t body_bytes;     /* body bytes the app produced */
    int broken;              /* -errno of the first failed write, or 0 */
} crl_conn_t;

/* Allocate the worker's buffers for heads of up to buffer_size bytes.
 * Returns CRL_OK or CRL_ERROR (logged). */
int crl_conn_init(crl_conn_t *c, size_t buffer_size, int timeout_ms);

/* Settings shared by every connection of the process: headers added to
 * every response ("Name: value\r\n" lines, validated; NULL for none) and
 * the largest request body accepted (limit-post; 0: no limit). */
void crl_conn_configure(const char *extra_headers, int64_t limit_post);

/* Make fd (non-blocking, accepted from l, peer address already formatted)
 * the current connection; `pending` holds bytes already received for it
 * (a parked partial head), copied into the receive buffer. */
void crl_conn_start(crl_conn_t *c, int fd, const crl_listener_t *l, const char *peer,
                    const char *peer_port, const char *pending, size_t npending);

/* "Date: <now, RFC 9110 format>\r\n", cached per second (per thread). */
const char *crl_http_date_line(void);

/* Format a peer address for crl_conn_start. */
void crl_conn_peer_text(const struct sockaddr *sa, char *host, size_t hostcap, char *port,
                        size_t portcap);

/* Read and parse the next request head and fill c->req. With nonblock
 * a head that has not fully arrived returns CRL_AGAIN without waiting: the
 * caller parks the connection (the bytes so far are rbuf[0..rlen)).
 * CRL_OK: ready for the app; CRL_DONE: nothing to serve
 * (the client closed, or an error response was already sent and logged);
 * CRL_ERROR: a bad request, logged (and answered when the client speaks
 * HTTP). */
int crl_conn_read_request(crl_conn_t *c, int nonblock);

/* After the response: decide whether the connection carries another
 * request. Returns 1 with the next request's first bytes (pipelined) at
 * rbuf[0..rlen), or 0 when it must be closed (crl_conn_close). */
int crl_conn_next(crl_conn_t *c);

/* Drain a small unread body so the close does not reset the connection,
 * and close the descriptor. */
void crl_conn_close(crl_conn_t *c);

#endif
