/*
 * sd_notify.h - tell systemd how the service is doing (Type=notify), with
 * the datagram protocol of sd_notify(3) and without libsystemd.
 *
 * Every call is a no-op when NOTIFY_SOCKET is not set, so the daemon runs
 * the same where systemd is absent.
 */
#ifndef KP_SD_NOTIFY_H
#define KP_SD_NOTIFY_H

/* Send one message of newline-separated assignments, e.g. "READY=1" or
 * "STATUS=12 connections".  0 when sent or not asked for, -1 (errno) when
 * NOTIFY_SOCKET is set but the message could not be sent. */
int kp_sd_notify(const char *state);
int kp_sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "RELOADING=1" with the MONOTONIC_USEC= that systemd >= 253 expects. */
int kp_sd_notify_reloading(void);

#endif
