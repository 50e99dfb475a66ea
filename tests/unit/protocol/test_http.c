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

#define NHEADS (sizeof(heads) / sizeof(heads[0]))

/* Rows of the HTTP/1.1 test plan (issue 5, "Tests"): 60+ accepted requests
 * and 60+ rejected ones. Every rejected row is named "CLASS: what", CLASS
 * being the smuggling or framing class it covers:
 *   CL.TE, TE.CL     Content-Length and Transfer-Encoding together
 *   TE.TE            an obfuscated Transfer-Encoding one parser may skip
 *   CL.CL            duplicated or conflicting Content-Length
 *   BAD-CL           a Content-Length that is not plain digits
 *   BARE-LF, BARE-CR line endings other than CRLF
 *   OBS-FOLD         obsolete line folding
 *   CTL-NAME, CTL-VALUE, NAME-WS  controls/NUL in names and values, blanks
 *                    in or before a field name
 *   HOST             a missing, doubled or invalid Host
 *   VERSION          a malformed or unsupported HTTP version
 *   TARGET, METHOD   an absurd request-target or method
 *   EXPECT, LIMIT    an unknown expectation, too many fields */
#define CLS(cls, name, raw, status) BAD(cls ": " name, raw, status)
#define H11(line) line " HTTP/1.1\r\nHost: h\r\n"
#define P11 "POST /u HTTP/1.1\r\nHost: h\r\n"
#define FIELDS8 "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nI: 8\r\n"

