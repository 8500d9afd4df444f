/*
 * certstore.h - a frontend's certificates, and which of them serve an SNI
 * name.
 */
#ifndef KP_CERTSTORE_H
#define KP_CERTSTORE_H

#include <stddef.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ssl.h>

#include "config.h"

struct certstore;

/* Loads and checks each certificate and key of the frontend; errors name
 * FILE:LINE of the cert setting. */
struct certstore *certstore_load(const struct kp_frontend *fe, const char *file,
                                 mbedtls_ctr_drbg_context *drbg, char *err, size_t errlen);
void certstore_free(struct certstore *cs);

/* The first certificate is the default one; returns mbedTLS's result. */
int certstore_set_default(const struct certstore *cs, mbedtls_ssl_config *conf);

/* Offer the handshake every certificate that covers name best.  Returns 2
 * (exact match), 1 (wildcard), 0 (none: nothing offered) or -1 (mbedTLS
 * error). */
int certstore_offer(const struct certstore *cs, mbedtls_ssl_context *ssl, const char *name);

/* 1 if some certificate serves name (a route's sni: pattern; a wildcard
 * pattern counts as served only by the same wildcard), else 0. */
int certstore_covers(const struct certstore *cs, const char *name);

#endif
