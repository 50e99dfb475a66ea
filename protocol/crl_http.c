/*
 * HTTP/1.1 request heads (RFC 9112), chunked bodies, percent-decoding.
 *
 * The head parser is strict: it rejects what could be read two ways by two
 * parsers (bare CR or LF, obs-fold, blanks before the colon, conflicting
 * Content-Length, Transfer-Encoding with Content-Length or on HTTP/1.0,
 * codings other than a single final "chunked"), so a proxy in front of us
 * and we never disagree on where a request ends.
 *
 * Invariants:
 * - pure: no allocation, I/O, logging or mutable globals; every slice it
 *   returns points into the caller's buffer;
 * - the result of crl_http_parse_request depends only on buf[0..len): the
 *   head is re-parsed from its start whenever the answer may change, lines
 *   are checked in order and the first bad line decides the error, so
 *   feeding a request in any number of pieces gives the same result as
 *   feeding it at once. `last_len` only lets a call that cannot change the
 *   answer (no new CR or LF in the new bytes) return CRL_AGAIN without
 *   re-reading the head;
 * - nothing past max_head bytes is ever looked at: a head must end within
 *   max_head bytes (414 while still in the request line, 431 after).
 *
 * The chunked decoder is a byte-driven state machine whose whole state is
 * in crl_http_chunked_t, so it resumes at any byte boundary.
 */
#include "crl_http.h"

#include "crl_uwsgi.h" /* crl_parse_content_length */

#include <corral/result.h>

#include <string.h>

/* RFC 9110 tchar, and the characters of a URI authority (RFC 3986:
 * unreserved, pct-encoded, sub-delims, ':', '[', ']'; no '@'). */
static const uint32_t tchar_map[8] = { 0x00000000, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff };
static const uint32_t host_map[8] = { 0x00000000, 0x2fff7ff2, 0xaffffffe, 0x47fffffe };

#define IN_MAP(map, c) (((map)[(unsigned char)(c) >> 5] >> ((unsigned char)(c) & 31)) & 1u)

#define CHUNK_LINE_MAX 4096     /* chunk size and extensions, without CRLF */
#define CHUNK_TRAILER_MAX 8192  /* whole trailer section, CRLFs included */

typedef struct {
    const char *buf;
    size_t len;     /* bytes available */
    size_t limit;   /* min(len, max_head): bytes we may look at */
    size_t max_head;
    size_t max_headers;
    crl_http_request_t *req;
    crl_str_t authority; /* of an absolute-form target */
    unsigned nhost;
    unsigned te_seen : 1, te_other : 1, te_last_chunked : 1;
    unsigned te_chunked;
} parser_t;

static int is_tchar(unsigned char c)
{
    return IN_MAP(tchar_map, c);
}

/* A field-value byte: HTAB, SP, VCHAR, obs-text. */
static int is_vchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* 1 when s equals the lower-case literal lit, ignoring ASCII case. */
static int ieq(crl_str_t s, const char *lit, size_t n)
{
    size_t i;

    if (s.len != n)
        return 0;
    for (i = 0; i < n; i++)
        if (lower((unsigned char)s.data[i]) != (unsigned char)lit[i])
            return 0;
    return 1;
}

#define IEQ(s, lit) ieq((s), (lit), sizeof(lit) - 1)

static crl_str_t slice(const char *buf, size_t from, size_t to)
{
    return (crl_str_t){ buf + from, to - from };
}

