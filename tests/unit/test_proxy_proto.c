/*
 * test_proxy_proto.c - PROXY protocol headers, byte for byte, as written out
 * from HAProxy's proxy-protocol.txt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cmocka.h>

#include "proxy_proto.h"

#define V2_SIGNATURE "\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a"

struct endpoints {
    struct sockaddr_storage src, dst;
};

static void
set_addr(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof *ss);
    if (strchr(ip, ':') == NULL) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    } else {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    }
}

static void
set_unix(struct sockaddr_storage *ss, const char *path)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)ss;

    memset(ss, 0, sizeof *ss);
    sun->sun_family = AF_UNIX;
    strcpy(sun->sun_path, path);
}

static struct kp_proxy_info
info_for(struct endpoints *ep, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
    struct kp_proxy_info pi;

    memset(&pi, 0, sizeof pi);
    set_addr(&ep->src, src, sport);
    set_addr(&ep->dst, dst, dport);
    pi.src = (struct sockaddr *)&ep->src;
    pi.dst = (struct sockaddr *)&ep->dst;
    return pi;
}

static void
assert_v1(const struct kp_proxy_info *pi, const char *want)
{
    char buf[KP_PROXY_V1_MAX];

    memset(buf, 'X', sizeof buf);
    assert_int_equal(proxy_v1_encode(pi, buf, sizeof buf), strlen(want));
    assert_string_equal(buf, want);
}

/* want_len excludes the NUL a string literal adds. */
static void
assert_v2(const struct kp_proxy_info *pi, const char *want, size_t want_len)
{
    unsigned char buf[KP_PROXY_V2_MAX];

    memset(buf, 0xEE, sizeof buf);
    assert_int_equal(proxy_v2_encode(pi, buf, sizeof buf), want_len);
    assert_memory_equal(buf, want, want_len);
}

#define ASSERT_V2(pi, lit) assert_v2((pi), (lit), sizeof(lit) - 1)

static void
test_v1_tcp4(void **state)
{
    struct endpoints ep;
    struct kp_proxy_info pi = info_for(&ep, "192.0.2.1", 51000, "198.51.100.2", 443);

    (void)state;
    assert_v1(&pi, "PROXY TCP4 192.0.2.1 198.51.100.2 51000 443\r\n");
}

static void
test_v1_tcp6(void **state)
{
    struct endpoints ep;
    struct kp_proxy_info pi = info_for(&ep, "2001:db8::1", 40000, "2001:db8::2", 443);

    (void)state;
    assert_v1(&pi, "PROXY TCP6 2001:db8::1 2001:db8::2 40000 443\r\n");
    /* IPv4-mapped addresses stay IPv6 */
    pi = info_for(&ep, "::ffff:192.0.2.1", 1, "::ffff:198.51.100.2", 8443);
    assert_v1(&pi, "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:198.51.100.2 1 8443\r\n");
}

static void
test_v1_unknown(void **state)
{
    struct endpoints ep;
    struct kp_proxy_info pi = info_for(&ep, "192.0.2.1", 51000, "2001:db8::2", 443);

    (void)state;
    assert_v1(&pi, "PROXY UNKNOWN\r\n");               /* mixed families */
    set_unix(&ep.src, "/run/client.sock");
    set_unix(&ep.dst, "/run/ktlsproxy.sock");
    assert_v1(&pi, "PROXY UNKNOWN\r\n");               /* unix sockets */
    pi.src = NULL;
    assert_v1(&pi, "PROXY UNKNOWN\r\n");               /* no address */
}

static void
test_v1_longest(void **state)
{
    static const char longest[] =
        "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    struct endpoints ep;
    struct kp_proxy_info pi = info_for(&ep, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
                                       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);

    (void)state;
    assert_true(sizeof longest - 1 <= 107);
    assert_true(sizeof longest <= KP_PROXY_V1_MAX);
    assert_v1(&pi, longest);
}

