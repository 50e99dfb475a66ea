/*
 * Tests for protocol/crl_uwsgi.c: tables of raw packets and the result the
 * parser must give for each, fed at once and byte by byte; the 65535-byte
 * vars block; what nginx's uwsgi_params really sends; encode/parse round
 * trips.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/crl_uwsgi.h"

#define RAW(s) s, sizeof(s) - 1
#define MAXV 64

typedef struct {
    const char *name;
    const char *in;
    size_t len;
    size_t max_size;
    size_t max_vars;
    ssize_t ret;           /* expected result */
    crl_uwsgi_error_t err; /* when ret == CRL_ERROR */
    size_t nvars;          /* when ret > 0 */
    int64_t content_length;
} pkt_case_t;

/* A C hex escape eats every hex digit after it, hence the "" "" splits. */
static const pkt_case_t cases[] = {
    /* accepted */
    { "empty vars block", RAW("\x00\x00\x00\x00"), 4096, MAXV, 4, 0, 0, 0 },
    { "one var", RAW("\x00\x06\x00\x00" "\x01\x00" "A" "\x01\x00" "B"), 4096, MAXV, 10, 0, 1, 0 },
    { "body bytes after the block are not ours",
      RAW("\x00\x06\x00\x00" "\x01\x00" "A" "\x01\x00" "B" "body"), 4096, MAXV, 10, 0, 1, 0 },
    { "empty value", RAW("\x00\x05\x00\x00" "\x01\x00" "A" "\x00\x00"), 4096, MAXV, 9, 0, 1, 0 },
    { "same key twice",
      RAW("\x00\x0c\x00\x00" "\x01\x00" "H" "\x01\x00" "a" "\x01\x00" "H" "\x01\x00" "b"), 4096,
      MAXV, 16, 0, 2, 0 },
    { "modifiers are reported, not judged",
      RAW("\xff\x06\x00\xee" "\x01\x00" "A" "\x01\x00" "B"), 4096, MAXV, 10, 0, 1, 0 },
    { "empty CONTENT_LENGTH means 0",
      RAW("\x00\x12\x00\x00" "\x0e\x00" "CONTENT_LENGTH" "\x00\x00"), 4096, MAXV, 22, 0, 1, 0 },
    { "CONTENT_LENGTH 42",
      RAW("\x00\x14\x00\x00" "\x0e\x00" "CONTENT_LENGTH" "\x02\x00" "42"), 4096, MAXV, 24, 0, 1,
      42 },
    { "CONTENT_LENGTH repeated with the same value",
      RAW("\x00\x26\x00\x00" "\x0e\x00" "CONTENT_LENGTH" "\x01\x00" "7"
          "\x0e\x00" "CONTENT_LENGTH" "\x01\x00" "7"),
      4096, MAXV, 42, 0, 2, 7 },
    { "HTTP_TRANSFER_ENCODING does not frame the body",
      RAW("\x00\x21\x00\x00" "\x16\x00" "HTTP_TRANSFER_ENCODING" "\x07\x00" "chunked"), 4096,
      MAXV, 37, 0, 1, 0 },
    { "block exactly max_size", RAW("\x00\x06\x00\x00" "\x01\x00" "A" "\x01\x00" "B"), 6, MAXV,
      10, 0, 1, 0 },
    { "vars exactly max_vars",
      RAW("\x00\x0c\x00\x00" "\x01\x00" "H" "\x01\x00" "a" "\x01\x00" "H" "\x01\x00" "b"), 4096,
      2, 16, 0, 2, 0 },
    { "lower-case method is not HTTP (a packet of 0x7465 bytes)",
      RAW("get / HTTP/1.1\r\n"), 65535, MAXV, CRL_AGAIN, 0, 0, 0 },

    /* incomplete */
    { "nothing yet", RAW(""), 4096, MAXV, CRL_AGAIN, 0, 0, 0 },
    { "3 header bytes", RAW("\x00\x06\x00"), 4096, MAXV, CRL_AGAIN, 0, 0, 0 },
    { "header only", RAW("\x00\x06\x00\x00"), 4096, MAXV, CRL_AGAIN, 0, 0, 0 },
    { "block one byte short", RAW("\x00\x06\x00\x00" "\x01\x00" "A" "\x01\x00"), 4096, MAXV,
      CRL_AGAIN, 0, 0, 0 },
    { "POST without its space yet", RAW("POST"), 4096, MAXV, CRL_AGAIN, 0, 0, 0 },
    { "GE", RAW("GE"), 4096, MAXV, CRL_AGAIN, 0, 0, 0 },

    /* rejected */
    { "key length past the block", RAW("\x00\x04\x00\x00" "\x05\x00" "AB"), 4096, MAXV,
      CRL_ERROR, CRL_UWSGI_E_TRUNCATED, 0, 0 },
    { "value length past the block", RAW("\x00\x06\x00\x00" "\x01\x00" "A" "\x05\x00" "B"), 4096,
      MAXV, CRL_ERROR, CRL_UWSGI_E_TRUNCATED, 0, 0 },
    { "key without a value length", RAW("\x00\x03\x00\x00" "\x01\x00" "A"), 4096, MAXV,
      CRL_ERROR, CRL_UWSGI_E_TRUNCATED, 0, 0 },
    { "key with half a value length", RAW("\x00\x04\x00\x00" "\x01\x00" "A" "\x00"), 4096, MAXV,
      CRL_ERROR, CRL_UWSGI_E_TRUNCATED, 0, 0 },
    { "one trailing byte in the block",
      RAW("\x00\x07\x00\x00" "\x01\x00" "A" "\x01\x00" "B" "\x00"), 4096, MAXV, CRL_ERROR,
      CRL_UWSGI_E_TRUNCATED, 0, 0 },
    { "one-byte block", RAW("\x00\x01\x00\x00" "\x00"), 4096, MAXV, CRL_ERROR,
      CRL_UWSGI_E_TRUNCATED, 0, 0 },
    { "empty key", RAW("\x00\x05\x00\x00" "\x00\x00" "\x01\x00" "B"), 4096, MAXV, CRL_ERROR,
      CRL_UWSGI_E_EMPTY_KEY, 0, 0 },
    { "two trailing zero bytes are an empty key",
      RAW("\x00\x08\x00\x00" "\x01\x00" "A" "\x01\x00" "B" "\x00\x00"), 4096, MAXV, CRL_ERROR,
      CRL_UWSGI_E_EMPTY_KEY, 0, 0 },
    { "more vars than the array",
      RAW("\x00\x0c\x00\x00" "\x01\x00" "H" "\x01\x00" "a" "\x01\x00" "H" "\x01\x00" "b"), 4096,
      1, CRL_ERROR, CRL_UWSGI_E_TOO_MANY, 0, 0 },
    { "block above max_size, known from the header", RAW("\x00\x01\x10\x00"), 4096, MAXV,
      CRL_ERROR, CRL_UWSGI_E_TOO_LARGE, 0, 0 },
    { "block one above max_size", RAW("\x00\x06\x00\x00" "\x01\x00" "A" "\x01\x00" "B"), 5, MAXV,
      CRL_ERROR, CRL_UWSGI_E_TOO_LARGE, 0, 0 },
    { "CONTENT_LENGTH -1",
      RAW("\x00\x14\x00\x00" "\x0e\x00" "CONTENT_LENGTH" "\x02\x00" "-1"), 4096, MAXV, CRL_ERROR,
      CRL_UWSGI_E_BAD_LENGTH, 0, 0 },
    { "CONTENT_LENGTH repeated with another value",
      RAW("\x00\x26\x00\x00" "\x0e\x00" "CONTENT_LENGTH" "\x01\x00" "7"
          "\x0e\x00" "CONTENT_LENGTH" "\x01\x00" "8"),
      4096, MAXV, CRL_ERROR, CRL_UWSGI_E_BAD_LENGTH, 0, 0 },
    { "CONTENT_LENGTH empty then 5",
      RAW("\x00\x25\x00\x00" "\x0e\x00" "CONTENT_LENGTH" "\x00\x00"
          "\x0e\x00" "CONTENT_LENGTH" "\x01\x00" "5"),
      4096, MAXV, CRL_ERROR, CRL_UWSGI_E_BAD_LENGTH, 0, 0 },
    { "GET request line", RAW("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 4096, MAXV, CRL_ERROR,
      CRL_UWSGI_E_HTTP, 0, 0 },
    { "GET and its space are enough", RAW("GET "), 4096, MAXV, CRL_ERROR, CRL_UWSGI_E_HTTP, 0, 0 },
    { "HTTP beats TOO_LARGE", RAW("GET / HTTP/1.1\r\n"), 16, MAXV, CRL_ERROR, CRL_UWSGI_E_HTTP,
      0, 0 },
    { "POST", RAW("POST /form HTTP/1.1\r\n"), 4096, MAXV, CRL_ERROR, CRL_UWSGI_E_HTTP, 0, 0 },
    { "HEAD", RAW("HEAD / HTTP/1.0\r\n"), 4096, MAXV, CRL_ERROR, CRL_UWSGI_E_HTTP, 0, 0 },
    { "PUT", RAW("PUT /x HTTP/1.1\r\n"), 4096, MAXV, CRL_ERROR, CRL_UWSGI_E_HTTP, 0, 0 },
    { "DELETE", RAW("DELETE /x HTTP/1.1\r\n"), 4096, MAXV, CRL_ERROR, CRL_UWSGI_E_HTTP, 0, 0 },
    { "OPTIONS", RAW("OPTIONS * HTTP/1.1\r\n"), 4096, MAXV, CRL_ERROR, CRL_UWSGI_E_HTTP, 0, 0 },
    { "PATCH", RAW("PATCH /x HTTP/1.1\r\n"), 4096, MAXV, CRL_ERROR, CRL_UWSGI_E_HTTP, 0, 0 },
    { "CONNECT", RAW("CONNECT h:443 HTTP/1.1\r\n"), 4096, MAXV, CRL_ERROR, CRL_UWSGI_E_HTTP, 0,
      0 },
    { "TRACE", RAW("TRACE / HTTP/1.1\r\n"), 4096, MAXV, CRL_ERROR, CRL_UWSGI_E_HTTP, 0, 0 },
    { "HTTP/2 preface", RAW("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 4096, MAXV, CRL_ERROR,
      CRL_UWSGI_E_HTTP, 0, 0 },
    { "WebDAV PROPFIND", RAW("PROPFIND /d HTTP/1.1\r\n"), 4096, MAXV, CRL_ERROR,
      CRL_UWSGI_E_HTTP, 0, 0 },
    { "two letters and a space are a packet", RAW("GE / HTTP/1.1"), 4096, MAXV, CRL_ERROR,
      CRL_UWSGI_E_TOO_LARGE, 0, 0 },
    { "17 letters are a packet", RAW("ABCDEFGHIJKLMNOPQ / HTTP/1.1"), 4096, MAXV, CRL_ERROR,
      CRL_UWSGI_E_TOO_LARGE, 0, 0 },
};

/* Check a result against the row; base is the buffer that was parsed. */
static void check_result(const pkt_case_t *c, const char *base, const char *how, ssize_t ret,
                         const crl_uwsgi_packet_t *pkt, const crl_var_t *vars)
{
    size_t i;

    cr_expect_eq(ret, c->ret, "%s (%s): returned %zd, expected %zd", c->name, how, ret, c->ret);
    if (ret == CRL_ERROR && c->ret == CRL_ERROR)
        cr_expect_eq(pkt->error, c->err, "%s (%s): error %d (%s), expected %d", c->name, how,
                     pkt->error, crl_uwsgi_strerror(pkt->error), c->err);
    if (ret < 0 || ret != c->ret)
        return;
    cr_expect_eq(pkt->nvars, c->nvars, "%s (%s): %zu vars, expected %zu", c->name, how,
                 pkt->nvars, c->nvars);
    cr_expect_eq(pkt->content_length, c->content_length, "%s (%s): content_length %lld",
                 c->name, how, (long long)pkt->content_length);
    cr_expect_eq(pkt->modifier1, (uint8_t)c->in[0], "%s: modifier1", c->name);
    cr_expect_eq(pkt->modifier2, (uint8_t)c->in[3], "%s: modifier2", c->name);
    for (i = 0; i < pkt->nvars; i++) {
        const crl_var_t *v = &vars[i];

        cr_expect(v->key.data >= base + 4 && v->key.data + v->key.len <= base + ret,
                  "%s: key %zu outside the block", c->name, i);
        cr_expect(v->value.data >= base + 4 && v->value.data + v->value.len <= base + ret,
                  "%s: value %zu outside the block", c->name, i);
    }
}

/* Parse the first n bytes of a row from a heap copy of exactly n bytes, so
 * that ASan reports any read past them, and check the result when final. */
static ssize_t parse_prefix(const pkt_case_t *c, size_t n, const char *how)
{
    char *copy = malloc(n ? n : 1);
    crl_uwsgi_packet_t pkt;
    crl_var_t vars[MAXV];
    ssize_t ret;

    cr_assert_not_null(copy);
    memcpy(copy, c->in, n);
    ret = crl_uwsgi_parse(copy, n, c->max_size, &pkt, vars, c->max_vars);
    if (ret != CRL_AGAIN || n == c->len)
        check_result(c, copy, how, ret, &pkt, vars);
    free(copy);
    return ret;
}

Test(uwsgi_parse, table_at_once)
{
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        parse_prefix(&cases[i], cases[i].len, "at once");
}

/* A caller reading one byte at a time sees CRL_AGAIN until the same answer
 * as at once, never an earlier or a different one. */
Test(uwsgi_parse, table_byte_by_byte)
{
    size_t i, n;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (n = 0; n <= cases[i].len; n++)
            if (parse_prefix(&cases[i], n, "byte by byte") != CRL_AGAIN)
                break;
}

Test(uwsgi_parse, header_fields_known_from_four_bytes)
{
    crl_uwsgi_packet_t pkt;
    crl_var_t vars[4];

    cr_assert_eq(crl_uwsgi_parse("\x05\x34\x12\x09", 4, 65535, &pkt, vars, 4), CRL_AGAIN);
    cr_expect_eq(pkt.modifier1, 5);
    cr_expect_eq(pkt.size, 0x1234);
    cr_expect_eq(pkt.modifier2, 9);
    /* the famous number uWSGI logs for HTTP on a uwsgi socket */
    cr_assert_eq(crl_uwsgi_parse("GET / HTTP/1.1", 14, 65535, &pkt, vars, 4), CRL_ERROR);
    cr_expect_eq(pkt.size, 21573);
    cr_expect_eq(pkt.error, CRL_UWSGI_E_HTTP);
}

Test(uwsgi_parse, content_length_values)
{
    static const struct {
        const char *v;
        int ok;
        int64_t n;
    } rows[] = {
        { "", 1, 0 },       { "0", 1, 0 },        { "42", 1, 42 },     { "007", 1, 7 },
        { "999999999999999999", 1, 999999999999999999LL },
        { "1000000000000000000", 0, 0 },          { "-1", 0, 0 },      { "+1", 0, 0 },
        { " 1", 0, 0 },     { "1 ", 0, 0 },       { "0x10", 0, 0 },    { "1e3", 0, 0 },
        { "1,1", 0, 0 },    { "١", 0, 0 },        { "\t", 0, 0 },
    };
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char buf[256];
        crl_var_t in = { CRL_STR("CONTENT_LENGTH"), { rows[i].v, strlen(rows[i].v) } };
        crl_var_t out[2];
        crl_uwsgi_packet_t pkt;
        ssize_t n = crl_uwsgi_encode(buf, sizeof(buf), 0, 0, &in, 1);
        ssize_t ret;

        cr_assert_gt(n, 0);
        ret = crl_uwsgi_parse(buf, (size_t)n, 4096, &pkt, out, 2);
        if (rows[i].ok) {
            cr_expect_eq(ret, n, "CONTENT_LENGTH '%s' rejected", rows[i].v);
            cr_expect_eq(pkt.content_length, rows[i].n, "CONTENT_LENGTH '%s'", rows[i].v);
        } else {
            cr_expect_eq(ret, CRL_ERROR, "CONTENT_LENGTH '%s' accepted", rows[i].v);
            cr_expect_eq(pkt.error, CRL_UWSGI_E_BAD_LENGTH, "CONTENT_LENGTH '%s'", rows[i].v);
        }
    }
}

Test(uwsgi_parse, parse_content_length_direct)
{
    int64_t n = -5;

    cr_expect_eq(crl_parse_content_length("123", 3, &n), CRL_OK);
    cr_expect_eq(n, 123);
    n = -5;
    cr_expect_eq(crl_parse_content_length("", 0, &n), CRL_ERROR, "empty is the caller's call");
    cr_expect_eq(n, -5, "output touched on error");
    cr_expect_eq(crl_parse_content_length("12a", 3, &n), CRL_ERROR);
    /* only len bytes are looked at */
    cr_expect_eq(crl_parse_content_length("12x", 2, &n), CRL_OK);
    cr_expect_eq(n, 12);
}

/* buffer-size 65535 is the largest uWSGI allows and the most common value
 * in real configs: a block of exactly 65535 bytes must pass. */
Test(uwsgi_parse, largest_block)
{
    static char pkt_buf[4 + 65535 + 1];
    static char value[65535];
    crl_var_t v = { CRL_STR("K"), { value, 65535 - 2 - 1 - 2 } };
    crl_var_t out[2];
    crl_uwsgi_packet_t pkt;
    ssize_t n;

    memset(value, 'v', sizeof(value));
    n = crl_uwsgi_encode(pkt_buf, sizeof(pkt_buf), 0, 0, &v, 1);
    cr_assert_eq(n, 4 + 65535);
    cr_expect_eq((unsigned char)pkt_buf[1], 0xff);
    cr_expect_eq((unsigned char)pkt_buf[2], 0xff);

    cr_expect_eq(crl_uwsgi_parse(pkt_buf, (size_t)n, 65535, &pkt, out, 2), n);
    cr_expect_eq(pkt.size, 65535);
    cr_expect_eq(pkt.nvars, 1);
    cr_expect_eq(out[0].value.len, 65530);
    cr_expect_eq(crl_uwsgi_parse(pkt_buf, (size_t)n - 1, 65535, &pkt, out, 2), CRL_AGAIN);
    cr_expect_eq(crl_uwsgi_parse(pkt_buf, (size_t)n, 65534, &pkt, out, 2), CRL_ERROR);
    cr_expect_eq(pkt.error, CRL_UWSGI_E_TOO_LARGE);
    cr_expect_eq(crl_uwsgi_parse(pkt_buf, (size_t)n, 1 << 20, &pkt, out, 2), n,
                 "max_size above 65535 is fine");

    /* one byte more does not fit the 16-bit size */
    v.value.len++;
    cr_expect_eq(crl_uwsgi_encode(pkt_buf, sizeof(pkt_buf), 0, 0, &v, 1), CRL_ERROR);
}

/* What nginx 1.22 with Debian's uwsgi_params sends for "curl
 * http://host/": many empty values, CONTENT_LENGTH empty, and a header the
 * client sent twice as the same HTTP_ key twice. */
static const crl_var_t nginx_vars[] = {
    { CRL_STR("QUERY_STRING"), CRL_STR("") },
    { CRL_STR("REQUEST_METHOD"), CRL_STR("GET") },
    { CRL_STR("CONTENT_TYPE"), CRL_STR("") },
    { CRL_STR("CONTENT_LENGTH"), CRL_STR("") },
    { CRL_STR("REQUEST_URI"), CRL_STR("/") },
    { CRL_STR("PATH_INFO"), CRL_STR("/") },
    { CRL_STR("DOCUMENT_ROOT"), CRL_STR("/usr/share/nginx/html") },
    { CRL_STR("SERVER_PROTOCOL"), CRL_STR("HTTP/1.1") },
    { CRL_STR("REQUEST_SCHEME"), CRL_STR("http") },
    { CRL_STR("REMOTE_ADDR"), CRL_STR("127.0.0.1") },
    { CRL_STR("REMOTE_PORT"), CRL_STR("50312") },
    { CRL_STR("SERVER_PORT"), CRL_STR("8080") },
    { CRL_STR("SERVER_NAME"), CRL_STR("") },
    { CRL_STR("HTTP_HOST"), CRL_STR("localhost") },
    { CRL_STR("HTTP_USER_AGENT"), CRL_STR("curl/7.88.1") },
    { CRL_STR("HTTP_X_FORWARDED_FOR"), CRL_STR("10.0.0.1") },
    { CRL_STR("HTTP_X_FORWARDED_FOR"), CRL_STR("10.0.0.2") },
};

Test(uwsgi_roundtrip, nginx_request)
{
    char buf[2048], again[2048];
    crl_var_t out[32];
    crl_uwsgi_packet_t pkt;
    size_t n = sizeof(nginx_vars) / sizeof(nginx_vars[0]), i;
    ssize_t len = crl_uwsgi_encode(buf, sizeof(buf), 0, 0, nginx_vars, n);

    cr_assert_gt(len, 4);
    cr_assert_eq(crl_uwsgi_parse(buf, (size_t)len, 4096, &pkt, out, 32), len);
    cr_assert_eq(pkt.nvars, n);
    cr_expect_eq(pkt.content_length, 0);
    cr_expect_eq(pkt.modifier1, 0);
    for (i = 0; i < n; i++) {
        cr_expect_eq(out[i].key.len, nginx_vars[i].key.len, "var %zu key", i);
        cr_expect_eq(memcmp(out[i].key.data, nginx_vars[i].key.data, out[i].key.len), 0);
        cr_expect_eq(out[i].value.len, nginx_vars[i].value.len, "var %zu value", i);
        if (out[i].value.len)
            cr_expect_eq(memcmp(out[i].value.data, nginx_vars[i].value.data, out[i].value.len),
                         0);
    }
    /* parse then encode gives back the same bytes */
    cr_assert_eq(crl_uwsgi_encode(again, sizeof(again), pkt.modifier1, pkt.modifier2, out,
                                  pkt.nvars),
                 len);
    cr_expect_eq(memcmp(buf, again, (size_t)len), 0);
}

Test(uwsgi_roundtrip, modifiers_and_table_rows)
{
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const pkt_case_t *c = &cases[i];
        crl_uwsgi_packet_t pkt;
        crl_var_t vars[MAXV];
        char out[256];
        ssize_t ret = crl_uwsgi_parse(c->in, c->len, c->max_size, &pkt, vars, c->max_vars);

        if (ret <= 0)
            continue;
        cr_assert_eq(crl_uwsgi_encode(out, sizeof(out), pkt.modifier1, pkt.modifier2, vars,
                                      pkt.nvars),
                     ret, "%s: encode length", c->name);
        cr_expect_eq(memcmp(out, c->in, (size_t)ret), 0, "%s: encode(parse(x)) != x", c->name);
    }
}

