/*
 * pump.c - the data path after the handshake.
 *
 * Each direction is one loop (dir_run) over four operations: fill (source ->
 * pipe or buffer), drain (pipe or buffer -> destination), pass_eof (tell the
 * destination the source ended) and release (give back an empty pipe or
 * buffer).  The kTLS operations use only splice(); the fallback ones go
 * through mbedTLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "ktls.h"
#include "log.h"
#include "metrics.h"
#include "pipe_pool.h"
#include "pump.h"
#include "rekey.h"
#include "tls.h"
#include "worker.h"

#define TLS_RECORD_MAX 16384    /* the most plaintext one TLS record holds */
#define BULK_FILL (2 * TLS_RECORD_MAX) /* a fill this big: a bulk transfer (pipe_pool.h) */
#define FALLBACK_BUF TLS_RECORD_MAX
#define BUDGET (1u << 20)       /* bytes per direction per event, for fairness */

enum { IO_WAIT = -1, IO_FAIL = -2 };

/* Alerts (RFC 8446 6). */
#define TLS_ALERT_WARNING 1
#define TLS_ALERT_CLOSE_NOTIFY 0
#define TLS_ALERT_USER_CANCELED 90

/* ---- helpers ---- */

static int is_c2b(const struct conn *c, const struct dir *d)
{
    return d == &c->c2b;
}

/* Record that d waits for ev on the client (to_client) or backend socket. */
static ssize_t wait_on(struct dir *d, int to_client, int ev)
{
    if (to_client)
        d->want_c |= (uint8_t)ev;
    else
        d->want_b |= (uint8_t)ev;
    return IO_WAIT;
}

static ssize_t fail(char *reason, size_t len, const char *what)
{
    snprintf(reason, len, "%s: %s", what, strerror(errno));
    return IO_FAIL;
}

/* A read from the kTLS client socket failed.  EKEYEXPIRED: the kernel got a
 * KeyUpdate and waits for new RX keys, which means it was not followed. */
static ssize_t rx_fail(char *reason, size_t len, const char *what)
{
    if (errno == EKEYEXPIRED) {
        snprintf(reason, len, "%s: the kernel waits for the keys of a KeyUpdate that was not "
                 "followed (EKEYEXPIRED)", what);
        return IO_FAIL;
    }
    return fail(reason, len, what);
}

static int src_fd(const struct conn *c, const struct dir *d)
{
    return is_c2b(c, d) ? c->cfd : c->bfd;
}

static int dst_fd(const struct conn *c, const struct dir *d)
{
    return is_c2b(c, d) ? c->bfd : c->cfd;
}

/* The backend gets a FIN; the client gets close_notify, then a FIN. */
static ssize_t shutdown_dst(struct conn *c, struct dir *d, char *reason, size_t len)
{
    if (!is_c2b(c, d) && c->ktls && ktls_send_close_notify(c->cfd) != 0) {
        if (errno == EAGAIN)
            return wait_on(d, 1, EV_WRITE);
        return fail(reason, len, "sending close_notify");
    }
    if (!is_c2b(c, d) && !c->ktls)
        kp_tls_close_notify(c->tls);
    shutdown(dst_fd(c, d), SHUT_WR);
    return 0;
}

/* ---- kTLS: splice only ---- */

/* Our KeyUpdate(update_not_requested), then new TX keys: due since the
 * client's KeyUpdate(update_requested).  Not after our close_notify (nothing
 * more is sent then).  0 sent or not needed, IO_WAIT (socket full), IO_FAIL. */
static ssize_t send_key_update(struct conn *c, char *reason, size_t len)
{
    int r;

    if (!c->key_update_due || c->b2c.done)
        return 0;
    r = rekey_tx(c->rekey, c->cfd, reason, len);
    kp_tls_wipe_stack(); /* the derivation's stack frames */
    if (r > 0)
        return wait_on(&c->b2c, 1, EV_WRITE);
    if (r < 0)
        return IO_FAIL;
    c->key_update_due = false;
    metrics_key_update(true);
    return 0;
}

/* The client's KeyUpdate (RFC 8446 4.6.3), read as a control record.  The
 * kernel holds back the records after it (EKEYEXPIRED) until new RX keys are
 * set.  Followed when the kernel can rekey (c->rekey), within the rate limit
 * (rekey.h); else the connection ends with the reason logged. */
