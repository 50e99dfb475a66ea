/*
 * Listening sockets: parse uWSGI socket addresses, bind them in the master
 * (before privileges are dropped), apply chmod-socket / chown-socket, and
 * remove the unix socket files Corral created (vacuum); decide which peers
 * a TCP uwsgi socket serves (uwsgi-allow-from).
 */
#ifndef CRL_SOCKET_H
#define CRL_SOCKET_H

#include <sys/socket.h>

typedef enum {
    CRL_PROTO_UWSGI,
    CRL_PROTO_HTTP,
} crl_proto_t;

typedef struct {
    int fd;
    crl_proto_t proto;
    int family;            /* AF_UNIX, AF_INET, AF_INET6 */
    const char *name;      /* the address as configured */
    char *unix_path;       /* filesystem path we created (vacuum), or NULL */
    char port[8];          /* SERVER_PORT for HTTP requests ("" on unix) */
    char host[64];         /* SERVER_NAME fallback for HTTP requests */
    int *group;            /* reuse-port: one socket per worker, group[0] == fd */
    unsigned ngroup;       /* 0 when the socket is shared by all workers */
} crl_listener_t;

/* How many workers will accept (processes): with reuse-port, TCP HTTP
 * sockets then get one SO_REUSEPORT socket per worker and the kernel
 * spreads new connections by hash. Call before crl_socket_open_all. */
void crl_socket_set_workers(unsigned n);

/* The descriptor worker id (1-based) accepts on for listener l. */
int crl_socket_fd_for_worker(const crl_listener_t *l, unsigned id);

/* Register the socket options with the registry. */
int crl_socket_options_register(void);

/* Bind and listen on every configured socket. Logs and returns CRL_ERROR on
 * the first failure (the address names the option, file and line). Zero
 * sockets configured is an error too. */
int crl_socket_open_all(void);

size_t crl_socket_count(void);
crl_listener_t *crl_socket_at(size_t i);

/* Whether a worker may serve the connection it accepted from `peer` on
 * `l`: 1 to serve it, 0 to close it unanswered. Only TCP uwsgi listeners
 * filter, by uwsgi-allow-from (loopback when unset, every peer with "*");
 * http listeners and unix sockets always return 1. A few integer compares,
 * no allocation, no syscall; safe in request threads. A refusal is logged
 * as a warning, at most one line per 10 s per process (the line counts the
 * refusals it stands for). */
int crl_socket_peer_allowed(const crl_listener_t *l, const struct sockaddr *peer);

/* Parse uwsgi-allow-from into the rules crl_socket_peer_allowed checks
 * (crl_socket_open_all calls it in the master, before workers fork).
 * Returns CRL_OK, or CRL_ERROR after logging the entry, file and line.
 * Exposed for unit tests. */
int crl_socket_allow_load(void);

/* For a re-exec reload: let every listening descriptor survive exec and
 * name them in the environment, so the new image's crl_socket_open_all
 * adopts them instead of binding. CRL_OK or CRL_ERROR. Undo with
 * crl_socket_unexport() when the exec did not happen. */
int crl_socket_export(void);
void crl_socket_unexport(void);

/* Unlink the unix socket files this process created. */
void crl_socket_vacuum(void);

/* Parse an address as uWSGI does into a sockaddr: "/path" or any text
 * without ':' is a unix path, "@name" an abstract unix socket, "host:port",
 * ":port" (all IPv4 interfaces), "[v6]:port". Returns CRL_OK or CRL_ERROR
 * with a reason in err. Exposed for unit tests. */
int crl_socket_parse_address(const char *addr, struct sockaddr_storage *ss, socklen_t *len,
                             char *err, size_t errlen);

#endif
