/*
 * worker.h - one thread, one libev loop, its own listening sockets
 * (SO_REUSEPORT: the kernel spreads connections over the workers), its own
 * TLS contexts and its own pool of pipes.  Workers share nothing writable.
 */
#ifndef KP_WORKER_H
#define KP_WORKER_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "pump.h"

struct conn;
struct tls_frontend;

/* Read-only state shared by all workers, set up before they start. */
struct shared {
    const struct kp_config *cfg;
    bool ktls;                  /* the kernel takes TLS keys */
    int *error_page_fd;         /* per frontend, for sendfile() */
    off_t *error_page_len;
};

struct listener {
    ev_io io;
    int fd;
    size_t fe;                  /* index into cfg->frontends */
    struct worker *w;
};

struct worker {
    unsigned id;
    pthread_t thread;
    struct ev_loop *loop;
    ev_async stop;
    const struct shared *sh;
    struct listener *listeners;
    size_t n_listeners;
    struct tls_frontend **tls;  /* per frontend */
    struct pipe_pool pipes;
    struct conn *conns;
    unsigned n_conns, max_conns;
    bool accepting;
    int devnull;                /* splice target for draining a client */
};

/* Binds the listeners and loads TLS contexts; errors into err. */
struct worker *worker_new(unsigned id, const struct shared *sh, char *err, size_t errlen);
int worker_start(struct worker *w);
void worker_stop(struct worker *w);   /* from another thread */
void worker_join_and_free(struct worker *w);

/* A connection ended: may resume accepting. */
void worker_conn_closed(struct worker *w);

#endif
