/*
 * worker.c - a worker thread: its listeners, its loop, its connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "tls.h"
#include "worker.h"

#define LISTEN_BACKLOG 1024
#define ACCEPTS_PER_EVENT 64

static int listen_on(const struct kp_addr *a, char *err, size_t errlen)
{
    int one = 1;
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        snprintf(err, errlen, "listen %s: socket: %s", a->text, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Each worker binds its own socket; the kernel balances between them. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        (a->ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "listen %s: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void set_accepting(struct worker *w, bool on)
{
    w->accepting = on;
    for (size_t i = 0; i < w->n_listeners; i++) {
        if (on)
            ev_io_start(w->loop, &w->listeners[i].io);
        else
            ev_io_stop(w->loop, &w->listeners[i].io);
    }
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct listener *l = (struct listener *)io;
    struct worker *w = l->w;

    (void)loop;
    (void)revents;
    for (int i = 0; i < ACCEPTS_PER_EVENT && w->accepting; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_limited(KP_CAUSE_ACCEPT, KP_LOG_WARNING, "worker %u: accept: %s", w->id,
                            strerror(errno));
            return;
        }
        conn_start(w, &w->sh->cfg->frontends[l->fe], l->fe, fd);
        if (w->n_conns >= w->max_conns) {
            log_warn("worker %u: %u connections, the limit: not accepting for now", w->id,
                     w->n_conns);
            set_accepting(w, false);
        }
    }
}

void worker_conn_closed(struct worker *w)
{
    w->n_conns--;
    if (!w->accepting && w->n_conns < w->max_conns && ev_is_active(&w->stop))
        set_accepting(w, true);
}

static void stop_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    struct worker *w = a->data;

    (void)revents;
    ev_async_stop(loop, a);
    set_accepting(w, false);
    while (w->conns != NULL)
        conn_close(w->conns, "shutting down");
    ev_break(loop, EVBREAK_ALL);
}

static int worker_bind(struct worker *w, char *err, size_t errlen)
{
    const struct kp_config *cfg = w->sh->cfg;
    size_t n = 0;

    for (size_t f = 0; f < cfg->n_frontends; f++)
        n += cfg->frontends[f].n_listen;
    w->listeners = calloc(n, sizeof *w->listeners);
    if (w->listeners == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t f = 0; f < cfg->n_frontends; f++)
        for (size_t i = 0; i < cfg->frontends[f].n_listen; i++) {
            struct listener *l = &w->listeners[w->n_listeners];
            l->fd = listen_on(&cfg->frontends[f].listen[i], err, errlen);
            if (l->fd < 0)
                return -1;
            l->fe = f;
            l->w = w;
            ev_io_init(&l->io, accept_cb, l->fd, EV_READ);
            w->n_listeners++;
        }
    return 0;
}

struct worker *worker_new(unsigned id, const struct shared *sh, char *err, size_t errlen)
{
    const struct kp_config *cfg = sh->cfg;
    struct worker *w = calloc(1, sizeof *w);

    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->id = id;
    w->sh = sh;
    w->max_conns = (cfg->max_connections + cfg->workers - 1) / cfg->workers;
    w->devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    w->tls = calloc(cfg->n_frontends, sizeof *w->tls);
    if (w->loop == NULL || w->tls == NULL || w->devnull < 0) {
        snprintf(err, errlen, "cannot set up worker %u: %s", id, strerror(errno));
        worker_join_and_free(w);
        return NULL;
    }
    ev_async_init(&w->stop, stop_cb);
    w->stop.data = w;
    for (size_t f = 0; f < cfg->n_frontends; f++)
        if ((w->tls[f] = tls_frontend_new(cfg, &cfg->frontends[f], err, errlen)) == NULL) {
            worker_join_and_free(w);
            return NULL;
        }
    if (worker_bind(w, err, errlen) != 0) {
        worker_join_and_free(w);
        return NULL;
    }
    return w;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    ev_run(w->loop, 0);
    return NULL;
}

int worker_start(struct worker *w)
{
    ev_async_start(w->loop, &w->stop);
    set_accepting(w, true);
    return pthread_create(&w->thread, NULL, worker_main, w);
}

void worker_stop(struct worker *w)
{
    ev_async_send(w->loop, &w->stop);
}

/* Joins the thread if it was started, then frees everything. */
void worker_join_and_free(struct worker *w)
{
    const struct kp_config *cfg = w->sh->cfg;

    if (w->thread)
        pthread_join(w->thread, NULL);
    for (size_t i = 0; i < w->n_listeners; i++)
        close(w->listeners[i].fd);
    free(w->listeners);
    for (size_t f = 0; w->tls != NULL && f < cfg->n_frontends; f++)
        tls_frontend_free(w->tls[f]);
    free(w->tls);
    pipe_pool_free(&w->pipes);
    if (w->devnull >= 0)
        close(w->devnull);
    if (w->loop != NULL)
        ev_loop_destroy(w->loop);
    free(w);
}
