/*
 * Options: each module (core file or plugin) owns one config struct and one
 * static table of crl_option_t rows describing its fields. The registry
 * (core/crl_option.c) resolves configuration records against every
 * registered table, converts values by type and stores them with offsetof.
 *
 *   static crl_master_conf_t conf;
 *   static const crl_option_t rows[] = {
 *       { .name = "processes", .aliases = "workers", .short_name = 'p',
 *         .type = CRL_OPT_INT, .offset = offsetof(crl_master_conf_t, processes),
 *         .def = "1", .min = 1, .max = 4096,
 *         .help = "number of worker processes" },
 *   };
 *
 * A new option is one row and one field.
 */
#ifndef CORRAL_OPTION_H
#define CORRAL_OPTION_H

#include <stddef.h>

typedef enum {
    /* int: uWSGI truthiness: "false", "off", "no", "0" (any case) are 0,
     * anything else (including an empty value from a bare key) is 1. */
    CRL_OPT_BOOL,
    /* long: a decimal integer in [min, max] (both 0: no bound). Leading and
     * trailing blanks and an inline comment (" ;..." or " #...") are
     * ignored; a value with no digits is an error; other trailing text is a
     * warning (uWSGI's atoi ignored it). */
    CRL_OPT_INT,
    /* char *: the value as given (NULL when unset). Owned by the registry. */
    CRL_OPT_STRING,
    /* crl_list_t: repeatable; every record appends one item. */
    CRL_OPT_LIST,
    /* unsigned: file mode for chmod-socket: exactly three octal digits, or
     * empty / "1" meaning 0666. 0 when unset. */
    CRL_OPT_MODE,
    /* custom: the row's parse callback converts the value. */
    CRL_OPT_CUSTOM,
} crl_opt_type_t;

/* Flags say how an option may be used. */
enum {
    /* Handled by the config reader while files are read (ini, yaml,
     * plugins, strict, set-placeholder, logic blocks). */
    CRL_OPTF_IMMEDIATE = 1u << 0,
    /* Accepted for compatibility with uWSGI and has no effect in Corral;
     * help says why. Setting it is never a warning. */
    CRL_OPTF_NOOP = 1u << 1,
    /* On the command line the value is optional (`--chmod-socket`). BOOL
     * options never take a separate argument on the command line. */
    CRL_OPTF_OPTARG = 1u << 2,
    /* Masked when printed by --show-config. */
    CRL_OPTF_SENSITIVE = 1u << 3,
    /* Values above max are clamped to max (buffer-size) instead of
     * rejected. */
    CRL_OPTF_CLAMP = 1u << 4,
    /* Deprecated: help names the replacement; setting it logs a note. */
    CRL_OPTF_DEPRECATED = 1u << 5,
};

/* One item of a list option, with where it came from (for error messages).
 * Strings are owned by the registry and live until exit. */
typedef struct {
    char *value;
    const char *file; /* "command line", "environment" or a file path */
    unsigned line;    /* 0 when not from a file */
} crl_list_item_t;

typedef struct {
    crl_list_item_t *items;
    size_t n;
} crl_list_t;

typedef struct crl_option_s crl_option_t;

/* Convert value into field (the option's storage inside its conf struct).
 * On failure write a short reason into err (no file/line: the caller adds
 * them) and return CRL_ERROR. */
typedef int (*crl_option_parse_cb)(const crl_option_t *opt, void *field, const char *value,
                                   char *err, size_t errlen);

struct crl_option_s {
    const char *name;      /* uWSGI's name, e.g. "processes" */
    const char *aliases;   /* space-separated other names, or NULL */
    char short_name;       /* command-line short flag, 0 for none */
    crl_opt_type_t type;
    unsigned flags;        /* CRL_OPTF_* */
    size_t offset;         /* offsetof(conf struct, field) */
    const char *def;       /* default in the option's own syntax, or NULL */
    long min, max;         /* CRL_OPT_INT bounds; 0, 0 = unbounded */
    const char *help;      /* one line, Corral's own words */
    crl_option_parse_cb parse; /* CRL_OPT_CUSTOM only */
};

#endif
