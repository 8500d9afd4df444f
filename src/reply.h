/*
 * reply.h - what a client hears when its backend cannot be reached:
 * HTTP/1.1 clients a 503 page (sent with sendfile() over kTLS), h2 clients
 * a GOAWAY, everyone else just close_notify.
 */
#ifndef KP_REPLY_H
#define KP_REPLY_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

struct conn;

/* The frontend's error_page, or the built-in page in a memfd.  Returns the
 * fd (opened once, shared by all workers; sendfile() never moves its
 * offset), or -1 with err set. */
int reply_open_error_page(const struct kp_config *cfg, const struct kp_frontend *fe, off_t *len,
                          char *err, size_t errlen);

/* Send (more of) the reply, then close_notify.  1: all sent; 0: would
 * block (wait for the client socket to become writable); -1: failed. */
int reply_send(struct conn *c, char *reason, size_t len);

/* Read and drop whatever the client still sends, so that it gets to read
 * the reply instead of a reset.  1: client done; 0: more may come. */
int reply_drain(struct conn *c);

#endif
