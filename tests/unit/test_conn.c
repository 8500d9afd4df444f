/*
 * test_conn.c - the connection state machine (src/conn.c) with real parts
 * only: a configuration parsed from text, a generation holding the test
 * certificate (tests/fuzz/ec.pem, for fuzz.test and *.wild.test), a worker
 * from worker_new() whose libev loop the test turns itself (no worker
 * thread), an mbedTLS client over loopback TCP, and unix socket backends in
 * a temporary directory.  sh.ktls is false, as on a kernel without TLS: the
 * user-space fallback pump carries the data.  The client's SNI picks the
 * backend (routes in CONFIG).
 *
 * What can break, and what catches it:
 * - a connection not released at its end, or one of its sockets left open:
 *   every test ends with the worker empty, the process-wide count back at 0
 *   and as many descriptors open as before it (/proc/self/fd);
 * - the PROXY header or payload lost, duplicated or reordered: the backend
 *   reads the exact bytes, then EOF; the client reads the backend's reply;
 * - a timer armed too short or too long (handshake, connect, idle, reply
 *   linger):
 *   each end is timed from the test's side and must fall within
 *   [deadline - EARLY, deadline + LATE];
 * - traffic in either direction that does not push the idle deadline back;
 * - max_handshakes evicting another connection than the oldest handshake,
 *   or only one when a reload lowered the limit below those in progress;
 * - a backend that is down answered with anything but the 503 page over TLS,
 *   or the connection not lingering after it (or lingering on after the
 *   client left); a client that never reads the page not closed at
 *   idle_timeout;
 * - a unix backend with a full backlog answered at once instead of retried
 *   until its connect timeout, or not connected once room appears.
 *
 * The client comes over TCP, not a socketpair, for the PROXY header: on a
 * unix socket getpeername() has no address, and the header would say
 * UNKNOWN.  (conn.c's TCP_NODELAY, keepalive and TCP_CORK would merely fail,
 * unchecked, on a unix socket.)
 *
 * The test's loop sleeps between its turns, so ev_now() is stale when it
 * calls conn_start(): deadlines measured from the test's side also check
 * that conn_start() reads the clock afresh (as it must for the later
 * connections of a burst that accept_cb starts in one callback).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "config.h"
#include "conn.h"
#include "gen.h"
#include "log.h"
#include "tls.h"
#include "worker.h"

/* Seconds; the timeouts match CONFIG. */
#define HANDSHAKE_TIMEOUT 0.3
#define IDLE_TIMEOUT 0.4
#define CONNECT_TIMEOUT 0.3
#define LINGER 0.6      /* reply_linger, not its default of 2 s: the setting is read */
#define EARLY 0.02      /* a deadline may seem this much early (clock and loop granularity) */
#define LATE 0.25       /* ... or this much late, on a loaded machine */
#define WAIT_MAX 5.0    /* no wait in this test takes longer, unless something broke */

static const char CONFIG[] =
    "[global]\n"
    "max_handshakes = %u\n"
    "[frontend f]\n"
    "listen = 127.0.0.1:1\n"    /* never bound: the test hands sockets to conn_start() */
    "cert = %s/tests/fuzz/ec.pem %s/tests/fuzz/ec.key\n"
    "alpn = http/1.1\n"         /* so that a backend that is down gets the 503 page */
    "handshake_timeout = 300ms\n"
    "idle_timeout = 400ms\n"
    "reply_linger = 600ms\n"
    "session_tickets = no\n"
    "route = sni:refused.wild.test refused\n"
    "route = sni:gone.wild.test gone\n"
    "route = sni:full.wild.test full\n"
    "backend = up\n"
    "[backend up]\n"            /* listening, accepted by the test */
    "address = unix:%s/up.sock\n"
    "proxy_protocol = v1\n"
    "[backend refused]\n"       /* a socket file nobody listens on: ECONNREFUSED */
    "address = unix:%s/refused.sock\n"
    "[backend gone]\n"          /* no such file: ENOENT */
    "address = unix:%s/gone.sock\n"
    "[backend full]\n"          /* listen(fd, 0), its backlog filled by the test */
    "address = unix:%s/full.sock\n"
    "connect_timeout = 300ms\n"
    "[frontend slowreader]\n"  /* fe_index 1: a page bigger than the sockets can hold */
    "listen = 127.0.0.1:2\n"
    "cert = %s/tests/fuzz/ec.pem %s/tests/fuzz/ec.key\n"
    "alpn = http/1.1\n"
    "idle_timeout = 400ms\n"
    "session_tickets = no\n"
    "error_page = %s/big.page\n"
    "backend = refused\n";

