/*
 * libFuzzer target for the chunked body decoder in protocol/crl_http.c.
 * Two checks per input, aborting on a violation:
 * 1. The input as a raw chunked body: decoded at once and in pieces (cut
 *    where the input says), the result, the body and the bytes left over
 *    are the same; the body is never longer than the input; what is left
 *    over is the input's tail; errors are sticky and have a text.
 * 2. The input as a body to send: chunk it (sizes, hex case, extensions,
 *    trailers chosen from its bytes), append the start of a next request,
 *    decode in pieces: the body and the next request come back exactly.
 * Every call decodes a heap buffer of exactly the bytes it is given.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/crl_http.h"

#define MAX_IN 16384
#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_chunked: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

typedef struct {
    ssize_t ret; /* CRL_AGAIN, CRL_ERROR, or 0 when done */
    int error;
    size_t body_len, left_len;
} outcome_t;

static char body_a[MAX_IN], body_b[MAX_IN], left_a[MAX_IN], left_b[MAX_IN];
static char wire[40 * MAX_IN]; /* 1-byte chunks with extensions */

/* Decode in[0..len) cut at the given lengths (a 0-terminated list of
 * increasing offsets). */
static void decode(const char *in, size_t len, const size_t *cuts, char *body, char *left,
                   outcome_t *o)
{
    crl_http_chunked_t st = { 0 };
    size_t off = 0;

    memset(o, 0, sizeof(*o));
    o->ret = CRL_AGAIN;
    while (off < len || (off == 0 && len == 0)) {
        size_t end = *cuts && *cuts < len ? *cuts++ : len;
        size_t n = end - off, got = n;
        char *buf = malloc(n ? n : 1);
        ssize_t r;

        CHECK(buf != NULL);
        memcpy(buf, in + off, n);
        r = crl_http_decode_chunked(&st, buf, &got);
        CHECK(r == CRL_AGAIN || r == CRL_ERROR || (r >= 0 && (size_t)r <= n - got));
        CHECK(got <= n);
        if (o->ret == CRL_AGAIN) {
            memcpy(body + o->body_len, buf, got);
            o->body_len += got;
        } else {
            CHECK(r == o->ret || (o->ret == 0 && r == (ssize_t)n && got == 0));
        }
        if (r >= 0) {
            memcpy(left + o->left_len, buf + got, (size_t)r);
            o->left_len += (size_t)r;
            o->ret = 0;
        } else if (r == CRL_ERROR) {
            CHECK(st.error >= CRL_HTTP_CHUNKED_E_SIZE && st.error <= CRL_HTTP_CHUNKED_E_TRAILER);
            CHECK(strcmp(crl_http_chunked_strerror(st.error), "no error") != 0);
            o->ret = CRL_ERROR;
            o->error = st.error;
        }
        free(buf);
        off = end;
        if (len == 0)
            break;
    }
}

static void check_raw(const uint8_t *data, size_t size)
{
    size_t none[] = { 0 }, cuts[8], n = 0, at = 0, i;
    outcome_t a, b;

    for (i = 0; i < size && n < 7; i = at) {
        at = i + 1 + data[i] % 23;
        if (at >= size)
            break;
        cuts[n++] = at;
    }
    cuts[n] = 0;
    decode((const char *)data, size, none, body_a, left_a, &a);
    decode((const char *)data, size, cuts, body_b, left_b, &b);
    CHECK(a.ret == b.ret && a.error == b.error && a.body_len == b.body_len);
    CHECK(memcmp(body_a, body_b, a.body_len) == 0);
    CHECK(a.body_len <= size);
    if (a.ret == 0) {
        CHECK(a.left_len == b.left_len && a.left_len <= size);
        CHECK(memcmp(left_a, data + size - a.left_len, a.left_len) == 0);
        CHECK(memcmp(left_b, left_a, a.left_len) == 0);
    }
}

/* Chunk data[0..size) the way a client might, then the next request. */
static size_t encode(const uint8_t *data, size_t size)
{
    static const char next[] = "GET /next HTTP/1.1\r\n";
    size_t w = 0, i = 0;
    unsigned salt = size ? data[0] : 0;

    while (i < size) {
        size_t chunk = 1 + (data[i] ^ salt) % 300;

        if (chunk > size - i)
            chunk = size - i;
        if (data[i] & 1)
            w += (size_t)sprintf(wire + w, "%zx", chunk);
        else
            w += (size_t)sprintf(wire + w, "%0*zX", (int)(data[i] % 5), chunk);
        if (data[i] & 2)
            w += (size_t)sprintf(wire + w, " ;ext=\"v %u\";flag", data[i]);
        w += (size_t)sprintf(wire + w, "\r\n");
        memcpy(wire + w, data + i, chunk);
        w += chunk;
        w += (size_t)sprintf(wire + w, "\r\n");
        i += chunk;
    }
    w += (size_t)sprintf(wire + w, "0\r\n%s\r\n", (salt & 4) ? "X-Checksum: abc\r\nY:\r\n" : "");
    memcpy(wire + w, next, sizeof(next) - 1);
    return w + sizeof(next) - 1;
}

static void check_encoded(const uint8_t *data, size_t size)
{
    size_t len = encode(data, size);
    size_t cuts[] = { 1, 3, len / 3, len / 2, len - 5, 0 }, i;
    outcome_t o;

    for (i = 1; cuts[i] != 0; i++)
        if (cuts[i] <= cuts[i - 1])
            cuts[i] = cuts[i - 1] + 1;
    decode(wire, len, cuts, body_a, left_a, &o);
    CHECK(o.ret == 0);
    CHECK(o.body_len == size && memcmp(body_a, data, size) == 0);
    CHECK(o.left_len == sizeof("GET /next HTTP/1.1\r\n") - 1);
    CHECK(memcmp(left_a, "GET /next HTTP/1.1\r\n", o.left_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_IN)
        return -1;
    check_raw(data, size);
    check_encoded(data, size);
    return 0;
}
