/*
 * fuzz_proxy - the PROXY v1/v2 encoder with random connection info,
 * checked against an independent decoder written here from HAProxy's
 * proxy-protocol.txt.
 *
 * Input: family (1 byte: 0 unspec, 1 IPv4, 2 IPv6, 3 mixed), buffer size
 * (2 bytes), flags (1 byte: ssl, verified), 16+16 address bytes, 2+2 ports,
 * then NUL-separated alpn, authority, tls_version, cipher, client_cn (any
 * bytes: CR, LF, 0xff...).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_proto.h"

struct decoded {
    int family;                      /* 0x11, 0x21 or 0x00 */
    unsigned char src[16], dst[16];
    uint16_t sport, dport;           /* host order */
    const unsigned char *tlv[256];   /* by type; SSL sub-TLVs at 0x21.. */
    size_t tlv_len[256];
    int have_ssl;
    uint8_t client;
    uint32_t verify;
};

static uint16_t be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* TLVs in [p, end); 0 if malformed. */
static int decode_tlvs(struct decoded *d, const unsigned char *p, const unsigned char *end,
                       int in_ssl)
{
    while (p < end) {
        if (end - p < 3)
            return 0;
        uint8_t type = p[0];
        size_t len = be16(p + 1);
        p += 3;
        if ((size_t)(end - p) < len || d->tlv[type] != NULL)
            return 0; /* every TLV at most once */
        d->tlv[type] = p;
        d->tlv_len[type] = len;
        if (type == 0x20) {
            if (in_ssl || len < 5)
                return 0;
            d->have_ssl = 1;
            d->client = p[0];
            d->verify = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | p[3] << 8 | p[4];
            if (!decode_tlvs(d, p + 5, p + len, 1))
                return 0;
        }
        p += len;
    }
    return 1;
}

static int decode_v2(const unsigned char *b, size_t n, struct decoded *d)
{
    static const unsigned char sig[12] = "\r\n\r\n\0\r\nQUIT\n";
    size_t len, alen;

    memset(d, 0, sizeof *d);
    if (n < 16 || memcmp(b, sig, 12) != 0 || b[12] != 0x21)
        return 0;
    d->family = b[13];
    len = be16(b + 14);
    if (16 + len != n)
        return 0;
    alen = d->family == 0x11 ? 12 : d->family == 0x21 ? 36 : d->family == 0 ? 0 : (size_t)-1;
    if (alen == (size_t)-1 || len < alen)
        return 0;
    size_t one = alen == 12 ? 4 : 16;
    if (alen) {
        memcpy(d->src, b + 16, one);
        memcpy(d->dst, b + 16 + one, one);
        d->sport = be16(b + 16 + 2 * one);
        d->dport = be16(b + 18 + 2 * one);
    }
    return decode_tlvs(d, b + 16 + alen, b + n, 0);
}

static void expect_tlv(const struct decoded *d, int type, const char *value)
{
    if (value == NULL || value[0] == '\0') {
        assert(d->tlv[type] == NULL);
        return;
    }
    assert(d->tlv[type] != NULL && d->tlv_len[type] == strlen(value));
    assert(memcmp(d->tlv[type], value, d->tlv_len[type]) == 0);
}

static void fill_addr(struct sockaddr_storage *ss, int v6, const uint8_t *addr, const uint8_t *port)
{
    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
        s->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, addr, 16);
        memcpy(&s->sin6_port, port, 2);
    } else {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        memcpy(&s->sin_addr, addr, 4);
        memcpy(&s->sin_port, port, 2);
    }
}

