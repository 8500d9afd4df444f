/*
 * admin.h - the optional admin listener ([admin] in ktlsproxy.ini(5)): GET
 * /metrics over plain HTTP, served by its own thread and libev loop so the
 * workers never wait for a scrape.
 */
#ifndef KP_ADMIN_H
#define KP_ADMIN_H

#include <stddef.h>

#include "config.h"

struct kp_admin;

/* Bind (call before privileges are dropped) and start the thread.  0 with
 * *out = NULL when no [admin] section is configured; -1 with err on failure. */
int admin_start(const struct kp_config *cfg, struct kp_admin **out, char *err, size_t errlen);
/* Stop the thread, close every socket (NULL: nothing to do). */
void admin_stop(struct kp_admin *a);

#endif
