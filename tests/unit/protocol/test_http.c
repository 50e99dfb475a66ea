/*
 * Tests for protocol/crl_http.c: tables of raw request heads and chunked
 * bodies with the result each must give, fed at once, byte by byte and in
 * two pieces split at every offset; limits (max_head, max_headers);
 * percent-decoding; reason phrases.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/crl_http.h"

#define RAW(s) s, sizeof(s) - 1
#define MAX_HEAD 8192
#define MAX_HEADERS 16

#define HOST CRL_HTTP_HAS_HOST
#define LEN CRL_HTTP_HAS_LENGTH
#define CHUNKED CRL_HTTP_CHUNKED
#define CLOSE CRL_HTTP_CONN_CLOSE
#define KEEP CRL_HTTP_CONN_KEEPALIVE
#define CONT CRL_HTTP_EXPECT_CONTINUE

typedef struct {
    const char *name;
    const char *in;
    size_t len;
    ssize_t ret; /* head length; 0 means the whole input; CRL_AGAIN; CRL_ERROR */
    int status;  /* when CRL_ERROR */
    const char *method, *path, *query, *host;
    int minor;
    unsigned flags;
    int64_t content_length;
    size_t nheaders;
} http_case_t;

#define OK(name, raw, method, path, query, host, minor, flags, clen, nh) \
    { name, RAW(raw), 0, 0, method, path, query, host, minor, flags, clen, nh }
#define OK_N(name, raw, ret, method, path, query, host, minor, flags, clen, nh) \
    { name, RAW(raw), ret, 0, method, path, query, host, minor, flags, clen, nh }
#define BAD(name, raw, status) \
    { name, RAW(raw), CRL_ERROR, status, NULL, NULL, NULL, NULL, 0, 0, 0, 0 }
#define MORE(name, raw) { name, RAW(raw), CRL_AGAIN, 0, NULL, NULL, NULL, NULL, 0, 0, 0, 0 }

#define GET11 "GET / HTTP/1.1\r\nHost: a\r\n"
#define POST11 "POST /f HTTP/1.1\r\nHost: a\r\n"