static crl_str_t trim_ows(crl_str_t s)
{
    while (s.len > 0 && (s.data[0] == ' ' || s.data[0] == '\t')) {
        s.data++;
        s.len--;
    }
    while (s.len > 0 && (s.data[s.len - 1] == ' ' || s.data[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* Next element of a comma-separated list, trimmed of blanks; *pos starts at
 * 0. Empty elements are returned (as empty). Returns 0 when exhausted. */
static int next_element(crl_str_t list, size_t *pos, crl_str_t *out)
{
    size_t i = *pos, from = *pos;

    if (i > list.len)
        return 0;
    while (i < list.len && list.data[i] != ',')
        i++;
    *out = trim_ows(slice(list.data, from, i));
    *pos = i + 1;
    return 1;
}

static int fail(parser_t *p, int status, const char *reason)
{
    p->req->status = status;
    p->req->reason = reason;
    return CRL_ERROR;
}

/* No end of line yet: wait, unless the head may not grow any more. */
static int incomplete(parser_t *p, int in_request_line)
{
    if (p->len <= p->max_head)
        return CRL_AGAIN;
    if (in_request_line)
        return fail(p, 414, "request line longer than the head buffer");
    return fail(p, 431, "request head longer than the head buffer");
}

/* Find the CRLF ending the line that starts at pos; *eol is the CR. */
static int find_line(parser_t *p, size_t pos, size_t *eol, int in_request_line)
{
    size_t i;

    for (i = pos; i < p->limit; i++) {
        if (p->buf[i] == '\n')
            return fail(p, 400, "bare LF in the request head");
        if (p->buf[i] != '\r')
            continue;
        if (i + 1 == p->limit)
            break;
        if (p->buf[i + 1] != '\n')
            return fail(p, 400, "bare CR in the request head");
        *eol = i;
        return CRL_OK;
    }
    return incomplete(p, in_request_line);
}

/* Leading empty lines before the request line are ignored (RFC 9112 2.2). */
static int skip_empty_lines(parser_t *p, size_t *pos)
{
    size_t i = 0;

    while (i < p->limit && (p->buf[i] == '\r' || p->buf[i] == '\n')) {
        if (p->buf[i] == '\n')
            return fail(p, 400, "bare LF in the request head");
        if (i + 1 == p->limit)
            return incomplete(p, 0);
        if (p->buf[i + 1] != '\n')
            return fail(p, 400, "bare CR in the request head");
        i += 2;
    }
    if (i == p->limit)
        return incomplete(p, 0);
    *pos = i;
    return CRL_OK;
}

static int parse_version(parser_t *p, crl_str_t v)
{
    const char *s = v.data;

    if (v.len != 8 || memcmp(s, "HTTP/", 5) != 0 || s[5] < '0' || s[5] > '9' || s[6] != '.' ||
        s[7] < '0' || s[7] > '9')
        return fail(p, 400, "malformed HTTP version in the request line");
    if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
        return fail(p, 505, "HTTP version not supported (only 1.0 and 1.1)");
    p->req->minor_version = s[7] - '0';
    return CRL_OK;
}

static int valid_host(crl_str_t h)
{
    size_t i;

    if (h.len == 0)
        return 0;
    for (i = 0; i < h.len; i++)
        if (!IN_MAP(host_map, h.data[i]))
            return 0;
    return 1;
}

/* Split target[from..) into path and query at the first '?'. */
static void split_query(crl_http_request_t *req, size_t from)
{
    crl_str_t t = req->target;
    const char *q = memchr(t.data + from, '?', t.len - from);
    size_t end = q ? (size_t)(q - t.data) : t.len;

    req->path = slice(t.data, from, end);
    req->query = q ? slice(t.data, end + 1, t.len) : slice(t.data, t.len, t.len);
}

/* absolute-form "http://authority/path?query" (RFC 9112 3.2.2). */
static int parse_absolute(parser_t *p)
{
    crl_str_t t = p->req->target;
    size_t i, from;

    if (t.len > 7 && IEQ(slice(t.data, 0, 7), "http://"))
        from = 7;
    else if (t.len > 8 && IEQ(slice(t.data, 0, 8), "https://"))
        from = 8;
    else
        return fail(p, 400, "invalid request target");
    for (i = from; i < t.len && t.data[i] != '/' && t.data[i] != '?'; i++)
        ;
    p->authority = slice(t.data, from, i);
    if (!valid_host(p->authority))
        return fail(p, 400, "invalid authority in the request target");
    split_query(p->req, i);
    return CRL_OK;
}

/* The request-target forms: origin, absolute, asterisk (authority-form is
 * CONNECT's, refused before we get here). */
static int parse_target(parser_t *p)
{
    crl_http_request_t *req = p->req;

    if (req->target.data[0] == '/') {
        split_query(req, 0);
        return CRL_OK;
    }
    if (crl_str_eq_lit(req->target, "*")) {
        if (!crl_str_eq_lit(req->method, "OPTIONS"))
            return fail(p, 400, "asterisk request target on a method other than OPTIONS");
        req->path = req->target;
        req->query = slice(req->target.data, 1, 1);
        return CRL_OK;
    }
    return parse_absolute(p);
}

/* request-line = method SP request-target SP HTTP-version CRLF */
static int parse_request_line(parser_t *p, size_t *pos)
{
    crl_http_request_t *req = p->req;
    size_t start = *pos, i, t, eol;
    int rc;

    for (i = start; i < p->limit && is_tchar((unsigned char)p->buf[i]); i++)
        ;
    if (i == p->limit)
        return incomplete(p, 1);
    if (i == start || p->buf[i] != ' ')
        return fail(p, 400, "malformed request line (invalid method)");
    rc = find_line(p, i + 1, &eol, 1);
    if (rc != CRL_OK)
        return rc;
    req->method = slice(p->buf, start, i);

    for (t = i + 1; t < eol && p->buf[t] != ' '; t++) {
        unsigned char c = (unsigned char)p->buf[t];

        if (c < 0x21 || c == 0x7f)
            return fail(p, 400, "control character in the request target");
    }
    if (t == i + 1)
        return fail(p, 400, "malformed request line (empty target)");
    if (t == eol)
        return fail(p, 400, "no HTTP version in the request line (HTTP/0.9 is not supported)");
    req->target = slice(p->buf, i + 1, t);
    rc = parse_version(p, slice(p->buf, t + 1, eol));
    if (rc != CRL_OK)
        return rc;
    if (crl_str_eq_lit(req->method, "CONNECT"))
        return fail(p, 405, "CONNECT is not allowed: this is not a proxy");
    *pos = eol + 2;
    return parse_target(p);
}

static int note_content_length(parser_t *p, crl_str_t v)
{
    crl_http_request_t *req = p->req;
    size_t pos = 0;
    crl_str_t e;
    int64_t n;

    /* "5, 5" is one length said twice (RFC 9110 8.6); "5, 6" is smuggling. */
    while (next_element(v, &pos, &e)) {
        if (crl_parse_content_length(e.data, e.len, &n) != CRL_OK)
            return fail(p, 400, "invalid Content-Length");
        if ((req->flags & CRL_HTTP_HAS_LENGTH) && n != req->content_length)
            return fail(p, 400, "conflicting Content-Length values");
        req->flags |= CRL_HTTP_HAS_LENGTH;
        req->content_length = n;
    }
    return CRL_OK;
}

/* Transfer-Encoding is judged once the head is complete (finish_head). */
static void note_transfer_encoding(parser_t *p, crl_str_t v)
{
    size_t pos = 0;
    crl_str_t e;

    p->te_seen = 1;
    while (next_element(v, &pos, &e)) {
        if (e.len == 0)
            continue;
        p->te_last_chunked = IEQ(e, "chunked");
        if (p->te_last_chunked)
            p->te_chunked++;
        else
            p->te_other = 1;
    }
}

static void note_connection(parser_t *p, crl_str_t v)
{
    size_t pos = 0;
    crl_str_t e;

    while (next_element(v, &pos, &e)) {
        if (IEQ(e, "close"))
            p->req->flags |= CRL_HTTP_CONN_CLOSE;
        else if (IEQ(e, "keep-alive"))
            p->req->flags |= CRL_HTTP_CONN_KEEPALIVE;
    }
}

static int note_expect(parser_t *p, crl_str_t v)
{
    size_t pos = 0;
    crl_str_t e;

    while (next_element(v, &pos, &e)) {
        if (e.len == 0)
            continue;
        if (!IEQ(e, "100-continue"))
            return fail(p, 417, "unsupported expectation in Expect");
        /* An HTTP/1.0 client cannot wait for 100 (RFC 9110 10.1.1). */
        if (p->req->minor_version == 1)
            p->req->flags |= CRL_HTTP_EXPECT_CONTINUE;
    }
    return CRL_OK;
}

/* What the head parser itself needs to know about one header field. */
static int note_header(parser_t *p, const crl_http_header_t *h)
{
    crl_http_request_t *req = p->req;

    if (IEQ(h->name, "host")) {
        if (++p->nhost > 1)
            return fail(p, 400, "repeated Host header");
        if (!valid_host(h->value))
            return fail(p, 400, "invalid Host header");
        req->host = h->value;
        req->flags |= CRL_HTTP_HAS_HOST;
    } else if (IEQ(h->name, "content-length")) {
        return note_content_length(p, h->value);
    } else if (IEQ(h->name, "transfer-encoding")) {
        note_transfer_encoding(p, h->value);
    } else if (IEQ(h->name, "connection")) {
        note_connection(p, h->value);
    } else if (IEQ(h->name, "expect")) {
        return note_expect(p, h->value);
    }
    return CRL_OK;
}

/* One header line at *pos. CRL_DONE on the empty line ending the head. */
static int parse_header_line(parser_t *p, size_t *pos)
{
    crl_http_header_t h;
    size_t start = *pos, i, eol;
    int rc;

    rc = find_line(p, start, &eol, 0);
    if (rc != CRL_OK)
        return rc;
    *pos = eol + 2;
    if (eol == start)
        return CRL_DONE;
    if (p->buf[start] == ' ' || p->buf[start] == '\t')
        return fail(p, 400, "obsolete line folding in the request head");
    for (i = start; i < eol && is_tchar((unsigned char)p->buf[i]); i++)
        ;
    if (i == start || i == eol || p->buf[i] != ':')
        return fail(p, 400, "invalid header field name");
    h.name = slice(p->buf, start, i);
    h.value = slice(p->buf, i + 1, eol);
    for (i = 0; i < h.value.len; i++)
        if (!is_vchar((unsigned char)h.value.data[i]))
            return fail(p, 400, "control character in a header field value");
    h.value = trim_ows(h.value);
    if (p->req->nheaders == p->max_headers)
        return fail(p, 431, "too many header fields");
    p->req->headers[p->req->nheaders++] = h;
    return note_header(p, &h);
}

/* Rules that need the whole head. */
static int finish_head(parser_t *p)
{
    crl_http_request_t *req = p->req;

    if (req->minor_version == 1 && p->nhost == 0)
        return fail(p, 400, "missing Host header");
    if (p->te_seen) {
        if (req->flags & CRL_HTTP_HAS_LENGTH)
            return fail(p, 400, "Transfer-Encoding together with Content-Length");
        if (req->minor_version == 0)
            return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (p->te_chunked > 1)
            return fail(p, 400, "chunked transfer coding applied more than once");
        if (!p->te_last_chunked)
            return fail(p, 501, "Transfer-Encoding whose last coding is not chunked");
        if (p->te_other)
            return fail(p, 501, "unsupported transfer coding (only chunked is)");
        req->flags |= CRL_HTTP_CHUNKED;
    }
    /* The target's authority wins over Host (RFC 9112 3.2.2). */
    if (p->authority.data != NULL)
        req->host = p->authority;
    return CRL_OK;
}

/* After skipping leading empty lines, is there a complete first line? */
static int request_line_seen(const char *buf, size_t len)
{
    size_t i = 0;

    while (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
        i += 2;
    return memchr(buf + i, '\n', len - i) != NULL;
}

/* Can the bytes added since the last call (which returned CRL_AGAIN)
 * change the answer? Only a CR or LF (a line ending, or a bad one), going
 * past max_head, or new bytes of a request line whose method is still
 * being checked can. */
static int may_skip(const char *buf, size_t len, size_t last_len, size_t max_head)
{
    size_t from;

    if (last_len == 0 || last_len > len || len > max_head)
        return 0;
    from = last_len - 1;
    if (memchr(buf + from, '\r', len - from) || memchr(buf + from, '\n', len - from))
        return 0;
    return request_line_seen(buf, last_len);
}

static void reset_request(crl_http_request_t *req, const char *buf)
{
    crl_str_t empty = { buf, 0 };

    req->method = req->target = req->path = req->query = req->host = empty;
    req->minor_version = 0;
    req->flags = 0;
    req->content_length = 0;
    req->nheaders = 0;
    req->status = 0;
    req->reason = NULL;
}

ssize_t crl_http_parse_request(const char *buf, size_t len, size_t last_len, size_t max_head,
                               crl_http_request_t *req, size_t max_headers)
{
    parser_t p = { .buf = buf, .len = len, .max_head = max_head, .max_headers = max_headers,
                   .req = req };
    size_t pos = 0;
    int rc;

    reset_request(req, buf);
    if (may_skip(buf, len, last_len, max_head))
        return CRL_AGAIN;
    p.limit = len < max_head ? len : max_head;

    rc = skip_empty_lines(&p, &pos);
    if (rc == CRL_OK)
        rc = parse_request_line(&p, &pos);
    while (rc == CRL_OK)
        rc = parse_header_line(&p, &pos);
    if (rc == CRL_DONE)
        rc = finish_head(&p);
    if (rc != CRL_OK)
        return rc;
    return (ssize_t)pos;
}

/* The chunked decoder. */

enum {
    CH_SIZE_FIRST = 0, /* the zeroed state: first hex digit of a size */
    CH_SIZE,           /* more hex digits */
    CH_SIZE_BWS,       /* blanks after the size: only ';' may follow */
    CH_EXT,            /* chunk extension, skipped */
    CH_SIZE_LF,        /* CR seen at the end of the size line */
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START,  /* start of a trailer line, or of the final CRLF */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_END_LF,
    CH_DONE,
    CH_ERROR,
};

static int chunk_fail(crl_http_chunked_t *st, int error)
{
    st->state = CH_ERROR;
    st->error = error;
    return CRL_ERROR;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* One byte of a chunk size line: size [BWS ";" ext...] CRLF. */
static int size_line_step(crl_http_chunked_t *st, unsigned char c)
{
    int d = hex_value(c);

    if (c != '\r' && ++st->count > CHUNK_LINE_MAX)
        return chunk_fail(st, CRL_HTTP_CHUNKED_E_EXT);
    if (c == '\n')
        return chunk_fail(st, CRL_HTTP_CHUNKED_E_LINE_END);
    switch (st->state) {
    case CH_SIZE_FIRST:
    case CH_SIZE:
        if (d >= 0) {
            if (st->remaining > (uint64_t)INT64_MAX >> 4)
                return chunk_fail(st, CRL_HTTP_CHUNKED_E_OVERFLOW);
            st->remaining = (st->remaining << 4) | (uint64_t)d;
            st->state = CH_SIZE;
            return CRL_OK;
        }
        if (st->state == CH_SIZE_FIRST)
            return chunk_fail(st, CRL_HTTP_CHUNKED_E_SIZE);
        /* fall through */
    case CH_SIZE_BWS:
        if (c == ' ' || c == '\t')
            st->state = CH_SIZE_BWS;
        else if (c == ';')
            st->state = CH_EXT;
        else if (c == '\r' && st->state == CH_SIZE)
            st->state = CH_SIZE_LF;
        else
            return chunk_fail(st, CRL_HTTP_CHUNKED_E_SIZE);
        return CRL_OK;
    default: /* CH_EXT */
        if (c == '\r')
            st->state = CH_SIZE_LF;
        else if (!is_vchar(c))
            return chunk_fail(st, CRL_HTTP_CHUNKED_E_EXT);
        return CRL_OK;
    }
}

/* One byte of the trailer section: *(field-line CRLF) CRLF. */
static int trailer_step(crl_http_chunked_t *st, unsigned char c)
{
    if (++st->count > CHUNK_TRAILER_MAX)
        return chunk_fail(st, CRL_HTTP_CHUNKED_E_TRAILER);
    if (c == '\n' && st->state != CH_TRAILER_LF && st->state != CH_END_LF)
        return chunk_fail(st, CRL_HTTP_CHUNKED_E_LINE_END);
    switch (st->state) {
    case CH_TRAILER_START:
        if (c == '\r')
            st->state = CH_END_LF;
        else if (is_tchar(c))
            st->state = CH_TRAILER_NAME;
        else
            return chunk_fail(st, CRL_HTTP_CHUNKED_E_TRAILER);
        return CRL_OK;
    case CH_TRAILER_NAME:
        if (c == ':')
            st->state = CH_TRAILER_VALUE;
        else if (!is_tchar(c))
            return chunk_fail(st, CRL_HTTP_CHUNKED_E_TRAILER);
        return CRL_OK;
    case CH_TRAILER_VALUE:
        if (c == '\r')
            st->state = CH_TRAILER_LF;
        else if (!is_vchar(c))
            return chunk_fail(st, CRL_HTTP_CHUNKED_E_TRAILER);
        return CRL_OK;
    default: /* CH_TRAILER_LF, CH_END_LF */
        if (c != '\n')
            return chunk_fail(st, CRL_HTTP_CHUNKED_E_LINE_END);
        st->state = st->state == CH_END_LF ? CH_DONE : CH_TRAILER_START;
        return CRL_OK;
    }
}

/* One framing byte (anything but chunk data). */
static int chunk_step(crl_http_chunked_t *st, unsigned char c)
{
    switch (st->state) {
    case CH_SIZE_LF:
        if (c != '\n')
            return chunk_fail(st, CRL_HTTP_CHUNKED_E_LINE_END);
        st->count = 0;
        st->state = st->remaining == 0 ? CH_TRAILER_START : CH_DATA;
        return CRL_OK;
    case CH_DATA_CR:
    case CH_DATA_LF:
        if (c != (st->state == CH_DATA_CR ? '\r' : '\n'))
            return chunk_fail(st, CRL_HTTP_CHUNKED_E_DATA_CRLF);
        st->state = st->state == CH_DATA_CR ? CH_DATA_LF : CH_SIZE_FIRST;
        return CRL_OK;
    case CH_TRAILER_START:
    case CH_TRAILER_NAME:
    case CH_TRAILER_VALUE:
    case CH_TRAILER_LF:
    case CH_END_LF:
        return trailer_step(st, c);
    default:
        return size_line_step(st, c);
    }
}

ssize_t crl_http_decode_chunked(crl_http_chunked_t *st, char *buf, size_t *len)
{
    size_t src = 0, dst = 0, n = *len;

    while (src < n && st->state != CH_DONE && st->state != CH_ERROR) {
        if (st->state == CH_DATA) {
            size_t take = n - src;

            if (take > st->remaining)
                take = (size_t)st->remaining;
            memmove(buf + dst, buf + src, take);
            dst += take;
            src += take;
            st->remaining -= take;
            if (st->remaining == 0)
                st->state = CH_DATA_CR;
        } else if (chunk_step(st, (unsigned char)buf[src++]) != CRL_OK) {
            break;
        }
    }
    *len = dst;
    if (st->state == CH_ERROR)
        return CRL_ERROR;
    if (st->state != CH_DONE)
        return CRL_AGAIN;
    if (n > src)
        memmove(buf + dst, buf + src, n - src);
    return (ssize_t)(n - src);
}

const char *crl_http_chunked_strerror(int error)
{
    switch (error) {
    case CRL_HTTP_CHUNKED_E_SIZE:
        return "chunk size is not a hex number";
    case CRL_HTTP_CHUNKED_E_OVERFLOW:
        return "chunk size too large";
    case CRL_HTTP_CHUNKED_E_EXT:
        return "invalid or too long chunk extension";
    case CRL_HTTP_CHUNKED_E_DATA_CRLF:
        return "chunk data not followed by CRLF";
    case CRL_HTTP_CHUNKED_E_LINE_END:
        return "bare CR or LF in chunked framing";
    case CRL_HTTP_CHUNKED_E_TRAILER:
        return "invalid or too long trailer section";
    }
    return "no error";
}

ssize_t crl_http_percent_decode(char *dst, const char *src, size_t len)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        int hi, lo;

        if (src[i] != '%') {
            dst[o++] = src[i];
            continue;
        }
        if (len - i < 3)
            return CRL_ERROR;
        hi = hex_value((unsigned char)src[i + 1]);
        lo = hex_value((unsigned char)src[i + 2]);
        if (hi < 0 || lo < 0)
            return CRL_ERROR;
        dst[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    return (ssize_t)o;
}

static const struct {
    int status;
    const char *text;
} reasons[] = {
    { 100, "Continue" },
    { 101, "Switching Protocols" },
    { 200, "OK" },
    { 201, "Created" },
    { 202, "Accepted" },
    { 203, "Non-Authoritative Information" },
    { 204, "No Content" },
    { 205, "Reset Content" },
    { 206, "Partial Content" },
    { 300, "Multiple Choices" },
    { 301, "Moved Permanently" },
    { 302, "Found" },
    { 303, "See Other" },
    { 304, "Not Modified" },
    { 307, "Temporary Redirect" },
    { 308, "Permanent Redirect" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 402, "Payment Required" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 406, "Not Acceptable" },
    { 407, "Proxy Authentication Required" },
    { 408, "Request Timeout" },
    { 409, "Conflict" },
    { 410, "Gone" },
    { 411, "Length Required" },
    { 412, "Precondition Failed" },
    { 413, "Content Too Large" },
    { 414, "URI Too Long" },
    { 415, "Unsupported Media Type" },
    { 416, "Range Not Satisfiable" },
    { 417, "Expectation Failed" },
    { 421, "Misdirected Request" },
    { 422, "Unprocessable Content" },
    { 425, "Too Early" },
    { 426, "Upgrade Required" },
    { 428, "Precondition Required" },
    { 429, "Too Many Requests" },
    { 431, "Request Header Fields Too Large" },
    { 451, "Unavailable For Legal Reasons" },
    { 500, "Internal Server Error" },
    { 501, "Not Implemented" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },
    { 505, "HTTP Version Not Supported" },
};

const char *crl_http_reason(int status)
{
    size_t i;

    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].text;
    return "";
}
