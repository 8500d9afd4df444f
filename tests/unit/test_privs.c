/*
 * test_privs.c - the rule against staying root, and which key file modes
 * draw a warning.  (Dropping privileges for real: tests/integration/privs.sh.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "privs.h"

static void root_needs_an_explicit_user(void **state)
{
    char err[512] = "";

    (void)state;
    assert_int_equal(privs_check(0, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "refusing to run as root"));
    assert_int_equal(privs_check(0, NULL, "www-data", err, sizeof err), -1);
    assert_non_null(strstr(err, "group = www-data is set but user is not"));
    assert_int_equal(privs_check(0, "root", NULL, err, sizeof err), 0);
    assert_int_equal(privs_check(0, "www-data", NULL, err, sizeof err), 0);
    assert_int_equal(privs_check(0, "www-data", "ssl-cert", err, sizeof err), 0);
}

static void other_users_may_run_as_they_are(void **state)
{
    char err[512];

    (void)state;
    assert_int_equal(privs_check(1000, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(privs_check(1000, NULL, "www-data", err, sizeof err), 0);
}

/* Whether a file of this mode is reported for a daemon running as gid, and
 * the message names it. */
static int exposed_as(mode_t mode, gid_t gid, char *msg, size_t msglen)
{
    char path[] = "/tmp/test_privs.XXXXXX";
    int fd = mkstemp(path);
    int exposed;

    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    exposed = privs_key_file_exposed(path, gid, msg, msglen);
    if (exposed)
        assert_non_null(strstr(msg, path));
    unlink(path);
    close(fd);
    return exposed;
}

/* ... for a daemon whose group is not the file's. */
static int exposed_with_mode(mode_t mode, char *msg, size_t msglen)
{
    return exposed_as(mode, getegid() + 1, msg, msglen);
}

static void key_files_others_can_read(void **state)
{
    char msg[512];

    (void)state;
    assert_false(exposed_with_mode(0600, msg, sizeof msg));
    assert_false(exposed_with_mode(0400, msg, sizeof msg));
    assert_false(exposed_with_mode(0620, msg, sizeof msg)); /* writable is not readable */
    assert_true(exposed_with_mode(0640, msg, sizeof msg));
    assert_non_null(strstr(msg, "readable by its group (mode 0640)"));
    assert_true(exposed_with_mode(0604, msg, sizeof msg));
    assert_non_null(strstr(msg, "readable by everyone (mode 0604)"));
    assert_true(exposed_with_mode(0644, msg, sizeof msg));
    assert_false(privs_key_file_exposed("/nonexistent/key.pem", 0, msg, sizeof msg));
    /* The daemon's own group may read it (what a reload after dropping
     * privileges needs); everyone may not. */
    assert_false(exposed_as(0640, getegid(), msg, sizeof msg));
    assert_true(exposed_as(0644, getegid(), msg, sizeof msg));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(root_needs_an_explicit_user),
        cmocka_unit_test(other_users_may_run_as_they_are),
        cmocka_unit_test(key_files_others_can_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
