/*
 * ktls.c - setsockopt(TCP_ULP "tls"), TLS_TX, TLS_RX, and control records
 * through cmsg (Documentation/networking/tls.rst).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static int set_ulp(int fd)
{
    return setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls");
}

enum ktls_result ktls_install(int fd, const struct kp_ktls_keys *keys, char *err, size_t errlen)
{
    if (!ktls_kernel_takes(keys->tx.info.version, keys->tx.info.cipher_type)) {
        snprintf(err, errlen, "the kernel cannot take this suite (found at start-up)");
        return KTLS_UNSUPPORTED;
    }
    if (set_ulp(fd) != 0) {
        /* The kernel takes the ULP only on an established socket: a client
         * whose FIN arrived with (or right after) its Finished is refused. */
        if (errno == ENOTCONN) {
            snprintf(err, errlen, "the client closed (FIN or RST) before the kTLS hand-off");
            return KTLS_PEER_CLOSED;
        }
        snprintf(err, errlen, "setsockopt TCP_ULP tls: %s", strerror(errno));
        return KTLS_UNTOUCHED;
    }
    /* With the ULP attached but no keys, the socket still behaves as plain
     * TCP, so a failed TLS_TX leaves it usable. */
    if (setsockopt(fd, SOL_TLS, TLS_TX, &keys->tx, keys->len) != 0) {
        snprintf(err, errlen, "setsockopt TLS_TX: %s", strerror(errno));
        return KTLS_UNTOUCHED;
    }
    if (setsockopt(fd, SOL_TLS, TLS_RX, &keys->rx, keys->len) != 0) {
        snprintf(err, errlen, "setsockopt TLS_RX: %s", strerror(errno));
        return KTLS_BROKEN;
    }
    return KTLS_OK;
}

/* A connected loopback pair, to try the real setsockopt calls on. */
static int loopback_pair(int *client, int *server)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sin;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = -1;

    *client = *server = -1;
    if (lfd < 0)
        return -1;
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(lfd, 1) == 0 &&
        getsockname(lfd, (struct sockaddr *)&sin, &len) == 0) {
        *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (*client >= 0 && connect(*client, (struct sockaddr *)&sin, sizeof sin) == 0) {
            *server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            ok = *server >= 0 ? 0 : -1;
        }
    }
    close(lfd);
    return ok;
}

/* The combinations, in the order of the bits of struct ktls_caps. */
static const struct combo {
    uint16_t version, cipher;
    socklen_t info_size;
    const char *name;
} combos[KTLS_COMBOS] = {
    { TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, sizeof(struct tls12_crypto_info_aes_gcm_128),
      "TLS 1.2 AES-128-GCM" },
    { TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256, sizeof(struct tls12_crypto_info_aes_gcm_256),
      "TLS 1.2 AES-256-GCM" },
    { TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305,
      sizeof(struct tls12_crypto_info_chacha20_poly1305), "TLS 1.2 CHACHA20-POLY1305" },
    { TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, sizeof(struct tls12_crypto_info_aes_gcm_128),
      "TLS 1.3 AES-128-GCM" },
    { TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256, sizeof(struct tls12_crypto_info_aes_gcm_256),
      "TLS 1.3 AES-256-GCM" },
    { TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305,
      sizeof(struct tls12_crypto_info_chacha20_poly1305), "TLS 1.3 CHACHA20-POLY1305" },
};

#define ALL_COMBOS ((1u << KTLS_COMBOS) - 1)
/* Written once by ktls_use_caps() before the workers start, read-only after. */
static struct ktls_caps kernel_caps = { ALL_COMBOS, ALL_COMBOS, 0 };

/* Dummy keys of one combination for one direction; 0 if the kernel took them.
 * The kernel loads the cipher module on first use, so this also tries that. */
static int set_dummy_key(int fd, int direction, const struct combo *c)
{
    union kp_crypto_info info;

    memset(&info, 0x5a, sizeof info);
    info.info.version = c->version;
    info.info.cipher_type = c->cipher;
    return setsockopt(fd, SOL_TLS, direction, &info, c->info_size);
}

/* TLS 1.3 keys set a second time both ways: only a kernel with rekey (6.14+)
 * takes them, others say EBUSY. */
static bool rekeys(int fd, const struct combo *c)
{
    return c->version == TLS_1_3_VERSION && set_dummy_key(fd, TLS_TX, c) == 0 &&
           set_dummy_key(fd, TLS_RX, c) == 0;
}