static ssize_t key_update(struct conn *c, unsigned request, char *reason, size_t len)
{
    ssize_t n;

    if (c->rekey == NULL) {
        snprintf(reason, len, "client sent a TLS 1.3 KeyUpdate, which kTLS on this kernel "
                 "cannot follow (Linux 6.14 and later can)");
        return IO_FAIL;
    }
    if (!rekey_admit(c->rekey, ev_now(worker_loop(c->w)))) {
        snprintf(reason, len, "client sent KeyUpdates faster than the limit (%d at once, then "
                 "one per %g s)", REKEY_BURST, REKEY_INTERVAL);
        return IO_FAIL;
    }
    n = rekey_rx(c->rekey, c->cfd, reason, len);
    kp_tls_wipe_stack();
    if (n != 0)
        return IO_FAIL;
    metrics_key_update(false);
    log_debug("frontend %s: client KeyUpdate (update_requested=%u) followed (client %s)",
              c->fe->name, request, c->acc.client);
    if (request == 1)
        c->key_update_due = true;
    n = send_key_update(c, reason, len);
    if (n == IO_FAIL)
        return IO_FAIL;
    /* Level-triggered: called again for the records that follow. */
    return wait_on(&c->c2b, 1, EV_READ);
}

/* A whole KeyUpdate message: type 24, length 1, update_requested 0 or 1. */
static int is_key_update(const unsigned char *rec, ssize_t n)
{
    return n == 5 && rec[0] == 24 && rec[1] == 0 && rec[2] == 0 && rec[3] == 1 && rec[4] <= 1;
}

/* splice() refused the client's next record because it is not application
 * data.  Read just that record: close_notify ends the direction (a half
 * close); a warning-level user_canceled is logged and ignored (RFC 8446 6.1:
 * a close_notify follows it; mbedTLS ignores warnings likewise in the
 * fallback); anything else ends the connection, as every other alert is an
 * error in TLS 1.3; a KeyUpdate is followed where the kernel can (else it
 * ends the connection too).  One record per call bounds the work a storm of
 * control records can cause: the loop calls again while more wait. */
static ssize_t control_record(struct conn *c, char *reason, size_t len)
{
    unsigned char type, rec[64];
    ssize_t n = ktls_recv_control(c->cfd, &type, rec, sizeof rec);

    if (n < 0) {
        if (errno == EAGAIN)
            return wait_on(&c->c2b, 1, EV_READ);
        return rx_fail(reason, len, "reading a control record from the client");
    }
    if (type == KTLS_CONTENT_HANDSHAKE && is_key_update(rec, n))
        return key_update(c, rec[4], reason, len);
    if (type == KTLS_CONTENT_ALERT && n == 2 && rec[1] == TLS_ALERT_CLOSE_NOTIFY)
        return 0;
    if (type == KTLS_CONTENT_ALERT && n == 2 && rec[0] == TLS_ALERT_WARNING &&
        rec[1] == TLS_ALERT_USER_CANCELED) {
        log_debug("frontend %s: client sent a user_canceled warning; ignored", c->fe->name);
        return wait_on(&c->c2b, 1, EV_READ);
    }
    if (type == KTLS_CONTENT_ALERT && n == 2)
        snprintf(reason, len, "client sent alert %u (level %u)", rec[1], rec[0]);
    else if (type == KTLS_CONTENT_HANDSHAKE)
        snprintf(reason, len, "client sent a post-handshake message (type %u%s), which kTLS "
                 "cannot follow", n > 0 ? (unsigned)rec[0] : 0u,
                 n > 0 && rec[0] == 24 ? ", a malformed KeyUpdate" : "");
    else
        snprintf(reason, len, "client sent an unexpected record of type %u", type);
    return IO_FAIL;
}

/* A splice() from the source failed (errno says how). */
static ssize_t splice_fill_failed(struct conn *c, struct dir *d, char *reason, size_t len)
{
    int from_client = is_c2b(c, d);

    if (errno == EAGAIN)
        return wait_on(d, from_client, EV_READ);
    if (from_client && errno == EINVAL)
        return control_record(c, reason, len);
    if (from_client)
        return rx_fail(reason, len, "reading from the client");
    return fail(reason, len, "reading from the backend");
}

