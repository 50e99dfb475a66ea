/*
 * Connections and requests in a worker: reading the request head of either
 * protocol into the same CGI-style variables, reading the body for the app,
 * and framing the response.
 *
 * Invariants:
 * - Sockets are non-blocking; every wait is a poll() bounded by
 *   socket-timeout, so a slow or silent client costs at most that long.
 * - Nothing is allocated per request: the receive buffer, the vars array,
 *   the scratch area for derived HTTP strings and the head buffer are the
 *   worker's, sized from buffer-size at start.
 * - The response head is held until the first body bytes (or the end) and
 *   leaves in the same sendmsg() as them.
 * - Writes use MSG_NOSIGNAL; the first failed write marks the connection
 *   broken and later writes fail at once.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
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
#define MAX_HTTP_HEADERS 128
#define DRAIN_LIMIT (1024 * 1024)

static crl_http_header_t http_headers[MAX_HTTP_HEADERS];

int crl_conn_init(crl_conn_t *c, size_t buffer_size, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_ms = timeout_ms;
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

static void peer_text(crl_conn_t *c, const struct sockaddr *sa, socklen_t len)
{
    c->peer[0] = '\0';
    c->peer_port[0] = '\0';
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, c->peer, sizeof(c->peer));
        snprintf(c->peer_port, sizeof(c->peer_port), "%u", ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, c->peer, sizeof(c->peer));
        snprintf(c->peer_port, sizeof(c->peer_port), "%u", ntohs(in6->sin6_port));
    } else {
        (void)len;
        snprintf(c->peer, sizeof(c->peer), "unix");
    }
}

void crl_conn_reset(crl_conn_t *c, int fd, const crl_listener_t *l, const struct sockaddr *peer,
                    socklen_t peerlen)
{
    c->fd = fd;
    c->listener = l;
    c->is_head = 0;
    c->rlen = c->rpos = 0;
    c->body_left = 0;
    c->head_bytes = 0;
    c->scratch_len = 0;
    c->hlen = 0;
    c->head_state = CRL_HEAD_NONE;
    c->status = 0;
    c->nheaders = 0;
    c->body_bytes = 0;
    c->broken = 0;
    c->req.vars = c->vars;
    c->req.nvars = 0;
    c->req.content_length = 0;
    c->req.modifier1 = c->req.modifier2 = 0;
    peer_text(c, peer, peerlen);
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

/* Read more bytes into rbuf. Returns bytes read, 0 at EOF, or -errno. */
static ssize_t read_more(crl_conn_t *c)
{
    for (;;) {
        ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n >= 0) {
            c->rlen += (size_t)n;
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int rc = wait_fd(c, POLLIN);
        if (rc != CRL_OK)
            return rc;
    }
}

/* ---- sending ---------------------------------------------------------- */

