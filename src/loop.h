/*
 * loop.h - a libev loop that its thread can replace while other threads
 * signal it.  libev's tables grow with the highest fd watched (and the timer
 * heap, pending and epoll event arrays with the watchers) and never shrink;
 * after a peak of connections an idle thread replaces its loop to give that
 * memory back (worker.c, admin.c).
 */
#ifndef KP_LOOP_H
#define KP_LOOP_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>

struct kp_loop {
    struct ev_loop *ev;         /* read freely by its own thread only */
    pthread_mutex_t lock;       /* held while another thread signals ev */
    int high_fd;                /* the highest fd watched since ev was made */
    bool renew;                 /* the thread replaces ev once ev_run returns */
};

int kp_loop_init(struct kp_loop *l);
void kp_loop_free(struct kp_loop *l);
/* Note an fd about to be watched. */
void kp_loop_saw_fd(struct kp_loop *l, int fd);
/* Has the loop watched fds high enough for its tables to be worth giving back? */
bool kp_loop_grown(const struct kp_loop *l);
/* From any thread. */
void kp_loop_async_send(struct kp_loop *l, ev_async *a);
/* From the loop's thread, outside ev_run, with its watchers stopped: make a
 * new loop and destroy the old one; false (the old one stays) without
 * memory.  Either way, start the watchers again on l->ev. */
bool kp_loop_replace(struct kp_loop *l);

#endif
