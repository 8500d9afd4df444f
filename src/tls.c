/*
 * tls.c - mbedTLS server side: certificates chosen by SNI, ALPN, the
 * non-blocking handshake, and the capture of the session secrets for the
 * kernel.  Only public mbedTLS APIs are used.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "certstore.h"
#include "hostname.h"
#include "ktls.h"
#include "ktls_keys.h"
#include "log.h"
#include "rekey.h"
#include "tickets.h"
#include "tls.h"

struct tls_frontend {
    const struct kp_frontend *fe;
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    struct certstore *certs;
    mbedtls_x509_crt ca;
    int suites[TLS_MAX_SUITES + 1];
    uint16_t groups[KP_MAX_GROUPS + 1];
    const char *alpn[KP_MAX_ALPN + 1];
    struct kp_tickets *tickets;  /* NULL: session tickets off */
};

struct tls_session {
    struct tls_frontend *tf;
    mbedtls_ssl_context ssl;
    int fd;
    int unflushed;              /* handshake bytes sent while corked */
    int sent_any;               /* mbedTLS has sent the client something */
    struct kp_tls_secrets secrets;
    char sni[256];
    char client_cn[128];
    int client_verified;        /* a client certificate was presented and verified */
    const char *refused;        /* why the SNI callback refused the client, for the log */
    int last_error;             /* of kp_tls_read / kp_tls_write, for logs */
    unsigned tickets_sent;      /* TLS 1.3: records already sent under the application key */
};

/* The suites the kernel can take, with the names OpenSSL and HAProxy use
 * (PROXY v2 SSL_CIPHER TLV and logs). */
static const struct {
    uint16_t id;
    enum kp_cipher cipher;
    const char *name;
} suite_table[] = {
    { 0x1301, KP_AES_128_GCM, "TLS_AES_128_GCM_SHA256" },
    { 0x1302, KP_AES_256_GCM, "TLS_AES_256_GCM_SHA384" },
    { 0x1303, KP_CHACHA20_POLY1305, "TLS_CHACHA20_POLY1305_SHA256" },
    { 0xC02B, KP_AES_128_GCM, "ECDHE-ECDSA-AES128-GCM-SHA256" },
    { 0xC02F, KP_AES_128_GCM, "ECDHE-RSA-AES128-GCM-SHA256" },
    { 0xC02C, KP_AES_256_GCM, "ECDHE-ECDSA-AES256-GCM-SHA384" },
    { 0xC030, KP_AES_256_GCM, "ECDHE-RSA-AES256-GCM-SHA384" },
    { 0xCCA9, KP_CHACHA20_POLY1305, "ECDHE-ECDSA-CHACHA20-POLY1305" },
    { 0xCCA8, KP_CHACHA20_POLY1305, "ECDHE-RSA-CHACHA20-POLY1305" },
};

void kp_tls_mbed_error(char *err, size_t errlen, const char *what, int ret)
{
    char msg[128];

    mbedtls_strerror(ret, msg, sizeof msg);
    snprintf(err, errlen, "%s: %s (-0x%04x)", what, msg, (unsigned)-ret);
}

int kp_tls_global_init(char *err, size_t errlen)
{
    psa_status_t st = psa_crypto_init();

    if (st != PSA_SUCCESS) {
        snprintf(err, errlen, "psa_crypto_init failed: %d", (int)st);
        return -1;
    }
    return 0;
}

/* SNI: offer every certificate that matches the name best (an RSA and an
 * ECDSA certificate for the same name both go in; mbedTLS picks by what the
 * client supports).  No match: the default certificate, or an
 * unrecognized_name alert when sni_strict is set.  A name that is not a
 * valid host name (hostname_valid) gets that alert too, whatever
 * sni_strict says, so that no control byte ever reaches a log or a backend. */
