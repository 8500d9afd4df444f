/*
 * test_ktls_keys.c - key derivation for the kernel against published vectors
 * (RFC 8448 section 3, the TLS 1.2 P_SHA256 PRF vector), TLS 1.2 key blocks
 * computed by Python (tests/tools/tls12_key_block.py) and TLS 1.3 keys
 * expanded here from hand-written HkdfLabels.  That no key lingers in memory
 * is proven by the memory scan (tests/tools/keyscan.py, proofs.sh), not here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>

#include "ktls_keys.h"

/* RFC 8448 section 3, "Simple 1-RTT Handshake", TLS_AES_128_GCM_SHA256. */
#define RFC8448_CLIENT_SECRET "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5"
#define RFC8448_SERVER_SECRET "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643"
#define RFC8448_SERVER_KEY "9f02283b6c9c07efc26bb9f2ac92e356"
#define RFC8448_SERVER_IV "cf782b88dd83549aadf1e984"
#define RFC8448_CLIENT_KEY "17422dda596ed5d9acd890e3c63f5051"
#define RFC8448_CLIENT_IV "5b78923dee08579033e523d9"

/* Decodes exactly outlen bytes of hex; fails the test on anything else. */
static void
unhex(const char *hex, unsigned char *out, size_t outlen)
{
    assert_int_equal(strlen(hex), 2 * outlen);
    for (size_t i = 0; i < outlen; i++) {
        unsigned int byte;

        assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
        out[i] = (unsigned char)byte;
    }
}

static void
assert_hex_equal(const unsigned char *got, const char *hex)
{
    unsigned char want[128];
    size_t n = strlen(hex) / 2;

    assert_true(n <= sizeof want);
    unhex(hex, want, n);
    assert_memory_equal(got, want, n);
}

static void
assert_be64(const unsigned char *got, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        assert_int_equal(got[i], v & 0xff);
        v >>= 8;
    }
}

static void
fill_pattern(unsigned char *p, size_t n, unsigned char start)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(start + 7 * i);
}

static struct kp_tls_secrets
rfc8448_secrets(void)
{
    struct kp_tls_secrets s;

    memset(&s, 0, sizeof s);
    unhex(RFC8448_CLIENT_SECRET, s.client_secret, 32);
    unhex(RFC8448_SERVER_SECRET, s.server_secret, 32);
    s.secret_len = 32;
    s.have_client = s.have_server = 1;
    return s;
}

