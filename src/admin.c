/*
 * admin.c - a deliberately small HTTP/1.0 responder: read one request of at
 * most REQUEST_MAX bytes within TIMEOUT seconds, answer it, close.  Only
 * GET and HEAD of /metrics succeed; other paths get 404, other methods 405,
 * a request too big 431, garbage 400.  At most MAX_CLIENTS at a time: a
 * scraper needs one, anything more is turned away at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "admin.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#define REQUEST_MAX 2048
#define TIMEOUT 5.0
#define MAX_CLIENTS 8

struct client {
    struct kp_admin *a;
    int fd;
    ev_io io;
    ev_timer timer;
    char req[REQUEST_MAX];
    size_t len;
    char *out;                  /* the whole response, once known */
    size_t out_len, out_off;
};

struct kp_admin {
    pthread_t thread;
    struct kp_loop lp;          /* replaced after a client with a high fd */
    ev_async stop;
    atomic_bool stopping;
    ev_io listen_io;
    int fd;
    struct client *clients[MAX_CLIENTS];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unix socket to remove, or "" */
};

static bool idle(const struct kp_admin *a)
{
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (a->clients[i] != NULL)
            return false;
    return true;
}

static void client_free(struct client *c)
{
    struct kp_admin *a = c->a;

    for (int i = 0; i < MAX_CLIENTS; i++)
        if (a->clients[i] == c)
            a->clients[i] = NULL;
    ev_io_stop(a->lp.ev, &c->io);
    ev_timer_stop(a->lp.ev, &c->timer);
    close(c->fd);
    free(c->out);
    free(c);
    /* Scraped while thousands of connections were open: the loop's tables
     * grew to the client's fd; give them back (admin_thread). */
    if (idle(a) && kp_loop_grown(&a->lp)) {
        a->lp.renew = true;
        ev_break(a->lp.ev, EVBREAK_ALL);
    }
}

/* ---- the response ---- */

static void respond(struct client *c, const char *status, const char *extra, const char *body,
                    size_t body_len, bool head)
{
    FILE *f = open_memstream(&c->out, &c->out_len);

    if (f == NULL) {
        client_free(c);
        return;
    }
    fprintf(f, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
            status, body == NULL ? "text/plain; charset=utf-8"
                                 : "text/plain; version=0.0.4; charset=utf-8",
            body != NULL ? body_len : strlen(status) + 1, extra);
    if (!head)
        fprintf(f, "%s%s", body != NULL ? body : status, body != NULL ? "" : "\n");
    if (ferror(f) | fclose(f)) {
        client_free(c);
        return;
    }
    ev_io_stop(c->a->lp.ev, &c->io);
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(c->a->lp.ev, &c->io);
}

static void respond_error(struct client *c, const char *status, const char *extra)
{
    log_limited(KP_CAUSE_ADMIN, KP_LOG_INFO, "admin: %s", status);
    respond(c, status, extra, NULL, 0, false);
}

/* "METHOD SP TARGET SP HTTP/1.x": the only part of the request that matters. */
static void handle_request(struct client *c)
{
    char method[8], target[256], version[16];
    size_t len;
    char *text;
    bool head;

    if (sscanf(c->req, "%7s %255s %15s", method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
        respond_error(c, "400 Bad Request", "");
        return;
    }
    head = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && !head) {
        respond_error(c, "405 Method Not Allowed", "Allow: GET, HEAD\r\n");
        return;
    }
    target[strcspn(target, "?")] = '\0';
    if (strcmp(target, "/metrics") != 0) {
        respond_error(c, "404 Not Found", "");
        return;
    }
    if ((text = metrics_render(&len)) == NULL) {
        respond_error(c, "500 Internal Server Error", "");
        return;
    }
    respond(c, "200 OK", "", text, len, head);
    free(text);
}

/* ---- the client's socket ---- */

static void client_read(struct client *c)
{
    ssize_t n = recv(c->fd, c->req + c->len, sizeof c->req - 1 - c->len, 0);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        client_free(c);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    if (strstr(c->req, "\r\n\r\n") != NULL || strstr(c->req, "\n\n") != NULL)
        handle_request(c);
    else if (c->len == sizeof c->req - 1)
        respond_error(c, "431 Request Header Fields Too Large", "");
}

static void client_write(struct client *c)
{
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        client_free(c);
        return;
    }
    c->out_off += (size_t)n;
    if (c->out_off == c->out_len)
        client_free(c);
}

