/*
 * test_tickets.c - the count of session tickets is the kernel's TX sequence
 * number: real handshakes between our server (tls.c, tickets.c) and an
 * mbedTLS client over a socketpair, TLS 1.3 with 0, 1 and 2 tickets and
 * TLS 1.2; the ticket key file's format; the library version gate.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "config.h"
#include "tickets.h"
#include "tls.h"

static char dir[] = "/tmp/kp-tickets.XXXXXX";

static int setup_dir(void **state)
{
    char cmd[512];

    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
             "-keyout %s/key.pem -out %s/cert.pem -subj /CN=localhost 2>/dev/null && "
             "openssl rand -base64 36 >%s/keys && openssl rand -base64 36 >>%s/keys",
             dir, dir, dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown_dir(void **state)
{
    char cmd[512];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A configuration with one frontend, extra lines appended to it.  Each gets
 * a frontend name of its own: ticket keys are process-wide per name, as
 * separate processes would have them. */
static struct kp_config *config_with(const char *versions, const char *extra)
{
    static int serial;
    char text[2048], err[512];
    struct kp_config *cfg;

    snprintf(text, sizeof text,
             "[frontend f%d]\nlisten = 127.0.0.1:1\ncert = %s/cert.pem %s/key.pem\n"
             "tls_versions = %s\nbackend = b\n%s\n[backend b]\naddress = 127.0.0.1:2\n",
             serial++, dir, dir, versions, extra);
    cfg = config_load_buffer("test.ini", text, strlen(text), err, sizeof err);
    if (cfg == NULL)
        fail_msg("%s", err);
    return cfg;
}

struct client {
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_net_context net;
};

static void client_start(struct client *c, int fd, int version)
{
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_ssl_init(&c->ssl);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_net_init(&c->net);
    c->net.fd = fd;
    assert_int_equal(mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, NULL, 0), 0);
    assert_int_equal(mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
                                                 MBEDTLS_SSL_TRANSPORT_STREAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT), 0);
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_NONE);
    mbedtls_ssl_conf_min_tls_version(&c->conf, version);
    mbedtls_ssl_conf_max_tls_version(&c->conf, version);
    mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
        &c->conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
    mbedtls_ssl_conf_session_tickets(&c->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
    mbedtls_ssl_conf_tls13_key_exchange_modes(&c->conf, MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_ALL);
    assert_int_equal(mbedtls_ssl_setup(&c->ssl, &c->conf), 0);
    assert_int_equal(mbedtls_ssl_set_hostname(&c->ssl, "localhost"), 0);
    mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, mbedtls_net_recv, NULL);
}

static void client_free(struct client *c)
{
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
}

/* Both sides non-blocking in one thread: step each until both are done. */
static void handshake_both(struct client *c, struct tls_session *s)
{
    int cdone = 0, sdone = 0;
    char err[256];

    for (int i = 0; i < 10000 && !(cdone && sdone); i++) {
        if (!cdone) {
            int ret = mbedtls_ssl_handshake(&c->ssl);
            if (ret == 0)
                cdone = 1;
            else if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE)
                fail_msg("client handshake: -0x%04x", (unsigned)-ret);
        }
        if (!sdone) {
            enum tls_step step = kp_tls_handshake(s, err, sizeof err);
            if (step == TLS_FAILED)
                fail_msg("server handshake: %s", err);
            sdone = step == TLS_DONE;
        }
    }
    assert_true(cdone && sdone);
}

/* The NewSessionTicket messages waiting for the client.  mbedTLS answers
 * WANT_READ once when it sees one, then the signal on the next call; all
 * tickets are in the socket already, so a bounded number of reads will do. */
static int client_count_tickets(struct client *c)
{
    unsigned char buf[64];
    int n = 0;

    for (int i = 0; i < 32; i++) {
        int ret = mbedtls_ssl_read(&c->ssl, buf, sizeof buf);
        if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
            n++;
        else if (ret != MBEDTLS_ERR_SSL_WANT_READ)
            fail_msg("client read: -0x%04x", (unsigned)-ret);
    }
    return n;
}

