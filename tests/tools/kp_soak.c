/*
 * kp_soak - the load generator and backend of tests/integration/soak.sh.
 *
 *   kp_soak serve HOST:PORT
 *       An echo backend for any number of connections (one epoll loop, no
 *       process per connection as kp_backend has).
 *   kp_soak hold HOST:PORT CA N PROCS READY
 *       PROCS processes open N connections between them (handshake, one
 *       echoed request), keep them open and idle, write "N" to READY when all
 *       are up, and close them all on SIGTERM.
 *   kp_soak churn HOST:PORT CA N PROCS RATE FULL_EVERY
 *       PROCS processes run N connections between them at RATE per second in
 *       all (handshake, one echoed request, close_notify, close).  TLS 1.2 and
 *       1.3 alternate; every FULL_EVERY-th connection of each version is a
 *       full handshake (ECDHE, certificate verified), the others resume the
 *       last full handshake's session from its ticket: TLS 1.2 abbreviated,
 *       TLS 1.3 psk_ke only (no ECDHE), so a server that does not resume
 *       fails them.  The verify callback counts certificates: a resumed
 *       handshake that verified one is counted as not resumed.
 *
 * Each line of output is "key value" for the test to read; exit status 0
 * only if every connection worked as asked.  Every socket has a 60 s
 * timeout, so nothing hangs for ever.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#define REQUEST "soak\n"
#define TIMEOUT_S 60

static struct sockaddr_in addr;

static void die(const char *what)
{
    fprintf(stderr, "kp_soak: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void parse_addr(const char *s)
{
    char host[64];
    const char *colon = strrchr(s, ':');

    if (colon == NULL || (size_t)(colon - s) >= sizeof host) {
        fprintf(stderr, "kp_soak: want HOST:PORT, not %s\n", s);
        exit(2);
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "kp_soak: bad address %s\n", host);
        exit(2);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- serve: echo ---- */

__attribute__((noreturn)) static void serve(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN }, evs[256];
    char buf[4096];

    if (lfd < 0 || ep < 0)
        die("socket");
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 4096) != 0)
        die("bind/listen");
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (;;) { /* until killed */
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            ssize_t r;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            r = read(fd, buf, sizeof buf);
            /* Requests are a few bytes: the echo always fits the socket. */
            if (r > 0 && write(fd, buf, (size_t)r) == r)
                continue;
            if (r < 0 && errno == EAGAIN)
                continue;
            close(fd); /* also leaves the epoll set */
        }
    }
}

/* ---- the TLS client ---- */

struct client {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_ssl_config full[2], resume[2]; /* [0] TLS 1.2, [1] TLS 1.3 */
    mbedtls_ssl_session saved[2];
    int have_saved[2];
};

struct counts {
    unsigned long ok, failed, full[2], resumed[2], not_resumed;
};

static int count_certs(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    (void)crt, (void)flags;
    if (depth == 0)
        (*(int *)arg)++;
    return 0;
}

static void conf_one(struct client *cl, mbedtls_ssl_config *conf, int v13, int psk_only)
{
    mbedtls_ssl_protocol_version v = v13 ? MBEDTLS_SSL_VERSION_TLS1_3 : MBEDTLS_SSL_VERSION_TLS1_2;

    mbedtls_ssl_config_init(conf);
    if (mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
        fprintf(stderr, "kp_soak: mbedtls_ssl_config_defaults failed\n");
        exit(2);
    }
    mbedtls_ssl_conf_min_tls_version(conf, v);
    mbedtls_ssl_conf_max_tls_version(conf, v);
    mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(conf, &cl->ca, NULL);
    mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &cl->drbg);
    mbedtls_ssl_conf_session_tickets(conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
    mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
        conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
    /* A full handshake offers psk_ke too (with no session set, no PSK is
     * sent): mbedTLS drops the tickets of a client that allows no PSK. */
    mbedtls_ssl_conf_tls13_key_exchange_modes(
        conf, psk_only ? MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK
                       : MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK |
                             MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL);
}

static void client_init(struct client *cl, const char *ca)
{
    memset(cl, 0, sizeof *cl);
    psa_crypto_init();
    mbedtls_entropy_init(&cl->entropy);
    mbedtls_ctr_drbg_init(&cl->drbg);
    mbedtls_x509_crt_init(&cl->ca);
    if (mbedtls_ctr_drbg_seed(&cl->drbg, mbedtls_entropy_func, &cl->entropy, NULL, 0) != 0 ||
        mbedtls_x509_crt_parse_file(&cl->ca, ca) != 0) {
        fprintf(stderr, "kp_soak: cannot seed the DRBG or read %s\n", ca);
        exit(2);
    }
    for (int v = 0; v < 2; v++) {
        conf_one(cl, &cl->full[v], v, 0);
        conf_one(cl, &cl->resume[v], v, 1);
        mbedtls_ssl_session_init(&cl->saved[v]);
    }
}