Test(uwsgi_encode, refuses_what_parse_would_refuse)
{
    char buf[64];
    crl_var_t empty_key = { CRL_STR(""), CRL_STR("v") };
    crl_var_t ok = { CRL_STR("KEY"), CRL_STR("value") };
    static char big[65536];
    crl_var_t long_key = { { big, 65536 }, CRL_STR("") };

    cr_expect_eq(crl_uwsgi_encode(buf, sizeof(buf), 0, 0, &empty_key, 1), CRL_ERROR);
    cr_expect_eq(crl_uwsgi_encode(buf, sizeof(buf), 0, 0, &long_key, 1), CRL_ERROR);
    cr_expect_eq(crl_uwsgi_encode(buf, 4 + 2 + 3 + 2 + 5 - 1, 0, 0, &ok, 1), CRL_ERROR,
                 "one byte short of room");
    cr_expect_eq(crl_uwsgi_encode(buf, 4 + 2 + 3 + 2 + 5, 0, 0, &ok, 1), 16);
    cr_expect_eq(crl_uwsgi_encode(buf, 4, 7, 8, NULL, 0), 4, "empty packet");
    cr_expect_eq(memcmp(buf, "\x07\x00\x00\x08", 4), 0);
    cr_expect_eq(crl_uwsgi_encode(buf, 3, 0, 0, NULL, 0), CRL_ERROR);
}