static int sni_callback(void *arg, mbedtls_ssl_context *ssl, const unsigned char *name, size_t len)
{
    struct tls_frontend *tf = arg;
    struct tls_session *s = mbedtls_ssl_get_user_data_p(ssl);
    int best;

    if (!hostname_valid((const char *)name, len)) {
        s->refused = "the client's SNI is not a valid host name";
        return -1;
    }
    memcpy(s->sni, name, len);
    s->sni[len] = '\0';
    best = certstore_offer(tf->certs, ssl, s->sni);
    if (best < 0)
        return -1;
    if (best == 0 && tf->fe->sni_strict) {
        s->refused = "no certificate for the client's SNI (sni_strict)";
        return -1;
    }
    return 0;
}

/* ---- frontend ---- */

/* A suite of an enabled version; with ktls = required, only one the kernel
 * takes (ktls_use_caps()). */
static bool suite_allowed(const struct kp_config *cfg, const struct kp_frontend *fe,
                          uint16_t suite)
{
    uint16_t version, cipher;

    if ((fe->tls_versions & (suite < 0x1400 ? KP_TLS13 : KP_TLS12)) == 0)
        return false;
    return cfg->ktls != KP_KTLS_REQUIRED ||
           (ktls_suite_kernel_ids(suite, &version, &cipher) == 0 &&
            ktls_kernel_takes(version, cipher));
}

size_t kp_tls_suites_for(const struct kp_config *cfg, const struct kp_frontend *fe,
                         int out[TLS_MAX_SUITES + 1])
{
    size_t n = 0;

    /* TLS 1.3 suites first, then 1.2 ECDHE suites, each in the configured
     * cipher order; mbedTLS filters by negotiated version. */
    for (size_t v = 0; v < 2; v++)
        for (size_t c = 0; c < fe->n_ciphers; c++)
            for (size_t i = 0; i < sizeof suite_table / sizeof suite_table[0]; i++)
                if (suite_table[i].cipher == fe->ciphers[c] &&
                    (suite_table[i].id < 0x1400) == (v == 0) &&
                    suite_allowed(cfg, fe, suite_table[i].id))
                    out[n++] = suite_table[i].id;
    out[n] = 0;
    return n;
}

static void frontend_fill_lists(struct tls_frontend *tf, const struct kp_config *cfg,
                                const struct kp_frontend *fe)
{
    kp_tls_suites_for(cfg, fe, tf->suites);
    for (size_t i = 0; i < fe->n_groups; i++)
        tf->groups[i] = fe->groups[i];
    tf->groups[fe->n_groups] = 0;
    for (size_t i = 0; i < fe->n_alpn; i++)
        tf->alpn[i] = fe->alpn[i];
    tf->alpn[fe->n_alpn] = NULL;
}