#define BIG_PAGE (4u << 20)     /* bytes; loopback with a 4 KiB receive buffer holds far less */
#define SMALL_RCVBUF 4096

#define MAX_FILLERS 8

struct client {
    mbedtls_net_context net;    /* net.fd < 0: not in use */
    mbedtls_ssl_context ssl;
    double started;             /* when conn_start() got its socket */
};

struct rig {
    char dir[64];
    struct shared sh;
    struct worker *w;
    struct kp_gen *g;
    int lfd;                    /* loopback TCP listener the clients come through */
    int up, full;               /* the listening backends */
    int fillers[MAX_FILLERS];   /* connections that fill full's backlog */
    size_t n_fillers;
    int backend;                /* the proxy's connection, as the backend accepted it */
    struct client cl[3];
    int fds;                    /* descriptors open when the test begins */
};

/* The client's side of TLS, shared by every test. */
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static mbedtls_x509_crt ca;
static mbedtls_ssl_config client_conf;
static const char *alpn_offer[] = { "http/1.1", NULL };

static const char *top_srcdir(void)
{
    const char *top = getenv("top_srcdir");

    return top != NULL ? top : ".";
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- the worker's loop ---- */

/* One turn of the worker's loop, then a millisecond for the other side. */
static void turn(struct rig *r)
{
    struct timespec ms = { 0, 1000000 };

    ev_run(worker_loop(r->w), EVRUN_NOWAIT);
    nanosleep(&ms, NULL);
}

static void turn_until(struct rig *r, double when)
{
    while (now() < when)
        turn(r);
}

static unsigned n_conns(const struct rig *r)
{
    unsigned n = 0;

    for (const struct conn *c = r->w->conns; c != NULL; c = c->next)
        n++;
    return n;
}

/* Turn until the worker holds no connection; returns when that was seen. */
static double wait_released(struct rig *r)
{
    double end = now() + WAIT_MAX;

    while (r->w->conns != NULL) {
        if (now() > end)
            fail_msg("a connection is still open after %.0f s (state %d)", WAIT_MAX,
                     r->w->conns->state);
        turn(r);
    }
    return now();
}

/* Turn until the only connection reaches state s; returns when that was
 * seen.  The states of conn.h are numbered along each path, so a state
 * above s means the connection went another way. */
static double wait_state(struct rig *r, enum conn_state s)
{
    double end = now() + WAIT_MAX;

    for (;;) {
        assert_int_equal(n_conns(r), 1);
        if (r->w->conns->state == s)
            return now();
        if (r->w->conns->state > s || now() > end)
            fail_msg("connection in state %d, waiting for %d", r->w->conns->state, s);
        turn(r);
    }
}

static void assert_within(double elapsed, double deadline, const char *what)
{
    print_message("%s after %.3f s (%.3f s configured)\n", what, elapsed, deadline);
    if (elapsed < deadline - EARLY || elapsed > deadline + LATE)
        fail_msg("%s after %.3f s, expected %.3f s", what, elapsed, deadline);
}

/* The end of every test: nothing of any connection is left. */
static void assert_all_released(struct rig *r)
{
    wait_released(r);
    assert_int_equal(atomic_load(&r->sh.n_conns), 0);
    assert_int_equal(r->w->n_handshakes, 0);
    assert_null(r->w->hs_oldest);
    assert_null(r->w->hs_newest);
    assert_int_equal(count_fds(), r->fds);
}

/* ---- the client ---- */

/* A TCP connection through the loopback listener; the accepted end goes to
 * conn_start(), as accept_some() does with the process-wide slot taken. */
static struct client *client_new_on(struct rig *r, int i, const char *sni, size_t fe_index,
                                    int rcvbuf)
{
    struct client *cl = &r->cl[i];
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd, sfd;

    assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&a, &len), 0);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0) /* before connect(): it sets the window the client offers */
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, len), 0);
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    sfd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(sfd >= 0);
    cl->net.fd = fd;
    mbedtls_ssl_init(&cl->ssl);
    assert_int_equal(mbedtls_ssl_setup(&cl->ssl, &client_conf), 0);
    assert_int_equal(mbedtls_ssl_set_hostname(&cl->ssl, sni), 0);
    mbedtls_ssl_set_bio(&cl->ssl, &cl->net, mbedtls_net_send, mbedtls_net_recv, NULL);
    atomic_fetch_add(&r->sh.n_conns, 1);
    cl->started = now();
    conn_start(r->w, r->g, fe_index, sfd);
    return cl;
}

