/*
 * worker.c - a worker thread: its view of the listeners, its loop, its
 * connections; the process-wide connection limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "gen.h"
#include "log.h"
#include "worker.h"

#define ACCEPTS_PER_EVENT 64
#define BACKOFF_SECONDS 0.5
#define ACCEPT_WARN_INTERVAL 60 /* seconds between two "accept failed" warnings */
#define TRIM_SECONDS 1.0        /* idle this long: memory goes back to the system */

struct listen_io {
    ev_io io;
    struct worker *w;
    size_t fe;
};

/* ---- the process-wide limits ---- */

/* Take one of max slots, never going over: a CAS loop, so that a failed
 * attempt leaves no trace another thread could see. */
static bool reserve(atomic_uint *n, unsigned max)
{
    unsigned v = atomic_load(n);

    do
        if (v >= max)
            return false;
    while (!atomic_compare_exchange_weak(n, &v, v + 1));
    return true;
}

/* Give a slot back; if the limit was reached, workers may have paused:
 * wake them all to look again. */
static void release(struct shared *sh, atomic_uint *n, unsigned max)
{
    if (atomic_fetch_sub(n, 1) >= max)
        for (unsigned i = 0; i < sh->n_workers; i++)
            worker_wake(sh->workers[i]);
}

static bool room(const struct worker *w)
{
    return atomic_load(&w->sh->n_conns) < w->gen->cfg->max_connections;
}

/* ---- accepting ---- */

static void set_watching(struct worker *w, bool on)
{
    w->watching = on;
    for (size_t i = 0; i < w->gen->n_listen; i++) {
        if (on)
            ev_io_start(worker_loop(w), &w->lio[i].io);
        else
            ev_io_stop(worker_loop(w), &w->lio[i].io);
    }
}

/* One warning a minute at most, whichever worker meets the error. */
static void warn_accept(struct worker *w, int err)
{
    long long now = (long long)ev_now(worker_loop(w));
    long long last = atomic_load(&w->sh->last_accept_warning);

    if (now - last >= ACCEPT_WARN_INTERVAL &&
        atomic_compare_exchange_strong(&w->sh->last_accept_warning, &last, now))
        log_warn("accept: %s: pausing accepts for %.1f s at a time (this warning is repeated at "
                 "most every %d s)", strerror(err), BACKOFF_SECONDS, ACCEPT_WARN_INTERVAL);
}

/* Accept from fd until it is empty, the limits are reached or accept()
 * fails.  false when the worker must stop watching. */
static bool accept_some(struct worker *w, struct kp_gen *g, int fd, size_t fe, int max)
{
    struct shared *sh = w->sh;
    const struct kp_config *cfg = g->cfg;

    for (int i = 0; i < max; i++) {
        if (!reserve(&sh->n_conns, cfg->max_connections))
            return false;
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            int e = errno;
            release(sh, &sh->n_conns, cfg->max_connections);
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                warn_accept(w, e);
                /* A fired one-shot timer keeps no "after": set it again. */
                ev_timer_set(&w->backoff, BACKOFF_SECONDS, 0.);
                ev_timer_start(worker_loop(w), &w->backoff);
                return false;
            }
            if (e != EAGAIN && e != EINTR && e != ECONNABORTED)
                log_limited(KP_CAUSE_ACCEPT, KP_LOG_INFO, "accept: %s", strerror(e));
            return true;
        }
        kp_loop_saw_fd(&w->lp, cfd);
        conn_start(w, g, fe, cfd);
    }
    return true;
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct listen_io *l = (struct listen_io *)io;
    struct worker *w = l->w;

    (void)loop;
    (void)revents;
    if (!accept_some(w, w->gen, io->fd, l->fe, ACCEPTS_PER_EVENT))
        set_watching(w, false);
}

static void backoff_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    worker_wake(t->data);
}

/* ---- generations ---- */

static bool still_listened(const struct kp_gen *g, int fd)
{
    for (size_t i = 0; i < g->n_listen; i++)
        if (g->listen[i].fd == fd)
            return true;
    return false;
}

/* Switch new connections to g.  Sockets that g drops are accepted from until
 * empty first (with the old generation), since main closes them once every
 * worker has switched. */
static int adopt(struct worker *w, struct kp_gen *g)
{
    struct listen_io *lio = calloc(g->n_listen ? g->n_listen : 1, sizeof *lio);
    struct kp_gen *old = w->gen;

    if (lio == NULL)
        return -1;
    if (old != NULL) {
        set_watching(w, false);
        for (size_t i = 0; i < old->n_listen; i++)
            if (!still_listened(g, old->listen[i].fd))
                accept_some(w, old, old->listen[i].fd, old->listen[i].fe, 1 << 30);
    }
    for (size_t i = 0; i < g->n_listen; i++) {
        ev_io_init(&lio[i].io, accept_cb, g->listen[i].fd, EV_READ);
        lio[i].w = w;
        lio[i].fe = g->listen[i].fe;
    }
    free(w->lio);
    w->lio = lio;
    gen_ref(g);
    w->gen = g;
    gen_unref(old);
    atomic_fetch_add(&g->adopted, 1);
    return 0;
}

