/*
 * conn.c - the life of one client connection (see conn.h for the states).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "conn.h"
#include "gen.h"
#include "keepalive.h"
#include "ktls.h"
#include "log.h"
#include "metrics.h"
#include "pump.h"
#include "rekey.h"
#include "reply.h"
#include "tls.h"
#include "worker.h"

#define CONNECT_RETRY_SECONDS 0.02 /* a full unix backlog is asked again this often */

static void client_cb(struct ev_loop *loop, ev_io *io, int revents);
static void backend_cb(struct ev_loop *loop, ev_io *io, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents);

static void set_io(struct conn *c, ev_io *io, int fd, int events)
{
    if (events == 0) {
        ev_io_stop(worker_loop(c->w), io);
        return;
    }
    if (ev_is_active(io) && io->events == events)
        return;
    ev_io_stop(worker_loop(c->w), io);
    ev_io_set(io, fd, events);
    ev_io_start(worker_loop(c->w), io);
}

/* Deadlines count from now, not from when this loop turn began: the loop's
 * clock stands still while a turn runs its callbacks, and a turn that makes
 * many handshake steps (crypto) can last seconds, more under load. */
static void set_timer(struct conn *c, double seconds)
{
    ev_now_update(worker_loop(c->w));
    ev_timer_stop(worker_loop(c->w), &c->timer);
    ev_timer_set(&c->timer, seconds, 0.);
    ev_timer_start(worker_loop(c->w), &c->timer);
}

/* ---- the worker's handshakes, oldest first ---- */

static void handshake_enter(struct conn *c)
{
    struct worker *w = c->w;

    /* A loop, not a test: a reload may have lowered the limit below the
     * number of handshakes in progress. */
    while (w->n_handshakes >= c->gen->cfg->max_handshakes) {
        log_debug("worker %u: %u handshakes in progress, closing the oldest", w->id,
                  w->n_handshakes);
        conn_close(w->hs_oldest, "handshake evicted (max_handshakes)");
    }
    c->hs_prev = w->hs_newest;
    if (w->hs_newest != NULL)
        w->hs_newest->hs_next = c;
    else
        w->hs_oldest = c;
    w->hs_newest = c;
    w->n_handshakes++;
}

static void handshake_leave(struct conn *c)
{
    struct worker *w = c->w;

    if (c->hs_prev != NULL)
        c->hs_prev->hs_next = c->hs_next;
    else
        w->hs_oldest = c->hs_next;
    if (c->hs_next != NULL)
        c->hs_next->hs_prev = c->hs_prev;
    else
        w->hs_newest = c->hs_prev;
    w->n_handshakes--;
}

void conn_update_events(struct conn *c)
{
    set_io(c, &c->cio, c->cfd, c->c2b.want_c | c->b2c.want_c);
    set_io(c, &c->bio, c->bfd, c->c2b.want_b | c->b2c.want_b);
}

