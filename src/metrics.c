/*
 * metrics.c - per-thread counter blocks and the text exposition.
 *
 * Labelled counters live in small per-thread tables of slots keyed by their
 * rendered label set (frontend="web").  A slot's labels are written before
 * the table's length is published (release), and a scrape reads the length
 * first (acquire), so it never sees a half-written label.
 */
#include <malloc.h>
#include <mbedtls/build_info.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Distinct label sets one scrape merges (blocks may differ after reloads). */
#define MAX_MERGED 256

struct slot {
    char labels[112];
    uint64_t a, b;              /* frontends: opened, closed; suites: count, - */
};

struct block {
    struct block *next;
    bool retired;               /* its thread ended: the next new thread takes it over */
    size_t n_fe, n_suites;      /* published with release stores */
    struct slot fe[KP_METRICS_MAX_FRONTENDS];
    struct slot suites[KP_METRICS_MAX_SUITES];
    uint64_t hs_failed[KP_HSF_COUNT];
    uint64_t ktls, user;
    uint64_t bytes_c2b, bytes_b2c;
    uint64_t connect_failed, unavailable;
    uint64_t key_updates_rx, key_updates_tx;
    uint64_t pipes_opened, pipes_closed, pipes_small;
    uint64_t pipes_grown, big_pipes_closed;
};

static pthread_mutex_t blocks_lock = PTHREAD_MUTEX_INITIALIZER; /* creation and scrape only */
static struct block *blocks;
static __thread struct block *self;
static pthread_key_t exit_key;  /* only for its destructor: retire the block */
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static uint64_t reloads_ok, reloads_failed;

static const char *const hs_failure_names[KP_HSF_COUNT] = {
    [KP_HSF_TIMEOUT] = "timeout", [KP_HSF_CLOSED] = "closed", [KP_HSF_ALERT] = "alert",
    [KP_HSF_PROTOCOL] = "protocol", [KP_HSF_KTLS] = "ktls", [KP_HSF_INTERNAL] = "internal",
};

/* ---- writing: only the owning thread ---- */

static void retire(void *block)
{
    pthread_mutex_lock(&blocks_lock);
    ((struct block *)block)->retired = true;
    pthread_mutex_unlock(&blocks_lock);
}

static void make_exit_key(void)
{
    pthread_key_create(&exit_key, retire);
}

/* A thread's block: a retired one if there is one (its counts carry on, so
 * sums never go down, and threads started by reloads do not add memory), or
 * a new one. */
static struct block *my_block(void)
{
    struct block *b;

    if (self != NULL)
        return self;
    pthread_once(&exit_key_once, make_exit_key);
    pthread_mutex_lock(&blocks_lock);
    for (b = blocks; b != NULL && !b->retired; b = b->next)
        ;
    if (b != NULL)
        b->retired = false;
    else if ((b = calloc(1, sizeof *b)) != NULL) {
        b->next = blocks;
        blocks = b;
    }
    pthread_mutex_unlock(&blocks_lock);
    if (b != NULL && pthread_setspecific(exit_key, b) != 0) {
        retire(b); /* it could not be retired at exit: count nothing in this thread */
        b = NULL;
    }
    self = b;
    return b;
}

