/*
 * test_pump.c - the splice pump (src/pump.c, the kTLS data path) over real
 * socketpairs: the test holds the client's and the backend's far ends, the
 * pump the near ends, with a real pipe pool and libev loop.  What can break:
 * bytes lost or reordered when the destination is full (EAGAIN, partial
 * writes), a fill retried when the source is empty, the end of each
 * direction not passed on, a pipe that still holds bytes going back to the
 * pool, a dead destination not reported.
 *
 * On a plain socket (no kTLS) the close_notify the pump sends to the client
 * arrives as its two alert bytes {1, 0}: the record type, a control message
 * of level SOL_TLS, is ignored by AF_UNIX.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"
#include "pump.h"
#include "worker.h"

struct rig {
    struct worker w;
    struct kp_frontend fe;
    struct conn c;
    int client, backend; /* the far ends */
};

static void pair(int *near, int *far)
{
    int sv[2], small = 4096;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    /* small buffers: a few KiB fill them, so EAGAIN comes soon */
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    *near = sv[0];
    *far = sv[1];
}

static int setup(void **state)
{
    struct rig *r = calloc(1, sizeof *r);

    assert_non_null(r);
    assert_int_equal(kp_loop_init(&r->w.lp), 0);
    r->fe.name = "f";
    r->c.w = &r->w;
    r->c.fe = &r->fe;
    r->c.ktls = true;
    pair(&r->c.cfd, &r->client);
    pair(&r->c.bfd, &r->backend);
    pump_start(&r->c);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    struct rig *r = *state;

    pump_release(&r->c);
    pipe_pool_free(&r->w.pipes);
    close(r->c.cfd);
    close(r->c.bfd);
    close(r->client);
    close(r->backend);
    kp_loop_free(&r->w.lp);
    free(r);
    return 0;
}

static int run(struct rig *r, int rc, int rb)
{
    char reason[256] = "";
    int ret = pump_run(&r->c, rc, rb, reason, sizeof reason);

    if (ret < 0)
        print_message("pump_run: %s\n", reason);
    return ret;
}

/* Read what is there (non-blocking) into buf at *got. */
static void take(int fd, unsigned char *buf, size_t cap, size_t *got)
{
    ssize_t n;

    while (*got < cap && (n = read(fd, buf + *got, cap - *got)) > 0)
        *got += (size_t)n;
}

static void fill_pattern(unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i * 7 + i / 251);
}

/* More than the backend socket holds: the pump waits for EV_WRITE with the
 * rest in its pipe, and every byte arrives, in order, once the backend reads. */
static void test_backpressure_loses_nothing(void **state)
{
    struct rig *r = *state;
    enum { LEN = 200000 };
    unsigned char *in = malloc(LEN), *out = malloc(LEN);
    size_t sent = 0, got = 0;
    int rounds = 0;

    fill_pattern(in, LEN);
    while (got < LEN && rounds++ < 100000) {
        ssize_t n = sent < LEN ? write(r->client, in + sent, LEN - sent) : 0;
        if (n > 0)
            sent += (size_t)n;
        assert_int_equal(run(r, EV_READ, EV_WRITE), 0);
        if (r->c.c2b.pending > 0) {
            /* blocked on the backend: waits for it, holding its pipe */
            assert_true(r->c.c2b.want_b & EV_WRITE);
            assert_non_null(r->c.c2b.pipe);
        }
        take(r->backend, out, LEN, &got);
    }
    assert_int_equal(got, LEN);
    assert_memory_equal(in, out, LEN);
    assert_int_equal(r->c.c2b.bytes, LEN);
    /* all moved: the pipe went back to the pool, empty; a bulk transfer, so
     * the pipe was grown after the first full fill (pipe_pool.h) */
    assert_null(r->c.c2b.pipe);
    assert_int_equal(r->w.pipes.n_free_big, 1);
    assert_int_equal(r->w.pipes.n_free, 0);
    free(in);
    free(out);
}

/* After a fill that got less than it asked for (the source is most likely
 * empty), the direction waits for the loop instead of reading again: the
 * bytes are passed on, the pipe is given back, EV_READ is wanted. */
static void assert_waits_after_short_fill(const struct dir *d, int from_client)
{
    assert_false(d->done);
    assert_int_equal(d->pending, 0);
    assert_null(d->pipe);
    assert_true((from_client ? d->want_c : d->want_b) & EV_READ);
}