static int frontend_setup_conf(struct tls_frontend *tf, const struct kp_config *cfg,
                               char *err, size_t errlen)
{
    const struct kp_frontend *fe = tf->fe;
    mbedtls_ssl_config *conf = &tf->conf;
    int ret;

    ret = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        kp_tls_mbed_error(err, errlen, "mbedtls_ssl_config_defaults", ret);
        return -1;
    }
    mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &tf->drbg);
    mbedtls_ssl_conf_min_tls_version(conf, fe->tls_versions & KP_TLS12 ? MBEDTLS_SSL_VERSION_TLS1_2
                                                                       : MBEDTLS_SSL_VERSION_TLS1_3);
    mbedtls_ssl_conf_max_tls_version(conf, fe->tls_versions & KP_TLS13 ? MBEDTLS_SSL_VERSION_TLS1_3
                                                                       : MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_ciphersuites(conf, tf->suites);
    mbedtls_ssl_conf_groups(conf, tf->groups);
    mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    mbedtls_ssl_conf_legacy_renegotiation(conf, MBEDTLS_SSL_LEGACY_NO_RENEGOTIATION);
    /* Tickets, and the TLS 1.3 key exchange modes that go with them. */
    if (tickets_new(cfg, fe, conf, mbedtls_ctr_drbg_random, &tf->drbg, &tf->tickets, err,
                    errlen) != 0)
        return -1;
    if (fe->n_alpn > 0 && (ret = mbedtls_ssl_conf_alpn_protocols(conf, tf->alpn)) != 0) {
        kp_tls_mbed_error(err, errlen, "mbedtls_ssl_conf_alpn_protocols", ret);
        return -1;
    }
    mbedtls_ssl_conf_sni(conf, sni_callback, tf);
    if (fe->client_verify != KP_VERIFY_NONE) {
        ret = mbedtls_x509_crt_parse_file(&tf->ca, fe->client_ca);
        if (ret != 0) {
            char what[512];
            snprintf(what, sizeof what, "%s:%d: cannot load client_ca %s", cfg->file, fe->line,
                     fe->client_ca);
            kp_tls_mbed_error(err, errlen, what, ret);
            return -1;
        }
        mbedtls_ssl_conf_ca_chain(conf, &tf->ca, NULL);
        mbedtls_ssl_conf_authmode(conf, fe->client_verify == KP_VERIFY_REQUIRED
                                            ? MBEDTLS_SSL_VERIFY_REQUIRED
                                            : MBEDTLS_SSL_VERIFY_OPTIONAL);
    } else {
        mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);
    }
    /* The default certificate; SNI may replace it per handshake. */
    ret = certstore_set_default(tf->certs, conf);
    if (ret != 0) {
        kp_tls_mbed_error(err, errlen, "mbedtls_ssl_conf_own_cert", ret);
        return -1;
    }
    return 0;
}

void kp_tls_frontend_check_routes(const struct tls_frontend *tf, const struct kp_config *cfg)
{
    const struct kp_frontend *fe = tf->fe;

    if (fe->sni_strict)
        return; /* such a client is refused before routing */
    for (size_t i = 0; i < fe->n_routes; i++)
        if (fe->routes[i].sni != NULL && !certstore_covers(tf->certs, fe->routes[i].sni))
            log_warn("%s:%d: no certificate of frontend %s covers sni:%s: with sni_strict = no, "
                     "any client can reach backend %s by asking for that name (and gets the "
                     "default certificate)", cfg->file, fe->routes[i].line, fe->name,
                     fe->routes[i].sni, fe->routes[i].backend->name);
}