static void check_v1(const struct kp_proxy_info *pi, int family, const char *hdr, int n)
{
    char fam[8], src[64], dst[64];
    unsigned sport, dport;
    unsigned char a[16];
    int used = 0;

    assert(n > 0 && (size_t)n == strlen(hdr) && n <= 107);
    assert(hdr[n - 2] == '\r' && hdr[n - 1] == '\n');
    if (family == 0) {
        assert(strcmp(hdr, "PROXY UNKNOWN\r\n") == 0);
        return;
    }
    assert(sscanf(hdr, "PROXY %7s %63s %63s %u %u\r\n%n", fam, src, dst, &sport, &dport, &used) == 5);
    assert(used == n);
    int af = strcmp(fam, "TCP4") == 0 ? AF_INET : AF_INET6;
    assert(af == family);
    const struct sockaddr_in6 *s6 = (const void *)pi->src, *d6 = (const void *)pi->dst;
    const struct sockaddr_in *s4 = (const void *)pi->src, *d4 = (const void *)pi->dst;
    assert(inet_pton(af, src, a) == 1);
    assert(memcmp(a, af == AF_INET ? (const void *)&s4->sin_addr : (const void *)&s6->sin6_addr,
                  af == AF_INET ? 4 : 16) == 0);
    assert(inet_pton(af, dst, a) == 1);
    assert(memcmp(a, af == AF_INET ? (const void *)&d4->sin_addr : (const void *)&d6->sin6_addr,
                  af == AF_INET ? 4 : 16) == 0);
    assert(sport == ntohs(af == AF_INET ? s4->sin_port : s6->sin6_port));
    assert(dport == ntohs(af == AF_INET ? d4->sin_port : d6->sin6_port));
}

static void check_v2(const struct kp_proxy_info *pi, int family, const unsigned char *b, int n,
                     const uint8_t *addr, const uint8_t *ports)
{
    struct decoded d;

    assert(decode_v2(b, (size_t)n, &d));
    assert(d.family == (family == AF_INET ? 0x11 : family == AF_INET6 ? 0x21 : 0));
    if (family != 0) {
        size_t one = family == AF_INET ? 4 : 16;
        assert(memcmp(d.src, addr, one) == 0 && memcmp(d.dst, addr + 16, one) == 0);
        assert(d.sport == be16(ports) && d.dport == be16(ports + 2));
    }
    expect_tlv(&d, 0x01, pi->alpn);
    expect_tlv(&d, 0x02, pi->authority);
    assert(d.have_ssl == !!pi->ssl);
    if (!pi->ssl)
        return;
    assert(d.client == (pi->client_cert_verified ? 0x07 : 0x01));
    assert(d.verify == (pi->client_cert_verified ? 0 : 1));
    expect_tlv(&d, 0x21, pi->tls_version);
    expect_tlv(&d, 0x23, pi->cipher);
    expect_tlv(&d, 0x22, pi->client_cert_verified ? pi->client_cn : NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum { HEAD = 1 + 2 + 1 + 32 + 4 };
    struct sockaddr_storage src, dst;
    char *strs[5] = { 0 }, *copy;
    size_t n = 0;

    if (size < HEAD)
        return 0;
    int fam_sel = data[0] & 3;
    size_t buflen = be16(data + 1) % 2048;
    fill_addr(&src, fam_sel == 2 || fam_sel == 3, data + 4, data + 36);
    fill_addr(&dst, fam_sel == 2, data + 20, data + 38);
    copy = malloc(size - HEAD + 1);
    memcpy(copy, data + HEAD, size - HEAD);
    copy[size - HEAD] = '\0';
    for (char *p = copy; n < 5 && p <= copy + (size - HEAD); p += strlen(p) + 1)
        strs[n++] = p;
    struct kp_proxy_info pi = {
        .src = fam_sel ? (struct sockaddr *)&src : NULL, .dst = (struct sockaddr *)&dst,
        .alpn = strs[0], .authority = strs[1], .ssl = data[3] & 1, .tls_version = strs[2],
        .cipher = strs[3], .client_cn = strs[4], .client_cert_verified = (data[3] >> 1) & 1,
    };
    int family = fam_sel == 1 ? AF_INET : fam_sel == 2 ? AF_INET6 : 0;
    unsigned char *buf = malloc(buflen ? buflen : 1);
    int r = proxy_v1_encode(&pi, (char *)buf, buflen);
    if (r > 0)
        check_v1(&pi, family, (char *)buf, r);
    else
        assert(buflen < 108); /* every v1 header fits in 108 bytes */
    r = proxy_v2_encode(&pi, buf, buflen);
    if (r > 0)
        check_v2(&pi, family, buf, r, data + 4, data + 36);
    else
        assert(r == -1);
    free(buf);
    free(copy);
    return 0;
}