/* Every buffer shorter than header + NUL is refused; heap buffers of the exact
 * size let ASan catch a write past the end. */
static void
test_v1_too_small(void **state)
{
    struct endpoints ep;
    struct kp_proxy_info pi = info_for(&ep, "2001:db8::1", 40000, "2001:db8::2", 443);
    const char *want = "PROXY TCP6 2001:db8::1 2001:db8::2 40000 443\r\n";
    size_t n = strlen(want);

    (void)state;
    for (size_t len = 0; len <= n; len++) {
        char *buf = malloc(len);

        assert_non_null(buf);
        assert_int_equal(proxy_v1_encode(&pi, buf, len), -1);
        free(buf);
    }
    {
        char *buf = malloc(n + 1);

        assert_non_null(buf);
        assert_int_equal(proxy_v1_encode(&pi, buf, n + 1), n);
        assert_string_equal(buf, want);
        free(buf);
    }
}

static void
test_v2_tcp4_no_tlvs(void **state)
{
    struct endpoints ep;
    struct kp_proxy_info pi = info_for(&ep, "192.0.2.1", 51000, "198.51.100.2", 443);

    (void)state;
    ASSERT_V2(&pi,
              V2_SIGNATURE
              "\x21\x11\x00\x0c"                    /* v2 PROXY, TCP4, 12 bytes follow */
              "\xc0\x00\x02\x01"                    /* 192.0.2.1 */
              "\xc6\x33\x64\x02"                    /* 198.51.100.2 */
              "\xc7\x38\x01\xbb");                  /* 51000, 443 */
}

static const char v2_tcp6_tlvs[] =
    V2_SIGNATURE
    "\x21\x21\x00\x6a"                              /* v2 PROXY, TCP6, 106 bytes follow */
    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01" /* 2001:db8::1 */
    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02" /* 2001:db8::2 */
    "\x9c\x40\x01\xbb"                              /* 40000, 443 */
    "\x01\x00\x02" "h2"                             /* ALPN */
    "\x02\x00\x0b" "example.com"                    /* AUTHORITY */
    "\x20\x00\x30"                                  /* SSL, 48 bytes */
    "\x07"                                          /* SSL | CERT_CONN | CERT_SESS */
    "\x00\x00\x00\x00"                              /* verify: ok */
    "\x21\x00\x07" "TLSv1.3"                        /* VERSION */
    "\x22\x00\x05" "alice"                          /* CN */
    "\x23\x00\x16" "TLS_AES_128_GCM_SHA256";        /* CIPHER */

static struct kp_proxy_info
tcp6_with_tlvs(struct endpoints *ep)
{
    struct kp_proxy_info pi = info_for(ep, "2001:db8::1", 40000, "2001:db8::2", 443);

    pi.alpn = "h2";
    pi.authority = "example.com";
    pi.ssl = 1;
    pi.tls_version = "TLSv1.3";
    pi.cipher = "TLS_AES_128_GCM_SHA256";
    pi.client_cn = "alice";
    pi.client_cert_verified = 1;
    return pi;
}

static void
test_v2_tcp6_tlvs(void **state)
{
    struct endpoints ep;
    struct kp_proxy_info pi = tcp6_with_tlvs(&ep);

    (void)state;
    ASSERT_V2(&pi, v2_tcp6_tlvs);
}

/* Without a verified client certificate: verify is non-zero and no CN is sent. */
static void
test_v2_ssl_unverified(void **state)
{
    struct endpoints ep;
    struct kp_proxy_info pi = info_for(&ep, "192.0.2.1", 51000, "198.51.100.2", 443);

    (void)state;
    pi.ssl = 1;
    pi.tls_version = "TLSv1.2";
    pi.client_cn = "mallory";
    ASSERT_V2(&pi,
              V2_SIGNATURE
              "\x21\x11\x00\x1e"                    /* 30 bytes follow */
              "\xc0\x00\x02\x01\xc6\x33\x64\x02\xc7\x38\x01\xbb"
              "\x20\x00\x0f"                        /* SSL, 15 bytes */
              "\x01"                                /* SSL only */
              "\x00\x00\x00\x01"                    /* verify: not ok */
              "\x21\x00\x07" "TLSv1.2");
}

