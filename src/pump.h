/*
 * pump.h - moving payload after the handshake.
 *
 * With kTLS: splice() socket -> pipe -> socket in each direction, no byte
 * through user space.  Pipes come from the worker's pool and go back as soon
 * as they are empty, so an idle connection holds none.
 * Without kTLS (fallback): mbedTLS reads and writes through a buffer that is
 * likewise held only while bytes are in flight.
 */
#ifndef KP_PUMP_H
#define KP_PUMP_H

#include <stddef.h>

struct conn;

/* Descriptors one connection can hold: client, backend, a pipe each way. */
#define CONN_MAX_FDS 6

/* Begin pumping both ways. */
void pump_start(struct conn *c);
/* Move what can move after events on the client (rc) / backend (rb)
 * socket.  0: carry on; 1: both directions finished; -1: failed (reason). */
int pump_run(struct conn *c, int rc, int rb, char *reason, size_t len);
/* Give back pipes and buffers (at close). */
void pump_release(struct conn *c);

#endif