/* What the client's TLS 1.2 master secret was: equal across two connections
 * only if the second resumed the first. */
static unsigned char client_master[48];
static int session_used;   /* one_connection: the session holds one to resume */

static void client_export(void *arg, mbedtls_ssl_key_export_type type, const unsigned char *secret,
                          size_t len, const unsigned char cr[32], const unsigned char sr[32],
                          mbedtls_tls_prf_types prf)
{
    (void)arg, (void)cr, (void)sr, (void)prf;
    if (type == MBEDTLS_SSL_KEY_EXPORT_TLS12_MASTER_SECRET && len == sizeof client_master)
        memcpy(client_master, secret, len);
}

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* One connection; the TX/RX sequence numbers handed to the kernel, and
 * how many tickets the client got.  session: resume from it if it is
 * set, and store the new one into it. */
static void one_connection(struct tls_frontend *tf, int version, mbedtls_ssl_session *session,
                           uint64_t *tx, uint64_t *rx, int *tickets)
{
    struct kp_ktls_keys keys;
    struct tls_session *s;
    struct client c;
    char err[256];
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    s = kp_tls_session_new(tf, sv[0], err, sizeof err);
    assert_non_null(s);
    client_start(&c, sv[1], version);
    mbedtls_ssl_set_export_keys_cb(&c.ssl, client_export, NULL);
    if (session != NULL && session_used)
        assert_int_equal(mbedtls_ssl_set_session(&c.ssl, session), 0);
    handshake_both(&c, s);
    assert_int_equal(kp_tls_export_keys(s, &keys, err, sizeof err), 0);
    *tx = be64(keys.tx.gcm128.rec_seq);
    *rx = be64(keys.rx.gcm128.rec_seq);
    *tickets = client_count_tickets(&c);
    if (session != NULL) {
        mbedtls_ssl_session_free(session);
        mbedtls_ssl_session_init(session);
        assert_int_equal(mbedtls_ssl_get_session(&c.ssl, session), 0);
        session_used = 1;
    }
    kp_tls_session_free(s);
    client_free(&c);
    close(sv[0]);
    close(sv[1]);
}

static void tls13_count(unsigned n)
{
    char extra[64];
    struct kp_config *cfg;
    struct tls_frontend *tf;
    mbedtls_ssl_session session;
    uint64_t tx, rx;
    int got;
    char err[512];

    snprintf(extra, sizeof extra, "ciphers = AES-128-GCM\ntls13_tickets = %u", n);
    cfg = config_with("1.3", extra);
    tf = kp_tls_frontend_new(cfg, &cfg->frontends[0], err, sizeof err);
    assert_non_null(tf);
    mbedtls_ssl_session_init(&session);
    session_used = 0;
    one_connection(tf, MBEDTLS_SSL_VERSION_TLS1_3, &session, &tx, &rx, &got);
    print_message("tls13_tickets = %u: client got %d, TX seq %llu\n", n, got,
                  (unsigned long long)tx);
    assert_int_equal(got, n);
    assert_int_equal(tx, got);   /* the invariant */
    assert_int_equal(rx, 0);
    if (n > 0) {
        /* Resumed: mbedTLS sends at most one ticket; still counted exactly. */
        one_connection(tf, MBEDTLS_SSL_VERSION_TLS1_3, &session, &tx, &rx, &got);
        assert_true(got >= 1);
        assert_int_equal(tx, got);
        assert_int_equal(rx, 0);
    }
    mbedtls_ssl_session_free(&session);
    kp_tls_frontend_free(tf);
    config_free(cfg);
}

static void test_tls13_no_ticket(void **state) { (void)state; tls13_count(0); }
static void test_tls13_one_ticket(void **state) { (void)state; tls13_count(1); }
static void test_tls13_two_tickets(void **state) { (void)state; tls13_count(2); }

