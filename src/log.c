/*
 * log.c - stderr or syslog.  Each message is formatted into one buffer and
 * written with one call, so lines from worker threads never interleave.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ratelimit.h"

static enum kp_log_target log_target = KP_LOG_STDERR;
static enum kp_log_level log_level = KP_LOG_INFO;

static const char *const level_names[] = {
    [KP_LOG_ERR] = "error", [KP_LOG_WARNING] = "warning", [KP_LOG_NOTICE] = "notice",
    [KP_LOG_INFO] = "info", [KP_LOG_DEBUG] = "debug",
};

static const char *const cause_names[KP_CAUSE_COUNT] = {
    [KP_CAUSE_HANDSHAKE] = "handshake", [KP_CAUSE_BACKEND] = "backend",
    [KP_CAUSE_TRANSFER] = "transfer", [KP_CAUSE_KTLS] = "kTLS", [KP_CAUSE_ACCEPT] = "accept",
    [KP_CAUSE_ADMIN] = "admin",
};

static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kp_ratelimit limits[KP_CAUSE_COUNT];

/* Under systemd stderr is the journal's stream; a daemon started with
 * stderr on /dev/null (or closed) would lose everything there. */
static bool stderr_is_useful(void)
{
    struct stat st, null;

    if (fstat(STDERR_FILENO, &st) != 0)
        return false;
    return !(S_ISCHR(st.st_mode) && stat("/dev/null", &null) == 0 && st.st_rdev == null.st_rdev);
}

void log_init(enum kp_log_target target, enum kp_log_level level)
{
    if (target == KP_LOG_AUTO)
        target = stderr_is_useful() ? KP_LOG_STDERR : KP_LOG_SYSLOG;
    log_target = target;
    log_level = level;
    for (int i = 0; i < KP_CAUSE_COUNT; i++)
        limits[i].burst = KP_LOG_BURST;
    if (target == KP_LOG_SYSLOG)
        openlog("ktlsproxy", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int log_enabled(enum kp_log_level level)
{
    return level <= log_level;
}

static void write_line(enum kp_log_level level, const char *tag, const char *fmt, va_list ap)
{
    char line[1024];

    if (vsnprintf(line, sizeof line, fmt, ap) < 0)
        return;
    if (log_target == KP_LOG_SYSLOG)
        syslog((int)level, "%s", line);
    else
        fprintf(stderr, "ktlsproxy[%d]: %s: %s\n", (int)getpid(), tag, line);
}

void log_msg(enum kp_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    write_line(level, level_names[level], fmt, ap);
    va_end(ap);
}

void log_limited(enum kp_log_cause cause, enum kp_log_level level, const char *fmt, ...)
{
    struct timespec ts;
    unsigned suppressed;
    bool allow;
    va_list ap;

    if (!log_enabled(level))
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    pthread_mutex_lock(&limits_lock);
    allow = kp_ratelimit_allow(&limits[cause], (double)ts.tv_sec + ts.tv_nsec / 1e9, &suppressed);
    pthread_mutex_unlock(&limits_lock);
    if (suppressed > 0)
        log_msg(level, "suppressed %u similar messages (%s)", suppressed, cause_names[cause]);
    if (!allow)
        return;
    va_start(ap, fmt);
    write_line(level, level_names[level], fmt, ap);
    va_end(ap);
}

void log_access_line(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    write_line(KP_LOG_INFO, "access", fmt, ap);
    va_end(ap);
}
