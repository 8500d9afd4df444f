/*
 * access.c - the access line: one line of key=value pairs per connection,
 * values that may contain spaces (the close reason) in double quotes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "access.h"
#include "log.h"
#include "tls.h"

void access_begin(struct kp_access *a, int fd, double now)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    const struct sockaddr_in *in = (const void *)&ss;
    const struct sockaddr_in6 *in6 = (const void *)&ss;
    char host[INET6_ADDRSTRLEN];

    memset(a, 0, sizeof *a);
    a->start = now;
    snprintf(a->client, sizeof a->client, "unknown");
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET && inet_ntop(AF_INET, &in->sin_addr, host, sizeof host))
        snprintf(a->client, sizeof a->client, "%s:%u", host, ntohs(in->sin_port));
    else if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host))
        snprintf(a->client, sizeof a->client, "[%s]:%u", host, ntohs(in6->sin6_port));
    else if (ss.ss_family == AF_UNIX)
        snprintf(a->client, sizeof a->client, "unix");
}

void access_handshake(struct kp_access *a, const struct tls_info *info, double now)
{
    a->handshake = now;
    a->version = info->version_name;
    a->cipher = info->suite_name;
    if (info->sni != NULL && (a->sni = strdup(info->sni)) != NULL) /* else logged as "-" */
        for (char *ch = a->sni; *ch; ch++)
            if (*ch <= ' ' || *ch > '~' || *ch == '"')
                *ch = '?'; /* one line, one field: whatever the client sent */
}

static double ms(double from, double to)
{
    return from > 0 && to >= from ? (to - from) * 1000.0 : 0.0;
}

void access_log(const struct kp_access *a, const struct kp_frontend *fe,
                const struct access_end *end, double now)
{
    log_access_line("client=%s frontend=%s sni=%s alpn=%s version=%s cipher=%s tls=%s "
                    "backend=%s bytes_in=%llu bytes_out=%llu handshake_ms=%.1f duration_ms=%.1f "
                    "end=\"%s\"",
                    a->client, fe->name, a->sni ? a->sni : "-", end->alpn ? end->alpn : "-",
                    a->version ? a->version : "-", a->cipher ? a->cipher : "-",
                    a->version == NULL ? "-" : end->ktls ? "ktls" : "user",
                    end->backend ? end->backend : "-", (unsigned long long)end->bytes_in,
                    (unsigned long long)end->bytes_out, ms(a->start, a->handshake),
                    ms(a->start, now), end->reason);
}

void access_free(struct kp_access *a)
{
    free(a->sni);
    a->sni = NULL;
}
