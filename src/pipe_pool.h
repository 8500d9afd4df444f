/*
 * pipe_pool.h - each worker's pool of idle pipes for splice().
 *
 * A connection takes a pipe only while bytes are in flight and gives it back
 * empty, so idle connections hold none and a busy worker reuses a few.  A
 * pipe that still holds bytes is closed, never reused: its bytes belong to
 * the connection that left them.  At most PIPE_POOL_MAX_IDLE wait in the
 * pool; more are closed.
 *
 * Linux charges every pipe's size to its user, and a user past
 * fs.pipe-user-pages-soft (16,384 pages: 1,024 pipes of 64 KiB) without
 * CAP_SYS_RESOURCE gets pipes of 2 pages.  Splicing through those cost
 * 18-67 % more CPU in the kTLS VM, so such a pipe is counted, reported with
 * the fix (once a minute per worker: the cause lasts), and closed when given
 * back, never pooled: the next pipe may be full-sized again once the user is
 * back under the limit.
 *
 * A bulk transfer (pump.c: a fill found more than two records' worth waiting)
 * asks for a big pipe: PIPE_BIG_SIZE, a quarter of the calls per byte (1 MiB
 * downloads: less daemon CPU in 22 of 24 rounds in the kTLS VM, bench/NOTES.md).
 * Growing is charged to the same budget, so the whole process keeps at most
 * PIPE_BIG_MAX big pipes (2,048 pages, an eighth of the default soft limit),
 * each worker at most PIPE_BIG_MAX_IDLE of them idle; past either bound, or
 * where the kernel refuses (EPERM: the user's budget), a transfer gets a pipe
 * of the default size.  Big pipes are never shrunk: they wait in a pool of
 * their own.
 */
#ifndef KP_PIPE_POOL_H
#define KP_PIPE_POOL_H

#include <time.h>

struct kp_pipe {
    int rfd, wfd;
    unsigned size;              /* bytes it holds at most (F_GETPIPE_SZ) */
    int full;                   /* the kernel gave it its default size */
    int big;                    /* grown to PIPE_BIG_SIZE (counts in PIPE_BIG_MAX) */
    struct kp_pipe *next;
};

#define PIPE_POOL_MAX_IDLE 64   /* idle pipes a worker keeps */
#define PIPE_BIG_SIZE (256u << 10)
#define PIPE_BIG_MAX 32         /* big pipes in the process, in use or idle */
#define PIPE_BIG_MAX_IDLE 8     /* idle big pipes a worker keeps */

#define PIPE_POOL_WARN_SECONDS 60

struct pipe_pool {
    struct kp_pipe *free, *free_big;
    unsigned n_free, n_free_big;
    unsigned n_small;           /* small pipes made since the last warning */
    time_t next_warning;        /* monotonic seconds */
};

/* An empty pipe from the pool, or a new one; NULL when none can be made.
 * bulk: a big one if the bounds allow (else one of the default size). */
struct kp_pipe *pipe_get(struct pipe_pool *pool, int bulk);
/* Give p back; empty says it holds no bytes (else it is closed). */
void pipe_put(struct pipe_pool *pool, struct kp_pipe *p, int empty);
/* Close every idle pipe. */
void pipe_pool_free(struct pipe_pool *pool);

#endif
