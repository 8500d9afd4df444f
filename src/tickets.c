/*
 * tickets.c - session ticket keys (per frontend, process-wide, optionally
 * from a file a fleet shares) and the exact count of tickets each handshake
 * sent.  Only public mbedTLS APIs are used.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/version.h>
#include <psa/crypto.h>

#include "log.h"
#include "tickets.h"

#define MIN_VERSION 0x03060600u   /* 3.6.6: CVE-2026-34873 fixed */
#define MAX_KEY_FILE 4096

struct ticket_key {
    unsigned char name[KP_TICKET_KEY_NAME];
    unsigned char key[KP_TICKET_KEY_BYTES];
};

struct key_pair {
    struct ticket_key cur;      /* encrypts new tickets */
    struct ticket_key prev;     /* still decrypts */
};

/* A frontend's keys, shared by every worker of the process. */
struct ring {
    struct ring *next;
    char *name;                 /* the frontend's */
    struct key_pair keys;
    unsigned long generation;   /* bumped whenever keys change */
    time_t made_at;             /* random keys: when keys.cur was made */
    unsigned lifetime;          /* seconds */
    bool from_file;
};

struct kp_tickets {
    mbedtls_ssl_ticket_context ctx;
    struct ring *ring;
    unsigned long generation;   /* of the keys installed in ctx */
    time_t installed_at;
    unsigned lifetime;
    unsigned *sent;             /* the current handshake's count, NULL between */
};

static pthread_mutex_t rings_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ring *rings;

bool tickets_library_ok(char *err, size_t errlen)
{
    char running[18];

    if (MBEDTLS_VERSION_NUMBER >= MIN_VERSION && mbedtls_version_get_number() >= MIN_VERSION)
        return true;
    mbedtls_version_get_string(running);
    snprintf(err, errlen, "session tickets need mbedTLS 3.6.6 or later (built with %s, running "
             "%s): older versions have a TLS 1.3 resumption flaw (CVE-2026-34873)",
             MBEDTLS_VERSION_STRING, running);
    return false;
}

/* ---- the key file ---- */

/* One line: 36 bytes in base64, the key name then the AES-256 key. */
static int parse_key_line(char *line, struct ticket_key *k)
{
    unsigned char raw[64];
    size_t len = 0;
    int ret = mbedtls_base64_decode(raw, sizeof raw, &len, (const unsigned char *)line,
                                    strlen(line));

    if (ret == 0 && len == KP_TICKET_KEY_LINE) {
        memcpy(k->name, raw, KP_TICKET_KEY_NAME);
        memcpy(k->key, raw + KP_TICKET_KEY_NAME, KP_TICKET_KEY_BYTES);
    }
    mbedtls_platform_zeroize(raw, sizeof raw);
    return ret == 0 && len == KP_TICKET_KEY_LINE ? 0 : -1;
}

/* Lines of text in buf: the current key, then optionally the previous one;
 * blank lines and # comments are skipped. */
static int parse_key_file(char *buf, const char *where, struct key_pair *kp, char *err,
                          size_t errlen)
{
    struct ticket_key keys[2];
    size_t n = 0;
    int ret = -1;
    char *save, *line;

    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line += strspn(line, " \t\r");
        line[strcspn(line, " \t\r")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (n == 2) {
            snprintf(err, errlen, "%s: more than two keys (allowed: the current key, then the "
                     "previous one)", where);
            goto out;
        }
        if (parse_key_line(line, &keys[n++]) != 0) {
            snprintf(err, errlen, "%s: key %zu is not 36 bytes in base64 (make one with: "
                     "openssl rand -base64 36)", where, n);
            goto out;
        }
    }
    if (n == 0) {
        snprintf(err, errlen, "%s: no key in the file (make one with: openssl rand -base64 36)",
                 where);
        goto out;
    }
    kp->cur = keys[0];
    kp->prev = keys[n - 1];
    ret = 0;
out:
    mbedtls_platform_zeroize(keys, sizeof keys);
    return ret;
}

/* Read without stdio, whose buffer would keep a copy of the keys. */
static int read_key_file(const struct kp_config *cfg, const struct kp_frontend *fe,
                         struct key_pair *kp, char *err, size_t errlen)
{
    char buf[MAX_KEY_FILE + 1], where[512];
    ssize_t n = -1;
    int fd = open(fe->ticket_key_file, O_RDONLY | O_CLOEXEC), ret = -1;

    snprintf(where, sizeof where, "%s:%d: ticket_key_file %s", cfg->file,
             fe->ticket_key_file_line, fe->ticket_key_file);
    if (fd >= 0) {
        n = read(fd, buf, sizeof buf);
        close(fd);
    }
    if (n < 0)
        snprintf(err, errlen, "%s: %s", where, strerror(errno));
    else if (n > MAX_KEY_FILE)
        snprintf(err, errlen, "%s: longer than %d bytes", where, MAX_KEY_FILE);
    else {
        buf[n] = '\0';
        ret = parse_key_file(buf, where, kp, err, errlen);
    }
    mbedtls_platform_zeroize(buf, sizeof buf);
    return ret;
}

