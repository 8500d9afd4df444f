/*
 * addr.c - socket addresses as written in the configuration and on the
 * command line: "1.2.3.4:443", "*:443", "[::1]:443", "unix:/path".
 * Host names are never resolved.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#define ADDR_EXAMPLES "e.g. 192.0.2.1:443, *:443, [::]:443"

__attribute__((format(printf, 3, 4))) static bool
addr_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

static bool
parse_unix_addr(const char *path, struct kp_addr *out, bool allow_unix, char *err, size_t errlen)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;

    if (!allow_unix)
        return addr_error(err, errlen, "unix sockets are not allowed here (%s)", ADDR_EXAMPLES);
    if (path[0] != '/')
        return addr_error(err, errlen, "the unix socket path must be absolute");
    if (strlen(path) >= sizeof sun->sun_path)
        return addr_error(err, errlen, "the unix socket path is too long (at most %zu bytes)",
                          sizeof sun->sun_path - 1);
    sun->sun_family = AF_UNIX;
    strcpy(sun->sun_path, path);
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
    return true;
}

static bool
parse_port(const char *text, uint16_t *port, char *err, size_t errlen)
{
    unsigned long n = 0;
    const char *d = text;

    /* Plain decimal digits only: no sign, no space, no hex. */
    for (; *d >= '0' && *d <= '9' && n <= 65535; d++)
        n = n * 10 + (unsigned long)(*d - '0');
    if (d == text || *d != '\0' || n == 0 || n > 65535)
        return addr_error(err, errlen, "bad port '%s' (allowed: 1 to 65535)", text);
    *port = (uint16_t)n;
    return true;
}

/* "[v6]:port" */
static bool
parse_inet6_addr(const char *text, struct kp_addr *out, char *err, size_t errlen)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
    const char *close = strchr(text, ']');
    char host[sizeof out->text];
    uint16_t port;

    if (!close)
        return addr_error(err, errlen, "missing ']' after the IPv6 address");
    if (close[1] != ':')
        return addr_error(err, errlen, "missing ':PORT' after ']'");
    snprintf(host, sizeof host, "%.*s", (int)(close - text - 1), text + 1);
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
        return addr_error(err, errlen, "'%s' is not an IPv6 address", host);
    if (!parse_port(close + 2, &port, err, errlen))
        return false;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    out->len = sizeof *sin6;
    return true;
}

/* "1.2.3.4:port" or "*:port" */
static bool
parse_inet4_addr(const char *text, struct kp_addr *out, char *err, size_t errlen)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
    const char *colon = strrchr(text, ':');
    char host[sizeof out->text];
    uint16_t port;

    if (!colon)
        return addr_error(err, errlen, "missing ':PORT' (%s)", ADDR_EXAMPLES);
    snprintf(host, sizeof host, "%.*s", (int)(colon - text), text);
    if (host[0] == '\0')
        return addr_error(err, errlen, "missing address before ':PORT' (%s)", ADDR_EXAMPLES);
    if (strchr(host, ':'))
        return addr_error(err, errlen, "an IPv6 address must be in brackets, e.g. [::1]:443");
    if (strcmp(host, "*") == 0)
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return addr_error(err, errlen, "'%s' is not an IP address: host names are not resolved, "
                          "use an IP address literal (%s)", host, ADDR_EXAMPLES);
    if (!parse_port(colon + 1, &port, err, errlen))
        return false;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    out->len = sizeof *sin;
    return true;
}

bool
config_parse_addr(const char *text, struct kp_addr *out, bool allow_unix, char *err, size_t errlen)
{
    bool ok;

    memset(out, 0, sizeof *out);
    if (strlen(text) >= sizeof out->text)
        return addr_error(err, errlen, "the address is too long (at most %zu characters)",
                          sizeof out->text - 1);
    if (strncmp(text, "unix:", 5) == 0)
        ok = parse_unix_addr(text + 5, out, allow_unix, err, errlen);
    else if (text[0] == '[')
        ok = parse_inet6_addr(text, out, err, errlen);
    else
        ok = parse_inet4_addr(text, out, err, errlen);
    if (!ok) {
        memset(out, 0, sizeof *out);
        return false;
    }
    strcpy(out->text, text);
    return true;
}

bool addr_is_loopback(const struct kp_addr *a)
{
    const struct sockaddr_in *in = (const void *)&a->ss;
    const struct sockaddr_in6 *in6 = (const void *)&a->ss;

    switch (a->ss.ss_family) {
    case AF_UNIX:
        return true;
    case AF_INET:
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    case AF_INET6:
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return false;
}