static const http_case_t plan_heads[] = {
    /* accepted: methods */
    OK("HEAD", H11("HEAD /") "\r\n", "HEAD", "/", "", "h", 1, HOST, 0, 1),
    OK("PUT with a body length", "PUT /r HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n",
       "PUT", "/r", "", "h", 1, HOST | LEN, 3, 2),
    OK("DELETE", H11("DELETE /r/1") "\r\n", "DELETE", "/r/1", "", "h", 1, HOST, 0, 1),
    OK("PATCH", H11("PATCH /r") "Content-Length: 2\r\n\r\n", "PATCH", "/r", "", "h", 1,
       HOST | LEN, 2, 2),
    OK("OPTIONS on a path", H11("OPTIONS /x") "\r\n", "OPTIONS", "/x", "", "h", 1, HOST, 0, 1),
    OK("TRACE", H11("TRACE /") "\r\n", "TRACE", "/", "", "h", 1, HOST, 0, 1),
    OK("lower-case method is a token", H11("get /") "\r\n", "get", "/", "", "h", 1, HOST, 0, 1),
    OK("method with digits", H11("M2 /") "\r\n", "M2", "/", "", "h", 1, HOST, 0, 1),
    OK("WebDAV PROPFIND", H11("PROPFIND /d/") "Depth: 1\r\n\r\n", "PROPFIND", "/d/", "", "h", 1,
       HOST, 0, 2),
    OK("POST HTTP/1.0 with a length", "POST /f HTTP/1.0\r\nContent-Length: 4\r\n\r\n", "POST",
       "/f", "", "", 0, LEN, 4, 1),
    /* accepted: targets */
    OK("deep path", H11("GET /a/b/c/d.html") "\r\n", "GET", "/a/b/c/d.html", "", "h", 1, HOST, 0,
       1),
    OK("encoded query", H11("GET /s?q=a%20b&x=%2F") "\r\n", "GET", "/s", "q=a%20b&x=%2F", "h", 1,
       HOST, 0, 1),
    OK("%2e%2e is left encoded for the router", H11("GET /%2e%2e/x") "\r\n", "GET", "/%2e%2e/x",
       "", "h", 1, HOST, 0, 1),
    OK("a raw .. segment is the static layer's business", H11("GET /a/../b") "\r\n", "GET",
       "/a/../b", "", "h", 1, HOST, 0, 1),
    OK("double slashes", H11("GET //a//b") "\r\n", "GET", "//a//b", "", "h", 1, HOST, 0, 1),
    OK("path parameters", H11("GET /a;v=1/b") "\r\n", "GET", "/a;v=1/b", "", "h", 1, HOST, 0, 1),
    OK("query only", H11("GET /?a=b") "\r\n", "GET", "/", "a=b", "h", 1, HOST, 0, 1),
    OK("query holding / and ?", H11("GET /?next=/a?b") "\r\n", "GET", "/", "next=/a?b", "h", 1,
       HOST, 0, 1),
    OK("sub-delims in the path", H11("GET /!$&'()*+,=:@") "\r\n", "GET", "/!$&'()*+,=:@", "",
       "h", 1, HOST, 0, 1),
    OK("absolute-form with port, path and query",
       "GET http://example.com:8080/p?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", "GET", "/p",
       "q", "example.com:8080", 1, HOST, 0, 1),
    OK("absolute-form, upper-case scheme", "GET HTTP://h/x HTTP/1.1\r\nHost: h\r\n\r\n", "GET",
       "/x", "", "h", 1, HOST, 0, 1),
    OK("absolute-form with a port and no path", "GET http://h:81 HTTP/1.1\r\nHost: h:81\r\n\r\n",
       "GET", "", "", "h:81", 1, HOST, 0, 1),
    OK("OPTIONS * on HTTP/1.0", "OPTIONS * HTTP/1.0\r\n\r\n", "OPTIONS", "*", "", "", 0, 0, 0, 0),
    OK("long path", H11("GET /0123456789/0123456789/0123456789/0123456789/0123456789/"
                        "0123456789/0123456789/0123456789") "\r\n",
       "GET", "/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/"
              "0123456789", "", "h", 1, HOST, 0, 1),
    /* accepted: Host */
    OK("Host with port 80", "GET / HTTP/1.1\r\nHost: example.org:80\r\n\r\n", "GET", "/", "",
       "example.org:80", 1, HOST, 0, 1),
    OK("Host IPv4 and port", "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", "GET", "/", "",
       "127.0.0.1:8080", 1, HOST, 0, 1),
    OK("Host without a blank after the colon", "GET / HTTP/1.1\r\nHost:h\r\n\r\n", "GET", "/",
       "", "h", 1, HOST, 0, 1),
    OK("Host with blanks around the value", "GET / HTTP/1.1\r\nHost: \t h \t\r\n\r\n", "GET",
       "/", "", "h", 1, HOST, 0, 1),
    OK("Host with dots and hyphens", "GET / HTTP/1.1\r\nHost: my-host.example.org\r\n\r\n",
       "GET", "/", "", "my-host.example.org", 1, HOST, 0, 1),
    OK("Host on HTTP/1.0", "GET / HTTP/1.0\r\nHost: h\r\n\r\n", "GET", "/", "", "h", 0, HOST, 0,
       1),
    /* accepted: framing */
    OK_N("POST with its body after the head", P11 "Content-Length: 5\r\n\r\nabcde",
         sizeof(P11 "Content-Length: 5\r\n\r\n") - 1, "POST", "/u", "", "h", 1, HOST | LEN, 5, 2),
    OK_N("chunked with its body after the head",
         P11 "Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n",
         sizeof(P11 "Transfer-Encoding: chunked\r\n\r\n") - 1, "POST", "/u", "", "h", 1,
         HOST | CHUNKED, 0, 2),
    OK_N("POST pipelined with a GET", P11 "Content-Length: 2\r\n\r\nab" H11("GET /") "\r\n",
         sizeof(P11 "Content-Length: 2\r\n\r\n") - 1, "POST", "/u", "", "h", 1, HOST | LEN, 2,
         2),
    OK("chunked, mixed case", P11 "Transfer-Encoding: ChUnKeD\r\n\r\n", "POST", "/u", "", "h", 1,
       HOST | CHUNKED, 0, 2),
    OK("chunked between blanks and tabs", P11 "Transfer-Encoding:\t chunked \t\r\n\r\n", "POST",
       "/u", "", "h", 1, HOST | CHUNKED, 0, 2),
    OK("lower-case field name transfer-encoding", P11 "transfer-encoding: chunked\r\n\r\n",
       "POST", "/u", "", "h", 1, HOST | CHUNKED, 0, 2),
    OK("Transfer_Encoding is another field, not a coding", P11 "Transfer_Encoding: chunked\r\n\r\n",
       "POST", "/u", "", "h", 1, HOST, 0, 2),
    OK("chunked and Connection: close", P11 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
       "POST", "/u", "", "h", 1, HOST | CHUNKED | CLOSE, 0, 3),
    OK("chunked and Expect: 100-continue",
       P11 "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n", "POST", "/u", "", "h", 1,
       HOST | CHUNKED | CONT, 0, 3),
    OK("Content-Length with leading zeros", P11 "Content-Length: 007\r\n\r\n", "POST", "/u", "",
       "h", 1, HOST | LEN, 7, 2),
    OK("Content-Length between blanks", P11 "Content-Length: \t 12 \t\r\n\r\n", "POST", "/u", "",
       "h", 1, HOST | LEN, 12, 2),
    OK("Content-Length upper-case name", P11 "CONTENT-LENGTH: 1048576\r\n\r\n", "POST", "/u", "",
       "h", 1, HOST | LEN, 1048576, 2),
    OK("three equal Content-Length lines",
       P11 "Content-Length: 3\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", "POST", "/u",
       "", "h", 1, HOST | LEN, 3, 4),
    OK("Expect upper-case", P11 "Content-Length: 1\r\nExpect: 100-CONTINUE\r\n\r\n", "POST",
       "/u", "", "h", 1, HOST | LEN | CONT, 1, 3),
    /* accepted: Connection */
    OK("HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
       "GET", "/", "", "h", 0, HOST | KEEP, 0, 2),
    OK("HTTP/1.1 keep-alive", H11("GET /") "Connection: keep-alive\r\n\r\n", "GET", "/", "", "h",
       1, HOST | KEEP, 0, 2),
    OK("close between blanks", H11("GET /") "Connection:  close \r\n\r\n", "GET", "/", "", "h",
       1, HOST | CLOSE, 0, 2),
    OK("keep-alive among other tokens", H11("GET /") "Connection: Upgrade, keep-alive\r\n\r\n",
       "GET", "/", "", "h", 1, HOST | KEEP, 0, 2),
    OK("'closed' is not close", H11("GET /") "Connection: closed\r\n\r\n", "GET", "/", "", "h", 1,
       HOST, 0, 2),
    OK("'close-ish' is not close", H11("GET /") "Connection: close-ish\r\n\r\n", "GET", "/", "",
       "h", 1, HOST, 0, 2),
    OK("a Keep-Alive field sets no flag", H11("GET /") "Keep-Alive: timeout=5\r\n\r\n", "GET",
       "/", "", "h", 1, HOST, 0, 2),
    OK("websocket upgrade request",
       H11("GET /ws") "Connection: Upgrade\r\nUpgrade: websocket\r\n"
       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
       "GET", "/ws", "", "h", 1, HOST, 0, 5),
    /* accepted: fields */
    OK("value holding colons", H11("GET /") "X: a:b::c\r\n\r\n", "GET", "/", "", "h", 1, HOST, 0,
       2),
    OK("every tchar in a name", H11("GET /") "!#$%&'*+-.^_`|~09Az: v\r\n\r\n", "GET", "/", "",
       "h", 1, HOST, 0, 2),
    OK("value of blanks only", H11("GET /") "X:   \t \r\n\r\n", "GET", "/", "", "h", 1, HOST, 0,
       2),
    OK("value of one HTAB", H11("GET /") "X:\t\r\n\r\n", "GET", "/", "", "h", 1, HOST, 0, 2),
    OK("repeated ordinary field", H11("GET /") "Accept: a\r\nAccept: b\r\n\r\n", "GET", "/", "",
       "h", 1, HOST, 0, 3),
    OK("UTF-8 in a value", H11("GET /") "X-Name: Jos\xc3\xa9\r\n\r\n", "GET", "/", "", "h", 1,
       HOST, 0, 2),
    OK("cookie with quotes and equals",
       H11("GET /") "Cookie: a=\"b c\"; d=e==; sessionid=0123456789abcdef\r\n\r\n", "GET", "/",
       "", "h", 1, HOST, 0, 2),
    OK("16 fields: exactly max_headers", H11("GET /") FIELDS8 "J: 9\r\nK: 10\r\nL: 11\r\nM: 12\r\n"
       "N: 13\r\nO: 14\r\nP: 15\r\n\r\n", "GET", "/", "", "h", 1, HOST, 0, 16),
    OK("what a browser sends",
       "GET /api/items/?page=2 HTTP/1.1\r\nHost: localhost:8000\r\n"
       "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
       "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
       "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
       "Referer: http://localhost:8000/\r\nConnection: keep-alive\r\n"
       "Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\n\r\n",
       "GET", "/api/items/", "page=2", "localhost:8000", 1, HOST | KEEP, 0, 9),
    OK("what nginx's proxy_pass sends",
       "POST /api/echo/ HTTP/1.0\r\nHost: backend\r\nX-Real-IP: 10.0.0.1\r\n"
       "X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
       "POST", "/api/echo/", "", "backend", 0, HOST | CLOSE | LEN, 0, 5),

    /* CL.TE / TE.CL: both framings in one request */
    CLS("CL.TE", "classic probe with a smuggled prefix",
        P11 "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400),
    CLS("CL.TE", "lower-case names", P11 "content-length: 4\r\ntransfer-encoding: chunked\r\n\r\n",
        400),
    CLS("CL.TE", "Content-Length 0", P11 "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
        400),
    CLS("CL.TE", "with an unknown coding as well",
        P11 "Content-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400),
    CLS("TE.CL", "classic probe",
        P11 "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n", 400),
    CLS("TE.CL", "Content-Length far below", P11 "Transfer-Encoding: chunked\r\n"
        "X: 1\r\nContent-Length: 0\r\n\r\n", 400),
    CLS("TE.CL", "on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n"
        "Content-Length: 5\r\n\r\n", 400),
    /* TE.TE: obfuscated Transfer-Encoding */
    CLS("TE.TE", "xchunked", P11 "Transfer-Encoding: xchunked\r\n\r\n", 501),
    CLS("TE.TE", "chunk", P11 "Transfer-Encoding: chunk\r\n\r\n", 501),
    CLS("TE.TE", "quoted chunked", P11 "Transfer-Encoding: \"chunked\"\r\n\r\n", 501),
    CLS("TE.TE", "chunked then x", P11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
        501),
    CLS("TE.TE", "chunked, identity", P11 "Transfer-Encoding: chunked, identity\r\n\r\n", 501),
    CLS("TE.TE", "chunked with an empty parameter", P11 "Transfer-Encoding: chunked;\r\n\r\n",
        501),
    CLS("TE.TE", "blank before the colon", P11 "Transfer-Encoding : chunked\r\n\r\n", 400),
    CLS("TE.TE", "HTAB before the colon", P11 "Transfer-Encoding\t: chunked\r\n\r\n", 400),
    CLS("TE.TE", "vertical tab in the name", P11 "Transfer-Encoding\x0b: chunked\r\n\r\n", 400),
    CLS("TE.TE", "NUL after chunked", P11 "Transfer-Encoding: chunked\0\r\n\r\n", 400),
    CLS("TE.TE", "NUL inside chunked", P11 "Transfer-Encoding: chu\0nked\r\n\r\n", 400),
    CLS("TE.TE", "folded onto a previous field", P11 "X: y\r\n Transfer-Encoding: chunked\r\n\r\n",
        400),
    CLS("TE.TE", "gzip folded after chunked", P11 "Transfer-Encoding: chunked\r\n gzip\r\n\r\n",
        400),
    CLS("TE.TE", "chunked twice, mixed case", P11 "Transfer-Encoding: cHuNkEd, CHUNKED\r\n\r\n",
        400),
    CLS("TE.TE", "bare LF before the field", P11 "X: y\nTransfer-Encoding: chunked\r\n\r\n", 400),
    /* CL.CL and malformed lengths */
    CLS("CL.CL", "two lines, two values", P11 "Content-Length: 5\r\ncontent-length: 6\r\n\r\n",
        400),
    CLS("CL.CL", "a list of two values", P11 "Content-Length: 5, 50\r\n\r\n", 400),
    CLS("CL.CL", "a list with a trailing empty member", P11 "Content-Length: 5,\r\n\r\n", 400),
    CLS("CL.CL", "an equal pair then a different one",
        P11 "Content-Length: 1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    CLS("BAD-CL", "decimal point", P11 "Content-Length: 1.5\r\n\r\n", 400),
    CLS("BAD-CL", "trailing letter", P11 "Content-Length: 5a\r\n\r\n", 400),
    CLS("BAD-CL", "20 digits (overflow)", P11 "Content-Length: 99999999999999999999\r\n\r\n",
        400),
    CLS("BAD-CL", "only a tab", P11 "Content-Length:\t\r\n\r\n", 400),
    CLS("BAD-CL", "blank inside the field name", P11 "Content Length: 5\r\n\r\n", 400),
    /* line endings */
    CLS("BARE-LF", "after the Host value", "GET / HTTP/1.1\r\nHost: h\n\r\n", 400),
    CLS("BARE-LF", "after the request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400),
    CLS("BARE-LF", "as the blank line", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400),
    CLS("BARE-LF", "inside a value", H11("GET /") "X: a\nb: c\r\n\r\n", 400),
    CLS("BARE-CR", "in the target", "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    CLS("BARE-CR", "CR CR LF after a value", H11("GET /") "X: a\r\r\n\r\n", 400),
    CLS("BARE-CR", "in a field name", H11("GET /") "X\rY: a\r\n\r\n", 400),
    /* obs-fold */
    CLS("OBS-FOLD", "on Host", "GET / HTTP/1.1\r\nHost: h\r\n\tx\r\n\r\n", 400),
    CLS("OBS-FOLD", "a line of one blank", H11("GET /") "X: a\r\n \r\n\r\n", 400),
    CLS("OBS-FOLD", "on Content-Length", P11 "Content-Length:\r\n 5\r\n\r\n", 400),
    /* controls in names and values, blanks in names */
    CLS("CTL-NAME", "NUL in a name", H11("GET /") "X\0Y: v\r\n\r\n", 400),
    CLS("CTL-NAME", "control before a name", H11("GET /") "\x01X: v\r\n\r\n", 400),
    CLS("CTL-NAME", "DEL in a name", H11("GET /") "X\x7f: v\r\n\r\n", 400),
    CLS("CTL-NAME", "separator as the name", H11("GET /") "@: v\r\n\r\n", 400),
    CLS("NAME-WS", "blank inside a name", H11("GET /") "X Y: v\r\n\r\n", 400),
    CLS("CTL-VALUE", "escape sequence", H11("GET /") "X: \x1b[31mred\r\n\r\n", 400),
    CLS("CTL-VALUE", "vertical tab", H11("GET /") "X: a\x0b\r\n\r\n", 400),
    CLS("CTL-VALUE", "NUL in Host", "GET / HTTP/1.1\r\nHost: h\0evil\r\n\r\n", 400),
    CLS("CTL-VALUE", "form feed", H11("GET /") "X: \x0c\r\n\r\n", 400),
    /* Host */
    CLS("HOST", "missing on a POST", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400),
    CLS("HOST", "doubled with the same value", "GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n",
        400),
    CLS("HOST", "doubled with another value", "GET / HTTP/1.1\r\nHost: h\r\nhost: evil\r\n\r\n",
        400),
    CLS("HOST", "missing beside an absolute-form target", "GET http://h/ HTTP/1.1\r\n\r\n", 400),
    CLS("HOST", "backslash", "GET / HTTP/1.1\r\nHost: h\\evil\r\n\r\n", 400),
    /* versions */
    CLS("VERSION", "junk after it", "GET / HTTP/1.1x\r\nHost: h\r\n\r\n", 400),
    CLS("VERSION", "blank after the slash", "GET / HTTP/ 1.1\r\nHost: h\r\n\r\n", 400),
    CLS("VERSION", "three parts", "GET / HTTP/1.1.1\r\nHost: h\r\n\r\n", 400),
    CLS("VERSION", "HTTPS/1.1", "GET / HTTPS/1.1\r\nHost: h\r\n\r\n", 400),
    CLS("VERSION", "HTTP/3 without minor", "GET / HTTP/3\r\nHost: h\r\n\r\n", 400),
    CLS("VERSION", "HTTP/9.0", "GET / HTTP/9.0\r\nHost: h\r\n\r\n", 505),
    CLS("VERSION", "NUL in the version", "GET / HTTP/1.\0\r\nHost: h\r\n\r\n", 400),
    /* targets and methods */
    CLS("TARGET", "a bare '?'", "GET ? HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    CLS("TARGET", "percent-encoded slash first", "GET %2F HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    CLS("TARGET", "javascript: scheme", "GET javascript:alert(1) HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    CLS("TARGET", "userinfo smuggling another host", "GET http://h@evil/ HTTP/1.1\r\nHost: h\r\n\r\n",
        400),
    CLS("TARGET", "empty target", "GET  HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    CLS("TARGET", "a word after the version", "GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n", 400),
    CLS("TARGET", "blank inside the path", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    CLS("METHOD", "blank inside the method", "G ET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    CLS("METHOD", "NUL in the method", "G\0ET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    CLS("METHOD", "empty method", " / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    CLS("METHOD", "CONNECT to a host", "CONNECT evil:25 HTTP/1.1\r\nHost: evil:25\r\n\r\n", 405),
    /* expectations and limits */
    CLS("EXPECT", "101-continue", P11 "Content-Length: 1\r\nExpect: 101-continue\r\n\r\n", 417),
    CLS("LIMIT", "17 fields over max_headers 16",
        H11("GET /") FIELDS8 "J: 9\r\nK: 10\r\nL: 11\r\nM: 12\r\nN: 13\r\nO: 14\r\nP: 15\r\n"
        "Q: 16\r\n\r\n", 431),
};

#define NPLAN (sizeof(plan_heads) / sizeof(plan_heads[0]))
#define NCASES (NHEADS + NPLAN)

/* Row i of heads[] followed by plan_heads[]. */
static const http_case_t *head_row(size_t i)
{
    return i < NHEADS ? &heads[i] : &plan_heads[i - NHEADS];
}

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
        parse_copy(head_row(i), head_row(i)->len, 0, "at once", 1);
}

Test(http_parse, table_byte_by_byte)
{
    size_t i, n;

    for (i = 0; i < NCASES; i++) {
        const http_case_t *c = head_row(i);

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
        const http_case_t *c = head_row(i);

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

#define NCHUNKS0 (sizeof(chunks) / sizeof(chunks[0]))

/* Chunked bodies of the test plan, each rejected one named after its class:
 * CHUNK-SIZE (not plain hex), CHUNK-OVERFLOW, CHUNK-CRLF (data not followed
 * by CRLF: the size lies), CHUNK-EXT, BARE-LF/BARE-CR, TRAILER. */
#define CH_CLS(cls, name, raw, err) CH_BAD(cls ": " name, raw, err)

static const chunk_case_t plan_chunks[] = {
    CH_OK("one byte chunks", "1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n", 0, "abc"),
    CH_OK("upper-case hex size", "1F\r\n0123456789abcdef0123456789abcde\r\n0\r\n\r\n", 0,
          "0123456789abcdef0123456789abcde"),
    CH_OK("extension with a quoted CRLF-free string", "3;x=\"a;b\"\r\nabc\r\n0\r\n\r\n", 0,
          "abc"),
    CH_OK("a pipelined request after a trailer",
          "2\r\nhi\r\n0\r\nX: y\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 27, "hi"),
    CH_OK("NUL bytes in data are data", "3\r\na\0b\r\n0\r\n\r\n", 0, "a\0b"),
    CH_MORE("inside the size line", "1", ""),
    CH_MORE("inside an extension", "5;name=val", ""),
    CH_MORE("after data, before its CRLF", "2\r\nab", "ab"),
    CH_MORE("after data and CR", "2\r\nab\r", "ab"),
    CH_CLS("CHUNK-SIZE", "plus sign", "+5\r\nhello\r\n0\r\n\r\n", SIZE),
    CH_CLS("CHUNK-SIZE", "upper-case 0X prefix", "0X5\r\nhello\r\n", SIZE),
    CH_CLS("CHUNK-SIZE", "h suffix", "5h\r\nhello\r\n", SIZE),
    CH_CLS("CHUNK-SIZE", "tab then CRLF", "5\t\r\nhello\r\n", SIZE),
    CH_CLS("CHUNK-SIZE", "extension without a size", ";a=1\r\nhello\r\n", SIZE),
    CH_CLS("CHUNK-SIZE", "empty size line between chunks", "5\r\nhello\r\n\r\n0\r\n\r\n", SIZE),
    CH_CLS("CHUNK-SIZE", "decimal point", "1.5\r\nx\r\n", SIZE),
    CH_CLS("CHUNK-SIZE", "NUL after the size", "5\0\r\nhello\r\n", SIZE),
    CH_CLS("CHUNK-SIZE", "underscore separator", "1_0\r\n", SIZE),
    CH_CLS("CHUNK-OVERFLOW", "sixteen f", "ffffffffffffffff\r\n", OVERFLOW),
    CH_CLS("CHUNK-OVERFLOW", "twenty hex digits", "10000000000000000000\r\n", OVERFLOW),
    CH_CLS("CHUNK-OVERFLOW", "wraps to a small size", "10000000000000005\r\nhello\r\n0\r\n\r\n",
           OVERFLOW),
    CH_CLS("CHUNK-CRLF", "more data than the size", "3\r\nabcdef\r\n0\r\n\r\n", DATA_CRLF),
    CH_CLS("CHUNK-CRLF", "LF CR after data", "3\r\nabc\n\r0\r\n\r\n", DATA_CRLF),
    CH_CLS("CHUNK-CRLF", "next size glued to the data", "3\r\nabc3\r\ndef\r\n0\r\n\r\n",
           DATA_CRLF),
    CH_CLS("CHUNK-CRLF", "size shorter than the data, smuggling a request",
           "1\r\nxGET /admin HTTP/1.1\r\n\r\n0\r\n\r\n", DATA_CRLF),
    CH_CLS("CHUNK-EXT", "NUL in an extension", "5;\0\r\nhello\r\n", EXT),
    CH_CLS("CHUNK-EXT", "DEL in an extension", "5;a=\x7f\r\nhello\r\n", EXT),
    CH_CLS("BARE-CR", "CR CR LF after the last chunk", "0\r\r\n\r\n", LINE_END),
    CH_CLS("BARE-LF", "LF after the size of the last chunk", "0\n\r\n", LINE_END),
    CH_CLS("TRAILER", "NUL in a trailer value", "0\r\nX: a\0\r\n\r\n", TRAILER),
    CH_CLS("TRAILER", "blank before the colon", "0\r\nX : a\r\n\r\n", TRAILER),
    CH_CLS("TRAILER", "blank inside the name", "0\r\nX Y: a\r\n\r\n", TRAILER),
};

#define NPLAN_CHUNKS (sizeof(plan_chunks) / sizeof(plan_chunks[0]))
#define NCHUNKS (NCHUNKS0 + NPLAN_CHUNKS)

static const chunk_case_t *chunk_row(size_t i)
{
    return i < NCHUNKS0 ? &chunks[i] : &plan_chunks[i - NCHUNKS0];
}

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
        for (piece = 1; piece <= chunk_row(i)->len || piece == 1; piece++)
            check_chunks(chunk_row(i), piece);
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

/* The test plan holds at least 60 accepted and 60 rejected requests, and
 * every rejected one names a smuggling or framing class. */
Test(http_plan, sixty_valid_sixty_invalid_each_classed)
{
    static const char *const classes[] = {
        "CL.TE: ", "TE.CL: ", "TE.TE: ", "CL.CL: ", "BAD-CL: ", "BARE-LF: ", "BARE-CR: ",
        "OBS-FOLD: ", "CTL-NAME: ", "CTL-VALUE: ", "NAME-WS: ", "HOST: ", "VERSION: ",
        "TARGET: ", "METHOD: ", "EXPECT: ", "LIMIT: ", "CHUNK-SIZE: ", "CHUNK-OVERFLOW: ",
        "CHUNK-CRLF: ", "CHUNK-EXT: ", "TRAILER: ",
    };
    size_t i, k, valid = 0, invalid = 0;

    for (i = 0; i < NPLAN + NPLAN_CHUNKS; i++) {
        const char *name = i < NPLAN ? plan_heads[i].name : plan_chunks[i - NPLAN].name;
        ssize_t ret = i < NPLAN ? plan_heads[i].ret : plan_chunks[i - NPLAN].ret;
        int classed = 0;

        if (ret != CRL_ERROR) {
            valid += ret != CRL_AGAIN;
            continue;
        }
        invalid++;
        for (k = 0; k < sizeof(classes) / sizeof(classes[0]); k++)
            classed |= strncmp(name, classes[k], strlen(classes[k])) == 0;
        cr_expect(classed, "rejected row '%s' names no class", name);
    }
    cr_expect_geq(valid, 60, "only %zu accepted rows", valid);
    cr_expect_geq(invalid, 60, "only %zu rejected rows", invalid);
}
