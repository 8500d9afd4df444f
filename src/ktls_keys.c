/*
 * ktls_keys.c - from the secrets mbedTLS exports to the kernel's crypto_info.
 */
#include "ktls_keys.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/platform_util.h>
#include <psa/crypto.h>

#define FULL_IV_LEN 12          /* TLS 1.3 (RFC 8446 5.3) and ChaCha20 in TLS 1.2 (RFC 7905) */
#define HKDF_LABEL_PREFIX "tls13 "
#define HKDF_LABEL_MAX (2 + 1 + 255 + 1)
#define GCM_SALT_LEN 4          /* TLS_CIPHER_AES_GCM_{128,256}_SALT_SIZE */
#define GCM_EXPLICIT_IV_LEN 8   /* TLS_CIPHER_AES_GCM_{128,256}_IV_SIZE */

/* What the kernel needs to know about a cipher suite. */
struct kp_suite {
    uint16_t id;            /* IANA cipher suite */
    uint16_t version;       /* TLS_1_2_VERSION or TLS_1_3_VERSION */
    uint16_t cipher;        /* TLS_CIPHER_* */
    size_t key_len;
    size_t hash_len;        /* TLS 1.3 HKDF hash; the TLS 1.2 PRF comes from mbedTLS */
};

static const struct kp_suite suites[] = {
    { 0xC02B, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, 16, 0 },  /* ECDHE-ECDSA */
    { 0xC02F, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, 16, 0 },  /* ECDHE-RSA */
    { 0xC02C, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256, 32, 0 },
    { 0xC030, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256, 32, 0 },
    { 0xCCA9, TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305, 32, 0 },
    { 0xCCA8, TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305, 32, 0 },
    { 0x1301, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, 16, 32 },
    { 0x1302, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256, 32, 48 },
    { 0x1303, TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305, 32, 32 },
};

/* One direction's write key and IV as TLS defines them. */
struct write_keys {
    unsigned char key[32];
    unsigned char iv[FULL_IV_LEN];     /* TLS 1.2 GCM: only the 4-byte implicit part */
};

static const struct kp_suite *
find_suite(uint16_t id)
{
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
        if (suites[i].id == id)
            return &suites[i];
    return NULL;
}

int
ktls_suite_supported(uint16_t suite)
{
    return find_suite(suite) != NULL;
}

int
ktls_suite_kernel_ids(uint16_t suite, uint16_t *version, uint16_t *cipher)
{
    const struct kp_suite *cs = find_suite(suite);

    if (cs == NULL)
        return -1;
    *version = cs->version;
    *cipher = cs->cipher;
    return 0;
}

static void
put_be64(unsigned char out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = v & 0xff;
        v >>= 8;
    }
}

/* RFC 8446 7.1: HkdfLabel = u16 length || opaque label<7..255> || opaque context<0..255>,
 * here always with an empty context.  Returns its size, 0 if the label is too long. */
static size_t
hkdf_label(const char *label, size_t outlen, unsigned char buf[HKDF_LABEL_MAX])
{
    size_t prefix_len = sizeof HKDF_LABEL_PREFIX - 1;
    size_t label_len = prefix_len + strlen(label);
    size_t n = 0;

    if (label_len > 255)
        return 0;
    buf[n++] = outlen >> 8;
    buf[n++] = outlen & 0xff;
    buf[n++] = label_len;
    memcpy(buf + n, HKDF_LABEL_PREFIX, prefix_len);
    memcpy(buf + n + prefix_len, label, label_len - prefix_len);
    n += label_len;
    buf[n++] = 0;
    return n;
}

static int
hkdf_expand(psa_algorithm_t hash, const unsigned char *prk, size_t prk_len,
            const unsigned char *info, size_t info_len, unsigned char *out, size_t outlen)
{
    psa_key_derivation_operation_t op = PSA_KEY_DERIVATION_OPERATION_INIT;
    psa_status_t st;

    st = psa_crypto_init();
    if (st == PSA_SUCCESS)
        st = psa_key_derivation_setup(&op, PSA_ALG_HKDF_EXPAND(hash));
    if (st == PSA_SUCCESS)
        st = psa_key_derivation_input_bytes(&op, PSA_KEY_DERIVATION_INPUT_SECRET, prk, prk_len);
    if (st == PSA_SUCCESS)
        st = psa_key_derivation_input_bytes(&op, PSA_KEY_DERIVATION_INPUT_INFO, info, info_len);
    if (st == PSA_SUCCESS)
        st = psa_key_derivation_output_bytes(&op, out, outlen);
    /* abort also wipes the copy of the PRK the operation holds */
    psa_key_derivation_abort(&op);
    if (st != PSA_SUCCESS) {
        mbedtls_platform_zeroize(out, outlen);
        return -1;
    }
    return 0;
}

