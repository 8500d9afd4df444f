/*
 * pipe_pool.c - the worker's idle splice pipes (see pipe_pool.h).
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "pipe_pool.h"

#define PIPE_DEF_PAGES 16       /* the kernel's PIPE_DEF_BUFFERS */

static atomic_uint big_pipes;   /* in the process: the bound is PIPE_BIG_MAX */

/* Is a new pipe of size bytes as big as Linux makes pipes for a user within
 * budget? */
static int full_sized(struct pipe_pool *pool, int size)
{
    long want = PIPE_DEF_PAGES * sysconf(_SC_PAGESIZE);
    struct timespec now;

    if (size >= want)
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

static struct kp_pipe *pop(struct kp_pipe **list, unsigned *n)
{
    struct kp_pipe *p = *list;

    if (p != NULL) {
        *list = p->next;
        (*n)--;
    }
    return p;
}

static void push(struct kp_pipe **list, unsigned *n, struct kp_pipe *p)
{
    p->next = *list;
    *list = p;
    (*n)++;
}

static struct kp_pipe *pipe_new(struct pipe_pool *pool)
{
    struct kp_pipe *p = malloc(sizeof *p);
    int fds[2], size;

    if (p == NULL)
        return NULL;
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(p);
        return NULL;
    }
    p->rfd = fds[0];
    p->wfd = fds[1];
    size = fcntl(p->rfd, F_GETPIPE_SZ);
    p->size = size > 0 ? (unsigned)size : 4096; /* cannot fail on a pipe; at least a page */
    p->full = full_sized(pool, size);
    p->big = 0;
    metrics_pipe_opened(p->full);
    return p;
}

/* Make p big if the process has a big pipe to spare and the kernel agrees
 * (EPERM: the user is near fs.pipe-user-pages-soft; p stays as it was). */
static void grow(struct kp_pipe *p)
{
    int size;

    if (atomic_fetch_add(&big_pipes, 1) >= PIPE_BIG_MAX ||
        (size = fcntl(p->wfd, F_SETPIPE_SZ, (int)PIPE_BIG_SIZE)) < 0) {
        atomic_fetch_sub(&big_pipes, 1);
        return;
    }
    p->size = (unsigned)size;
    p->big = 1;
    metrics_pipe_grown();
}

struct kp_pipe *pipe_get(struct pipe_pool *pool, int bulk)
{
    struct kp_pipe *p = NULL;

    if (bulk)
        p = pop(&pool->free_big, &pool->n_free_big);
    if (p == NULL)
        p = pop(&pool->free, &pool->n_free);
    if (p == NULL)
        p = pipe_new(pool);
    if (p != NULL && bulk && !p->big && p->full)
        grow(p);
    return p;
}

/* A pipe that still holds bytes cannot be reused: close it.  So is one
 * smaller than the default (see pipe_pool.h). */
void pipe_put(struct pipe_pool *pool, struct kp_pipe *p, int empty)
{
    if (empty && p->big && pool->n_free_big < PIPE_BIG_MAX_IDLE) {
        push(&pool->free_big, &pool->n_free_big, p);
        return;
    }
    if (empty && p->full && !p->big && pool->n_free < PIPE_POOL_MAX_IDLE) {
        push(&pool->free, &pool->n_free, p);
        return;
    }
    if (p->big) {
        atomic_fetch_sub(&big_pipes, 1);
        metrics_big_pipe_closed();
    }
    close(p->rfd);
    close(p->wfd);
    free(p);
    metrics_pipe_closed();
}

void pipe_pool_free(struct pipe_pool *pool)
{
    struct kp_pipe *p;

    while ((p = pop(&pool->free, &pool->n_free)) != NULL ||
           (p = pop(&pool->free_big, &pool->n_free_big)) != NULL)
        pipe_put(pool, p, 0);
}
