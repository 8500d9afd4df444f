/*
 * test_reply.c - the "backend unavailable" replies (src/reply.c) on the
 * kTLS path, over a real socketpair: the test holds the client's end.  What
 * can break: a reply cut short or sent twice when the socket fills (EAGAIN
 * in the middle of sendfile), the wrong reply for the ALPN, no close_notify
 * or FIN after it, a drained client's pipe going back to the pool dirty.
 *
 * On a plain socket the close_notify arrives as its two alert bytes {1, 0}
 * (AF_UNIX ignores the SOL_TLS record type).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"
#include "gen.h"
#include "pump.h"
#include "reply.h"
#include "worker.h"

struct rig {
    struct worker w;
    struct kp_config cfg;
    struct kp_frontend fe;
    struct kp_gen gen;
    int page_fd;
    off_t page_len;
    struct conn c;
    int client; /* the far end */
};

static struct rig *rig_new(const char *alpn, char *error_page)
{
    struct rig *r = calloc(1, sizeof *r);
    char err[256];
    int sv[2], small = 4096;

    assert_non_null(r);
    r->cfg.file = "test.ini";
    r->fe.name = "f";
    r->fe.error_page = error_page;
    r->page_fd = reply_open_error_page(&r->cfg, &r->fe, &r->page_len, err, sizeof err);
    assert_true(r->page_fd >= 0);
    r->gen.error_page_fd = &r->page_fd;
    r->gen.error_page_len = &r->page_len;
    r->w.devnull = open("/dev/null", O_WRONLY);
    r->c.w = &r->w;
    r->c.gen = &r->gen;
    r->c.fe = &r->fe;
    r->c.ktls = true;
    r->c.alpn = alpn;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    r->c.cfd = sv[0];
    r->client = sv[1];
    return r;
}

static void rig_free(struct rig *r)
{
    pipe_pool_free(&r->w.pipes);
    close(r->c.cfd);
    close(r->client);
    close(r->page_fd);
    close(r->w.devnull);
    free(r);
}

/* Send the reply, reading the client's end as it goes; returns what the
 * client got up to EOF. */
static size_t reply_all(struct rig *r, unsigned char *out, size_t cap, int *rounds)
{
    char reason[256] = "";
    size_t got = 0;
    int done = 0;
    ssize_t n;

    for (*rounds = 0; *rounds < 10000; (*rounds)++) {
        if (!done) {
            int ret = reply_send(&r->c, reason, sizeof reason);
            if (ret < 0)
                fail_msg("reply_send: %s", reason);
            done = ret == 1;
        }
        while ((n = read(r->client, out + got, cap - got)) > 0)
            got += (size_t)n;
        if (n == 0)
            return got; /* EOF: the reply is complete */
        assert_int_equal(errno, EAGAIN);
    }
    fail_msg("no EOF after %d rounds", *rounds);
    return got;
}

static void test_http1_page_then_close_notify(void **state)
{
    struct rig *r = rig_new("http/1.1", NULL);
    unsigned char out[4096], page[4096];
    int rounds;
    size_t got = reply_all(r, out, sizeof out, &rounds);

    (void)state;
    assert_int_equal(pread(r->page_fd, page, sizeof page, 0), r->page_len);
    assert_int_equal(got, (size_t)r->page_len + 2);
    assert_memory_equal(out, page, (size_t)r->page_len);
    assert_memory_equal(out + r->page_len, "\x01\x00", 2);
    assert_memory_equal(out, "HTTP/1.1 503 ", 13);
    rig_free(r);
}

/* A page much larger than the socket holds: sent in many pieces, each byte
 * once, in order. */
static void test_big_page_in_pieces(void **state)
{
    char path[] = "/tmp/test_reply.XXXXXX";
    int fd = mkstemp(path), rounds;
    enum { LEN = 300000 };
    unsigned char *page = malloc(LEN), *out = malloc(LEN + 16);
    struct rig *r;
    size_t got;

    (void)state;
    for (size_t i = 0; i < LEN; i++)
        page[i] = (unsigned char)(i * 13 + i / 509);
    assert_int_equal(write(fd, page, LEN), LEN);
    close(fd);
    r = rig_new("http/1.1", path);
    got = reply_all(r, out, LEN + 16, &rounds);
    unlink(path);
    assert_true(rounds > 1); /* it did block on the way */
    assert_int_equal(got, LEN + 2);
    assert_memory_equal(out, page, LEN);
    assert_memory_equal(out + LEN, "\x01\x00", 2);
    rig_free(r);
    free(page);
    free(out);
}

static void test_h2_goaway(void **state)
{
    struct rig *r = rig_new("h2", NULL);
    unsigned char out[256];
    int rounds;
    size_t got = reply_all(r, out, sizeof out, &rounds);

    (void)state;
    /* SETTINGS (9 bytes), GOAWAY header (9) + 8 + debug data, close_notify */
    assert_int_equal(got, 9 + 9 + 8 + 19 + 2);
    assert_memory_equal(out, "\0\0\0\x04\0\0\0\0\0", 9);
    assert_int_equal(out[12], 0x7);
    assert_memory_equal(out + 26, "backend unavailable", 19);
    assert_memory_equal(out + got - 2, "\x01\x00", 2);
    rig_free(r);
}

static void test_no_alpn_just_close_notify(void **state)
{
    struct rig *r = rig_new(NULL, NULL);
    unsigned char out[64];
    int rounds;
    size_t got = reply_all(r, out, sizeof out, &rounds);

    (void)state;
    assert_int_equal(got, 2);
    assert_memory_equal(out, "\x01\x00", 2);
    rig_free(r);
}

/* What the client still sends is read and dropped until its end; the pipe
 * used for it goes back to the pool empty. */
static void test_drain_until_client_ends(void **state)
{
    struct rig *r = rig_new(NULL, NULL);
    char junk[1000];

    (void)state;
    memset(junk, 'j', sizeof junk);
    assert_int_equal(reply_drain(&r->c), 0); /* nothing yet: more may come */
    assert_int_equal(write(r->client, junk, sizeof junk), sizeof junk);
    assert_int_equal(reply_drain(&r->c), 0);
    shutdown(r->client, SHUT_WR);
    assert_int_equal(reply_drain(&r->c), 1);
    assert_int_equal(r->w.pipes.n_free, 1);
    {
        struct kp_pipe *p = pipe_get(&r->w.pipes, 0);
        char c;
        assert_int_equal(read(p->rfd, &c, 1), -1); /* empty */
        assert_int_equal(errno, EAGAIN);
        pipe_put(&r->w.pipes, p, 1);
    }
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http1_page_then_close_notify),
        cmocka_unit_test(test_big_page_in_pieces),
        cmocka_unit_test(test_h2_goaway),
        cmocka_unit_test(test_no_alpn_just_close_notify),
        cmocka_unit_test(test_drain_until_client_ends),
    };
    signal(SIGPIPE, SIG_IGN); /* as the daemon (main.c) */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
