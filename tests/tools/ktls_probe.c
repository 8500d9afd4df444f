/*
 * ktls_probe: does the running kernel take TLS keys (kTLS)?
 *
 * On a loopback TCP connection it attaches the "tls" ULP, then sets TLS_TX and TLS_RX
 * with dummy keys for TLS 1.2 and 1.3 with AES-128-GCM, AES-256-GCM and
 * ChaCha20-Poly1305, a fresh connection for each.  Setting the keys is tested on its
 * own because the kernel loads the cipher modules only then: TCP_ULP can succeed while
 * TLS_TX still fails with ENOENT.
 *
 *   ktls_probe                   exit 0 if every step succeeded, 2 if TCP_ULP failed
 *                                with ENOENT (no kTLS in this kernel), 1 otherwise
 *   ktls_probe --expect-absent   exit 0 iff TCP_ULP fails with ENOENT
 *
 * One line per step on stdout: "ulp ok", "tls12 aes128gcm tx ok rx ok", or the errno
 * name in place of "ok".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

enum {
    EXIT_ALL_OK = 0,
    EXIT_FAILED = 1,
    EXIT_NO_KTLS = 2,
};

struct cipher {
    const char *name;
    unsigned short type;
    socklen_t info_size;
};

static const struct cipher ciphers[] = {
    { "aes128gcm", TLS_CIPHER_AES_GCM_128,
      sizeof(struct tls12_crypto_info_aes_gcm_128) },
    { "aes256gcm", TLS_CIPHER_AES_GCM_256,
      sizeof(struct tls12_crypto_info_aes_gcm_256) },
    { "chacha20poly1305", TLS_CIPHER_CHACHA20_POLY1305,
      sizeof(struct tls12_crypto_info_chacha20_poly1305) },
};

struct version {
    const char *name;
    unsigned short number;
};

static const struct version versions[] = {
    { "tls12", TLS_1_2_VERSION },
    { "tls13", TLS_1_3_VERSION },
};

union crypto_info {
    struct tls_crypto_info header;
    struct tls12_crypto_info_aes_gcm_128 aes_gcm_128;
    struct tls12_crypto_info_aes_gcm_256 aes_gcm_256;
    struct tls12_crypto_info_chacha20_poly1305 chacha20_poly1305;
};

/* "ok", or the name of the errno a failed call left. */
static const char *outcome(int rc)
{
    if (rc == 0)
        return "ok";
    const char *name = strerrorname_np(errno);
    return name ? name : "unknown-errno";
}

/* Both ends of a loopback TCP connection; the accepted end is the server's. */
static int connect_loopback(int *client, int *server)
{
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    socklen_t addrlen = sizeof addr;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    *client = *server = -1;
    if (listener < 0)
        return -1;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(listener, 1) < 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &addrlen) < 0)
        goto fail;
    *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*client < 0 ||
        connect(*client, (struct sockaddr *)&addr, sizeof addr) < 0)
        goto fail;
    *server = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (*server < 0)
        goto fail;
    close(listener);
    return 0;

fail:
    perror("ktls_probe: loopback connection");
    if (*client >= 0)
        close(*client);
    close(listener);
    return -1;
}

static int attach_tls_ulp(int fd)
{
    return setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof "tls");
}

static int set_dummy_key(int fd, int direction, const struct version *version,
                         const struct cipher *cipher)
{
    union crypto_info info;

    memset(&info, 0x5a, sizeof info);
    info.header.version = version->number;
    info.header.cipher_type = cipher->type;
    return setsockopt(fd, SOL_TLS, direction, &info, cipher->info_size);
}

/* Attach the ULP on a fresh connection; prints "ulp ..." with PREFIX. */
static int probe_ulp(const char *prefix, int *ulp_errno)
{
    int client, server;

    if (connect_loopback(&client, &server) < 0)
        return -1;
    int rc = attach_tls_ulp(server);
    *ulp_errno = rc == 0 ? 0 : errno;
    printf("%sulp %s\n", prefix, outcome(rc));
    close(client);
    close(server);
    return rc;
}

/* Keys for both directions on a fresh connection; true if both were taken. */
static bool probe_keys(const struct version *version, const struct cipher *cipher)
{
    int client, server;

    if (connect_loopback(&client, &server) < 0)
        return false;
    bool ok = false;
    if (attach_tls_ulp(server) < 0) {
        printf("%s %s ulp %s\n", version->name, cipher->name, outcome(-1));
    } else {
        int tx = set_dummy_key(server, TLS_TX, version, cipher);
        printf("%s %s tx %s", version->name, cipher->name, outcome(tx));
        int rx = set_dummy_key(server, TLS_RX, version, cipher);
        printf(" rx %s\n", outcome(rx));
        ok = tx == 0 && rx == 0;
    }
    close(client);
    close(server);
    return ok;
}

static int probe_all(void)
{
    int ulp_errno;

    if (probe_ulp("", &ulp_errno) < 0)
        return ulp_errno == ENOENT ? EXIT_NO_KTLS : EXIT_FAILED;

    bool all_ok = true;
    for (size_t v = 0; v < sizeof versions / sizeof versions[0]; v++)
        for (size_t c = 0; c < sizeof ciphers / sizeof ciphers[0]; c++)
            all_ok &= probe_keys(&versions[v], &ciphers[c]);
    return all_ok ? EXIT_ALL_OK : EXIT_FAILED;
}

static int expect_absent(void)
{
    int ulp_errno;

    if (probe_ulp("", &ulp_errno) == 0) {
        printf("kTLS is present, not absent as expected\n");
        return EXIT_FAILED;
    }
    return ulp_errno == ENOENT ? EXIT_ALL_OK : EXIT_FAILED;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 1)
        return probe_all();
    if (argc == 2 && strcmp(argv[1], "--expect-absent") == 0)
        return expect_absent();
    fprintf(stderr, "usage: ktls_probe [--expect-absent]\n");
    return EXIT_FAILED;
}