/* Did the fill's last splice (n, of want bytes asked) leave the source empty?
 * EAGAIN says so; so, most likely, does less than asked for: from the
 * backend, its socket had no more (or the pipe no more slots), from the
 * client, a short record (a request).  Then the next fill waits for the loop
 * (level-triggered: at once if more came) instead of learning it from a
 * splice that fails with EAGAIN, one call per request and direction.  The
 * price: a client that sends many short records back to back costs an
 * epoll_wait per record where it cost one EAGAIN per burst; requests one at
 * a time (HTTP/1.1 keep-alive; h2 clients write a batch of frames as one
 * record) are the common case. */
static bool fill_emptied(const struct conn *c, const struct dir *d, ssize_t n, size_t want)
{
    if (n < 0)
        return errno == EAGAIN;
    return n > 0 && (size_t)n < (is_c2b(c, d) ? TLS_RECORD_MAX : want);
}

/* kTLS gives one record per splice() (tls_sw_splice_read), so an upload would
 * reach the backend 16 KiB at a time: a send, a segment train and a wake-up of
 * the backend per record.  After a full record more are likely queued: take
 * them too while the pipe surely has room, and drain them with one splice.  A
 * short record (a request) ends the fill at once, so interactive traffic pays
 * no extra call.  What stops the fill after some records is handled by the
 * next one, after those records are passed on: a control record stays at the
 * head and an end stays an end, but a socket error is reported only once, so
 * it waits in d->fill_errno. */
static ssize_t splice_fill(struct conn *c, struct dir *d, char *reason, size_t len)
{
    ssize_t n, total = 0;
    size_t want, cap;

    if (d->fill_errno != 0) {
        errno = d->fill_errno;
        d->fill_errno = 0;
        return splice_fill_failed(c, d, reason, len);
    }
    if (d->pipe == NULL && (d->pipe = pipe_get(&c->w->pipes, d->bulk)) == NULL)
        return fail(reason, len, "getting a pipe");
    cap = d->pipe->size;
    do {
        want = cap - (size_t)total;
        n = splice(src_fd(c, d), NULL, d->pipe->wfd, NULL, want,
                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0)
            total += n;
    } while (n == TLS_RECORD_MAX && is_c2b(c, d) && (size_t)total + TLS_RECORD_MAX <= cap);
    if (n < 0 && total == 0)
        return splice_fill_failed(c, d, reason, len);
    if (n < 0 && errno != EAGAIN)
        d->fill_errno = errno;
    d->src_idle = fill_emptied(c, d, n, want);
    d->bulk = total >= BULK_FILL;
    return total;
}

