/*
 * Listening sockets. The master binds every configured address once, before
 * privileges are dropped; workers inherit the descriptors and accept on them
 * (non-blocking, so a worker woken for a connection another worker took
 * goes back to epoll). Sockets stay open across worker reloads.
 *
 * Address syntax is uWSGI's: anything without ':' is a unix path ("8000"
 * alone is a file named 8000, as in uWSGI), "@name" is an abstract unix
 * socket, ":port" binds every IPv4 interface, "[::1]:port" IPv6.
 *
 * Exposure of the uwsgi protocol: whoever can connect to a uwsgi socket
 * chooses every CGI variable the app sees (REMOTE_ADDR, HTTP_HOST,
 * HTTPS, ...), so a TCP uwsgi socket accepts only the peers listed in
 * uwsgi-allow-from, loopback (127.0.0.0/8, ::1) when the option is unset,
 * everyone with "*". The rules are parsed once in the master before the
 * workers fork; a worker checks each accepted peer against them with a few
 * integer compares (crl_socket_peer_allowed). Unix sockets are guarded by
 * their file mode and always allowed; http sockets are for clients and are
 * never filtered. Binding a TCP uwsgi socket to a non-loopback address logs
 * a warning that says how to let a remote web server in.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/result.h>

#include "crl_option.h"
#include "crl_socket.h"

#define MAX_LISTENERS 64
#define MAX_ALLOW_RULES 64
#define REFUSAL_LOG_INTERVAL 10 /* seconds between two refusal log lines */

typedef struct {
    crl_list_t socket;      /* protocol given by `protocol` (uwsgi default) */
    crl_list_t uwsgi_socket;
    crl_list_t http_socket;
    crl_list_t http;        /* served by the workers themselves */
    char *protocol;
    unsigned chmod_socket;
    char *chown_socket;
    int reuse_port;
    long listen;
    crl_list_t uwsgi_allow_from;
} crl_socket_conf_t;

static crl_socket_conf_t conf;

static const crl_option_t options[] = {
    { .name = "socket", .short_name = 's', .type = CRL_OPT_LIST,
      .offset = offsetof(crl_socket_conf_t, socket),
      .help = "bind a socket speaking the default protocol (uwsgi unless `protocol` says "
              "otherwise): /path, @abstract, host:port, :port, [::1]:port" },
    { .name = "uwsgi-socket", .type = CRL_OPT_LIST,
      .offset = offsetof(crl_socket_conf_t, uwsgi_socket),
      .help = "bind a socket that always speaks the uwsgi protocol" },
    { .name = "http-socket", .type = CRL_OPT_LIST,
      .offset = offsetof(crl_socket_conf_t, http_socket),
      .help = "bind a socket on which the workers speak HTTP/1.1" },
    { .name = "http", .aliases = "httprouter", .type = CRL_OPT_LIST,
      .offset = offsetof(crl_socket_conf_t, http),
      .help = "like http-socket: Corral's workers answer HTTP themselves, no router process" },
    { .name = "protocol", .aliases = "socket-protocol", .type = CRL_OPT_STRING,
      .offset = offsetof(crl_socket_conf_t, protocol), .def = "uwsgi",
      .help = "protocol of plain `socket` entries: uwsgi or http" },
    { .name = "chmod-socket", .aliases = "chmod", .short_name = 'C', .type = CRL_OPT_MODE,
      .flags = CRL_OPTF_OPTARG, .offset = offsetof(crl_socket_conf_t, chmod_socket),
      .help = "permissions of unix sockets: three octal digits; bare means 666" },
    { .name = "reuse-port", .type = CRL_OPT_BOOL, .offset = offsetof(crl_socket_conf_t, reuse_port),
      .help = "TCP http-sockets: one SO_REUSEPORT socket per worker, the kernel spreading "
              "connections by hash (by default workers share one socket and balance their "
              "keep-alive connections themselves)" },
    { .name = "chown-socket", .type = CRL_OPT_STRING,
      .offset = offsetof(crl_socket_conf_t, chown_socket),
      .help = "owner of unix sockets: user[:group]" },
    { .name = "listen", .short_name = 'l', .type = CRL_OPT_INT,
      .offset = offsetof(crl_socket_conf_t, listen), .def = "1024", .min = 1, .max = 65535,
      .help = "listen() backlog of every socket" },
    { .name = "uwsgi-allow-from", .type = CRL_OPT_LIST,
      .offset = offsetof(crl_socket_conf_t, uwsgi_allow_from),
      .help = "peers a TCP uwsgi socket accepts: addresses or CIDRs (10.0.0.5, 10.0.0.0/24, "
              "fd00::/8), blank- or comma-separated, repeatable; * allows every peer. "
              "Default: loopback only" },
};

