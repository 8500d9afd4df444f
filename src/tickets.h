/*
 * tickets.h - TLS session tickets: the keys that encrypt them, shared by all
 * workers of a process (and, with ticket_key_file, by a fleet), and the
 * count of tickets each handshake sent, which the kernel needs as the TLS 1.3
 * TX sequence number at hand-off.
 *
 * Keys live per frontend name, process-wide: one current key that encrypts
 * and one previous key that still decrypts.  Each worker's mbedTLS ticket
 * context gets them through mbedtls_ssl_ticket_rotate(), in the worker's own
 * thread at the start of a handshake step (rotate takes no lock), whenever
 * they changed and well before mbedTLS's own key lifetime runs out (else it
 * would silently make a random key and the fleet would stop sharing).
 */
#ifndef KP_TICKETS_H
#define KP_TICKETS_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/ssl.h>

#include "config.h"

#define KP_TICKET_KEY_NAME 4    /* mbedTLS's key name length */
#define KP_TICKET_KEY_BYTES 32  /* AES-256-GCM */
#define KP_TICKET_KEY_LINE (KP_TICKET_KEY_NAME + KP_TICKET_KEY_BYTES)  /* one key in the file */

struct kp_tickets;  /* one per frontend per worker, next to its mbedtls_ssl_config */

/* Whether the linked mbedTLS may issue tickets (3.6.6 fixed a TLS 1.3
 * resumption flaw); if not, why, in err. */
bool tickets_library_ok(char *err, size_t errlen);

/* Configure conf for the frontend's tickets: on (*out set) or off (*out NULL,
 * also when the library is too old and the config did not ask explicitly).
 * f_rng/p_rng: the worker's generator (ticket IVs).  Errors name FILE:LINE. */
int tickets_new(const struct kp_config *cfg, const struct kp_frontend *fe,
                mbedtls_ssl_config *conf, int (*f_rng)(void *, unsigned char *, size_t),
                void *p_rng, struct kp_tickets **out, char *err, size_t errlen);
void tickets_free(struct kp_tickets *t);

/* Bracket every mbedtls_ssl_handshake() call of one connection: begin
 * installs keys when due and makes every ticket written until end count
 * into *sent.  A ticket written outside begin/end fails the handshake,
 * so none can go out uncounted.  t may be NULL (tickets off). */
int tickets_begin(struct kp_tickets *t, unsigned *sent, char *err, size_t errlen);
void tickets_end(struct kp_tickets *t);

/* Re-read the key files of cfg's frontends (configuration reload); workers
 * install the new keys at their next handshake.  On error nothing changes. */
int tickets_reload(const struct kp_config *cfg, char *err, size_t errlen);

#endif
