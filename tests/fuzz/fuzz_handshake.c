/*
 * fuzz_handshake - a real tls_session (mbedTLS plus our SNI, ALPN, key
 * export and certificate callbacks) on hostile client bytes.
 *
 * The input is what the client sends: it is written into one end of a unix
 * socketpair, the other end is the session's socket, and the handshake is
 * driven until it fails, finishes or waits for more.  Two certificates (ECDSA
 * and RSA, test-only, in tests/fuzz/) with names, routes, ALPN and optional
 * client verification make every callback reachable.  Later flights are
 * reached only as far as random bytes get: the server's random differs on
 * every run.
 */
#include <assert.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "ktls_keys.h"
#include "log.h"
#include "tls.h"

static struct kp_config *cfg;
static struct tls_frontend *tf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char ini[2048], err[512];

    (void)argc;
    (void)argv;
    log_init(KP_LOG_STDERR, KP_LOG_ERR);
    snprintf(ini, sizeof ini,
             "[frontend f]\nlisten = 127.0.0.1:1\n"
             "cert = %s/ec.pem %s/ec.key\ncert = %s/rsa.pem %s/rsa.key\n"
             "alpn = h2, http/1.1\nclient_verify = optional\nclient_ca = %s/ec.pem\n"
             "route = sni:*.wild.test alpn:h2 b\nbackend = b\n[backend b]\naddress = 127.0.0.1:2\n",
             FUZZ_DIR, FUZZ_DIR, FUZZ_DIR, FUZZ_DIR, FUZZ_DIR);
    if (kp_tls_global_init(err, sizeof err) != 0 ||
        (cfg = config_load_buffer("fuzz", ini, strlen(ini), err, sizeof err)) == NULL ||
        (tf = kp_tls_frontend_new(cfg, &cfg->frontends[0], err, sizeof err)) == NULL) {
        fprintf(stderr, "fuzz_handshake: %s\n", err);
        abort();
    }
    return 0;
}

/* Discard what the server sent, so that it never blocks on a full socket. */
static void drain(int fd)
{
    char buf[16384];

    while (read(fd, buf, sizeof buf) > 0)
        continue;
}

static void finished(struct tls_session *s)
{
    struct tls_info info;
    struct kp_ktls_keys keys;
    char err[256];

    kp_tls_session_info(s, &info);
    assert(info.sni == NULL || strlen(info.sni) <= 253);
    backend_route(&cfg->frontends[0], info.sni, info.alpn);
    if (kp_tls_export_keys(s, &keys, err, sizeof err) == 0)
        ktls_keys_wipe(&keys);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    char err[256];
    struct tls_session *s;
    size_t off = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
        abort();
    s = kp_tls_session_new(tf, sv[0], err, sizeof err);
    assert(s != NULL);
    for (int step = 0; step < 64; step++) {
        if (off < size) {
            ssize_t n = write(sv[1], data + off, size - off);
            if (n > 0)
                off += (size_t)n;
        } else {
            shutdown(sv[1], SHUT_WR);
        }
        enum tls_step r = kp_tls_handshake(s, err, sizeof err);
        drain(sv[1]);
        if (r == TLS_DONE)
            finished(s);
        if (r == TLS_DONE || r == TLS_FAILED)
            break;
    }
    kp_tls_session_free(s);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
