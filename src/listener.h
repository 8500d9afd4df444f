/*
 * listener.h - the listening sockets: one per configured address, owned by
 * the main thread and shared by every worker (each worker watches each of
 * them; the one with room accepts).
 *
 * A socket comes from systemd's socket activation (LISTEN_FDS) when one
 * with the same address was passed, else it is bound here.  A reload keeps
 * the sockets whose address stays, so that no SYN is lost.
 */
#ifndef KP_LISTENER_H
#define KP_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

struct kp_listener {
    int fd;
    struct kp_addr addr;
    bool inherited;             /* passed by systemd */
};

struct kp_listeners {
    struct kp_listener *l;
    size_t n;
};

/* Does a socket bound to got (getsockname) serve the configured address? */
bool listener_addr_matches(const struct sockaddr_storage *got, socklen_t got_len,
                           const struct kp_addr *want);

/* Take the sockets systemd passed (LISTEN_PID, LISTEN_FDS; the variables are
 * then unset so that nothing inherits them again), matched to cfg's listen
 * lines by address.  A socket matching no listen line is an error. */
int listeners_inherit(struct kp_listeners *set, const struct kp_config *cfg, char *err,
                      size_t errlen);

/* Bind every listen address of cfg that has no socket yet.  On error the
 * sockets opened by this call are closed again and the set is as before. */
int listeners_open(struct kp_listeners *set, const struct kp_config *cfg, char *err,
                   size_t errlen);

/* The socket for a configured address, or -1. */
int listeners_fd(const struct kp_listeners *set, const struct kp_addr *addr);

/* Close the sockets cfg no longer listens on (after a reload). */
void listeners_close_unused(struct kp_listeners *set, const struct kp_config *cfg);

void listeners_free(struct kp_listeners *set);

#endif