/* One uwsgi-allow-from entry: the first `bits` bits of addr. IPv4 rules
 * hold the address in addr[0..4). */
typedef struct {
    int family; /* AF_INET or AF_INET6 */
    unsigned bits;
    uint8_t addr[16];
} allow_rule_t;

static allow_rule_t allow_rules[MAX_ALLOW_RULES];
static size_t nallow_rules;
static int allow_any;        /* "*" was given */
static int allow_configured; /* uwsgi-allow-from was given at all */
static int64_t last_refusal_log;
static uint64_t refusals_unlogged;

static crl_listener_t listeners[MAX_LISTENERS];
static size_t nlisteners;

int crl_socket_options_register(void)
{
    return crl_option_register("socket", options, sizeof(options) / sizeof(options[0]), &conf);
}

size_t crl_socket_count(void)
{
    return nlisteners;
}

crl_listener_t *crl_socket_at(size_t i)
{
    return i < nlisteners ? &listeners[i] : NULL;
}

static int parse_unix(const char *addr, struct sockaddr_storage *ss, socklen_t *len, char *err,
                      size_t errlen)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)ss;
    size_t n = strlen(addr);

    if (n == 0 || n >= sizeof(sun->sun_path)) {
        snprintf(err, errlen, "unix socket path must be 1 to %zu bytes",
                 sizeof(sun->sun_path) - 1);
        return CRL_ERROR;
    }
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, addr, n);
    if (addr[0] == '@')
        sun->sun_path[0] = '\0'; /* abstract namespace */
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (addr[0] == '@' ? 0 : 1));
    return CRL_OK;
}

int crl_socket_parse_address(const char *addr, struct sockaddr_storage *ss, socklen_t *len,
                             char *err, size_t errlen)
{
    const char *colon = strrchr(addr, ':');
    char host[256];

    if (colon == NULL || addr[0] == '/' || addr[0] == '.' || addr[0] == '@')
        return parse_unix(addr, ss, len, err, errlen);

    size_t hlen = (size_t)(colon - addr);
    const char *h = addr;
    if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host)) {
        snprintf(err, errlen, "host name too long");
        return CRL_ERROR;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';

    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
        snprintf(err, errlen, "invalid port '%s'", colon + 1);
        return CRL_ERROR;
    }

    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%ld", port);
    int rc = getaddrinfo(hlen == 0 || strcmp(host, "*") == 0 ? "0.0.0.0" : host, portstr, &hints,
                         &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return CRL_ERROR;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return CRL_OK;
}

/* A unix socket file left by a previous run that nobody listens on is
 * removed; one that accepts connections means another server owns it. */
static int clear_stale_unix(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return CRL_OK;
    if (!S_ISSOCK(st.st_mode)) {
        crl_log(CRL_LOG_ERR, 0, "%s exists and is not a socket; refusing to replace it", path);
        return CRL_ERROR;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    int live = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    if (fd >= 0)
        close(fd);
    if (live) {
        crl_log(CRL_LOG_ERR, 0, "%s is in use by another server", path);
        return CRL_ERROR;
    }
    unlink(path);
    return CRL_OK;
}

static int chown_unix(const char *path)
{
    char spec[256];
    snprintf(spec, sizeof(spec), "%s", conf.chown_socket);
    char *group = strchr(spec, ':');
    if (group)
        *group++ = '\0';

    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    struct passwd *pw = getpwnam(spec);
    char *end;
    if (pw) {
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    } else if (spec[0] && (uid = (uid_t)strtoul(spec, &end, 10), *end == '\0')) {
    } else {
        crl_log(CRL_LOG_ERR, 0, "chown-socket: unknown user '%s'", spec);
        return CRL_ERROR;
    }
    if (group && *group) {
        struct group *gr = getgrnam(group);
        if (gr)
            gid = gr->gr_gid;
        else if (gid = (gid_t)strtoul(group, &end, 10), *end != '\0') {
            crl_log(CRL_LOG_ERR, 0, "chown-socket: unknown group '%s'", group);
            return CRL_ERROR;
        }
    }
    if (chown(path, uid, gid) != 0) {
        crl_log(CRL_LOG_ERR, errno, "chown-socket %s on %s", conf.chown_socket, path);
        return CRL_ERROR;
    }
    return CRL_OK;
}

static void describe(crl_listener_t *l, const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, l->host, sizeof(l->host));
        snprintf(l->port, sizeof(l->port), "%u", ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, l->host, sizeof(l->host));
        snprintf(l->port, sizeof(l->port), "%u", ntohs(in6->sin6_port));
    } else {
        snprintf(l->host, sizeof(l->host), "localhost");
        l->port[0] = '\0';
    }
}

