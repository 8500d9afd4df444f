/*
 * ktls_keys.h - from the secrets mbedTLS exports to the kernel's crypto_info.
 *
 * Pure computation, no sockets: the TLS 1.2 key block (mbedtls_ssl_tls_prf)
 * and the TLS 1.3 traffic keys (HKDF-Expand-Label through PSA), laid out as
 * the kernel's struct tls12_crypto_info_* for TX and RX of a server.
 * Everything here that held a secret is wiped with mbedtls_platform_zeroize.
 */
#ifndef KP_KTLS_KEYS_H
#define KP_KTLS_KEYS_H

#include <linux/tls.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <mbedtls/ssl.h>

/* What the export-keys callback handed us for one connection. */
struct kp_tls_secrets {
    /* TLS 1.2 */
    unsigned char master[48];
    unsigned char client_random[32], server_random[32];
    mbedtls_tls_prf_types prf;
    int have_master;
    /* TLS 1.3 application traffic secrets */
    unsigned char client_secret[64], server_secret[64];
    size_t secret_len;
    int have_client, have_server;
};

union kp_crypto_info {
    struct tls_crypto_info info;
    struct tls12_crypto_info_aes_gcm_128 gcm128;
    struct tls12_crypto_info_aes_gcm_256 gcm256;
    struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/* Ready for setsockopt(SOL_TLS, TLS_TX / TLS_RX, &tx / &rx, len). */
struct kp_ktls_keys {
    union kp_crypto_info tx, rx;
    socklen_t len;
};

/* Is this IANA cipher suite one the kernel can take (AEAD with ECDHE, or TLS 1.3)? */
int ktls_suite_supported(uint16_t suite);

/* The kernel's names for a supported suite: TLS_1_x_VERSION and TLS_CIPHER_*.
 * 0, or -1 if the suite is not supported. */
int ktls_suite_kernel_ids(uint16_t suite, uint16_t *version, uint16_t *cipher);

/* Fill keys for a server (TX = server write, RX = client write).
 * version: 0x0303 or 0x0304; suite: IANA id; tx_seq/rx_seq: sequence number
 * of the next record in each direction.  0 on success, -1 with err set. */
int ktls_derive(uint16_t version, uint16_t suite, const struct kp_tls_secrets *s,
                uint64_t tx_seq, uint64_t rx_seq, struct kp_ktls_keys *out,
                char *err, size_t errlen);

/* RFC 8446 7.1 HKDF-Expand-Label(secret, label, "", outlen) with SHA-256
 * (hash_len 32) or SHA-384 (hash_len 48).  0 on success. */
int ktls_hkdf_expand_label(size_t hash_len, const unsigned char *secret,
                           const char *label, unsigned char *out, size_t outlen);

/* TLS 1.3 KeyUpdate (RFC 8446 7.2), for suites with a TLS_1_3_VERSION.
 * The traffic secret's length (the suite's hash), 0 for other suites. */
size_t ktls_suite_secret_len(uint16_t suite);
/* secret <- HKDF-Expand-Label(secret, "traffic upd", "", Hash.len), in place;
 * the old secret is wiped.  0 on success, -1 (secret unchanged) on failure. */
int ktls_next_secret(uint16_t suite, unsigned char *secret);
/* One direction's crypto_info from a TLS 1.3 traffic secret, its next record
 * being number seq.  0 with *len set; the caller must wipe *out. */
int ktls_derive_direction(uint16_t suite, const unsigned char *secret, uint64_t seq,
                          union kp_crypto_info *out, socklen_t *len);

void ktls_secrets_wipe(struct kp_tls_secrets *s);
void ktls_keys_wipe(struct kp_ktls_keys *k);

#endif
