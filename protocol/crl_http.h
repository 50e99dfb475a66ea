/*
 * HTTP/1.1 request head parser and chunked body decoder (RFC 9110/9112),
 * strict: what it accepts, nginx accepts too; what is ambiguous (request
 * smuggling material) it rejects.
 *
 * Pure: no allocation, no I/O, no logging. Every string is a slice into the
 * caller's buffer. Incremental: call again with more bytes; `last_len` (the
 * length passed on the previous call, 0 the first time) lets the parser skip
 * what it already scanned.
 */
#ifndef CRL_HTTP_H
#define CRL_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <corral/str.h>

typedef struct {
    crl_str_t name;
    crl_str_t value; /* leading/trailing blanks removed */
} crl_http_header_t;

enum {
    CRL_HTTP_CHUNKED = 1u << 0,         /* Transfer-Encoding: chunked (last coding) */
    CRL_HTTP_CONN_CLOSE = 1u << 1,      /* Connection: close */
    CRL_HTTP_CONN_KEEPALIVE = 1u << 2,  /* Connection: keep-alive */
    CRL_HTTP_EXPECT_CONTINUE = 1u << 3, /* Expect: 100-continue */
    CRL_HTTP_HAS_HOST = 1u << 4,
    CRL_HTTP_HAS_LENGTH = 1u << 5,      /* Content-Length present */
};

typedef struct {
    crl_str_t method;
    crl_str_t target;       /* request-target as sent */
    crl_str_t path;         /* target up to '?', still percent-encoded */
    crl_str_t query;        /* after '?', without it; empty when none */
    crl_str_t host;         /* Host header value, empty when absent */
    int minor_version;      /* HTTP/1.x */
    unsigned flags;         /* CRL_HTTP_* */
    int64_t content_length; /* 0 when absent */
    crl_http_header_t *headers; /* in: array of max_headers */
    size_t nheaders;        /* out */
    int status;             /* out on CRL_ERROR: 400, 405?, 414, 431, 501, 505 */
    const char *reason;     /* out on CRL_ERROR: what was wrong, for the log */
} crl_http_request_t;

/* Parse a request head in buf[0..len). Returns the head length in bytes
 * (through the blank line) when complete; CRL_AGAIN when more bytes are
 * needed; CRL_ERROR with req->status and req->reason set when the request
 * is invalid: bare CR or LF line endings, obsolete line folding, controls
 * or blanks in names, an invalid method, request-target or version, a
 * missing or repeated Host on HTTP/1.1, Transfer-Encoding with
 * Content-Length, differing Content-Length values, a Transfer-Encoding
 * whose last coding is not chunked (501), more than max_headers headers
 * (431). A head longer than max_head bytes without its end gives 431. */
ssize_t crl_http_parse_request(const char *buf, size_t len, size_t last_len, size_t max_head,
                               crl_http_request_t *req, size_t max_headers);

/* Decoder state for a chunked body; zero it before the first call. */
typedef struct {
    int state;
    uint64_t remaining; /* bytes left in the current chunk */
    int error;          /* set when CRL_ERROR is returned */
} crl_http_chunked_t;

/* Decode chunked data in place: buf[0..*len) holds raw bytes; on return
 * buf[0..*len) holds the decoded body bytes found so far (the chunk framing
 * removed). Returns CRL_AGAIN when more input is needed, a value >= 0 when
 * the body is complete (the number of bytes after the terminating CRLF of
 * the trailer section that belong to the next request, left at
 * buf + *len ... : see the .c contract), CRL_ERROR on a chunk size that is
 * not hex or overflows, or a chunk not followed by CRLF. */
ssize_t crl_http_decode_chunked(crl_http_chunked_t *st, char *buf, size_t *len);

/* Percent-decode src into dst (which may equal src.data's buffer when
 * dst <= src). Returns the decoded length, or CRL_ERROR on a malformed
 * escape ("%zz", "%4"). "%00" decodes to a NUL byte. */
ssize_t crl_http_percent_decode(char *dst, const char *src, size_t len);

/* Reason phrase for a status code ("Not Found"), "" when unknown. */
const char *crl_http_reason(int status);

#endif