static struct client *client_new(struct rig *r, int i, const char *sni)
{
    return client_new_on(r, i, sni, 0, 0);
}

static void client_free(struct client *cl)
{
    if (cl->net.fd < 0)
        return;
    mbedtls_ssl_free(&cl->ssl);
    close(cl->net.fd);
    cl->net.fd = -1;
}

/* The client leaves: close_notify, then close(). */
static void client_close(struct client *cl)
{
    mbedtls_ssl_close_notify(&cl->ssl);
    client_free(cl);
}

static bool want_more(int ret)
{
    return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE;
}

static void client_handshake(struct rig *r, struct client *cl)
{
    double end = now() + WAIT_MAX;
    int ret;

    while (want_more(ret = mbedtls_ssl_handshake(&cl->ssl))) {
        assert_true(now() < end);
        turn(r);
    }
    assert_int_equal(ret, 0);
}

/* Step the client's handshake and the loop until the only connection is in
 * state s.  Returns when the turn that took it there began; *after, when it
 * ended: whatever that turn armed, it armed in between. */
static double handshake_to_state(struct rig *r, struct client *cl, enum conn_state s,
                                 double *after)
{
    double end = now() + WAIT_MAX, before;
    int ret = MBEDTLS_ERR_SSL_WANT_READ;

    for (;;) {
        if (want_more(ret))
            ret = mbedtls_ssl_handshake(&cl->ssl);
        assert_true(ret == 0 || want_more(ret));
        before = now();
        turn(r);
        if (n_conns(r) == 1 && r->w->conns->state == s) {
            *after = now();
            return before;
        }
        assert_true(now() < end);
    }
}

static void client_write(struct rig *r, struct client *cl, const char *text)
{
    size_t len = strlen(text), off = 0;
    double end = now() + WAIT_MAX;

    while (off < len) {
        int n = mbedtls_ssl_write(&cl->ssl, (const unsigned char *)text + off, len - off);
        if (n > 0)
            off += (size_t)n;
        else if (!want_more(n) || now() > end)
            fail_msg("client write: -0x%04x", (unsigned)-n);
        turn(r);
    }
}

/* What the client reads through TLS: exactly len bytes, or (until_close)
 * everything up to the server's close_notify.  Returns how many. */
static size_t client_read(struct rig *r, struct client *cl, unsigned char *buf, size_t len,
                          bool until_close)
{
    double end = now() + WAIT_MAX;
    size_t got = 0;

    while (got < len) {
        int n = mbedtls_ssl_read(&cl->ssl, buf + got, len - got);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY && until_close)
            return got;
        if (!want_more(n) || now() > end)
            fail_msg("client read after %zu bytes: -0x%04x", got, (unsigned)-n);
        turn(r);
    }
    if (until_close)
        fail_msg("no close_notify after %zu bytes", got);
    return got;
}

/* The client's socket is at its end: nothing more, then EOF. */
static void assert_client_eof(struct client *cl)
{
    char b;

    assert_int_equal(recv(cl->net.fd, &b, 1, 0), 0);
}

/* The client reads the whole 503 page, then close_notify and EOF. */
static void client_gets_503(struct rig *r, struct client *cl)
{
    unsigned char got[4096], page[4096];
    off_t page_len;
    int page_fd = gen_error_page(r->g, 0, &page_len);
    size_t n = client_read(r, cl, got, sizeof got, true);

    assert_int_equal(pread(page_fd, page, sizeof page, 0), page_len);
    assert_int_equal(n, (size_t)page_len);
    assert_memory_equal(got, page, n);
    assert_memory_equal(got, "HTTP/1.1 503 ", 13);
    assert_client_eof(cl);
}

