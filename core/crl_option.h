/*
 * The option registry: every option table the core modules and loaded
 * plugins declare, and the typed conversion of values into their conf
 * structs. Tables are registered once at start (core) or when a plugin is
 * loaded; the registry applies each table's defaults on registration.
 */
#ifndef CRL_OPTION_REGISTRY_H
#define CRL_OPTION_REGISTRY_H

#include <stdio.h>

#include <corral/option.h>

/* Register a table (rows live as long as the process). `module` names it in
 * --help and --show-config ("socket", "master", "python"). Defaults are
 * applied now. Returns CRL_ERROR when a name, alias or short flag is
 * already taken (a programming error, logged). */
int crl_option_register(const char *module, const crl_option_t *rows, size_t nrows, void *conf);

/* Find an option by name or alias ("workers"); *conf receives the owning
 * table's conf pointer. NULL when no registered table knows the name. */
const crl_option_t *crl_option_find(const char *name, void **conf);

/* Same for a short flag ('p'). */
const crl_option_t *crl_option_find_short(char c, void **conf);

/* The option whose name or alias starts with `prefix`, as getopt_long
 * accepts abbreviations ("--process" for "--processes"). NULL when none, or
 * when several options match (*ambiguous is then set to 1). */
const crl_option_t *crl_option_find_prefix(const char *prefix, int *ambiguous);

/* Convert and store value (NUL-terminated, already expanded). file/line
 * name where it came from, for the message on error and for list items.
 * Returns CRL_OK, or CRL_ERROR after logging "option 'processes' at
 * app.ini:4: expects a number, got 'four'". */
int crl_option_set(const crl_option_t *opt, void *conf, const char *value, const char *file,
                   unsigned line);

/* Where a value came from, for messages: "app.ini:4", "command line",
 * "environment UWSGI_X" (no ":0"). Returns a per-thread buffer that the
 * next call overwrites: use it once per message. */
const char *crl_option_where(const char *file, unsigned line);

/* Print every option of every table with aliases, short flag and help. */
void crl_option_print_help(FILE *out);

/* Print the resolved configuration: `name = value` per option that differs
 * from its default (all with `all`), grouped by module, in ini syntax. */
void crl_option_print_config(FILE *out, int all);

/* 1 when name is an option uWSGI 2.0/2.1 knows (the universe listed in
 * UWSGI-OPTIONS.md), whether or not Corral implements it. */
int crl_option_is_uwsgi_name(const char *name);

/* The known option name (registered, or in the uWSGI universe) closest to
 * name by edit distance, or NULL when none is close enough. */
const char *crl_option_suggest(const char *name);

#endif
