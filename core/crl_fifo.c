/*
 * The master FIFO (uWSGI's master-fifo): named pipes from which the master
 * reads one-letter commands (`echo r > /run/app.fifo`). This module does
 * the I/O only; the master maps letters to actions.
 *
 * Every configured FIFO (at most ten, selected by the digits 0-9) is
 * created at start and opened twice: a non-blocking read end and a write
 * end of our own. Holding a writer means the read end never reports EOF
 * when a client closes, so poll() does not spin and the FIFO never has to
 * be recreated. Only the selected FIFO is read; bytes written to another
 * one while it was not selected are discarded when it becomes selected
 * (uWSGI had no reader on it at all). Blanks and newlines are not commands.
 *
 * Invariants: vacuum removes a path only when it is still the FIFO this
 * process created (same device and inode), so a FIFO taken over by a newer
 * instance survives; a regular file at a FIFO's path is never replaced.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/result.h>

#include "crl_fifo.h"
#include "crl_option.h"

#define MAX_FIFOS 10

typedef struct {
    crl_list_t master_fifo;
} crl_fifo_conf_t;

static crl_fifo_conf_t conf;

static const crl_option_t options[] = {
    { .name = "master-fifo", .type = CRL_OPT_LIST,
      .offset = offsetof(crl_fifo_conf_t, master_fifo),
      .help = "create this named pipe (mode 600) and take one-letter commands from it: r "
              "reload, c chain reload, q graceful stop, Q immediate stop, s stats; 0-9 switch "
              "to the n-th master-fifo (repeatable, up to 10)" },
};

typedef struct {
    const crl_list_item_t *item;
    int rfd, wfd;
    dev_t dev;
    ino_t ino;
} fifo_t;

static fifo_t fifos[MAX_FIFOS];
static size_t nfifos;
static size_t selected;
static pid_t creator; /* the process that created the FIFOs */

int crl_fifo_options_register(void)
{
    return crl_option_register("fifo", options, sizeof(options) / sizeof(options[0]), &conf);
}

static void log_item(int err, const crl_list_item_t *it, const char *what)
{
    if (it->line)
        crl_log(CRL_LOG_ERR, err, "master-fifo '%s' at %s: %s", it->value, crl_option_where(it->file, it->line),
                what);
    else
        crl_log(CRL_LOG_ERR, err, "master-fifo '%s' (%s): %s", it->value, it->file, what);
}

/* Remove a stale FIFO at the path; refuse anything else that is there. */
static int clear_path(const crl_list_item_t *it)
{
    struct stat st;

    if (lstat(it->value, &st) != 0) {
        if (errno == ENOENT)
            return CRL_OK;
        log_item(errno, it, "cannot check the path");
        return CRL_ERROR;
    }
    if (!S_ISFIFO(st.st_mode)) {
        log_item(0, it, "the path exists and is not a FIFO; not replacing it");
        return CRL_ERROR;
    }
    if (unlink(it->value) != 0) {
        log_item(errno, it, "cannot remove the old FIFO");
        return CRL_ERROR;
    }
    return CRL_OK;
}

static int open_one(fifo_t *f, const crl_list_item_t *it)
{
    struct stat st;

    *f = (fifo_t){ .item = it, .rfd = -1, .wfd = -1 };
    if (clear_path(it) != CRL_OK)
        return CRL_ERROR;
    if (mkfifo(it->value, 0600) != 0) {
        log_item(errno, it, "cannot create the FIFO");
        return CRL_ERROR;
    }
    f->rfd = open(it->value, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f->rfd >= 0)
        f->wfd = open(it->value, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (f->rfd < 0 || f->wfd < 0 || fstat(f->rfd, &st) != 0) {
        log_item(errno, it, "cannot open the FIFO");
        unlink(it->value);
        return CRL_ERROR;
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    return CRL_OK;
}

static int check_list(void)
{
    const crl_list_t *l = &conf.master_fifo;

    if (l->n > MAX_FIFOS) {
        log_item(0, &l->items[MAX_FIFOS], "at most 10 master-fifo entries (0-9) are possible");
        return CRL_ERROR;
    }
    for (size_t i = 0; i < l->n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(l->items[i].value, l->items[j].value) == 0) {
                log_item(0, &l->items[i], "listed twice");
                return CRL_ERROR;
            }
        }
    }
    return CRL_OK;
}

int crl_fifo_open(void)
{
    if (conf.master_fifo.n == 0)
        return CRL_OK;
    if (check_list() != CRL_OK)
        return CRL_ERROR;
    creator = getpid();
    for (size_t i = 0; i < conf.master_fifo.n; i++) {
        fifo_t *f = &fifos[nfifos];
        if (open_one(f, &conf.master_fifo.items[i]) != CRL_OK) {
            if (f->rfd >= 0)
                close(f->rfd);
            if (f->wfd >= 0)
                close(f->wfd);
            crl_fifo_vacuum();
            return CRL_ERROR;
        }
        nfifos++;
    }
    selected = 0;
    crl_log(CRL_LOG_INFO, 0, "master fifo: %s", fifos[0].item->value);
    return CRL_OK;
}

int crl_fifo_fd(void)
{
    return nfifos ? fifos[selected].rfd : -1;
}

/* Read and drop whatever is pending on f. Returns the number of bytes. */
static size_t drain(const fifo_t *f)
{
    char buf[512];
    size_t total = 0;
    ssize_t n;

    while ((n = read(f->rfd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
        total += n > 0 ? (size_t)n : 0;
    return total;
}

static void select_fifo(size_t k)
{
    if (k >= nfifos) {
        crl_log(CRL_LOG_WARN, 0, "master fifo: command '%zu' selects FIFO number %zu, but only "
                "%zu are configured (0-%zu); still reading %s", k, k, nfifos, nfifos - 1,
                fifos[selected].item->value);
        return;
    }
    if (k == selected)
        return;
    selected = k;
    size_t stale = drain(&fifos[k]);
    if (stale)
        crl_log(CRL_LOG_WARN, 0, "master fifo: discarded %zu byte(s) written to %s while it was "
                "not selected", stale, fifos[k].item->value);
    crl_log(CRL_LOG_INFO, 0, "master fifo is now %s", fifos[k].item->value);
}

size_t crl_fifo_read(char *cmds, size_t cap)
{
    char buf[256];
    size_t out = 0;
    ssize_t n;

    if (nfifos == 0 || cap == 0)
        return 0;
    do
        n = read(fifos[selected].rfd, buf, cap < sizeof(buf) ? cap : sizeof(buf));
    while (n < 0 && errno == EINTR);
    /* Bytes after a digit were written to the FIFO selected until then:
     * they are still commands for this instance. */
    for (ssize_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
            continue;
        if (c >= '0' && c <= '9')
            select_fifo((size_t)(c - '0'));
        else
            cmds[out++] = c;
    }
    return out;
}

void crl_fifo_close(void)
{
    for (size_t i = 0; i < nfifos; i++) {
        close(fifos[i].rfd);
        close(fifos[i].wfd);
    }
    nfifos = 0;
    selected = 0;
}

void crl_fifo_vacuum(void)
{
    struct stat st;

    for (size_t i = 0; getpid() == creator && i < nfifos; i++) {
        const fifo_t *f = &fifos[i];
        if (f->ino && lstat(f->item->value, &st) == 0 && st.st_dev == f->dev &&
            st.st_ino == f->ino && unlink(f->item->value) != 0)
            crl_log(CRL_LOG_WARN, errno, "vacuum: cannot remove %s", f->item->value);
    }
    crl_fifo_close();
    memset(fifos, 0, sizeof(fifos));
}
