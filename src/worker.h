/*
 * worker.h - one thread, one libev loop, its connections and its pool of
 * pipes.  Every worker watches every shared listening socket; a worker
 * accepts only while the process-wide limits leave room, so the limits are
 * exact and no SYN waits on a worker that is full while others idle.
 *
 * The main thread steers the workers through struct shared: it publishes a
 * new generation (reload) or a stop request, then wakes every worker
 * (worker_wake); each worker acts on it in its own loop.
 */
#ifndef KP_WORKER_H
#define KP_WORKER_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "loop.h"
#include "pipe_pool.h"

struct conn;
struct kp_gen;

enum kp_stop { KP_RUN, KP_STOP_DRAIN, KP_STOP_NOW };

/* State shared by all workers. */
struct shared {
    bool ktls;                          /* the kernel takes TLS keys */
    _Atomic(struct kp_gen *) gen;       /* for new connections; main swaps it */
    atomic_int stop;                    /* enum kp_stop */
    atomic_uint n_conns;                /* whole process */
    atomic_llong last_accept_warning;   /* seconds, for rate limiting */
    struct worker **workers;
    unsigned n_workers;
};

struct worker {
    unsigned id;
    pthread_t thread;
    struct kp_loop lp;          /* replaced when idle after a peak (worker.c) */
    ev_async wake;
    ev_timer backoff;           /* accept() ran out of descriptors or memory */
    ev_timer drain;             /* drain_timeout after SIGTERM */
    ev_timer trim;              /* idle: give memory back (worker.c) */
    struct shared *sh;
    struct kp_gen *gen;         /* the generation new connections get (a reference) */
    struct listen_io *lio;      /* one watcher per listening socket of gen */
    bool watching;
    struct pipe_pool pipes;
    struct conn *conns;
    struct conn *hs_oldest, *hs_newest; /* connections in the handshake, oldest first */
    unsigned n_handshakes;
    int devnull;                /* splice target for draining a client */
};

struct worker *worker_new(unsigned id, struct shared *sh, char *err, size_t errlen);
int worker_start(struct worker *w);
/* From any thread: look at sh again (generation, stop request, room). */
void worker_wake(struct worker *w);
/* Join every worker before freeing any: a worker may wake another until its
 * thread ends. */
void worker_join(struct worker *w);
void worker_free(struct worker *w);

static inline struct ev_loop *worker_loop(const struct worker *w)
{
    return w->lp.ev;
}

/* On the worker's thread, after ev_run returned: true if it returned so that
 * the loop be replaced (trim_cb), which this did unless a connection arrived
 * in the same turn (run the loop again either way); false when the worker is
 * finished.  The worker thread loops on it; tests turning the loop call it. */
bool worker_loop_returned(struct worker *w);

/* From conn.c: a connection ended; its slot is free again. */
void worker_conn_closed(struct worker *w);

#endif
