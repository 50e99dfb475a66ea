/*
 * The benchmark's ceiling with no Python: a minimal uwsgi-protocol server.
 * It listens on a unix socket, forks N processes that accept in turn, and
 * for each connection reads one uwsgi packet (4-byte header, then the vars
 * block whose size the header gives), writes one fixed HTTP response and
 * closes. It does not parse the vars: it is the floor of what any container
 * behind nginx's uwsgi_pass can cost.
 *
 * Invariants: no allocation after start; one read buffer per process that
 * holds the largest possible packet; a request body is not read (the
 * benchmark sends GETs). SIGTERM or SIGINT to the parent stops the children;
 * a child that dies stops them all, and the parent exits with status 1.
 *
 * Usage: stub SOCKET_PATH [PROCESSES]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CHILDREN 64

static const char reply[] = "HTTP/1.1 200 OK\r\n"
                            "Content-Type: text/plain\r\n"
                            "Content-Length: 13\r\n"
                            "\r\n"
                            "Hello, World!";

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "stub: socket path too long: %s\n", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0) {
        perror("stub: socket");
        return -1;
    }
    return fd;
}

/* Read until the 4-byte header and the vars block it announces are in.
 * cap holds the largest packet (4 + 65535), so got never passes it. */
static int read_packet(int fd, char *buf, size_t cap)
{
    size_t got = 0, want = 4;

    while (got < want) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
        if (want == 4 && got >= 4)
            want = 4 + ((uint16_t)(unsigned char)buf[1] | (uint16_t)(unsigned char)buf[2] << 8);
    }
    return 0;
}

static void serve(int lfd)
{
    static char buf[65536 + 4];

    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("stub: accept4");
            _exit(1);
        }
        /* MSG_NOSIGNAL: nginx closes the connection when its client goes
         * away first (the end of a wrk run), and a SIGPIPE would kill this
         * process, leaving the listen queue to nobody. */
        if (read_packet(c, buf, sizeof(buf)) == 0 &&
            send(c, reply, sizeof(reply) - 1, MSG_NOSIGNAL) < 0 && errno != EPIPE &&
            errno != ECONNRESET)
            perror("stub: send");
        close(c);
    }
}

int main(int argc, char **argv)
{
    pid_t kids[MAX_CHILDREN];
    int n = argc > 2 ? atoi(argv[2]) : 1;
    int lfd, i;

    if (argc < 2 || n < 1 || n > MAX_CHILDREN) {
        fprintf(stderr, "usage: stub SOCKET_PATH [PROCESSES 1..%d]\n", MAX_CHILDREN);
        return 2;
    }
    lfd = listen_unix(argv[1]);
    if (lfd < 0)
        return 1;
    /* No SA_RESTART: the wait() below returns on SIGTERM and SIGINT. */
    struct sigaction sa = { .sa_handler = on_stop };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    for (i = 0; i < n; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            serve(lfd);
        if (kids[i] < 0) {
            perror("stub: fork");
            n = i;
            stopping = 1;
            break;
        }
    }
    /* A process that dies leaves the connections it would have taken queued
     * for nobody: stop them all, so that the benchmark sees a server that
     * exited rather than one that stopped answering. */
    int died = 0, status;
    while (!stopping) {
        pid_t pid = wait(&status);
        if (pid > 0) {
            if (WIFSIGNALED(status))
                fprintf(stderr, "stub: process %d killed by signal %d\n", (int)pid,
                        WTERMSIG(status));
            else
                fprintf(stderr, "stub: process %d exited (status %d)\n", (int)pid,
                        WEXITSTATUS(status));
            died = 1;
            break;
        }
    }
    for (i = 0; i < n; i++)
        kill(kids[i], SIGTERM);
    while (wait(NULL) > 0)
        ;
    unlink(argv[1]);
    return died;
}
