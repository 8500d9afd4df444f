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
    if (set_ulp(fd) != 0) {
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

int ktls_probe(char *err, size_t errlen)
{
    struct tls12_crypto_info_aes_gcm_128 info = {
        .info = { .version = TLS_1_2_VERSION, .cipher_type = TLS_CIPHER_AES_GCM_128 },
    };
    int client, server, ret = -1;

    if (loopback_pair(&client, &server) != 0)
        snprintf(err, errlen, "cannot make a loopback connection to probe kTLS: %s",
                 strerror(errno));
    else if (set_ulp(server) != 0)
        snprintf(err, errlen, "the kernel has no TLS ULP (setsockopt TCP_ULP \"tls\": %s)%s",
                 strerror(errno), errno == ENOENT ? "; is the tls module available?" : "");
    else if (setsockopt(server, SOL_TLS, TLS_TX, &info, sizeof info) != 0)
        snprintf(err, errlen, "the kernel TLS ULP cannot take an AES-GCM key (TLS_TX: %s)",
                 strerror(errno));
    else
        ret = 0;
    if (client >= 0)
        close(client);
    if (server >= 0)
        close(server);
    return ret;
}

int ktls_send_close_notify(int fd)
{
    static const unsigned char alert[2] = { 1, 0 }; /* warning, close_notify */
    char control[CMSG_SPACE(sizeof(unsigned char))];
    struct iovec iov = { .iov_base = (void *)alert, .iov_len = sizeof alert };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control,
    };
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

    memset(control, 0, sizeof control);
    cmsg->cmsg_level = SOL_TLS;
    cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
    cmsg->cmsg_len = CMSG_LEN(sizeof(unsigned char));
    *CMSG_DATA(cmsg) = KTLS_CONTENT_ALERT;
    return sendmsg(fd, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof alert ? 0 : -1;
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