/* TLS 1.2: the ticket precedes ChangeCipherSpec, so it does not count. */
static void test_tls12_ticket_keeps_seq_one(void **state)
{
    struct kp_config *cfg = config_with("1.2", "ciphers = AES-128-GCM");
    struct tls_frontend *tf;
    mbedtls_ssl_session session;
    uint64_t tx, rx;
    int got;
    char err[512];
    unsigned char first[sizeof client_master];

    (void)state;
    tf = kp_tls_frontend_new(cfg, &cfg->frontends[0], err, sizeof err);
    assert_non_null(tf);
    mbedtls_ssl_session_init(&session);
    session_used = 0;
    for (int i = 0; i < 2; i++) {   /* full, then resumed from the ticket */
        one_connection(tf, MBEDTLS_SSL_VERSION_TLS1_2, &session, &tx, &rx, &got);
        assert_int_equal(got, 0);
        assert_int_equal(tx, 1);
        assert_int_equal(rx, 1);
        if (i == 0)
            memcpy(first, client_master, sizeof first);
    }
    assert_memory_equal(first, client_master, sizeof first);  /* it did resume */
    mbedtls_ssl_session_free(&session);
    kp_tls_frontend_free(tf);
    config_free(cfg);
}

/* ---- the key file ---- */

static void key_file_error(const char *content, const char *want)
{
    char path[256], extra[300], err[1024], expected[600];
    struct kp_config *cfg;
    struct tls_frontend *tf;
    FILE *f;

    snprintf(path, sizeof path, "%s/bad.keys", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    snprintf(extra, sizeof extra, "ticket_key_file = %s", path);
    cfg = config_with("1.2 1.3", extra);
    tf = kp_tls_frontend_new(cfg, &cfg->frontends[0], err, sizeof err);
    assert_null(tf);
    snprintf(expected, sizeof expected, "test.ini:6: ticket_key_file %s: %s", path, want);
    assert_string_equal(err, expected);
    config_free(cfg);
}

static void test_key_file_errors(void **state)
{
    (void)state;
    key_file_error("", "no key in the file (make one with: openssl rand -base64 36)");
    key_file_error("# only a comment\n\n",
                   "no key in the file (make one with: openssl rand -base64 36)");
    key_file_error("AAAA\n", "key 1 is not 36 bytes in base64 (make one with: openssl rand "
                   "-base64 36)");
    /* 37 bytes */
    key_file_error("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
                   "key 1 is not 36 bytes in base64 (make one with: openssl rand -base64 36)");
    key_file_error("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nnot base64!\n",
                   "key 2 is not 36 bytes in base64 (make one with: openssl rand -base64 36)");
    key_file_error("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                   "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                   "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
                   "more than two keys (allowed: the current key, then the previous one)");
}

/* Two frontends reading one key file resume each other's tickets (as two
 * instances of a fleet would); a frontend with random keys does not. */
static void test_shared_key_file(void **state)
{
    char extra[300], err[512];
    struct kp_config *a, *b, *c;
    struct tls_frontend *ta, *tb, *tc;
    mbedtls_ssl_session session;
    unsigned char first[sizeof client_master];
    uint64_t tx, rx;
    int got;

    (void)state;
    snprintf(extra, sizeof extra, "ticket_key_file = %s/keys", dir);
    a = config_with("1.2", extra);
    b = config_with("1.2", extra);
    c = config_with("1.2", "");
    ta = kp_tls_frontend_new(a, &a->frontends[0], err, sizeof err);
    tb = kp_tls_frontend_new(b, &b->frontends[0], err, sizeof err);
    tc = kp_tls_frontend_new(c, &c->frontends[0], err, sizeof err);
    assert_true(ta && tb && tc);
    mbedtls_ssl_session_init(&session);
    session_used = 0;
    one_connection(ta, MBEDTLS_SSL_VERSION_TLS1_2, &session, &tx, &rx, &got);
    memcpy(first, client_master, sizeof first);
    one_connection(tb, MBEDTLS_SSL_VERSION_TLS1_2, &session, &tx, &rx, &got);
    assert_memory_equal(first, client_master, sizeof first);     /* B resumed A's */
    one_connection(tc, MBEDTLS_SSL_VERSION_TLS1_2, &session, &tx, &rx, &got);
    assert_memory_not_equal(first, client_master, sizeof first); /* C could not */
    mbedtls_ssl_session_free(&session);
    kp_tls_frontend_free(ta);
    kp_tls_frontend_free(tb);
    kp_tls_frontend_free(tc);
    config_free(a);
    config_free(b);
    config_free(c);
}

static void write_keys(const char *path, const char *lines)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(lines, f);
    fclose(f);
}