/* ---- stopping ---- */

static void drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;

    (void)loop;
    (void)revents;
    while (w->conns != NULL)
        conn_shutdown(w->conns, "drain timeout");
}

static void begin_stop(struct worker *w, enum kp_stop how)
{
    double timeout = w->gen->cfg->drain_timeout_ms / 1000.0;

    set_watching(w, false);
    ev_timer_stop(worker_loop(w), &w->backoff);
    ev_async_stop(worker_loop(w), &w->wake);
    if (how == KP_STOP_NOW)
        while (w->conns != NULL)
            conn_close(w->conns, "shutting down");
    if (w->conns == NULL) {
        ev_break(worker_loop(w), EVBREAK_ALL);
        return;
    }
    ev_timer_set(&w->drain, timeout, 0.);
    ev_timer_start(worker_loop(w), &w->drain);
}

/* After a peak, memory stays with the process: libev's tables keep the
 * size of the peak, and malloc keeps the pages connections freed.  Once the
 * worker has been idle a moment it hands both back: worker_main replaces a
 * loop that grew (outside ev_run), or malloc is trimmed. */
static void trim_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    bool stopping = !ev_is_active(&w->wake);

    (void)revents;
    if (w->conns != NULL)
        return;
    if (kp_loop_grown(&w->lp) && !stopping && !ev_is_active(&w->backoff)) {
        w->lp.renew = true;
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    malloc_trim(0);
}

/* Move the wake-up and the listeners to a new loop.  A wake-up sent to the
 * old one is repeated.  The old loop stays if a connection came in the turn
 * that asked for this (its watchers are on it), or without memory. */
static void renew_loop(struct worker *w)
{
    bool watching = w->watching;

    w->lp.renew = false;
    if (w->conns != NULL)
        return;
    set_watching(w, false);
    ev_async_stop(worker_loop(w), &w->wake);
    kp_loop_replace(&w->lp);
    ev_async_start(worker_loop(w), &w->wake);
    ev_async_send(worker_loop(w), &w->wake);
    set_watching(w, watching);
}

void worker_conn_closed(struct worker *w)
{
    release(w->sh, &w->sh->n_conns, w->gen->cfg->max_connections);
    if (w->conns == NULL && !ev_is_active(&w->trim)) {
        ev_timer_set(&w->trim, TRIM_SECONDS, 0.);
        ev_timer_start(worker_loop(w), &w->trim);
    }
    if (w->conns == NULL && !ev_is_active(&w->wake))
        ev_break(worker_loop(w), EVBREAK_ALL); /* drained */
}

static void wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    struct worker *w = a->data;
    struct kp_gen *g = atomic_load(&w->sh->gen);
    int stop = atomic_load(&w->sh->stop);

    (void)loop;
    (void)revents;
    if (g != w->gen && adopt(w, g) != 0)
        log_err("worker %u: out of memory switching configurations", w->id);
    if (stop != KP_RUN) {
        begin_stop(w, stop);
        return;
    }
    if (!ev_is_active(&w->backoff) && room(w) != w->watching)
        set_watching(w, !w->watching);
}

/* ---- life cycle ---- */

struct worker *worker_new(unsigned id, struct shared *sh, char *err, size_t errlen)
{
    struct worker *w = calloc(1, sizeof *w);

    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->id = id;
    w->sh = sh;
    w->devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (kp_loop_init(&w->lp) != 0 || w->devnull < 0 || adopt(w, atomic_load(&sh->gen)) != 0) {
        snprintf(err, errlen, "cannot set up worker %u: %s", id, strerror(errno));
        worker_free(w);
        return NULL;
    }
    ev_async_init(&w->wake, wake_cb);
    w->wake.data = w;
    ev_init(&w->backoff, backoff_cb);
    w->backoff.data = w;
    ev_init(&w->drain, drain_cb);
    w->drain.data = w;
    ev_init(&w->trim, trim_cb);
    w->trim.data = w;
    return w;
}

bool worker_loop_returned(struct worker *w)
{
    if (!w->lp.renew)
        return false;
    renew_loop(w);
    return true;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    do
        ev_run(worker_loop(w), 0);
    while (worker_loop_returned(w));
    return NULL;
}

int worker_start(struct worker *w)
{
    ev_async_start(worker_loop(w), &w->wake);
    set_watching(w, true);
    return pthread_create(&w->thread, NULL, worker_main, w);
}

void worker_wake(struct worker *w)
{
    kp_loop_async_send(&w->lp, &w->wake);
}

void worker_join(struct worker *w)
{
    if (w->thread)
        pthread_join(w->thread, NULL);
}

void worker_free(struct worker *w)
{
    free(w->lio);
    gen_unref(w->gen);
    pipe_pool_free(&w->pipes);
    if (w->devnull >= 0)
        close(w->devnull);
    kp_loop_free(&w->lp);
    free(w);
}