static int tcp_connect(void)
{
    struct timeval tv = { TIMEOUT_S, 0 };
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0)
        return -1;
    /* The Finished and the request go out as two writes: without this the
     * request waits for the delayed ACK (40 ms a connection). */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read the echo; a TLS 1.3 NewSessionTicket on the way is saved when asked. */
static int read_echo(struct client *cl, mbedtls_ssl_context *ssl, int v13, int save)
{
    unsigned char buf[sizeof REQUEST];
    size_t got = 0;

    while (got < sizeof REQUEST - 1) {
        int n = mbedtls_ssl_read(ssl, buf + got, sizeof REQUEST - 1 - got);
        if (n == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            if (save && mbedtls_ssl_get_session(ssl, &cl->saved[v13]) == 0)
                cl->have_saved[v13] = 1;
            continue;
        }
        if (n == MBEDTLS_ERR_SSL_WANT_READ) /* after a post-handshake message */
            continue;
        if (n <= 0)
            return n < 0 ? n : -1;
        got += (size_t)n;
    }
    return memcmp(buf, REQUEST, got) == 0 ? 0 : -1;
}

/* One connection: handshake (full or resumed), one echoed request.  Returns
 * the socket (the TLS context is gone: a held connection stays idle), or -1. */
static int one_conn(struct client *cl, struct counts *k, int v13, int full, int close_it)
{
    mbedtls_ssl_context ssl;
    int fd, certs = 0, ret = -1, step = 0, err = 0;

    if (!full && !cl->have_saved[v13])
        full = 1;
    if ((fd = tcp_connect()) < 0) {
        k->failed++;
        return -1;
    }
    mbedtls_ssl_init(&ssl);
    if (mbedtls_ssl_setup(&ssl, full ? &cl->full[v13] : &cl->resume[v13]) != 0 ||
        mbedtls_ssl_set_hostname(&ssl, "localhost") != 0 ||
        (!full && mbedtls_ssl_set_session(&ssl, &cl->saved[v13]) != 0))
        goto out;
    mbedtls_ssl_set_verify(&ssl, count_certs, &certs);
    mbedtls_ssl_set_bio(&ssl, &fd, mbedtls_net_send, mbedtls_net_recv, NULL);
    step = 1;
    if ((err = mbedtls_ssl_handshake(&ssl)) != 0)
        goto out;
    if (full && !v13 && mbedtls_ssl_get_session(&ssl, &cl->saved[0]) == 0)
        cl->have_saved[0] = 1;
    step = 2;
    if ((err = mbedtls_ssl_write(&ssl, (const unsigned char *)REQUEST, sizeof REQUEST - 1)) !=
        (int)sizeof REQUEST - 1)
        goto out;
    step = 3;
    if ((err = read_echo(cl, &ssl, v13, full && v13)) != 0)
        goto out;
    if (close_it)
        mbedtls_ssl_close_notify(&ssl);
    ret = 0;
out:
    mbedtls_ssl_free(&ssl);
    if (ret != 0) {
        if (k->failed < 3) /* the first few say why */
            fprintf(stderr, "kp_soak: TLS 1.%d %s connection failed at step %d (%s): -0x%04x\n",
                    2 + v13, full ? "full" : "resumed", step,
                    step == 1 ? "handshake" : step == 2 ? "write" : step == 3 ? "read" : "setup",
                    (unsigned)-err);
        k->failed++;
        close(fd);
        return -1;
    }
    k->ok++;
    if (full)
        k->full[v13]++;
    else if (certs == 0)
        k->resumed[v13]++;
    else
        k->not_resumed++;
    if (close_it) {
        close(fd);
        return 0;
    }
    return fd;
}

/* ---- the processes ---- */

static void report(const struct counts *k, FILE *f)
{
    fprintf(f, "ok %lu\nfailed %lu\nfull12 %lu\nfull13 %lu\nresumed12 %lu\nresumed13 %lu\n"
            "not_resumed %lu\n", k->ok, k->failed, k->full[0], k->full[1], k->resumed[0],
            k->resumed[1], k->not_resumed);
}

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

