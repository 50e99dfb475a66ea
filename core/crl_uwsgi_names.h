/*
 * The universe of uWSGI option names (generated into crl_uwsgi_names.c by
 * gen_uwsgi_names.sh). Internal to the config reader and the registry.
 */
#ifndef CRL_UWSGI_NAMES_H
#define CRL_UWSGI_NAMES_H

#include <stddef.h>

typedef struct {
    const char *name;
    char short_name; /* uWSGI's short flag, 0 for none */
    char arg;        /* 'r' required, 'n' none, 'o' optional */
} crl__uwsgi_name_t;

extern const crl__uwsgi_name_t crl__uwsgi_names[];
extern const size_t crl__uwsgi_nnames;

/* The row for an exact uWSGI option name, or NULL. */
const crl__uwsgi_name_t *crl__uwsgi_name_find(const char *name);

/* The first row (in name order) with short flag c, or NULL. */
const crl__uwsgi_name_t *crl__uwsgi_short_find(char c);

#endif
