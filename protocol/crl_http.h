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

#include <corral/result.h>
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
    crl_str_t path;         /* target up to '?', still percent-encoded; for
                               an absolute-form target the path part (empty
                               when it has none: "/" or, for OPTIONS, "*");
                               "*" for OPTIONS * */
    crl_str_t query;        /* after '?', without it; empty when none */
    crl_str_t host;         /* Host header value, empty when absent; for an
                               absolute-form target its authority instead
                               (RFC 9112 3.2.2) */
    int minor_version;      /* HTTP/1.x */
    unsigned flags;         /* CRL_HTTP_* */
    int64_t content_length; /* 0 when absent */
    crl_http_header_t *headers; /* in: array of max_headers */
    size_t nheaders;        /* out */
    int status;             /* out on CRL_ERROR: 400, 405, 414, 417, 431, 501, 505 */
    const char *reason;     /* out on CRL_ERROR: what was wrong, for the log */
} crl_http_request_t;

/* Parse a request head in buf[0..len). Returns the head length in bytes
 * (leading empty lines, request line, fields, through the blank line) when
 * complete; CRL_AGAIN when more bytes are needed; CRL_ERROR with
 * req->status and req->reason (a static string for the log) set when the
 * request is invalid. The outputs are reset on every call; req->headers
 * (max_headers entries, may be NULL when 0) is the caller's.
 *
 * last_len: 0, or the len of the previous call on the same buffer when that
 * call returned CRL_AGAIN (the bytes before it unchanged). The result never
 * depends on how the input was split: the first line that is wrong decides.
 *
 * 400: a bare CR or LF anywhere, obs-fold, a field name that is not a token
 * or is followed by anything but ':', controls other than HTAB in a value,
 * a method that is not a token, controls or blanks in the target, a target
 * that is not origin-form, absolute-form (http/https, no userinfo) or "*"
 * with OPTIONS, no version (HTTP/0.9) or a malformed one, a missing (on
 * HTTP/1.1), repeated, empty or invalid Host, a Content-Length that is not
 * 1-18 digits, differing Content-Length values (also within one comma
 * list), Transfer-Encoding with Content-Length or on HTTP/1.0, chunked
 * applied twice.
 * 405: the CONNECT method (we are not a proxy; nginx answers the same).
 * 414: no end of the request line within max_head bytes.
 * 417: an expectation other than 100-continue (ignored on HTTP/1.0).
 * 431: more than max_headers fields, or no end of the head within max_head.
 * 501: a transfer coding other than a single final "chunked".
 * 505: HTTP/x.y other than 1.0 and 1.1. */
ssize_t crl_http_parse_request(const char *buf, size_t len, size_t last_len, size_t max_head,
                               crl_http_request_t *req, size_t max_headers);

/* Decoder state for a chunked body; zero it before the first call. */
typedef struct {
    int state;
    uint64_t remaining; /* bytes left in the current chunk */
    int error;          /* set when CRL_ERROR is returned: CRL_HTTP_CHUNKED_E_* */
    size_t count;       /* internal: bytes of the current size line or trailers */
} crl_http_chunked_t;

enum {
    CRL_HTTP_CHUNKED_E_SIZE = 1,  /* chunk size missing, not hex, or blanks not before ';' */
    CRL_HTTP_CHUNKED_E_OVERFLOW,  /* chunk size above 2^63-1 */
    CRL_HTTP_CHUNKED_E_EXT,       /* control in an extension, or size line over 4 KiB */
    CRL_HTTP_CHUNKED_E_DATA_CRLF, /* chunk data not followed by CRLF */
    CRL_HTTP_CHUNKED_E_LINE_END,  /* bare CR or LF */
    CRL_HTTP_CHUNKED_E_TRAILER,   /* malformed trailer field, or trailers over 8 KiB */
};

/* Decode chunked data in place, in as many calls as the input arrives in.
 * On entry buf[0..*len) holds the next raw bytes; on return buf[0..*len)
 * holds the body bytes decoded from them (framing, extensions and trailer
 * fields removed; the caller consumes them before the next call).
 * Returns:
 *   CRL_AGAIN  all bytes were used; call again with the following ones;
 *   n >= 0     the body ended (after the empty line closing the trailer
 *              section); the n raw bytes that followed it in the input,
 *              which belong to the next request, were moved to
 *              buf[*len .. *len + n). Later calls decode nothing and return
 *              all their input as such bytes;
 *   CRL_ERROR  st->error says why (crl_http_chunked_strerror); buf[0..*len)
 *              holds what was decoded before the error; later calls fail
 *              again.
 * Sizes are hex without leading blanks or sign; blanks after a size are
 * allowed only before ';'. Extensions are skipped. */
ssize_t crl_http_decode_chunked(crl_http_chunked_t *st, char *buf, size_t *len);

/* A short English description of st->error ("chunk data not followed by
 * CRLF"). */
const char *crl_http_chunked_strerror(int error);

/* Percent-decode src[0..len) into dst (which may be src itself, or any
 * dst <= src in the same buffer; dst needs len bytes). Returns the decoded
 * length, or CRL_ERROR on a malformed escape ("%zz", "%4"); dst then holds
 * garbage. "%00" decodes to a NUL byte; '+' stays '+'. */
ssize_t crl_http_percent_decode(char *dst, const char *src, size_t len);

/* Reason phrase for a status code ("Not Found"), "" when unknown. */
const char *crl_http_reason(int status);

#endif
