/*
 * test_hostname.c - hostname_match(): exact names and one-label wildcards
 * (RFC 6125 6.4.3), case-insensitive, as certificate selection and routing
 * use it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hostname.h"

static void
test_exact(void **state)
{
    (void)state;
    assert_int_equal(hostname_match("example.com", "example.com"), 2);
    assert_int_equal(hostname_match("Example.COM", "example.com"), 2);
    assert_int_equal(hostname_match("example.com", "example.org"), 0);
    assert_int_equal(hostname_match("example.com", "a.example.com"), 0);
    assert_int_equal(hostname_match("example.com", "example.co"), 0);
    assert_int_equal(hostname_match("example.com", ""), 0);
    /* a literal "*.x" name asked for equals the pattern: exact wins */
    assert_int_equal(hostname_match("*.example.com", "*.example.com"), 2);
}

static void
test_wildcard(void **state)
{
    (void)state;
    assert_int_equal(hostname_match("*.example.com", "a.example.com"), 1);
    assert_int_equal(hostname_match("*.example.com", "WWW.Example.Com"), 1);
    /* one label only, and never the bare domain */
    assert_int_equal(hostname_match("*.example.com", "a.b.example.com"), 0);
    assert_int_equal(hostname_match("*.example.com", "example.com"), 0);
    assert_int_equal(hostname_match("*.example.com", ".example.com"), 0);
    assert_int_equal(hostname_match("*.example.com", "aexample.com"), 0);
    assert_int_equal(hostname_match("*.example.com", "a.example.com.evil"), 0);
    assert_int_equal(hostname_match("*.example.com", "a.example.org"), 0);
    assert_int_equal(hostname_match("*.example.com", "nodot"), 0);
}

static void
test_not_a_wildcard(void **state)
{
    (void)state;
    /* only a leading "*." makes a wildcard */
    assert_int_equal(hostname_match("a*.example.com", "ab.example.com"), 0);
    assert_int_equal(hostname_match("*example.com", "a.example.com"), 0);
    assert_int_equal(hostname_match("a.*.com", "a.b.com"), 0);
    assert_int_equal(hostname_match("*", "localhost"), 0);
    assert_int_equal(hostname_match("", "a"), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_wildcard),
        cmocka_unit_test(test_not_a_wildcard),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
