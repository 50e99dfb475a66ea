/*
 * Connections and requests in a worker: reading the request head of either
 * protocol into the same CGI-style variables, reading the body for the app
 * (Content-Length or chunked), and framing the response.
 *
 * Invariants:
 * - Sockets are non-blocking; every wait is a poll() bounded by
 *   socket-timeout, so a slow or silent client costs at most that long.
 * - Nothing is allocated per request: the receive buffer, the vars array,
 *   the scratch area for derived HTTP strings and the head buffer are the
 *   worker's, sized from buffer-size at start.
 * - The response head is built in two steps: the status and the app's
 *   headers when the app starts the response, the framing headers
 *   (Content-Length or chunked, Connection, Date) when the head is sent,
 *   together with the first body bytes in one send() (one sendmsg() past
 *   SEND_FLATTEN_MAX). A body handed over whole (crl_response_end) is
 *   framed with Content-Length.
 * - uwsgi-protocol connections carry one request; HTTP/1.1 connections stay
 *   open while both sides allow it and the framing is sound.
 * - Writes use MSG_NOSIGNAL; the first failed write marks the connection
 *   broken and later writes fail at once.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <corral/log.h>
#include <corral/result.h>

#include "crl_http.h"
#include "crl_request.h"
#include "crl_uwsgi.h"

#define BODY_PREFETCH 16384
#define HEAD_BUF_SIZE 65536
#define HEAD_RESERVE 160 /* framing headers appended when the head is sent */
#define MAX_HTTP_HEADERS 128
#define DRAIN_LIMIT (1024 * 1024)
/* A body must keep arriving at this many bytes a second on average (after
 * a first socket-timeout of grace), so a client trickling it cannot hold a
 * worker: Apache's mod_reqtimeout uses the same floor. */
#define MIN_BODY_RATE 500

enum {
    APP_LENGTH = 1u << 0,   /* Content-Length */
    APP_TE = 1u << 1,       /* Transfer-Encoding: the app frames the body itself */
    APP_CLOSE = 1u << 2,    /* Connection: close */
    APP_CONN = 1u << 3,     /* any Connection header */
    APP_DATE = 1u << 4,     /* Date */
};

static __thread crl_http_header_t http_headers[MAX_HTTP_HEADERS];
static const char *extra_headers; /* add-header lines, or NULL */
static size_t extra_len;
static int64_t limit_post;        /* 0: unlimited */

void crl_conn_configure(const char *headers, int64_t limit)
{
    extra_headers = headers;
    extra_len = headers ? strlen(headers) : 0;
    limit_post = limit;
} /* per request thread */

int crl_conn_init(crl_conn_t *c, size_t buffer_size, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    c->max_head = buffer_size;
    c->rcap = buffer_size + CRL_UWSGI_HEADER_SIZE + BODY_PREFETCH;
    c->max_vars = buffer_size / 4 > MAX_HTTP_HEADERS + 32 ? buffer_size / 4
                                                          : MAX_HTTP_HEADERS + 32;
    c->scratch_cap = 2 * buffer_size + 1024;
    c->hcap = HEAD_BUF_SIZE;
    c->rbuf = malloc(c->rcap);
    c->vars = calloc(c->max_vars, sizeof(*c->vars));
    c->scratch = malloc(c->scratch_cap);
    c->hbuf = malloc(c->hcap);
    c->req.core = c;
    if (!c->rbuf || !c->vars || !c->scratch || !c->hbuf) {
        crl_log(CRL_LOG_ERR, errno, "cannot allocate worker buffers");
        return CRL_ERROR;
    }
    return CRL_OK;
}

void crl_conn_peer_text(const struct sockaddr *sa, char *host, size_t hostcap, char *port,
                        size_t portcap)
{
    host[0] = '\0';
    port[0] = '\0';
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)hostcap);
        snprintf(port, portcap, "%u", ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)hostcap);
        snprintf(port, portcap, "%u", ntohs(in6->sin6_port));
    } else if (hostcap > 4) {
        memcpy(host, "unix", 5);
    }
}

/* Copy the C string src into dst of cap bytes, cut if it must be. */
static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Forget the previous request; keep the connection and unread bytes. */
static void request_reset(crl_conn_t *c)
{
    c->body_left = 0;
    c->chunked_in = 0;
    c->chunked_total = 0;
    c->body_done = 0;
    c->head_bytes = 0;
    c->scratch_len = 0;
    c->is_head = 0;
    c->keepalive_ok = 0;
    c->http_minor = 1;
    c->hlen = 0;
    c->head_state = CRL_HEAD_NONE;
    c->status = 0;
    c->nheaders = 0;
    c->no_body = 0;
    c->cl_declared = -1;
    c->app_framing = 0;
    c->chunked_out = 0;
    c->keepalive = 0;
    c->body_bytes = 0;
    c->req.vars = c->vars;
    c->req.nvars = 0;
    c->req.content_length = 0;
    c->req.modifier1 = c->req.modifier2 = 0;
}

