/*
 * test_pipe_pool.c - the worker's pool of splice pipes (src/pipe_pool.c), with
 * real pipes: an empty pipe is kept for reuse, up to a bound; a pipe that
 * still holds bytes is closed, never handed to another connection.
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
    p = pipe_get(&pool);
    assert_non_null(p);
    /* a working, non-blocking pipe */
    assert_int_equal(write(p->wfd, &c, 1), 1);
    assert_int_equal(read(p->rfd, &c, 1), 1);
    assert_int_equal(read(p->rfd, &c, 1), -1);
    assert_int_equal(errno, EAGAIN);
    pipe_put(&pool, p, 1);
    assert_int_equal(pool.n_free, 1);
    q = pipe_get(&pool);
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
    p = pipe_get(&pool);
    assert_non_null(p);
    rfd = p->rfd, wfd = p->wfd;
    assert_int_equal(write(wfd, "stale", 5), 5);
    pipe_put(&pool, p, 0);
    assert_int_equal(pool.n_free, 0);
    assert_false(is_open(rfd));
    assert_false(is_open(wfd));
    /* the next pipe is a new one, and empty */
    q = pipe_get(&pool);
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
        p[i] = pipe_get(&pool);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_pipe_is_reused),
        cmocka_unit_test(test_dirty_pipe_is_closed),
        cmocka_unit_test(test_pool_is_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
