/*
 * Static files: static-map, static-map2, check-static and their companions
 * (index files, Expires rules, precompressed .gz siblings, MIME types),
 * served before the application with sendfile on both the uwsgi and the
 * HTTP sockets.
 *
 * What a request gets (decisions, where uWSGI leaves a choice):
 * - Maps are tried in order (static-map, then static-map2, then
 *   check-static). A mount matches at a segment boundary: `/static` matches
 *   `/static` and `/static/x`, never `/staticfoo` (uWSGI's plain prefix
 *   test did). A single-file map matches its mount exactly.
 * - A path that does not exist under a matching map tries the next map and
 *   then goes to the application (CRL_DECLINED), as in uWSGI: a front end
 *   mapped at `/` must not hide the app. So do a directory without an
 *   index file and a name ending in a static-skip-ext suffix. Methods other
 *   than GET and HEAD are never looked up: they go to the app (which may
 *   handle a POST on a URL that is also a file), as in uWSGI.
 * - Refused with 403 and a warning, never passed on: a PATH_INFO with a NUL
 *   byte or a `..` segment (the core has already percent-decoded `%2e%2e`),
 *   a file whose real path (symlinks resolved) leaves its map's root and
 *   every static-safe directory, a file the worker may not read, and
 *   anything that is not a regular file (fifos, devices).
 * - A directory with an index file, requested without its trailing slash,
 *   gets a 301 to the same URI with the slash (as nginx does), so relative
 *   links in the index page work.
 * - Content-Type from the mime files (default /etc/mime.types, with a small
 *   built-in table for the web's common types when the file is missing),
 *   application/octet-stream otherwise; text types (text/...) and
 *   application/javascript get "; charset=utf-8" (what web files are).
 * - ETag "<mtime hex>-<size hex>" and Last-Modified; If-None-Match (which,
 *   when present, overrides If-Modified-Since) and If-Modified-Since give
 *   304. A single Range on GET gives 206 (or 416 when unsatisfiable,
 *   honouring If-Range); several ranges or a malformed one get the whole
 *   file with 200. Content-Length is always sent except on 304; HEAD gets
 *   the GET headers and no body.
 * - A .gz sibling is served (Content-Encoding: gzip, Vary: Accept-Encoding)
 *   when a static-gzip* rule selects the file and Accept-Encoding allows
 *   gzip with a non-zero q; Vary is sent for every file a rule selects.
 * - Expires and Cache-Control: max-age from the first matching rule among
 *   static-expires (file name), static-expires-path-info, static-expires-uri,
 *   static-expires-type, each followed by its -mtime variant (delta counted
 *   from the file's mtime instead of now).
 *
 * Invariants: the configuration, maps, rules and the MIME table are built
 * once by crl_static_init and only read afterwards (workers may serve from
 * several threads); a request allocates nothing, its paths live in stack
 * buffers (only glibc's regexec may, when regexp rules are configured).
 * Files are opened with O_NOFOLLOW on their resolved real path and
 * described with fstat, so what is checked is what is sent. A symlink
 * swapped into a directory between realpath and open is not caught; that
 * needs write access to the static tree.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/option.h>
#include <corral/result.h>

#include "crl_option.h"
#include "crl_static.h"

#define MIME_SLOTS 8192     /* power of two, well above mime.types' ~1500 */
#define MIME_EXT_MAX 24
#define MAX_HEADERS 14
#define HEADER_POOL 1024
#define PATH_COPY_MAX 2048  /* PATH_INFO / REQUEST_URI copied for regexec */

enum { EXP_FILE, EXP_FILE_MTIME, EXP_PATH, EXP_PATH_MTIME, EXP_URI, EXP_URI_MTIME,
       EXP_TYPE, EXP_TYPE_MTIME, EXP_KINDS };

typedef struct {
    crl_list_t map, map2, check, index, skip_ext, safe;
    crl_list_t expires[EXP_KINDS];
    int gzip_all;
    crl_list_t gzip, gzip_dir, gzip_ext;
    crl_list_t mimefile;
    long offload_threads;
    long cache_paths;
    char *cache_paths_name;
} crl_static_conf_t;

static crl_static_conf_t conf;

#define LIST_ROW(n, al, field, h) \
    { .name = (n), .aliases = (al), .type = CRL_OPT_LIST, \
      .offset = offsetof(crl_static_conf_t, field), .help = (h) }