int
ktls_hkdf_expand_label(size_t hash_len, const unsigned char *secret,
                       const char *label, unsigned char *out, size_t outlen)
{
    unsigned char info[HKDF_LABEL_MAX];
    size_t info_len;
    psa_algorithm_t hash;

    if (hash_len == 32)
        hash = PSA_ALG_SHA_256;
    else if (hash_len == 48)
        hash = PSA_ALG_SHA_384;
    else
        return -1;
    /* outlen fits the u16 of HkdfLabel: HKDF refuses more than 255 * hash_len */
    info_len = hkdf_label(label, outlen, info);
    if (info_len == 0)
        return -1;
    return hkdf_expand(hash, secret, hash_len, info, info_len, out, outlen);
}

/* TLS 1.2 (RFC 5246 6.3): for AEAD suites the key block has no MAC keys and is
 * client_key | server_key | client_iv | server_iv. */
static int
tls12_write_keys(const struct kp_suite *cs, const struct kp_tls_secrets *s,
                 struct write_keys *server, struct write_keys *client,
                 char *err, size_t errlen)
{
    unsigned char randoms[64];
    unsigned char block[2 * (32 + FULL_IV_LEN)];
    size_t iv_len = cs->cipher == TLS_CIPHER_CHACHA20_POLY1305 ? FULL_IV_LEN : GCM_SALT_LEN;
    size_t k = cs->key_len;
    int ret;

    if (!s->have_master) {
        snprintf(err, errlen, "TLS 1.2 master secret was not exported");
        return -1;
    }
    /* Key expansion takes server_random first, unlike the master secret. */
    memcpy(randoms, s->server_random, 32);
    memcpy(randoms + 32, s->client_random, 32);
    ret = mbedtls_ssl_tls_prf(s->prf, s->master, sizeof s->master, "key expansion",
                              randoms, sizeof randoms, block, 2 * (k + iv_len));
    if (ret == 0) {
        memcpy(client->key, block, k);
        memcpy(server->key, block + k, k);
        memcpy(client->iv, block + 2 * k, iv_len);
        memcpy(server->iv, block + 2 * k + iv_len, iv_len);
    } else {
        snprintf(err, errlen, "TLS 1.2 key expansion failed: -0x%04x", (unsigned)-ret);
    }
    mbedtls_platform_zeroize(block, sizeof block);
    return ret == 0 ? 0 : -1;
}

static int
tls13_keys_from_secret(const struct kp_suite *cs, const unsigned char *secret,
                       struct write_keys *wk)
{
    if (ktls_hkdf_expand_label(cs->hash_len, secret, "key", wk->key, cs->key_len) != 0)
        return -1;
    return ktls_hkdf_expand_label(cs->hash_len, secret, "iv", wk->iv, FULL_IV_LEN);
}

/* TLS 1.3 (RFC 8446 7.3): keys and IVs from the application traffic secrets. */
static int
tls13_write_keys(const struct kp_suite *cs, const struct kp_tls_secrets *s,
                 struct write_keys *server, struct write_keys *client,
                 char *err, size_t errlen)
{
    if (!s->have_client || !s->have_server) {
        snprintf(err, errlen, "TLS 1.3 application traffic secrets were not exported");
        return -1;
    }
    if (s->secret_len != cs->hash_len) {
        snprintf(err, errlen, "TLS 1.3 traffic secret is %zu bytes, suite 0x%04x needs %zu",
                 s->secret_len, cs->id, cs->hash_len);
        return -1;
    }
    if (tls13_keys_from_secret(cs, s->server_secret, server) != 0 ||
        tls13_keys_from_secret(cs, s->client_secret, client) != 0) {
        snprintf(err, errlen, "TLS 1.3 HKDF-Expand-Label failed");
        return -1;
    }
    return 0;
}

/* The kernel builds a GCM nonce as salt || iv.  In TLS 1.3 that is the whole
 * write IV (the kernel XORs in the sequence number); in TLS 1.2 iv is the first
 * explicit nonce, which we make the sequence number as HAProxy and tlshd do. */