static int random_key(struct ticket_key *k)
{
    return psa_generate_random((uint8_t *)k, sizeof *k) == PSA_SUCCESS ? 0 : -1;
}

/* ---- the process-wide rings (rings_lock held) ---- */

static void rings_wipe(void)
{
    pthread_mutex_lock(&rings_lock);
    for (struct ring *r = rings; r; r = r->next)
        mbedtls_platform_zeroize(&r->keys, sizeof r->keys);
    pthread_mutex_unlock(&rings_lock);
}

static struct ring *ring_find(const char *name)
{
    for (struct ring *r = rings; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

static struct ring *ring_add(const char *name)
{
    static bool wipe_at_exit;
    struct ring *r = calloc(1, sizeof *r);

    if (r == NULL || (r->name = strdup(name)) == NULL) {
        free(r);
        return NULL;
    }
    if (!wipe_at_exit)
        wipe_at_exit = atexit(rings_wipe) == 0;
    r->next = rings;
    rings = r;
    return r;
}

/* Take the file's keys (file != NULL) or, if the ring has none from a
 * file, fresh random ones. */
static int ring_set(struct ring *r, const struct kp_frontend *fe, const struct key_pair *file,
                    time_t now)
{
    if (file != NULL) {
        r->keys = *file;
    } else if (r->generation == 0 || r->from_file) {
        if (random_key(&r->keys.cur) != 0)
            return -1;
        r->keys.prev = r->keys.cur;
        r->made_at = now;
    }
    r->from_file = file != NULL;
    r->lifetime = fe->ticket_lifetime_s;
    r->generation++;
    return 0;
}

/* Random keys rotate once per lifetime: the previous key keeps decrypting
 * tickets made just before for one more lifetime, as long as they are valid. */
static int ring_rotate_if_due(struct ring *r, time_t now)
{
    struct ticket_key fresh;

    if (r->from_file || now - r->made_at < (time_t)r->lifetime)
        return 0;
    if (random_key(&fresh) != 0)
        return -1;
    r->keys.prev = r->keys.cur;
    r->keys.cur = fresh;
    mbedtls_platform_zeroize(&fresh, sizeof fresh);
    r->made_at = now;
    r->generation++;
    return 0;
}

/* Find or make the frontend's ring; with reload, re-read its file.  The
 * file is read only then: workers that start later (perhaps after
 * privileges were dropped) find the ring made at start-up. */
static struct ring *ring_get(const struct kp_config *cfg, const struct kp_frontend *fe,
                             bool reload, char *err, size_t errlen)
{
    struct key_pair kp = { 0 }; /* read only with a key file; zeroed either way */
    struct ring *r;
    const struct key_pair *file = fe->ticket_key_file ? &kp : NULL;

    pthread_mutex_lock(&rings_lock);
    r = ring_find(fe->name);
    if (r != NULL && r->generation != 0 && !reload)
        goto out;
    if (file != NULL && read_key_file(cfg, fe, &kp, err, errlen) != 0)
        r = NULL;
    else if (r == NULL && (r = ring_add(fe->name)) == NULL)
        snprintf(err, errlen, "out of memory");
    else if (ring_set(r, fe, file, time(NULL)) != 0) {
        snprintf(err, errlen, "cannot make a random ticket key");
        r = NULL;
    }
    mbedtls_platform_zeroize(&kp, sizeof kp);
out:
    pthread_mutex_unlock(&rings_lock);
    return r;
}

int tickets_reload(const struct kp_config *cfg, char *err, size_t errlen)
{
    for (size_t f = 0; f < cfg->n_frontends; f++)
        if (cfg->frontends[f].ticket_key_file != NULL &&
            read_key_file(cfg, &cfg->frontends[f], &(struct key_pair){ 0 }, err, errlen) != 0)
            return -1; /* check every file before changing any ring */
    for (size_t f = 0; f < cfg->n_frontends; f++)
        if (cfg->frontends[f].session_tickets &&
            ring_get(cfg, &cfg->frontends[f], true, err, errlen) == NULL)
            return -1;
    return 0;
}

/* ---- one worker's ticket context ---- */

/* Previous first, then current: rotate() fills the inactive slot and makes
 * it active, so current encrypts and previous still decrypts.  Both slots
 * get a fresh generation time, which restarts mbedTLS's key lifetime. */
static int install_keys(struct kp_tickets *t, time_t now, char *err, size_t errlen)
{
    struct key_pair kp;
    unsigned long generation;
    int ret;

    pthread_mutex_lock(&rings_lock);
    ret = ring_rotate_if_due(t->ring, now);
    kp = t->ring->keys;
    generation = t->ring->generation;
    pthread_mutex_unlock(&rings_lock);
    if (ret == 0)
        ret = mbedtls_ssl_ticket_rotate(&t->ctx, kp.prev.name, KP_TICKET_KEY_NAME, kp.prev.key,
                                        KP_TICKET_KEY_BYTES, t->lifetime);
    if (ret == 0)
        ret = mbedtls_ssl_ticket_rotate(&t->ctx, kp.cur.name, KP_TICKET_KEY_NAME, kp.cur.key,
                                        KP_TICKET_KEY_BYTES, t->lifetime);
    mbedtls_platform_zeroize(&kp, sizeof kp);
    if (ret != 0) {
        snprintf(err, errlen, "cannot install session ticket keys (-0x%04x)", (unsigned)-ret);
        return -1;
    }
    t->generation = generation;
    t->installed_at = now;
    return 0;
}

static int write_counted(void *arg, const mbedtls_ssl_session *session, unsigned char *start,
                         const unsigned char *end, size_t *tlen, uint32_t *lifetime)
{
    struct kp_tickets *t = arg;
    int ret;

    if (t->sent == NULL)
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR; /* it would go out uncounted */
    ret = mbedtls_ssl_ticket_write(&t->ctx, session, start, end, tlen, lifetime);
    if (ret == 0)
        (*t->sent)++;
    return ret;
}

static int parse_ticket(void *arg, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
    return mbedtls_ssl_ticket_parse(&((struct kp_tickets *)arg)->ctx, session, buf, len);
}

static void conf_no_tickets(mbedtls_ssl_config *conf)
{
    /* No ticket callbacks: TLS 1.2 sends none; TLS 1.3 neither, and
     * without tickets a PSK key exchange is of no use. */
    mbedtls_ssl_conf_tls13_key_exchange_modes(conf, MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL);
    mbedtls_ssl_conf_new_session_tickets(conf, 0);
}

/* 1 = tickets on, 0 = off, -1 = a configuration the library cannot honour. */
static int tickets_wanted(const struct kp_config *cfg, const struct kp_frontend *fe, char *err,
                          size_t errlen)
{
    char why[256];

    if (!fe->session_tickets)
        return 0;
    if (tickets_library_ok(why, sizeof why))
        return 1;
    if (fe->session_tickets_line != 0) {
        snprintf(err, errlen, "%s:%d: session_tickets = yes: %s", cfg->file,
                 fe->session_tickets_line, why);
        return -1;
    }
    log_warn("frontend %s: session tickets off: %s", fe->name, why);
    return 0;
}

int tickets_new(const struct kp_config *cfg, const struct kp_frontend *fe,
                mbedtls_ssl_config *conf, int (*f_rng)(void *, unsigned char *, size_t),
                void *p_rng, struct kp_tickets **out, char *err, size_t errlen)
{
    int wanted = tickets_wanted(cfg, fe, err, errlen);
    struct kp_tickets *t;
    int ret;

    *out = NULL;
    conf_no_tickets(conf);
    if (wanted <= 0)
        return wanted;
    if ((t = calloc(1, sizeof *t)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mbedtls_ssl_ticket_init(&t->ctx);
    t->lifetime = fe->ticket_lifetime_s;
    ret = mbedtls_ssl_ticket_setup(&t->ctx, f_rng, p_rng, MBEDTLS_CIPHER_AES_256_GCM, t->lifetime);
    if (ret != 0) {
        snprintf(err, errlen, "mbedtls_ssl_ticket_setup failed (-0x%04x)", (unsigned)-ret);
        goto fail;
    }
    if ((t->ring = ring_get(cfg, fe, false, err, errlen)) == NULL ||
        install_keys(t, time(NULL), err, errlen) != 0)
        goto fail;
    mbedtls_ssl_conf_session_tickets_cb(conf, write_counted, parse_ticket, t);
    mbedtls_ssl_conf_new_session_tickets(conf, (uint16_t)fe->tls13_tickets);
    /* psk_dhe_ke, psk_ke (resumption) and ephemeral (full handshakes). */
    mbedtls_ssl_conf_tls13_key_exchange_modes(conf, MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_ALL);
    *out = t;
    return 0;
fail:
    tickets_free(t);
    return -1;
}

void tickets_free(struct kp_tickets *t)
{
    if (t == NULL)
        return;
    mbedtls_ssl_ticket_free(&t->ctx); /* destroys and zeroizes both keys */
    free(t);
}

/* Refresh at half the lifetime: mbedTLS replaces a key that reached its
 * lifetime with a random one of its own, which no other instance knows. */
int tickets_begin(struct kp_tickets *t, unsigned *sent, char *err, size_t errlen)
{
    time_t now = time(NULL);
    bool changed;

    if (t == NULL)
        return 0;
    pthread_mutex_lock(&rings_lock);
    changed = t->ring->generation != t->generation ||
              (!t->ring->from_file && now - t->ring->made_at >= (time_t)t->ring->lifetime);
    pthread_mutex_unlock(&rings_lock);
    if ((changed || now - t->installed_at >= (time_t)(t->lifetime / 2)) &&
        install_keys(t, now, err, errlen) != 0)
        return -1;
    t->sent = sent;
    return 0;
}

void tickets_end(struct kp_tickets *t)
{
    if (t != NULL)
        t->sent = NULL;
}
