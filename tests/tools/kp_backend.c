/*
 * kp_backend - a plaintext backend for the integration tests.
 *
 * For each connection (one child process each): optionally wait --read-delay
 * milliseconds first (the proxy's writes then block and the client's records
 * queue up behind them), optionally read and record a PROXY protocol header,
 * read what the client sends (up to --expect bytes,
 * or to EOF) and record its length and SHA-256, then send --send bytes of a
 * deterministic stream, half-close, and wait for the peer to close.
 * Results go to DIR/conn-N.txt ("BYTES SHA256HEX") and DIR/proxy-N.bin.
 *
 *   kp_backend --listen 127.0.0.1:9000 --dir DIR [--proxy v1|v2] [--expect N]
 *              [--send N] [--close-early] [--read-delay MS]
 *   kp_backend --gen N          write the stream to stdout
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#define CHUNK 65536

struct opts {
    const char *listen, *dir, *proxy;
    unsigned long long expect, send;
    int have_expect, close_early;
    unsigned read_delay_ms;
};

/* xorshift64: cheap, deterministic, incompressible enough. */
static void gen_fill(uint64_t *state, unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        memcpy(buf + i, &x, len - i < 8 ? len - i : 8);
    }
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_stream(int fd, unsigned long long total)
{
    static unsigned char buf[CHUNK];
    uint64_t state = 0x9e3779b97f4a7c15ULL;

    while (total > 0) {
        size_t n = total < CHUNK ? (size_t)total : CHUNK;
        gen_fill(&state, buf, CHUNK);
        if (write_all(fd, buf, n) != 0)
            return -1;
        total -= n;
    }
    return 0;
}

static int read_exact(int fd, unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Returns the header length, or -1. */
static int read_proxy(int fd, const char *kind, unsigned char *hdr, size_t cap)
{
    size_t n = 0;

    if (strcmp(kind, "v1") == 0) {
        while (n < cap && read_exact(fd, hdr + n, 1) == 0)
            if (++n >= 2 && hdr[n - 2] == '\r' && hdr[n - 1] == '\n')
                return (int)n;
        return -1;
    }
    if (read_exact(fd, hdr, 16) != 0)
        return -1;
    n = (size_t)hdr[14] << 8 | hdr[15];
    if (16 + n > cap || read_exact(fd, hdr + 16, n) != 0)
        return -1;
    return (int)(16 + n);
}

static void save(const char *dir, const char *name, unsigned id, const void *p, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s-%u.%s", dir, name, id, strcmp(name, "conn") ? "bin" : "txt");
    f = fopen(path, "w");
    if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0)
        fprintf(stderr, "kp_backend: cannot write %s\n", path);
}

static void serve(int fd, unsigned id, const struct opts *o)
{
    static unsigned char buf[CHUNK];
    unsigned char hash[32];
    char line[128];
    unsigned long long got = 0;
    mbedtls_sha256_context sha;
    int len;

    if (o->read_delay_ms > 0)
        usleep(o->read_delay_ms * 1000u);
    if (o->proxy != NULL) {
        len = read_proxy(fd, o->proxy, buf, sizeof buf);
        if (len < 0)
            exit(1);
        save(o->dir, "proxy", id, buf, (size_t)len);
    }
    if (o->close_early)
        exit(0);
    mbedtls_sha256_init(&sha);
    mbedtls_sha256_starts(&sha, 0);
    while (!o->have_expect || got < o->expect) {
        size_t want = o->have_expect && o->expect - got < CHUNK ? (size_t)(o->expect - got) : CHUNK;
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        mbedtls_sha256_update(&sha, buf, (size_t)n);
        got += (unsigned long long)n;
    }
    mbedtls_sha256_finish(&sha, hash);
    len = snprintf(line, sizeof line, "%llu ", got);
    for (int i = 0; i < 32; i++)
        len += snprintf(line + len, sizeof line - (size_t)len, "%02x", hash[i]);
    line[len++] = '\n';
    save(o->dir, "conn", id, line, (size_t)len);
    if (send_stream(fd, o->send) != 0)
        exit(1);
    shutdown(fd, SHUT_WR);
    while (read(fd, buf, sizeof buf) > 0)
        ;
    exit(0);
}

static int listen_on(const char *spec)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char host[256];
    const char *colon = strrchr(spec, ':');
    int fd, one = 1;

    memset(&ss, 0, sizeof ss);
    if (strncmp(spec, "unix:", 5) == 0) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
        sun->sun_family = AF_UNIX;
        snprintf(sun->sun_path, sizeof sun->sun_path, "%s", spec + 5);
        unlink(sun->sun_path);
        len = sizeof *sun;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        if (colon == NULL || (size_t)(colon - spec) >= sizeof host)
            return -1;
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
        if (host[0] == '[') {
            host[strlen(host) - 1] = '\0';
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons((uint16_t)atoi(colon + 1));
            if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
                return -1;
            len = sizeof *s6;
        } else {
            s4->sin_family = AF_INET;
            s4->sin_port = htons((uint16_t)atoi(colon + 1));
            if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
                return -1;
            len = sizeof *s4;
        }
    }
    fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0)
        return -1;
    return fd;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "listen", 1, NULL, 'l' }, { "dir", 1, NULL, 'd' },    { "proxy", 1, NULL, 'p' },
        { "expect", 1, NULL, 'e' }, { "send", 1, NULL, 's' },   { "gen", 1, NULL, 'g' },
        { "close-early", 0, NULL, 'c' }, { "read-delay", 1, NULL, 'r' }, { NULL, 0, NULL, 0 },
    };
    struct opts o = { .dir = "." };
    unsigned id = 0;
    int c, lfd;

    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'l': o.listen = optarg; break;
        case 'd': o.dir = optarg; break;
        case 'p': o.proxy = optarg; break;
        case 'e': o.expect = strtoull(optarg, NULL, 0); o.have_expect = 1; break;
        case 's': o.send = strtoull(optarg, NULL, 0); break;
        case 'g': return send_stream(1, strtoull(optarg, NULL, 0)) == 0 ? 0 : 1;
        case 'c': o.close_early = 1; break;
        case 'r': o.read_delay_ms = (unsigned)strtoul(optarg, NULL, 0); break;
        default: return 2;
        }
    }
    if (o.listen == NULL || (lfd = listen_on(o.listen)) < 0) {
        fprintf(stderr, "kp_backend: cannot listen on %s\n", o.listen ? o.listen : "(none)");
        return 2;
    }
    signal(SIGCHLD, SIG_IGN); /* no zombies */
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (fork() == 0) {
            close(lfd);
            serve(fd, id, &o);
        }
        close(fd);
        id++;
    }
}
