/*
 * metrics.h - counters for the Prometheus exposition (see ktlsproxy(8),
 * METRICS).
 *
 * Each thread that counts gets its own block of plain counters, created on
 * its first count and written only by that thread (relaxed atomic stores:
 * on x86-64 and arm64 an ordinary store, no lock, no shared cache line).
 * A scrape reads every block with relaxed loads and sums them.  Blocks live
 * until the process exits, so totals never go down when a thread ends.
 */
#ifndef KP_METRICS_H
#define KP_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/* Why a handshake failed: a small fixed set, so labels stay bounded. */
enum kp_hs_failure {
    KP_HSF_TIMEOUT,     /* handshake_timeout passed */
    KP_HSF_CLOSED,      /* the client closed or reset the connection */
    KP_HSF_ALERT,       /* the client sent a fatal alert */
    KP_HSF_PROTOCOL,    /* anything else mbedTLS refused (bad input, no common suite, SNI) */
    KP_HSF_KTLS,        /* the keys could not be handed to the kernel */
    KP_HSF_INTERNAL,    /* out of memory and the like */
    KP_HSF_COUNT
};

/* Frontend / version x cipher combinations one thread keeps apart; more are
 * left out of the per-label counters (documented). */
#define KP_METRICS_MAX_FRONTENDS 64
#define KP_METRICS_MAX_SUITES 16

/* Data path, calling thread's block.  A connection gets a frontend slot
 * (-1: not counted per frontend) and gives it back when it closes. */
int metrics_conn_opened(const char *frontend);
void metrics_conn_closed(int slot);
void metrics_handshake(const char *version, const char *cipher);
void metrics_handshake_failed(enum kp_hs_failure why);
void metrics_tls_mode(bool ktls);
void metrics_bytes(bool client_to_backend, size_t n);
void metrics_backend_connect_failed(void);
void metrics_unavailable_reply(void);
/* A TLS 1.3 KeyUpdate followed in the kernel: new RX keys (the client's), or TX (ours). */
void metrics_key_update(bool tx);
/* A splice pipe made (full: of the kernel's default size) or closed. */
void metrics_pipe_opened(bool full);
void metrics_pipe_closed(void);
/* A pipe grown to the big size for a bulk transfer; a big pipe closed. */
void metrics_pipe_grown(void);
void metrics_big_pipe_closed(void);

/* From the reload code (any thread): one per SIGHUP, with its outcome. */
void metrics_reload_result(bool ok);

/* Everything, summed, in Prometheus text format 0.0.4.  malloc'ed, NUL
 * terminated, length in *len; NULL if out of memory. */
char *metrics_render(size_t *len);

/* How many counter blocks exist: threads that end must not add to it (so a
 * reload that replaces its worker threads keeps memory flat); for tests. */
size_t metrics_blocks(void);

#endif