static const crl_option_t options[] = {
    LIST_ROW("static-map", NULL, map,
             "serve files under a URL prefix: /mount=directory (the prefix is stripped) or "
             "/mount=file; repeatable"),
    LIST_ROW("static-map2", NULL, map2,
             "like static-map, but the whole PATH_INFO (mount included) is appended to the "
             "directory"),
    LIST_ROW("check-static", "static-check", check,
             "serve PATH_INFO from this directory when the file exists there; repeatable"),
    LIST_ROW("static-index", NULL, index,
             "file served for a directory request (e.g. index.html); repeatable, first found wins"),
    LIST_ROW("static-skip-ext", NULL, skip_ext,
             "names ending with this suffix are never served statically (the app gets them)"),
    LIST_ROW("static-safe", NULL, safe,
             "a directory symlinked static files may resolve into outside their map's root"),
    LIST_ROW("static-expires", NULL, expires[EXP_FILE],
             "`regexp seconds`: Expires/Cache-Control max-age for static files whose real path "
             "matches"),
    LIST_ROW("static-expires-mtime", NULL, expires[EXP_FILE_MTIME],
             "like static-expires, counted from the file's modification time"),
    LIST_ROW("static-expires-path-info", NULL, expires[EXP_PATH],
             "`regexp seconds`: Expires for static files whose PATH_INFO matches"),
    LIST_ROW("static-expires-path-info-mtime", NULL, expires[EXP_PATH_MTIME],
             "like static-expires-path-info, counted from the file's modification time"),
    LIST_ROW("static-expires-uri", NULL, expires[EXP_URI],
             "`regexp seconds`: Expires for static files whose REQUEST_URI matches"),
    LIST_ROW("static-expires-uri-mtime", NULL, expires[EXP_URI_MTIME],
             "like static-expires-uri, counted from the file's modification time"),
    LIST_ROW("static-expires-type", NULL, expires[EXP_TYPE],
             "`mimetype=seconds` (or `mimetype seconds`): Expires for static files of that type"),
    LIST_ROW("static-expires-type-mtime", NULL, expires[EXP_TYPE_MTIME],
             "like static-expires-type, counted from the file's modification time"),
    { .name = "static-gzip-all", .type = CRL_OPT_BOOL,
      .offset = offsetof(crl_static_conf_t, gzip_all),
      .help = "serve file.gz instead of file (Content-Encoding: gzip) when it exists and the "
              "client accepts gzip" },
    LIST_ROW("static-gzip", NULL, gzip,
             "regexp on the file's real path: look for a .gz sibling of matching files"),
    LIST_ROW("static-gzip-dir", "static-gzip-prefix", gzip_dir,
             "look for .gz siblings of every static file under this directory"),
    LIST_ROW("static-gzip-ext", "static-gzip-suffix", gzip_ext,
             "look for .gz siblings of static files whose name ends with this suffix"),
    LIST_ROW("mimefile", "mime-file", mimefile,
             "MIME types file (`type ext ext...` lines); repeatable; default /etc/mime.types"),
    { .name = "offload-threads", .aliases = "offload-thread", .type = CRL_OPT_INT,
      .flags = CRL_OPTF_NOOP, .offset = offsetof(crl_static_conf_t, offload_threads),
      .def = "0", .min = 0, .max = 1024,
      .help = "accepted for uWSGI compatibility: static files are sent with sendfile by the "
              "worker, no offload thread is needed" },
    { .name = "static-cache-paths", .type = CRL_OPT_INT, .flags = CRL_OPTF_NOOP,
      .offset = offsetof(crl_static_conf_t, cache_paths), .def = "0", .min = 0, .max = 0,
      .help = "accepted for uWSGI compatibility: resolved paths are not cached" },
    { .name = "static-cache-paths-name", .type = CRL_OPT_STRING, .flags = CRL_OPTF_NOOP,
      .offset = offsetof(crl_static_conf_t, cache_paths_name),
      .help = "accepted for uWSGI compatibility: resolved paths are not cached" },
};

/* ---- state built by crl_static_init ------------------------------------ */

enum { MAP_STRIP, MAP_KEEP };

typedef struct {
    const char *mount;      /* "" for check-static: every path */
    size_t mount_len;
    const char *conf_root;  /* as configured, for messages */
    char *root;             /* realpath of the root; NULL: missing at init */
    size_t root_len;
    int kind;               /* MAP_STRIP (static-map) or MAP_KEEP */
    int is_file;            /* the root is a single file */
} smap_t;

typedef struct {
    int kind;               /* EXP_* */
    int has_re;
    regex_t re;
    char *type;             /* EXP_TYPE*: the MIME type compared */
    long secs;
} expire_t;

typedef struct {
    char ext[MIME_EXT_MAX]; /* "" when the slot is free */
    const char *type;       /* with "; charset=utf-8" for text types */
} mime_slot_t;

typedef struct {
    char *path;
    size_t len;
} prefix_t;

static struct {
    int ready;
    smap_t *maps;
    size_t nmaps;
    prefix_t *safe, *gzip_dir;
    size_t nsafe, ngzip_dir;
    expire_t *expires;
    size_t nexpires;
    regex_t *gzip_re;
    size_t ngzip_re;
    mime_slot_t *mime;      /* MIME_SLOTS entries */
    size_t mime_used;
    char **mime_strings;    /* owned type strings, for release */
    size_t nmime_strings, mime_strings_cap;
} st;

/* The web's common types, used when the mime files lack them. */
static const char *const builtin_mime[][2] = {
    { "html", "text/html" }, { "htm", "text/html" }, { "css", "text/css" },
    { "js", "text/javascript" }, { "mjs", "text/javascript" }, { "json", "application/json" },
    { "map", "application/json" }, { "txt", "text/plain" }, { "xml", "application/xml" },
    { "svg", "image/svg+xml" }, { "png", "image/png" }, { "jpg", "image/jpeg" },
    { "jpeg", "image/jpeg" }, { "gif", "image/gif" }, { "webp", "image/webp" },
    { "avif", "image/avif" }, { "ico", "image/vnd.microsoft.icon" }, { "woff", "font/woff" },
    { "woff2", "font/woff2" }, { "ttf", "font/ttf" }, { "otf", "font/otf" },
    { "pdf", "application/pdf" }, { "wasm", "application/wasm" }, { "mp4", "video/mp4" },
    { "webm", "video/webm" }, { "mp3", "audio/mpeg" }, { "zip", "application/zip" },
    { "gz", "application/gzip" }, { "csv", "text/csv" }, { "webmanifest",
                                                            "application/manifest+json" },
};

int crl_static_options_register(void)
{
    return crl_option_register("static", options, sizeof(options) / sizeof(options[0]), &conf);
}

int crl_static_enabled(void)
{
    return st.ready && st.nmaps > 0;
}

/* ---- MIME table ---------------------------------------------------------- */

