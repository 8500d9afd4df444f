/*
 * pipe_pool.h - each worker's pool of idle pipes for splice().
 *
 * A connection takes a pipe only while bytes are in flight and gives it back
 * empty, so idle connections hold none and a busy worker reuses a few.  A
 * pipe that still holds bytes is closed, never reused: its bytes belong to
 * the connection that left them.  At most PIPE_POOL_MAX_IDLE wait in the
 * pool; more are closed.
 */
#ifndef KP_PIPE_POOL_H
#define KP_PIPE_POOL_H

struct kp_pipe {
    int rfd, wfd;
    struct kp_pipe *next;
};

#define PIPE_POOL_MAX_IDLE 64   /* idle pipes a worker keeps */

struct pipe_pool {
    struct kp_pipe *free;
    unsigned n_free;
};

/* An empty pipe from the pool, or a new one; NULL when none can be made. */
struct kp_pipe *pipe_get(struct pipe_pool *pool);
/* Give p back; empty says it holds no bytes (else it is closed). */
void pipe_put(struct pipe_pool *pool, struct kp_pipe *p, int empty);
/* Close every idle pipe. */
void pipe_pool_free(struct pipe_pool *pool);

#endif
