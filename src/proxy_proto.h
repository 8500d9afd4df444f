/*
 * proxy_proto.h - PROXY protocol v1 and v2 headers (HAProxy's proxy-protocol.txt).
 *
 * Pure encoding into a caller-owned buffer; the caller writes it to the
 * backend before any payload.
 */
#ifndef KP_PROXY_PROTO_H
#define KP_PROXY_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define KP_PROXY_V1_MAX 108     /* 107 bytes + NUL */
#define KP_PROXY_V2_MAX 536     /* 16 + 216 addresses/TLVs we emit, generous */

struct kp_proxy_info {
    const struct sockaddr *src, *dst; /* client address, our local address; NULL or
                                         non-INET family => UNKNOWN / LOCAL-less UNSPEC */
    /* v2 TLVs; NULL / 0 = leave out. */
    const char *alpn;           /* PP2_TYPE_ALPN */
    const char *authority;      /* PP2_TYPE_AUTHORITY: SNI host name */
    int ssl;                    /* emit PP2_TYPE_SSL */
    const char *tls_version;    /* PP2_SUBTYPE_SSL_VERSION, e.g. "TLSv1.3" */
    const char *cipher;         /* PP2_SUBTYPE_SSL_CIPHER, e.g. "TLS_AES_128_GCM_SHA256" */
    const char *client_cn;      /* PP2_SUBTYPE_SSL_CN, only when a client cert was verified */
    int client_cert_verified;   /* sets PP2_CLIENT_CERT_CONN|PP2_CLIENT_CERT_SESS, verify = 0 */
};

/* Both return the header length (>0), or -1 if it does not fit / bad input. */
int proxy_v1_encode(const struct kp_proxy_info *pi, char *buf, size_t len);
int proxy_v2_encode(const struct kp_proxy_info *pi, unsigned char *buf, size_t len);

#endif
