/*
 * test_listener.c - socket activation: matching passed sockets to listen
 * lines by address, and taking them from LISTEN_PID / LISTEN_FDS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "config.h"
#include "listener.h"

static struct kp_addr
addr(const char *text)
{
    struct kp_addr a;
    char err[256];

    assert_true(config_parse_addr(text, &a, false, err, sizeof err));
    return a;
}

/* What getsockname() would say for a socket bound to text. */
static bool
matches(const char *bound, const char *configured)
{
    struct kp_addr b = addr(bound), c = addr(configured);

    return listener_addr_matches(&b.ss, b.len, &c);
}

static void
test_match(void **state)
{
    (void)state;
    assert_true(matches("127.0.0.1:443", "127.0.0.1:443"));
    assert_true(matches("0.0.0.0:443", "*:443"));
    assert_true(matches("[::]:443", "[::]:443"));
    assert_true(matches("[2001:db8::1]:8443", "[2001:db8::1]:8443"));
    assert_false(matches("127.0.0.1:444", "127.0.0.1:443"));
    assert_false(matches("127.0.0.2:443", "127.0.0.1:443"));
    assert_false(matches("127.0.0.1:443", "*:443"));
    assert_false(matches("[::]:443", "*:443"));
    assert_false(matches("[::1]:443", "[::]:443"));
    assert_false(matches("[2001:db8::1]:8443", "[2001:db8::1]:8444"));
}

/* A config listening on 127.0.0.1:PORT and 127.0.0.1:PORT+1. */
static struct kp_config *
config_for(unsigned port, char *cert)
{
    char text[1024], err[1024];
    struct kp_config *cfg;

    snprintf(text, sizeof text,
             "[frontend f]\nlisten = 127.0.0.1:%u\nlisten = 127.0.0.1:%u\ncert = %s\n"
             "backend = b\n[backend b]\naddress = 127.0.0.1:9\n", port, port + 1, cert);
    cfg = config_load_buffer("t.ini", text, strlen(text), err, sizeof err);
    if (cfg == NULL)
        fail_msg("%s", err);
    return cfg;
}

/* A listening socket on 127.0.0.1, any port, placed at fd 3 as systemd does. */
static unsigned
socket_at_fd3(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    if (fd != 3) {
        assert_int_equal(dup2(fd, 3), 3);
        close(fd);
    }
    return ntohs(sin.sin_port);
}

static void
set_env(long pid)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%ld", pid);
    setenv("LISTEN_PID", buf, 1);
    setenv("LISTEN_FDS", "1", 1);
}

static void
test_inherit(void **state)
{
    char cert[] = "/tmp/kp-test-cert.XXXXXX", err[512];
    struct kp_listeners set = { 0 };
    struct kp_config *cfg;
    unsigned port;
    int tmp = mkstemp(cert);

    (void)state;
    assert_true(tmp >= 0);
    close(tmp);
    if (fcntl(3, F_GETFD) >= 0)
        skip(); /* fd 3 is taken in this process: cannot stand in for systemd */
    port = socket_at_fd3();
    cfg = config_for(port, cert);

    /* Meant for another process: ignored, and the variables are gone. */
    set_env((long)getpid() + 1);
    assert_int_equal(listeners_inherit(&set, cfg, err, sizeof err), 0);
    assert_int_equal(set.n, 0);
    assert_null(getenv("LISTEN_FDS"));

    set_env((long)getpid());
    assert_int_equal(listeners_inherit(&set, cfg, err, sizeof err), 0);
    assert_int_equal(set.n, 1);
    assert_int_equal(listeners_fd(&set, &cfg->frontends[0].listen[0]), 3);
    assert_true(set.l[0].inherited);
    assert_true(fcntl(3, F_GETFL) & O_NONBLOCK);
    /* The second listen line gets a socket of its own. */
    assert_int_equal(listeners_open(&set, cfg, err, sizeof err), 0);
    assert_int_equal(set.n, 2);
    assert_true(listeners_fd(&set, &cfg->frontends[0].listen[1]) > 3);
    listeners_free(&set); /* closes fd 3 too */
    config_free(cfg);

    /* A passed socket that no listen line names is refused. */
    port = socket_at_fd3();
    cfg = config_for(port + 2, cert);
    set_env((long)getpid());
    assert_int_equal(listeners_inherit(&set, cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "fd 3 matches no listen line of t.ini"));
    listeners_free(&set);
    close(3);
    config_free(cfg);
    unlink(cert);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_inherit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
