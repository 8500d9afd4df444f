/*
 * listener.c - listening sockets: bound here or inherited from systemd.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listener.h"

#define LISTEN_BACKLOG 1024
#define SD_LISTEN_FDS_START 3

bool listener_addr_matches(const struct sockaddr_storage *got, socklen_t got_len,
                           const struct kp_addr *want)
{
    const struct sockaddr_in *g4 = (const void *)got, *w4 = (const void *)&want->ss;
    const struct sockaddr_in6 *g6 = (const void *)got, *w6 = (const void *)&want->ss;

    if (got->ss_family != want->ss.ss_family)
        return false;
    if (got->ss_family == AF_INET)
        return got_len >= sizeof *g4 && g4->sin_port == w4->sin_port &&
               g4->sin_addr.s_addr == w4->sin_addr.s_addr;
    if (got->ss_family == AF_INET6)
        return got_len >= sizeof *g6 && g6->sin6_port == w6->sin6_port &&
               memcmp(&g6->sin6_addr, &w6->sin6_addr, sizeof g6->sin6_addr) == 0;
    return false;
}

static int bind_listener(const struct kp_addr *a, char *err, size_t errlen)
{
    int one = 1;
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        snprintf(err, errlen, "listen %s: socket: %s", a->text, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if ((a->ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "listen %s: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int add(struct kp_listeners *set, int fd, const struct kp_addr *addr, bool inherited)
{
    struct kp_listener *l = realloc(set->l, (set->n + 1) * sizeof *l);

    if (l == NULL)
        return -1;
    set->l = l;
    l[set->n++] = (struct kp_listener){ .fd = fd, .addr = *addr, .inherited = inherited };
    return 0;
}

static const struct kp_addr *config_addr_of(int fd, const struct kp_config *cfg)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return NULL;
    for (size_t f = 0; f < cfg->n_frontends; f++)
        for (size_t i = 0; i < cfg->frontends[f].n_listen; i++)
            if (listener_addr_matches(&ss, len, &cfg->frontends[f].listen[i]))
                return &cfg->frontends[f].listen[i];
    return NULL;
}

static int env_number(const char *name, long *out)
{
    const char *s = getenv(name);
    char *end;

    if (s == NULL)
        return 0;
    errno = 0;
    *out = strtol(s, &end, 10);
    return errno == 0 && *s != '\0' && *end == '\0' && *out >= 0 ? 1 : -1;
}

int listeners_inherit(struct kp_listeners *set, const struct kp_config *cfg, char *err,
                      size_t errlen)
{
    long pid, n;
    int ok = env_number("LISTEN_PID", &pid) == 1 && env_number("LISTEN_FDS", &n) == 1;

    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (!ok || pid != (long)getpid())
        return 0; /* not for us */
    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
        const struct kp_addr *a = config_addr_of(fd, cfg);
        if (a == NULL) {
            snprintf(err, errlen,
                     "socket activation: fd %d matches no listen line of %s (not a socket, "
                     "or bound to an address no frontend listens on)", fd, cfg->file);
            return -1;
        }
        if (listeners_fd(set, a) >= 0) {
            snprintf(err, errlen, "socket activation: two sockets passed for listen %s", a->text);
            return -1;
        }
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 || add(set, fd, a, true) != 0) {
            snprintf(err, errlen, "socket activation: fd %d: %s", fd, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int listeners_fd(const struct kp_listeners *set, const struct kp_addr *addr)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->l[i].addr.len == addr->len && memcmp(&set->l[i].addr.ss, &addr->ss, addr->len) == 0)
            return set->l[i].fd;
    return -1;
}

int listeners_open(struct kp_listeners *set, const struct kp_config *cfg, char *err,
                   size_t errlen)
{
    size_t before = set->n;

    for (size_t f = 0; f < cfg->n_frontends; f++)
        for (size_t i = 0; i < cfg->frontends[f].n_listen; i++) {
            const struct kp_addr *a = &cfg->frontends[f].listen[i];
            int fd;

            if (listeners_fd(set, a) >= 0)
                continue;
            fd = bind_listener(a, err, errlen);
            if (fd >= 0 && add(set, fd, a, false) != 0) {
                snprintf(err, errlen, "out of memory");
                close(fd);
                fd = -1;
            }
            if (fd < 0) {
                while (set->n > before)
                    close(set->l[--set->n].fd);
                return -1;
            }
        }
    return 0;
}

static bool configured(const struct kp_config *cfg, const struct kp_addr *addr)
{
    for (size_t f = 0; f < cfg->n_frontends; f++)
        for (size_t i = 0; i < cfg->frontends[f].n_listen; i++)
            if (cfg->frontends[f].listen[i].len == addr->len &&
                memcmp(&cfg->frontends[f].listen[i].ss, &addr->ss, addr->len) == 0)
                return true;
    return false;
}

void listeners_close_unused(struct kp_listeners *set, const struct kp_config *cfg)
{
    size_t kept = 0;

    for (size_t i = 0; i < set->n; i++) {
        if (configured(cfg, &set->l[i].addr))
            set->l[kept++] = set->l[i];
        else
            close(set->l[i].fd);
    }
    set->n = kept;
}

void listeners_free(struct kp_listeners *set)
{
    for (size_t i = 0; i < set->n; i++)
        close(set->l[i].fd);
    free(set->l);
    set->l = NULL;
    set->n = 0;
}
