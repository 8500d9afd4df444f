/*
 * test_ratelimit.c - the per-cause log limiter, with an injected clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ratelimit.h"

/* Events at time now; returns how many were allowed, adds reported
 * suppressions to *reported. */
static unsigned events(struct kp_ratelimit *rl, double now, unsigned n, unsigned *reported)
{
    unsigned allowed = 0, k;

    for (unsigned i = 0; i < n; i++) {
        allowed += kp_ratelimit_allow(rl, now, &k);
        *reported += k;
    }
    return allowed;
}

static void test_burst_then_suppressed(void **state)
{
    struct kp_ratelimit rl = { .burst = 10 };
    unsigned reported = 0;

    (void)state;
    assert_int_equal(events(&rl, 100.0, 10, &reported), 10);
    assert_int_equal(events(&rl, 100.5, 1000, &reported), 0);
    assert_int_equal(reported, 0);
    /* The next second: the 1000 are reported once, with the first event. */
    assert_int_equal(events(&rl, 101.0, 1, &reported), 1);
    assert_int_equal(reported, 1000);
    assert_int_equal(events(&rl, 101.2, 20, &reported), 9);
    assert_int_equal(reported, 1000);
}

static void test_quiet_flow_never_suppressed(void **state)
{
    struct kp_ratelimit rl = { .burst = 3 };
    unsigned reported = 0, allowed = 0;

    (void)state;
    for (int t = 0; t < 100; t++)
        allowed += events(&rl, 50.0 + t * 0.4, 1, &reported); /* 2.5 per second */
    assert_int_equal(allowed, 100);
    assert_int_equal(reported, 0);
}

static void test_suppressed_reported_after_a_pause(void **state)
{
    struct kp_ratelimit rl = { .burst = 1 };
    unsigned reported = 0;

    (void)state;
    assert_int_equal(events(&rl, 10.0, 5, &reported), 1);
    /* An hour later the count of the old window is still handed out once. */
    assert_int_equal(events(&rl, 3610.0, 2, &reported), 1);
    assert_int_equal(reported, 4);
    assert_int_equal(events(&rl, 3611.0, 1, &reported), 1);
    assert_int_equal(reported, 5);
}

static void test_clock_going_back_starts_a_window(void **state)
{
    struct kp_ratelimit rl = { .burst = 2 };
    unsigned reported = 0;

    (void)state;
    assert_int_equal(events(&rl, 20.0, 3, &reported), 2);
    assert_int_equal(events(&rl, 5.0, 1, &reported), 1);
    assert_int_equal(reported, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_suppressed),
        cmocka_unit_test(test_quiet_flow_never_suppressed),
        cmocka_unit_test(test_suppressed_reported_after_a_pause),
        cmocka_unit_test(test_clock_going_back_starts_a_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
