/*
 * log.h - one place that decides where messages go: stderr (foreground,
 * systemd's journal picks it up) or syslog.
 */
#ifndef KP_LOG_H
#define KP_LOG_H

#include "config.h"

void log_init(enum kp_log_target target, enum kp_log_level level);
void log_msg(enum kp_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int log_enabled(enum kp_log_level level);

#define log_err(...)    log_msg(KP_LOG_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(KP_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(KP_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(KP_LOG_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(KP_LOG_DEBUG, __VA_ARGS__)

#endif
