/*
 * test_ktls.c - the start-up kTLS probe's bookkeeping: what the kernel takes
 * per TLS version x cipher x direction, how it is described, that ktls_install
 * leaves a suite the kernel lacks untouched, and that with ktls = required a
 * frontend offers only the suites the kernel takes.  (The probe against a real
 * kernel TLS: tests/vm/systemd.test finds all six combinations both ways.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/tls.h>

#include <cmocka.h>

#include "config.h"
#include "ktls.h"
#include "tls.h"

#define ALL ((1u << KTLS_COMBOS) - 1)
/* Bits of struct ktls_caps, in the probe's order. */
#define TLS12_CHACHA (1u << 2)
#define TLS13_AES128 (1u << 3)
#define TLS13_CHACHA (1u << 5)

static int reset_caps(void **state)
{
    const struct ktls_caps all = { ALL, ALL, 0 };

    (void)state;
    ktls_use_caps(&all);
    return 0;
}

static void describe_all_and_none(void **state)
{
    const struct ktls_caps all = { ALL, ALL, 0 }, none = { 0, 0, 0 };
    char takes[256], lacks[256];

    (void)state;
    ktls_caps_describe(&all, takes, sizeof takes, lacks, sizeof lacks);
    assert_string_equal(takes, "TLS 1.2 AES-128-GCM, TLS 1.2 AES-256-GCM, "
                               "TLS 1.2 CHACHA20-POLY1305, TLS 1.3 AES-128-GCM, "
                               "TLS 1.3 AES-256-GCM, TLS 1.3 CHACHA20-POLY1305");
    assert_string_equal(lacks, "none");
    ktls_caps_describe(&none, takes, sizeof takes, lacks, sizeof lacks);
    assert_string_equal(takes, "none");
    assert_non_null(strstr(lacks, "TLS 1.2 AES-128-GCM (TX and RX), "));
}

static void describe_names_the_direction(void **state)
{
    const struct ktls_caps caps = { ALL & ~TLS13_CHACHA, ALL & ~TLS13_AES128 & ~TLS13_CHACHA, 0 };
    char takes[256], lacks[256];

    (void)state;
    ktls_caps_describe(&caps, takes, sizeof takes, lacks, sizeof lacks);
    assert_string_equal(lacks, "TLS 1.3 AES-128-GCM (RX), TLS 1.3 CHACHA20-POLY1305 (TX and RX)");
    assert_null(strstr(takes, "TLS 1.3 AES-128-GCM"));
    assert_non_null(strstr(takes, "TLS 1.3 AES-256-GCM"));
}

static void takes_needs_both_directions(void **state)
{
    const struct ktls_caps caps = { ALL, ALL & ~TLS13_CHACHA, 0 };

    (void)state;
    assert_true(ktls_kernel_takes(TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305));
    ktls_use_caps(&caps);
    assert_false(ktls_kernel_takes(TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305));
    assert_true(ktls_kernel_takes(TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305));
    assert_true(ktls_kernel_takes(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128));
    assert_false(ktls_kernel_takes(TLS_1_3_VERSION, 0x1234));
}

/* Rekey counts only where the probe found it, and the suite is taken both ways. */
static void rekey_only_where_probed(void **state)
{
    const struct ktls_caps none = { ALL, ALL, 0 };
    const struct ktls_caps aes = { ALL, ALL & ~TLS13_AES128, TLS13_AES128 | TLS13_CHACHA };

    (void)state;
    assert_false(ktls_kernel_rekeys(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128)); /* before the probe */
    assert_false(ktls_caps_rekey(&none));
    ktls_use_caps(&aes);
    assert_true(ktls_caps_rekey(&aes));
    assert_true(ktls_kernel_rekeys(TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305));
    assert_false(ktls_kernel_rekeys(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128)); /* no RX */
    assert_false(ktls_kernel_rekeys(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256));
    assert_false(ktls_kernel_rekeys(TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305));
}

static void install_leaves_a_lacking_suite_untouched(void **state)
{
    const struct ktls_caps caps = { ALL & ~TLS12_CHACHA, ALL, 0 };
    struct kp_ktls_keys keys;
    char err[256];

    (void)state;
    memset(&keys, 0, sizeof keys);
    keys.tx.info.version = keys.rx.info.version = TLS_1_2_VERSION;
    keys.tx.info.cipher_type = keys.rx.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
    keys.len = sizeof keys.tx.chacha;
    ktls_use_caps(&caps);
    /* fd -1: any system call would fail, so UNSUPPORTED means none was made. */
    assert_int_equal(ktls_install(-1, &keys, err, sizeof err), KTLS_UNSUPPORTED);
}