/* ---- the backends ---- */

static void sock_path(const struct rig *r, const char *name, struct sockaddr_un *a)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s/%s.sock", r->dir, name);
}

/* A unix socket bound to DIR/name.sock; listening unless backlog < 0. */
static int unix_bound(const struct rig *r, const char *name, int backlog)
{
    struct sockaddr_un a;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    sock_path(r, name, &a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (backlog >= 0)
        assert_int_equal(listen(fd, backlog), 0);
    return fd;
}

/* The proxy's connection to a listening backend, accepted. */
static int backend_accept(struct rig *r, int lfd)
{
    double end = now() + WAIT_MAX;
    int fd;

    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
        assert_int_equal(errno, EAGAIN);
        assert_true(now() < end);
        turn(r);
    }
    return fd;
}

/* The test's end of the proxy's backend connection goes away. */
static void backend_close(struct rig *r)
{
    close(r->backend);
    r->backend = -1;
}

/* The backend reads exactly these bytes (len 0: EOF). */
static void backend_expect(struct rig *r, const void *want, size_t len)
{
    unsigned char buf[256];
    double end = now() + WAIT_MAX;
    size_t got = 0;
    ssize_t n;

    assert_true(len <= sizeof buf);
    for (;;) {
        n = read(r->backend, buf + got, len > got ? len - got : 1);
        if (n > 0 && (got += (size_t)n) < len)
            continue;
        if (n >= 0)
            break;
        assert_int_equal(errno, EAGAIN);
        assert_true(now() < end);
        turn(r);
    }
    assert_int_equal(got, len);
    assert_memory_equal(buf, want, len);
}

/* Connect to full.sock until its backlog says EAGAIN. */
static void fill_backlog(struct rig *r)
{
    struct sockaddr_un a;

    sock_path(r, "full", &a);
    while (r->n_fillers < MAX_FILLERS) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            assert_int_equal(errno, EAGAIN);
            close(fd);
            break;
        }
        r->fillers[r->n_fillers++] = fd;
    }
    assert_true(r->n_fillers > 0 && r->n_fillers < MAX_FILLERS);
}

/* The backend accepts the fillers and hangs up on them: room in the backlog. */
static void drain_backlog(struct rig *r)
{
    for (size_t i = 0; i < r->n_fillers; i++) {
        int fd = accept4(r->full, NULL, NULL, SOCK_CLOEXEC);
        assert_true(fd >= 0);
        close(fd);
        close(r->fillers[i]);
    }
    r->n_fillers = 0;
}

/* ---- set-up ---- */

/* DIR/big.page: a 503 response of BIG_PAGE bytes (the body is zeros). */
static void write_big_page(const struct rig *r)
{
    char path[128], head[128];
    int n = snprintf(head, sizeof head, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: "
                     "%u\r\nConnection: close\r\n\r\n", BIG_PAGE);
    int fd;

    snprintf(path, sizeof path, "%s/big.page", r->dir);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, head, (size_t)n), n);
    assert_int_equal(ftruncate(fd, (off_t)n + BIG_PAGE), 0);
    close(fd);
}

static int group_setup(void **state)
{
    char err[256], ca_file[1024];

    (void)state;
    log_init(KP_LOG_STDERR, KP_LOG_ERR);
    assert_int_equal(kp_tls_global_init(err, sizeof err), 0);
    snprintf(ca_file, sizeof ca_file, "%s/tests/fuzz/ec.pem", top_srcdir());
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&ca);
    mbedtls_ssl_config_init(&client_conf);
    assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0), 0);
    assert_int_equal(mbedtls_x509_crt_parse_file(&ca, ca_file), 0);
    assert_int_equal(mbedtls_ssl_config_defaults(&client_conf, MBEDTLS_SSL_IS_CLIENT,
                                                 MBEDTLS_SSL_TRANSPORT_STREAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT), 0);
    mbedtls_ssl_conf_authmode(&client_conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&client_conf, &ca, NULL);
    mbedtls_ssl_conf_rng(&client_conf, mbedtls_ctr_drbg_random, &drbg);
    assert_int_equal(mbedtls_ssl_conf_alpn_protocols(&client_conf, alpn_offer), 0);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    mbedtls_ssl_config_free(&client_conf);
    mbedtls_x509_crt_free(&ca);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return 0;
}

