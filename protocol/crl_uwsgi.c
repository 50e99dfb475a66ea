/*
 * The uwsgi binary protocol: parse and encode the packet header and vars
 * block that nginx (uwsgi_pass) and Apache (mod_proxy_uwsgi) send.
 *
 * Invariants: pure (no allocation, I/O, logging or globals); every key and
 * value handed out is a slice of the caller's buffer inside the vars block;
 * a packet is accepted only when the whole block is exactly a sequence of
 * complete (key, value) pairs, so encode(parse(p)) reproduces p byte for
 * byte. The body after the block is framed by CONTENT_LENGTH alone
 * (HTTP_TRANSFER_ENCODING is an ordinary variable here, never looked at).
 *
 * HTTP detection: a uwsgi packet starts with modifier1 (0 for WSGI) and a
 * little-endian size, so "GET / HTTP/1.1" read as a packet has size 0x5445
 * = 21573, the number uWSGI prints for this misconfiguration. We call the
 * input HTTP when it starts with 3 to 16 upper-case ASCII letters followed
 * by a space (GET, PUT, PRI, POST, HEAD, PATCH, TRACE, DELETE, OPTIONS,
 * CONNECT, PROPFIND, ...). A real packet would need modifier1 in 'A'..'Z'
 * (no uWSGI modifier there that nginx sends) and a vars block of 16705 to
 * 23130 bytes whose first key length is also made of letters; we never call
 * such a packet HTTP before its method token and the space are both there,
 * so the decision takes method length + 1 bytes (4 for GET), and a packet
 * whose first byte is not a letter (modifier1 0) is known not to be HTTP
 * from that byte on.
 */
#include "crl_uwsgi.h"

#include <corral/result.h>

#include <string.h>

#define METHOD_MIN 3
#define METHOD_MAX 16

enum { NOT_HTTP, IS_HTTP, MAYBE_HTTP };

static int is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static uint16_t get_le16(const char *p)
{
    return (uint16_t)((unsigned char)p[0] | ((unsigned)(unsigned char)p[1] << 8));
}

static void put_le16(char *p, size_t v)
{
    p[0] = (char)(v & 0xff);
    p[1] = (char)((v >> 8) & 0xff);
}

/* Classify the first bytes as an HTTP request line, not one, or not yet
 * known (the rule is in the file comment). */
static int sniff_http(const char *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len && i <= METHOD_MAX; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (c == ' ')
            return i >= METHOD_MIN ? IS_HTTP : NOT_HTTP;
        if (!is_upper(c))
            return NOT_HTTP;
    }
    return i > METHOD_MAX ? NOT_HTTP : MAYBE_HTTP;
}

int crl_parse_content_length(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    size_t i;

    /* 18 digits cannot overflow int64_t; 19 might. */
    if (len == 0 || len > 18)
        return CRL_ERROR;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CRL_ERROR;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return CRL_OK;
}

/* CONTENT_LENGTH: empty means 0 (nginx's uwsgi_params sends it empty for
 * requests without a body); a repeated CONTENT_LENGTH must agree with the
 * first one, anything else is ambiguous framing. */
static int note_content_length(crl_uwsgi_packet_t *pkt, crl_str_t v, int *seen)
{
    int64_t n = 0;

    if (v.len > 0 && crl_parse_content_length(v.data, v.len, &n) != CRL_OK)
        return CRL_ERROR;
    if (*seen && n != pkt->content_length)
        return CRL_ERROR;
    *seen = 1;
    pkt->content_length = n;
    return CRL_OK;
}

/* Read one length-prefixed string at *pos of block[0..end); advances *pos. */
static int take_string(const char *block, size_t end, size_t *pos, crl_str_t *out)
{
    size_t n;

    if (end - *pos < 2)
        return CRL_ERROR;
    n = get_le16(block + *pos);
    *pos += 2;
    if (n > end - *pos)
        return CRL_ERROR;
    out->data = block + *pos;
    out->len = n;
    *pos += n;
    return CRL_OK;
}

