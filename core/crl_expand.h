/*
 * Expansion of configuration values, as uWSGI does it:
 *   - magic variables (%d, %n, %p, %k, ...) while a file is read;
 *   - after everything is read: $(ENV), then @(file), then %(placeholder)
 *     with math (%(a + 1)).
 * These functions do no logging and touch no global state: lookups and file
 * reads go through callbacks, so they can be unit-tested and fuzzed. Every
 * returned string is malloc'ed and owned by the caller; NULL means out of
 * memory.
 */
#ifndef CRL_EXPAND_H
#define CRL_EXPAND_H

#include <stddef.h>

/* The value of each magic letter for one config file; NULL entries expand to
 * "" (as in uWSGI). Fill with crl_magic_fill, release with crl_magic_free. */
typedef struct {
    char *v[128];
} crl_magic_t;

/* Fill the table for config file `given` (the path as written: on the
 * command line or in the including file) read with `section`. `first` is the
 * table of the first config file (the uppercase %O %P %S %D %N %E %C %X refer
 * to it), or NULL when this is the first. `cwd` is the process directory.
 * Returns 0, or -1 when out of memory. */
int crl_magic_fill(crl_magic_t *m, const char *given, const char *section, const char *cwd,
                   const crl_magic_t *first);
void crl_magic_free(crl_magic_t *m);

/* Replace %X with the table's value for X; "%%" gives "%", "%(" is kept for
 * the placeholder pass, an unknown letter expands to "", a final lone '%'
 * stays. */
char *crl_expand_magic(const char *in, const crl_magic_t *m);

/* Replace every occurrence of the literal `what` in `in` by `with`. */
char *crl_expand_substitute(const char *in, const char *what, const char *with);

/* A lookup: the value of `name`, or NULL when unknown. */
typedef const char *(*crl_lookup_cb)(void *ctx, const char *name);

/* $(NAME), $(NAME:-default) (default when unset or empty), $(NAME-default)
 * (default when unset). An unset NAME without default is left as written;
 * its name is copied into `unset` (the first one; "" when none). */
char *crl_expand_env(const char *in, crl_lookup_cb getenv_cb, void *ctx, char *unset,
                     size_t unsetlen);

/* Read the content of `path` for @(path): returns 0 and a malloc'ed
 * *content, or -1 with a reason in err. */
typedef int (*crl_read_cb)(void *ctx, const char *path, char **content, char *err,
                           size_t errlen);

/* The default reader: a plain file, one trailing newline (LF or CRLF)
 * removed as uWSGI does. `exec://` is refused (Corral never runs commands
 * from a config), other schemes (`http://`, `fd://`, ...) too. */
int crl_expand_read_file(void *ctx, const char *path, char **content, char *err, size_t errlen);

/* Replace every @(path) by the content read_cb returns. On a read error
 * returns NULL with *failed set to 1 and the reason in err. */
char *crl_expand_files(const char *in, crl_read_cb read_cb, void *ctx, int *failed, char *err,
                       size_t errlen);

/* Called for every name a %(...) refers to (found or not). */
typedef void (*crl_ref_cb)(void *ctx, const char *name);

#define CRL_EXPAND_MAX_DEPTH 16

/* Expand %(name) (the looked-up value, itself expanded, up to
 * CRL_EXPAND_MAX_DEPTH levels) and %(a op b ...) math: space-separated
 * tokens, operators + - * / between values and ++ -- after one, applied left
 * to right without precedence; numbers are literals, other tokens are looked
 * up (their own text when unknown); values without an operator between them
 * are concatenated. An unknown single name, and an expression whose tokens
 * are all unknown, is left verbatim (log-format's %(addr) survives).
 * *too_deep (if not NULL) is set when the depth bound was hit (a cycle) or
 * the references multiplied past a work bound (then the rest stays as
 * written). */
char *crl_expand_placeholders(const char *in, crl_lookup_cb lookup, crl_ref_cb ref, void *ctx,
                              int *too_deep);

#endif
