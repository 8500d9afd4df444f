/*
 * keepalive.c - see keepalive.h.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "keepalive.h"

void kp_keepalive(int fd)
{
    int on = 1, idle = KP_KEEPALIVE_IDLE, intvl = KP_KEEPALIVE_INTERVAL,
        cnt = KP_KEEPALIVE_COUNT;

    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) != 0)
        return;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}
