/*
 * keepalive.h - TCP keepalive on the client and backend sockets, so that a
 * peer that vanished (power loss, NAT state dropped) is noticed within about
 * two minutes instead of holding the connection until the idle timeout.
 */
#ifndef KP_KEEPALIVE_H
#define KP_KEEPALIVE_H

#define KP_KEEPALIVE_IDLE 60     /* seconds of silence before the first probe */
#define KP_KEEPALIVE_INTERVAL 10 /* seconds between probes */
#define KP_KEEPALIVE_COUNT 6     /* unanswered probes before the kernel gives up */

/* Best effort: a socket that refuses (not TCP) is left as it is. */
void kp_keepalive(int fd);

#endif