/* ---- uwsgi-allow-from ---------------------------------------------------- */

/* Parse "10.0.0.5", "10.0.0.0/24", "::1", "[fd00::]/8" into r. */
static int parse_rule(const char *text, allow_rule_t *r, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *slash = strchr(text, '/');
    size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
    const char *h = text;
    long bits = -1;

    if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        goto bad;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memset(r, 0, sizeof(*r));
    if (inet_pton(AF_INET, host, r->addr) == 1)
        r->family = AF_INET;
    else if (inet_pton(AF_INET6, host, r->addr) == 1)
        r->family = AF_INET6;
    else
        goto bad;
    long max = r->family == AF_INET ? 32 : 128;
    if (slash) {
        char *end;
        bits = strtol(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || bits > max)
            goto bad;
    }
    r->bits = (unsigned)(bits < 0 ? max : bits);
    return CRL_OK;

bad:
    snprintf(err, errlen, "'%s' is not an IP address or CIDR (10.0.0.5, 10.0.0.0/24, fd00::/8, "
             "or * for every peer)", text);
    return CRL_ERROR;
}

static int add_rule(const char *text, const crl_list_item_t *it)
{
    char err[256];

    if (strcmp(text, "*") == 0) {
        allow_any = 1;
        return CRL_OK;
    }
    if (nallow_rules == MAX_ALLOW_RULES) {
        crl_log(CRL_LOG_ERR, 0, "uwsgi-allow-from at %s: more than %d entries (use CIDRs)",
                crl_option_where(it->file, it->line), MAX_ALLOW_RULES);
        return CRL_ERROR;
    }
    if (parse_rule(text, &allow_rules[nallow_rules], err, sizeof(err)) != CRL_OK) {
        crl_log(CRL_LOG_ERR, 0, "uwsgi-allow-from at %s: %s",
                crl_option_where(it->file, it->line), err);
        return CRL_ERROR;
    }
    nallow_rules++;
    return CRL_OK;
}

int crl_socket_allow_load(void)
{
    static const char *const loopback[] = { "127.0.0.0/8", "::1" };
    static const crl_list_item_t builtin = { .value = NULL, .file = "default", .line = 0 };
    char buf[1024];

    nallow_rules = 0;
    allow_any = 0;
    allow_configured = conf.uwsgi_allow_from.n > 0;
    for (size_t i = 0; i < conf.uwsgi_allow_from.n; i++) {
        const crl_list_item_t *it = &conf.uwsgi_allow_from.items[i];
        size_t ntok = 0;
        if (strlen(it->value) >= sizeof(buf)) {
            /* never cut an address in two: "10.0.0.12" must not become "10.0.0.1" */
            crl_log(CRL_LOG_ERR, 0, "uwsgi-allow-from at %s: longer than %zu bytes; split it "
                    "over several lines", crl_option_where(it->file, it->line), sizeof(buf) - 1);
            return CRL_ERROR;
        }
        memcpy(buf, it->value, strlen(it->value) + 1);
        for (char *save = NULL, *tok = strtok_r(buf, " \t,", &save); tok;
             tok = strtok_r(NULL, " \t,", &save), ntok++)
            if (add_rule(tok, it) != CRL_OK)
                return CRL_ERROR;
        if (ntok == 0) {
            crl_log(CRL_LOG_ERR, 0, "uwsgi-allow-from at %s: empty; give addresses or CIDRs, "
                    "or * for every peer", crl_option_where(it->file, it->line));
            return CRL_ERROR;
        }
    }
    for (size_t i = 0; !allow_configured && i < 2; i++)
        if (add_rule(loopback[i], &builtin) != CRL_OK)
            return CRL_ERROR;
    return CRL_OK;
}

