/*
 * privs.h - who the daemon runs as: the start-up rule against staying root,
 * dropping to [global] user/group once the sockets are bound and the keys
 * read, keeping other processes of that user out of its memory, and a
 * warning for private keys that others can read.
 */
#ifndef KP_PRIVS_H
#define KP_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* Whether a process started with effective uid euid may run with this user and
 * group (NULL = not set): root must name a user, "root" included, or it would
 * keep uid 0 without anyone having asked for it.  0, or -1 with the reason. */
int privs_check(uid_t euid, const char *user, const char *group, char *err, size_t errlen);

/* Switch to user and group (NULL = keep), then make the process non-dumpable
 * (PR_SET_DUMPABLE 0: no ptrace, no /proc/PID/mem for other processes of the
 * same user).  Call before the threads start.  0, or -1 with the reason. */
int privs_drop(const char *user, const char *group, char *err, size_t errlen);

/* True (reason in msg) if path is readable by others, or by its group when
 * that is not daemon_gid, the group the daemon runs as. */
bool privs_key_file_exposed(const char *path, gid_t daemon_gid, char *msg, size_t msglen);

/* Log a warning for each certificate's key file privs_key_file_exposed(). */
void privs_warn_exposed_keys(const struct kp_config *cfg);

#endif