static int tcp_listener(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    return fd;
}

static struct kp_gen *load_gen(const struct rig *r, unsigned max_handshakes)
{
    const char *top = top_srcdir(), *d = r->dir;
    char text[4096], err[512];
    struct kp_config *cfg;
    struct kp_gen *g;
    int n = snprintf(text, sizeof text, CONFIG, max_handshakes, top, top, d, d, d, d, top, top, d);

    assert_true(n > 0 && (size_t)n < sizeof text);
    cfg = config_load_buffer("test.ini", text, (size_t)n, err, sizeof err);
    if (cfg == NULL)
        fail_msg("%s", err);
    g = gen_new(cfg, 1, NULL, err, sizeof err);
    if (g == NULL)
        fail_msg("%s", err);
    return g;
}

static int setup(void **state)
{
    struct rig *r = calloc(1, sizeof *r);
    char err[256];

    assert_non_null(r);
    snprintf(r->dir, sizeof r->dir, "/tmp/test_conn.XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    r->backend = -1;
    for (size_t i = 0; i < sizeof r->cl / sizeof r->cl[0]; i++)
        r->cl[i].net.fd = -1;
    r->lfd = tcp_listener();
    r->up = unix_bound(r, "up", 16);
    r->full = unix_bound(r, "full", 0);
    close(unix_bound(r, "refused", -1)); /* the file stays, nobody listens */
    write_big_page(r);
    r->g = load_gen(r, 2);
    atomic_init(&r->sh.gen, r->g);
    r->sh.ktls = false;
    r->sh.n_workers = 1;
    r->w = worker_new(0, &r->sh, err, sizeof err);
    if (r->w == NULL)
        fail_msg("%s", err);
    r->sh.workers = &r->w;
    r->fds = count_fds();
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    struct rig *r = *state;
    static const char *const socks[] = { "up", "full", "refused" };
    struct sockaddr_un a;

    while (r->w->conns != NULL)
        conn_close(r->w->conns, "test over");
    for (size_t i = 0; i < sizeof r->cl / sizeof r->cl[0]; i++)
        client_free(&r->cl[i]);
    for (size_t i = 0; i < r->n_fillers; i++)
        close(r->fillers[i]);
    if (r->backend >= 0)
        close(r->backend);
    worker_free(r->w);
    gen_unref(r->g);
    close(r->lfd);
    close(r->up);
    close(r->full);
    for (size_t i = 0; i < sizeof socks / sizeof socks[0]; i++) {
        sock_path(r, socks[i], &a);
        unlink(a.sun_path);
    }
    snprintf(a.sun_path, sizeof a.sun_path, "%s/big.page", r->dir);
    unlink(a.sun_path);
    rmdir(r->dir);
    free(r);
    return 0;
}

/* ---- the tests ---- */

/* HANDSHAKE -> CONNECTING -> PUMPING -> closed: the PROXY header, then the
 * client's bytes; the reply back through TLS; the client's end passed on as
 * a FIN, the backend's as close_notify and FIN; then nothing left. */
static void test_happy_path(void **state)
{
    struct rig *r = *state;
    struct client *cl = client_new(r, 0, "up.wild.test");
    struct sockaddr_in cli, srv;
    socklen_t len = sizeof cli;
    char want[128];
    unsigned char got[8];
    int n;

    client_handshake(r, cl);
    wait_state(r, CONN_PUMPING);
    r->backend = backend_accept(r, r->up);
    assert_int_equal(getsockname(cl->net.fd, (struct sockaddr *)&cli, &len), 0);
    len = sizeof srv;
    assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&srv, &len), 0);
    n = snprintf(want, sizeof want, "PROXY TCP4 127.0.0.1 127.0.0.1 %u %u\r\nhello",
                 ntohs(cli.sin_port), ntohs(srv.sin_port));
    client_write(r, cl, "hello");
    backend_expect(r, want, (size_t)n);
    assert_int_equal(write(r->backend, "world", 5), 5);
    assert_int_equal(client_read(r, cl, got, 5, false), 5);
    assert_memory_equal(got, "world", 5);

    mbedtls_ssl_close_notify(&cl->ssl);
    shutdown(cl->net.fd, SHUT_WR);
    backend_expect(r, "", 0);           /* the client's end, as a FIN */
    assert_int_equal(n_conns(r), 1);    /* the other direction still open */
    backend_close(r);
    wait_released(r);
    assert_int_equal(client_read(r, cl, got, sizeof got, true), 0);
    assert_client_eof(cl);
    client_free(cl);
    assert_all_released(r);
}

