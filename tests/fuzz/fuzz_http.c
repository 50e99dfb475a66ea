/*
 * libFuzzer target for the HTTP/1.1 head parser in protocol/crl_http.c.
 * The input is what a client wrote to an http-socket. Aborts when the
 * parser breaks its contract:
 * - the result is CRL_AGAIN, CRL_ERROR with a status we send (400, 405,
 *   414, 417, 431, 501, 505), a reason and a reason phrase, or a head
 *   length ending in CRLF CRLF, at most the input and max_head;
 * - every slice lies inside the head, path and query inside the target;
 * - flags agree (chunked never with a length, HTTP/1.1 always has Host);
 * - fed byte by byte (last_len = the previous length) or in two pieces,
 *   the first answer that is not CRL_AGAIN is the answer at once;
 * - a smaller max_head gives the same answer, or 414/431;
 * - percent-decoding the path in place and out of place agree.
 * Every parse reads a heap copy of exactly the bytes it is given.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/crl_http.h"

#define MAX_HEAD 16384
#define MAX_HEADERS 32
#define BYTE_BY_BYTE_MAX 512
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "fuzz_http: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

/* A parse result with every slice stored as an offset into the input. */
typedef struct {
    ssize_t ret;
    int status;
    const char *reason;
    size_t off[5], len[5]; /* method, target, path, query, host */
    int minor;
    unsigned flags;
    int64_t content_length;
    size_t nheaders;
    size_t hoff[MAX_HEADERS][2], hlen[MAX_HEADERS][2];
} result_t;

static int in_slice(crl_str_t s, const char *base, size_t len)
{
    return s.data >= base && s.data + s.len <= base + len;
}

static void record(const char *base, ssize_t ret, const crl_http_request_t *r, result_t *out)
{
    const crl_str_t *s[5] = { &r->method, &r->target, &r->path, &r->query, &r->host };
    size_t i;

    memset(out, 0, sizeof(*out));
    out->ret = ret;
    out->status = r->status;
    out->reason = r->reason;
    if (ret <= 0)
        return;
    for (i = 0; i < 5; i++) {
        CHECK(in_slice(*s[i], base, (size_t)ret));
        out->off[i] = (size_t)(s[i]->data - base);
        out->len[i] = s[i]->len;
    }
    for (i = 0; i < r->nheaders; i++) {
        CHECK(in_slice(r->headers[i].name, base, (size_t)ret));
        CHECK(in_slice(r->headers[i].value, base, (size_t)ret));
        out->hoff[i][0] = (size_t)(r->headers[i].name.data - base);
        out->hlen[i][0] = r->headers[i].name.len;
        out->hoff[i][1] = (size_t)(r->headers[i].value.data - base);
        out->hlen[i][1] = r->headers[i].value.len;
    }
    out->minor = r->minor_version;
    out->flags = r->flags;
    out->content_length = r->content_length;
    out->nheaders = r->nheaders;
}

static void check_success(const char *buf, ssize_t ret, const crl_http_request_t *r,
                          size_t max_head)
{
    size_t i;

    CHECK(ret >= 4 && (size_t)ret <= max_head && memcmp(buf + ret - 4, "\r\n\r\n", 4) == 0);
    CHECK(r->method.len > 0 && r->target.len > 0);
    CHECK(in_slice(r->path, r->target.data, r->target.len));
    CHECK(in_slice(r->query, r->target.data, r->target.len));
    CHECK(r->minor_version == 0 || r->minor_version == 1);
    CHECK(!((r->flags & CRL_HTTP_CHUNKED) && (r->flags & CRL_HTTP_HAS_LENGTH)));
    CHECK(r->minor_version == 0 || (r->flags & CRL_HTTP_HAS_HOST));
    CHECK(!(r->flags & CRL_HTTP_CHUNKED) || r->minor_version == 1);
    CHECK(r->content_length >= 0);
    CHECK((r->flags & CRL_HTTP_HAS_LENGTH) || r->content_length == 0);
    CHECK(r->nheaders <= MAX_HEADERS);
    for (i = 0; i < r->nheaders; i++)
        CHECK(r->headers[i].name.len > 0);
}

