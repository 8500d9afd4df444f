/*
 * test_pipe_pool.c - the worker's pool of splice pipes (src/pipe_pool.c), with
 * real pipes: an empty pipe is kept for reuse, up to a bound; a pipe that
 * still holds bytes is closed, never handed to another connection; bulk
 * transfers get big pipes, within the process's bound and each pool's.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipe_pool.h"

#define BOUND 64   /* POOL_MAX_IDLE in src/pump.c */

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

static void
test_empty_pipe_is_reused(void **state)
{
    struct pipe_pool pool = { 0 };
    struct kp_pipe *p, *q;
    char c = 'x';

    (void)state;
    p = pipe_get(&pool, 0);
    assert_non_null(p);
    /* a working, non-blocking pipe */
    assert_int_equal(write(p->wfd, &c, 1), 1);
    assert_int_equal(read(p->rfd, &c, 1), 1);
    assert_int_equal(read(p->rfd, &c, 1), -1);
    assert_int_equal(errno, EAGAIN);
    pipe_put(&pool, p, 1);
    assert_int_equal(pool.n_free, 1);
    q = pipe_get(&pool, 0);
    assert_ptr_equal(q, p);
    assert_int_equal(pool.n_free, 0);
    pipe_put(&pool, q, 1);
    pipe_pool_free(&pool);
    assert_int_equal(pool.n_free, 0);
    assert_null(pool.free);
}

static void
test_dirty_pipe_is_closed(void **state)
{
    struct pipe_pool pool = { 0 };
    struct kp_pipe *p, *q;
    int rfd, wfd;

    (void)state;
    p = pipe_get(&pool, 0);
    assert_non_null(p);
    rfd = p->rfd, wfd = p->wfd;
    assert_int_equal(write(wfd, "stale", 5), 5);
    pipe_put(&pool, p, 0);
    assert_int_equal(pool.n_free, 0);
    assert_false(is_open(rfd));
    assert_false(is_open(wfd));
    /* the next pipe is a new one, and empty */
    q = pipe_get(&pool, 0);
    assert_non_null(q);
    {
        char c;
        assert_int_equal(read(q->rfd, &c, 1), -1);
        assert_int_equal(errno, EAGAIN);
    }
    pipe_put(&pool, q, 1);
    pipe_pool_free(&pool);
}

static void
test_pool_is_bounded(void **state)
{
    struct pipe_pool pool = { 0 };
    struct kp_pipe *p[BOUND + 8];
    int last_r, last_w;

    (void)state;
    for (int i = 0; i < BOUND + 8; i++) {
        p[i] = pipe_get(&pool, 0);
        assert_non_null(p[i]);
    }
    last_r = p[BOUND + 7]->rfd, last_w = p[BOUND + 7]->wfd;
    for (int i = 0; i < BOUND + 8; i++)
        pipe_put(&pool, p[i], 1);
    assert_int_equal(pool.n_free, BOUND);
    /* beyond the bound, empty pipes are closed too */
    assert_false(is_open(last_r));
    assert_false(is_open(last_w));
    pipe_pool_free(&pool);
    assert_int_equal(pool.n_free, 0);
}

/* Fill p without blocking; the bytes it took. */
static size_t fill(struct kp_pipe *p)
{
    static char chunk[65536];
    size_t total = 0;
    ssize_t n;

    while ((n = write(p->wfd, chunk, sizeof chunk)) > 0)
        total += (size_t)n;
    assert_int_equal(errno, EAGAIN);
    return total;
}

static void empty(struct kp_pipe *p)
{
    static char chunk[65536];

    while (read(p->rfd, chunk, sizeof chunk) > 0)
        ;
}