static int rule_match(const allow_rule_t *r, int family, const uint8_t *a)
{
    unsigned full = r->bits / 8, rest = r->bits % 8;

    if (r->family != family || memcmp(r->addr, a, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (r->addr[full] & mask) == (a[full] & mask);
}

/* The family and address bytes of a TCP peer; an IPv4-mapped IPv6 peer
 * (::ffff:10.0.0.5) is matched as the IPv4 address it is. */
static int peer_bytes(const struct sockaddr *peer, const uint8_t **a)
{
    if (peer->sa_family == AF_INET) {
        *a = (const uint8_t *)&((const struct sockaddr_in *)peer)->sin_addr;
        return AF_INET;
    }
    const struct in6_addr *in6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(in6)) {
        *a = in6->s6_addr + 12;
        return AF_INET;
    }
    *a = in6->s6_addr;
    return AF_INET6;
}

/* At most one line per REFUSAL_LOG_INTERVAL per process, so that a port
 * scan cannot flood the log; the line counts the refusals it stands for. */
static void log_refusal(const crl_listener_t *l, const struct sockaddr *peer)
{
    int64_t now = (int64_t)time(NULL);
    int64_t last = __atomic_load_n(&last_refusal_log, __ATOMIC_RELAXED);

    if (now - last < REFUSAL_LOG_INTERVAL ||
        !__atomic_compare_exchange_n(&last_refusal_log, &last, now, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED)) {
        __atomic_add_fetch(&refusals_unlogged, 1, __ATOMIC_RELAXED);
        return;
    }
    uint64_t more = __atomic_exchange_n(&refusals_unlogged, 0, __ATOMIC_RELAXED);
    char host[INET6_ADDRSTRLEN] = "?";
    const void *a = peer->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)peer)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)peer)->sin6_addr;
    char tally[64] = "";
    inet_ntop(peer->sa_family, a, host, sizeof(host));
    if (more)
        snprintf(tally, sizeof(tally), "; %llu more refused since the last such line",
                 (unsigned long long)more);
    crl_log(CRL_LOG_WARN, 0,
            "refused a uwsgi connection from %s on %s: the peer is not in uwsgi-allow-from "
            "(%s)%s", host, l->name, allow_configured ? "as configured" : "default: loopback only",
            tally);
}

int crl_socket_peer_allowed(const crl_listener_t *l, const struct sockaddr *peer)
{
    const uint8_t *a;

    if (l->proto != CRL_PROTO_UWSGI || allow_any ||
        (peer->sa_family != AF_INET && peer->sa_family != AF_INET6))
        return 1;
    int family = peer_bytes(peer, &a);
    for (size_t i = 0; i < nallow_rules; i++)
        if (rule_match(&allow_rules[i], family, a))
            return 1;
    log_refusal(l, peer);
    return 0;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *in6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(in6) || (IN6_IS_ADDR_V4MAPPED(in6) && in6->s6_addr[12] == 127);
}

/* A TCP uwsgi socket reachable from other hosts: say who may use it. */
static void warn_exposure(const crl_listener_t *l, const struct sockaddr_storage *ss)
{
    if (l->proto != CRL_PROTO_UWSGI || ss->ss_family == AF_UNIX || is_loopback(ss))
        return;
    if (allow_any)
        crl_log(CRL_LOG_WARN, 0,
                "uwsgi socket %s is bound to a non-loopback address and uwsgi-allow-from = * "
                "accepts every peer: anyone who reaches it sets every CGI variable the app sees "
                "(REMOTE_ADDR, HTTP_HOST, HTTPS, ...); list the web server's address instead, "
                "or firewall the port", l->name);
    else if (!allow_configured)
        crl_log(CRL_LOG_WARN, 0,
                "uwsgi socket %s is bound to a non-loopback address but accepts only loopback "
                "peers (127.0.0.0/8, ::1): a web server on another host needs "
                "uwsgi-allow-from = <its address or network>, e.g. uwsgi-allow-from = 10.0.0.5; "
                "a web server on this host is better served by a unix socket or 127.0.0.1",
                l->name);
    else
        crl_log(CRL_LOG_INFO, 0, "uwsgi socket %s accepts only the peers in uwsgi-allow-from",
                l->name);
}

