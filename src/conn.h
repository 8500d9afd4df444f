/*
 * conn.h - one client connection, from accept() to close, as one state
 * machine:
 *
 *   HANDSHAKE --(keys to the kernel, or kept in mbedTLS)--> CONNECTING
 *   CONNECTING --(backend up, PROXY header sent)--> PUMPING --> closed
 *   CONNECTING --(backend down)--> REPLYING (503 / GOAWAY / close_notify)
 *   REPLYING --> LINGERING (drain the client for reply_linger, so it reads the reply) --> closed
 *
 * Every path out ends in conn_close(c, reason), the only place that
 * releases a connection.
 */
#ifndef KP_CONN_H
#define KP_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "access.h"
#include "config.h"

struct worker;
struct kp_gen;
struct tls_session;
struct kp_pipe;
struct kp_rekey;

enum conn_state { CONN_HANDSHAKE, CONN_CONNECTING, CONN_PUMPING, CONN_REPLYING, CONN_LINGERING };

/* One direction of the pump: client->backend or backend->client. */
struct dir {
    struct kp_pipe *pipe;       /* kTLS: held only while bytes are in flight */
    unsigned char *buf;         /* user-space fallback: held only while bytes are in flight */
    uint32_t pending;           /* bytes in pipe or buf not yet written */
    uint32_t off;               /* fallback: start of pending bytes in buf */
    uint8_t want_c, want_b;     /* EV_READ / EV_WRITE this direction waits for, per socket */
    bool eof;                   /* the source has ended */
    bool done;                  /* ... and the end was passed on */
    bool src_idle;              /* the last fill emptied the source: wait, don't retry */
    bool bulk;                  /* kTLS: the last fill was big; the next takes a big pipe */
    int fill_errno;             /* kTLS: a read failure held back for the bytes before it */
    uint64_t bytes;             /* payload moved, for the access line */
};

struct conn {
    struct worker *w;
    struct kp_gen *gen;         /* the configuration it started with (a reference) */
    const struct kp_frontend *fe;
    size_t fe_index;
    struct conn *prev, *next;   /* the worker's list */
    struct conn *hs_prev, *hs_next; /* the worker's handshakes, while in CONN_HANDSHAKE */
    enum conn_state state;
    bool ktls;                  /* the kernel owns the client's record layer */
    int cfd, bfd;
    ev_io cio, bio;
    ev_timer timer;             /* handshake, connect, idle or linger deadline */
    ev_tstamp last_active;
    struct tls_session *tls;    /* during the handshake; for good in fallback mode */
    struct kp_rekey *rekey;     /* kTLS, TLS 1.3, kernel can rekey: the traffic secrets */
    bool key_update_due;        /* the client asked for our KeyUpdate; not sent yet */
    const struct kp_backend *backend;
    const char *alpn;           /* negotiated protocol (points into the config), or NULL */
    unsigned char *proxy_hdr;   /* PROXY header waiting for the backend connection */
    uint16_t proxy_len;
    uint32_t reply_off;         /* REPLYING: bytes of the reply already sent */
    ev_tstamp connect_deadline; /* CONNECTING: when the backend's connect timeout ends */
    bool backend_full;          /* CONNECTING: unix backlog full, connect() again on the timer */
    struct dir c2b, b2c;
    struct kp_access acc;       /* the client's address, what was negotiated, when */
    int metrics_slot;           /* see metrics_conn_opened() */
};

/* Take over an accepted client socket, with its slot in the process-wide
 * limit already taken; conn_close gives the slot back.  When the worker has
 * max_handshakes connections in the handshake, the oldest of them is closed
 * to make room: a flood of clients that never finish cannot lock out one
 * that does. */
void conn_start(struct worker *w, struct kp_gen *g, size_t fe_index, int fd);
void conn_close(struct conn *c, const char *reason);
/* Close at shutdown: an established client first gets close_notify. */
void conn_shutdown(struct conn *c, const char *reason);

/* Re-arm the socket watchers from what the two directions want. */
void conn_update_events(struct conn *c);

#endif
