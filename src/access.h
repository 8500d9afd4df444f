/*
 * access.h - what one connection did, for its access line and for naming
 * the client in every log line about it.
 */
#ifndef KP_ACCESS_H
#define KP_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct tls_info;

struct kp_access {
    char client[64];            /* "192.0.2.1:5555", "[2001:db8::1]:5555" */
    char *sni;                  /* copied: the session that held it is gone by the end */
    const char *version, *cipher; /* static strings; NULL until the handshake is done */
    double start, handshake;    /* accepted; handshake done (0 = never) */
};

/* At accept: who the client is (getpeername of fd), and when. */
void access_begin(struct kp_access *a, int fd, double now);
/* The handshake is done: what it negotiated. */
void access_handshake(struct kp_access *a, const struct tls_info *info, double now);

/* What the access line needs beyond the record. */
struct access_end {
    const char *alpn, *backend, *reason;
    bool ktls;
    uint64_t bytes_in, bytes_out; /* from the client, to the client */
};
void access_log(const struct kp_access *a, const struct kp_frontend *fe,
                const struct access_end *end, double now);
void access_free(struct kp_access *a);

#endif