void conn_close(struct conn *c, const char *reason)
{
    struct worker *w = c->w;

    if (c->state == CONN_HANDSHAKE)
        handshake_leave(c);
    log_debug("worker %u: connection closed: %s", w->id, reason);
    log_debug("frontend %s: connection closed: %s (client %s)", c->fe->name, reason, c->acc.client);
    if (c->gen->cfg->log_access) {
        struct access_end end = {
            .alpn = c->alpn, .backend = c->backend ? c->backend->name : NULL, .reason = reason,
            .ktls = c->ktls, .bytes_in = c->c2b.bytes, .bytes_out = c->b2c.bytes,
        };
        access_log(&c->acc, c->fe, &end, ev_now(worker_loop(w)));
    }
    metrics_conn_closed(c->metrics_slot);
    access_free(&c->acc);
    ev_io_stop(worker_loop(w), &c->cio);
    ev_io_stop(worker_loop(w), &c->bio);
    ev_timer_stop(worker_loop(w), &c->timer);
    pump_release(c);
    rekey_free(c->rekey);
    kp_tls_session_free(c->tls);
    free(c->proxy_hdr);
    if (c->bfd >= 0)
        close(c->bfd);
    close(c->cfd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    gen_unref(c->gen);
    free(c);
    worker_conn_closed(w);
}

void conn_shutdown(struct conn *c, const char *reason)
{
    if (c->state == CONN_PUMPING && !c->b2c.done) {
        if (c->ktls)
            ktls_send_close_notify(c->cfd); /* best effort: the socket may be full */
        else
            kp_tls_close_notify(c->tls);
    }
    conn_close(c, reason);
}

/* ---- backend unavailable ---- */

static void start_linger(struct conn *c)
{
    c->state = CONN_LINGERING;
    ev_io_stop(worker_loop(c->w), &c->bio);
    set_io(c, &c->cio, c->cfd, EV_READ);
    set_timer(c, c->fe->reply_linger_ms / 1000.0);
}

static void continue_reply(struct conn *c)
{
    char reason[256];
    int r = reply_send(c, reason, sizeof reason);

    if (r < 0)
        conn_close(c, reason);
    else if (r == 0)
        set_io(c, &c->cio, c->cfd, EV_WRITE);
    else
        start_linger(c);
}

static void backend_unavailable(struct conn *c, const char *why)
{
    log_limited(KP_CAUSE_BACKEND, KP_LOG_WARNING, "frontend %s: backend %s unavailable: %s (client %s)",
                c->fe->name, c->backend != NULL ? c->backend->name : "(none)", why, c->acc.client);
    if (c->backend != NULL)
        metrics_backend_connect_failed();
    metrics_unavailable_reply();
    if (c->bfd >= 0) {
        ev_io_stop(worker_loop(c->w), &c->bio);
        close(c->bfd);
        c->bfd = -1;
    }
    c->state = CONN_REPLYING;
    set_timer(c, c->fe->idle_timeout_ms / 1000.0);
    continue_reply(c);
}

/* ---- connecting ---- */

static void start_pump(struct conn *c)
{
    c->state = CONN_PUMPING;
    c->last_active = ev_now(worker_loop(c->w));
    set_timer(c, c->fe->idle_timeout_ms / 1000.0);
    pump_start(c);
    conn_update_events(c);
}

static void backend_connected(struct conn *c)
{
    char err[256];

    if (backend_connect_result(c->bfd, err, sizeof err) != 0) {
        backend_unavailable(c, err);
        return;
    }
    /* The PROXY header is tiny and the socket is new: it fits in one send. */
    if (c->proxy_len > 0 &&
        send(c->bfd, c->proxy_hdr, c->proxy_len, MSG_NOSIGNAL) != (ssize_t)c->proxy_len) {
        snprintf(err, sizeof err, "sending the PROXY header: %s", strerror(errno));
        backend_unavailable(c, err);
        return;
    }
    free(c->proxy_hdr);
    c->proxy_hdr = NULL;
    start_pump(c);
}

static void connect_backend(struct conn *c)
{
    char err[256];
    int full;

    c->state = CONN_CONNECTING;
    ev_io_stop(worker_loop(c->w), &c->cio); /* client bytes wait in the kernel */
    if (c->backend == NULL) {
        backend_unavailable(c, "no route for this client");
        return;
    }
    c->bfd = backend_connect(c->backend, &full, err, sizeof err);
    if (c->bfd < 0) {
        backend_unavailable(c, err);
        return;
    }
    c->backend_full = full;
    if (full)
        set_timer(c, CONNECT_RETRY_SECONDS);
    else {
        set_io(c, &c->bio, c->bfd, EV_WRITE);
        set_timer(c, c->backend->connect_timeout_ms / 1000.0);
    }
    /* after set_timer(), which has just read the clock */
    c->connect_deadline = ev_now(worker_loop(c->w)) + c->backend->connect_timeout_ms / 1000.0;
}

/* The unix backend's backlog was full: try again until the connect timeout. */
static void connect_again(struct conn *c)
{
    char err[256];
    double left = c->connect_deadline - ev_now(worker_loop(c->w));
    int r;

    if (left <= 0) {
        backend_unavailable(c, "connect timeout (the unix socket's backlog stayed full)");
        return;
    }
    r = backend_connect_again(c->backend, c->bfd, err, sizeof err);
    if (r < 0) {
        backend_unavailable(c, err);
    } else if (r > 0) {
        set_timer(c, left < CONNECT_RETRY_SECONDS ? left : CONNECT_RETRY_SECONDS);
    } else {
        c->backend_full = false;
        set_io(c, &c->bio, c->bfd, EV_WRITE);
        set_timer(c, left);
    }
}

/* ---- handshake ---- */

static const char *hand_off_failed(struct conn *c, const char *err)
{
    log_limited(KP_CAUSE_KTLS, KP_LOG_ERR, "frontend %s: kTLS hand-off failed: %s (client %s)",
                c->fe->name, err, c->acc.client);
    metrics_handshake_failed(KP_HSF_KTLS);
    return "kTLS hand-off failed";
}

/* Give the keys to the kernel and drop mbedTLS, or keep mbedTLS when the
 * kernel cannot take them (ktls = auto).  NULL when the connection goes on,
 * else why it must close (logged and counted here). */
static const char *hand_off(struct conn *c)
{
    struct kp_ktls_keys keys;
    enum ktls_result r;
    bool required = c->gen->cfg->ktls != KP_KTLS_AUTO;
    char err[256];

    if (!c->w->sh->ktls) {
        kp_tls_forget_secrets(c->tls);
        return NULL;
    }
    if (kp_tls_export_keys(c->tls, &keys, err, sizeof err) != 0) {
        kp_tls_forget_secrets(c->tls);
        return required ? hand_off_failed(c, err) : NULL;
    }
    r = ktls_install(c->cfd, &keys, err, sizeof err);
    ktls_keys_wipe(&keys);
    if (r == KTLS_OK) {
        /* The traffic secrets outlive the session only to follow KeyUpdate. */
        c->rekey = kp_tls_rekey_new(c->tls, ev_now(worker_loop(c->w)));
        kp_tls_session_free(c->tls); /* frees and zeroizes every mbedTLS copy */
        c->tls = NULL;
        c->ktls = true;
        return NULL;
    }
    kp_tls_forget_secrets(c->tls);
    if (r == KTLS_UNSUPPORTED && !required)
        return NULL; /* said once at start-up */
    if (r == KTLS_PEER_CLOSED) {
        /* Not the kernel's failure: a client that left, or half-closed
         * after its request, which only user space can still answer. */
        log_limited(KP_CAUSE_HANDSHAKE, KP_LOG_INFO, "frontend %s: %s; %s (client %s)",
                    c->fe->name, err,
                    required ? "closing it (ktls = required)" : "it stays in user space",
                    c->acc.client);
        if (!required)
            return NULL;
        metrics_handshake_failed(KP_HSF_CLOSED);
        return "client closed before the kTLS hand-off";
    }
    if (!required && r == KTLS_UNTOUCHED) {
        log_limited(KP_CAUSE_KTLS, KP_LOG_WARNING,
                    "kTLS hand-off failed (%s); this connection stays in user space (client %s)",
                    err, c->acc.client);
        return NULL;
    }
    return hand_off_failed(c, err);
}

static void handshake_done(struct conn *c)
{
    struct tls_info info;
    const char *why;

    handshake_leave(c);
    c->state = CONN_CONNECTING;
    kp_tls_session_info(c->tls, &info);
    access_handshake(&c->acc, &info, ev_now(worker_loop(c->w)));
    metrics_handshake(info.version_name, info.suite_name);
    c->alpn = info.alpn;
    c->backend = backend_route(c->fe, info.sni, info.alpn);
    log_debug("frontend %s: %s %s sni=%s alpn=%s -> %s (client %s)", c->fe->name, info.version_name,
              info.suite_name, info.sni ? info.sni : "-", info.alpn ? info.alpn : "-",
              c->backend ? c->backend->name : "(none)", c->acc.client);
    if (c->backend != NULL &&
        backend_proxy_header(c->backend, c->cfd, &info, &c->proxy_hdr, &c->proxy_len) != 0) {
        conn_close(c, "cannot build the PROXY header");
        return;
    }
    /* info points into the session: not used past this line. */
    why = hand_off(c);
    if (why != NULL) {
        conn_close(c, why);
        return;
    }
    metrics_tls_mode(c->ktls);
    connect_backend(c);
}

static void continue_handshake(struct conn *c)
{
    char err[256];
    enum tls_step step = kp_tls_handshake(c->tls, err, sizeof err);

    /* Whatever the outcome: TLS 1.3 derives the application secrets before
     * the client's Finished arrives, so a handshake that then fails or times
     * out would leave copies on the stack too. */
    kp_tls_wipe_stack();
    switch (step) {
    case TLS_WANT_READ:
        set_io(c, &c->cio, c->cfd, EV_READ);
        break;
    case TLS_WANT_WRITE:
        set_io(c, &c->cio, c->cfd, EV_WRITE);
        break;
    case TLS_FAILED:
        log_limited(KP_CAUSE_HANDSHAKE, KP_LOG_INFO, "frontend %s: %s (client %s)", c->fe->name,
                    err, c->acc.client);
        metrics_handshake_failed(kp_tls_handshake_failure(c->tls));
        conn_close(c, err);
        break;
    case TLS_DONE:
        handshake_done(c); /* may close c */
        kp_tls_wipe_stack();  /* and the key derivation of the hand-off */
        break;
    }
}

/* No Nagle on the client socket: the tail of a response (or a small record
 * spliced into kTLS) would otherwise wait for the client's delayed ACK,
 * ~40 ms per request on keep-alive connections.  Handshake flights are
 * still sent whole: tls.c corks the socket around each flight. */
static void set_nodelay(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void conn_start(struct worker *w, struct kp_gen *g, size_t fe_index, int fd)
{
    const struct kp_frontend *fe = &g->cfg->frontends[fe_index];
    struct conn *c = calloc(1, sizeof *c);
    char err[256];

    if (c == NULL) {
        log_err("out of memory for a connection");
        close(fd);
        worker_conn_closed(w);
        return;
    }
    gen_ref(g);
    c->gen = g;
    c->w = w;
    c->fe = fe;
    c->fe_index = fe_index;
    c->cfd = fd;
    c->bfd = -1;
    kp_keepalive(fd);
    set_nodelay(fd);
    access_begin(&c->acc, fd, ev_now(worker_loop(w)));
    c->metrics_slot = metrics_conn_opened(fe->name);
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    ev_init(&c->cio, client_cb);
    ev_init(&c->bio, backend_cb);
    ev_init(&c->timer, timer_cb);
    c->cio.data = c->bio.data = c->timer.data = c;
    c->state = CONN_HANDSHAKE;
    handshake_enter(c);
    c->tls = kp_tls_session_new(gen_tls(g, w->id, fe_index), fd, err, sizeof err);
    if (c->tls == NULL) {
        log_err("frontend %s: %s (client %s)", fe->name, err, c->acc.client);
        metrics_handshake_failed(KP_HSF_INTERNAL);
        conn_close(c, err);
        return;
    }
    set_timer(c, fe->handshake_timeout_ms / 1000.0);
    continue_handshake(c);
}

/* ---- events ---- */

static void pump(struct conn *c, int rc, int rb)
{
    char reason[256];
    int r = pump_run(c, rc, rb, reason, sizeof reason);

    if (r < 0) {
        log_limited(KP_CAUSE_TRANSFER, KP_LOG_INFO, "frontend %s: %s (client %s)", c->fe->name,
                    reason, c->acc.client);
        conn_close(c, reason);
    } else if (r > 0)
        conn_close(c, "done");
    else
        conn_update_events(c);
}

static void client_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct conn *c = io->data;

    (void)loop;
    switch (c->state) {
    case CONN_HANDSHAKE:
        continue_handshake(c);
        break;
    case CONN_PUMPING:
        pump(c, revents, 0);
        break;
    case CONN_REPLYING:
        continue_reply(c);
        break;
    case CONN_LINGERING:
        if (reply_drain(c))
            conn_close(c, "backend unavailable, reply sent");
        break;
    case CONN_CONNECTING:
        break;
    }
}

static void backend_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct conn *c = io->data;

    (void)loop;
    if (c->state == CONN_CONNECTING)
        backend_connected(c);
    else if (c->state == CONN_PUMPING)
        pump(c, 0, revents);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct conn *c = t->data;
    double idle = c->fe->idle_timeout_ms / 1000.0;
    double left;

    (void)revents;
    switch (c->state) {
    case CONN_HANDSHAKE:
        log_limited(KP_CAUSE_HANDSHAKE, KP_LOG_INFO, "frontend %s: handshake timeout (client %s)",
                    c->fe->name, c->acc.client);
        metrics_handshake_failed(KP_HSF_TIMEOUT);
        conn_close(c, "handshake timeout");
        break;
    case CONN_CONNECTING:
        /* A turn that ran long delivers the timer before the connect's own
         * event (libev runs the later one first): look at the socket. */
        if (c->backend_full)
            connect_again(c);
        else if (backend_connect_settled(c->bfd))
            backend_connected(c);
        else
            backend_unavailable(c, "connect timeout");
        break;
    case CONN_PUMPING:
        /* Activity only stamps last_active; the timer is re-armed here, not
         * on every transfer. */
        left = c->last_active + idle - ev_now(loop);
        if (left > 0.001)
            set_timer(c, left);
        else
            conn_close(c, "idle timeout");
        break;
    case CONN_REPLYING:
        conn_close(c, "timeout sending the error reply");
        break;
    case CONN_LINGERING:
        conn_close(c, "backend unavailable, reply sent");
        break;
    }
}
