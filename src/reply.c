/*
 * reply.c - the "backend unavailable" answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "gen.h"
#include "ktls.h"
#include "pipe_pool.h"
#include "reply.h"
#include "tls.h"
#include "worker.h"

#define BUILTIN_BODY                                                                      \
    "<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n"        \
    "<body><h1>503 Service Unavailable</h1>\n"                                            \
    "<p>The service is temporarily unavailable. Please try again later.</p></body></html>\n"

static const char builtin_page[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Cache-Control: no-store\r\n"
    "Retry-After: 5\r\n"
    "Connection: close\r\n"
    "Content-Length: %zu\r\n"
    "\r\n"
    BUILTIN_BODY;

/* An empty SETTINGS frame (the server's connection preface) and a GOAWAY
 * with last-stream-id 0 (no request was processed, so clients may retry)
 * and INTERNAL_ERROR, with debug data naming the cause (RFC 9113 6.5, 6.8). */
static const unsigned char h2_goaway[] = {
    0, 0, 0, 0x4, 0, 0, 0, 0, 0,                          /* SETTINGS, stream 0 */
    0, 0, 27, 0x7, 0, 0, 0, 0, 0,                         /* GOAWAY, 8 + 19 bytes */
    0, 0, 0, 0,                                           /* last stream id */
    0, 0, 0, 0x2,                                         /* INTERNAL_ERROR */
    'b', 'a', 'c', 'k', 'e', 'n', 'd', ' ', 'u', 'n', 'a', 'v', 'a', 'i', 'l', 'a', 'b', 'l', 'e',
};

enum reply_kind { REPLY_HTTP1, REPLY_H2, REPLY_NONE };

static enum reply_kind reply_kind(const struct conn *c)
{
    if (c->alpn != NULL && strcmp(c->alpn, "http/1.1") == 0)
        return REPLY_HTTP1;
    if (c->alpn != NULL && strcmp(c->alpn, "h2") == 0)
        return REPLY_H2;
    return REPLY_NONE;
}

int reply_open_error_page(const struct kp_config *cfg, const struct kp_frontend *fe, off_t *len,
                          char *err, size_t errlen)
{
    struct stat st;
    char page[1024];
    int fd, n;

    if (fe->error_page != NULL) {
        fd = open(fe->error_page, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0) {
            snprintf(err, errlen, "%s:%d: error_page %s: %s", cfg->file, fe->line, fe->error_page,
                     strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        *len = st.st_size;
        return fd;
    }
    n = snprintf(page, sizeof page, builtin_page, sizeof BUILTIN_BODY - 1);
    fd = memfd_create("ktlsproxy-503", MFD_CLOEXEC);
    if (fd < 0 || write(fd, page, (size_t)n) != n) {
        snprintf(err, errlen, "cannot build the built-in 503 page: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *len = n;
    return fd;
}

/* Bytes of the body part of the reply, sent from c->reply_off on. */
static ssize_t send_body(struct conn *c, enum reply_kind kind)
{
    off_t page_len;
    int page_fd = gen_error_page(c->gen, c->fe_index, &page_len);
    enum tls_step step;
    char buf[4096];
    ssize_t n;

    if (kind == REPLY_HTTP1 && c->ktls) {
        off_t off = c->reply_off;
        return sendfile(c->cfd, page_fd, &off, (size_t)(page_len - c->reply_off));
    }
    if (kind == REPLY_H2 && c->ktls)
        return send(c->cfd, h2_goaway + c->reply_off, sizeof h2_goaway - c->reply_off,
                    MSG_NOSIGNAL);
    if (kind == REPLY_HTTP1) {
        n = pread(page_fd, buf, sizeof buf, c->reply_off);
        if (n <= 0)
            return -1;
    } else {
        n = (ssize_t)(sizeof h2_goaway - c->reply_off);
        memcpy(buf, h2_goaway + c->reply_off, (size_t)n);
    }
    n = kp_tls_write(c->tls, buf, (size_t)n, &step);
    if (n < 0 && (step == TLS_WANT_WRITE || step == TLS_WANT_READ))
        errno = EAGAIN;
    return n;
}

static off_t body_len(const struct conn *c, enum reply_kind kind)
{
    off_t page_len;

    if (kind == REPLY_HTTP1) {
        gen_error_page(c->gen, c->fe_index, &page_len);
        return page_len;
    }
    return kind == REPLY_H2 ? (off_t)sizeof h2_goaway : 0;
}

int reply_send(struct conn *c, char *reason, size_t len)
{
    enum reply_kind kind = reply_kind(c);

    while (c->reply_off < body_len(c, kind)) {
        ssize_t n = send_body(c, kind);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0) {
            snprintf(reason, len, "sending the error reply: %s", n < 0 ? strerror(errno) : "EOF");
            return -1;
        }
        c->reply_off += (uint32_t)n;
    }
    if (c->ktls) {
        if (ktls_send_close_notify(c->cfd) != 0) {
            if (errno == EAGAIN)
                return 0;
            snprintf(reason, len, "sending close_notify: %s", strerror(errno));
            return -1;
        }
    } else {
        kp_tls_close_notify(c->tls);
    }
    shutdown(c->cfd, SHUT_WR);
    return 1;
}

int reply_drain(struct conn *c)
{
    struct kp_pipe *p;
    ssize_t n;

    if (!c->ktls) {
        char scratch[4096];
        enum tls_step step;

        n = kp_tls_read(c->tls, scratch, sizeof scratch, &step);
        return n > 0 || (n < 0 && step != TLS_FAILED) ? 0 : 1;
    }
    /* kTLS: into a pipe and on to /dev/null, still without a user-space copy. */
    p = pipe_get(&c->w->pipes, 0);
    if (p == NULL)
        return 1;
    n = splice(c->cfd, NULL, p->wfd, NULL, p->size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0 && splice(p->rfd, NULL, c->w->devnull, NULL, (size_t)n, SPLICE_F_MOVE) != n) {
        pipe_put(&c->w->pipes, p, 0);
        return 1;
    }
    pipe_put(&c->w->pipes, p, 1);
    return n > 0 || (n < 0 && errno == EAGAIN) ? 0 : 1;
}
