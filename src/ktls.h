/*
 * ktls.h - the kernel side of kTLS: is it there, hand a socket's keys to it,
 * and the control records (alerts, handshake messages) that splice() cannot
 * carry.
 */
#ifndef KP_KTLS_H
#define KP_KTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ktls_keys.h"

/* What the kernel takes: bit i of tx and rx stands for the i-th TLS version x
 * cipher combination (TLS 1.2 and 1.3 x AES-128-GCM, AES-256-GCM,
 * ChaCha20-Poly1305: KTLS_COMBOS of them). */
#define KTLS_COMBOS 6
struct ktls_caps {
    unsigned tx, rx;
    unsigned rekey;  /* TLS 1.3 only: TLS_TX and TLS_RX can be set again (Linux 6.14+) */
};

/* Try TLS_TX and TLS_RX for every combination on loopback connections (and
 * for TLS 1.3, both a second time: a kernel without rekey says EBUSY).  0 with
 * caps filled when the tls ULP attaches, -1 (err says why, and how to load the
 * module) when it does not. */
int ktls_probe(struct ktls_caps *caps, char *err, size_t errlen);

/* The combinations the kernel takes both ways, and those it lacks with the
 * direction, e.g. "TLS 1.3 CHACHA20-POLY1305 (RX)"; "none" when empty. */
void ktls_caps_describe(const struct ktls_caps *caps, char *takes, size_t takes_len,
                        char *lacks, size_t lacks_len);

/* Record what the probe found, for the whole process; call once before the
 * workers start.  Until then every combination counts as taken. */
void ktls_use_caps(const struct ktls_caps *caps);

/* Whether the kernel takes keys of this TLS_1_x_VERSION and TLS_CIPHER_* both ways. */
bool ktls_kernel_takes(uint16_t version, uint16_t cipher);
/* ... and new keys both ways after a TLS 1.3 KeyUpdate.  False until the probe
 * found it. */
bool ktls_kernel_rekeys(uint16_t version, uint16_t cipher);
/* Whether any combination rekeys, for the start-up log. */
bool ktls_caps_rekey(const struct ktls_caps *caps);

enum ktls_result {
    KTLS_OK,
    KTLS_UNTOUCHED,   /* nothing took effect: the socket can still be used as is */
    KTLS_BROKEN,      /* half installed: the connection must be closed */
    KTLS_UNSUPPORTED, /* the start-up probe found the kernel lacks this suite: untouched */
    KTLS_PEER_CLOSED, /* the client closed (FIN or RST) before the hand-off: untouched */
};
enum ktls_result ktls_install(int fd, const struct kp_ktls_keys *keys, char *err, size_t errlen);

/* TLS record content types. */
#define KTLS_CONTENT_ALERT 21
#define KTLS_CONTENT_HANDSHAKE 22
#define KTLS_CONTENT_APPLICATION_DATA 23

/* Replace the keys of one direction (TLS 1.3 KeyUpdate; the probe said the
 * kernel can).  0 or -1 (errno). */
int ktls_rekey(int fd, bool tx, const union kp_crypto_info *info, socklen_t len);

/* Send one record of this content type through the kernel (a control record:
 * the whole of buf in one record, or nothing).  0 or -1 (errno; EAGAIN when
 * the socket is full). */
int ktls_send_record(int fd, unsigned char type, const void *buf, size_t len);

/* Send a close_notify alert as a kTLS control record.  0 or -1 (errno). */
int ktls_send_close_notify(int fd);

/* Read the next record when it is not application data (splice() said
 * EINVAL).  Returns its length, sets *type; -1 with errno on failure. */
ssize_t ktls_recv_control(int fd, unsigned char *type, unsigned char *buf, size_t len);

#endif