static void warn_somaxconn(void)
{
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    long max = 0;
    if (f == NULL)
        return;
    if (fscanf(f, "%ld", &max) == 1 && max > 0 && conf.listen > max)
        crl_log(CRL_LOG_WARN, 0,
                "listen = %ld is above net.core.somaxconn = %ld; the kernel caps the backlog "
                "at %ld", conf.listen, max, max);
    fclose(f);
}

/* ---- sockets inherited across a re-exec reload -------------------------------
 * The master that re-executes itself leaves its listening descriptors open
 * and names them in CRL_LISTENERS_ENV ("fd<TAB>address" lines); the new
 * image adopts each one whose address is still configured, so the sockets
 * never close and no connection is refused during a reload. */

#define CRL_LISTENERS_ENV "CORRAL_LISTENERS"

typedef struct {
    int fd;
    char *name;
} inherited_t;

static inherited_t inherited[MAX_LISTENERS * 16];
static size_t ninherited;
static unsigned nworkers = 1;

void crl_socket_set_workers(unsigned n)
{
    nworkers = n ? n : 1;
}

int crl_socket_fd_for_worker(const crl_listener_t *l, unsigned id)
{
    return l->ngroup && id ? l->group[(id - 1) % l->ngroup] : l->fd;
}

/* Name under which group member k of a listener is handed across exec. */
static void member_name(char *buf, size_t cap, const char *name, unsigned k)
{
    if (k == 0)
        snprintf(buf, cap, "%s", name);
    else
        snprintf(buf, cap, "%s#%u", name, k);
}

static void inherit_parse(void)
{
    const char *env = getenv(CRL_LISTENERS_ENV);
    if (env == NULL)
        return;
    char *copy = strdup(env), *save = NULL;
    for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL;
         line && ninherited < sizeof(inherited) / sizeof(inherited[0]);
         line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (tab == NULL)
            continue;
        *tab = '\0';
        inherited[ninherited].fd = atoi(line);
        inherited[ninherited].name = strdup(tab + 1);
        ninherited++;
    }
    free(copy);
    unsetenv(CRL_LISTENERS_ENV); /* the app and its children must not see it */
}

/* The inherited descriptor for address name, or -1. */
static int inherit_take(const char *name)
{
    for (size_t i = 0; i < ninherited; i++) {
        if (inherited[i].fd >= 0 && strcmp(inherited[i].name, name) == 0) {
            int fd = inherited[i].fd;
            inherited[i].fd = -1;
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            return fd;
        }
    }
    return -1;
}

/* Close what the new configuration no longer binds. */
static void inherit_release(void)
{
    for (size_t i = 0; i < ninherited; i++) {
        if (inherited[i].fd >= 0) {
            crl_log(CRL_LOG_INFO, 0, "socket %s is no longer configured; closing it",
                    inherited[i].name);
            close(inherited[i].fd);
            inherited[i].fd = -1;
        }
    }
}

int crl_socket_export(void)
{
    size_t cap = 64, len = 0;
    char *env = malloc(cap);
    if (env == NULL)
        return CRL_ERROR;
    env[0] = '\0';
    for (size_t i = 0; i < nlisteners; i++) {
        unsigned members = listeners[i].ngroup ? listeners[i].ngroup : 1;
        for (unsigned k = 0; k < members; k++) {
            int fd = k ? listeners[i].group[k] : listeners[i].fd;
            size_t need = strlen(listeners[i].name) + 32;
            if (len + need >= cap) {
                char *bigger = realloc(env, cap = (len + need) * 2);
                if (bigger == NULL) {
                    free(env);
                    return CRL_ERROR;
                }
                env = bigger;
            }
            char name[300];
            member_name(name, sizeof(name), listeners[i].name, k);
            len += (size_t)snprintf(env + len, cap - len, "%d\t%s\n", fd, name);
            fcntl(fd, F_SETFD, 0); /* survive the exec */
        }
    }
    int rc = setenv(CRL_LISTENERS_ENV, env, 1);
    free(env);
    return rc == 0 ? CRL_OK : CRL_ERROR;
}