static uint32_t hash_ext(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* The slot holding ext, or the free slot where it belongs. */
static mime_slot_t *mime_slot(const char *ext)
{
    uint32_t i = hash_ext(ext) & (MIME_SLOTS - 1);
    while (st.mime[i].ext[0] && strcmp(st.mime[i].ext, ext) != 0)
        i = (i + 1) & (MIME_SLOTS - 1);
    return &st.mime[i];
}

static int is_text_type(const char *type)
{
    return strncasecmp(type, "text/", 5) == 0 || strcasecmp(type, "application/javascript") == 0;
}

/* An owned copy of type, with the charset parameter for text types. */
static const char *mime_intern(const char *type)
{
    if (st.nmime_strings == st.mime_strings_cap) {
        size_t cap = st.mime_strings_cap ? st.mime_strings_cap * 2 : 256;
        char **p = realloc(st.mime_strings, cap * sizeof(*p));
        if (p == NULL)
            return NULL;
        st.mime_strings = p;
        st.mime_strings_cap = cap;
    }
    size_t n = strlen(type) + sizeof("; charset=utf-8");
    char *s = malloc(n);
    if (s == NULL)
        return NULL;
    snprintf(s, n, "%s%s", type, is_text_type(type) ? "; charset=utf-8" : "");
    st.mime_strings[st.nmime_strings++] = s;
    return s;
}

/* Add ext -> type unless ext is known (the first definition wins). Keys
 * are lower case; extensions with a dot or too long are skipped. */
static void mime_add(const char *ext, size_t len, const char **type_interned, const char *type)
{
    char key[MIME_EXT_MAX];

    if (len == 0 || len >= sizeof(key) || memchr(ext, '.', len))
        return;
    for (size_t i = 0; i < len; i++)
        key[i] = (char)tolower((unsigned char)ext[i]);
    key[len] = '\0';
    mime_slot_t *s = mime_slot(key);
    if (s->ext[0] || st.mime_used >= MIME_SLOTS / 2)
        return;
    if (*type_interned == NULL && (*type_interned = mime_intern(type)) == NULL)
        return;
    memcpy(s->ext, key, len + 1);
    s->type = *type_interned;
    st.mime_used++;
}

static void mime_load_line(char *line)
{
    const char *sep = " \t\r\n";
    char *save = NULL;
    char *type = strtok_r(line, sep, &save);
    const char *interned = NULL;

    if (type == NULL || type[0] == '#')
        return;
    for (char *ext = strtok_r(NULL, sep, &save); ext; ext = strtok_r(NULL, sep, &save)) {
        if (ext[0] == '#')
            break;
        mime_add(ext, strlen(ext), &interned, type);
    }
}

static void mime_load_file(const char *path, int explicit)
{
    char line[1024];
    FILE *f = fopen(path, "re");

    if (f == NULL) {
        crl_log(explicit ? CRL_LOG_WARN : CRL_LOG_INFO, errno,
                "static: cannot read MIME types from %s; using the built-in table", path);
        return;
    }
    while (fgets(line, sizeof(line), f))
        mime_load_line(line);
    fclose(f);
}

static int mime_build(void)
{
    st.mime = calloc(MIME_SLOTS, sizeof(*st.mime));
    if (st.mime == NULL) {
        crl_log(CRL_LOG_ERR, errno, "static: cannot allocate the MIME table");
        return CRL_ERROR;
    }
    if (conf.mimefile.n == 0)
        mime_load_file("/etc/mime.types", 0);
    for (size_t i = 0; i < conf.mimefile.n; i++)
        mime_load_file(conf.mimefile.items[i].value, 1);
    for (size_t i = 0; i < sizeof(builtin_mime) / sizeof(builtin_mime[0]); i++) {
        const char *interned = NULL;
        mime_add(builtin_mime[i][0], strlen(builtin_mime[i][0]), &interned, builtin_mime[i][1]);
    }
    return CRL_OK;
}

/* MIME type of the file name (last path component's extension). */
static const char *mime_lookup(const char *name, size_t len)
{
    char key[MIME_EXT_MAX];
    size_t i = len;

    while (i > 0 && name[i - 1] != '.' && name[i - 1] != '/')
        i--;
    if (i == 0 || name[i - 1] != '.' || len - i == 0 || len - i >= sizeof(key))
        return "application/octet-stream";
    for (size_t k = 0; k < len - i; k++)
        key[k] = (char)tolower((unsigned char)name[i + k]);
    key[len - i] = '\0';
    const mime_slot_t *s = mime_slot(key);
    return s->ext[0] ? s->type : "application/octet-stream";
}

/* ---- configuration -------------------------------------------------------- */

/* Absolute real path of p, or NULL with errno set when it does not exist. */
static char *resolve(const char *p)
{
    return realpath(p, NULL);
}

static int add_map(const crl_list_item_t *it, int kind, int has_mount)
{
    smap_t *m = &st.maps[st.nmaps];
    const char *v = it->value, *eq = has_mount ? strchr(v, '=') : NULL;
    struct stat sb;

    if (has_mount && (eq == NULL || eq[1] == '\0')) {
        crl_log(CRL_LOG_ERR, 0, "static-map '%s' at %s: expects /mountpoint=path", v,
                crl_option_where(it->file, it->line));
        return CRL_ERROR;
    }
    m->mount = has_mount ? v : "";
    m->mount_len = has_mount ? (size_t)(eq - v) : 0;
    m->conf_root = has_mount ? eq + 1 : v;
    m->kind = kind;
    m->root = resolve(m->conf_root);
    if (m->root == NULL) {
        crl_log(CRL_LOG_WARN, errno, "static: %s (%s) does not exist yet; looked up per "
                "request", m->conf_root, crl_option_where(it->file, it->line));
    } else {
        m->root_len = strlen(m->root);
        m->is_file = stat(m->root, &sb) == 0 && !S_ISDIR(sb.st_mode);
    }
    st.nmaps++;
    return CRL_OK;
}

static int build_maps(void)
{
    size_t n = conf.map.n + conf.map2.n + conf.check.n;

    st.maps = calloc(n ? n : 1, sizeof(*st.maps));
    if (st.maps == NULL)
        return CRL_ERROR;
    for (size_t i = 0; i < conf.map.n; i++)
        if (add_map(&conf.map.items[i], MAP_STRIP, 1) != CRL_OK)
            return CRL_ERROR;
    for (size_t i = 0; i < conf.map2.n; i++)
        if (add_map(&conf.map2.items[i], MAP_KEEP, 1) != CRL_OK)
            return CRL_ERROR;
    for (size_t i = 0; i < conf.check.n; i++)
        if (add_map(&conf.check.items[i], MAP_KEEP, 0) != CRL_OK)
            return CRL_ERROR;
    return CRL_OK;
}

/* Directories given relative to the working directory become absolute
 * real paths, so they compare with resolved file names. */
static int build_prefixes(const crl_list_t *l, prefix_t **out, size_t *nout)
{
    *out = calloc(l->n ? l->n : 1, sizeof(**out));
    if (*out == NULL)
        return CRL_ERROR;
    for (size_t i = 0; i < l->n; i++) {
        char *p = resolve(l->items[i].value);
        if (p == NULL) {
            crl_log(CRL_LOG_WARN, errno, "static: %s (%s) does not exist; ignored",
                    l->items[i].value, crl_option_where(l->items[i].file, l->items[i].line));
            continue;
        }
        (*out)[*nout].path = p;
        (*out)[(*nout)++].len = strlen(p);
    }
    return CRL_OK;
}

static int compile_re(regex_t *re, const char *pattern, const crl_list_item_t *it)
{
    int rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[128];
        regerror(rc, re, msg, sizeof(msg));
        crl_log(CRL_LOG_ERR, 0, "static: invalid regexp '%s' at %s: %s", pattern, crl_option_where(it->file, it->line), msg);
        return CRL_ERROR;
    }
    return CRL_OK;
}