/* The parser wants the certificate to be a regular file; it is not read. */
static char cert_file[] = "/tmp/test_ktls.XXXXXX";

static struct kp_config *load(const char *ktls, const char *frontend_extra)
{
    char buf[1024], err[512];
    struct kp_config *cfg;

    snprintf(buf, sizeof buf,
             "[global]\nktls = %s\n[frontend f]\nlisten = 127.0.0.1:1\n"
             "cert = %s\nbackend = b\n%s\n[backend b]\naddress = 127.0.0.1:2\n",
             ktls, cert_file, frontend_extra);
    cfg = config_load_buffer("test.ini", buf, strlen(buf), err, sizeof err);
    if (cfg == NULL)
        fail_msg("%s", err);
    return cfg;
}

static int has(const int *suites, int id)
{
    for (; *suites != 0; suites++)
        if (*suites == id)
            return 1;
    return 0;
}

static void required_offers_only_what_the_kernel_takes(void **state)
{
    const struct ktls_caps no_chacha = { ALL & ~TLS12_CHACHA & ~TLS13_CHACHA, ALL, 0 };
    struct kp_config *req = load("required", ""), *aut = load("auto", "");
    int suites[TLS_MAX_SUITES + 1];

    (void)state;
    assert_int_equal(kp_tls_suites_for(req, &req->frontends[0], suites), 9);
    ktls_use_caps(&no_chacha);
    assert_int_equal(kp_tls_suites_for(req, &req->frontends[0], suites), 6);
    assert_false(has(suites, 0x1303) || has(suites, 0xCCA8) || has(suites, 0xCCA9));
    assert_true(has(suites, 0x1301) && has(suites, 0xC02F) && has(suites, 0xC030));
    assert_int_equal(kp_tls_suites_for(aut, &aut->frontends[0], suites), 9);
    assert_true(has(suites, 0x1303));
    config_free(req);
    config_free(aut);
}

static void required_with_nothing_left(void **state)
{
    const struct ktls_caps no_tls13 = { ALL & ~(7u << 3), ALL, 0 };
    struct kp_config *cfg = load("required", "tls_versions = 1.3\nciphers = chacha20-poly1305");
    int suites[TLS_MAX_SUITES + 1];

    (void)state;
    assert_int_equal(kp_tls_suites_for(cfg, &cfg->frontends[0], suites), 1);
    assert_int_equal(suites[0], 0x1303);
    ktls_use_caps(&no_tls13);
    assert_int_equal(kp_tls_suites_for(cfg, &cfg->frontends[0], suites), 0);
    config_free(cfg);
}

/* On a host without kTLS the probe fails and says how to load the module;
 * with kTLS it finds something. */
static void probe_says_how_to_fix(void **state)
{
    struct ktls_caps caps;
    char err[512] = "";

    (void)state;
    if (ktls_probe(&caps, err, sizeof err) == 0) {
        assert_true((caps.tx & caps.rx) != 0);
        return;
    }
    if (strstr(err, "No such file or directory") != NULL) {
        assert_non_null(strstr(err, "modules-load.d"));
        assert_non_null(strstr(err, "modprobe tls"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(describe_all_and_none, reset_caps),
        cmocka_unit_test_setup(describe_names_the_direction, reset_caps),
        cmocka_unit_test_setup(takes_needs_both_directions, reset_caps),
        cmocka_unit_test_setup(rekey_only_where_probed, reset_caps),
        cmocka_unit_test_setup(install_leaves_a_lacking_suite_untouched, reset_caps),
        cmocka_unit_test_setup(required_offers_only_what_the_kernel_takes, reset_caps),
        cmocka_unit_test_setup(required_with_nothing_left, reset_caps),
        cmocka_unit_test_setup(probe_says_how_to_fix, reset_caps),
    };
    int fd = mkstemp(cert_file), failed;

    if (fd < 0)
        return 1;
    close(fd);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(cert_file);
    return failed;
}