void crl_socket_unexport(void)
{
    for (size_t i = 0; i < nlisteners; i++) {
        fcntl(listeners[i].fd, F_SETFD, FD_CLOEXEC);
        for (unsigned k = 1; k < listeners[i].ngroup; k++)
            fcntl(listeners[i].group[k], F_SETFD, FD_CLOEXEC);
    }
    unsetenv(CRL_LISTENERS_ENV);
}

/* HTTP over TCP: hand a connection to accept() only once its first bytes
 * are there (nginx's "deferred"). The worker or thread that accepts it then
 * serves at once instead of parking an empty connection and accepting the
 * next one too, so a burst of new clients spreads over idle threads and
 * workers. A silent client is handed over after a few seconds anyway. */
static void defer_accept(int fd, crl_proto_t proto)
{
    int secs = 5;
    if (proto == CRL_PROTO_HTTP)
        setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
}

/* A new SO_REUSEPORT member bound to the address fd is bound to. */
static int bind_member(int fd, int family)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int one = 1, m = -1;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        (m = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    setsockopt(m, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(m, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(m, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    setsockopt(m, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    defer_accept(m, CRL_PROTO_HTTP);
    if (bind(m, (struct sockaddr *)&ss, len) != 0 || listen(m, (int)conf.listen) != 0) {
        close(m);
        return -1;
    }
    return m;
}

/* With reuse-port, TCP HTTP listeners get one socket per worker. The
 * members are inherited across a reload when they exist, bound otherwise. */
static int make_group(crl_listener_t *l)
{
    if (l->proto != CRL_PROTO_HTTP || l->family == AF_UNIX || nworkers < 2 || !conf.reuse_port)
        return CRL_OK;
    int reuse = 0;
    socklen_t rl = sizeof(reuse);
    if (getsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &reuse, &rl) != 0 || !reuse)
        return CRL_OK; /* inherited from an image that did not use groups */
    l->group = calloc(nworkers, sizeof(int));
    if (l->group == NULL)
        return CRL_ERROR;
    l->group[0] = l->fd;
    for (unsigned k = 1; k < nworkers; k++) {
        char name[300];
        member_name(name, sizeof(name), l->name, k);
        int fd = inherit_take(name);
        if (fd < 0 && (fd = bind_member(l->fd, l->family)) < 0) {
            crl_log(CRL_LOG_ERR, errno, "cannot bind SO_REUSEPORT socket %u of %s", k, l->name);
            return CRL_ERROR;
        }
        l->group[k] = fd;
    }
    l->ngroup = nworkers;
    return CRL_OK;
}

/* Fill in and count listener l, now listening on fd at address ss. */
static int add_listener(crl_listener_t *l, const crl_list_item_t *it, crl_proto_t proto, int fd,
                        const struct sockaddr_storage *ss)
{
    l->fd = fd;
    l->proto = proto;
    l->family = ss->ss_family;
    l->name = it->value;
    describe(l, ss);
    nlisteners++;
    return make_group(l);
}

/* Adopt an inherited listening socket for it: nothing to bind, chmod or
 * chown (it was done once, possibly before privileges were dropped). */
static int adopt(const crl_list_item_t *it, crl_proto_t proto, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    crl_listener_t *l = &listeners[nlisteners];

    memset(l, 0, sizeof(*l));
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
        crl_log(CRL_LOG_ERR, errno, "inherited socket '%s' (fd %d)", it->value, fd);
        close(fd);
        return CRL_ERROR;
    }
    if (ss.ss_family == AF_UNIX && it->value[0] != '@')
        l->unix_path = strdup(it->value);
    if (add_listener(l, it, proto, fd, &ss) != CRL_OK)
        return CRL_ERROR;
    crl_log(CRL_LOG_INFO, 0, "%s socket %s kept across the reload (fd %d)",
            proto == CRL_PROTO_HTTP ? "http" : "uwsgi", it->value, fd);
    return CRL_OK;
}

static int open_one(const crl_list_item_t *it, crl_proto_t proto)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char err[256];
    int fd = -1, one = 1;

    if (nlisteners == MAX_LISTENERS) {
        crl_log(CRL_LOG_ERR, 0, "too many sockets (at most %d)", MAX_LISTENERS);
        return CRL_ERROR;
    }
    int kept = inherit_take(it->value);
    if (kept >= 0)
        return adopt(it, proto, kept);
    if (crl_socket_parse_address(it->value, &ss, &sslen, err, sizeof(err)) != CRL_OK) {
        crl_log(CRL_LOG_ERR, 0, "socket '%s' at %s: %s", it->value, crl_option_where(it->file, it->line), err);
        return CRL_ERROR;
    }
    crl_listener_t *l = &listeners[nlisteners];
    memset(l, 0, sizeof(*l));
    int is_path = ss.ss_family == AF_UNIX && it->value[0] != '@';
    if (is_path && clear_stale_unix(it->value) != CRL_OK)
        return CRL_ERROR;

    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (ss.ss_family != AF_UNIX) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (proto == CRL_PROTO_HTTP && nworkers > 1 && conf.reuse_port)
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        defer_accept(fd, proto);
        if (ss.ss_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, (int)conf.listen) != 0)
        goto fail;
    if (ss.ss_family != AF_UNIX) {
        /* ":0" asks the kernel for a port: report the one we got. */
        sslen = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &sslen);
    }
    if (is_path) {
        l->unix_path = strdup(it->value);
        if (conf.chmod_socket && chmod(it->value, conf.chmod_socket) != 0) {
            crl_log(CRL_LOG_ERR, errno, "chmod-socket %03o on %s", conf.chmod_socket, it->value);
            goto cleanup;
        }
        if (conf.chown_socket && chown_unix(it->value) != CRL_OK)
            goto cleanup;
    }
    if (add_listener(l, it, proto, fd, &ss) != CRL_OK)
        return CRL_ERROR;
    crl_log(CRL_LOG_INFO, 0, "%s socket bound to %s (fd %d%s)",
            proto == CRL_PROTO_HTTP ? "http" : "uwsgi", it->value, fd,
            l->ngroup ? ", one SO_REUSEPORT socket per worker" : "");
    warn_exposure(l, &ss);
    return CRL_OK;

