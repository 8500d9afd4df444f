/*
 * kp_cgsample: the CPU time of cgroups, sampled at a fixed period (contrib/bench).
 *
 *   kp_cgsample PERIOD_MS DIR NAME...
 *
 * Prints "time NAME..." and then, every PERIOD_MS until SIGTERM or SIGINT, one line:
 * the wall clock (seconds, microseconds after the point: h2load's request log uses the
 * same clock) and usage_usec from DIR/NAME/cpu.stat for each NAME.  The bench takes a
 * contender's CPU over the window in which h2load's requests ran; the shell loop this
 * replaces forked once per cgroup and managed a sample every 0.17 s under TCG, so a
 * 1 MiB run's half-second window held two or three samples.  Each file stays open and
 * is read again with pread (a cgroup file regenerates when read from offset 0).
 * Exit 0 when stopped by a signal, 66 when a file cannot be opened, 74 when one can no
 * longer be read, 64 on bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* usage_usec of an open cpu.stat; exits when it cannot be read (a cgroup removed under
 * the bench): a column of made-up values would be worse than a sampler that stopped. */
static long long usage_usec(int fd, const char *name)
{
    char buf[1024];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    const char *p = NULL;
    if (n > 0) {
        buf[n] = '\0';
        p = strstr(buf, "usage_usec ");
    }
    if (p == NULL) {
        fprintf(stderr, "kp_cgsample: %s: no usage_usec (%s)\n", name,
                n < 0 ? strerror(errno) : "not in cpu.stat");
        exit(74);
    }
    return strtoll(p + strlen("usage_usec "), NULL, 10);
}

static void add_ms(struct timespec *t, long ms)
{
    t->tv_nsec += ms * 1000000L;
    t->tv_sec += t->tv_nsec / 1000000000L;
    t->tv_nsec %= 1000000000L;
}

int main(int argc, char **argv)
{
    long period = argc > 3 ? strtol(argv[1], NULL, 10) : 0;
    if (period <= 0 || period > 60000) {
        fprintf(stderr, "usage: kp_cgsample PERIOD_MS DIR NAME...\n");
        return 64;
    }
    int n = argc - 3;
    int *fds = calloc((size_t)n, sizeof(*fds));
    if (fds == NULL)
        return 1;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s/cpu.stat", argv[2], argv[3 + i]);
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) {
            fprintf(stderr, "kp_cgsample: %s: %s\n", path, strerror(errno));
            return 66;
        }
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0); /* whole lines, whenever it is stopped */

    printf("time");
    for (int i = 0; i < n; i++)
        printf(" %s", argv[3 + i]);
    printf("\n");
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!stop) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        printf("%lld.%06ld", (long long)now.tv_sec, now.tv_nsec / 1000);
        for (int i = 0; i < n; i++)
            printf(" %lld", usage_usec(fds[i], argv[3 + i]));
        printf("\n");
        /* Absolute deadlines: the period does not stretch by the time a sample takes. */
        add_ms(&next, period);
        while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
    }
    return 0;
}
