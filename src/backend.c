/*
 * backend.c - routing, connecting, and the PROXY protocol header.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "hostname.h"
#include "keepalive.h"
#include "proxy_proto.h"

static int route_matches(const struct kp_route *r, const char *sni, const char *alpn)
{
    if (r->sni != NULL && (sni == NULL || hostname_match(r->sni, sni) == 0))
        return 0;
    if (r->alpn != NULL && (alpn == NULL || strcmp(r->alpn, alpn) != 0))
        return 0;
    return 1;
}

const struct kp_backend *backend_route(const struct kp_frontend *fe, const char *sni,
                                       const char *alpn)
{
    for (size_t i = 0; i < fe->n_routes; i++)
        if (route_matches(&fe->routes[i], sni, alpn))
            return fe->routes[i].backend;
    return fe->backend;
}

static int connect_failed(const struct kp_backend *be, char *err, size_t errlen)
{
    snprintf(err, errlen, "backend %s (%s): connect: %s", be->name, be->addr.text,
             strerror(errno));
    return -1;
}

int backend_connect(const struct kp_backend *be, int *full, char *err, size_t errlen)
{
    int family = be->addr.ss.ss_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;

    *full = 0;
    if (fd < 0) {
        snprintf(err, errlen, "backend %s: socket: %s", be->name, strerror(errno));
        return -1;
    }
    /* Payload is spliced in whatever chunks arrive: do not hold them back. */
    if (family != AF_UNIX) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        kp_keepalive(fd);
    }
    if (connect(fd, (const struct sockaddr *)&be->addr.ss, be->addr.len) == 0 ||
        errno == EINPROGRESS)
        return fd;
    /* A unix socket whose backlog is full says EAGAIN at once and is not
     * connecting: the caller tries again a little later. */
    if (family == AF_UNIX && errno == EAGAIN) {
        *full = 1;
        return fd;
    }
    connect_failed(be, err, errlen);
    close(fd);
    return -1;
}

int backend_connect_again(const struct kp_backend *be, int fd, char *err, size_t errlen)
{
    if (connect(fd, (const struct sockaddr *)&be->addr.ss, be->addr.len) == 0 ||
        errno == EINPROGRESS)
        return 0;
    if (errno == EAGAIN)
        return 1;
    return connect_failed(be, err, errlen);
}

bool backend_connect_settled(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLOUT };

    return poll(&p, 1, 0) == 1;
}

int backend_connect_result(int fd, char *err, size_t errlen)
{
    int soerr = 0;
    socklen_t len = sizeof soerr;

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
    if (soerr == 0)
        return 0;
    snprintf(err, errlen, "connect: %s", strerror(soerr));
    return -1;
}

int backend_proxy_header(const struct kp_backend *be, int client_fd, const struct tls_info *info,
                         unsigned char **hdr, uint16_t *len)
{
    struct sockaddr_storage src, dst;
    socklen_t slen = sizeof src, dlen = sizeof dst;
    struct kp_proxy_info pi = {
        .src = (struct sockaddr *)&src, .dst = (struct sockaddr *)&dst,
        .alpn = info->alpn, .authority = info->sni, .ssl = 1,
        .tls_version = info->version_name, .cipher = info->suite_name,
        .client_cn = info->client_cn, .client_cert_verified = info->client_verified,
    };
    int n;

    *hdr = NULL;
    *len = 0;
    if (be->proxy_protocol == KP_PROXY_OFF)
        return 0;
    if (getpeername(client_fd, (struct sockaddr *)&src, &slen) != 0 ||
        getsockname(client_fd, (struct sockaddr *)&dst, &dlen) != 0)
        return -1;
    *hdr = malloc(KP_PROXY_V2_MAX);
    if (*hdr == NULL)
        return -1;
    n = be->proxy_protocol == KP_PROXY_V1 ? proxy_v1_encode(&pi, (char *)*hdr, KP_PROXY_V2_MAX)
                                          : proxy_v2_encode(&pi, *hdr, KP_PROXY_V2_MAX);
    if (n <= 0) {
        free(*hdr);
        *hdr = NULL;
        return -1;
    }
    *len = (uint16_t)n;
    return 0;
}