/* One combination on a fresh connection: sets its TX, RX and rekey bits in caps. */
static int probe_combo(size_t i, struct ktls_caps *caps, char *err, size_t errlen)
{
    int client, server, ret = -1;

    if (loopback_pair(&client, &server) != 0)
        snprintf(err, errlen, "cannot make a loopback connection to probe kTLS: %s",
                 strerror(errno));
    else if (set_ulp(server) != 0)
        snprintf(err, errlen,
                 "the kernel has no TLS ULP (setsockopt TCP_ULP \"tls\": %s)%s", strerror(errno),
                 errno == ENOENT ? "; load the tls module at boot (make install puts tls in "
                                   "modules-load.d) or run modprobe tls" : "");
    else {
        if (set_dummy_key(server, TLS_TX, &combos[i]) == 0)
            caps->tx |= 1u << i;
        if (set_dummy_key(server, TLS_RX, &combos[i]) == 0)
            caps->rx |= 1u << i;
        if ((caps->tx & caps->rx) >> i & 1 && rekeys(server, &combos[i]))
            caps->rekey |= 1u << i;
        ret = 0;
    }
    if (client >= 0)
        close(client);
    if (server >= 0)
        close(server);
    return ret;
}

int ktls_probe(struct ktls_caps *caps, char *err, size_t errlen)
{
    caps->tx = caps->rx = caps->rekey = 0;
    for (size_t i = 0; i < KTLS_COMBOS; i++)
        if (probe_combo(i, caps, err, errlen) != 0)
            return -1;
    return 0;
}

/* Append ", NAME" (or "NAME" first) to buf. */
static void append(char *buf, size_t len, const char *name, const char *suffix)
{
    size_t used = strlen(buf);

    snprintf(buf + used, len - used, "%s%s%s", used ? ", " : "", name, suffix);
}

void ktls_caps_describe(const struct ktls_caps *caps, char *takes, size_t takes_len,
                        char *lacks, size_t lacks_len)
{
    static const char *const missing[4] = { "", " (RX)", " (TX)", " (TX and RX)" };

    takes[0] = lacks[0] = '\0';
    for (size_t i = 0; i < KTLS_COMBOS; i++) {
        unsigned tx = caps->tx >> i & 1, rx = caps->rx >> i & 1;
        if (tx && rx)
            append(takes, takes_len, combos[i].name, "");
        else
            append(lacks, lacks_len, combos[i].name, missing[(tx ? 0 : 2) + (rx ? 0 : 1)]);
    }
    if (takes[0] == '\0')
        snprintf(takes, takes_len, "none");
    if (lacks[0] == '\0')
        snprintf(lacks, lacks_len, "none");
}

void ktls_use_caps(const struct ktls_caps *caps)
{
    kernel_caps = *caps;
}

/* The bits of kernel_caps for this version and cipher, from mask. */
static bool caps_bit(unsigned mask, uint16_t version, uint16_t cipher)
{
    for (size_t i = 0; i < KTLS_COMBOS; i++)
        if (combos[i].version == version && combos[i].cipher == cipher)
            return mask >> i & 1;
    return false;
}

bool ktls_kernel_takes(uint16_t version, uint16_t cipher)
{
    return caps_bit(kernel_caps.tx & kernel_caps.rx, version, cipher);
}

bool ktls_kernel_rekeys(uint16_t version, uint16_t cipher)
{
    return caps_bit(kernel_caps.tx & kernel_caps.rx & kernel_caps.rekey, version, cipher);
}

bool ktls_caps_rekey(const struct ktls_caps *caps)
{
    return (caps->tx & caps->rx & caps->rekey) != 0;
}

int ktls_rekey(int fd, bool tx, const union kp_crypto_info *info, socklen_t len)
{
    return setsockopt(fd, SOL_TLS, tx ? TLS_TX : TLS_RX, info, len);
}

int ktls_send_record(int fd, unsigned char type, const void *buf, size_t len)
{
    char control[CMSG_SPACE(sizeof(unsigned char))];
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control,
    };
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

    memset(control, 0, sizeof control);
    cmsg->cmsg_level = SOL_TLS;
    cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
    cmsg->cmsg_len = CMSG_LEN(sizeof(unsigned char));
    *CMSG_DATA(cmsg) = type;
    return sendmsg(fd, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

int ktls_send_close_notify(int fd)
{
    static const unsigned char alert[2] = { 1, 0 }; /* warning, close_notify */

    return ktls_send_record(fd, KTLS_CONTENT_ALERT, alert, sizeof alert);
}

ssize_t ktls_recv_control(int fd, unsigned char *type, unsigned char *buf, size_t len)
{
    char control[CMSG_SPACE(sizeof(unsigned char))];
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control,
    };
    struct cmsghdr *cmsg;
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);

    if (n < 0)
        return -1;
    *type = KTLS_CONTENT_APPLICATION_DATA;
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg))
        if (cmsg->cmsg_level == SOL_TLS && cmsg->cmsg_type == TLS_GET_RECORD_TYPE)
            *type = *CMSG_DATA(cmsg);
    return n;
}