static void client_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct client *c = io->data;

    (void)loop;
    (void)revents;
    if (c->out != NULL)
        client_write(c);
    else
        client_read(c);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    client_free(t->data);
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct kp_admin *a = io->data;
    int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    struct client *c;
    int slot;

    (void)revents;
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            log_limited(KP_CAUSE_ADMIN, KP_LOG_WARNING, "admin: accept: %s", strerror(errno));
        return;
    }
    for (slot = 0; slot < MAX_CLIENTS && a->clients[slot] != NULL; slot++)
        ;
    if (slot == MAX_CLIENTS || (c = calloc(1, sizeof *c)) == NULL) {
        log_limited(KP_CAUSE_ADMIN, KP_LOG_WARNING, "admin: too many clients, one turned away");
        close(fd);
        return;
    }
    kp_loop_saw_fd(&a->lp, fd);
    a->clients[slot] = c;
    c->a = a;
    c->fd = fd;
    ev_io_init(&c->io, client_cb, fd, EV_READ);
    ev_timer_init(&c->timer, timeout_cb, TIMEOUT, 0.);
    c->io.data = c->timer.data = c;
    ev_io_start(loop, &c->io);
    ev_timer_start(loop, &c->timer);
}

/* ---- the thread ---- */

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* Move the listener and the stop signal to a new loop.  A stop sent to the
 * old one is not lost: admin_stop sets stopping first.  The old loop stays
 * if a client came in the turn that asked for this, or without memory. */
static void renew_loop(struct kp_admin *a)
{
    a->lp.renew = false;
    if (!idle(a))
        return;
    ev_io_stop(a->lp.ev, &a->listen_io);
    ev_async_stop(a->lp.ev, &a->stop);
    kp_loop_replace(&a->lp);
    ev_io_start(a->lp.ev, &a->listen_io);
    ev_async_start(a->lp.ev, &a->stop);
}

static void *admin_thread(void *arg)
{
    struct kp_admin *a = arg;

    while (ev_run(a->lp.ev, 0), a->lp.renew && !atomic_load(&a->stopping))
        renew_loop(a);
    return NULL;
}

static int bind_listener(const struct kp_config *cfg, struct kp_admin *a, char *err, size_t errlen)
{
    const struct kp_addr *addr = &cfg->admin.listen;
    const struct sockaddr_un *un = (const void *)&addr->ss;
    struct stat st;
    int one = 1;

    if (addr->ss.ss_family == AF_UNIX) {
        /* A socket left by an earlier run; never remove anything else. */
        if (lstat(un->sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(un->sun_path);
        snprintf(a->path, sizeof a->path, "%s", un->sun_path);
    }
    a->fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a->fd < 0 ||
        (addr->ss.ss_family != AF_UNIX &&
         setsockopt(a->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) ||
        bind(a->fd, (const struct sockaddr *)&addr->ss, addr->len) != 0 ||
        listen(a->fd, MAX_CLIENTS) != 0) {
        snprintf(err, errlen, "%s:%d: [admin] listen = %s: %s", cfg->file, cfg->admin.line,
                 addr->text, strerror(errno));
        return -1;
    }
    return 0;
}

static void admin_free(struct kp_admin *a)
{
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (a->clients[i] != NULL)
            client_free(a->clients[i]);
    if (a->lp.ev != NULL)
        ev_io_stop(a->lp.ev, &a->listen_io);
    kp_loop_free(&a->lp);
    if (a->fd >= 0)
        close(a->fd);
    if (a->path[0] != '\0')
        unlink(a->path);
    free(a);
}

int admin_start(const struct kp_config *cfg, struct kp_admin **out, char *err, size_t errlen)
{
    struct kp_admin *a;

    *out = NULL;
    if (cfg->admin.line == 0)
        return 0;
    if ((a = calloc(1, sizeof *a)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->fd = -1;
    if (bind_listener(cfg, a, err, errlen) != 0) {
        admin_free(a);
        return -1;
    }
    if (kp_loop_init(&a->lp) != 0) {
        snprintf(err, errlen, "admin: cannot create an event loop");
        admin_free(a);
        return -1;
    }
    ev_io_init(&a->listen_io, accept_cb, a->fd, EV_READ);
    a->listen_io.data = a;
    ev_io_start(a->lp.ev, &a->listen_io);
    ev_async_init(&a->stop, stop_cb);
    ev_async_start(a->lp.ev, &a->stop);
    if ((errno = pthread_create(&a->thread, NULL, admin_thread, a)) != 0) {
        snprintf(err, errlen, "admin: cannot start its thread: %s", strerror(errno));
        admin_free(a);
        return -1;
    }
    log_info("admin: serving GET /metrics on %s", cfg->admin.listen.text);
    *out = a;
    return 0;
}

void admin_stop(struct kp_admin *a)
{
    if (a == NULL)
        return;
    atomic_store(&a->stopping, true);
    kp_loop_async_send(&a->lp, &a->stop);
    pthread_join(a->thread, NULL);
    ev_async_stop(a->lp.ev, &a->stop);
    admin_free(a);
}