Test(uwsgi_strerror, every_error_has_its_own_text)
{
    crl_uwsgi_error_t e, f;

    for (e = CRL_UWSGI_E_TRUNCATED; e <= CRL_UWSGI_E_BAD_LENGTH; e++) {
        cr_expect_gt(strlen(crl_uwsgi_strerror(e)), 10, "error %d", e);
        for (f = CRL_UWSGI_E_TRUNCATED; f < e; f++)
            cr_expect_str_neq(crl_uwsgi_strerror(e), crl_uwsgi_strerror(f));
    }
    cr_expect_str_eq(crl_uwsgi_strerror(CRL_UWSGI_E_HTTP),
                     "an HTTP request was sent to a uwsgi socket");
}

/* Packets nginx really sent (captured by tests/fuzz/capture_seeds.py) and
 * the body after each: all parse, and CONTENT_LENGTH frames the body, also
 * for a chunked upload, which nginx de-chunks but still announces in
 * HTTP_TRANSFER_ENCODING. */
static crl_str_t var(const crl_uwsgi_packet_t *pkt, const crl_var_t *vars, const char *key)
{
    size_t i;

    for (i = 0; i < pkt->nvars; i++)
        if (vars[i].key.len == strlen(key) && memcmp(vars[i].key.data, key, vars[i].key.len) == 0)
            return vars[i].value;
    return CRL_STR_NULL;
}