struct tls_frontend *kp_tls_frontend_new(const struct kp_config *cfg,
                                         const struct kp_frontend *fe, char *err, size_t errlen)
{
    static const char pers[] = "ktlsproxy";
    struct tls_frontend *tf = calloc(1, sizeof *tf);
    int ret;

    if (tf == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    tf->fe = fe;
    mbedtls_ssl_config_init(&tf->conf);
    mbedtls_entropy_init(&tf->entropy);
    mbedtls_ctr_drbg_init(&tf->drbg);
    mbedtls_x509_crt_init(&tf->ca);
    frontend_fill_lists(tf, cfg, fe);
    ret = mbedtls_ctr_drbg_seed(&tf->drbg, mbedtls_entropy_func, &tf->entropy,
                                (const unsigned char *)pers, sizeof pers - 1);
    if (ret != 0) {
        kp_tls_mbed_error(err, errlen, "mbedtls_ctr_drbg_seed", ret);
        goto fail;
    }
    tf->certs = certstore_load(fe, cfg->file, &tf->drbg, err, errlen);
    if (tf->certs == NULL)
        goto fail;
    if (frontend_setup_conf(tf, cfg, err, errlen) != 0)
        goto fail;
    return tf;
fail:
    kp_tls_frontend_free(tf);
    return NULL;
}

void kp_tls_frontend_free(struct tls_frontend *tf)
{
    if (tf == NULL)
        return;
    certstore_free(tf->certs);
    mbedtls_x509_crt_free(&tf->ca);
    mbedtls_ssl_config_free(&tf->conf);
    tickets_free(tf->tickets);
    mbedtls_ctr_drbg_free(&tf->drbg);
    mbedtls_entropy_free(&tf->entropy);
    free(tf);
}

/* ---- one connection ---- */

/* The BIO reads exactly what mbedTLS asks for and never ahead: whatever the
 * client sends after its Finished must stay in the socket for the kernel. */
static int bio_recv(void *arg, unsigned char *buf, size_t len)
{
    struct tls_session *s = arg;
    ssize_t n = recv(s->fd, buf, len, 0);

    if (n >= 0)
        return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_READ;
    return MBEDTLS_ERR_NET_RECV_FAILED;
}

static int bio_send(void *arg, const unsigned char *buf, size_t len)
{
    struct tls_session *s = arg;
    ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);

    if (n >= 0) {
        s->unflushed = 1;
        s->sent_any |= n > 0;
        return (int)n;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static void export_keys(void *arg, mbedtls_ssl_key_export_type type, const unsigned char *secret,
                        size_t secret_len, const unsigned char client_random[32],
                        const unsigned char server_random[32], mbedtls_tls_prf_types prf)
{
    struct kp_tls_secrets *k = &((struct tls_session *)arg)->secrets;

    switch (type) {
    case MBEDTLS_SSL_KEY_EXPORT_TLS12_MASTER_SECRET:
        if (secret_len != sizeof k->master)
            return;
        memcpy(k->master, secret, secret_len);
        memcpy(k->client_random, client_random, 32);
        memcpy(k->server_random, server_random, 32);
        k->prf = prf;
        k->have_master = 1;
        break;
    case MBEDTLS_SSL_KEY_EXPORT_TLS1_3_CLIENT_APPLICATION_TRAFFIC_SECRET:
    case MBEDTLS_SSL_KEY_EXPORT_TLS1_3_SERVER_APPLICATION_TRAFFIC_SECRET:
        if (secret_len > sizeof k->client_secret)
            return;
        k->secret_len = secret_len;
        if (type == MBEDTLS_SSL_KEY_EXPORT_TLS1_3_CLIENT_APPLICATION_TRAFFIC_SECRET) {
            memcpy(k->client_secret, secret, secret_len);
            k->have_client = 1;
        } else {
            memcpy(k->server_secret, secret, secret_len);
            k->have_server = 1;
        }
        break;
    default:
        break; /* early and handshake secrets: not needed */
    }
}

static void set_cork(int fd, int on)
{
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}

struct tls_session *kp_tls_session_new(struct tls_frontend *tf, int fd, char *err, size_t errlen)
{
    struct tls_session *s = calloc(1, sizeof *s);
    int ret;

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->tf = tf;
    s->fd = fd;
    mbedtls_ssl_init(&s->ssl);
    ret = mbedtls_ssl_setup(&s->ssl, &tf->conf);
    if (ret != 0) {
        kp_tls_mbed_error(err, errlen, "mbedtls_ssl_setup", ret);
        kp_tls_session_free(s);
        return NULL;
    }
    mbedtls_ssl_set_user_data_p(&s->ssl, s); /* for sni_callback */
    mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
    mbedtls_ssl_set_export_keys_cb(&s->ssl, export_keys, s);
    /* Cork: each flight of handshake messages leaves in as few segments as
     * possible; uncorked whenever we wait for the client. */
    set_cork(fd, 1);
    return s;
}

void kp_tls_session_free(struct tls_session *s)
{
    if (s == NULL)
        return;
    mbedtls_ssl_free(&s->ssl);
    mbedtls_platform_zeroize(s, sizeof *s);
    free(s);
}

static void copy_client_cn(struct tls_session *s)
{
    const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&s->ssl);
    const mbedtls_x509_name *dn;

    if (peer == NULL || mbedtls_ssl_get_verify_result(&s->ssl) != 0)
        return;
    s->client_verified = 1; /* whether or not it has a usable CN */
    for (dn = &peer->subject; dn != NULL; dn = dn->next)
        if (dn->oid.p != NULL && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &dn->oid) == 0 &&
            dn->val.len < sizeof s->client_cn && memchr(dn->val.p, 0, dn->val.len) == NULL) {
            memcpy(s->client_cn, dn->val.p, dn->val.len);
            s->client_cn[dn->val.len] = '\0';
            return;
        }
}