/* Walk the vars block; sets pkt->error and returns CRL_ERROR on failure. */
static int parse_vars(const char *block, size_t size, crl_uwsgi_packet_t *pkt, crl_var_t *vars,
                      size_t max_vars)
{
    size_t pos = 0;
    int seen_length = 0;
    crl_var_t v;

    while (pos < size) {
        if (take_string(block, size, &pos, &v.key) != CRL_OK)
            goto truncated;
        if (v.key.len == 0) {
            pkt->error = CRL_UWSGI_E_EMPTY_KEY;
            return CRL_ERROR;
        }
        if (take_string(block, size, &pos, &v.value) != CRL_OK)
            goto truncated;
        if (pkt->nvars == max_vars) {
            pkt->error = CRL_UWSGI_E_TOO_MANY;
            return CRL_ERROR;
        }
        if (crl_str_eq_lit(v.key, "CONTENT_LENGTH") &&
            note_content_length(pkt, v.value, &seen_length) != CRL_OK) {
            pkt->error = CRL_UWSGI_E_BAD_LENGTH;
            return CRL_ERROR;
        }
        vars[pkt->nvars++] = v;
    }
    return CRL_OK;

truncated:
    pkt->error = CRL_UWSGI_E_TRUNCATED;
    return CRL_ERROR;
}

ssize_t crl_uwsgi_parse(const char *buf, size_t len, size_t max_size, crl_uwsgi_packet_t *pkt,
                        crl_var_t *vars, size_t max_vars)
{
    int http;

    pkt->nvars = 0;
    pkt->content_length = 0;
    pkt->error = CRL_UWSGI_OK;

    if (len >= CRL_UWSGI_HEADER_SIZE) {
        pkt->modifier1 = (uint8_t)buf[0];
        pkt->size = get_le16(buf + 1);
        pkt->modifier2 = (uint8_t)buf[3];
    }
    http = sniff_http(buf, len);
    if (http == IS_HTTP) {
        pkt->error = CRL_UWSGI_E_HTTP;
        return CRL_ERROR;
    }
    if (len < CRL_UWSGI_HEADER_SIZE || http == MAYBE_HTTP)
        return CRL_AGAIN;
    if (pkt->size > max_size) {
        pkt->error = CRL_UWSGI_E_TOO_LARGE;
        return CRL_ERROR;
    }
    if (len - CRL_UWSGI_HEADER_SIZE < pkt->size)
        return CRL_AGAIN;
    if (parse_vars(buf + CRL_UWSGI_HEADER_SIZE, pkt->size, pkt, vars, max_vars) != CRL_OK)
        return CRL_ERROR;
    return (ssize_t)(CRL_UWSGI_HEADER_SIZE + pkt->size);
}

const char *crl_uwsgi_strerror(crl_uwsgi_error_t e)
{
    switch (e) {
    case CRL_UWSGI_OK:
        return "no error";
    case CRL_UWSGI_E_TRUNCATED:
        return "a key or value length runs past the end of the vars block";
    case CRL_UWSGI_E_EMPTY_KEY:
        return "a variable has an empty name";
    case CRL_UWSGI_E_TOO_MANY:
        return "too many variables in the vars block";
    case CRL_UWSGI_E_TOO_LARGE:
        return "vars block larger than buffer-size";
    case CRL_UWSGI_E_HTTP:
        return "an HTTP request was sent to a uwsgi socket";
    case CRL_UWSGI_E_BAD_LENGTH:
        return "CONTENT_LENGTH is not a plain decimal number";
    }
    return "unknown uwsgi packet error";
}

ssize_t crl_uwsgi_encode(char *out, size_t cap, uint8_t modifier1, uint8_t modifier2,
                         const crl_var_t *vars, size_t nvars)
{
    size_t size = 0, pos = CRL_UWSGI_HEADER_SIZE, i;

    for (i = 0; i < nvars; i++) {
        if (vars[i].key.len == 0 || vars[i].key.len > UINT16_MAX ||
            vars[i].value.len > UINT16_MAX)
            return CRL_ERROR;
        size += 4 + vars[i].key.len + vars[i].value.len;
        if (size > UINT16_MAX)
            return CRL_ERROR;
    }
    if (cap < CRL_UWSGI_HEADER_SIZE + size)
        return CRL_ERROR;

    out[0] = (char)modifier1;
    put_le16(out + 1, size);
    out[3] = (char)modifier2;
    for (i = 0; i < nvars; i++) {
        put_le16(out + pos, vars[i].key.len);
        memcpy(out + pos + 2, vars[i].key.data, vars[i].key.len);
        pos += 2 + vars[i].key.len;
        put_le16(out + pos, vars[i].value.len);
        if (vars[i].value.len > 0)
            memcpy(out + pos + 2, vars[i].value.data, vars[i].value.len);
        pos += 2 + vars[i].value.len;
    }
    return (ssize_t)pos;
}
