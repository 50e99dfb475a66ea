/*
 * libFuzzer target for protocol/crl_uwsgi.c. The input is what a client
 * wrote to a uwsgi socket. Aborts when the parser breaks its contract:
 * - the result is CRL_AGAIN, CRL_ERROR with a known error, or 4 + size
 *   bytes, at most the input;
 * - every key and value lies inside the vars block, keys are not empty;
 * - a prefix of the input gives CRL_AGAIN or the same answer;
 * - with a limit just below what the packet needs, TOO_LARGE or TOO_MANY;
 * - encode(parse(x)) gives back x byte for byte, and parse(encode) the
 *   same vars;
 * - crl_parse_content_length agrees with strtoll on plain digits.
 * Every parse reads a heap copy of exactly the bytes it is given, so ASan
 * reports any read past them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/crl_uwsgi.h"

#define MAXV 512
#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz_uwsgi: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

typedef struct {
    ssize_t ret;
    crl_uwsgi_packet_t pkt;
    crl_var_t vars[MAXV];
} result_t;

static crl_var_t scratch_vars[MAXV];
static char encoded[CRL_UWSGI_HEADER_SIZE + 65536];

/* Parse data[0..n) from an exact-size copy; slices are rebased onto data. */
static void parse(const uint8_t *data, size_t n, size_t max_size, size_t max_vars, result_t *r)
{
    char *copy = malloc(n ? n : 1);
    size_t i;

    CHECK(copy != NULL);
    memcpy(copy, data, n);
    r->ret = crl_uwsgi_parse(copy, n, max_size, &r->pkt, r->vars, max_vars);
    if (r->ret > 0) {
        for (i = 0; i < r->pkt.nvars; i++) {
            crl_var_t *v = &r->vars[i];

            CHECK(v->key.len > 0);
            CHECK(v->key.data >= copy + 4 && v->key.data + v->key.len <= copy + r->ret);
            CHECK(v->value.data >= copy + 4 && v->value.data + v->value.len <= copy + r->ret);
            v->key.data = (const char *)data + (v->key.data - copy);
            v->value.data = (const char *)data + (v->value.data - copy);
        }
    }
    free(copy);
}

static void check_shape(const result_t *r, size_t n, size_t max_size, size_t max_vars)
{
    CHECK(r->ret == CRL_AGAIN || r->ret == CRL_ERROR || r->ret > 0);
    if (r->ret == CRL_ERROR) {
        CHECK(r->pkt.error >= CRL_UWSGI_E_TRUNCATED && r->pkt.error <= CRL_UWSGI_E_BAD_LENGTH);
        CHECK(strlen(crl_uwsgi_strerror(r->pkt.error)) > 0);
        return;
    }
    CHECK(r->pkt.error == CRL_UWSGI_OK);
    if (r->ret < 0)
        return;
    CHECK((size_t)r->ret == CRL_UWSGI_HEADER_SIZE + r->pkt.size && (size_t)r->ret <= n);
    CHECK(r->pkt.size <= max_size && r->pkt.nvars <= max_vars);
    CHECK(r->pkt.content_length >= 0);
}

static int same(const result_t *a, const result_t *b)
{
    if (a->ret != b->ret)
        return 0;
    if (a->ret == CRL_ERROR)
        return a->pkt.error == b->pkt.error;
    if (a->ret < 0)
        return 1;
    return a->pkt.nvars == b->pkt.nvars && a->pkt.content_length == b->pkt.content_length &&
           memcmp(a->vars, b->vars, a->pkt.nvars * sizeof(a->vars[0])) == 0;
}

static void check_prefixes(const uint8_t *data, size_t size, const result_t *full)
{
    size_t cuts[] = { 0, 1, 2, 3, 4, 5, 6, 8, 17, size / 2, size - 1 };
    static result_t r;
    size_t i;

    for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        if (cuts[i] >= size)
            continue;
        parse(data, cuts[i], 65535, MAXV, &r);
        check_shape(&r, cuts[i], 65535, MAXV);
        CHECK(r.ret == CRL_AGAIN || same(&r, full));
    }
}

/* Limits just below what a good packet needs fail the way they should. */
static void check_limits(const uint8_t *data, size_t size, const result_t *full)
{
    static result_t r;

    if (full->pkt.size > 0) {
        parse(data, size, full->pkt.size - 1u, MAXV, &r);
        CHECK(r.ret == CRL_ERROR && r.pkt.error == CRL_UWSGI_E_TOO_LARGE);
    }
    if (full->pkt.nvars > 0) {
        parse(data, size, 65535, full->pkt.nvars - 1, &r);
        CHECK(r.ret == CRL_ERROR && r.pkt.error == CRL_UWSGI_E_TOO_MANY);
    }
}

static void check_roundtrip(const uint8_t *data, const result_t *full)
{
    static result_t again;
    ssize_t n = crl_uwsgi_encode(encoded, sizeof(encoded), full->pkt.modifier1,
                                 full->pkt.modifier2, full->vars, full->pkt.nvars);
    size_t i;

    CHECK(n == full->ret);
    CHECK(memcmp(encoded, data, (size_t)n) == 0);
    parse((const uint8_t *)encoded, (size_t)n, 65535, MAXV, &again);
    CHECK(again.ret == n && again.pkt.nvars == full->pkt.nvars);
    for (i = 0; i < again.pkt.nvars; i++) {
        CHECK(again.vars[i].key.len == full->vars[i].key.len);
        CHECK(memcmp(again.vars[i].key.data, full->vars[i].key.data, again.vars[i].key.len) == 0);
        CHECK(again.vars[i].value.len == full->vars[i].value.len);
        CHECK(memcmp(again.vars[i].value.data, full->vars[i].value.data,
                     again.vars[i].value.len) == 0);
    }
}

static void check_content_length(const uint8_t *data, size_t size)
{
    size_t n = size < 24 ? size : 24, i;
    char text[25];
    int digits = n >= 1 && n <= 18;
    int64_t v = -1;

    memcpy(text, data, n);
    text[n] = '\0';
    for (i = 0; i < n; i++)
        digits = digits && text[i] >= '0' && text[i] <= '9';
    CHECK((crl_parse_content_length(text, n, &v) == CRL_OK) == digits);
    if (digits)
        CHECK(v == strtoll(text, NULL, 10));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static result_t full;

    parse(data, size, 65535, MAXV, &full);
    check_shape(&full, size, 65535, MAXV);
    check_prefixes(data, size, &full);
    if (full.ret > 0) {
        check_limits(data, size, &full);
        check_roundtrip(data, &full);
    }
    /* a smaller var array only ever fails with TOO_MANY */
    {
        ssize_t r = crl_uwsgi_parse((const char *)data, size, 65535, &full.pkt, scratch_vars, 4);

        CHECK(r == full.ret || (r == CRL_ERROR && full.pkt.error == CRL_UWSGI_E_TOO_MANY));
    }
    check_content_length(data, size);
    return 0;
}