static void
test_v2_unspec(void **state)
{
    struct endpoints ep;
    struct kp_proxy_info pi = info_for(&ep, "192.0.2.1", 51000, "2001:db8::2", 443);

    (void)state;
    ASSERT_V2(&pi, V2_SIGNATURE "\x21\x00\x00\x00");   /* mixed families */
    set_unix(&ep.src, "/run/client.sock");
    set_unix(&ep.dst, "/run/ktlsproxy.sock");
    ASSERT_V2(&pi, V2_SIGNATURE "\x21\x00\x00\x00");
    /* TLVs follow right after the empty address block */
    pi.alpn = "http/1.1";
    ASSERT_V2(&pi, V2_SIGNATURE "\x21\x00\x00\x0b" "\x01\x00\x08" "http/1.1");
    pi.dst = NULL;
    ASSERT_V2(&pi, V2_SIGNATURE "\x21\x00\x00\x0b" "\x01\x00\x08" "http/1.1");
}

static void
test_v2_too_small(void **state)
{
    struct endpoints ep;
    struct kp_proxy_info pi = tcp6_with_tlvs(&ep);
    size_t n = sizeof v2_tcp6_tlvs - 1;
    unsigned char *buf;

    (void)state;
    for (size_t len = 0; len < n; len++) {
        buf = malloc(len);
        assert_non_null(buf);
        assert_int_equal(proxy_v2_encode(&pi, buf, len), -1);
        free(buf);
    }
    buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(proxy_v2_encode(&pi, buf, n), n);
    assert_memory_equal(buf, v2_tcp6_tlvs, n);
    free(buf);
}

/* A TLV, and the whole header after the first 16 bytes, have 16-bit lengths. */
static void
test_v2_length_limits(void **state)
{
    struct endpoints ep;
    struct kp_proxy_info pi = info_for(&ep, "192.0.2.1", 51000, "198.51.100.2", 443);
    size_t big = 100000;
    unsigned char *buf = malloc(big);
    char *a = malloc(70001), *b = malloc(40001);

    (void)state;
    assert_non_null(buf);
    assert_non_null(a);
    assert_non_null(b);
    memset(a, 'a', 70000);
    a[70000] = '\0';
    memset(b, 'b', 40000);
    b[40000] = '\0';

    pi.authority = a;
    assert_int_equal(proxy_v2_encode(&pi, buf, big), -1);
    a[65535] = '\0';
    assert_int_equal(proxy_v2_encode(&pi, buf, big), -1);   /* 12 + 3 + 65535 > 65535 */
    a[65535 - 12 - 3] = '\0';
    assert_int_equal(proxy_v2_encode(&pi, buf, big), 16 + 65535);
    assert_int_equal(buf[14], 0xff);
    assert_int_equal(buf[15], 0xff);

    pi.authority = b;
    pi.alpn = b;
    assert_int_equal(proxy_v2_encode(&pi, buf, big), -1);
    free(a);
    free(b);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_tcp4),
        cmocka_unit_test(test_v1_tcp6),
        cmocka_unit_test(test_v1_unknown),
        cmocka_unit_test(test_v1_longest),
        cmocka_unit_test(test_v1_too_small),
        cmocka_unit_test(test_v2_tcp4_no_tlvs),
        cmocka_unit_test(test_v2_tcp6_tlvs),
        cmocka_unit_test(test_v2_ssl_unverified),
        cmocka_unit_test(test_v2_unspec),
        cmocka_unit_test(test_v2_too_small),
        cmocka_unit_test(test_v2_length_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
