/*
 * rekey.c - TLS 1.3 KeyUpdate followed in the kernel (see rekey.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "ktls.h"
#include "ktls_keys.h"
#include "rekey.h"

/* RFC 8446 4.6.3: HandshakeType key_update (24), u24 length 1, request 0. */
#define KEY_UPDATE_NOT_REQUESTED { 24, 0, 0, 1, 0 }

struct kp_rekey {
    unsigned char client[48], server[48]; /* current application traffic secrets */
    uint16_t suite;
    double tokens, last;                  /* the rate limit's bucket */
};

struct kp_rekey *rekey_new(uint16_t suite, const unsigned char *client_secret,
                           const unsigned char *server_secret, size_t secret_len, double now)
{
    struct kp_rekey *r;

    if (ktls_suite_secret_len(suite) != secret_len || secret_len > sizeof r->client)
        return NULL;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    memcpy(r->client, client_secret, secret_len);
    memcpy(r->server, server_secret, secret_len);
    r->suite = suite;
    r->tokens = REKEY_BURST;
    r->last = now;
    return r;
}

void rekey_free(struct kp_rekey *r)
{
    if (r == NULL)
        return;
    mbedtls_platform_zeroize(r, sizeof *r);
    free(r);
}

bool rekey_admit(struct kp_rekey *r, double now)
{
    if (now > r->last) {
        r->tokens += (now - r->last) / REKEY_INTERVAL;
        if (r->tokens > REKEY_BURST)
            r->tokens = REKEY_BURST;
        r->last = now;
    }
    if (r->tokens < 1)
        return false;
    r->tokens -= 1;
    return true;
}

/* secret <- its next generation, and the kernel's keys of that direction from it. */
static int advance(struct kp_rekey *r, int fd, bool tx, char *err, size_t errlen)
{
    unsigned char *secret = tx ? r->server : r->client;
    union kp_crypto_info info;
    socklen_t len;
    int ret = -1;

    if (ktls_next_secret(r->suite, secret) != 0 ||
        ktls_derive_direction(r->suite, secret, 0, &info, &len) != 0)
        snprintf(err, errlen, "deriving the next %s traffic secret failed", tx ? "server" : "client");
    else if (ktls_rekey(fd, tx, &info, len) != 0)
        snprintf(err, errlen, "setsockopt %s with the updated key: %s", tx ? "TLS_TX" : "TLS_RX",
                 strerror(errno));
    else
        ret = 0;
    mbedtls_platform_zeroize(&info, sizeof info);
    return ret;
}

int rekey_rx(struct kp_rekey *r, int fd, char *err, size_t errlen)
{
    return advance(r, fd, false, err, errlen);
}

int rekey_tx(struct kp_rekey *r, int fd, char *err, size_t errlen)
{
    static const unsigned char msg[] = KEY_UPDATE_NOT_REQUESTED;

    if (ktls_send_record(fd, KTLS_CONTENT_HANDSHAKE, msg, sizeof msg) != 0) {
        if (errno == EAGAIN)
            return 1;
        snprintf(err, errlen, "sending our KeyUpdate: %s", strerror(errno));
        return -1;
    }
    return advance(r, fd, true, err, errlen);
}