fail:
    crl_log(CRL_LOG_ERR, errno, "cannot bind socket '%s' (%s)", it->value, crl_option_where(it->file, it->line));
cleanup:
    if (fd >= 0)
        close(fd);
    if (l->unix_path) {
        unlink(l->unix_path);
        free(l->unix_path);
        l->unix_path = NULL;
    }
    return CRL_ERROR;
}

static int open_list(const crl_list_t *list, crl_proto_t proto)
{
    for (size_t i = 0; i < list->n; i++)
        if (open_one(&list->items[i], proto) != CRL_OK)
            return CRL_ERROR;
    return CRL_OK;
}

int crl_socket_open_all(void)
{
    crl_proto_t def = CRL_PROTO_UWSGI;

    if (conf.protocol && strcmp(conf.protocol, "http") == 0)
        def = CRL_PROTO_HTTP;
    else if (conf.protocol && strcmp(conf.protocol, "uwsgi") != 0) {
        crl_log(CRL_LOG_ERR, 0, "protocol '%s' is not supported (uwsgi or http)", conf.protocol);
        return CRL_ERROR;
    }
    if (crl_socket_allow_load() != CRL_OK)
        return CRL_ERROR;
    warn_somaxconn();
    inherit_parse();
    if (open_list(&conf.socket, def) != CRL_OK ||
        open_list(&conf.uwsgi_socket, CRL_PROTO_UWSGI) != CRL_OK ||
        open_list(&conf.http_socket, CRL_PROTO_HTTP) != CRL_OK ||
        open_list(&conf.http, CRL_PROTO_HTTP) != CRL_OK)
        return CRL_ERROR;
    inherit_release();
    if (nlisteners == 0) {
        crl_log(CRL_LOG_ERR, 0,
                "no socket configured: set socket, http-socket or http (e.g. --http-socket :8000)");
        return CRL_ERROR;
    }
    return CRL_OK;
}

void crl_socket_vacuum(void)
{
    for (size_t i = 0; i < nlisteners; i++) {
        if (!listeners[i].unix_path)
            continue;
        if (unlink(listeners[i].unix_path) == 0)
            crl_log(CRL_LOG_INFO, 0, "removed unix socket %s", listeners[i].unix_path);
        else if (errno != ENOENT)
            crl_log(CRL_LOG_WARN, errno, "vacuum: cannot remove unix socket %s",
                    listeners[i].unix_path);
    }
}