static ssize_t splice_drain(struct conn *c, struct dir *d, char *reason, size_t len)
{
    ssize_t n = splice(d->pipe->rfd, NULL, dst_fd(c, d), NULL, d->pending,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

    if (n >= 0)
        return n;
    if (errno == EAGAIN)
        return wait_on(d, !is_c2b(c, d), EV_WRITE);
    return fail(reason, len, is_c2b(c, d) ? "writing to the backend" : "writing to the client");
}

static void splice_release(struct conn *c, struct dir *d)
{
    if (d->pipe != NULL) {
        pipe_put(&c->w->pipes, d->pipe, d->pending == 0);
        d->pipe = NULL;
    }
}

/* ---- fallback: mbedTLS in user space ---- */

static ssize_t tls_result(struct conn *c, struct dir *d, enum tls_step step, char *reason,
                          size_t len, const char *what)
{
    char msg[160];

    if (step == TLS_WANT_READ || step == TLS_WANT_WRITE)
        return wait_on(d, 1, step == TLS_WANT_READ ? EV_READ : EV_WRITE);
    kp_tls_last_error(c->tls, msg, sizeof msg);
    snprintf(reason, len, "%s: %s", what, msg);
    return IO_FAIL;
}

static ssize_t user_fill(struct conn *c, struct dir *d, char *reason, size_t len)
{
    enum tls_step step;
    ssize_t n;

    if (d->buf == NULL && (d->buf = malloc(FALLBACK_BUF)) == NULL)
        return fail(reason, len, "allocating a buffer");
    d->off = 0;
    if (is_c2b(c, d)) {
        n = kp_tls_read(c->tls, d->buf, FALLBACK_BUF, &step);
        return n >= 0 ? n : tls_result(c, d, step, reason, len, "TLS read from the client");
    }
    n = recv(c->bfd, d->buf, FALLBACK_BUF, 0);
    d->src_idle = n > 0 && n < FALLBACK_BUF; /* see fill_emptied() */
    if (n >= 0)
        return n;
    if (errno == EAGAIN)
        return wait_on(d, 0, EV_READ);
    return fail(reason, len, "reading from the backend");
}

static ssize_t user_drain(struct conn *c, struct dir *d, char *reason, size_t len)
{
    enum tls_step step;
    ssize_t n;

    if (is_c2b(c, d)) {
        n = send(c->bfd, d->buf + d->off, d->pending, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN)
            return wait_on(d, 0, EV_WRITE);
        if (n < 0)
            return fail(reason, len, "writing to the backend");
    } else {
        n = kp_tls_write(c->tls, d->buf + d->off, d->pending, &step);
        if (n < 0)
            return tls_result(c, d, step, reason, len, "TLS write to the client");
    }
    d->off += (uint32_t)n;
    return n;
}

static void user_release(struct conn *c, struct dir *d)
{
    (void)c;
    free(d->buf);
    d->buf = NULL;
}

/* ---- one direction ---- */

struct dir_ops {
    ssize_t (*fill)(struct conn *c, struct dir *d, char *reason, size_t len);
    ssize_t (*drain)(struct conn *c, struct dir *d, char *reason, size_t len);
    void (*release)(struct conn *c, struct dir *d);
};

static const struct dir_ops splice_ops = { splice_fill, splice_drain, splice_release };
static const struct dir_ops user_ops = { user_fill, user_drain, user_release };

/* 0: waiting (d->want_* set) or finished; -1: failed. */
static int dir_run(struct conn *c, struct dir *d, char *reason, size_t len)
{
    const struct dir_ops *ops = c->ktls ? &splice_ops : &user_ops;
    size_t moved = 0;
    ssize_t n;

    d->want_c = d->want_b = 0;
    /* Our KeyUpdate goes before any more data to the client. */
    if (d == &c->b2c && c->ktls) {
        n = send_key_update(c, reason, len);
        if (n < 0)
            return n == IO_WAIT ? 0 : -1;
    }
    while (!d->done) {
        if (d->pending > 0) {
            n = ops->drain(c, d, reason, len);
            if (n < 0)
                return n == IO_WAIT ? 0 : -1;
            d->pending -= (uint32_t)n;
            d->bytes += (uint64_t)n;
            metrics_bytes(is_c2b(c, d), (size_t)n);
            moved += (size_t)n;
            c->last_active = ev_now(worker_loop(c->w));
            continue;
        }
        ops->release(c, d);
        if (d->eof) {
            n = shutdown_dst(c, d, reason, len);
            if (n < 0)
                return n == IO_WAIT ? 0 : -1;
            d->done = true;
            break;
        }
        if (moved >= BUDGET || d->src_idle) {
            /* Level-triggered: the loop calls us again when there is more
             * (after the others, if there is more already). */
            d->src_idle = false;
            wait_on(d, is_c2b(c, d), EV_READ);
            return 0;
        }
        n = ops->fill(c, d, reason, len);
        if (n == IO_WAIT)
            ops->release(c, d);
        if (n < 0)
            return n == IO_WAIT ? 0 : -1;
        if (n == 0)
            d->eof = true;
        d->pending = (uint32_t)n;
    }
    return 0;
}

void pump_start(struct conn *c)
{
    c->c2b.want_c = EV_READ;
    c->b2c.want_b = EV_READ;
}

static int dir_ready(const struct dir *d, int rc, int rb)
{
    return !d->done && ((d->want_c & rc) || (d->want_b & rb));
}

int pump_run(struct conn *c, int rc, int rb, char *reason, size_t len)
{
    if (dir_ready(&c->c2b, rc, rb) && dir_run(c, &c->c2b, reason, len) != 0)
        return -1;
    if (dir_ready(&c->b2c, rc, rb) && dir_run(c, &c->b2c, reason, len) != 0)
        return -1;
    return c->c2b.done && c->b2c.done ? 1 : 0;
}

void pump_release(struct conn *c)
{
    const struct dir_ops *ops = c->ktls ? &splice_ops : &user_ops;

    ops->release(c, &c->c2b);
    ops->release(c, &c->b2c);
}
