/*
 * One client connection in a worker: the receive buffer, the parsed request
 * handed to the app plugin, and the response state behind the
 * crl_request_* / crl_response_* calls of include/corral/request.h.
 *
 * Buffers belong to the worker and are allocated once (crl_conn_init); a
 * request allocates nothing.
 */
#ifndef CRL_REQUEST_CORE_H
#define CRL_REQUEST_CORE_H

#include <stdint.h>
#include <time.h>

#include <corral/request.h>

#include "crl_socket.h"

enum { CRL_HEAD_NONE, CRL_HEAD_PENDING, CRL_HEAD_SENT };

typedef struct crl_conn_s {
    crl_request_t req;       /* what the plugin sees; req.core points here */
    int fd;
    const crl_listener_t *listener;
    int timeout_ms;          /* socket-timeout, per blocking wait */
    int is_head;             /* HTTP HEAD: body bytes are counted, not sent */
    char peer[64];           /* client address for HTTP and log lines */
    char peer_port[8];

    char *rbuf;              /* receive buffer: head, then early body bytes */
    size_t rcap, rlen, rpos; /* body bytes not yet read: rbuf[rpos..rlen) */
    int64_t body_left;       /* body bytes the app has not read yet */
    size_t head_bytes;       /* size of the vars block / HTTP head */

    crl_var_t *vars;         /* vars[0..max_vars) */
    size_t max_vars;
    char *scratch;           /* derived strings of HTTP requests */
    size_t scratch_cap, scratch_len;

    char *hbuf;              /* response head being built / sent */
    size_t hcap, hlen;
    int head_state;          /* CRL_HEAD_* */
    int status;              /* response status code, for the log */
    unsigned nheaders;
    uint64_t body_bytes;     /* body bytes the app produced */
    int broken;              /* -errno of the first failed write, or 0 */
} crl_conn_t;

/* Allocate the worker's buffers for heads of up to buffer_size bytes.
 * Returns CRL_OK or CRL_ERROR (logged). */
int crl_conn_init(crl_conn_t *c, size_t buffer_size, int timeout_ms);

/* Start a new connection on fd (non-blocking, accepted from l). */
void crl_conn_reset(crl_conn_t *c, int fd, const crl_listener_t *l,
                    const struct sockaddr *peer, socklen_t peerlen);

/* Read and parse the request head according to the listener's protocol and
 * fill c->req. CRL_OK: ready for the app; CRL_DONE: nothing to serve (the
 * client closed, or an error response was already sent and logged);
 * CRL_ERROR: a bad request, logged (and answered when the client speaks
 * HTTP). */
int crl_conn_read_request(crl_conn_t *c);

/* After the app: flush, drain a small unread body so the close does not
 * reset the connection, and close the descriptor. */
void crl_conn_close(crl_conn_t *c);

#endif