void crl_conn_start(crl_conn_t *c, int fd, const crl_listener_t *l, const char *peer,
                    const char *peer_port, const char *pending, size_t npending)
{
    c->fd = fd;
    c->listener = l;
    c->broken = 0;
    copy_text(c->peer, sizeof(c->peer), peer);
    copy_text(c->peer_port, sizeof(c->peer_port), peer_port);
    if (npending > c->rcap)
        npending = c->rcap;
    if (npending)
        memcpy(c->rbuf, pending, npending);
    c->rlen = npending;
    c->rpos = 0;
    request_reset(c);
}

/* Wait until fd is ready for events; -ETIMEDOUT after socket-timeout. */
static int wait_fd(crl_conn_t *c, short events)
{
    struct pollfd p = { .fd = c->fd, .events = events };
    for (;;) {
        int n = poll(&p, 1, c->timeout_ms);
        if (n > 0)
            return CRL_OK;
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

/* Read more bytes into rbuf. Returns bytes read, 0 at EOF, or -errno
 * (-EAGAIN only with nonblock). */
static ssize_t read_more(crl_conn_t *c, int nonblock)
{
    for (;;) {
        ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n >= 0) {
            c->rlen += (size_t)n;
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN || nonblock)
            return -errno;
        int rc = wait_fd(c, POLLIN);
        if (rc != CRL_OK)
            return rc;
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read body bytes from the socket straight into buf, waiting at most
 * socket-timeout per wait and keeping the body above MIN_BODY_RATE. Returns
 * bytes read, -ECONNRESET at EOF, or -errno (-ETIMEDOUT). */
static ssize_t read_socket(crl_conn_t *c, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(c->fd, buf, len);
        if (n > 0) {
            c->body_received += n;
            return n;
        }
        if (n == 0)
            return -ECONNRESET; /* the client closed before the whole body */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int64_t left = c->body_start_ms + c->timeout_ms +
                       c->body_received * 1000 / MIN_BODY_RATE - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        /* Silent for socket-timeout, or below the rate: give up. */
        int r = poll(&p, 1, left < c->timeout_ms ? (int)left : c->timeout_ms);
        if (r == 0)
            return -ETIMEDOUT;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

/* ---- sending ---------------------------------------------------------- */

/* Pieces that add up to at most this many bytes are copied into one buffer
 * and sent with send(): on a unix socket, a head of 150 bytes and a body of
 * 13 to 2000 took 1.8-2.2 us as one send() and 2.1-2.5 us as one sendmsg()
 * of two pieces (a socketpair loop on the 2-core bench machine); at 16 KiB
 * the copy no longer pays. */
#define SEND_FLATTEN_MAX 8192

static int send_iov(crl_conn_t *c, struct iovec *iov, int n)
{
    char flat[SEND_FLATTEN_MAX];
    struct iovec one;

    if (c->broken)
        return c->broken;
    if (n > 1) {
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        if (total <= sizeof(flat)) {
            size_t at = 0;
            for (int i = 0; i < n; i++) {
                memcpy(flat + at, iov[i].iov_base, iov[i].iov_len);
                at += iov[i].iov_len;
            }
            one = (struct iovec){ flat, total };
            iov = &one;
            n = 1;
        }
    }
    while (n > 0) {
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = n == 1 ? send(c->fd, iov->iov_base, iov->iov_len, MSG_NOSIGNAL)
                           : sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int rc = errno == EAGAIN ? wait_fd(c, POLLOUT) : -errno;
            if (rc != CRL_OK) {
                c->broken = rc;
                return rc;
            }
            continue;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return CRL_OK;
}

static void head_append(crl_conn_t *c, const void *p, size_t n)
{
    memcpy(c->hbuf + c->hlen, p, n);
    c->hlen += n;
}

static const char *http_date(void)
{
    static __thread char buf[40];
    static __thread time_t last;
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof(buf), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        last = now;
    }
    return buf;
}

const char *crl_http_date_line(void)
{
    return http_date();
}

/* Append the framing headers and the blank line. known_len is the whole
 * body length when the caller knows it (crl_response_end), else -1. */
static void finalize_head(crl_conn_t *c, int64_t known_len)
{
    char line[64];
    int ka = 0;

    c->head_state = CRL_HEAD_SENT;
    if (extra_len)
        head_append(c, extra_headers, extra_len);
    if (c->listener->proto != CRL_PROTO_HTTP) {
        head_append(c, "\r\n", 2);
        return;
    }
    if (!(c->app_framing & APP_DATE))
        head_append(c, http_date(), strlen(http_date()));
    if (c->app_framing & (APP_TE | APP_CLOSE)) {
        ka = 0;
    } else if (c->no_body || (c->app_framing & APP_LENGTH)) {
        ka = c->keepalive_ok;
    } else if (known_len >= 0) {
        int n = snprintf(line, sizeof(line), "Content-Length: %lld\r\n", (long long)known_len);
        head_append(c, line, (size_t)n);
        ka = c->keepalive_ok;
    } else if (c->is_head) {
        ka = c->keepalive_ok;
    } else if (c->http_minor >= 1 && c->keepalive_ok) {
        head_append(c, "Transfer-Encoding: chunked\r\n", 28);
        c->chunked_out = 1;
        ka = 1;
    }
    c->keepalive = ka;
    if (!ka && !(c->app_framing & APP_CONN))
        head_append(c, "Connection: close\r\n", 19);
    else if (ka && c->http_minor == 0 && !(c->app_framing & APP_CONN))
        head_append(c, "Connection: keep-alive\r\n", 24);
    head_append(c, "\r\n", 2);
}

/* A complete short response with a plain-text body; the connection closes. */
static void send_simple(crl_conn_t *c, int status, const char *body)
{
    const char *reason = crl_http_reason(status);
    int n = snprintf(c->hbuf, c->hcap,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n%sConnection: close\r\n\r\n%s",
                     status, reason, strlen(body), crl_http_date_line(), body);
    c->hlen = n > 0 && (size_t)n < c->hcap ? (size_t)n : 0;
    c->status = status;
    c->nheaders = 3;
    c->body_bytes = strlen(body);
    c->keepalive = 0;
    c->head_state = CRL_HEAD_SENT;
    struct iovec iov = { c->hbuf, c->hlen };
    send_iov(c, &iov, 1);
}

/* ---- the plugin API: request ------------------------------------------- */

crl_str_t crl_request_var(const crl_request_t *r, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < r->nvars; i++)
        if (r->vars[i].key.len == klen && memcmp(r->vars[i].key.data, key, klen) == 0)
            return r->vars[i].value;
    return CRL_STR_NULL;
}

/* Bytes already buffered first, then the socket; never past the body. */
static ssize_t read_raw(crl_conn_t *c, void *buf, size_t len)
{
    if (c->rpos < c->rlen) {
        size_t have = c->rlen - c->rpos;
        if (have > len)
            have = len;
        memcpy(buf, c->rbuf + c->rpos, have);
        c->rpos += have;
        return (ssize_t)have;
    }
    return read_socket(c, buf, len);
}

/* The body cannot be read on: answer the client (when nothing was sent
 * yet) and fail the app's read; whatever the app answers is dropped. */
static ssize_t body_failed(crl_conn_t *c, int status, int err)
{
    char body[64];
    if (c->head_state != CRL_HEAD_SENT) {
        snprintf(body, sizeof(body), "%d %s\n", status, crl_http_reason(status));
        send_simple(c, status, body);
    }
    if (!c->broken)
        c->broken = err;
    c->keepalive = 0;
    return err;
}

static ssize_t body_timeout(crl_conn_t *c)
{
    crl_log(CRL_LOG_ERR, 0, "request body from %s on %s arrived too slowly (%lld bytes in %lld "
            "ms); 408", c->peer, c->listener->name, (long long)c->body_received,
            (long long)(now_ms() - c->body_start_ms));
    return body_failed(c, 408, -ETIMEDOUT);
}

static ssize_t read_chunked(crl_conn_t *c, char *buf, size_t len)
{
    while (!c->body_done) {
        int from_buffer = c->rpos < c->rlen;
        ssize_t n = read_raw(c, buf, len);
        if (n == -ETIMEDOUT)
            return body_timeout(c);
        if (n < 0)
            return n;
        size_t dl = (size_t)n;
        ssize_t rc = crl_http_decode_chunked(&c->chunk_st, buf, &dl);
        if (rc == CRL_ERROR) {
            crl_log(CRL_LOG_ERR, 0, "bad chunked body from %s: %s", c->peer,
                    crl_http_chunked_strerror(c->chunk_st.error));
            return body_failed(c, 400, -EPROTO);
        }
        if (rc >= 0) {
            /* The bytes after the body belong to the next request. */
            c->body_done = 1;
            if (from_buffer) {
                c->rpos -= (size_t)rc;
            } else {
                memmove(c->rbuf, buf + dl, (size_t)rc);
                c->rpos = 0;
                c->rlen = (size_t)rc;
            }
        }
        c->chunked_total += (int64_t)dl;
        if (limit_post > 0 && c->chunked_total > limit_post) {
            crl_log(CRL_LOG_ERR, 0, "chunked body from %s exceeds limit-post (%lld bytes)",
                    c->peer, (long long)limit_post);
            return body_failed(c, 413, -EFBIG);
        }
        if (dl > 0)
            return (ssize_t)dl;
    }
    return 0;
}

ssize_t crl_request_read(crl_request_t *r, void *buf, size_t len)
{
    crl_conn_t *c = r->core;
    if (len == 0)
        return 0;
    if (c->chunked_in)
        return read_chunked(c, buf, len);
    if (c->body_left <= 0)
        return 0;
    if ((int64_t)len > c->body_left)
        len = (size_t)c->body_left;
    ssize_t n = read_raw(c, buf, len);
    if (n > 0)
        c->body_left -= n;
    else if (n == -ETIMEDOUT)
        return body_timeout(c);
    return n;
}

/* ---- the plugin API: response ------------------------------------------ */

static int valid_header_text(crl_str_t s, int is_name)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.data[i];
        if (ch == '\r' || ch == '\n' || ch == '\0')
            return 0;
        if (is_name && (ch <= ' ' || ch == ':' || ch == 0x7f))
            return 0;
    }
    return !is_name || s.len > 0;
}

static int parse_status(crl_str_t s)
{
    if (s.len < 3 || (s.len > 3 && s.data[3] != ' '))
        return -1;
    int code = 0;
    for (int i = 0; i < 3; i++) {
        if (s.data[i] < '0' || s.data[i] > '9')
            return -1;
        code = code * 10 + (s.data[i] - '0');
    }
    return code >= 100 ? code : -1;
}

#define NAME_IS(h, lit) \
    ((h).name.len == sizeof(lit) - 1 && strncasecmp((h).name.data, (lit), sizeof(lit) - 1) == 0)

/* Note the headers that decide the framing. */
static void scan_framing(crl_conn_t *c, const crl_header_t *h)
{
    if (NAME_IS(*h, "Content-Length")) {
        int64_t v;
        if (crl_parse_content_length(h->value.data, h->value.len, &v) == CRL_OK) {
            c->app_framing |= APP_LENGTH;
            c->cl_declared = v;
        } else {
            c->app_framing |= APP_CLOSE; /* unparseable: let the close frame it */
        }
    } else if (NAME_IS(*h, "Transfer-Encoding")) {
        c->app_framing |= APP_TE;
    } else if (NAME_IS(*h, "Connection")) {
        c->app_framing |= APP_CONN;
        if (h->value.len == 5 && strncasecmp(h->value.data, "close", 5) == 0)
            c->app_framing |= APP_CLOSE;
    } else if (NAME_IS(*h, "Date")) {
        c->app_framing |= APP_DATE;
    }
}

int crl_response_start(crl_request_t *r, crl_str_t status, const crl_header_t *h, size_t n)
{
    crl_conn_t *c = r->core;
    int code = parse_status(status);

    if (c->head_state == CRL_HEAD_SENT)
        return CRL_ERROR;
    if (code < 0 || !valid_header_text(status, 0)) {
        crl_log(CRL_LOG_ERR, 0, "invalid response status '%.*s'",
                (int)(status.len > 64 ? 64 : status.len), status.data);
        return CRL_ERROR;
    }
    size_t need = sizeof("HTTP/1.1 \r\n") + status.len + HEAD_RESERVE + extra_len;
    for (size_t i = 0; i < n; i++) {
        if (!valid_header_text(h[i].name, 1) || !valid_header_text(h[i].value, 0)) {
            crl_log(CRL_LOG_ERR, 0, "response header '%.*s' holds a forbidden character "
                    "(CR, LF, NUL, or a blank or colon in the name); not sent",
                    (int)(h[i].name.len > 64 ? 64 : h[i].name.len), h[i].name.data);
            return CRL_ERROR;
        }
        need += h[i].name.len + h[i].value.len + 4;
    }
    if (need > c->hcap) {
        crl_log(CRL_LOG_ERR, 0, "response head of %zu bytes is larger than %zu", need, c->hcap);
        return CRL_ERROR;
    }
    c->hlen = 0;
    c->app_framing = 0;
    c->cl_declared = -1;
    head_append(c, "HTTP/1.1 ", 9);
    head_append(c, status.data, status.len);
    head_append(c, "\r\n", 2);
    for (size_t i = 0; i < n; i++) {
        scan_framing(c, &h[i]);
        head_append(c, h[i].name.data, h[i].name.len);
        head_append(c, ": ", 2);
        head_append(c, h[i].value.data, h[i].value.len);
        head_append(c, "\r\n", 2);
    }
    c->head_state = CRL_HEAD_PENDING;
    c->status = code;
    c->no_body = code < 200 || code == 204 || code == 304;
    c->nheaders = (unsigned)n;
    return CRL_OK;
}

/* Send len body bytes (with the pending head, and chunk framing). */
static int send_body(crl_conn_t *c, const void *data, size_t len, int64_t known_len)
{
    struct iovec iov[4];
    char size_line[24];
    int n = 0;

    if (c->cl_declared >= 0 && (int64_t)(c->body_bytes + len) > c->cl_declared) {
        crl_log(CRL_LOG_ERR, 0, "the app sent more body bytes than its Content-Length %lld; "
                "the excess is dropped", (long long)c->cl_declared);
        len = (size_t)(c->cl_declared - (int64_t)c->body_bytes);
        c->keepalive = 0;
    }
    c->body_bytes += len;
    if (c->head_state == CRL_HEAD_PENDING) {
        finalize_head(c, known_len);
        iov[n++] = (struct iovec){ c->hbuf, c->hlen };
    }
    if (len > 0 && !c->is_head && !c->no_body) {
        if (c->chunked_out) {
            int sl = snprintf(size_line, sizeof(size_line), "%zx\r\n", len);
            iov[n++] = (struct iovec){ size_line, (size_t)sl };
        }
        iov[n++] = (struct iovec){ (void *)data, len };
        if (c->chunked_out)
            iov[n++] = (struct iovec){ (void *)"\r\n", 2 };
    }
    return n ? send_iov(c, iov, n) : (c->broken ? c->broken : CRL_OK);
}

int crl_response_write(crl_request_t *r, const void *data, size_t len)
{
    crl_conn_t *c = r->core;
    if (c->head_state == CRL_HEAD_NONE)
        return CRL_ERROR;
    return send_body(c, data, len, -1);
}

int crl_response_sendfile(crl_request_t *r, int fd, off_t offset, size_t len)
{
    crl_conn_t *c = r->core;

    if (c->head_state == CRL_HEAD_NONE)
        return CRL_ERROR;
    if (c->chunked_out || c->head_state == CRL_HEAD_PENDING) {
        /* The head (and chunk size line) first; the file follows. */
        char size_line[24];
        struct iovec iov[2];
        int n = 0;
        if (c->head_state == CRL_HEAD_PENDING) {
            finalize_head(c, -1);
            iov[n++] = (struct iovec){ c->hbuf, c->hlen };
        }
        if (c->chunked_out && len > 0 && !c->is_head) {
            int sl = snprintf(size_line, sizeof(size_line), "%zx\r\n", len);
            iov[n++] = (struct iovec){ size_line, (size_t)sl };
        }
        if (n && send_iov(c, iov, n) != CRL_OK)
            return c->broken;
    }
    c->body_bytes += len;
    size_t left = c->is_head || c->no_body ? 0 : len;
    while (left > 0 && !c->broken) {
        ssize_t n = sendfile(c->fd, fd, &offset, left);
        if (n > 0) {
            left -= (size_t)n;
            continue;
        }
        if (n == 0) {
            c->broken = -EIO; /* the file is shorter than announced */
            break;
        }
        if (errno == EINTR)
            continue;
        int rc = errno == EAGAIN ? wait_fd(c, POLLOUT) : -errno;
        if (rc != CRL_OK)
            c->broken = rc;
    }
    if (c->chunked_out && len > 0 && !c->is_head && !c->broken) {
        struct iovec crlf = { (void *)"\r\n", 2 };
        send_iov(c, &crlf, 1);
    }
    return c->broken ? c->broken : CRL_OK;
}

int crl_response_head_sent(const crl_request_t *r)
{
    const crl_conn_t *c = r->core;
    return c->head_state == CRL_HEAD_SENT;
}

int crl_response_finish(crl_request_t *r)
{
    crl_conn_t *c = r->core;
    if (c->head_state == CRL_HEAD_PENDING)
        return send_body(c, NULL, 0, 0);
    if (c->chunked_out && c->head_state == CRL_HEAD_SENT && !c->broken) {
        struct iovec end = { (void *)"0\r\n\r\n", 5 };
        c->chunked_out = 0;
        send_iov(c, &end, 1);
    }
    if (c->cl_declared >= 0 && (int64_t)c->body_bytes < c->cl_declared && !c->is_head &&
        !c->no_body)
        c->keepalive = 0; /* short body: only closing tells the client */
    return c->broken ? c->broken : CRL_OK;
}

int crl_response_end(crl_request_t *r, const void *data, size_t len)
{
    crl_conn_t *c = r->core;
    if (c->head_state == CRL_HEAD_NONE)
        return CRL_ERROR;
    int rc = send_body(c, data, len, c->head_state == CRL_HEAD_PENDING ? (int64_t)len : -1);
    return rc == CRL_OK ? crl_response_finish(r) : rc;
}

void crl_response_error(crl_request_t *r, int status)
{
    crl_conn_t *c = r->core;
    char body[64];

    if (c->head_state == CRL_HEAD_SENT) {
        if (!c->broken)
            c->broken = -EPIPE; /* close without completing the response */
        c->keepalive = 0;
        return;
    }
    snprintf(body, sizeof(body), "%d %s\n", status, crl_http_reason(status));
    send_simple(c, status, body);
}

/* ---- reading a uwsgi request ------------------------------------------ */

static int uwsgi_error(crl_conn_t *c, const crl_uwsgi_packet_t *pkt)
{
    if (pkt->error == CRL_UWSGI_E_HTTP) {
        crl_log(CRL_LOG_ERR, 0, "HTTP request from %s on uwsgi socket %s: this is a uwsgi "
                "socket; use http-socket for HTTP clients, or uwsgi_pass in nginx",
                c->peer, c->listener->name);
        send_simple(c, 400, "400 Bad Request: this is a uwsgi socket, not HTTP; "
                            "use http-socket to serve HTTP clients\n");
    } else if (pkt->error == CRL_UWSGI_E_TOO_LARGE) {
        crl_log(CRL_LOG_ERR, 0, "uwsgi request from %s: vars block of %u bytes exceeds "
                "buffer-size %zu; raise buffer-size", c->peer, pkt->size, c->max_head);
    } else {
        crl_log(CRL_LOG_ERR, 0, "invalid uwsgi packet from %s on %s: %s", c->peer,
                c->listener->name, crl_uwsgi_strerror(pkt->error));
    }
    return CRL_ERROR;
}

static int read_uwsgi(crl_conn_t *c, int nonblock)
{
    crl_uwsgi_packet_t pkt;

    for (;;) {
        ssize_t n = crl_uwsgi_parse(c->rbuf, c->rlen, c->max_head, &pkt, c->vars, c->max_vars);
        if (n > 0) {
            c->rpos = (size_t)n;
            break;
        }
        if (n == CRL_ERROR)
            return uwsgi_error(c, &pkt);
        ssize_t r = read_more(c, nonblock);
        if (r > 0)
            continue;
        if (r == -EAGAIN)
            return CRL_AGAIN;
        if ((r == 0 || r == -ECONNRESET) && c->rlen == 0)
            return CRL_DONE; /* connected and closed (or reset): a probe */
        crl_log(CRL_LOG_ERR, r < 0 ? (int)-r : 0,
                "truncated uwsgi packet from %s on %s: got %zu bytes", c->peer,
                c->listener->name, c->rlen);
        return CRL_ERROR;
    }
    /* 0: WSGI; 30: WSGI with SCRIPT_NAME removed from PATH_INFO (uWSGI's
     * convention for apps mounted by the front end), done by the plugin. */
    if (pkt.modifier1 != 0 && pkt.modifier1 != 30) {
        crl_log(CRL_LOG_ERR, 0, "uwsgi request from %s asks for modifier1 %u; Corral serves "
                "Python WSGI (modifier1 0 or 30)", c->peer, pkt.modifier1);
        return CRL_ERROR;
    }
    if (limit_post > 0 && pkt.content_length > limit_post) {
        crl_log(CRL_LOG_ERR, 0, "request body of %lld bytes from %s exceeds limit-post (%lld)",
                (long long)pkt.content_length, c->peer, (long long)limit_post);
        send_simple(c, 413, "413 Request Entity Too Large\n");
        return CRL_ERROR;
    }
    c->body_start_ms = now_ms();
    c->body_received = 0;
    c->req.nvars = pkt.nvars;
    c->req.modifier1 = pkt.modifier1;
    c->req.modifier2 = pkt.modifier2;
    c->req.content_length = pkt.content_length;
    c->body_left = pkt.content_length;
    c->head_bytes = pkt.size;
    return CRL_OK;
}

/* ---- reading an HTTP request ------------------------------------------- */

static const char *scratch_put(crl_conn_t *c, const char *a, size_t alen)
{
    if (c->scratch_len + alen > c->scratch_cap)
        return NULL;
    char *p = c->scratch + c->scratch_len;
    memcpy(p, a, alen);
    c->scratch_len += alen;
    return p;
}

static int add_var(crl_conn_t *c, const char *k, size_t klen, const char *v, size_t vlen)
{
    if (c->req.nvars == c->max_vars || k == NULL || v == NULL)
        return CRL_ERROR;
    c->vars[c->req.nvars++] = (crl_var_t){ { k, klen }, { v, vlen } };
    return CRL_OK;
}

#define ADD_LIT(c, k, v, vlen) add_var((c), (k), sizeof(k) - 1, (v), (vlen))

/* HTTP header "X-Forwarded-For" -> variable HTTP_X_FORWARDED_FOR; names
 * with an underscore are dropped, as nginx does by default, so that
 * "X_Forwarded_For" cannot pose as the real header. Content-Length is
 * given as CONTENT_LENGTH only when it frames the body. */
static int add_header_var(crl_conn_t *c, const crl_http_header_t *h)
{
    char name[256];

    if (h->name.len + 5 > sizeof(name) || memchr(h->name.data, '_', h->name.len))
        return CRL_OK;
    if (h->name.len == 12 && strncasecmp(h->name.data, "Content-Type", 12) == 0)
        return ADD_LIT(c, "CONTENT_TYPE", h->value.data, h->value.len);
    if (h->name.len == 14 && strncasecmp(h->name.data, "Content-Length", 14) == 0)
        return CRL_OK;
    memcpy(name, "HTTP_", 5);
    for (size_t i = 0; i < h->name.len; i++) {
        char ch = h->name.data[i];
        name[5 + i] = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
    }
    const char *k = scratch_put(c, name, h->name.len + 5);
    return add_var(c, k, h->name.len + 5, h->value.data, h->value.len);
}

static size_t host_name_len(crl_str_t host)
{
    if (host.len && host.data[0] == '[') {
        const char *rb = memchr(host.data, ']', host.len);
        return rb ? (size_t)(rb - host.data) + 1 : host.len;
    }
    const char *colon = memchr(host.data, ':', host.len);
    return colon ? (size_t)(colon - host.data) : host.len;
}

static int http_vars(crl_conn_t *c, const crl_http_request_t *h)
{
    const crl_listener_t *l = c->listener;
    char *path = c->scratch + c->scratch_len;
    ssize_t plen;
    char len_text[24];

    crl_str_t raw = h->path.len ? h->path : CRL_STR("/"); /* "http://host" means "/" */
    if (c->scratch_cap - c->scratch_len < raw.len ||
        (plen = crl_http_percent_decode(path, raw.data, raw.len)) < 0)
        return CRL_DECLINED;
    c->scratch_len += (size_t)plen;

    size_t hl = host_name_len(h->host);
    const char *proto = h->minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1";
    int rc = ADD_LIT(c, "REQUEST_METHOD", h->method.data, h->method.len) |
             ADD_LIT(c, "REQUEST_URI", h->target.data, h->target.len) |
             ADD_LIT(c, "PATH_INFO", path, (size_t)plen) |
             ADD_LIT(c, "QUERY_STRING", h->query.data, h->query.len) |
             ADD_LIT(c, "SERVER_PROTOCOL", proto, 8) |
             ADD_LIT(c, "SCRIPT_NAME", "", 0) |
             ADD_LIT(c, "SERVER_NAME", hl ? h->host.data : l->host, hl ? hl : strlen(l->host)) |
             ADD_LIT(c, "SERVER_PORT", l->port, strlen(l->port)) |
             ADD_LIT(c, "REMOTE_ADDR", c->peer, strlen(c->peer)) |
             ADD_LIT(c, "REMOTE_PORT", c->peer_port, strlen(c->peer_port));
    if (h->flags & CRL_HTTP_HAS_LENGTH) {
        int n = snprintf(len_text, sizeof(len_text), "%lld", (long long)h->content_length);
        const char *v = scratch_put(c, len_text, (size_t)n);
        rc |= ADD_LIT(c, "CONTENT_LENGTH", v, (size_t)n);
    }
    for (size_t i = 0; i < h->nheaders && rc == CRL_OK; i++)
        rc = add_header_var(c, &h->headers[i]);
    return rc == CRL_OK ? CRL_OK : CRL_ERROR;
}

static int http_reject(crl_conn_t *c, int status, const char *why)
{
    crl_log(CRL_LOG_ERR, 0, "bad HTTP request from %s on %s: %s (%d)", c->peer, c->listener->name,
            why, status);
    char body[256];
    snprintf(body, sizeof(body), "%d %s: %s\n", status, crl_http_reason(status), why);
    send_simple(c, status, body);
    return CRL_ERROR;
}

static int http_setup(crl_conn_t *c, const crl_http_request_t *h, size_t head_len)
{
    c->body_start_ms = now_ms();
    c->body_received = 0;
    c->rpos = head_len;
    c->head_bytes = head_len;
    c->http_minor = h->minor_version;
    c->is_head = crl_str_eq_lit(h->method, "HEAD");
    c->keepalive_ok = h->minor_version >= 1 ? !(h->flags & CRL_HTTP_CONN_CLOSE)
                                            : !!(h->flags & CRL_HTTP_CONN_KEEPALIVE);
    if (h->flags & CRL_HTTP_CHUNKED) {
        c->chunked_in = 1;
        memset(&c->chunk_st, 0, sizeof(c->chunk_st));
        c->req.content_length = -1;
    } else {
        if (limit_post > 0 && h->content_length > limit_post)
            return http_reject(c, 413, "request body larger than limit-post");
        c->req.content_length = h->content_length;
        c->body_left = h->content_length;
    }
    int rc = http_vars(c, h);
    if (rc == CRL_DECLINED)
        return http_reject(c, 400, "malformed percent-encoding in the path");
    if (rc != CRL_OK)
        return http_reject(c, 431, "too many request headers");
    int body_expected = c->chunked_in || c->body_left > 0;
    if ((h->flags & CRL_HTTP_EXPECT_CONTINUE) && body_expected && c->rpos == c->rlen) {
        struct iovec iov = { (void *)"HTTP/1.1 100 Continue\r\n\r\n", 25 };
        send_iov(c, &iov, 1);
    }
    return CRL_OK;
}

static int read_http(crl_conn_t *c, int nonblock)
{
    crl_http_request_t h;
    size_t last = 0;
    ssize_t n;

    for (;;) {
        memset(&h, 0, sizeof(h));
        h.headers = http_headers;
        n = c->rlen ? crl_http_parse_request(c->rbuf, c->rlen, last, c->max_head, &h,
                                             MAX_HTTP_HEADERS)
                    : CRL_AGAIN;
        if (n > 0)
            return http_setup(c, &h, (size_t)n);
        if (n == CRL_ERROR)
            return http_reject(c, h.status ? h.status : 400, h.reason ? h.reason : "malformed");
        last = c->rlen;
        if (c->rlen == c->rcap)
            return http_reject(c, 431, "request head larger than buffer-size");
        ssize_t r = read_more(c, nonblock);
        if (r > 0)
            continue;
        if (r == -EAGAIN)
            return CRL_AGAIN;
        if (r == 0 && c->rlen == 0)
            return CRL_DONE; /* an idle keep-alive connection closed: normal */
        if (r == -ETIMEDOUT)
            return http_reject(c, 408, "the request head did not arrive in time");
        return CRL_DONE; /* the client went away mid-head: nobody to answer */
    }
}

int crl_conn_read_request(crl_conn_t *c, int nonblock)
{
    return c->listener->proto == CRL_PROTO_HTTP ? read_http(c, nonblock) : read_uwsgi(c, nonblock);
}

/* Read away the rest of the body (up to DRAIN_LIMIT). Returns 1 when the
 * body is complete. */
static int drain_body(crl_conn_t *c)
{
    char buf[8192];
    size_t total = 0;
    while (c->chunked_in ? !c->body_done : c->body_left > 0) {
        if (total > DRAIN_LIMIT)
            return 0;
        ssize_t n = crl_request_read(&c->req, buf, sizeof(buf));
        if (n <= 0)
            return n == 0;
        total += (size_t)n;
    }
    return 1;
}

int crl_conn_next(crl_conn_t *c)
{
    if (!c->keepalive || c->broken || c->listener->proto != CRL_PROTO_HTTP)
        return 0;
    if (!drain_body(c))
        return 0;
    size_t left = c->rlen - c->rpos;
    if (left && c->rpos)
        memmove(c->rbuf, c->rbuf + c->rpos, left);
    c->rlen = left;
    c->rpos = 0;
    request_reset(c);
    return 1;
}

void crl_conn_close(crl_conn_t *c)
{
    /* Unread body bytes would make close() send a reset, which can destroy
     * the response still in flight to the client: read them away first. */
    if (!c->broken)
        drain_body(c);
    close(c->fd);
    c->fd = -1;
}