static void
test_bulk_gets_a_big_pipe(void **state)
{
    struct pipe_pool pool = { 0 };
    struct kp_pipe *big, *small, *again;

    (void)state;
    big = pipe_get(&pool, 1);
    assert_non_null(big);
    assert_true(big->big);
    assert_int_equal(big->size, PIPE_BIG_SIZE);
    assert_int_equal(fcntl(big->rfd, F_GETPIPE_SZ), PIPE_BIG_SIZE);
    assert_int_equal(fill(big), PIPE_BIG_SIZE);
    empty(big);
    pipe_put(&pool, big, 1);
    assert_int_equal(pool.n_free_big, 1);
    assert_int_equal(pool.n_free, 0);
    /* a transfer that is not bulk gets a pipe of the default size */
    small = pipe_get(&pool, 0);
    assert_ptr_not_equal(small, big);
    assert_false(small->big);
    assert_int_equal(small->size, 65536);
    assert_int_equal(fill(small), 65536);
    empty(small);
    /* the next bulk one reuses the big pipe */
    again = pipe_get(&pool, 1);
    assert_ptr_equal(again, big);
    pipe_put(&pool, again, 1);
    pipe_put(&pool, small, 1);
    pipe_pool_free(&pool);
    assert_int_equal(pool.n_free_big, 0);
    assert_null(pool.free_big);
}

/* PIPE_BIG_MAX in the process (two workers here), PIPE_BIG_MAX_IDLE idle in
 * each; past the first a bulk transfer gets a default pipe, and a big pipe
 * closed (dirty, or past the idle bound) gives its place back. */
static void
test_big_pipes_are_bounded(void **state)
{
    struct pipe_pool w1 = { 0 }, w2 = { 0 };
    struct kp_pipe *p[PIPE_BIG_MAX], *over, *dirty;
    int rfd, wfd;

    (void)state;
    for (int i = 0; i < PIPE_BIG_MAX; i++) {
        p[i] = pipe_get(i % 2 ? &w2 : &w1, 1);
        assert_non_null(p[i]);
        assert_true(p[i]->big);
    }
    over = pipe_get(&w2, 1);
    assert_non_null(over);
    assert_false(over->big);
    assert_int_equal(fcntl(over->rfd, F_GETPIPE_SZ), 65536);
    pipe_put(&w2, over, 1);
    /* a dirty big pipe is closed; its place goes to the next bulk transfer */
    dirty = p[0];
    rfd = dirty->rfd, wfd = dirty->wfd;
    assert_int_equal(write(wfd, "stale", 5), 5);
    pipe_put(&w1, dirty, 0);
    assert_false(is_open(rfd));
    assert_false(is_open(wfd));
    p[0] = pipe_get(&w2, 1);
    assert_true(p[0]->big);
    assert_ptr_equal(p[0], over); /* the default pipe from w2's pool, grown */
    assert_int_equal(fcntl(p[0]->rfd, F_GETPIPE_SZ), PIPE_BIG_SIZE);
    /* given back empty: each pool keeps PIPE_BIG_MAX_IDLE, closes the rest */
    for (int i = 0; i < PIPE_BIG_MAX; i++)
        pipe_put(i % 2 ? &w2 : &w1, p[i], 1);
    assert_int_equal(w1.n_free_big, PIPE_BIG_MAX_IDLE);
    assert_int_equal(w2.n_free_big, PIPE_BIG_MAX_IDLE);
    /* the places closed are free again: a third worker grows up to the rest */
    {
        struct pipe_pool w3 = { 0 };
        struct kp_pipe *q[PIPE_BIG_MAX];
        int n = PIPE_BIG_MAX - 2 * PIPE_BIG_MAX_IDLE;

        for (int i = 0; i < n; i++) {
            q[i] = pipe_get(&w3, 1);
            assert_true(q[i]->big);
        }
        over = pipe_get(&w3, 1);
        assert_false(over->big);
        pipe_put(&w3, over, 1);
        for (int i = 0; i < n; i++)
            pipe_put(&w3, q[i], 1);
        pipe_pool_free(&w3);
    }
    pipe_pool_free(&w1);
    pipe_pool_free(&w2);
    /* all closed: every place is free */
    for (int i = 0; i < PIPE_BIG_MAX; i++) {
        p[i] = pipe_get(&w1, 1);
        assert_true(p[i]->big);
    }
    for (int i = 0; i < PIPE_BIG_MAX; i++)
        pipe_put(&w1, p[i], 0);
    pipe_pool_free(&w1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_pipe_is_reused),
        cmocka_unit_test(test_dirty_pipe_is_closed),
        cmocka_unit_test(test_pool_is_bounded),
        cmocka_unit_test(test_bulk_gets_a_big_pipe),
        cmocka_unit_test(test_big_pipes_are_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