static size_t read_file(const char *dir, const char *name, char *buf, size_t cap)
{
    char path[1024];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

Test(uwsgi_corpus, what_nginx_sends)
{
    static char buf[70000];
    const char *dir = CORPUS_DIR "/fuzz_uwsgi";
    DIR *d = opendir(dir);
    struct dirent *e;
    int seen = 0, chunked = 0;

    cr_assert_not_null(d, "%s", dir);
    while ((e = readdir(d)) != NULL) {
        crl_var_t vars[128];
        crl_uwsgi_packet_t pkt;
        size_t n;
        ssize_t ret;

        if (strncmp(e->d_name, "nginx-", 6) != 0)
            continue;
        n = read_file(dir, e->d_name, buf, sizeof(buf));
        ret = crl_uwsgi_parse(buf, n, 4096, &pkt, vars, 128);
        cr_expect_gt(ret, 0, "%s: %s", e->d_name, crl_uwsgi_strerror(pkt.error));
        if (ret <= 0)
            continue;
        seen++;
        cr_expect_eq((size_t)ret + (size_t)pkt.content_length, n, "%s: body length", e->d_name);
        cr_expect_gt(var(&pkt, vars, "REQUEST_METHOD").len, 0, "%s", e->d_name);
        cr_expect_not_null(var(&pkt, vars, "CONTENT_LENGTH").data, "%s", e->d_name);
        if (crl_str_eq_lit(var(&pkt, vars, "HTTP_TRANSFER_ENCODING"), "chunked")) {
            chunked++;
            cr_expect_gt(pkt.content_length, 0, "%s", e->d_name);
        }
    }
    closedir(d);
    cr_expect_geq(seen, 10, "only %d nginx packets found in %s", seen, dir);
    cr_expect_eq(chunked, 1, "the de-chunked upload is missing");
}

Test(uwsgi_corpus, http_on_a_uwsgi_socket)
{
    static char buf[4096];
    size_t n = read_file(CORPUS_DIR "/fuzz_uwsgi", "http-on-uwsgi-socket", buf, sizeof(buf));
    crl_uwsgi_packet_t pkt;
    crl_var_t vars[8];

    cr_expect_eq(crl_uwsgi_parse(buf, n, 65535, &pkt, vars, 8), CRL_ERROR);
    cr_expect_eq(pkt.error, CRL_UWSGI_E_HTTP);
}
