/*
 * backend.h - which backend a client goes to, the non-blocking connect to
 * it, and the PROXY protocol header it gets first.
 */
#ifndef KP_BACKEND_H
#define KP_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "tls.h"

/* First route matching SNI and ALPN, else the frontend's default; NULL if none. */
const struct kp_backend *backend_route(const struct kp_frontend *fe, const char *sni,
                                       const char *alpn);

/* Start a non-blocking connect.  Returns the socket (connected or in
 * progress), or -1 with err set.  *full: a unix socket backend whose backlog
 * is full refused for now; the socket is returned unconnected, to be given
 * to backend_connect_again() later. */
int backend_connect(const struct kp_backend *be, int *full, char *err, size_t errlen);

/* Connect a socket backend_connect() left unconnected: 0 (connected or in
 * progress), 1 (backlog still full), -1 with err set. */
int backend_connect_again(const struct kp_backend *be, int fd, char *err, size_t errlen);

/* Has the connect ended (connected or failed), whether or not the loop has
 * delivered its event yet? */
bool backend_connect_settled(int fd);

/* After the socket became writable: 0 if connected, else -1 with err set. */
int backend_connect_result(int fd, char *err, size_t errlen);

/* The PROXY header for this client on this backend, in a malloc'd buffer
 * (*len bytes); NULL with *len 0 when the backend wants none.  -1 on error. */
int backend_proxy_header(const struct kp_backend *be, int client_fd, const struct tls_info *info,
                         unsigned char **hdr, uint16_t *len);

#endif
