/*
 * loop.c - a libev loop its thread can replace (see loop.h).
 */
#include <malloc.h>

#include "loop.h"

/* Below this libev's tables for a loop are a few tens of kB at most. */
#define GROWN_FD 512
#define FLAGS (EVFLAG_AUTO | EVFLAG_NOSIGMASK)

int kp_loop_init(struct kp_loop *l)
{
    l->high_fd = 0;
    l->renew = false;
    if ((l->ev = ev_loop_new(FLAGS)) == NULL)
        return -1;
    pthread_mutex_init(&l->lock, NULL);
    return 0;
}

/* Also for one kp_loop_init failed on, or never saw if zeroed. */
void kp_loop_free(struct kp_loop *l)
{
    if (l->ev == NULL)
        return;
    ev_loop_destroy(l->ev);
    l->ev = NULL;
    pthread_mutex_destroy(&l->lock);
}

void kp_loop_saw_fd(struct kp_loop *l, int fd)
{
    if (fd > l->high_fd)
        l->high_fd = fd;
}

bool kp_loop_grown(const struct kp_loop *l)
{
    return l->high_fd >= GROWN_FD;
}

void kp_loop_async_send(struct kp_loop *l, ev_async *a)
{
    pthread_mutex_lock(&l->lock);
    ev_async_send(l->ev, a);
    pthread_mutex_unlock(&l->lock);
}

/* The old loop's memory goes back to malloc, and malloc's free pages to the
 * system (malloc keeps them otherwise). */
bool kp_loop_replace(struct kp_loop *l)
{
    struct ev_loop *old = l->ev, *fresh = ev_loop_new(FLAGS);

    if (fresh == NULL)
        return false;
    pthread_mutex_lock(&l->lock);
    l->ev = fresh;
    pthread_mutex_unlock(&l->lock);
    ev_loop_destroy(old);
    l->high_fd = 0;
    malloc_trim(0);
    return true;
}