static void bump(uint64_t *counter, uint64_t n)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static uint64_t peek(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* The slot for labels in a table of max slots, made if new; -1 if full. */
static int slot_of(struct slot *slots, size_t *n, size_t max, const char *labels)
{
    size_t i;

    for (i = 0; i < *n; i++)
        if (strcmp(slots[i].labels, labels) == 0)
            return (int)i;
    if (i == max)
        return -1;
    snprintf(slots[i].labels, sizeof slots[i].labels, "%s", labels);
    __atomic_store_n(n, i + 1, __ATOMIC_RELEASE);
    return (int)i;
}

int metrics_conn_opened(const char *frontend)
{
    struct block *b = my_block();
    char labels[sizeof b->fe[0].labels];
    int i;

    if (b == NULL)
        return -1;
    snprintf(labels, sizeof labels, "frontend=\"%s\"", frontend);
    i = slot_of(b->fe, &b->n_fe, KP_METRICS_MAX_FRONTENDS, labels);
    if (i >= 0)
        bump(&b->fe[i].a, 1);
    return i;
}

void metrics_conn_closed(int slot)
{
    if (slot >= 0 && self != NULL)
        bump(&self->fe[slot].b, 1);
}

void metrics_handshake(const char *version, const char *cipher)
{
    struct block *b = my_block();
    char labels[sizeof b->suites[0].labels];
    int i;

    if (b == NULL)
        return;
    snprintf(labels, sizeof labels, "version=\"%s\",cipher=\"%s\"", version, cipher);
    i = slot_of(b->suites, &b->n_suites, KP_METRICS_MAX_SUITES, labels);
    if (i >= 0)
        bump(&b->suites[i].a, 1);
}

#define COUNT(field, n)                        \
    do {                                       \
        struct block *b_ = my_block();         \
        if (b_ != NULL)                        \
            bump(&b_->field, n);               \
    } while (0)

void metrics_handshake_failed(enum kp_hs_failure why) { COUNT(hs_failed[why], 1); }
void metrics_backend_connect_failed(void) { COUNT(connect_failed, 1); }
void metrics_unavailable_reply(void) { COUNT(unavailable, 1); }

void metrics_key_update(bool tx)
{
    if (tx)
        COUNT(key_updates_tx, 1);
    else
        COUNT(key_updates_rx, 1);
}

void metrics_pipe_opened(bool full)
{
    COUNT(pipes_opened, 1);
    if (!full)
        COUNT(pipes_small, 1);
}

void metrics_pipe_closed(void) { COUNT(pipes_closed, 1); }
void metrics_pipe_grown(void) { COUNT(pipes_grown, 1); }
void metrics_big_pipe_closed(void) { COUNT(big_pipes_closed, 1); }

void metrics_tls_mode(bool ktls)
{
    if (ktls)
        COUNT(ktls, 1);
    else
        COUNT(user, 1);
}

void metrics_bytes(bool client_to_backend, size_t n)
{
    if (client_to_backend)
        COUNT(bytes_c2b, n);
    else
        COUNT(bytes_b2c, n);
}

void metrics_reload_result(bool ok)
{
    __atomic_fetch_add(ok ? &reloads_ok : &reloads_failed, 1, __ATOMIC_RELAXED);
}

/* ---- the scrape (under blocks_lock) ---- */

/* The sum of one counter over all blocks. */
static uint64_t sum(size_t offset)
{
    uint64_t total = 0;

    for (const struct block *b = blocks; b != NULL; b = b->next)
        total += peek((const uint64_t *)(const void *)((const char *)b + offset));
    return total;
}
#define SUM(field) sum(offsetof(struct block, field))

/* Merge one labelled table of every block into m (n_m entries). */
static size_t merge(struct slot *m, size_t table_offset, size_t count_offset)
{
    size_t n_m = 0;

    for (const struct block *b = blocks; b != NULL; b = b->next) {
        const struct slot *slots = (const void *)((const char *)b + table_offset);
        size_t n = __atomic_load_n((const size_t *)(const void *)((const char *)b + count_offset),
                                   __ATOMIC_ACQUIRE);
        for (size_t i = 0; i < n; i++) {
            int k = slot_of(m, &n_m, MAX_MERGED, slots[i].labels);
            if (k < 0)
                continue;
            m[k].b += peek(&slots[i].b); /* closed before opened */
            m[k].a += peek(&slots[i].a);
        }
    }
    return n_m;
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void plain(FILE *f, const char *name, const char *labels, uint64_t v)
{
    fprintf(f, "%s%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
            (unsigned long long)v);
}

static void render_frontends(FILE *f, struct slot *m)
{
    size_t n = merge(m, offsetof(struct block, fe), offsetof(struct block, n_fe));

    header(f, "ktlsproxy_connections_open", "gauge", "Client connections open now.");
    for (size_t i = 0; i < n; i++)
        plain(f, "ktlsproxy_connections_open", m[i].labels, m[i].a > m[i].b ? m[i].a - m[i].b : 0);
    header(f, "ktlsproxy_connections_total", "counter", "Client connections accepted.");
    for (size_t i = 0; i < n; i++)
        plain(f, "ktlsproxy_connections_total", m[i].labels, m[i].a);
}

static void render_handshakes(FILE *f, struct slot *m)
{
    size_t n = merge(m, offsetof(struct block, suites), offsetof(struct block, n_suites));
    char labels[64];

    header(f, "ktlsproxy_handshakes_total", "counter", "Completed TLS handshakes.");
    for (size_t i = 0; i < n; i++)
        plain(f, "ktlsproxy_handshakes_total", m[i].labels, m[i].a);
    header(f, "ktlsproxy_handshake_failures_total", "counter", "Failed TLS handshakes, by reason.");
    for (int r = 0; r < KP_HSF_COUNT; r++) {
        snprintf(labels, sizeof labels, "reason=\"%s\"", hs_failure_names[r]);
        plain(f, "ktlsproxy_handshake_failures_total", labels, SUM(hs_failed[r]));
    }
}

/* Pipes are made and closed by the same worker, but a reload's new worker may
 * take over the block of an old one, so only the sums over blocks balance. */
static void render_pipes(FILE *f)
{
    uint64_t opened = SUM(pipes_opened), closed = SUM(pipes_closed);
    uint64_t grown = SUM(pipes_grown), big_closed = SUM(big_pipes_closed);

    header(f, "ktlsproxy_pipes_open", "gauge",
           "Splice pipes open now: in use, or idle in a worker's pool.");
    plain(f, "ktlsproxy_pipes_open", "", opened > closed ? opened - closed : 0);
    header(f, "ktlsproxy_pipes_undersized_total", "counter",
           "Splice pipes the kernel made smaller than its default (fs.pipe-user-pages-soft).");
    plain(f, "ktlsproxy_pipes_undersized_total", "", SUM(pipes_small));
    header(f, "ktlsproxy_pipes_big_open", "gauge",
           "Of the pipes open, those grown to 256 KiB for bulk transfers.");
    plain(f, "ktlsproxy_pipes_big_open", "", grown > big_closed ? grown - big_closed : 0);
}

static void render_rest(FILE *f)
{
    header(f, "ktlsproxy_tls_connections_total", "counter",
           "Handshaken connections, record layer in the kernel (ktls) or in user space.");
    plain(f, "ktlsproxy_tls_connections_total", "mode=\"ktls\"", SUM(ktls));
    plain(f, "ktlsproxy_tls_connections_total", "mode=\"user\"", SUM(user));
    header(f, "ktlsproxy_payload_bytes_total", "counter", "Payload bytes forwarded.");
    plain(f, "ktlsproxy_payload_bytes_total", "direction=\"client_to_backend\"", SUM(bytes_c2b));
    plain(f, "ktlsproxy_payload_bytes_total", "direction=\"backend_to_client\"", SUM(bytes_b2c));
    header(f, "ktlsproxy_backend_connect_failures_total", "counter",
           "Backend connections that failed or timed out.");
    plain(f, "ktlsproxy_backend_connect_failures_total", "", SUM(connect_failed));
    header(f, "ktlsproxy_unavailable_replies_total", "counter",
           "Clients answered with 503 (or GOAWAY, close_notify) for want of a backend.");
    plain(f, "ktlsproxy_unavailable_replies_total", "", SUM(unavailable));
    header(f, "ktlsproxy_key_updates_total", "counter",
           "TLS 1.3 KeyUpdates followed in the kernel: new client (rx) or server (tx) keys.");
    plain(f, "ktlsproxy_key_updates_total", "direction=\"rx\"", SUM(key_updates_rx));
    plain(f, "ktlsproxy_key_updates_total", "direction=\"tx\"", SUM(key_updates_tx));
    render_pipes(f);
    header(f, "ktlsproxy_reloads_total", "counter", "Configuration reloads, by outcome.");
    plain(f, "ktlsproxy_reloads_total", "result=\"success\"",
          __atomic_load_n(&reloads_ok, __ATOMIC_RELAXED));
    plain(f, "ktlsproxy_reloads_total", "result=\"failure\"",
          __atomic_load_n(&reloads_failed, __ATOMIC_RELAXED));
    header(f, "ktlsproxy_build_info", "gauge", "Versions of ktlsproxy and mbedTLS; always 1.");
    fprintf(f, "ktlsproxy_build_info{version=\"%s\",mbedtls=\"%s\"} 1\n", PACKAGE_VERSION,
            MBEDTLS_VERSION_STRING);
}

/* What the process's malloc has handed out and not had back (glibc's
 * mallinfo2, every arena).  Resident memory above this after a peak of
 * connections is free memory malloc keeps (pages it cannot return while a
 * live chunk shares them), not a leak: this gauge tells the two apart. */
static void render_heap(FILE *f)
{
    struct mallinfo2 mi = mallinfo2();

    header(f, "ktlsproxy_heap_in_use_bytes", "gauge",
           "Bytes malloc has handed out and not had back (glibc mallinfo2).");
    plain(f, "ktlsproxy_heap_in_use_bytes", "", mi.uordblks + mi.hblkhd);
}

char *metrics_render(size_t *len)
{
    struct slot *m = calloc(MAX_MERGED, sizeof *m);
    char *text = NULL;
    FILE *f;

    if (m == NULL || (f = open_memstream(&text, len)) == NULL) {
        free(m);
        return NULL;
    }
    pthread_mutex_lock(&blocks_lock);
    render_frontends(f, m);
    memset(m, 0, MAX_MERGED * sizeof *m);
    render_handshakes(f, m);
    render_rest(f);
    pthread_mutex_unlock(&blocks_lock);
    render_heap(f);
    free(m);
    if (ferror(f) | fclose(f)) {
        free(text);
        return NULL;
    }
    return text;
}

size_t metrics_blocks(void)
{
    size_t n = 0;

    pthread_mutex_lock(&blocks_lock);
    for (const struct block *b = blocks; b != NULL; b = b->next)
        n++;
    pthread_mutex_unlock(&blocks_lock);
    return n;
}
