/*
 * test_loop.c - a libev loop replaced while another thread signals it
 * (src/loop.c): the replaced loop's tables go back to malloc, and
 * kp_loop_async_send never touches a destroyed loop.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

#define HIGH_FD 4000

static size_t in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

static void nothing(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

/* Watching fd 4000 grows libev's fd table to 4000 entries (16 bytes each
 * on amd64); replacing the loop gives them back. */
static void test_replace_gives_tables_back(void **state)
{
    struct kp_loop l;
    struct rlimit rl;
    int p[2];
    ev_io io;
    size_t grown, after;

    (void)state;
#ifdef __SANITIZE_ADDRESS__
    skip(); /* ASan's allocator is not glibc's: mallinfo2 does not see it */
#endif
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max <= HIGH_FD)
        skip();
    rl.rlim_cur = rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_int_equal(kp_loop_init(&l), 0);
    assert_false(kp_loop_grown(&l));
    assert_int_equal(pipe(p), 0);
    assert_int_equal(dup2(p[0], HIGH_FD), HIGH_FD);
    ev_io_init(&io, nothing, HIGH_FD, EV_READ);
    kp_loop_saw_fd(&l, HIGH_FD);
    ev_io_start(l.ev, &io);
    ev_run(l.ev, EVRUN_NOWAIT);
    ev_io_stop(l.ev, &io);
    ev_run(l.ev, EVRUN_NOWAIT);
    assert_true(kp_loop_grown(&l));
    grown = in_use();
    assert_true(kp_loop_replace(&l));
    after = in_use();
    assert_false(kp_loop_grown(&l));
    assert_true(grown > after + HIGH_FD * 12);
    kp_loop_free(&l);
    close(HIGH_FD);
    close(p[0]);
    close(p[1]);
}

struct race {
    struct kp_loop l;
    ev_async a;
    atomic_bool done;
    atomic_int wakes;
};

static void woken(struct ev_loop *loop, ev_async *a, int revents)
{
    struct race *r = a->data;

    (void)loop;
    (void)revents;
    atomic_fetch_add(&r->wakes, 1);
}

/* libev's allocator for the race: each block in pages of its own, made
 * inaccessible (never reused) when freed, so that a send into a destroyed
 * loop faults (libev itself is not built with ASan). */
static void *fault_after_free(void *ptr, long size)
{
    size_t *block = NULL;

    if (size > 0) {
        block = mmap(NULL, (size_t)size + 16, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (block == MAP_FAILED)
            return NULL;
        block[0] = (size_t)size;
        block += 2;
    }
    if (ptr != NULL) {
        size_t *old = (size_t *)ptr - 2;

        if (block != NULL)
            memcpy(block, ptr, old[0] < (size_t)size ? old[0] : (size_t)size);
        mprotect(old, old[0] + 16, PROT_NONE);
    }
    return block;
}

static void *sender(void *arg)
{
    struct race *r = arg;

    while (!atomic_load(&r->done))
        kp_loop_async_send(&r->l, &r->a);
    return NULL;
}

/* Another thread signals without pause while the loop is replaced again
 * and again: a send into a destroyed loop faults. */
static void test_send_while_replacing(void **state)
{
    struct race r = { .done = false, .wakes = 0 };
    pthread_t t;

    (void)state;
    ev_set_allocator(fault_after_free);
    assert_int_equal(kp_loop_init(&r.l), 0);
    ev_async_init(&r.a, woken);
    r.a.data = &r;
    ev_async_start(r.l.ev, &r.a);
    assert_int_equal(pthread_create(&t, NULL, sender, &r), 0);
    for (int i = 0; i < 2000; i++) {
        ev_run(r.l.ev, EVRUN_NOWAIT);
        ev_async_stop(r.l.ev, &r.a);
        assert_true(kp_loop_replace(&r.l));
        ev_async_start(r.l.ev, &r.a);
    }
    while (atomic_load(&r.wakes) == 0)
        ev_run(r.l.ev, EVRUN_ONCE);
    atomic_store(&r.done, true);
    pthread_join(t, NULL);
    ev_async_stop(r.l.ev, &r.a);
    kp_loop_free(&r.l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace_gives_tables_back),
        cmocka_unit_test(test_send_while_replacing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
