/*
 * test_metrics.c - counters from several threads, summed by the renderer
 * into a valid exposition.  The blocks are process-wide, so the tests run
 * in order and each checks what it added on top of the ones before.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static char *render(void)
{
    size_t len;
    char *text = metrics_render(&len);

    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* The line for a sample, exactly, or fail. */
static void assert_sample(const char *text, const char *sample)
{
    char want[256];
    const char *p = text;
    size_t n = (size_t)snprintf(want, sizeof want, "%s\n", sample);

    while ((p = strstr(p, want)) != NULL && p != text && p[-1] != '\n')
        p += n;
    if (p == NULL)
        print_error("no line '%s' in:\n%s", sample, text);
    assert_non_null(p);
}

/* The value of the line starting with prefix, or fail. */
static unsigned long long sample(const char *text, const char *prefix)
{
    const char *line = strstr(text, prefix);

    if (line == NULL)
        fail_msg("no line starting '%s' in:\n%s", prefix, text);
    return strtoull(line + strlen(prefix), NULL, 10);
}

static void test_empty(void **state)
{
    char *text;

    (void)state;
    text = render();
    assert_non_null(strstr(text, "# TYPE ktlsproxy_connections_open gauge\n"));
    assert_null(strstr(text, "ktlsproxy_connections_open{"));
    assert_sample(text, "ktlsproxy_handshake_failures_total{reason=\"timeout\"} 0");
    assert_sample(text, "ktlsproxy_handshake_failures_total{reason=\"internal\"} 0");
    assert_sample(text, "ktlsproxy_tls_connections_total{mode=\"ktls\"} 0");
    assert_sample(text, "ktlsproxy_reloads_total{result=\"failure\"} 0");
    assert_non_null(strstr(text, "\nktlsproxy_build_info{version=\"" PACKAGE_VERSION "\",mbedtls=\""));
    free(text);
}

/* The heap gauge follows what is allocated: 1 MiB more in use shows as such. */
static void test_heap_in_use(void **state)
{
    char *text, *big;
    unsigned long long before, after;

    (void)state;
#ifdef __SANITIZE_ADDRESS__
    skip(); /* ASan's allocator is not glibc's: mallinfo2 does not see it */
#endif
    text = render();
    before = sample(text, "\nktlsproxy_heap_in_use_bytes ");
    free(text);
    big = malloc(1 << 20);
    assert_non_null(big);
    memset(big, 1, 1 << 20);
    text = render();
    after = sample(text, "\nktlsproxy_heap_in_use_bytes ");
    free(text);
    free(big);
    assert_true(after >= before + (1 << 20));
    assert_true(after < before + (1 << 20) + (64 << 10));
}

/* What one worker does for one connection of frontend fe. */
static void connection(const char *fe, bool close)
{
    int slot = metrics_conn_opened(fe);

    assert_true(slot >= 0);
    metrics_handshake("TLSv1.3", "TLS_AES_128_GCM_SHA256");
    metrics_tls_mode(true);
    metrics_bytes(true, 100);
    metrics_bytes(false, 1000);
    if (close)
        metrics_conn_closed(slot);
}

/* Both workers live while either counts, so each has a block of its own. */
static pthread_barrier_t both_alive;

static void *worker(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&both_alive);
    connection("web", true);
    connection("web", false);
    connection("api", true);
    metrics_handshake("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384");
    metrics_handshake_failed(KP_HSF_TIMEOUT);
    metrics_tls_mode(false);
    pthread_barrier_wait(&both_alive);
    return NULL;
}