static void
fill_gcm(const struct kp_suite *cs, const struct write_keys *wk, uint64_t seq,
         unsigned char *iv, unsigned char *key, unsigned char *salt, unsigned char *rec_seq)
{
    memcpy(key, wk->key, cs->key_len);
    memcpy(salt, wk->iv, GCM_SALT_LEN);
    if (cs->version == TLS_1_3_VERSION)
        memcpy(iv, wk->iv + GCM_SALT_LEN, GCM_EXPLICIT_IV_LEN);
    else
        put_be64(iv, seq);
    put_be64(rec_seq, seq);
}

static socklen_t
fill_crypto_info(const struct kp_suite *cs, const struct write_keys *wk, uint64_t seq,
                 union kp_crypto_info *ci)
{
    ci->info.version = cs->version;
    ci->info.cipher_type = cs->cipher;
    switch (cs->cipher) {
    case TLS_CIPHER_AES_GCM_128:
        fill_gcm(cs, wk, seq, ci->gcm128.iv, ci->gcm128.key, ci->gcm128.salt,
                 ci->gcm128.rec_seq);
        return sizeof ci->gcm128;
    case TLS_CIPHER_AES_GCM_256:
        fill_gcm(cs, wk, seq, ci->gcm256.iv, ci->gcm256.key, ci->gcm256.salt,
                 ci->gcm256.rec_seq);
        return sizeof ci->gcm256;
    default:
        /* ChaCha20-Poly1305, both versions: nonce = the 12-byte IV XOR sequence */
        memcpy(ci->chacha.key, wk->key, sizeof ci->chacha.key);
        memcpy(ci->chacha.iv, wk->iv, sizeof ci->chacha.iv);
        put_be64(ci->chacha.rec_seq, seq);
        return sizeof ci->chacha;
    }
}

int
ktls_derive(uint16_t version, uint16_t suite, const struct kp_tls_secrets *s,
            uint64_t tx_seq, uint64_t rx_seq, struct kp_ktls_keys *out,
            char *err, size_t errlen)
{
    const struct kp_suite *cs = find_suite(suite);
    struct write_keys server, client;
    int ret;

    memset(out, 0, sizeof *out);
    if (version != TLS_1_2_VERSION && version != TLS_1_3_VERSION) {
        snprintf(err, errlen, "TLS version 0x%04x cannot be handed to kernel TLS", version);
        return -1;
    }
    if (cs == NULL || cs->version != version) {
        snprintf(err, errlen, "cipher suite 0x%04x with version 0x%04x cannot be handed "
                 "to kernel TLS", suite, version);
        return -1;
    }
    if (version == TLS_1_2_VERSION)
        ret = tls12_write_keys(cs, s, &server, &client, err, errlen);
    else
        ret = tls13_write_keys(cs, s, &server, &client, err, errlen);
    if (ret == 0) {
        out->len = fill_crypto_info(cs, &server, tx_seq, &out->tx);
        fill_crypto_info(cs, &client, rx_seq, &out->rx);
    }
    mbedtls_platform_zeroize(&server, sizeof server);
    mbedtls_platform_zeroize(&client, sizeof client);
    return ret;
}

size_t
ktls_suite_secret_len(uint16_t suite)
{
    const struct kp_suite *cs = find_suite(suite);

    return cs != NULL && cs->version == TLS_1_3_VERSION ? cs->hash_len : 0;
}

int
ktls_next_secret(uint16_t suite, unsigned char *secret)
{
    unsigned char next[64];
    size_t len = ktls_suite_secret_len(suite);

    if (len == 0 || ktls_hkdf_expand_label(len, secret, "traffic upd", next, len) != 0)
        return -1;
    memcpy(secret, next, len);
    mbedtls_platform_zeroize(next, sizeof next);
    return 0;
}

int
ktls_derive_direction(uint16_t suite, const unsigned char *secret, uint64_t seq,
                      union kp_crypto_info *out, socklen_t *len)
{
    const struct kp_suite *cs = find_suite(suite);
    struct write_keys wk;
    int ret = -1;

    memset(out, 0, sizeof *out);
    if (cs != NULL && cs->version == TLS_1_3_VERSION &&
        tls13_keys_from_secret(cs, secret, &wk) == 0) {
        *len = fill_crypto_info(cs, &wk, seq, out);
        ret = 0;
    }
    mbedtls_platform_zeroize(&wk, sizeof wk);
    return ret;
}

void
ktls_secrets_wipe(struct kp_tls_secrets *s)
{
    mbedtls_platform_zeroize(s, sizeof *s);
}

void
ktls_keys_wipe(struct kp_ktls_keys *k)
{
    mbedtls_platform_zeroize(k, sizeof *k);
}
