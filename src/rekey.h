/*
 * rekey.h - TLS 1.3 KeyUpdate (RFC 8446 4.6.3) on a connection whose record
 * layer the kernel owns, on kernels that can change the keys of a kTLS
 * socket (Linux 6.14 and later; ktls_kernel_rekeys()).
 *
 * What is kept, and why: the two current application traffic secrets (client
 * and server, 32 or 48 bytes each), because the next keys of a direction can
 * only be derived from its current secret, and the kernel does not give keys
 * back.  Nothing else: no key, no IV, no older secret (each is replaced in
 * place and wiped).  They are allocated only for TLS 1.3 connections on a
 * kernel that can rekey, and wiped (mbedtls_platform_zeroize) when freed.
 */
#ifndef KP_REKEY_H
#define KP_REKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A token bucket per connection: REKEY_BURST KeyUpdates at once, then one per
 * REKEY_INTERVAL seconds.  A client over it is disconnected (a storm must not
 * cost CPU: each KeyUpdate is two HKDF expansions and a setsockopt, more with
 * update_requested). */
#define REKEY_BURST 16
#define REKEY_INTERVAL 1.0

struct kp_rekey;

/* Copies the secrets (secret_len bytes each) of a TLS 1.3 suite; NULL when
 * out of memory or the suite is not TLS 1.3. */
struct kp_rekey *rekey_new(uint16_t suite, const unsigned char *client_secret,
                           const unsigned char *server_secret, size_t secret_len, double now);
/* Wipes and frees; NULL is fine. */
void rekey_free(struct kp_rekey *r);

/* Takes a token for one KeyUpdate at time now; false when the bucket is empty. */
bool rekey_admit(struct kp_rekey *r, double now);

/* The client's KeyUpdate was read: its next secret, and new RX keys in the
 * kernel from record 0.  0, or -1 with err set (the connection must go). */
int rekey_rx(struct kp_rekey *r, int fd, char *err, size_t errlen);

/* Our KeyUpdate(update_not_requested) under the current TX keys, then the
 * next server secret and new TX keys from record 0.  0 done, 1 the socket is
 * full (nothing changed: call again when writable), -1 with err set. */
int rekey_tx(struct kp_rekey *r, int fd, char *err, size_t errlen);

#endif