/* A connection arriving in the turn in which the idle worker asked to replace
 * its grown loop (trim_cb runs first, then the accept) keeps the old loop: its
 * watchers are on it (worker.c renew_loop).  It works, and once it has gone
 * the loop is replaced.  Replaced under it, the connection's watchers would
 * belong to a destroyed loop: the handshake would never finish. */
static void arrive_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)revents;
    ev_io_stop(loop, io);
    client_new(io->data, 0, "up.wild.test");
}

static void test_loop_kept_for_a_connection_of_the_same_turn(void **state)
{
    struct rig *r = *state;
    struct timespec past_trim = { 1, 200000000 }; /* TRIM_SECONDS (1 s) and a margin */
    struct ev_loop *old;
    unsigned char got[5];
    ev_io arrive;
    int p[2];

    /* As worker_start() would: the wake-up watcher is what tells trim_cb the
     * worker is not stopping.  Its eventfd is the worker's from now on. */
    ev_async_start(worker_loop(r->w), &r->w->wake);
    r->fds = count_fds();
    kp_loop_saw_fd(&r->w->lp, 4096); /* the loop watched fds this high: a peak */
    client_free(client_new(r, 0, "up.wild.test")); /* one that leaves at once */
    wait_released(r);                /* the worker is idle: trim is armed */
    nanosleep(&past_trim, NULL);     /* trim is due, unseen */
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    ev_io_init(&arrive, arrive_cb, p[0], EV_READ);
    arrive.data = r;
    ev_io_start(worker_loop(r->w), &arrive);
    old = worker_loop(r->w);
    ev_run(old, EVRUN_NOWAIT); /* libev calls the timer, then the fd watcher */
    close(p[0]);
    close(p[1]);
    assert_true(r->w->lp.renew);      /* trim_cb asked first ... */
    assert_int_equal(n_conns(r), 1);  /* ... and the connection came after it */
    assert_true(worker_loop_returned(r->w));
    assert_ptr_equal(worker_loop(r->w), old);
    assert_false(r->w->lp.renew);

    client_handshake(r, &r->cl[0]);
    wait_state(r, CONN_PUMPING);
    r->backend = backend_accept(r, r->up);
    assert_int_equal(write(r->backend, "world", 5), 5);
    assert_int_equal(client_read(r, &r->cl[0], got, 5, false), 5);
    assert_memory_equal(got, "world", 5);
    client_close(&r->cl[0]);
    backend_close(r);
    wait_released(r);
    turn_until(r, now() + past_trim.tv_sec + past_trim.tv_nsec / 1e9);
    assert_true(r->w->lp.renew);
    assert_true(worker_loop_returned(r->w));
    assert_true(worker_loop(r->w) != old);
    assert_all_released(r);
}

/* A client that sends nothing is closed at handshake_timeout, not before,
 * even when it is started late in a burst: the loop's clock then lags (here
 * by 0.2 s, as after a few slow handshake steps in one accept callback). */
static void test_handshake_timeout(void **state)
{
    struct rig *r = *state;
    struct client *cl;

    ev_now_update(worker_loop(r->w));
    usleep(200 * 1000);
    cl = client_new(r, 0, "up.wild.test");

    assert_within(wait_released(r) - cl->started, HANDSHAKE_TIMEOUT, "handshake timeout");
    assert_client_eof(cl);
    client_free(cl);
    assert_all_released(r);
}

/* max_handshakes = 2: a third client evicts the oldest handshake; the two
 * newer ones stay, and one of them still completes. */
