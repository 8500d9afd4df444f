/*
 * privs.c - see privs.h.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"

int privs_check(uid_t euid, const char *user, const char *group, char *err, size_t errlen)
{
    if (euid != 0 || user != NULL)
        return 0;
    if (group != NULL)
        snprintf(err, errlen,
                 "group = %s is set but user is not: ktlsproxy would keep running as root; "
                 "set user = NAME in [global] (-u NAME), or user = root to run as root knowingly",
                 group);
    else
        snprintf(err, errlen,
                 "refusing to run as root: set user = NAME in [global] (-u NAME) to drop "
                 "privileges after start-up, or user = root to run as root knowingly");
    return -1;
}

/* uid and gid to switch to; -1 if a name does not exist. */
static int resolve(const char *user, const char *group, uid_t *uid, gid_t *gid, char *err,
                   size_t errlen)
{
    const struct passwd *pw = user ? getpwnam(user) : NULL;
    const struct group *gr = group ? getgrnam(group) : NULL;

    if (user != NULL && pw == NULL) {
        snprintf(err, errlen, "no such user: %s", user);
        return -1;
    }
    if (group != NULL && gr == NULL) {
        snprintf(err, errlen, "no such group: %s", group);
        return -1;
    }
    *uid = pw ? pw->pw_uid : getuid();
    *gid = gr ? gr->gr_gid : pw ? pw->pw_gid : getgid();
    return 0;
}

static int switch_ids(const char *user, uid_t uid, gid_t gid)
{
    if (getuid() == uid && geteuid() == uid && getgid() == gid && getegid() == gid)
        return 0; /* nothing to change (and no right to, when not root) */
    if ((user ? initgroups(user, gid) : setgroups(1, &gid)) != 0 || setgid(gid) != 0 ||
        setuid(uid) != 0)
        return -1;
    if (uid != 0 && setuid(0) == 0) { /* root must be gone for good */
        errno = EPERM;
        return -1;
    }
    return 0;
}

int privs_drop(const char *user, const char *group, char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;

    if (resolve(user, group, &uid, &gid, err, errlen) != 0)
        return -1;
    if (switch_ids(user, uid, gid) != 0) {
        snprintf(err, errlen, "cannot drop privileges to user %s group %s: %s",
                 user ? user : "-", group ? group : "-", strerror(errno));
        return -1;
    }
    /* setuid() from root already clears it, but not when nothing changed. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        snprintf(err, errlen, "prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
        return -1;
    }
    return 0;
}

bool privs_key_file_exposed(const char *path, gid_t daemon_gid, char *msg, size_t msglen)
{
    struct stat st;
    bool group_reads;

    if (stat(path, &st) != 0)
        return false;
    /* Readable by the daemon's own group is how the key stays readable for
     * a reload after privileges are dropped (Debian's ssl-cert convention). */
    group_reads = (st.st_mode & S_IRGRP) != 0 && st.st_gid != daemon_gid;
    if (!group_reads && (st.st_mode & S_IROTH) == 0)
        return false;
    snprintf(msg, msglen, "private key file %s is readable by %s (mode %04o): chmod 600 it%s",
             path, st.st_mode & S_IROTH ? "everyone" : "its group",
             (unsigned)(st.st_mode & 07777),
             st.st_mode & S_IROTH ? "" : ", or give it the daemon's group");
    return true;
}

/* The group the daemon runs as once privileges are dropped. */
static gid_t daemon_gid(const struct kp_config *cfg)
{
    const struct group *gr = cfg->group ? getgrnam(cfg->group) : NULL;
    const struct passwd *pw = cfg->user ? getpwnam(cfg->user) : NULL;

    return gr ? gr->gr_gid : pw ? pw->pw_gid : getgid();
}

void privs_warn_exposed_keys(const struct kp_config *cfg)
{
    gid_t gid = daemon_gid(cfg); /* one passwd/group lookup, not one per key file */
    char msg[512];

    for (size_t f = 0; f < cfg->n_frontends; f++)
        for (size_t c = 0; c < cfg->frontends[f].n_certs; c++)
            if (privs_key_file_exposed(cfg->frontends[f].certs[c].key_file, gid, msg, sizeof msg))
                log_warn("%s", msg);
}
