/*
 * The uwsgi binary protocol (the packet nginx's uwsgi_pass and Apache's
 * mod_proxy_uwsgi send): a 4-byte header (modifier1, little-endian 16-bit
 * size of the vars block, modifier2) followed by the vars block, a sequence
 * of (16-bit LE key length, key, 16-bit LE value length, value). The request
 * body follows the block and is framed by the CONTENT_LENGTH var only.
 *
 * Pure: no allocation, no I/O, no logging. Vars are slices into buf.
 */
#ifndef CRL_UWSGI_H
#define CRL_UWSGI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <corral/request.h>
#include <corral/result.h>

#define CRL_UWSGI_HEADER_SIZE 4

typedef enum {
    CRL_UWSGI_OK = 0,
    CRL_UWSGI_E_TRUNCATED,   /* a key or value length runs past the block */
    CRL_UWSGI_E_EMPTY_KEY,   /* a zero-length key */
    CRL_UWSGI_E_TOO_MANY,    /* more vars than the caller's array holds */
    CRL_UWSGI_E_TOO_LARGE,   /* block size above the caller's limit */
    CRL_UWSGI_E_HTTP,        /* the bytes are an HTTP request line, not a packet */
    CRL_UWSGI_E_BAD_LENGTH,  /* CONTENT_LENGTH not a plain decimal, or repeated
                                with a different value */
} crl_uwsgi_error_t;

typedef struct {
    uint8_t modifier1;
    uint8_t modifier2;
    uint16_t size;           /* vars block size from the header */
    size_t nvars;            /* out: vars found */
    int64_t content_length;  /* out: CONTENT_LENGTH, 0 when absent */
    crl_uwsgi_error_t error; /* out: set when CRL_ERROR is returned */
} crl_uwsgi_packet_t;

/* Parse a packet header and vars block at the start of buf[0..len).
 *
 * Returns the number of bytes the header and vars block take (4 + size)
 * when both are complete; CRL_AGAIN when more bytes are needed (once 4
 * bytes are there, pkt->modifier1/size/modifier2 are set so the caller
 * knows the total); CRL_ERROR with pkt->error set when the input can never
 * be a valid packet. pkt->nvars, content_length and error are reset on
 * every call; calling again with more bytes of the same input is always
 * correct (the result depends only on buf[0..len)).
 *
 * max_size bounds the vars block (buffer-size). E_HTTP: the input starts
 * with 3 to 16 upper-case ASCII letters and a space ("GET ", "POST ",
 * "OPTIONS ", "PRI "); decided once the space is there, so CRL_AGAIN is
 * returned for "POST" alone, and it fires before E_TOO_LARGE. Every var
 * must be complete and fill the block exactly (a leftover of 1 byte is
 * E_TRUNCATED). Empty values and repeated keys are valid; vars[] keeps
 * them in packet order (up to max_vars, else E_TOO_MANY). CONTENT_LENGTH:
 * empty means 0, otherwise 1-18 digits; a repeated CONTENT_LENGTH with a
 * different value is E_BAD_LENGTH. Modifier values are reported, not
 * judged. Keys and values point into buf. */
ssize_t crl_uwsgi_parse(const char *buf, size_t len, size_t max_size, crl_uwsgi_packet_t *pkt,
                        crl_var_t *vars, size_t max_vars);

/* A short English description of an error ("key or value length runs past
 * the end of the vars block"). */
const char *crl_uwsgi_strerror(crl_uwsgi_error_t e);

/* Encode one packet (header + vars) into out[0..cap). Returns the number of
 * bytes written, or CRL_ERROR when it does not fit, a key is empty, a
 * key/value is longer than 65535 or the block would exceed 65535 (so what
 * it writes, crl_uwsgi_parse accepts). For tests, tools and stubs. */
ssize_t crl_uwsgi_encode(char *out, size_t cap, uint8_t modifier1, uint8_t modifier2,
                         const crl_var_t *vars, size_t nvars);

/* Parse a CONTENT_LENGTH-style value: 1-18 ASCII digits, nothing else.
 * Returns CRL_OK and sets *out, or CRL_ERROR. Shared with the HTTP parser. */
int crl_parse_content_length(const char *s, size_t len, int64_t *out);

#endif