static void check_error(const crl_http_request_t *r)
{
    static const int statuses[] = { 400, 405, 414, 417, 431, 501, 505 };
    size_t i;
    int known = 0;

    for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        known |= r->status == statuses[i];
    CHECK(known);
    CHECK(r->reason != NULL && r->reason[0] != '\0');
    CHECK(crl_http_reason(r->status)[0] != '\0');
}

/* Parse data[0..n) from an exact-size heap copy. */
static ssize_t parse(const uint8_t *data, size_t n, size_t last_len, size_t max_head,
                     result_t *out)
{
    static crl_http_header_t hdrs[MAX_HEADERS];
    crl_http_request_t r = { .headers = hdrs };
    char *copy = malloc(n ? n : 1);
    ssize_t ret;

    CHECK(copy != NULL);
    memcpy(copy, data, n);
    ret = crl_http_parse_request(copy, n, last_len, max_head, &r, MAX_HEADERS);
    CHECK(ret == CRL_AGAIN || ret == CRL_ERROR || ret > 0);
    if (ret == CRL_ERROR)
        check_error(&r);
    else if (ret > 0)
        check_success(copy, ret, &r, max_head);
    record(copy, ret, &r, out);
    free(copy);
    return ret;
}

static int same(const result_t *a, const result_t *b)
{
    if (a->ret != b->ret || a->status != b->status)
        return 0;
    if (a->ret == CRL_ERROR)
        return strcmp(a->reason, b->reason) == 0;
    return memcmp(a, b, sizeof(*a)) == 0;
}

static void check_pieces(const uint8_t *data, size_t size, const result_t *full)
{
    static result_t r;
    size_t n, k;

    if (size <= BYTE_BY_BYTE_MAX) {
        for (n = 1; n <= size; n++)
            if (parse(data, n, n - 1, MAX_HEAD, &r) != CRL_AGAIN || n == size)
                break;
        CHECK(size == 0 || same(&r, full));
    }
    /* two pieces, split where the input says */
    for (k = 1; k < size; k = k * 2 + data[k] % 7) {
        if (parse(data, k, 0, MAX_HEAD, &r) != CRL_AGAIN) {
            CHECK(same(&r, full));
            continue;
        }
        parse(data, size, k, MAX_HEAD, &r);
        CHECK(same(&r, full));
    }
}

/* Nothing past max_head is looked at: a smaller limit changes nothing, or
 * gives 414/431. */
static void check_smaller_limit(const uint8_t *data, size_t size, const result_t *full)
{
    static result_t r;
    size_t max_head = size / 2;

    parse(data, size, 0, max_head, &r);
    if (full->ret > 0 && (size_t)full->ret <= max_head)
        CHECK(same(&r, full));
    else
        CHECK(same(&r, full) ||
              (r.ret == CRL_ERROR && (r.status == 414 || r.status == 431)));
}

static void check_percent(const uint8_t *data, const result_t *full)
{
    static char out[MAX_HEAD], inplace[MAX_HEAD];
    const char *path = (const char *)data + full->off[2];
    size_t len = full->len[2];
    ssize_t a = crl_http_percent_decode(out, path, len), b;

    memcpy(inplace, path, len);
    b = crl_http_percent_decode(inplace, inplace, len);
    CHECK(a == b && (a == CRL_ERROR || (a >= 0 && (size_t)a <= len)));
    CHECK(a < 0 || memcmp(out, inplace, (size_t)a) == 0);
    CHECK(a < 0 || (size_t)a == len || memchr(path, '%', len) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static result_t full;

    if (size > MAX_HEAD)
        return -1;
    parse(data, size, 0, MAX_HEAD, &full);
    check_pieces(data, size, &full);
    check_smaller_limit(data, size, &full);
    if (full.ret > 0)
        check_percent(data, &full);
    return 0;
}