static int send_iov(crl_conn_t *c, struct iovec *iov, int n)
{
    if (c->broken)
        return c->broken;
    while (n > 0) {
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
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

static int send_head(crl_conn_t *c)
{
    struct iovec iov = { c->hbuf, c->hlen };
    c->head_state = CRL_HEAD_SENT;
    return send_iov(c, &iov, 1);
}

/* A complete short response with a plain-text body, then close. */
static void send_simple(crl_conn_t *c, int status, const char *body)
{
    const char *reason = crl_http_reason(status);
    int n = snprintf(c->hbuf, c->hcap,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, reason, strlen(body), body);
    c->hlen = n > 0 && (size_t)n < c->hcap ? (size_t)n : 0;
    c->status = status;
    c->nheaders = 3;
    c->body_bytes = strlen(body);
    send_head(c);
}

/* ---- the plugin API ----------------------------------------------------- */

crl_str_t crl_request_var(const crl_request_t *r, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < r->nvars; i++)
        if (r->vars[i].key.len == klen && memcmp(r->vars[i].key.data, key, klen) == 0)
            return r->vars[i].value;
    return CRL_STR_NULL;
}

ssize_t crl_request_read(crl_request_t *r, void *buf, size_t len)
{
    crl_conn_t *c = r->core;
    if (c->body_left <= 0 || len == 0)
        return 0;
    if ((int64_t)len > c->body_left)
        len = (size_t)c->body_left;
    if (c->rpos < c->rlen) {
        size_t have = c->rlen - c->rpos;
        if (have > len)
            have = len;
        memcpy(buf, c->rbuf + c->rpos, have);
        c->rpos += have;
        c->body_left -= (int64_t)have;
        return (ssize_t)have;
    }
    for (;;) {
        ssize_t n = read(c->fd, buf, len);
        if (n > 0) {
            c->body_left -= n;
            return n;
        }
        if (n == 0)
            return -ECONNRESET; /* the client closed before the whole body */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int rc = wait_fd(c, POLLIN);
        if (rc != CRL_OK)
            return rc;
    }
}

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

static void head_append(crl_conn_t *c, const void *p, size_t n)
{
    memcpy(c->hbuf + c->hlen, p, n);
    c->hlen += n;
}

int crl_response_start(crl_request_t *r, crl_str_t status, const crl_header_t *h, size_t n)
{
    crl_conn_t *c = r->core;
    int code = parse_status(status);

    if (c->head_state == CRL_HEAD_SENT)
        return CRL_ERROR;
    if (code < 0 || !valid_header_text(status, 0)) {
        crl_log(CRL_LOG_ERR, 0, "invalid response status '%.*s'", (int)(status.len > 64 ? 64 : status.len),
                status.data);
        return CRL_ERROR;
    }
    size_t need = sizeof("HTTP/1.1 \r\n") + status.len + sizeof("Connection: close\r\n\r\n");
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
    head_append(c, "HTTP/1.1 ", 9);
    head_append(c, status.data, status.len);
    head_append(c, "\r\n", 2);
    for (size_t i = 0; i < n; i++) {
        head_append(c, h[i].name.data, h[i].name.len);
        head_append(c, ": ", 2);
        head_append(c, h[i].value.data, h[i].value.len);
        head_append(c, "\r\n", 2);
    }
    if (c->listener->proto == CRL_PROTO_HTTP)
        head_append(c, "Connection: close\r\n", 19);
    head_append(c, "\r\n", 2);
    c->head_state = CRL_HEAD_PENDING;
    c->status = code;
    c->nheaders = (unsigned)n;
    return CRL_OK;
}

int crl_response_write(crl_request_t *r, const void *data, size_t len)
{
    crl_conn_t *c = r->core;
    struct iovec iov[2];
    int n = 0;

    if (c->head_state == CRL_HEAD_NONE)
        return CRL_ERROR;
    c->body_bytes += len;
    if (c->head_state == CRL_HEAD_PENDING) {
        iov[n++] = (struct iovec){ c->hbuf, c->hlen };
        c->head_state = CRL_HEAD_SENT;
    }
    if (len > 0 && !c->is_head)
        iov[n++] = (struct iovec){ (void *)data, len };
    return n ? send_iov(c, iov, n) : (c->broken ? c->broken : CRL_OK);
}

int crl_response_sendfile(crl_request_t *r, int fd, off_t offset, size_t len)
{
    crl_conn_t *c = r->core;

    if (c->head_state == CRL_HEAD_NONE)
        return CRL_ERROR;
    if (c->head_state == CRL_HEAD_PENDING && send_head(c) != CRL_OK)
        return c->broken;
    c->body_bytes += len;
    while (len > 0 && !c->is_head && !c->broken) {
        ssize_t n = sendfile(c->fd, fd, &offset, len);
        if (n > 0) {
            len -= (size_t)n;
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
        send_head(c);
    return c->broken ? c->broken : CRL_OK;
}

void crl_response_error(crl_request_t *r, int status)
{
    crl_conn_t *c = r->core;
    char body[64];

    if (c->head_state == CRL_HEAD_SENT) {
        if (!c->broken)
            c->broken = -EPIPE; /* close without completing the response */
        return;
    }
    snprintf(body, sizeof(body), "%d %s\n", status, crl_http_reason(status));
    send_simple(c, status, body);
}

/* ---- reading a uwsgi request ------------------------------------------ */

static int read_uwsgi(crl_conn_t *c)
{
    crl_uwsgi_packet_t pkt;
    size_t max_size = c->rcap - CRL_UWSGI_HEADER_SIZE - BODY_PREFETCH;

    for (;;) {
        ssize_t n = crl_uwsgi_parse(c->rbuf, c->rlen, max_size, &pkt, c->vars, c->max_vars);
        if (n > 0) {
            c->rpos = (size_t)n;
            break;
        }
        if (n == CRL_ERROR) {
            if (pkt.error == CRL_UWSGI_E_HTTP) {
                crl_log(CRL_LOG_ERR, 0, "HTTP request from %s on uwsgi socket %s: this is a uwsgi "
                        "socket; use http-socket for HTTP clients, or uwsgi_pass in nginx",
                        c->peer, c->listener->name);
                send_simple(c, 400, "400 Bad Request: this is a uwsgi socket, not HTTP; "
                                    "use http-socket to serve HTTP clients\n");
            } else if (pkt.error == CRL_UWSGI_E_TOO_LARGE) {
                crl_log(CRL_LOG_ERR, 0, "uwsgi request from %s: vars block of %u bytes exceeds "
                        "buffer-size %zu; raise buffer-size", c->peer, pkt.size, max_size);
            } else {
                crl_log(CRL_LOG_ERR, 0, "invalid uwsgi packet from %s on %s: %s", c->peer,
                        c->listener->name, crl_uwsgi_strerror(pkt.error));
            }
            return CRL_ERROR;
        }
        ssize_t r = read_more(c);
        if (r > 0)
            continue;
        if (r == 0 && c->rlen == 0)
            return CRL_DONE; /* connected and closed: a probe */
        crl_log(CRL_LOG_ERR, r < 0 ? (int)-r : 0,
                "truncated uwsgi packet from %s on %s: got %zu bytes", c->peer,
                c->listener->name, c->rlen);
        return CRL_ERROR;
    }
    if (pkt.modifier1 != 0) {
        crl_log(CRL_LOG_ERR, 0, "uwsgi request from %s asks for modifier1 %u; Corral serves "
                "Python WSGI, modifier1 0", c->peer, pkt.modifier1);
        return CRL_ERROR;
    }
    c->req.nvars = pkt.nvars;
    c->req.modifier1 = pkt.modifier1;
    c->req.modifier2 = pkt.modifier2;
    c->req.content_length = pkt.content_length;
    c->body_left = pkt.content_length;
    c->head_bytes = pkt.size;
    return CRL_OK;
}

/* ---- reading an HTTP request ------------------------------------------- */

static const char *scratch_put(crl_conn_t *c, const char *a, size_t alen, const char *b,
                               size_t blen)
{
    if (c->scratch_len + alen + blen > c->scratch_cap)
        return NULL;
    char *p = c->scratch + c->scratch_len;
    memcpy(p, a, alen);
    memcpy(p + alen, b, blen);
    c->scratch_len += alen + blen;
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
 * "X_Forwarded_For" cannot pose as the real header. */
static int add_header_var(crl_conn_t *c, const crl_http_header_t *h)
{
    char name[256];

    if (h->name.len + 5 > sizeof(name) || memchr(h->name.data, '_', h->name.len))
        return CRL_OK;
    if (h->name.len == 12 && strncasecmp(h->name.data, "Content-Type", 12) == 0)
        return ADD_LIT(c, "CONTENT_TYPE", h->value.data, h->value.len);
    if (h->name.len == 14 && strncasecmp(h->name.data, "Content-Length", 14) == 0)
        return ADD_LIT(c, "CONTENT_LENGTH", h->value.data, h->value.len);
    memcpy(name, "HTTP_", 5);
    for (size_t i = 0; i < h->name.len; i++) {
        char ch = h->name.data[i];
        name[5 + i] = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
    }
    const char *k = scratch_put(c, name, h->name.len + 5, "", 0);
    return add_var(c, k, h->name.len + 5, h->value.data, h->value.len);
}

static int http_vars(crl_conn_t *c, const crl_http_request_t *h)
{
    const crl_listener_t *l = c->listener;
    char *path = c->scratch + c->scratch_len;
    ssize_t plen;

    if (c->scratch_cap - c->scratch_len < h->path.len ||
        (plen = crl_http_percent_decode(path, h->path.data, h->path.len)) < 0)
        return CRL_DECLINED;
    c->scratch_len += (size_t)plen;

    crl_str_t host = h->host;
    size_t hl = host.len;
    if (hl && host.data[0] == '[') {
        const char *rb = memchr(host.data, ']', hl);
        hl = rb ? (size_t)(rb - host.data) + 1 : hl;
    } else {
        const char *colon = memchr(host.data, ':', hl);
        hl = colon ? (size_t)(colon - host.data) : hl;
    }
    const char *proto = h->minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1";
    int rc = ADD_LIT(c, "REQUEST_METHOD", h->method.data, h->method.len) |
             ADD_LIT(c, "REQUEST_URI", h->target.data, h->target.len) |
             ADD_LIT(c, "PATH_INFO", path, (size_t)plen) |
             ADD_LIT(c, "QUERY_STRING", h->query.data, h->query.len) |
             ADD_LIT(c, "SERVER_PROTOCOL", proto, 8) |
             ADD_LIT(c, "SCRIPT_NAME", "", 0) |
             ADD_LIT(c, "SERVER_NAME", hl ? host.data : l->host, hl ? hl : strlen(l->host)) |
             ADD_LIT(c, "SERVER_PORT", l->port, strlen(l->port)) |
             ADD_LIT(c, "REMOTE_ADDR", c->peer, strlen(c->peer)) |
             ADD_LIT(c, "REMOTE_PORT", c->peer_port, strlen(c->peer_port));
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

static int read_http(crl_conn_t *c)
{
    crl_http_request_t h;
    size_t last = 0, max_head = c->rcap - CRL_UWSGI_HEADER_SIZE - BODY_PREFETCH;
    ssize_t n;

    for (;;) {
        memset(&h, 0, sizeof(h));
        h.headers = http_headers;
        n = crl_http_parse_request(c->rbuf, c->rlen, last, max_head, &h, MAX_HTTP_HEADERS);
        if (n > 0)
            break;
        if (n == CRL_ERROR)
            return http_reject(c, h.status ? h.status : 400, h.reason ? h.reason : "malformed");
        last = c->rlen;
        if (c->rlen == c->rcap)
            return http_reject(c, 431, "request head larger than buffer-size");
        ssize_t r = read_more(c);
        if (r > 0)
            continue;
        if (r == 0 && c->rlen == 0)
            return CRL_DONE;
        if (r == -ETIMEDOUT)
            return http_reject(c, 408, "the request head did not arrive in time");
        return CRL_DONE; /* the client went away mid-head: nobody to answer */
    }
    if (h.flags & CRL_HTTP_CHUNKED)
        return http_reject(c, 411, "chunked request bodies are not supported yet; "
                                   "send Content-Length");
    c->rpos = (size_t)n;
    c->head_bytes = (size_t)n;
    c->is_head = crl_str_eq_lit(h.method, "HEAD");
    c->req.content_length = h.content_length;
    c->body_left = h.content_length;
    int rc = http_vars(c, &h);
    if (rc == CRL_DECLINED)
        return http_reject(c, 400, "malformed percent-encoding in the path");
    if (rc != CRL_OK)
        return http_reject(c, 431, "too many request headers");
    if ((h.flags & CRL_HTTP_EXPECT_CONTINUE) && c->body_left > 0 && c->rpos == c->rlen) {
        struct iovec iov = { (void *)"HTTP/1.1 100 Continue\r\n\r\n", 25 };
        send_iov(c, &iov, 1);
    }
    return CRL_OK;
}

int crl_conn_read_request(crl_conn_t *c)
{
    return c->listener->proto == CRL_PROTO_HTTP ? read_http(c) : read_uwsgi(c);
}

void crl_conn_close(crl_conn_t *c)
{
    /* Unread body bytes would make close() send a reset, which can destroy
     * the response still in flight to the client: read them away first. */
    if (!c->broken && c->body_left > 0 && c->body_left <= DRAIN_LIMIT) {
        size_t have = c->rlen - c->rpos;
        c->body_left -= (int64_t)have < c->body_left ? (int64_t)have : c->body_left;
        c->rpos = c->rlen;
        while (c->body_left > 0) {
            size_t want = c->rcap < (size_t)c->body_left ? c->rcap : (size_t)c->body_left;
            if (crl_request_read(&c->req, c->rbuf, want) <= 0)
                break;
        }
    }
    close(c->fd);
    c->fd = -1;
}
