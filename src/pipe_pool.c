/*
 * pipe_pool.c - the worker's idle splice pipes (see pipe_pool.h).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "pipe_pool.h"

struct kp_pipe *pipe_get(struct pipe_pool *pool)
{
    struct kp_pipe *p = pool->free;
    int fds[2];

    if (p != NULL) {
        pool->free = p->next;
        pool->n_free--;
        return p;
    }
    p = malloc(sizeof *p);
    if (p == NULL)
        return NULL;
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(p);
        return NULL;
    }
    p->rfd = fds[0];
    p->wfd = fds[1];
    return p;
}

/* A pipe that still holds bytes cannot be reused: close it. */
void pipe_put(struct pipe_pool *pool, struct kp_pipe *p, int empty)
{
    if (empty && pool->n_free < PIPE_POOL_MAX_IDLE) {
        p->next = pool->free;
        pool->free = p;
        pool->n_free++;
        return;
    }
    close(p->rfd);
    close(p->wfd);
    free(p);
}

void pipe_pool_free(struct pipe_pool *pool)
{
    while (pool->free != NULL) {
        struct kp_pipe *p = pool->free;
        pool->free = p->next;
        pool->n_free--;
        pipe_put(pool, p, 0);
    }
}
