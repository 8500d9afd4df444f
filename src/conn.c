/*
 * conn.c - the life of one client connection (see conn.h for the states).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "conn.h"
#include "ktls.h"
#include "log.h"
#include "metrics.h"
#include "pump.h"
#include "reply.h"
#include "tls.h"
#include "worker.h"

#define LINGER_SECONDS 2.0

static void client_cb(struct ev_loop *loop, ev_io *io, int revents);
static void backend_cb(struct ev_loop *loop, ev_io *io, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents);

static void set_io(struct conn *c, ev_io *io, int fd, int events)
{
    if (events == 0) {
        ev_io_stop(c->w->loop, io);
        return;
    }
    if (ev_is_active(io) && io->events == events)
        return;
    ev_io_stop(c->w->loop, io);
    ev_io_set(io, fd, events);
    ev_io_start(c->w->loop, io);
}

static void set_timer(struct conn *c, double seconds)
{
    ev_timer_stop(c->w->loop, &c->timer);
    ev_timer_set(&c->timer, seconds, 0.);
    ev_timer_start(c->w->loop, &c->timer);
}

void conn_update_events(struct conn *c)
{
    set_io(c, &c->cio, c->cfd, c->c2b.want_c | c->b2c.want_c);
    set_io(c, &c->bio, c->bfd, c->c2b.want_b | c->b2c.want_b);
}

void conn_close(struct conn *c, const char *reason)
{
    struct worker *w = c->w;

    log_debug("frontend %s: connection closed: %s (client %s)", c->fe->name, reason, c->acc.client);
    if (w->sh->cfg->log_access) {
        struct access_end end = {
            .alpn = c->alpn, .backend = c->backend ? c->backend->name : NULL, .reason = reason,
            .ktls = c->ktls, .bytes_in = c->c2b.bytes, .bytes_out = c->b2c.bytes,
        };
        access_log(&c->acc, c->fe, &end, ev_now(w->loop));
    }
    metrics_conn_closed(c->metrics_slot);
    access_free(&c->acc);
    ev_io_stop(w->loop, &c->cio);
    ev_io_stop(w->loop, &c->bio);
    ev_timer_stop(w->loop, &c->timer);
    pump_release(c);
    tls_session_free(c->tls);
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
    free(c);
    worker_conn_closed(w);
}

/* ---- backend unavailable ---- */

static void start_linger(struct conn *c)
{
    c->state = CONN_LINGERING;
    ev_io_stop(c->w->loop, &c->bio);
    set_io(c, &c->cio, c->cfd, EV_READ);
    set_timer(c, LINGER_SECONDS);
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
        ev_io_stop(c->w->loop, &c->bio);
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
    c->last_active = ev_now(c->w->loop);
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

    c->state = CONN_CONNECTING;
    ev_io_stop(c->w->loop, &c->cio); /* client bytes wait in the kernel */
    if (c->backend == NULL) {
        backend_unavailable(c, "no route for this client");
        return;
    }
    c->bfd = backend_connect(c->backend, err, sizeof err);
    if (c->bfd < 0) {
        backend_unavailable(c, err);
        return;
    }
    set_io(c, &c->bio, c->bfd, EV_WRITE);
    set_timer(c, c->backend->connect_timeout_ms / 1000.0);
}

/* ---- handshake ---- */

/* Give the keys to the kernel and drop mbedTLS, or keep mbedTLS when the
 * kernel cannot take them.  0 on success, -1 when the connection must go. */
static int hand_off(struct conn *c, char *err, size_t errlen)
{
    struct kp_ktls_keys keys;
    enum ktls_result r;

    if (!c->w->sh->ktls) {
        tls_forget_secrets(c->tls);
        return 0;
    }
    if (tls_export_keys(c->tls, &keys, err, errlen) != 0) {
        tls_forget_secrets(c->tls);
        return c->w->sh->cfg->ktls == KP_KTLS_AUTO ? 0 : -1;
    }
    r = ktls_install(c->cfd, &keys, err, errlen);
    ktls_keys_wipe(&keys);
    if (r == KTLS_OK) {
        tls_session_free(c->tls); /* frees and zeroizes every mbedTLS copy */
        c->tls = NULL;
        c->ktls = true;
        return 0;
    }
    tls_forget_secrets(c->tls);
    if (r == KTLS_UNTOUCHED && c->w->sh->cfg->ktls == KP_KTLS_AUTO) {
        log_limited(KP_CAUSE_KTLS, KP_LOG_WARNING,
                    "kTLS hand-off failed (%s); this connection stays in user space (client %s)",
                    err, c->acc.client);
        return 0;
    }
    return -1;
}

static void handshake_done(struct conn *c)
{
    struct tls_info info;
    char err[256];

    tls_session_info(c->tls, &info);
    access_handshake(&c->acc, &info, ev_now(c->w->loop));
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
    if (hand_off(c, err, sizeof err) != 0) {
        log_limited(KP_CAUSE_KTLS, KP_LOG_ERR, "frontend %s: kTLS hand-off failed: %s (client %s)",
                    c->fe->name, err, c->acc.client);
        metrics_handshake_failed(KP_HSF_KTLS);
        conn_close(c, "kTLS hand-off failed");
        return;
    }
    metrics_tls_mode(c->ktls);
    connect_backend(c);
}

static void continue_handshake(struct conn *c)
{
    char err[256];

    switch (tls_handshake(c->tls, err, sizeof err)) {
    case TLS_WANT_READ:
        set_io(c, &c->cio, c->cfd, EV_READ);
        break;
    case TLS_WANT_WRITE:
        set_io(c, &c->cio, c->cfd, EV_WRITE);
        break;
    case TLS_FAILED:
        log_limited(KP_CAUSE_HANDSHAKE, KP_LOG_INFO, "frontend %s: %s (client %s)", c->fe->name,
                    err, c->acc.client);
        metrics_handshake_failed(tls_handshake_failure(c->tls));
        conn_close(c, err);
        break;
    case TLS_DONE:
        handshake_done(c); /* may close c */
        tls_wipe_stack();
        break;
    }
}

void conn_start(struct worker *w, const struct kp_frontend *fe, size_t fe_index, int fd)
{
    struct conn *c = calloc(1, sizeof *c);
    char err[256];

    if (c == NULL) {
        log_err("out of memory for a connection");
        close(fd);
        return;
    }
    c->w = w;
    c->fe = fe;
    c->cfd = fd;
    c->bfd = -1;
    c->state = CONN_HANDSHAKE;
    access_begin(&c->acc, fd, ev_now(w->loop));
    c->metrics_slot = metrics_conn_opened(fe->name);
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    ev_init(&c->cio, client_cb);
    ev_init(&c->bio, backend_cb);
    ev_init(&c->timer, timer_cb);
    c->cio.data = c->bio.data = c->timer.data = c;
    c->tls = tls_session_new(w->tls[fe_index], fd, err, sizeof err);
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
