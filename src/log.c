/*
 * log.c - stderr or syslog.  Each message is formatted into one buffer and
 * written with one call, so lines from worker threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static enum kp_log_target log_target = KP_LOG_STDERR;
static enum kp_log_level log_level = KP_LOG_INFO;

static const char *const level_names[] = {
    [KP_LOG_ERR] = "error", [KP_LOG_WARNING] = "warning", [KP_LOG_NOTICE] = "notice",
    [KP_LOG_INFO] = "info", [KP_LOG_DEBUG] = "debug",
};

void log_init(enum kp_log_target target, enum kp_log_level level)
{
    log_target = target;
    log_level = level;
    if (target == KP_LOG_SYSLOG)
        openlog("ktlsproxy", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int log_enabled(enum kp_log_level level)
{
    return level <= log_level;
}

void log_msg(enum kp_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (log_target == KP_LOG_SYSLOG) {
        syslog((int)level, "%s", line);
        return;
    }
    fprintf(stderr, "ktlsproxy[%d]: %s: %s\n", (int)getpid(), level_names[level], line);
}
