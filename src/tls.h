/*
 * tls.h - everything mbedTLS: a frontend's certificates and settings, and
 * the server handshake of one connection up to the moment its keys are
 * handed to the kernel.
 *
 * All handshake code lives here so that a faster signer or an asynchronous
 * private-key operation can later be plugged in at one place
 * (kp_tls_frontend_new sets up the keys; kp_tls_handshake drives them).
 */
#ifndef KP_TLS_H
#define KP_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "ktls_keys.h"
#include "metrics.h"

struct tls_frontend;   /* one per frontend per worker thread */
struct tls_session;    /* one per connection, freed at hand-off */

/* "what: mbedTLS's text (-0xCODE)" into err. */
void kp_tls_mbed_error(char *err, size_t errlen, const char *what, int ret);

/* Once per process, before any thread starts (PSA crypto). */
int kp_tls_global_init(char *err, size_t errlen);

/* Loads and checks the frontend's certificates, keys and CA.  Errors name the
 * config FILE:LINE of the offending setting. */
struct tls_frontend *kp_tls_frontend_new(const struct kp_config *cfg,
                                         const struct kp_frontend *fe, char *err, size_t errlen);
void kp_tls_frontend_free(struct tls_frontend *tf);
/* Warn (FILE:LINE) about each route whose sni: name no certificate covers:
 * without sni_strict any client may ask for it. */
void kp_tls_frontend_check_routes(const struct tls_frontend *tf, const struct kp_config *cfg);

/* The IANA cipher suites a frontend offers, in preference order, 0-terminated:
 * its tls_versions x ciphers, and with ktls = required only those the kernel
 * takes (ktls_kernel_takes()).  Returns how many. */
#define TLS_MAX_SUITES (3 * KP_CIPHER_COUNT)
size_t kp_tls_suites_for(const struct kp_config *cfg, const struct kp_frontend *fe,
                         int out[TLS_MAX_SUITES + 1]);

struct tls_session *kp_tls_session_new(struct tls_frontend *tf, int fd, char *err, size_t errlen);
void kp_tls_session_free(struct tls_session *s);

enum tls_step { TLS_DONE, TLS_WANT_READ, TLS_WANT_WRITE, TLS_FAILED };
enum tls_step kp_tls_handshake(struct tls_session *s, char *err, size_t errlen);
/* After TLS_FAILED: why, for the metrics. */
enum kp_hs_failure kp_tls_handshake_failure(const struct tls_session *s);

/* What the handshake negotiated; valid after TLS_DONE.  The strings live as
 * long as the session (alpn: as long as the frontend). */
struct tls_info {
    uint16_t version;           /* 0x0303 / 0x0304 */
    uint16_t suite;             /* IANA id */
    const char *version_name;   /* "TLSv1.2" */
    const char *suite_name;     /* IANA/OpenSSL style, e.g. "TLS_AES_128_GCM_SHA256" */
    const char *alpn;           /* NULL if none */
    const char *sni;            /* NULL if none */
    const char *client_cn;      /* NULL unless a client certificate was verified */
    int client_verified;        /* a client certificate was verified (with or without a CN) */
};
void kp_tls_session_info(struct tls_session *s, struct tls_info *info);

/* Derive the kernel's crypto_info from the exported secrets.  Refuses if
 * mbedTLS still holds unread bytes or records are not full sized.  The caller
 * must ktls_keys_wipe() the result. */
int kp_tls_export_keys(struct tls_session *s, struct kp_ktls_keys *keys, char *err, size_t errlen);

/* Zero this much of the stack below the caller, where the handshake ran:
 * call it from the function that called kp_tls_handshake(), after it returned. */
#define TLS_STACK_WIPE (64 * 1024)
void kp_tls_wipe_stack(void);

/* After a successful hand-off of a TLS 1.3 connection to a kernel that can
 * rekey (ktls_kernel_rekeys()): a copy of the two traffic secrets, to follow
 * KeyUpdate (rekey.h).  NULL otherwise (TLS 1.2, no rekey, out of memory). */
struct kp_rekey *kp_tls_rekey_new(struct tls_session *s, double now);

/* Forget the exported secrets (after hand-off, or when keeping mbedTLS). */
void kp_tls_forget_secrets(struct tls_session *s);

/* User-space record layer, for when the kernel has no TLS.  Return bytes
 * moved, 0 on close_notify/EOF, or -1 with *step saying why. */
ssize_t kp_tls_read(struct tls_session *s, void *buf, size_t len, enum tls_step *step);
ssize_t kp_tls_write(struct tls_session *s, const void *buf, size_t len, enum tls_step *step);
void kp_tls_close_notify(struct tls_session *s);
/* Describe the error of the last kp_tls_read / kp_tls_write. */
void kp_tls_last_error(struct tls_session *s, char *buf, size_t len);
/* Bytes mbedTLS has already decrypted and not yet returned. */
size_t kp_tls_pending(struct tls_session *s);

#endif
