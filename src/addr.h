/*
 * addr.h - parsing the socket addresses of the configuration.
 */
#ifndef KP_ADDR_H
#define KP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* A parsed socket address: IPv4, IPv6 or a unix socket path. */
struct kp_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[128]; /* as written in the config, for logs */
};

/* Parse "1.2.3.4:443", "[::1]:443", "*:443" (all IPv4), "[::]:443" or
 * "unix:/path".  Used by the config and by tests. */
bool config_parse_addr(const char *text, struct kp_addr *out, bool allow_unix,
                       char *err, size_t errlen);

/* A loopback address (127/8, ::1) or a unix socket: reachable only from
 * this machine. */
bool addr_is_loopback(const struct kp_addr *a);

#endif