/* The client's end reaches the backend as a FIN; the other direction goes on. */
static void test_client_eof_half_closes(void **state)
{
    struct rig *r = *state;
    char buf[16];

    assert_int_equal(write(r->client, "last", 4), 4);
    shutdown(r->client, SHUT_WR);
    assert_int_equal(run(r, EV_READ, 0), 0);
    assert_waits_after_short_fill(&r->c.c2b, 1);
    assert_int_equal(read(r->backend, buf, sizeof buf), 4);
    /* the loop's next turn (level-triggered: the FIN is readable) */
    assert_int_equal(run(r, EV_READ, 0), 0);
    assert_true(r->c.c2b.done);
    assert_false(r->c.b2c.done);
    assert_int_equal(read(r->backend, buf, sizeof buf), 0); /* EOF */
    /* the backend still answers, and its end finishes the connection */
    assert_int_equal(write(r->backend, "reply", 5), 5);
    shutdown(r->backend, SHUT_WR);
    assert_int_equal(run(r, 0, EV_READ), 0);
    assert_waits_after_short_fill(&r->c.b2c, 0);
    assert_int_equal(run(r, 0, EV_READ), 1);
    assert_int_equal(read(r->client, buf, sizeof buf), 7);
    assert_memory_equal(buf, "reply\x01\x00", 7); /* then close_notify */
    assert_int_equal(read(r->client, buf, sizeof buf), 0);
}

/* The backend's end reaches the client as close_notify and a FIN. */
static void test_backend_eof_close_notify(void **state)
{
    struct rig *r = *state;
    char buf[16];

    shutdown(r->backend, SHUT_WR);
    assert_int_equal(run(r, 0, EV_READ), 0);
    assert_true(r->c.b2c.done);
    assert_false(r->c.c2b.done);
    assert_int_equal(read(r->client, buf, sizeof buf), 2);
    assert_memory_equal(buf, "\x01\x00", 2);
    assert_int_equal(read(r->client, buf, sizeof buf), 0);
}

/* A connection closed with bytes still in its pipe: the pipe is closed,
 * never pooled for another connection. */
static void test_pipe_with_bytes_not_pooled(void **state)
{
    struct rig *r = *state;
    unsigned char block[65536];
    int rfd, wfd;

    memset(block, 'x', sizeof block);
    /* the backend never reads: bytes stay in the pipe */
    for (int i = 0; i < 8 && r->c.c2b.pending == 0; i++) {
        if (write(r->client, block, sizeof block) < 0)
            assert_int_equal(errno, EAGAIN);
        assert_int_equal(run(r, EV_READ, 0), 0);
    }
    assert_true(r->c.c2b.pending > 0);
    assert_non_null(r->c.c2b.pipe);
    rfd = r->c.c2b.pipe->rfd;
    wfd = r->c.c2b.pipe->wfd;
    pump_release(&r->c);
    assert_null(r->c.c2b.pipe);
    assert_int_equal(r->w.pipes.n_free, 0);
    assert_int_equal(r->w.pipes.n_free_big, 0);
    assert_int_equal(fcntl(rfd, F_GETFD), -1);
    assert_int_equal(fcntl(wfd, F_GETFD), -1);
}

/* A backend that went away while bytes wait for it: a failure with a reason. */
static void test_dead_backend_fails(void **state)
{
    struct rig *r = *state;
    char reason[256] = "";

    close(r->backend);
    r->backend = open("/dev/null", O_RDONLY); /* teardown closes something */
    assert_int_equal(write(r->client, "data", 4), 4);
    assert_int_equal(pump_run(&r->c, EV_READ, 0, reason, sizeof reason), -1);
    assert_non_null(strstr(reason, "writing to the backend"));
}

/* Nothing to read on either side: the pump waits, holding no pipe. */
static void test_idle_holds_no_pipe(void **state)
{
    struct rig *r = *state;

    assert_int_equal(run(r, EV_READ, EV_READ), 0);
    assert_true(r->c.c2b.want_c & EV_READ);
    assert_true(r->c.b2c.want_b & EV_READ);
    assert_null(r->c.c2b.pipe);
    assert_null(r->c.b2c.pipe);
    assert_int_equal(r->w.pipes.n_free, 1); /* one pipe, tried both ways, pooled */
}

/* Transfers the size of a response (up to two records' worth per fill) keep
 * the default pipe: big ones are for bulk transfers. */
static void test_small_transfers_take_no_big_pipe(void **state)
{
    struct rig *r = *state;
    unsigned char in[16484], out[sizeof in];

    fill_pattern(in, sizeof in);
    for (int i = 0; i < 3; i++) {
        size_t got = 0;

        assert_int_equal(write(r->client, in, sizeof in), sizeof in);
        assert_int_equal(run(r, EV_READ, EV_WRITE), 0);
        take(r->backend, out, sizeof out, &got);
        assert_int_equal(got, sizeof in);
        assert_memory_equal(in, out, sizeof in);
    }
    assert_false(r->c.c2b.bulk);
    assert_int_equal(r->w.pipes.n_free, 1);
    assert_int_equal(r->w.pipes.n_free_big, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the daemon (main.c): splice has no MSG_NOSIGNAL */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backpressure_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_eof_half_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backend_eof_close_notify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipe_with_bytes_not_pooled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_backend_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_holds_no_pipe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_transfers_take_no_big_pipe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