/* tickets_reload with a rotated file: the old key still decrypts, the new
 * one encrypts (a frontend that knows only the new key resumes new tickets). */
static void test_reload_rotates(void **state)
{
    static const char k1[] = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTEx\n"; /* 36 x "1" */
    static const char k2[] = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIy\n"; /* 36 x "2" */
    char path[256], path2[256], extra[600], err[512];
    struct kp_config *a, *b;
    struct tls_frontend *ta, *tb;
    mbedtls_ssl_session old, fresh;
    unsigned char first[sizeof client_master];
    uint64_t tx, rx;
    int got;

    (void)state;
    snprintf(path, sizeof path, "%s/rot.keys", dir);
    snprintf(path2, sizeof path2, "%s/new-only.keys", dir);
    write_keys(path, k1);
    write_keys(path2, k2);
    snprintf(extra, sizeof extra, "ticket_key_file = %s", path);
    a = config_with("1.2", extra);
    snprintf(extra, sizeof extra, "ticket_key_file = %s", path2);
    b = config_with("1.2", extra);
    ta = kp_tls_frontend_new(a, &a->frontends[0], err, sizeof err);
    tb = kp_tls_frontend_new(b, &b->frontends[0], err, sizeof err);
    assert_true(ta && tb);
    mbedtls_ssl_session_init(&old);
    mbedtls_ssl_session_init(&fresh);
    session_used = 0;
    one_connection(ta, MBEDTLS_SSL_VERSION_TLS1_2, &old, &tx, &rx, &got);   /* under K1 */

    {
        char rotated[200];
        snprintf(rotated, sizeof rotated, "# rotated\n%s%s", k2, k1);
        write_keys(path, rotated);
    }
    assert_int_equal(tickets_reload(a, err, sizeof err), 0);

    memcpy(first, client_master, sizeof first);
    session_used = 1;
    one_connection(ta, MBEDTLS_SSL_VERSION_TLS1_2, &old, &tx, &rx, &got);
    assert_memory_equal(first, client_master, sizeof first);  /* K1 still decrypts */

    session_used = 0;
    one_connection(ta, MBEDTLS_SSL_VERSION_TLS1_2, &fresh, &tx, &rx, &got); /* under K2 */
    memcpy(first, client_master, sizeof first);
    session_used = 1;
    one_connection(tb, MBEDTLS_SSL_VERSION_TLS1_2, &fresh, &tx, &rx, &got);
    assert_memory_equal(first, client_master, sizeof first);  /* K2 encrypted it */

    /* A bad file on reload changes nothing and says why. */
    write_keys(path, "garbage\n");
    assert_int_equal(tickets_reload(a, err, sizeof err), -1);
    assert_non_null(strstr(err, "key 1 is not 36 bytes in base64"));

    mbedtls_ssl_session_free(&old);
    mbedtls_ssl_session_free(&fresh);
    kp_tls_frontend_free(ta);
    kp_tls_frontend_free(tb);
    config_free(a);
    config_free(b);
}

/* ---- the library gate ---- */

static void test_library_is_new_enough(void **state)
{
    char err[256] = "";

    (void)state;
    assert_true(tickets_library_ok(err, sizeof err));
    assert_string_equal(err, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_is_new_enough),
        cmocka_unit_test(test_tls13_no_ticket),
        cmocka_unit_test(test_tls13_one_ticket),
        cmocka_unit_test(test_tls13_two_tickets),
        cmocka_unit_test(test_tls12_ticket_keeps_seq_one),
        cmocka_unit_test(test_key_file_errors),
        cmocka_unit_test(test_shared_key_file),
        cmocka_unit_test(test_reload_rotates),
    };
    char err[256];

    if (kp_tls_global_init(err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
