/*
 * Length-delimited strings. A crl_str_t never owns its bytes: it is a slice
 * into a buffer whose owner and lifetime the producer documents (usually the
 * worker's receive buffer, valid until the request ends). Not NUL-terminated.
 */
#ifndef CORRAL_STR_H
#define CORRAL_STR_H

#include <stddef.h>
#include <string.h>

typedef struct {
    const char *data;
    size_t len;
} crl_str_t;

#define CRL_STR(lit) ((crl_str_t){ (lit), sizeof(lit) - 1 })
#define CRL_STR_NULL ((crl_str_t){ NULL, 0 })

/* 1 when s holds exactly the literal lit. */
#define crl_str_eq_lit(s, lit) \
    ((s).len == sizeof(lit) - 1 && memcmp((s).data, (lit), sizeof(lit) - 1) == 0)

#endif