static void test_sums_over_threads(void **state)
{
    pthread_t t[2];
    char *text;

    (void)state;
    pthread_barrier_init(&both_alive, NULL, 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&both_alive);
    assert_int_equal(metrics_blocks(), 2);
    connection("web", true);
    metrics_handshake_failed(KP_HSF_ALERT);
    metrics_backend_connect_failed();
    metrics_unavailable_reply();
    metrics_reload_result(true);
    metrics_reload_result(false);
    metrics_reload_result(true);
    metrics_pipe_opened(true);
    metrics_pipe_opened(false);
    metrics_pipe_opened(true);
    metrics_pipe_closed();
    text = render();
    assert_sample(text, "ktlsproxy_connections_open{frontend=\"web\"} 2");
    assert_sample(text, "ktlsproxy_connections_total{frontend=\"web\"} 5");
    assert_sample(text, "ktlsproxy_connections_open{frontend=\"api\"} 0");
    assert_sample(text, "ktlsproxy_connections_total{frontend=\"api\"} 2");
    assert_sample(text, "ktlsproxy_handshakes_total{version=\"TLSv1.3\",cipher=\"TLS_AES_128_GCM_SHA256\"} 7");
    assert_sample(text, "ktlsproxy_handshakes_total{version=\"TLSv1.2\",cipher=\"ECDHE-ECDSA-AES256-GCM-SHA384\"} 2");
    assert_sample(text, "ktlsproxy_handshake_failures_total{reason=\"timeout\"} 2");
    assert_sample(text, "ktlsproxy_handshake_failures_total{reason=\"alert\"} 1");
    assert_sample(text, "ktlsproxy_handshake_failures_total{reason=\"closed\"} 0");
    assert_sample(text, "ktlsproxy_tls_connections_total{mode=\"ktls\"} 7");
    assert_sample(text, "ktlsproxy_tls_connections_total{mode=\"user\"} 2");
    assert_sample(text, "ktlsproxy_payload_bytes_total{direction=\"client_to_backend\"} 700");
    assert_sample(text, "ktlsproxy_payload_bytes_total{direction=\"backend_to_client\"} 7000");
    assert_sample(text, "ktlsproxy_backend_connect_failures_total 1");
    assert_sample(text, "ktlsproxy_unavailable_replies_total 1");
    assert_sample(text, "ktlsproxy_reloads_total{result=\"success\"} 2");
    assert_sample(text, "ktlsproxy_reloads_total{result=\"failure\"} 1");
    assert_sample(text, "ktlsproxy_pipes_open 2");
    assert_sample(text, "ktlsproxy_pipes_undersized_total 1");
    /* Each label set once, though three threads counted it. */
    assert_null(strstr(strstr(text, "ktlsproxy_connections_total{frontend=\"web\"}") + 1,
                       "ktlsproxy_connections_total{frontend=\"web\"}"));
    free(text);
}

/* Every sample follows the HELP and TYPE of its metric; counters end in
 * _total; no line is empty. */
static void test_format(void **state)
{
    char *text = render(), *line, *save, typed[128] = "", helped[128] = "", name[128], type[16];

    (void)state;
    assert_int_equal(text[strlen(text) - 1], '\n');
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (sscanf(line, "# HELP %127s", helped) == 1)
            continue;
        if (sscanf(line, "# TYPE %127s %15s", typed, type) == 2) {
            assert_string_equal(typed, helped);
            if (strcmp(type, "counter") == 0)
                assert_string_equal(typed + strlen(typed) - 6, "_total");
            else
                assert_string_equal(type, "gauge");
            continue;
        }
        assert_int_equal(sscanf(line, "%127[a-z_]", name), 1);
        assert_string_equal(name, typed);
        assert_non_null(strrchr(line, ' '));
        assert_true(strspn(strrchr(line, ' ') + 1, "0123456789") == strlen(strrchr(line, ' ') + 1));
    }
    free(text);
}

/* A thread that fills its frontend table.  Its block may be one an earlier
 * thread left (with "web", "api", "churn"), so it reports how many names it added. */
static void *many_frontends(void *arg)
{
    unsigned *added = arg;
    char name[16];
    int slot;

    for (*added = 0;; (*added)++) {
        snprintf(name, sizeof name, "fe%u", *added);
        if ((slot = metrics_conn_opened(name)) < 0)
            break;
        assert_true(slot < KP_METRICS_MAX_FRONTENDS);
    }
    metrics_conn_closed(-1); /* not counted, not a crash */
    return NULL;
}

static void test_frontend_table_full(void **state)
{
    char last[80], first_lost[80];
    unsigned added;
    pthread_t t;
    char *text;

    (void)state;
    assert_int_equal(pthread_create(&t, NULL, many_frontends, &added), 0);
    pthread_join(t, NULL);
    assert_true(added >= KP_METRICS_MAX_FRONTENDS - 3 && added <= KP_METRICS_MAX_FRONTENDS);
    text = render();
    snprintf(last, sizeof last, "ktlsproxy_connections_total{frontend=\"fe%u\"} 1", added - 1);
    snprintf(first_lost, sizeof first_lost, "{frontend=\"fe%u\"}", added);
    assert_sample(text, last);
    assert_null(strstr(text, first_lost));
    free(text);
}

/* Threads that end hand their blocks on: after the first, a hundred threads
 * one after the other add no block, and every count is kept. */
static void *one_connection(void *arg)
{
    (void)arg;
    metrics_conn_closed(metrics_conn_opened("churn"));
    return NULL;
}

static void churn(int threads)
{
    pthread_t t;

    for (int i = 0; i < threads; i++) {
        assert_int_equal(pthread_create(&t, NULL, one_connection, NULL), 0);
        pthread_join(t, NULL);
    }
}

static void test_ended_threads_blocks_reused(void **state)
{
    size_t blocks;
    char *text;

    (void)state;
    churn(1);
    blocks = metrics_blocks();
    churn(100);
    assert_int_equal(metrics_blocks(), blocks);
    text = render();
    assert_sample(text, "ktlsproxy_connections_total{frontend=\"churn\"} 101");
    assert_sample(text, "ktlsproxy_connections_open{frontend=\"churn\"} 0");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_heap_in_use),
        cmocka_unit_test(test_sums_over_threads),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_ended_threads_blocks_reused),
        cmocka_unit_test(test_frontend_table_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