static const http_case_t heads[] = {
    /* accepted */
    OK("minimal HTTP/1.1", GET11 "\r\n", "GET", "/", "", "a", 1, HOST, 0, 1),
    OK("what curl sends",
       "GET /p/a%20b?x=1&y HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\n"
       "Accept: */*\r\n\r\n",
       "GET", "/p/a%20b", "x=1&y", "localhost:8080", 1, HOST, 0, 3),
    OK("HTTP/1.0 needs no Host", "GET /x HTTP/1.0\r\n\r\n", "GET", "/x", "", "", 0, 0, 0, 0),
    OK("leading empty lines are skipped", "\r\n\r\n" GET11 "\r\n", "GET", "/", "", "a", 1, HOST,
       0, 1),
    OK("empty query", "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/a", "", "a", 1, HOST, 0, 1),
    OK("second '?' belongs to the query", "GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/a",
       "b?c", "a", 1, HOST, 0, 1),
    OK("absolute-form: the target's authority is the host",
       "GET http://example.com/a?b HTTP/1.1\r\nHost: other\r\n\r\n", "GET", "/a", "b",
       "example.com", 1, HOST, 0, 1),
    OK("absolute-form https without a path",
       "OPTIONS HTTPS://example.com:8443 HTTP/1.1\r\nHost: example.com:8443\r\n\r\n", "OPTIONS",
       "", "", "example.com:8443", 1, HOST, 0, 1),
    OK("absolute-form with a query but no path",
       "GET http://h?q=1 HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "", "q=1", "h", 1, HOST, 0, 1),
    OK("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS", "*", "", "a", 1, HOST, 0,
       1),
    OK_N("body bytes after the head are not part of it",
         POST11 "Content-Length: 5\r\n\r\nhello", sizeof(POST11 "Content-Length: 5\r\n\r\n") - 1,
         "POST", "/f", "", "a", 1, HOST | LEN, 5, 2),
    OK_N("pipelined requests: only the first head",
         GET11 "\r\n" GET11 "\r\n", sizeof(GET11 "\r\n") - 1, "GET", "/", "", "a", 1, HOST, 0, 1),
    OK("Content-Length 0", POST11 "Content-Length: 0\r\n\r\n", "POST", "/f", "", "a", 1,
       HOST | LEN, 0, 2),
    OK("Content-Length repeated with the same value",
       POST11 "Content-Length: 12\r\ncontent-length: 12\r\n\r\n", "POST", "/f", "", "a", 1,
       HOST | LEN, 12, 3),
    OK("Content-Length list of one value", POST11 "Content-Length: 7, 7 ,7\r\n\r\n", "POST",
       "/f", "", "a", 1, HOST | LEN, 7, 2),
    OK("Content-Length 18 digits", POST11 "Content-Length: 999999999999999999\r\n\r\n", "POST",
       "/f", "", "a", 1, HOST | LEN, 999999999999999999LL, 2),
    OK("chunked", POST11 "Transfer-Encoding: chunked\r\n\r\n", "POST", "/f", "", "a", 1,
       HOST | CHUNKED, 0, 2),
    OK("chunked in any case, empty list elements ignored",
       POST11 "Transfer-Encoding: , CHUNKED ,\r\n\r\n", "POST", "/f", "", "a", 1,
       HOST | CHUNKED, 0, 2),
    OK("Connection: close", GET11 "Connection: close\r\n\r\n", "GET", "/", "", "a", 1,
       HOST | CLOSE, 0, 2),
    OK("Connection: Keep-Alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/",
       "", "", 0, KEEP, 0, 1),
    OK("Connection list, any case", GET11 "Connection: Upgrade,  CLOSE\r\nConnection: te\r\n\r\n",
       "GET", "/", "", "a", 1, HOST | CLOSE, 0, 3),
    OK("Expect: 100-continue", POST11 "Content-Length: 3\r\nExpect: 100-Continue\r\n\r\n",
       "POST", "/f", "", "a", 1, HOST | LEN | CONT, 3, 3),
    OK("Expect: 100-continue is ignored on HTTP/1.0",
       "POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", "POST", "/", "",
       "", 0, LEN, 3, 2),
    OK("empty Expect", GET11 "Expect:\r\n\r\n", "GET", "/", "", "a", 1, HOST, 0, 2),
    OK("HTAB, obs-text and an empty value", GET11 "X-A: \t a\tb \xff \t\r\nX-Empty:\r\n\r\n",
       "GET", "/", "", "a", 1, HOST, 0, 3),
    OK("target bytes >= 0x80 and odd ASCII, as nginx",
       "GET /caf\xc3\xa9/\"{|}\\^`<> HTTP/1.1\r\nHost: a\r\n\r\n", "GET",
       "/caf\xc3\xa9/\"{|}\\^`<>", "", "a", 1, HOST, 0, 1),
    OK("any token is a method", "M-SEARCH! / HTTP/1.1\r\nHost: a\r\n\r\n", "M-SEARCH!", "/", "",
       "a", 1, HOST, 0, 1),
    OK("lower-case host name, IPv6 literal", "GET / HTTP/1.1\r\nhOST: [::1]:8080\r\n\r\n", "GET",
       "/", "", "[::1]:8080", 1, HOST, 0, 1),
    OK("underscore in a field name is a token", GET11 "X_Forwarded_For: 1.2.3.4\r\n\r\n", "GET",
       "/", "", "a", 1, HOST, 0, 2),

    /* incomplete */
    MORE("nothing", ""),
    MORE("empty lines only", "\r\n\r\n\r"),
    MORE("partial method", "GE"),
    MORE("partial request line", "GET /index.ht"),
    MORE("request line only", "GET / HTTP/1.1\r\n"),
    MORE("a CR waiting for its LF", GET11 "\r"),
    MORE("no blank line yet", GET11 "X: y\r\n"),
    MORE("partial bad-looking header line is not judged yet", GET11 "Bad Name"),

    /* line endings */
    BAD("LF-only request (netcat)", "GET / HTTP/1.1\nHost: a\n\n", 400),
    BAD("bare LF after a header", GET11 "X: y\n\r\n", 400),
    BAD("bare LF before the request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("bare CR ending the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    BAD("bare CR in a value", GET11 "X: a\rb\r\n\r\n", 400),
    BAD("CR CR before the request line", "\r\rGET / HTTP/1.1\r\n", 400),
    BAD("bare LF in the partial request line", "GET /a\nb", 400),
    BAD("bare CR in a partial header", GET11 "X: a\rb", 400),
    BAD("CR CR LF ending the head", GET11 "\r\r\n", 400),

    /* field lines */
    BAD("obs-fold with SP", GET11 "X: a\r\n b\r\n\r\n", 400),
    BAD("obs-fold with HTAB", GET11 "X: a\r\n\tb\r\n\r\n", 400),
    BAD("whitespace before the first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    BAD("blank before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    BAD("HTAB before the colon", GET11 "Content-Length\t: 5\r\n\r\n", 400),
    BAD("no colon", GET11 "X-Broken\r\n\r\n", 400),
    BAD("empty field name", GET11 ": v\r\n\r\n", 400),
    BAD("separator in a field name", GET11 "X(y): v\r\n\r\n", 400),
    BAD("NUL in a value", GET11 "X: a\0b\r\n\r\n", 400),
    BAD("control in a value", GET11 "X: a\x01 b\r\n\r\n", 400),
    BAD("DEL in a value", GET11 "X: \x7f\r\n\r\n", 400),
    BAD("high byte in a name", GET11 "X\xc3\xa9: v\r\n\r\n", 400),

    /* request line */
    BAD("separator in the method", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("separator in a partial method", "GE(", 400),
    BAD("blank before the method", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("HTAB after the method", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("two spaces after the method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("space after the version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    BAD("two spaces before the version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("control in the target", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("DEL in the target", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("HTAB in the target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("NUL in the target", "GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("authority-form without CONNECT", "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("asterisk without OPTIONS", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("other scheme", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    BAD("empty authority", "GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    BAD("userinfo in the authority", "GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    BAD("HTTP/0.9", "GET /\r\n\r\n", 400),
    BAD("no version", "GET / \r\nHost: a\r\n\r\n", 400),
    BAD("lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("version without minor", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
    BAD("two-digit minor", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
    BAD("two-digit major", "GET / HTTP/11.1\r\nHost: a\r\n\r\n", 400),
    BAD("junk version", "GET / FOO/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    BAD("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
    BAD("HTTP/0.9 spelled out", "GET / HTTP/0.9\r\n\r\n", 505),
    BAD("CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405),
    BAD("CONNECT with an origin-form target", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 405),

    /* Host */
    BAD("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
    BAD("two Host headers", GET11 "Host: b\r\n\r\n", 400),
    BAD("two Host headers on HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400),
    BAD("empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400),
    BAD("slash in Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    BAD("blank in Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    BAD("userinfo in Host", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),

    /* Content-Length */
    BAD("negative Content-Length", POST11 "Content-Length: -1\r\n\r\n", 400),
    BAD("signed Content-Length", POST11 "Content-Length: +1\r\n\r\n", 400),
    BAD("hex Content-Length", POST11 "Content-Length: 0x10\r\n\r\n", 400),
    BAD("empty Content-Length", POST11 "Content-Length: \r\n\r\n", 400),
    BAD("Content-Length with a blank inside", POST11 "Content-Length: 1 2\r\n\r\n", 400),
    BAD("Content-Length 19 digits", POST11 "Content-Length: 1000000000000000000\r\n\r\n", 400),
    BAD("Content-Length list of different values", POST11 "Content-Length: 5, 6\r\n\r\n", 400),
    BAD("Content-Length list with an empty member", POST11 "Content-Length: 5,,5\r\n\r\n", 400),
    BAD("two different Content-Length",
        POST11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),

    /* Transfer-Encoding */
    BAD("Transfer-Encoding then Content-Length",
        POST11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
    BAD("Content-Length then Transfer-Encoding",
        POST11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("Transfer-Encoding on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        400),
    BAD("chunked twice in one list", POST11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
    BAD("chunked twice in two lines",
        POST11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("gzip", POST11 "Transfer-Encoding: gzip\r\n\r\n", 501),
    BAD("chunked not last", POST11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 501),
    BAD("chunked not last across lines",
        POST11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    BAD("a coding we cannot undo before chunked",
        POST11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    BAD("identity", POST11 "Transfer-Encoding: identity\r\n\r\n", 501),
    BAD("chunked with a parameter", POST11 "Transfer-Encoding: chunked;q=1\r\n\r\n", 501),
    BAD("empty Transfer-Encoding", POST11 "Transfer-Encoding: \r\n\r\n", 501),
    BAD("xchunked", POST11 "Transfer-Encoding: xchunked\r\n\r\n", 501),

    /* Expect */
    BAD("unknown expectation", GET11 "Expect: 200-ok\r\n\r\n", 417),
    BAD("100-continue and more", GET11 "Expect: 100-continue, x\r\n\r\n", 417),

    /* the first bad line decides */
    BAD("bad request line before a bare LF", "GET / HTTP/9.9\r\nX: a\n\r\n", 505),
    BAD("bad field before Transfer-Encoding", POST11 "X : y\r\nTransfer-Encoding: gzip\r\n\r\n",
        400),
};

#define NCASES (sizeof(heads) / sizeof(heads[0]))

static int slice_eq(crl_str_t s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.data, want, s.len) == 0;
}

static int slice_in(crl_str_t s, const char *base, size_t len)
{
    return s.data >= base && s.data + s.len <= base + len;
}

static void check_row(const http_case_t *c, const char *base, const char *how, ssize_t ret,
                      const crl_http_request_t *r)
{
    ssize_t want = c->ret == 0 ? (ssize_t)c->len : c->ret;
    size_t i;

    cr_expect_eq(ret, want, "%s (%s): returned %zd, expected %zd (status %d: %s)", c->name, how,
                 ret, want, r->status, r->reason ? r->reason : "-");
    if (ret == CRL_ERROR) {
        cr_expect_eq(r->status, c->status, "%s (%s): status %d (%s), expected %d", c->name, how,
                     r->status, r->reason, c->status);
        cr_expect(r->reason != NULL && r->reason[0] != '\0', "%s: no reason", c->name);
        cr_expect_str_neq(crl_http_reason(r->status), "", "%s: status without a phrase", c->name);
    }
    if (ret <= 0 || ret != want)
        return;
    cr_expect(slice_eq(r->method, c->method), "%s: method '%.*s'", c->name, (int)r->method.len,
              r->method.data);
    cr_expect(slice_eq(r->path, c->path), "%s: path '%.*s'", c->name, (int)r->path.len,
              r->path.data);
    cr_expect(slice_eq(r->query, c->query), "%s: query '%.*s'", c->name, (int)r->query.len,
              r->query.data);
    cr_expect(slice_eq(r->host, c->host), "%s: host '%.*s'", c->name, (int)r->host.len,
              r->host.data);
    cr_expect_eq(r->minor_version, c->minor, "%s: minor version %d", c->name, r->minor_version);
    cr_expect_eq(r->flags, c->flags, "%s: flags %#x, expected %#x", c->name, r->flags, c->flags);
    cr_expect_eq(r->content_length, c->content_length, "%s: content length", c->name);
    cr_expect_eq(r->nheaders, c->nheaders, "%s: %zu headers", c->name, r->nheaders);
    cr_expect(slice_in(r->method, base, ret) && slice_in(r->target, base, ret) &&
                  slice_in(r->path, base, ret) && slice_in(r->query, base, ret) &&
                  slice_in(r->host, base, ret),
              "%s: a slice outside the head", c->name);
    for (i = 0; i < r->nheaders; i++)
        cr_expect(slice_in(r->headers[i].name, base, ret) &&
                      slice_in(r->headers[i].value, base, ret),
                  "%s: header %zu outside the head", c->name, i);
}

/* Parse c->in[0..n) from a heap copy of exactly n bytes (ASan sees any
 * read past it). */
static ssize_t parse_copy(const http_case_t *c, size_t n, size_t last_len, const char *how,
                          int check)
{
    char *copy = malloc(n ? n : 1);
    crl_http_header_t hdrs[MAX_HEADERS];
    crl_http_request_t r = { .headers = hdrs };
    ssize_t ret;

    cr_assert_not_null(copy);
    memcpy(copy, c->in, n);
    ret = crl_http_parse_request(copy, n, last_len, MAX_HEAD, &r, MAX_HEADERS);
    if (check)
        check_row(c, copy, how, ret, &r);
    free(copy);
    return ret;
}

Test(http_parse, table_at_once)
{
    size_t i;

    for (i = 0; i < NCASES; i++)
        parse_copy(&heads[i], heads[i].len, 0, "at once", 1);
}

Test(http_parse, table_byte_by_byte)
{
    size_t i, n;

    for (i = 0; i < NCASES; i++) {
        const http_case_t *c = &heads[i];

        for (n = 1; n <= c->len; n++) {
            ssize_t ret = parse_copy(c, n, n - 1, "byte by byte", 0);

            if (ret != CRL_AGAIN || n == c->len) {
                parse_copy(c, n, n - 1, "byte by byte", 1);
                break;
            }
        }
    }
}

/* First call with k bytes, second with all of them and last_len = k. */
Test(http_parse, table_two_pieces)
{
    size_t i, k;

    for (i = 0; i < NCASES; i++) {
        const http_case_t *c = &heads[i];

        for (k = 1; k < c->len; k++) {
            char how[32];

            if (parse_copy(c, k, 0, "first piece", 0) != CRL_AGAIN)
                continue;
            snprintf(how, sizeof(how), "split at %zu", k);
            parse_copy(c, c->len, k, how, 1);
        }
    }
}

Test(http_parse, header_fields)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t a\tb \xff \t\r\nX-Empty:\r\n"
                             "x-three:3\r\n\r\n";
    crl_http_header_t h[4];
    crl_http_request_t r = { .headers = h };

    cr_assert_eq(crl_http_parse_request(in, sizeof(in) - 1, 0, MAX_HEAD, &r, 4),
                 (ssize_t)sizeof(in) - 1);
    cr_assert_eq(r.nheaders, 4);
    cr_expect(slice_eq(h[0].name, "Host") && slice_eq(h[0].value, "a"));
    cr_expect(slice_eq(h[1].name, "X-A") && slice_eq(h[1].value, "a\tb \xff"),
              "value '%.*s'", (int)h[1].value.len, h[1].value.data);
    cr_expect(slice_eq(h[2].name, "X-Empty") && h[2].value.len == 0);
    cr_expect(slice_eq(h[3].name, "x-three") && slice_eq(h[3].value, "3"));
    cr_expect(slice_eq(r.target, "/"));
}

/* The reason goes to the log: it must name the problem. */
Test(http_parse, reasons_name_the_problem)
{
    static const struct {
        const char *in;
        const char *reason;
    } rows[] = {
        { "GET / HTTP/1.1\nHost: a\n\n", "bare LF in the request head" },
        { GET11 "X: a\r\n b\r\n\r\n", "obsolete line folding in the request head" },
        { "GET / HTTP/1.1\r\nHost : a\r\n\r\n", "invalid header field name" },
        { "GET /\r\n\r\n", "no HTTP version in the request line (HTTP/0.9 is not supported)" },
        { "GET / HTTP/1.1\r\n\r\n", "missing Host header" },
        { POST11 "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
          "Transfer-Encoding together with Content-Length" },
        { POST11 "Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
          "conflicting Content-Length values" },
    };
    crl_http_header_t h[8];
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        crl_http_request_t r = { .headers = h };

        cr_expect_eq(crl_http_parse_request(rows[i].in, strlen(rows[i].in), 0, MAX_HEAD, &r, 8),
                     CRL_ERROR);
        cr_expect_str_eq(r.reason ? r.reason : "", rows[i].reason, "row %zu", i);
    }
}

Test(http_parse, max_headers)
{
    char in[1024];
    crl_http_header_t h[4];
    crl_http_request_t r = { .headers = h };
    int n = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");

    cr_expect_eq(crl_http_parse_request(in, (size_t)n, 0, MAX_HEAD, &r, 4), n, "4 of 4");
    n = snprintf(in, sizeof(in),
                 "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
    cr_expect_eq(crl_http_parse_request(in, (size_t)n, 0, MAX_HEAD, &r, 4), CRL_ERROR);
    cr_expect_eq(r.status, 431);
    cr_expect_eq(r.nheaders, 4, "the array was filled, not overrun");
    n = snprintf(in, sizeof(in), "GET / HTTP/1.0\r\n\r\n");
    r.headers = NULL;
    cr_expect_eq(crl_http_parse_request(in, (size_t)n, 0, MAX_HEAD, &r, 0), n,
                 "no headers, no array");
    n = snprintf(in, sizeof(in), "GET / HTTP/1.0\r\nA: 1\r\n\r\n");
    cr_expect_eq(crl_http_parse_request(in, (size_t)n, 0, MAX_HEAD, &r, 0), CRL_ERROR);
    cr_expect_eq(r.status, 431);
}

Test(http_parse, max_head)
{
    static const char in[] = "GET /0123456789 HTTP/1.1\r\nHost: a\r\nX: 0123456789\r\n\r\n";
    const size_t len = sizeof(in) - 1, line = sizeof("GET /0123456789 HTTP/1.1\r\n") - 1;
    crl_http_header_t h[4];
    crl_http_request_t r = { .headers = h };
    size_t max;

    cr_expect_eq(crl_http_parse_request(in, len, 0, len, &r, 4), (ssize_t)len, "exactly max_head");
    cr_expect_eq(crl_http_parse_request(in, len, 0, len - 1, &r, 4), CRL_ERROR);
    cr_expect_eq(r.status, 431);
    /* Waiting is right while the head may still end within max_head. */
    cr_expect_eq(crl_http_parse_request(in, len - 1, 0, len - 1, &r, 4), CRL_AGAIN);
    /* Still in the request line when the room runs out: 414. */
    for (max = 1; max < line; max++) {
        cr_expect_eq(crl_http_parse_request(in, len, 0, max, &r, 4), CRL_ERROR, "max %zu", max);
        cr_expect_eq(r.status, 414, "max_head %zu: status %d", max, r.status);
    }
    cr_expect_eq(crl_http_parse_request(in, len, 0, line, &r, 4), CRL_ERROR);
    cr_expect_eq(r.status, 431);
    /* a flood of empty lines */
    cr_expect_eq(crl_http_parse_request("\r\n\r\n\r\n\r\n", 8, 0, 6, &r, 4), CRL_ERROR);
    cr_expect_eq(r.status, 431);
}

/* An error in a line that ends past max_head is never seen: 431 whatever
 * the split, since the bytes past max_head are not looked at. */
Test(http_parse, nothing_past_max_head_is_judged)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nX: y\n\r\n";
    crl_http_header_t h[4];
    crl_http_request_t r = { .headers = h };
    size_t lf = sizeof("GET / HTTP/1.1\r\nHost: a\r\nX: y") - 1;

    cr_expect_eq(crl_http_parse_request(in, sizeof(in) - 1, 0, lf, &r, 4), CRL_ERROR);
    cr_expect_eq(r.status, 431);
    cr_expect_eq(crl_http_parse_request(in, sizeof(in) - 1, 0, lf + 1, &r, 4), CRL_ERROR);
    cr_expect_eq(r.status, 400);
}

Test(http_parse, outputs_reset_between_calls)
{
    static const char good[] = GET11 "Content-Length: 3\r\n\r\n";
    crl_http_header_t h[4];
    crl_http_request_t r = { .headers = h };

    cr_assert_gt(crl_http_parse_request(good, sizeof(good) - 1, 0, MAX_HEAD, &r, 4), 0);
    cr_assert_eq(crl_http_parse_request("GET", 3, 0, MAX_HEAD, &r, 4), CRL_AGAIN);
    cr_expect_eq(r.flags, 0);
    cr_expect_eq(r.nheaders, 0);
    cr_expect_eq(r.content_length, 0);
    cr_expect_eq(r.host.len, 0);
    cr_expect_eq(r.status, 0);
}

/* Chunked bodies. */

typedef struct {
    const char *name;
    const char *in;
    size_t len;
    ssize_t ret;       /* leftover bytes, CRL_AGAIN or CRL_ERROR */
    const char *out;   /* decoded body (when not an error) */
    size_t out_len;
    int error;         /* when CRL_ERROR */
} chunk_case_t;

#define CH_OK(name, raw, left, body) { name, RAW(raw), left, RAW(body), 0 }
#define CH_MORE(name, raw, body) { name, RAW(raw), CRL_AGAIN, RAW(body), 0 }
#define CH_BAD(name, raw, err) { name, RAW(raw), CRL_ERROR, NULL, 0, CRL_HTTP_CHUNKED_E_##err }

static const chunk_case_t chunks[] = {
    CH_OK("one chunk", "5\r\nhello\r\n0\r\n\r\n", 0, "hello"),
    CH_OK("two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 0, "hello world"),
    CH_OK("empty body", "0\r\n\r\n", 0, ""),
    CH_OK("hex in both cases", "A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", 0,
          "0123456789abcdefghij"),
    CH_OK("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", 0, "hello"),
    CH_OK("extensions are skipped", "5;name=value\r\nhello\r\n0;last;x=\"a b\"\r\n\r\n", 0,
          "hello"),
    CH_OK("blanks before an extension", "5 \t; a=1\r\nhello\r\n0\r\n\r\n", 0, "hello"),
    CH_OK("trailer fields are skipped", "3\r\nabc\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n", 0, "abc"),
    CH_OK("data holding CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", 0, "\r\n\r\n"),
    CH_OK("the next request is left over", "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 16, "x"),
    CH_MORE("nothing yet", "", ""),
    CH_MORE("inside a chunk", "5\r\nhel", "hel"),
    CH_MORE("before the final LF", "0\r\n\r", ""),
    CH_MORE("in a trailer", "0\r\nX: 1", ""),
    CH_MORE("largest size", "7fffffffffffffff\r\nab", "ab"),
    CH_BAD("blank before the size", " 5\r\nhello\r\n0\r\n\r\n", SIZE),
    CH_BAD("no size", "\r\nhello\r\n", SIZE),
    CH_BAD("not hex", "g\r\n", SIZE),
    CH_BAD("sign", "-5\r\n", SIZE),
    CH_BAD("0x prefix", "0x5\r\n", SIZE),
    CH_BAD("blank after the size without extension", "5 \r\nhello\r\n", SIZE),
    CH_BAD("junk after the size", "5x\r\nhello\r\n", SIZE),
    CH_BAD("size 2^63", "8000000000000000\r\n", OVERFLOW),
    CH_BAD("size 2^64", "10000000000000000\r\n", OVERFLOW),
    CH_BAD("control in an extension", "5;a\x01\r\nhello\r\n", EXT),
    CH_BAD("bare LF after the size", "5\nhello\r\n0\r\n\r\n", LINE_END),
    CH_BAD("bare CR after the size", "5\rhello\r\n", LINE_END),
    CH_BAD("bare LF in an extension", "5;a\nhello\r\n", LINE_END),
    CH_BAD("data longer than its size", "5\r\nhelloX\r\n0\r\n\r\n", DATA_CRLF),
    CH_BAD("data followed by LF only", "5\r\nhello\n0\r\n\r\n", DATA_CRLF),
    CH_BAD("data followed by CR only", "5\r\nhello\r0\r\n\r\n", DATA_CRLF),
    CH_BAD("bare LF ending the body", "0\r\n\n", LINE_END),
    CH_BAD("bare CR ending the body", "0\r\n\rX", LINE_END),
    CH_BAD("trailer ended by a bare LF", "0\r\nX: 1\n\r\n", LINE_END),
    CH_BAD("trailer line without a colon", "0\r\nGET / HTTP/1.1\r\n\r\n", TRAILER),
    CH_BAD("trailer obs-fold", "0\r\nX: 1\r\n 2\r\n\r\n", TRAILER),
    CH_BAD("trailer name of a separator", "0\r\n(: v\r\n\r\n", TRAILER),
    CH_BAD("empty trailer name", "0\r\n: v\r\n\r\n", TRAILER),
    CH_BAD("control in a trailer value", "0\r\nX: \x01\r\n\r\n", TRAILER),
};

#define NCHUNKS (sizeof(chunks) / sizeof(chunks[0]))

/* Decode c->in split into pieces of `piece` bytes, each in a heap buffer of
 * its own, as a caller that consumes the decoded bytes after each read.
 * Returns the result; *out gets the decoded body, *left the bytes after it
 * (the leftover of the last call plus every later piece). */
static ssize_t decode_pieces(const chunk_case_t *c, size_t piece, char *out, size_t *out_len,
                             char *left, size_t *left_len, int *error)
{
    crl_http_chunked_t st = { 0 };
    ssize_t ret = CRL_AGAIN;
    size_t off = 0;

    *out_len = *left_len = 0;
    do {
        size_t n = c->len - off < piece ? c->len - off : piece;
        char *buf = malloc(n ? n : 1);
        size_t len = n;

        cr_assert_not_null(buf);
        memcpy(buf, c->in + off, n);
        off += n;
        if (ret == CRL_AGAIN) {
            ret = crl_http_decode_chunked(&st, buf, &len);
            cr_assert(len <= n, "%s: decoded more than given", c->name);
            memcpy(out + *out_len, buf, len);
            *out_len += len;
            if (ret >= 0) {
                cr_assert((size_t)ret <= n - len, "%s: leftover past the input", c->name);
                memcpy(left + *left_len, buf + len, (size_t)ret);
                *left_len += (size_t)ret;
            }
        } else if (ret >= 0) {
            ssize_t more = crl_http_decode_chunked(&st, buf, &len);

            cr_assert_eq(more, (ssize_t)n, "%s: a finished decoder took bytes", c->name);
            cr_assert_eq(len, 0);
            memcpy(left + *left_len, buf, n);
            *left_len += n;
        }
        free(buf);
    } while (off < c->len);
    if (ret == CRL_ERROR) {
        size_t zero = 0;

        char none[1] = { '0' };

        cr_expect_eq(crl_http_decode_chunked(&st, none, &zero), CRL_ERROR,
                     "%s: error not sticky", c->name);
    }
    *error = st.error;
    return ret;
}

static void check_chunks(const chunk_case_t *c, size_t piece)
{
    char out[512], left[512];
    size_t out_len, left_len;
    int error;
    ssize_t ret = decode_pieces(c, piece, out, &out_len, left, &left_len, &error);

    cr_expect_eq(ret >= 0 ? (ssize_t)left_len : ret, c->ret,
                 "%s (pieces of %zu): returned %zd (%s), expected %zd", c->name, piece, ret,
                 crl_http_chunked_strerror(error), c->ret);
    if (c->ret == CRL_ERROR) {
        cr_expect_eq(error, c->error, "%s (pieces of %zu): error %s", c->name, piece,
                     crl_http_chunked_strerror(error));
        return;
    }
    cr_expect(out_len == c->out_len && memcmp(out, c->out, out_len) == 0,
              "%s (pieces of %zu): decoded '%.*s'", c->name, piece, (int)out_len, out);
    if (ret >= 0)
        cr_expect_eq(memcmp(left, c->in + c->len - left_len, left_len), 0,
                     "%s: leftover bytes are not the input's tail", c->name);
}

Test(http_chunked, table_every_piece_size)
{
    size_t i, piece;

    for (i = 0; i < NCHUNKS; i++)
        for (piece = 1; piece <= chunks[i].len || piece == 1; piece++)
            check_chunks(&chunks[i], piece);
}

/* Fill in[] with a size line "1;eee..." of `line` bytes before its CRLF. */
static size_t size_line(char *in, size_t line)
{
    memcpy(in, "1;", 2);
    memset(in + 2, 'e', line - 2);
    memcpy(in + line, "\r\n", 2);
    return line + 2;
}

Test(http_chunked, limits)
{
    static char in[10000];
    crl_http_chunked_t st = { 0 };
    size_t len;

    /* a size line of 4096 bytes before its CRLF passes, 4097 does not */
    len = size_line(in, 4096);
    cr_expect_eq(crl_http_decode_chunked(&st, in, &len), CRL_AGAIN);
    cr_expect_eq(len, 0);
    memset(&st, 0, sizeof(st));
    len = size_line(in, 4097);
    cr_expect_eq(crl_http_decode_chunked(&st, in, &len), CRL_ERROR);
    cr_expect_eq(st.error, CRL_HTTP_CHUNKED_E_EXT);

    /* the count starts again for every chunk */
    memset(&st, 0, sizeof(st));
    len = size_line(in, 4096);
    memcpy(in + len, "x\r\n", 3);
    len = size_line(in + len + 3, 4096) + len + 3;
    cr_expect_eq(crl_http_decode_chunked(&st, in, &len), CRL_AGAIN);
    cr_expect_eq(len, 1);

    /* trailers: at most 8 KiB */
    memset(&st, 0, sizeof(st));
    memcpy(in, "0\r\nX: ", 6);
    memset(in + 6, 'v', 9000);
    len = 9006;
    cr_expect_eq(crl_http_decode_chunked(&st, in, &len), CRL_ERROR);
    cr_expect_eq(st.error, CRL_HTTP_CHUNKED_E_TRAILER);
}

Test(http_chunked, strerror)
{
    int e, f;

    for (e = CRL_HTTP_CHUNKED_E_SIZE; e <= CRL_HTTP_CHUNKED_E_TRAILER; e++)
        for (f = CRL_HTTP_CHUNKED_E_SIZE; f < e; f++)
            cr_expect_str_neq(crl_http_chunked_strerror(e), crl_http_chunked_strerror(f));
}

/* Percent-decoding and reason phrases. */

Test(http_percent, table)
{
    static const struct {
        const char *in;
        ssize_t ret;
        const char *out;
    } rows[] = {
        { "", 0, "" },
        { "/plain", 6, "/plain" },
        { "/a%20b", 4, "/a b" },
        { "%41%42%43", 3, "ABC" },
        { "%e9%C3%A9", 3, "\xe9\xc3\xa9" },
        { "%2F%2f", 2, "//" },
        { "a+b", 3, "a+b" },
        { "%25%32%30", 3, "%20" },
        { "%zz", CRL_ERROR, NULL },
        { "%4", CRL_ERROR, NULL },
        { "%", CRL_ERROR, NULL },
        { "abc%", CRL_ERROR, NULL },
        { "%4g", CRL_ERROR, NULL },
        { "% 41", CRL_ERROR, NULL },
    };
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char out[64], inplace[64];
        size_t len = strlen(rows[i].in);
        ssize_t ret = crl_http_percent_decode(out, rows[i].in, len);

        cr_expect_eq(ret, rows[i].ret, "'%s': %zd", rows[i].in, ret);
        memcpy(inplace, rows[i].in, len);
        cr_expect_eq(crl_http_percent_decode(inplace, inplace, len), rows[i].ret,
                     "'%s' in place", rows[i].in);
        if (ret >= 0 && ret == rows[i].ret) {
            cr_expect_eq(memcmp(out, rows[i].out, (size_t)ret), 0, "'%s'", rows[i].in);
            cr_expect_eq(memcmp(inplace, rows[i].out, (size_t)ret), 0, "'%s' in place",
                         rows[i].in);
        }
    }
}

Test(http_percent, only_len_bytes_are_read)
{
    char out[4];

    cr_expect_eq(crl_http_percent_decode(out, "%41", 2), CRL_ERROR);
    cr_expect_eq(crl_http_percent_decode(out, "%41", 1), CRL_ERROR);
    cr_expect_eq(crl_http_percent_decode(out, "ab%41", 2), 2);
}

Test(http_percent, nul_byte)
{
    char out[4];

    cr_assert_eq(crl_http_percent_decode(out, "a%00b", 5), 3);
    cr_expect_eq(memcmp(out, "a\0b", 3), 0);
}

Test(http_reason, phrases)
{
    cr_expect_str_eq(crl_http_reason(200), "OK");
    cr_expect_str_eq(crl_http_reason(404), "Not Found");
    cr_expect_str_eq(crl_http_reason(405), "Method Not Allowed");
    cr_expect_str_eq(crl_http_reason(414), "URI Too Long");
    cr_expect_str_eq(crl_http_reason(417), "Expectation Failed");
    cr_expect_str_eq(crl_http_reason(431), "Request Header Fields Too Large");
    cr_expect_str_eq(crl_http_reason(501), "Not Implemented");
    cr_expect_str_eq(crl_http_reason(505), "HTTP Version Not Supported");
    cr_expect_str_eq(crl_http_reason(299), "");
    cr_expect_str_eq(crl_http_reason(-1), "");
}

/* Requests curl really sent (captured by tests/fuzz/capture_seeds.py):
 * each head parses and its body is framed as announced. */
Test(http_corpus, what_curl_sends)
{
    static char buf[8192];
    const char *dir = CORPUS_DIR "/fuzz_http";
    DIR *d = opendir(dir);
    struct dirent *e;
    int seen = 0, chunked = 0;

    cr_assert_not_null(d, "%s", dir);
    while ((e = readdir(d)) != NULL) {
        crl_http_header_t h[32];
        crl_http_request_t r = { .headers = h };
        char path[1024];
        FILE *f;
        size_t n;
        ssize_t ret;

        if (strncmp(e->d_name, "curl-", 5) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        f = fopen(path, "rb");
        cr_assert_not_null(f, "%s", path);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        ret = crl_http_parse_request(buf, n, 0, MAX_HEAD, &r, 32);
        cr_expect_gt(ret, 0, "%s: %d %s", e->d_name, r.status, r.reason ? r.reason : "");
        if (ret <= 0)
            continue;
        seen++;
        if (r.flags & CRL_HTTP_CHUNKED) {
            crl_http_chunked_t st = { 0 };
            size_t len = n - (size_t)ret;

            chunked++;
            cr_expect_eq(crl_http_decode_chunked(&st, buf + ret, &len), 0, "%s", e->d_name);
            cr_expect_gt(len, 0, "%s", e->d_name);
        } else {
            cr_expect_eq((size_t)ret + (size_t)r.content_length, n, "%s: body", e->d_name);
        }
    }
    closedir(d);
    cr_expect_geq(seen, 10, "only %d curl requests found in %s", seen, dir);
    cr_expect_eq(chunked, 1, "the chunked upload is missing");
}