/* mbedTLS 3.6 refuses some ClientHellos without an alert (a TLS 1.3 client
 * that shares no group with us): the client sees the connection close and
 * cannot tell why.  A handshake that failed on the client's input before we
 * sent anything has sent no alert, so send handshake_failure ourselves, in
 * the clear (no key is in use before our first flight). */
static void alert_if_silent(struct tls_session *s)
{
    if (s->sent_any || kp_tls_handshake_failure(s) != KP_HSF_PROTOCOL)
        return;
    (void)mbedtls_ssl_send_alert_message(&s->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                          MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
    set_cork(s->fd, 0);
}

enum tls_step kp_tls_handshake(struct tls_session *s, char *err, size_t errlen)
{
    int ret;

    /* Only this thread runs handshakes on this frontend's ticket context. */
    if (tickets_begin(s->tf->tickets, &s->tickets_sent, err, errlen) != 0)
        return TLS_FAILED;
    ret = mbedtls_ssl_handshake(&s->ssl);
    tickets_end(s->tf->tickets);
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
        return TLS_WANT_WRITE;
    if (ret == 0 || ret == MBEDTLS_ERR_SSL_WANT_READ) {
        if (s->unflushed) {
            set_cork(s->fd, 0);
            if (ret != 0)
                set_cork(s->fd, 1);
            s->unflushed = 0;
        }
        if (ret != 0)
            return TLS_WANT_READ;
        set_cork(s->fd, 0);
        copy_client_cn(s);
        return TLS_DONE;
    }
    s->last_error = ret;
    alert_if_silent(s);
    if (s->refused != NULL)
        snprintf(err, errlen, "handshake failed: %s", s->refused);
    else
        kp_tls_mbed_error(err, errlen, "handshake failed", ret);
    return TLS_FAILED;
}

enum kp_hs_failure kp_tls_handshake_failure(const struct tls_session *s)
{
    switch (s->last_error) {
    case MBEDTLS_ERR_SSL_CONN_EOF:
    case MBEDTLS_ERR_NET_RECV_FAILED:
    case MBEDTLS_ERR_NET_SEND_FAILED:
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
        return KP_HSF_CLOSED;
    case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
        return KP_HSF_ALERT;
    default:
        return KP_HSF_PROTOCOL;
    }
}

void kp_tls_session_info(struct tls_session *s, struct tls_info *info)
{
    const char *alpn = mbedtls_ssl_get_alpn_protocol(&s->ssl);

    memset(info, 0, sizeof *info);
    info->version = (uint16_t)mbedtls_ssl_get_version_number(&s->ssl);
    info->suite = (uint16_t)mbedtls_ssl_get_ciphersuite_id_from_ssl(&s->ssl);
    info->version_name = mbedtls_ssl_get_version(&s->ssl);
    info->suite_name = "unknown";
    for (size_t i = 0; i < sizeof suite_table / sizeof suite_table[0]; i++)
        if (suite_table[i].id == info->suite)
            info->suite_name = suite_table[i].name;
    /* Point into the frontend's list, which outlives the session. */
    for (size_t i = 0; alpn != NULL && i < s->tf->fe->n_alpn; i++)
        if (strcmp(s->tf->alpn[i], alpn) == 0)
            info->alpn = s->tf->alpn[i];
    info->sni = s->sni[0] ? s->sni : NULL;
    info->client_cn = s->client_cn[0] ? s->client_cn : NULL;
    info->client_verified = s->client_verified;
}

int kp_tls_export_keys(struct tls_session *s, struct kp_ktls_keys *keys, char *err, size_t errlen)
{
    uint16_t version = (uint16_t)mbedtls_ssl_get_version_number(&s->ssl);
    uint16_t suite = (uint16_t)mbedtls_ssl_get_ciphersuite_id_from_ssl(&s->ssl);
    /* TLS 1.2: each side's Finished was record 0 under the new keys (a
     * ticket goes before ChangeCipherSpec).  TLS 1.3: the client sent
     * nothing under its application key yet; we sent our tickets. */
    uint64_t rx_seq = version == MBEDTLS_SSL_VERSION_TLS1_2 ? 1 : 0;
    uint64_t tx_seq = version == MBEDTLS_SSL_VERSION_TLS1_2 ? 1 : s->tickets_sent;
    /* The kernel fills records to 2^14 bytes of plaintext; TLS 1.3 counts
     * the inner content type byte against that limit in mbedTLS. */
    int min_record = version == MBEDTLS_SSL_VERSION_TLS1_2 ? 16384 : 16383;
    int max_record;

    if (mbedtls_ssl_check_pending(&s->ssl) != 0 || mbedtls_ssl_get_bytes_avail(&s->ssl) != 0) {
        snprintf(err, errlen, "mbedTLS holds unread bytes; cannot hand off to the kernel");
        return -1;
    }
    max_record = mbedtls_ssl_get_max_out_record_payload(&s->ssl);
    if (max_record < min_record) {
        snprintf(err, errlen, "client limited records to %d bytes; the kernel sends %d",
                 max_record, min_record);
        return -1;
    }
    return ktls_derive(version, suite, &s->secrets, tx_seq, rx_seq, keys, err, errlen);
}

/* mbedTLS zeroizes the keys it stores, but its stack frames (the TLS 1.3 key
 * schedule, seen in tests/integration/proofs.sh) keep copies of derived keys
 * after they return.  Called right after the handshake returned, from the
 * frame that called it, this overwrites the stack the handshake used. */
__attribute__((noinline)) void kp_tls_wipe_stack(void)
{
    unsigned char area[TLS_STACK_WIPE];

    mbedtls_platform_zeroize(area, sizeof area);
}

struct kp_rekey *kp_tls_rekey_new(struct tls_session *s, double now)
{
    uint16_t suite = (uint16_t)mbedtls_ssl_get_ciphersuite_id_from_ssl(&s->ssl);
    uint16_t version, cipher;

    if (mbedtls_ssl_get_version_number(&s->ssl) != MBEDTLS_SSL_VERSION_TLS1_3 ||
        !s->secrets.have_client || !s->secrets.have_server ||
        ktls_suite_kernel_ids(suite, &version, &cipher) != 0 ||
        !ktls_kernel_rekeys(version, cipher))
        return NULL;
    return rekey_new(suite, s->secrets.client_secret, s->secrets.server_secret,
                     s->secrets.secret_len, now);
}

void kp_tls_forget_secrets(struct tls_session *s)
{
    ktls_secrets_wipe(&s->secrets);
}

static ssize_t io_result(struct tls_session *s, int ret, enum tls_step *step)
{
    s->last_error = ret;
    if (ret >= 0)
        return ret;
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        return 0;
    *step = ret == MBEDTLS_ERR_SSL_WANT_READ    ? TLS_WANT_READ
            : ret == MBEDTLS_ERR_SSL_WANT_WRITE ? TLS_WANT_WRITE
                                                : TLS_FAILED;
    return -1;
}

ssize_t kp_tls_read(struct tls_session *s, void *buf, size_t len, enum tls_step *step)
{
    return io_result(s, mbedtls_ssl_read(&s->ssl, buf, len), step);
}

ssize_t kp_tls_write(struct tls_session *s, const void *buf, size_t len, enum tls_step *step)
{
    return io_result(s, mbedtls_ssl_write(&s->ssl, buf, len), step);
}

void kp_tls_last_error(struct tls_session *s, char *buf, size_t len)
{
    kp_tls_mbed_error(buf, len, "mbedTLS", s->last_error);
}

void kp_tls_close_notify(struct tls_session *s)
{
    mbedtls_ssl_close_notify(&s->ssl);
}

size_t kp_tls_pending(struct tls_session *s)
{
    return mbedtls_ssl_get_bytes_avail(&s->ssl);
}
