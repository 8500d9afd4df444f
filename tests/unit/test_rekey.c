/*
 * test_rekey.c - the KeyUpdate rate limit (a token bucket per connection)
 * with an injected clock, and which secrets rekey_new takes.  The rekey
 * itself needs a kernel that can rekey: tests/integration/keyupdate.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rekey.h"

static const unsigned char secret[48] = { 1, 2, 3 };

/* How many of n KeyUpdates at time now are admitted. */
static unsigned admitted(struct kp_rekey *r, double now, unsigned n)
{
    unsigned ok = 0;

    for (unsigned i = 0; i < n; i++)
        ok += rekey_admit(r, now);
    return ok;
}

static void burst_then_one_per_interval(void **state)
{
    struct kp_rekey *r = rekey_new(0x1301, secret, secret, 32, 100.0);

    (void)state;
    assert_non_null(r);
    assert_int_equal(admitted(r, 100.0, 1000), REKEY_BURST);
    assert_int_equal(admitted(r, 100.0 + REKEY_INTERVAL / 2, 10), 0);
    assert_int_equal(admitted(r, 100.0 + REKEY_INTERVAL, 10), 1);
    assert_int_equal(admitted(r, 100.0 + 4 * REKEY_INTERVAL, 10), 3);
    /* a long quiet spell refills the bucket, never beyond the burst */
    assert_int_equal(admitted(r, 1e6, 1000), REKEY_BURST);
    /* a clock that goes back gives nothing */
    assert_int_equal(admitted(r, 0.0, 10), 0);
    rekey_free(r);
    rekey_free(NULL);
}

static void only_tls13_secrets_of_the_suite(void **state)
{
    struct kp_rekey *r;

    (void)state;
    assert_null(rekey_new(0xC02F, secret, secret, 32, 0.0)); /* TLS 1.2 */
    assert_null(rekey_new(0x1301, secret, secret, 48, 0.0)); /* SHA-256 suite */
    assert_null(rekey_new(0x1302, secret, secret, 32, 0.0)); /* SHA-384 suite */
    r = rekey_new(0x1302, secret, secret, 48, 0.0);
    assert_non_null(r);
    rekey_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_one_per_interval),
        cmocka_unit_test(only_tls13_secrets_of_the_suite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