static void test_max_handshakes_evicts_oldest(void **state)
{
    struct rig *r = *state;
    struct client *old = client_new(r, 0, "up.wild.test");
    struct client *mid = client_new(r, 1, "up.wild.test");
    struct client *young = client_new(r, 2, "up.wild.test");
    char b;

    assert_client_eof(old);
    assert_int_equal(recv(mid->net.fd, &b, 1, 0), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(recv(young->net.fd, &b, 1, 0), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(n_conns(r), 2);
    assert_int_equal(r->w->n_handshakes, 2);

    client_handshake(r, mid);
    r->backend = backend_accept(r, r->up);
    client_free(old);
    client_close(mid);
    client_free(young);     /* its handshake fails on EOF */
    backend_close(r);
    assert_all_released(r);
}

/* A reload lowered max_handshakes from 2 to 1 while two handshakes ran: the
 * next connection (of the new generation) evicts as many of the oldest as it
 * takes to be within the new limit, not just one. */
static void test_lowered_max_handshakes_enforced(void **state)
{
    struct rig *r = *state;
    struct client *old = client_new(r, 0, "up.wild.test");
    struct client *mid = client_new(r, 1, "up.wild.test");
    struct kp_gen *before = r->g;
    struct client *young;

    r->g = load_gen(r, 1);
    young = client_new(r, 2, "up.wild.test");
    assert_client_eof(old);
    assert_client_eof(mid);
    assert_int_equal(n_conns(r), 1);
    assert_int_equal(r->w->n_handshakes, 1);

    client_handshake(r, young);
    r->backend = backend_accept(r, r->up);
    client_free(old);
    client_free(mid);
    client_close(young);
    backend_close(r);
    wait_released(r);
    gen_unref(r->g); /* its error page's descriptor goes with it */
    r->g = before;
    assert_all_released(r);
}

/* CONNECTING -> REPLYING -> LINGERING -> closed: a backend that refuses
 * gets the client the 503 page over TLS; a client that stays is closed
 * after the linger time, not before. */
static void test_backend_refused_503_then_linger(void **state)
{
    struct rig *r = *state;
    struct client *cl = client_new(r, 0, "refused.wild.test");
    double replied;

    client_handshake(r, cl);
    client_gets_503(r, cl);
    replied = now();
    assert_int_equal(n_conns(r), 1);
    assert_int_equal(r->w->conns->state, CONN_LINGERING);
    assert_within(wait_released(r) - replied, LINGER, "linger");
    client_free(cl);
    assert_all_released(r);
}

/* CONNECTING -> REPLYING -> closed: a client that reads nothing of a 503
 * page larger than the sockets can buffer is closed idle_timeout after the
 * reply began, still in REPLYING: neither held for ever nor let linger. */
static void test_reply_timeout(void **state)
{
    struct rig *r = *state;
    struct client *cl = client_new_on(r, 0, "refused.wild.test", 1, SMALL_RCVBUF);
    double after, before = handshake_to_state(r, cl, CONN_REPLYING, &after);
    double ended;

    while (r->w->conns != NULL) {
        assert_int_equal(r->w->conns->state, CONN_REPLYING);
        if (now() > after + WAIT_MAX)
            fail_msg("still replying after %.0f s", WAIT_MAX);
        turn(r);
    }
    ended = now();
    /* The reply's timer was armed between before and after. */
    print_message("reply timeout after %.3f-%.3f s (%.3f s configured)\n", ended - after,
                  ended - before, IDLE_TIMEOUT);
    if (ended - before < IDLE_TIMEOUT - EARLY || ended - after > IDLE_TIMEOUT + LATE)
        fail_msg("reply timeout not at %.3f s", IDLE_TIMEOUT);
    client_free(cl);
    assert_all_released(r);
}

/* No socket file at all: the 503 too; a client that leaves while the
 * connection lingers ends it at once. */
static void test_backend_gone_client_leaves(void **state)
{
    struct rig *r = *state;
    struct client *cl = client_new(r, 0, "gone.wild.test");
    double replied;

    client_handshake(r, cl);
    client_gets_503(r, cl);
    replied = now();
    client_close(cl);
    assert_true(wait_released(r) - replied < LINGER / 4);
    assert_all_released(r);
}

/* A full unix backlog: connect() is tried again until the backend's connect
 * timeout, then the 503. */
static void test_backlog_full_until_timeout(void **state)
{
    struct rig *r = *state;
    struct client *cl;
    double connecting;

    fill_backlog(r);
    cl = client_new(r, 0, "full.wild.test");
    client_handshake(r, cl);
    connecting = wait_state(r, CONN_CONNECTING);
    assert_true(r->w->conns->backend_full);
    client_gets_503(r, cl);
    assert_within(now() - connecting, CONNECT_TIMEOUT, "503 for a full backlog");
    client_close(cl);
    wait_released(r);
    drain_backlog(r);
    assert_all_released(r);
}

/* A connection to the full backend pumps: the backend takes it, "hello"
 * reaches it (no PROXY header for this backend), the client's end reaches
 * it as EOF, and then nothing of the connection is left. */
static void full_backend_pumps(struct rig *r, struct client *cl)
{
    r->backend = backend_accept(r, r->full);
    client_write(r, cl, "hello");
    backend_expect(r, "hello", 5);      /* no PROXY header for this backend */
    client_close(cl);
    backend_expect(r, "", 0);
    backend_close(r);
    assert_all_released(r);
}

/* The backlog frees up before the connect timeout: the next try connects
 * and the bytes flow. */
static void test_backlog_frees_up(void **state)
{
    struct rig *r = *state;
    struct client *cl;
    double connecting;

    fill_backlog(r);
    cl = client_new(r, 0, "full.wild.test");
    client_handshake(r, cl);
    connecting = wait_state(r, CONN_CONNECTING);
    assert_true(r->w->conns->backend_full);
    turn_until(r, connecting + CONNECT_TIMEOUT / 3);
    assert_int_equal(r->w->conns->state, CONN_CONNECTING);
    drain_backlog(r);
    assert_true(wait_state(r, CONN_PUMPING) - connecting < CONNECT_TIMEOUT);
    full_backend_pumps(r, cl);
}

/* The worker was busy for longer than the connect timeout (here the test
 * sleeps) while the backend's connect completed: the connect's event and
 * the expired timer come in the same turn, the timer first.  The
 * connection must go on to pump, not answer 503. */
static void test_connected_while_busy(void **state)
{
    struct rig *r = *state;
    struct client *cl = client_new(r, 0, "full.wild.test");

    client_handshake(r, cl);
    wait_state(r, CONN_CONNECTING);
    assert_false(r->w->conns->backend_full);
    usleep((useconds_t)((CONNECT_TIMEOUT + 0.1) * 1e6));
    turn(r);
    assert_int_equal(n_conns(r), 1);
    assert_int_equal(r->w->conns->state, CONN_PUMPING);
    full_backend_pumps(r, cl);
}

/* PUMPING with nothing moving: closed at idle_timeout, not before. */
static void test_idle_timeout(void **state)
{
    struct rig *r = *state;
    struct client *cl = client_new(r, 0, "up.wild.test");
    double pumping;

    client_handshake(r, cl);
    pumping = wait_state(r, CONN_PUMPING);
    r->backend = backend_accept(r, r->up);
    assert_within(wait_released(r) - pumping, IDLE_TIMEOUT, "idle timeout");
    assert_client_eof(cl);
    client_free(cl);
    backend_close(r);
    assert_all_released(r);
}

/* Bytes in either direction push the idle deadline back. */
static void test_activity_defers_idle_timeout(void **state)
{
    struct rig *r = *state;
    struct client *cl = client_new(r, 0, "up.wild.test");
    unsigned char got[4];
    double pumping, last;

    client_handshake(r, cl);
    pumping = wait_state(r, CONN_PUMPING);
    r->backend = backend_accept(r, r->up);
    /* The backend need not read: moving the bytes into its socket is the activity. */
    turn_until(r, pumping + IDLE_TIMEOUT * 0.6);
    client_write(r, cl, "ping");
    turn_until(r, pumping + IDLE_TIMEOUT * 1.25);
    assert_int_equal(n_conns(r), 1);    /* the client's bytes moved the deadline */
    assert_int_equal(write(r->backend, "pong", 4), 4);
    assert_int_equal(client_read(r, cl, got, 4, false), 4);
    last = now();
    assert_within(wait_released(r) - last, IDLE_TIMEOUT, "idle timeout after the reply");
    client_free(cl);
    backend_close(r);
    assert_all_released(r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the daemon (main.c) */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_happy_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_handshakes_evicts_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lowered_max_handshakes_enforced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backend_refused_503_then_linger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backend_gone_client_leaves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backlog_full_until_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backlog_frees_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connected_while_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_activity_defers_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_kept_for_a_connection_of_the_same_turn, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