static void
test_suite_supported(void **state)
{
    static const uint16_t yes[] = { 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA8, 0xCCA9,
                                    0x1301, 0x1302, 0x1303 };
    /* RSA key exchange GCM, CBC, CCM, DHE ChaCha20, TLS 1.3 CCM, SCSV */
    static const uint16_t no[] = { 0x009C, 0xC027, 0xC0AC, 0xCCAA, 0x1304, 0x1305, 0x00FF, 0 };

    (void)state;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(ktls_suite_supported(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(ktls_suite_supported(no[i]));
}

static void
test_hkdf_expand_label_rfc8448(void **state)
{
    struct kp_tls_secrets s = rfc8448_secrets();
    unsigned char key[16], iv[12];

    (void)state;
    assert_int_equal(ktls_hkdf_expand_label(32, s.server_secret, "key", key, sizeof key), 0);
    assert_hex_equal(key, RFC8448_SERVER_KEY);
    assert_int_equal(ktls_hkdf_expand_label(32, s.server_secret, "iv", iv, sizeof iv), 0);
    assert_hex_equal(iv, RFC8448_SERVER_IV);
    assert_int_equal(ktls_hkdf_expand_label(32, s.client_secret, "key", key, sizeof key), 0);
    assert_hex_equal(key, RFC8448_CLIENT_KEY);
    assert_int_equal(ktls_hkdf_expand_label(32, s.client_secret, "iv", iv, sizeof iv), 0);
    assert_hex_equal(iv, RFC8448_CLIENT_IV);
}

static void
test_hkdf_expand_label_rejects(void **state)
{
    unsigned char secret[64] = { 1 }, out[16], big[255 * 48 + 1];
    char long_label[256];

    (void)state;
    assert_int_equal(ktls_hkdf_expand_label(20, secret, "key", out, sizeof out), -1);
    assert_int_equal(ktls_hkdf_expand_label(64, secret, "key", out, sizeof out), -1);
    /* HKDF-Expand gives at most 255 hash blocks */
    assert_int_equal(ktls_hkdf_expand_label(48, secret, "key", big, 255 * 48), 0);
    assert_int_equal(ktls_hkdf_expand_label(48, secret, "key", big, 255 * 48 + 1), -1);
    assert_int_equal(ktls_hkdf_expand_label(32, secret, "key", big, 255 * 32 + 1), -1);
    /* "tls13 " + label must fit in one length byte */
    memset(long_label, 'a', sizeof long_label - 1);
    long_label[sizeof long_label - 1] = '\0';
    assert_int_equal(ktls_hkdf_expand_label(32, secret, long_label, out, sizeof out), -1);
    long_label[255 - 6] = '\0';
    assert_int_equal(ktls_hkdf_expand_label(32, secret, long_label, out, sizeof out), 0);
}

static void
test_derive_tls13_rfc8448(void **state)
{
    struct kp_tls_secrets s = rfc8448_secrets();
    struct kp_ktls_keys k;
    char err[128] = "";

    (void)state;
    assert_int_equal(ktls_derive(0x0304, 0x1301, &s, 3, 0x0102030405060708ULL, &k,
                                 err, sizeof err), 0);
    assert_int_equal(k.len, 40);
    assert_int_equal(k.len, sizeof(struct tls12_crypto_info_aes_gcm_128));

    assert_int_equal(k.tx.info.version, TLS_1_3_VERSION);
    assert_int_equal(k.tx.info.cipher_type, TLS_CIPHER_AES_GCM_128);
    assert_hex_equal(k.tx.gcm128.key, RFC8448_SERVER_KEY);
    assert_hex_equal(k.tx.gcm128.salt, "cf782b88");
    assert_hex_equal(k.tx.gcm128.iv, "dd83549aadf1e984");
    assert_hex_equal(k.tx.gcm128.rec_seq, "0000000000000003");

    assert_int_equal(k.rx.info.version, TLS_1_3_VERSION);
    assert_int_equal(k.rx.info.cipher_type, TLS_CIPHER_AES_GCM_128);
    assert_hex_equal(k.rx.gcm128.key, RFC8448_CLIENT_KEY);
    assert_hex_equal(k.rx.gcm128.salt, "5b78923d");
    assert_hex_equal(k.rx.gcm128.iv, "ee08579033e523d9");
    assert_hex_equal(k.rx.gcm128.rec_seq, "0102030405060708");
}

/* RFC 8446 7.1 HkdfLabel bytes written out by hand, for an independent check
 * through mbedtls_hkdf_expand. */
static const unsigned char label_key32[] = { 0x00, 0x20, 9, 't', 'l', 's', '1', '3', ' ',
                                             'k', 'e', 'y', 0x00 };
static const unsigned char label_iv12[] = { 0x00, 0x0c, 8, 't', 'l', 's', '1', '3', ' ',
                                            'i', 'v', 0x00 };

static void
expand_independently(mbedtls_md_type_t md, const unsigned char *secret, size_t secret_len,
                     unsigned char key[32], unsigned char iv[12])
{
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(md);

    assert_non_null(info);
    assert_int_equal(mbedtls_hkdf_expand(info, secret, secret_len, label_key32,
                                         sizeof label_key32, key, 32), 0);
    assert_int_equal(mbedtls_hkdf_expand(info, secret, secret_len, label_iv12,
                                         sizeof label_iv12, iv, 12), 0);
}

static void
test_derive_tls13_aes256_sha384(void **state)
{
    struct kp_tls_secrets s;
    struct kp_ktls_keys k;
    unsigned char skey[32], siv[12], ckey[32], civ[12];
    char err[128] = "";

    (void)state;
    memset(&s, 0, sizeof s);
    fill_pattern(s.client_secret, 48, 0x11);
    fill_pattern(s.server_secret, 48, 0x22);
    s.secret_len = 48;
    s.have_client = s.have_server = 1;
    expand_independently(MBEDTLS_MD_SHA384, s.server_secret, 48, skey, siv);
    expand_independently(MBEDTLS_MD_SHA384, s.client_secret, 48, ckey, civ);

    assert_int_equal(ktls_derive(0x0304, 0x1302, &s, 0, 5, &k, err, sizeof err), 0);
    assert_int_equal(k.len, 56);
    assert_int_equal(k.len, sizeof(struct tls12_crypto_info_aes_gcm_256));
    assert_int_equal(k.tx.info.version, TLS_1_3_VERSION);
    assert_int_equal(k.tx.info.cipher_type, TLS_CIPHER_AES_GCM_256);
    assert_memory_equal(k.tx.gcm256.key, skey, 32);
    assert_memory_equal(k.tx.gcm256.salt, siv, 4);
    assert_memory_equal(k.tx.gcm256.iv, siv + 4, 8);
    assert_be64(k.tx.gcm256.rec_seq, 0);
    assert_int_equal(k.rx.info.cipher_type, TLS_CIPHER_AES_GCM_256);
    assert_memory_equal(k.rx.gcm256.key, ckey, 32);
    assert_memory_equal(k.rx.gcm256.salt, civ, 4);
    assert_memory_equal(k.rx.gcm256.iv, civ + 4, 8);
    assert_be64(k.rx.gcm256.rec_seq, 5);
}

static void
test_derive_tls13_chacha20(void **state)
{
    struct kp_tls_secrets s = rfc8448_secrets();
    struct kp_ktls_keys k;
    unsigned char skey[32], siv[12], ckey[32], civ[12], key16[16];
    char err[128] = "";

    (void)state;
    expand_independently(MBEDTLS_MD_SHA256, s.server_secret, 32, skey, siv);
    expand_independently(MBEDTLS_MD_SHA256, s.client_secret, 32, ckey, civ);
    /* HkdfLabel carries the output length: a 32-byte key is no extension of the
     * 16-byte one, so matching it proves the label says 32 */
    unhex(RFC8448_SERVER_KEY, key16, sizeof key16);
    assert_memory_not_equal(skey, key16, sizeof key16);

    assert_int_equal(ktls_derive(0x0304, 0x1303, &s, 2, 0, &k, err, sizeof err), 0);
    assert_int_equal(k.len, 56);
    assert_int_equal(k.len, sizeof(struct tls12_crypto_info_chacha20_poly1305));
    assert_int_equal(k.tx.info.version, TLS_1_3_VERSION);
    assert_int_equal(k.tx.info.cipher_type, TLS_CIPHER_CHACHA20_POLY1305);
    assert_memory_equal(k.tx.chacha.key, skey, 32);
    assert_memory_equal(k.tx.chacha.iv, siv, 12);
    assert_be64(k.tx.chacha.rec_seq, 2);
    assert_int_equal(k.rx.info.cipher_type, TLS_CIPHER_CHACHA20_POLY1305);
    assert_memory_equal(k.rx.chacha.key, ckey, 32);
    assert_memory_equal(k.rx.chacha.iv, civ, 12);
    assert_be64(k.rx.chacha.rec_seq, 0);
}

static void
test_tls12_prf_sha256_vector(void **state)
{
    unsigned char secret[16], seed[16], out[100];

    (void)state;
    unhex("9bbe436ba940f017b17652849a71db35", secret, sizeof secret);
    unhex("a0ba9f936cda311827a6f796ffd5198c", seed, sizeof seed);
    assert_int_equal(mbedtls_ssl_tls_prf(MBEDTLS_SSL_TLS_PRF_SHA256, secret, sizeof secret,
                                         "test label", seed, sizeof seed, out, sizeof out), 0);
    assert_hex_equal(out, "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
                          "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab"
                          "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
                          "87347b66");
}

static struct kp_tls_secrets
tls12_secrets(mbedtls_tls_prf_types prf)
{
    struct kp_tls_secrets s;

    memset(&s, 0, sizeof s);
    fill_pattern(s.master, sizeof s.master, 0x31);
    fill_pattern(s.client_random, sizeof s.client_random, 0x42);
    fill_pattern(s.server_random, sizeof s.server_random, 0x53);
    s.prf = prf;
    s.have_master = 1;
    return s;
}

/* The key blocks of tls12_secrets(), PRF(master, "key expansion",
 * server_random + client_random) of RFC 5246 6.3, computed by Python's
 * hmac/hashlib (independent of mbedTLS and ktls_keys.c):
 * tests/tools/tls12_key_block.py printed these lines. */
#define KEY_BLOCK_SHA256_AES128GCM "cce991aebd34034b612803dd27a5c42926d06a3c5e90f875b205ed518b9f15464ed3b4142ab3bf98"
#define KEY_BLOCK_SHA384_AES256GCM "89db8f8f422de8b981b7e4651f0a7f33643de1058092b679dd7a1ef52f74708f117e956028c35605eee44b81c7cda16442601d5869f6cb445fd469560a2081f1865097140cc8df10"
#define KEY_BLOCK_SHA256_CHACHA20 "cce991aebd34034b612803dd27a5c42926d06a3c5e90f875b205ed518b9f15464ed3b4142ab3bf98f6175e779f2826dd96f371e5e472607e4e873d8de5e3f443868db1708f708b9c7686756efa023f123de1776c4386bec1"

static void
check_tls12_gcm(uint16_t suite, mbedtls_tls_prf_types prf, size_t keylen)
{
    struct kp_tls_secrets s = tls12_secrets(prf);
    struct kp_ktls_keys k;
    unsigned char block[2 * 32 + 2 * 4];
    const unsigned char *ckey = block, *skey = block + keylen;
    const unsigned char *civ = block + 2 * keylen, *siv = civ + 4;
    /* gcm128 and gcm256 differ only in the key size: check through pointers */
    const unsigned char *tx_key, *tx_iv, *tx_salt, *tx_seq, *rx_key, *rx_iv, *rx_salt, *rx_seq;
    char err[128] = "";

    unhex(keylen == 16 ? KEY_BLOCK_SHA256_AES128GCM : KEY_BLOCK_SHA384_AES256GCM, block,
          2 * keylen + 8);
    assert_int_equal(ktls_derive(0x0303, suite, &s, 1, 0x1122334455667788ULL, &k,
                                 err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(k.tx.info.version, TLS_1_2_VERSION);
    assert_int_equal(k.rx.info.version, TLS_1_2_VERSION);
    if (keylen == 16) {
        assert_int_equal(k.tx.info.cipher_type, TLS_CIPHER_AES_GCM_128);
        assert_int_equal(k.rx.info.cipher_type, TLS_CIPHER_AES_GCM_128);
        assert_int_equal(k.len, 40);
        tx_key = k.tx.gcm128.key, tx_iv = k.tx.gcm128.iv;
        tx_salt = k.tx.gcm128.salt, tx_seq = k.tx.gcm128.rec_seq;
        rx_key = k.rx.gcm128.key, rx_iv = k.rx.gcm128.iv;
        rx_salt = k.rx.gcm128.salt, rx_seq = k.rx.gcm128.rec_seq;
    } else {
        assert_int_equal(k.tx.info.cipher_type, TLS_CIPHER_AES_GCM_256);
        assert_int_equal(k.rx.info.cipher_type, TLS_CIPHER_AES_GCM_256);
        assert_int_equal(k.len, 56);
        tx_key = k.tx.gcm256.key, tx_iv = k.tx.gcm256.iv;
        tx_salt = k.tx.gcm256.salt, tx_seq = k.tx.gcm256.rec_seq;
        rx_key = k.rx.gcm256.key, rx_iv = k.rx.gcm256.iv;
        rx_salt = k.rx.gcm256.salt, rx_seq = k.rx.gcm256.rec_seq;
    }
    assert_memory_equal(tx_key, skey, keylen);
    assert_memory_equal(tx_salt, siv, 4);
    assert_be64(tx_iv, 1);              /* explicit nonce = sequence number */
    assert_be64(tx_seq, 1);
    assert_memory_equal(rx_key, ckey, keylen);
    assert_memory_equal(rx_salt, civ, 4);
    assert_be64(rx_iv, 0x1122334455667788ULL);
    assert_be64(rx_seq, 0x1122334455667788ULL);
}

static void
test_derive_tls12_aes128gcm(void **state)
{
    (void)state;
    check_tls12_gcm(0xC02F, MBEDTLS_SSL_TLS_PRF_SHA256, 16);
    check_tls12_gcm(0xC02B, MBEDTLS_SSL_TLS_PRF_SHA256, 16);
}

static void
test_derive_tls12_aes256gcm(void **state)
{
    (void)state;
    check_tls12_gcm(0xC030, MBEDTLS_SSL_TLS_PRF_SHA384, 32);
    check_tls12_gcm(0xC02C, MBEDTLS_SSL_TLS_PRF_SHA384, 32);
}

static void
test_derive_tls12_chacha20(void **state)
{
    struct kp_tls_secrets s = tls12_secrets(MBEDTLS_SSL_TLS_PRF_SHA256);
    struct kp_ktls_keys k;
    unsigned char block[2 * 32 + 2 * 12];
    char err[128] = "";

    (void)state;
    unhex(KEY_BLOCK_SHA256_CHACHA20, block, sizeof block);
    assert_int_equal(ktls_derive(0x0303, 0xCCA9, &s, 1, 1, &k, err, sizeof err), 0);
    assert_int_equal(k.len, 56);
    assert_int_equal(k.tx.info.version, TLS_1_2_VERSION);
    assert_int_equal(k.tx.info.cipher_type, TLS_CIPHER_CHACHA20_POLY1305);
    assert_memory_equal(k.tx.chacha.key, block + 32, 32);
    assert_memory_equal(k.tx.chacha.iv, block + 64 + 12, 12);
    assert_be64(k.tx.chacha.rec_seq, 1);
    assert_int_equal(k.rx.info.cipher_type, TLS_CIPHER_CHACHA20_POLY1305);
    assert_memory_equal(k.rx.chacha.key, block, 32);
    assert_memory_equal(k.rx.chacha.iv, block + 64, 12);
    assert_be64(k.rx.chacha.rec_seq, 1);
}

/* Expects failure, a message, and nothing left in out. */
static void
assert_derive_fails(uint16_t version, uint16_t suite, const struct kp_tls_secrets *s,
                    const char *needle)
{
    static const struct kp_ktls_keys zero;
    struct kp_ktls_keys k;
    char err[128] = "";

    memset(&k, 0xAA, sizeof k);
    assert_int_equal(ktls_derive(version, suite, s, 1, 1, &k, err, sizeof err), -1);
    assert_non_null(strstr(err, needle));
    assert_memory_equal(&k, &zero, sizeof k);
}

/* TLS 1.3 KeyUpdate: the next secrets, computed by Python's hmac
 * (tests/tools/tls13_raw.py hkdf_expand_label, label "traffic upd"). */
#define RFC8448_CLIENT_SECRET_1 "fcdfcc72725aaee48bf64e4fd8b749cdbdbab39d90da0b26e2245ca6ea167207"
#define RFC8448_CLIENT_SECRET_2 "68474fe58c172143d0a009a76edd231b0d934f3058588ea0852662279e54a573"
#define PATTERN48_SECRET_1 "a0787a0836b1072f4e07706a6de135cb9d42920e11bdf8a277f5366439cda6a7" \
                           "0a5b827c02011a74e9713eb2193a6aea"

static void
test_next_secret(void **state)
{
    struct kp_tls_secrets s = rfc8448_secrets();
    unsigned char secret48[48], tls12[48] = { 0 };
    union kp_crypto_info ci;
    socklen_t len = 0;

    (void)state;
    assert_int_equal(ktls_suite_secret_len(0x1301), 32);
    assert_int_equal(ktls_suite_secret_len(0x1302), 48);
    assert_int_equal(ktls_suite_secret_len(0x1303), 32);
    assert_int_equal(ktls_suite_secret_len(0xC02F), 0);
    assert_int_equal(ktls_next_secret(0x1301, s.client_secret), 0);
    assert_hex_equal(s.client_secret, RFC8448_CLIENT_SECRET_1);
    assert_int_equal(ktls_derive_direction(0x1301, s.client_secret, 0, &ci, &len), 0);
    assert_int_equal(len, sizeof(struct tls12_crypto_info_aes_gcm_128));
    assert_int_equal(ci.info.version, TLS_1_3_VERSION);
    assert_hex_equal(ci.gcm128.key, "3879d82f5f14056e623f2ce5bfc66fce");
    assert_hex_equal(ci.gcm128.salt, "5dfb2c59");
    assert_hex_equal(ci.gcm128.iv, "38c3379b6cc5d1f2");
    assert_be64(ci.gcm128.rec_seq, 0);
    assert_int_equal(ktls_next_secret(0x1303, s.client_secret), 0);
    assert_hex_equal(s.client_secret, RFC8448_CLIENT_SECRET_2);

    fill_pattern(secret48, sizeof secret48, 0x11);
    assert_int_equal(ktls_next_secret(0x1302, secret48), 0);
    assert_hex_equal(secret48, PATTERN48_SECRET_1);
    /* TLS 1.2 has no KeyUpdate: refused, secret untouched */
    assert_int_equal(ktls_next_secret(0xC02F, tls12), -1);
    assert_int_equal(tls12[0], 0);
    assert_int_equal(ktls_derive_direction(0xC02F, tls12, 0, &ci, &len), -1);
}

static void
test_derive_errors(void **state)
{
    struct kp_tls_secrets s12 = tls12_secrets(MBEDTLS_SSL_TLS_PRF_SHA256);
    struct kp_tls_secrets s13 = rfc8448_secrets();

    (void)state;
    assert_derive_fails(0x0303, 0x009C, &s12, "0x009c");       /* RSA key exchange */
    assert_derive_fails(0x0304, 0x1304, &s13, "0x1304");       /* AES-128-CCM */
    assert_derive_fails(0x0302, 0xC02F, &s12, "0x0302");       /* TLS 1.1 */
    assert_derive_fails(0x0304, 0xC02F, &s12, "0xc02f");       /* 1.2 suite in 1.3 */
    assert_derive_fails(0x0303, 0x1301, &s13, "0x1301");       /* 1.3 suite in 1.2 */

    s12.have_master = 0;
    assert_derive_fails(0x0303, 0xC02F, &s12, "master secret");
    s12.have_master = 1;
    s12.prf = MBEDTLS_SSL_TLS_PRF_NONE;
    assert_derive_fails(0x0303, 0xC02F, &s12, "key expansion");

    s13.have_server = 0;
    assert_derive_fails(0x0304, 0x1301, &s13, "traffic secrets");
    s13.have_server = 1;
    s13.have_client = 0;
    assert_derive_fails(0x0304, 0x1301, &s13, "traffic secrets");
    s13.have_client = 1;
    assert_derive_fails(0x0304, 0x1302, &s13, "32 bytes");     /* SHA-384 suite */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_supported),
        cmocka_unit_test(test_hkdf_expand_label_rfc8448),
        cmocka_unit_test(test_hkdf_expand_label_rejects),
        cmocka_unit_test(test_derive_tls13_rfc8448),
        cmocka_unit_test(test_derive_tls13_aes256_sha384),
        cmocka_unit_test(test_derive_tls13_chacha20),
        cmocka_unit_test(test_next_secret),
        cmocka_unit_test(test_tls12_prf_sha256_vector),
        cmocka_unit_test(test_derive_tls12_aes128gcm),
        cmocka_unit_test(test_derive_tls12_aes256gcm),
        cmocka_unit_test(test_derive_tls12_chacha20),
        cmocka_unit_test(test_derive_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