/* Split "key seconds" (or "type=seconds" for the type rules) at the last
 * separator; the key is copied into buf. */
static int split_rule(const crl_list_item_t *it, int by_type, char *buf, size_t cap, long *secs)
{
    const char *v = it->value;
    const char *sep = by_type ? strrchr(v, '=') : NULL;
    char *end;

    if (sep == NULL) {
        size_t n = strlen(v);
        while (n > 0 && isspace((unsigned char)v[n - 1]))
            n--;
        while (n > 0 && !isspace((unsigned char)v[n - 1]))
            n--;
        sep = n > 0 ? v + n - 1 : NULL;
    }
    if (sep == NULL || sep == v || (size_t)(sep - v) >= cap)
        goto bad;
    size_t klen = (size_t)(sep - v);
    while (klen > 0 && isspace((unsigned char)v[klen - 1]))
        klen--;
    memcpy(buf, v, klen);
    buf[klen] = '\0';
    *secs = strtol(sep + 1, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (klen == 0 || end == sep + 1 || *end != '\0' || *secs < 0)
        goto bad;
    return CRL_OK;
bad:
    crl_log(CRL_LOG_ERR, 0, "static expires rule '%s' at %s: expects '%s seconds'", v,
            crl_option_where(it->file, it->line), by_type ? "mimetype" : "regexp");
    return CRL_ERROR;
}

static int build_expires(void)
{
    size_t n = 0;
    char key[1024];

    for (int k = 0; k < EXP_KINDS; k++)
        n += conf.expires[k].n;
    st.expires = calloc(n ? n : 1, sizeof(*st.expires));
    if (st.expires == NULL)
        return CRL_ERROR;
    for (int k = 0; k < EXP_KINDS; k++) {
        int by_type = k == EXP_TYPE || k == EXP_TYPE_MTIME;
        for (size_t i = 0; i < conf.expires[k].n; i++) {
            const crl_list_item_t *it = &conf.expires[k].items[i];
            expire_t *e = &st.expires[st.nexpires];
            if (split_rule(it, by_type, key, sizeof(key), &e->secs) != CRL_OK)
                return CRL_ERROR;
            e->kind = k;
            if (by_type) {
                if ((e->type = strdup(key)) == NULL)
                    return CRL_ERROR;
            } else if (compile_re(&e->re, key, it) != CRL_OK) {
                return CRL_ERROR;
            } else {
                e->has_re = 1;
            }
            st.nexpires++;
        }
    }
    return CRL_OK;
}

static int build_gzip(void)
{
    st.gzip_re = calloc(conf.gzip.n ? conf.gzip.n : 1, sizeof(*st.gzip_re));
    if (st.gzip_re == NULL)
        return CRL_ERROR;
    for (size_t i = 0; i < conf.gzip.n; i++) {
        if (compile_re(&st.gzip_re[i], conf.gzip.items[i].value, &conf.gzip.items[i]) != CRL_OK)
            return CRL_ERROR;
        st.ngzip_re++;
    }
    return build_prefixes(&conf.gzip_dir, &st.gzip_dir, &st.ngzip_dir);
}

static void free_prefixes(prefix_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(p[i].path);
    free(p);
}

/* Drop what a previous crl_static_init built (a reload re-initialises). */
static void release_state(void)
{
    for (size_t i = 0; i < st.nmaps; i++)
        free(st.maps[i].root);
    free(st.maps);
    free_prefixes(st.safe, st.nsafe);
    free_prefixes(st.gzip_dir, st.ngzip_dir);
    for (size_t i = 0; i < st.nexpires; i++) {
        if (st.expires[i].has_re)
            regfree(&st.expires[i].re);
        free(st.expires[i].type);
    }
    free(st.expires);
    for (size_t i = 0; i < st.ngzip_re; i++)
        regfree(&st.gzip_re[i]);
    free(st.gzip_re);
    for (size_t i = 0; i < st.nmime_strings; i++)
        free(st.mime_strings[i]);
    free(st.mime_strings);
    free(st.mime);
    memset(&st, 0, sizeof(st));
}

int crl_static_init(void)
{
    release_state();
    if (conf.map.n + conf.map2.n + conf.check.n == 0)
        return CRL_OK;
    if (build_maps() != CRL_OK || build_prefixes(&conf.safe, &st.safe, &st.nsafe) != CRL_OK ||
        build_expires() != CRL_OK || build_gzip() != CRL_OK || mime_build() != CRL_OK)
        goto fail;
    st.ready = 1;
    return CRL_OK;
fail:
    crl_log(CRL_LOG_ERR, errno, "static: cannot set up the static file maps");
    release_state();
    return CRL_ERROR;
}

/* ---- HTTP dates and small parsers ---------------------------------------- */

static const char wdays[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into buf (>= 30 bytes). */
static void http_date(time_t t, char *buf, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Parse an IMF-fixdate; -1 when s is anything else (the header is then
 * ignored, as RFC 9110 asks for invalid dates). */
static time_t parse_http_date(crl_str_t s)
{
    struct tm tm = { 0 };
    const char *p = s.data;
    int mon = -1;

    if (s.len != 29 || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' ||
        p[16] != ' ' || p[19] != ':' || p[22] != ':' || memcmp(p + 25, " GMT", 4) != 0)
        return -1;
    for (int i = 0; i < 12; i++)
        if (memcmp(p + 8, months[i], 3) == 0)
            mon = i;
    tm.tm_mday = digits(p + 5, 2);
    tm.tm_year = digits(p + 12, 4) - 1900;
    tm.tm_hour = digits(p + 17, 2);
    tm.tm_min = digits(p + 20, 2);
    tm.tm_sec = digits(p + 23, 2);
    if (mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_year < 0 || tm.tm_hour < 0 ||
        tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
        return -1;
    tm.tm_mon = mon;
    return timegm(&tm);
}

static int str_ieq(crl_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.data, lit, n) == 0;
}

static crl_str_t trim(crl_str_t s)
{
    while (s.len && (s.data[0] == ' ' || s.data[0] == '\t')) {
        s.data++;
        s.len--;
    }
    while (s.len && (s.data[s.len - 1] == ' ' || s.data[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* Next comma-separated element of *list (trimmed); 0 at the end. */
static int next_elem(crl_str_t *list, crl_str_t *elem)
{
    while (list->len) {
        const char *comma = memchr(list->data, ',', list->len);
        size_t n = comma ? (size_t)(comma - list->data) : list->len;
        *elem = trim((crl_str_t){ list->data, n });
        list->data += comma ? n + 1 : n;
        list->len -= comma ? n + 1 : n;
        if (elem->len)
            return 1;
    }
    return 0;
}

/* q-value of an Accept-Encoding element's parameters: 0 when "q=0[.000]". */
static int q_nonzero(crl_str_t params)
{
    crl_str_t p = trim(params);
    if (p.len < 2 || (p.data[0] != 'q' && p.data[0] != 'Q'))
        return 1;
    p.data++;
    p.len--;
    p = trim(p);
    if (p.len == 0 || p.data[0] != '=')
        return 1;
    p.data++;
    p.len--;
    p = trim(p);
    for (size_t i = 0; i < p.len; i++)
        if (p.data[i] >= '1' && p.data[i] <= '9')
            return 1;
    return 0;
}

/* 1 when Accept-Encoding lets us send gzip. */
static int accepts_gzip(const crl_request_t *r)
{
    crl_str_t list = crl_request_var(r, "HTTP_ACCEPT_ENCODING"), e;
    int gzip = -1, star = -1;

    while (next_elem(&list, &e)) {
        const char *semi = memchr(e.data, ';', e.len);
        crl_str_t name = trim((crl_str_t){ e.data, semi ? (size_t)(semi - e.data) : e.len });
        crl_str_t params = semi ? (crl_str_t){ semi + 1, e.len - (size_t)(semi + 1 - e.data) }
                                : CRL_STR("");
        int ok = q_nonzero(params);
        if (str_ieq(name, "gzip") || str_ieq(name, "x-gzip"))
            gzip = ok;
        else if (str_ieq(name, "*"))
            star = ok;
    }
    return gzip >= 0 ? gzip : star == 1;
}

/* ---- per-request context --------------------------------------------------- */

typedef struct {
    crl_request_t *r;
    crl_str_t path;         /* PATH_INFO */
    int is_head;
    char file[PATH_MAX];    /* real path of the file served (not its .gz) */
    size_t file_len;
    int fd;
    struct stat sb;         /* of fd */
    int gzip, vary;
} sreq_t;

typedef struct {
    crl_header_t h[MAX_HEADERS];
    size_t n;
    char pool[HEADER_POOL];
    size_t used;
} headers_t;

__attribute__((format(printf, 3, 4)))
static void hdr_add(headers_t *hs, const char *name, const char *fmt, ...)
{
    va_list ap;
    size_t room = sizeof(hs->pool) - hs->used;

    if (hs->n == MAX_HEADERS)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(hs->pool + hs->used, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        return;
    hs->h[hs->n].name = (crl_str_t){ name, strlen(name) };
    hs->h[hs->n++].value = (crl_str_t){ hs->pool + hs->used, (size_t)n };
    hs->used += (size_t)n + 1;
}

/* Send a status with the headers; no body. */
static int respond_empty(crl_request_t *r, crl_str_t status, const headers_t *hs)
{
    if (crl_response_start(r, status, hs->h, hs->n) != CRL_OK) {
        crl_response_error(r, 500);
        return CRL_OK;
    }
    crl_response_finish(r);
    return CRL_OK;
}

/* PATH_INFO without NUL bytes and `..` segments. */
static int path_is_safe(crl_str_t p)
{
    if (memchr(p.data, '\0', p.len))
        return 0;
    for (size_t i = 0; i < p.len;) {
        size_t j = i;
        while (j < p.len && p.data[j] != '/')
            j++;
        if (j - i == 2 && p.data[i] == '.' && p.data[i + 1] == '.')
            return 0;
        i = j + 1;
    }
    return 1;
}

static int map_matches(const smap_t *m, crl_str_t p)
{
    if (m->mount_len == 0)
        return 1;
    if (p.len < m->mount_len || memcmp(p.data, m->mount, m->mount_len) != 0)
        return 0;
    if (p.len == m->mount_len || m->mount[m->mount_len - 1] == '/')
        return 1;
    return p.data[m->mount_len] == '/';
}

static int under(const char *file, size_t len, const char *dir, size_t dlen)
{
    if (dlen == 1 && dir[0] == '/')
        return 1;
    return len >= dlen && memcmp(file, dir, dlen) == 0 && (len == dlen || file[dlen] == '/');
}

static int is_allowed(const char *file, size_t len, const char *root, size_t rlen)
{
    if (under(file, len, root, rlen))
        return 1;
    for (size_t i = 0; i < st.nsafe; i++)
        if (under(file, len, st.safe[i].path, st.safe[i].len))
            return 1;
    return 0;
}

/* Outcomes of looking a file up. */
enum { R_FOUND = 0, R_MISSING = 1, R_DENIED = 2, R_OUTSIDE = 3, R_NOTREG = 4 };

/* Resolve cand into q->file, check that it stays under root (or a safe
 * directory) and open it; on R_FOUND q->fd and q->sb describe it. */
static int open_checked(sreq_t *q, const char *cand, const char *root, size_t rlen)
{
    if (realpath(cand, q->file) == NULL)
        return errno == EACCES ? R_DENIED : R_MISSING;
    q->file_len = strlen(q->file);
    if (!is_allowed(q->file, q->file_len, root, rlen))
        return R_OUTSIDE;
    q->fd = open(q->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (q->fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? R_MISSING : R_DENIED;
    if (fstat(q->fd, &q->sb) != 0)
        return R_DENIED;
    return R_FOUND;
}

/* q->fd is a directory: replace it with its first existing index file. */
static int open_index(sreq_t *q, const char *root, size_t rlen)
{
    char dir[PATH_MAX], cand[PATH_MAX];
    size_t dlen = q->file_len;

    memcpy(dir, q->file, dlen + 1);
    for (size_t i = 0; i < conf.index.n; i++) {
        const char *name = conf.index.items[i].value;
        int n = snprintf(cand, sizeof(cand), "%s/%s", dlen == 1 ? "" : dir, name);
        if (n < 0 || (size_t)n >= sizeof(cand))
            continue;
        close(q->fd);
        q->fd = -1;
        int rc = open_checked(q, cand, root, rlen);
        if (rc == R_FOUND && !S_ISDIR(q->sb.st_mode))
            return R_FOUND;
        if (rc != R_FOUND && rc != R_MISSING)
            return rc;
    }
    return R_MISSING;
}

/* A static-gzip* rule selects q->file. */
static int want_gzip(const sreq_t *q)
{
    if (conf.gzip_all)
        return 1;
    for (size_t i = 0; i < st.ngzip_dir; i++)
        if (under(q->file, q->file_len, st.gzip_dir[i].path, st.gzip_dir[i].len))
            return 1;
    for (size_t i = 0; i < conf.gzip_ext.n; i++) {
        size_t n = strlen(conf.gzip_ext.items[i].value);
        if (n <= q->file_len &&
            memcmp(q->file + q->file_len - n, conf.gzip_ext.items[i].value, n) == 0)
            return 1;
    }
    for (size_t i = 0; i < st.ngzip_re; i++)
        if (regexec(&st.gzip_re[i], q->file, 0, NULL, 0) == 0)
            return 1;
    return 0;
}

/* Swap q->fd for file.gz when it is wanted, accepted and safe. */
static void try_gzip(sreq_t *q, const char *root, size_t rlen)
{
    char cand[PATH_MAX], real[PATH_MAX];
    struct stat sb;

    if (!want_gzip(q))
        return;
    q->vary = 1;
    if (!accepts_gzip(q->r) || q->file_len + sizeof(".gz") > sizeof(cand))
        return;
    memcpy(cand, q->file, q->file_len);
    memcpy(cand + q->file_len, ".gz", sizeof(".gz"));
    if (realpath(cand, real) == NULL || !is_allowed(real, strlen(real), root, rlen))
        return;
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return;
    }
    close(q->fd);
    q->fd = fd;
    q->sb = sb;
    q->gzip = 1;
}

/* ---- validators, ranges, expiry ------------------------------------------ */

static int etag_in_list(crl_str_t list, crl_str_t etag)
{
    crl_str_t e;
    while (next_elem(&list, &e)) {
        if (e.len == 1 && e.data[0] == '*')
            return 1;
        if (e.len > 2 && e.data[0] == 'W' && e.data[1] == '/') {
            e.data += 2; /* If-None-Match compares weakly */
            e.len -= 2;
        }
        if (e.len == etag.len && memcmp(e.data, etag.data, etag.len) == 0)
            return 1;
    }
    return 0;
}

static int not_modified(const sreq_t *q, crl_str_t etag)
{
    crl_str_t inm = crl_request_var(q->r, "HTTP_IF_NONE_MATCH");
    if (inm.data)
        return etag_in_list(inm, etag);
    crl_str_t ims = crl_request_var(q->r, "HTTP_IF_MODIFIED_SINCE");
    time_t t = ims.data ? parse_http_date(trim(ims)) : -1;
    return t != -1 && q->sb.st_mtime <= t;
}

/* A Range may be honoured: no If-Range, or one naming this version. */
static int if_range_holds(const sreq_t *q, crl_str_t etag)
{
    crl_str_t v = crl_request_var(q->r, "HTTP_IF_RANGE");
    if (v.data == NULL)
        return 1;
    v = trim(v);
    if (v.len && (v.data[0] == '"' || v.data[0] == 'W'))
        return v.len == etag.len && memcmp(v.data, etag.data, etag.len) == 0;
    time_t t = parse_http_date(v);
    return t != -1 && t == q->sb.st_mtime;
}

/* Decimal digits of s, saturating at UINT64_MAX; 0 in *ok when s is not
 * all digits or empty. */
static uint64_t parse_u64(crl_str_t s, int *ok)
{
    uint64_t v = 0;
    *ok = s.len > 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.data[i] < '0' || s.data[i] > '9') {
            *ok = 0;
            return 0;
        }
        unsigned d = (unsigned)(s.data[i] - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    return v;
}

enum { RANGE_NONE, RANGE_OK, RANGE_UNSAT };

/* A single byte range against size: RANGE_OK with [*from, *to];
 * RANGE_UNSAT (416); RANGE_NONE for several ranges or a malformed header
 * (the whole file is sent). */
static int parse_range(crl_str_t v, uint64_t size, uint64_t *from, uint64_t *to)
{
    uint64_t first, last;
    int ok;

    v = trim(v);
    if (v.len < 6 || strncasecmp(v.data, "bytes=", 6) != 0)
        return RANGE_NONE;
    crl_str_t spec = trim((crl_str_t){ v.data + 6, v.len - 6 });
    const char *dash = memchr(spec.data, '-', spec.len);
    if (dash == NULL || memchr(spec.data, ',', spec.len))
        return RANGE_NONE;
    crl_str_t a = trim((crl_str_t){ spec.data, (size_t)(dash - spec.data) });
    crl_str_t b = trim((crl_str_t){ dash + 1, spec.len - (size_t)(dash + 1 - spec.data) });
    if (a.len == 0) { /* suffix: the last n bytes */
        uint64_t n = parse_u64(b, &ok);
        if (!ok)
            return RANGE_NONE;
        if (n == 0 || size == 0)
            return RANGE_UNSAT;
        first = n >= size ? 0 : size - n;
        last = size - 1;
    } else {
        first = parse_u64(a, &ok);
        if (!ok)
            return RANGE_NONE;
        last = b.len ? parse_u64(b, &ok) : UINT64_MAX;
        if (!ok || last < first)
            return RANGE_NONE;
        if (first >= size)
            return RANGE_UNSAT;
        if (last >= size)
            last = size - 1;
    }
    *from = first;
    *to = last;
    return RANGE_OK;
}

/* NUL-terminated copy of s into buf; 0 when it does not fit. */
static int copy_z(char *buf, size_t cap, crl_str_t s)
{
    if (s.data == NULL || s.len >= cap)
        return 0;
    memcpy(buf, s.data, s.len);
    buf[s.len] = '\0';
    return 1;
}

static int expire_matches(const sreq_t *q, const expire_t *e, crl_str_t type, char *buf,
                          size_t cap)
{
    switch (e->kind) {
    case EXP_FILE:
    case EXP_FILE_MTIME:
        return regexec(&e->re, q->file, 0, NULL, 0) == 0;
    case EXP_PATH:
    case EXP_PATH_MTIME:
        return copy_z(buf, cap, q->path) && regexec(&e->re, buf, 0, NULL, 0) == 0;
    case EXP_URI:
    case EXP_URI_MTIME:
        return copy_z(buf, cap, crl_request_var(q->r, "REQUEST_URI")) &&
               regexec(&e->re, buf, 0, NULL, 0) == 0;
    default:
        return strlen(e->type) == type.len && strncasecmp(e->type, type.data, type.len) == 0;
    }
}

/* Expires and Cache-Control from the first matching rule. */
static void add_expires(const sreq_t *q, headers_t *hs, const char *type)
{
    char buf[PATH_COPY_MAX], date[32];
    crl_str_t base_type = { type, strcspn(type, ";") };

    for (size_t i = 0; i < st.nexpires; i++) {
        const expire_t *e = &st.expires[i];
        if (!expire_matches(q, e, base_type, buf, sizeof(buf)))
            continue;
        time_t now = time(NULL);
        int by_mtime = e->kind % 2 == 1;
        time_t at = (by_mtime ? q->sb.st_mtime : now) + (time_t)e->secs;
        http_date(at, date, sizeof(date));
        hdr_add(hs, "Expires", "%s", date);
        hdr_add(hs, "Cache-Control", "max-age=%lld", at > now ? (long long)(at - now) : 0LL);
        return;
    }
}

/* ---- responses -------------------------------------------------------------- */

/* 200, 206, 304 or 416 for the open regular file q->fd. */
static int send_file(sreq_t *q)
{
    headers_t hs;
    char etag_buf[48], lm[32];
    const char *type = mime_lookup(q->file, q->file_len);
    uint64_t size = (uint64_t)q->sb.st_size, from = 0, to = size ? size - 1 : 0;
    int range = RANGE_NONE;

    hs.n = hs.used = 0;
    int n = snprintf(etag_buf, sizeof(etag_buf), "\"%llx-%llx\"",
                     (unsigned long long)q->sb.st_mtime, (unsigned long long)size);
    crl_str_t etag = { etag_buf, (size_t)n };
    http_date(q->sb.st_mtime, lm, sizeof(lm));
    hdr_add(&hs, "ETag", "%s", etag_buf);
    hdr_add(&hs, "Last-Modified", "%s", lm);
    if (q->vary)
        hdr_add(&hs, "Vary", "Accept-Encoding");
    add_expires(q, &hs, type);
    if (not_modified(q, etag))
        return respond_empty(q->r, CRL_STR("304 Not Modified"), &hs);

    crl_str_t rv = crl_request_var(q->r, "HTTP_RANGE");
    if (rv.data && !q->is_head && if_range_holds(q, etag))
        range = parse_range(rv, size, &from, &to);
    if (range == RANGE_UNSAT) {
        hdr_add(&hs, "Content-Range", "bytes */%llu", (unsigned long long)size);
        hdr_add(&hs, "Content-Length", "0");
        return respond_empty(q->r, CRL_STR("416 Range Not Satisfiable"), &hs);
    }
    uint64_t len = size == 0 ? 0 : to - from + 1;
    hdr_add(&hs, "Content-Type", "%s", type);
    hdr_add(&hs, "Content-Length", "%llu", (unsigned long long)len);
    hdr_add(&hs, "Accept-Ranges", "bytes");
    if (q->gzip)
        hdr_add(&hs, "Content-Encoding", "gzip");
    if (range == RANGE_OK)
        hdr_add(&hs, "Content-Range", "bytes %llu-%llu/%llu", (unsigned long long)from,
                (unsigned long long)to, (unsigned long long)size);
    crl_str_t status = range == RANGE_OK ? CRL_STR("206 Partial Content") : CRL_STR("200 OK");
    if (crl_response_start(q->r, status, hs.h, hs.n) != CRL_OK) {
        crl_response_error(q->r, 500);
        return CRL_OK;
    }
    /* A failed send leaves the connection marked broken in the core. */
    if (!q->is_head && len > 0)
        crl_response_sendfile(q->r, q->fd, (off_t)from, (size_t)len);
    crl_response_finish(q->r);
    return CRL_OK;
}

/* A directory with an index, asked for without its trailing slash: 301 to
 * the slashed URI (so relative links resolve), when REQUEST_URI tells it.
 * CRL_DECLINED when no redirect is needed or possible. */
static int redirect_slash(sreq_t *q)
{
    char loc[PATH_COPY_MAX];
    crl_str_t uri = crl_request_var(q->r, "REQUEST_URI");
    headers_t hs;

    if (q->path.len && q->path.data[q->path.len - 1] == '/')
        return CRL_DECLINED;
    if (uri.data == NULL)
        return CRL_DECLINED;
    const char *qm = memchr(uri.data, '?', uri.len);
    size_t plen = qm ? (size_t)(qm - uri.data) : uri.len;
    if (plen == 0 || uri.data[plen - 1] == '/')
        return CRL_DECLINED;
    int n = snprintf(loc, sizeof(loc), "%.*s/%.*s", (int)plen, uri.data,
                     (int)(uri.len - plen), uri.data + plen);
    if (n < 0 || (size_t)n >= sizeof(loc))
        return CRL_DECLINED;
    hs.n = hs.used = 0;
    hs.h[hs.n++] = (crl_header_t){ CRL_STR("Location"), { loc, (size_t)n } };
    hdr_add(&hs, "Content-Length", "0");
    return respond_empty(q->r, CRL_STR("301 Moved Permanently"), &hs);
}

static int refuse(sreq_t *q, int outcome)
{
    const char *why = outcome == R_OUTSIDE ? "resolves outside the static root"
                    : outcome == R_NOTREG  ? "is not a regular file"
                                           : "cannot be read";
    crl_log(CRL_LOG_WARN, 0, "static: '%.*s' %s: 403",
            (int)(q->path.len > 512 ? 512 : q->path.len), q->path.data, why);
    crl_response_error(q->r, 403);
    return CRL_OK;
}

/* The candidate path of q under map m into cand; 0 when it does not fit. */
static int map_candidate(const sreq_t *q, const smap_t *m, const char *root, int is_file,
                         char *cand, size_t cap)
{
    crl_str_t rest = q->path;
    if (is_file)
        return m->mount_len > 0 && q->path.len == m->mount_len &&
               snprintf(cand, cap, "%s", root) < (int)cap;
    if (m->kind == MAP_STRIP) {
        rest.data += m->mount_len;
        rest.len -= m->mount_len;
    }
    while (rest.len && rest.data[0] == '/') {
        rest.data++;
        rest.len--;
    }
    int n = snprintf(cand, cap, "%s/%.*s", root, (int)rest.len, rest.data);
    return n > 0 && (size_t)n < cap;
}

static int skipped_ext(const sreq_t *q)
{
    for (size_t i = 0; i < conf.skip_ext.n; i++) {
        size_t n = strlen(conf.skip_ext.items[i].value);
        if (n <= q->file_len &&
            memcmp(q->file + q->file_len - n, conf.skip_ext.items[i].value, n) == 0)
            return 1;
    }
    return 0;
}

/* Look q up under map m and answer it; CRL_DECLINED when the map has no
 * such file. q->fd is closed by the caller. */
static int try_map(sreq_t *q, const smap_t *m)
{
    char rootbuf[PATH_MAX], cand[PATH_MAX];
    const char *root = m->root;
    size_t rlen = m->root_len;
    int is_file = m->is_file, rc;
    struct stat sb;

    if (root == NULL) { /* did not exist at start: resolve now */
        if (realpath(m->conf_root, rootbuf) == NULL)
            return CRL_DECLINED;
        root = rootbuf;
        rlen = strlen(rootbuf);
        is_file = stat(rootbuf, &sb) == 0 && !S_ISDIR(sb.st_mode);
    }
    if (!map_candidate(q, m, root, is_file, cand, sizeof(cand)))
        return CRL_DECLINED;
    rc = open_checked(q, cand, root, rlen);
    int is_dir = rc == R_FOUND && S_ISDIR(q->sb.st_mode);
    if (is_dir)
        rc = open_index(q, root, rlen);
    if (rc == R_MISSING)
        return CRL_DECLINED;
    if (rc != R_FOUND || !S_ISREG(q->sb.st_mode))
        return refuse(q, rc == R_FOUND ? R_NOTREG : rc);
    if (skipped_ext(q))
        return CRL_DECLINED;
    if (is_dir && redirect_slash(q) == CRL_OK)
        return CRL_OK;
    try_gzip(q, root, rlen);
    return send_file(q);
}

int crl_static_serve(crl_request_t *r)
{
    sreq_t q;
    int rc = CRL_DECLINED;

    if (!st.ready)
        return CRL_DECLINED;
    crl_str_t method = crl_request_var(r, "REQUEST_METHOD");
    q.is_head = crl_str_eq_lit(method, "HEAD");
    /* Other methods belong to the application, even on a static URL. */
    if (!q.is_head && !crl_str_eq_lit(method, "GET"))
        return CRL_DECLINED;
    q.r = r;
    q.fd = -1;
    q.gzip = q.vary = 0;
    q.path = crl_request_var(r, "PATH_INFO");
    if (q.path.data == NULL)
        q.path = CRL_STR("");
    for (size_t i = 0; i < st.nmaps && rc == CRL_DECLINED; i++) {
        if (!map_matches(&st.maps[i], q.path))
            continue;
        if (!path_is_safe(q.path)) {
            crl_log(CRL_LOG_WARN, 0, "static: '%.*s' holds a NUL byte or a '..' segment: 403",
                    (int)(q.path.len > 512 ? 512 : q.path.len), q.path.data);
            crl_response_error(r, 403);
            return CRL_OK;
        }
        rc = try_map(&q, &st.maps[i]);
        if (q.fd >= 0) {
            close(q.fd);
            q.fd = -1;
        }
    }
    return rc;
}
