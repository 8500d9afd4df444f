/*
 * ktls.h - the kernel side of kTLS: is it there, hand a socket's keys to it,
 * and the control records (alerts, handshake messages) that splice() cannot
 * carry.
 */
#ifndef KP_KTLS_H
#define KP_KTLS_H

#include <stddef.h>
#include <sys/types.h>

#include "ktls_keys.h"

/* 0 if this kernel can do TLS_TX/TLS_RX with AES-GCM, -1 (err says why) if not. */
int ktls_probe(char *err, size_t errlen);

enum ktls_result {
    KTLS_OK,
    KTLS_UNTOUCHED, /* nothing took effect: the socket can still be used as is */
    KTLS_BROKEN,    /* half installed: the connection must be closed */
};
enum ktls_result ktls_install(int fd, const struct kp_ktls_keys *keys, char *err, size_t errlen);

/* TLS record content types. */
#define KTLS_CONTENT_ALERT 21
#define KTLS_CONTENT_HANDSHAKE 22
#define KTLS_CONTENT_APPLICATION_DATA 23

/* Send a close_notify alert as a kTLS control record.  0 or -1 (errno). */
int ktls_send_close_notify(int fd);

/* Read the next record when it is not application data (splice() said
 * EINVAL).  Returns its length, sets *type; -1 with errno on failure. */
ssize_t ktls_recv_control(int fd, unsigned char *type, unsigned char *buf, size_t len);

#endif