/* Child of hold: n connections, then a line to the parent, then wait. */
static void hold_child(const char *ca, unsigned long n, int out)
{
    struct client cl;
    struct counts k = { 0 };
    int *fds = calloc(n, sizeof *fds);
    char line[512];
    FILE *f = fmemopen(line, sizeof line, "w");

    client_init(&cl, ca);
    for (unsigned long i = 0; i < n && !stop; i++)
        fds[i] = one_conn(&cl, &k, (int)(i & 1), i < 2, 0);
    report(&k, f);
    fclose(f);
    if (write(out, line, strlen(line)) < 0)
        exit(2);
    close(out);
    while (!stop)
        pause();
    for (unsigned long i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    exit(k.failed ? 1 : 0);
}

/* Child of churn: n connections at rate per second. */
static void churn_child(const char *ca, unsigned long n, double rate, unsigned long full_every,
                        int out)
{
    struct client cl;
    struct counts k = { 0 };
    double t0 = now(), lag = 0;
    char line[512];
    FILE *f = fmemopen(line, sizeof line, "w");

    client_init(&cl, ca);
    for (unsigned long i = 0; i < n; i++) {
        double due = t0 + (double)i / rate, t = now();
        if (t < due)
            usleep((useconds_t)((due - t) * 1e6));
        else if (t - due > lag)
            lag = t - due;
        one_conn(&cl, &k, (int)(i & 1), (i >> 1) % full_every == 0, 1);
    }
    report(&k, f);
    fprintf(f, "max_lag_ms %.0f\n", lag * 1000);
    fclose(f);
    if (write(out, line, strlen(line)) < 0)
        exit(2);
    exit(k.failed || k.not_resumed ? 1 : 0);
}

/* Fork procs children, each given its share; sum their "key value" lines. */
static int run_children(unsigned long n, int procs, void (*child)(unsigned long, int, void *),
                        void *arg, const char *ready)
{
    static const char *keys[] = { "ok", "failed", "full12", "full13", "resumed12", "resumed13",
                                  "not_resumed", "max_lag_ms" };
    double sum[8] = { 0 };
    int pipes[256], st = 0;
    pid_t pids[256];
    double t0 = now();

    for (int p = 0; p < procs; p++) {
        int fds[2];
        if (pipe(fds) != 0)
            die("pipe");
        if ((pids[p] = fork()) == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* a timeout kills the parent: all go */
            close(fds[0]);
            child(n / (unsigned long)procs + ((unsigned long)p < n % (unsigned long)procs), fds[1],
                  arg);
        }
        close(fds[1]);
        pipes[p] = fds[0];
    }
    for (int p = 0; p < procs; p++) {
        char buf[512], key[32];
        double v;
        ssize_t len = read(pipes[p], buf, sizeof buf - 1);
        FILE *f;
        if (len <= 0) {
            st = 1;
            continue;
        }
        buf[len] = 0;
        f = fmemopen(buf, (size_t)len, "r");
        while (fscanf(f, "%31s %lf", key, &v) == 2)
            for (int i = 0; i < 8; i++)
                if (strcmp(key, keys[i]) == 0)
                    sum[i] = i == 7 ? (v > sum[i] ? v : sum[i]) : sum[i] + v;
        fclose(f);
    }
    for (int i = 0; i < 8; i++)
        printf("%s %.0f\n", keys[i], sum[i]);
    printf("seconds %.1f\n", now() - t0);
    fflush(stdout);
    if (ready != NULL) {
        FILE *f = fopen(ready, "w");
        if (f == NULL)
            die(ready);
        fprintf(f, "%.0f\n", sum[0]);
        fclose(f);
        while (!stop)
            pause();
        for (int p = 0; p < procs; p++)
            kill(pids[p], SIGTERM);
    }
    for (int p = 0; p < procs; p++) {
        int s;
        if (waitpid(pids[p], &s, 0) < 0 || !WIFEXITED(s) || WEXITSTATUS(s) != 0)
            st = 1;
    }
    return st || sum[1] > 0 || sum[6] > 0;
}

struct churn_arg {
    const char *ca;
    double rate;
    unsigned long full_every;
};

static void hold_trampoline(unsigned long n, int out, void *arg)
{
    hold_child(arg, n, out);
}

static void churn_trampoline(unsigned long n, int out, void *arg)
{
    struct churn_arg *a = arg;
    churn_child(a->ca, n, a->rate, a->full_every, out);
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_term };
    int procs;

    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "serve") == 0) {
        parse_addr(argv[2]);
        serve();
    }
    if (argc == 7 && strcmp(argv[1], "hold") == 0) {
        sigaction(SIGTERM, &sa, NULL); /* the signal to close them */
        parse_addr(argv[2]);
        procs = atoi(argv[5]);
        if (procs < 1 || procs > 256)
            return 2;
        return run_children(strtoul(argv[4], NULL, 10), procs, hold_trampoline, argv[3],
                            argv[6]);
    }
    if (argc == 8 && strcmp(argv[1], "churn") == 0) {
        struct churn_arg a = { argv[3], 0, strtoul(argv[7], NULL, 10) };
        parse_addr(argv[2]);
        procs = atoi(argv[5]);
        if (procs < 1 || procs > 256 || a.full_every < 1 || atof(argv[6]) <= 0)
            return 2;
        a.rate = atof(argv[6]) / procs;
        return run_children(strtoul(argv[4], NULL, 10), procs, churn_trampoline, &a, NULL);
    }
    fprintf(stderr, "usage: kp_soak serve HOST:PORT | hold HOST:PORT CA N PROCS READY |\n"
                    "       churn HOST:PORT CA N PROCS RATE FULL_EVERY\n");
    return 2;
}
