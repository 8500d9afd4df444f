/*
 * pipe_pool.c - the worker's idle splice pipes (see pipe_pool.h).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "pipe_pool.h"

#define PIPE_DEF_PAGES 16       /* the kernel's PIPE_DEF_BUFFERS */

/* Is the new pipe fd as big as Linux makes pipes for a user within budget? */
static int full_sized(struct pipe_pool *pool, int fd)
{
    long want = PIPE_DEF_PAGES * sysconf(_SC_PAGESIZE);
    int size = fcntl(fd, F_GETPIPE_SZ);
    struct timespec now;

    if (size < 0 || size >= want)
        return 1;
    pool->n_small++;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec >= pool->next_warning) {
        log_warn("new splice pipes got %d bytes, not %ld (%u since the last warning): uid %u "
                 "is past fs.pipe-user-pages-soft, which costs CPU per byte; raise that "
                 "sysctl (ktlsproxy(8), Pipes)", size, want, pool->n_small, (unsigned)geteuid());
        pool->n_small = 0;
        pool->next_warning = now.tv_sec + PIPE_POOL_WARN_SECONDS;
    }
    return 0;
}

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
    p->full = full_sized(pool, p->rfd);
    metrics_pipe_opened(p->full);
    return p;
}

/* A pipe that still holds bytes cannot be reused: close it.  So is one
 * smaller than the default (see pipe_pool.h). */
void pipe_put(struct pipe_pool *pool, struct kp_pipe *p, int empty)
{
    if (empty && p->full && pool->n_free < PIPE_POOL_MAX_IDLE) {
        p->next = pool->free;
        pool->free = p;
        pool->n_free++;
        return;
    }
    close(p->rfd);
    close(p->wfd);
    free(p);
    metrics_pipe_closed();
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
