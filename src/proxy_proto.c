/*
 * proxy_proto.c - PROXY protocol v1 and v2 headers (HAProxy's proxy-protocol.txt).
 */
#include "proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v2_signature[12] = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

#define PP2_VERSION_PROXY 0x21  /* version 2, command PROXY */
#define PP2_FAM_UNSPEC 0x00
#define PP2_FAM_TCP4 0x11
#define PP2_FAM_TCP6 0x21

#define PP2_TYPE_ALPN 0x01
#define PP2_TYPE_AUTHORITY 0x02
#define PP2_TYPE_SSL 0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CN 0x22
#define PP2_SUBTYPE_SSL_CIPHER 0x23

#define PP2_CLIENT_SSL 0x01
#define PP2_CLIENT_CERT_CONN 0x02
#define PP2_CLIENT_CERT_SESS 0x04

/* AF_INET or AF_INET6 when both ends have that family, else AF_UNSPEC. */
static int
inet_family(const struct kp_proxy_info *pi)
{
    if (pi->src == NULL || pi->dst == NULL || pi->src->sa_family != pi->dst->sa_family)
        return AF_UNSPEC;
    if (pi->src->sa_family == AF_INET || pi->src->sa_family == AF_INET6)
        return pi->src->sa_family;
    return AF_UNSPEC;
}

static const void *
in_addr_of(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return &((const struct sockaddr_in *)sa)->sin_addr;
    return &((const struct sockaddr_in6 *)sa)->sin6_addr;
}

/* Network byte order, as in the socket address. */
static const in_port_t *
port_of(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return &((const struct sockaddr_in *)sa)->sin_port;
    return &((const struct sockaddr_in6 *)sa)->sin6_port;
}

int
proxy_v1_encode(const struct kp_proxy_info *pi, char *buf, size_t len)
{
    int family = inet_family(pi);
    int n;

    if (family == AF_UNSPEC) {
        n = snprintf(buf, len, "PROXY UNKNOWN\r\n");
    } else {
        char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];

        if (inet_ntop(family, in_addr_of(pi->src), src, sizeof src) == NULL ||
            inet_ntop(family, in_addr_of(pi->dst), dst, sizeof dst) == NULL)
            return -1;
        n = snprintf(buf, len, "PROXY %s %s %s %u %u\r\n",
                     family == AF_INET ? "TCP4" : "TCP6", src, dst,
                     ntohs(*port_of(pi->src)), ntohs(*port_of(pi->dst)));
    }
    if (n < 0 || (size_t)n >= len)
        return -1;
    return n;
}

/* Appends to a fixed buffer; once something did not fit, nothing more is written. */
struct writer {
    unsigned char *buf;
    size_t len, off;
    int overflow;
};

static void
put_bytes(struct writer *w, const void *data, size_t n)
{
    if (w->overflow || n > w->len - w->off) {
        w->overflow = 1;
        return;
    }
    memcpy(w->buf + w->off, data, n);
    w->off += n;
}

static void
put_u8(struct writer *w, uint8_t v)
{
    put_bytes(w, &v, 1);
}

static void
put_u16(struct writer *w, uint16_t v)
{
    unsigned char b[2] = { v >> 8, v & 0xff };

    put_bytes(w, b, sizeof b);
}

/* Opens a length-prefixed block; close_block() fills in its length. */
static size_t
open_block(struct writer *w)
{
    size_t at = w->off;

    put_u16(w, 0);
    return at;
}

static void
close_block(struct writer *w, size_t at)
{
    size_t n = w->off - at - 2;

    if (w->overflow)
        return;
    if (n > 0xffff) {
        w->overflow = 1;
        return;
    }
    w->buf[at] = n >> 8;
    w->buf[at + 1] = n & 0xff;
}

static int
present(const char *s)
{
    return s != NULL && *s != '\0';
}

/* A value longer than 0xffff also makes the enclosing block too long, which
 * close_block() refuses: no need to check it here. */
static void
put_tlv(struct writer *w, uint8_t type, const char *value)
{
    size_t n = strlen(value);

    put_u8(w, type);
    put_u16(w, n & 0xffff);
    put_bytes(w, value, n);
}

static void
put_addresses(struct writer *w, const struct kp_proxy_info *pi, int family)
{
    size_t alen = family == AF_INET ? 4 : 16;

    put_bytes(w, in_addr_of(pi->src), alen);
    put_bytes(w, in_addr_of(pi->dst), alen);
    put_bytes(w, port_of(pi->src), 2);
    put_bytes(w, port_of(pi->dst), 2);
}

static void
put_ssl_tlv(struct writer *w, const struct kp_proxy_info *pi)
{
    uint8_t client = PP2_CLIENT_SSL;
    /* verify: 0 only when a client certificate was presented and verified */
    static const unsigned char verify_ok[4] = { 0, 0, 0, 0 };
    static const unsigned char verify_none[4] = { 0, 0, 0, 1 };
    size_t at;

    if (pi->client_cert_verified)
        client |= PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS;
    put_u8(w, PP2_TYPE_SSL);
    at = open_block(w);
    put_u8(w, client);
    put_bytes(w, pi->client_cert_verified ? verify_ok : verify_none, 4);
    if (present(pi->tls_version))
        put_tlv(w, PP2_SUBTYPE_SSL_VERSION, pi->tls_version);
    if (pi->client_cert_verified && present(pi->client_cn))
        put_tlv(w, PP2_SUBTYPE_SSL_CN, pi->client_cn);
    if (present(pi->cipher))
        put_tlv(w, PP2_SUBTYPE_SSL_CIPHER, pi->cipher);
    close_block(w, at);
}

int
proxy_v2_encode(const struct kp_proxy_info *pi, unsigned char *buf, size_t len)
{
    struct writer w = { .buf = buf, .len = len };
    int family = inet_family(pi);
    size_t at;

    put_bytes(&w, v2_signature, sizeof v2_signature);
    put_u8(&w, PP2_VERSION_PROXY);
    /* UNSPEC: the receiver uses the real connection endpoints, e.g. for unix sockets */
    put_u8(&w, family == AF_INET ? PP2_FAM_TCP4 :
               family == AF_INET6 ? PP2_FAM_TCP6 : PP2_FAM_UNSPEC);
    at = open_block(&w);
    if (family != AF_UNSPEC)
        put_addresses(&w, pi, family);
    if (present(pi->alpn))
        put_tlv(&w, PP2_TYPE_ALPN, pi->alpn);
    if (present(pi->authority))
        put_tlv(&w, PP2_TYPE_AUTHORITY, pi->authority);
    if (pi->ssl)
        put_ssl_tlv(&w, pi);
    close_block(&w, at);
    return w.overflow ? -1 : (int)w.off;
}
