/*
 * log.h - one place that decides where messages go: stderr (foreground,
 * systemd's journal picks it up) or syslog.
 */
#ifndef KP_LOG_H
#define KP_LOG_H

#include "config.h"

/* KP_LOG_AUTO: stderr if it is open and not /dev/null, else syslog. */
void log_init(enum kp_log_target target, enum kp_log_level level);
void log_msg(enum kp_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int log_enabled(enum kp_log_level level);

/* Causes of messages a client or a dead backend can repeat at will; each is
 * limited to KP_LOG_BURST lines per second, then "suppressed K" once. */
enum kp_log_cause {
    KP_CAUSE_HANDSHAKE, KP_CAUSE_BACKEND, KP_CAUSE_TRANSFER, KP_CAUSE_KTLS, KP_CAUSE_ACCEPT,
    KP_CAUSE_ADMIN, KP_CAUSE_COUNT
};
#define KP_LOG_BURST 10
void log_limited(enum kp_log_cause cause, enum kp_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One access line: written whatever log_level says (log_access decides). */
void log_access_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_err(...)    log_msg(KP_LOG_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(KP_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(KP_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(KP_LOG_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(KP_LOG_DEBUG, __VA_ARGS__)

#endif
