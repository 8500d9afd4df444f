/*
 * certstore.c - a frontend's certificates and keys, the host names each
 * serves, and the choice among them by the client's SNI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>

#include "certstore.h"
#include "hostname.h"
#include "tls.h"

struct tls_cert {
    mbedtls_x509_crt chain;
    mbedtls_pk_context key;
    char **names;               /* DNS names it serves, lower case; as many as it has */
    size_t n_names;
};

static int cert_add_name(struct tls_cert *c, const unsigned char *p, size_t len)
{
    char **names;
    char *name;

    if (len == 0 || len > 253)
        return 0;
    names = reallocarray(c->names, c->n_names + 1, sizeof *names);
    if (names == NULL)
        return -1;
    c->names = names;
    name = strndup((const char *)p, len);
    if (name == NULL)
        return -1;
    for (char *q = name; *q; q++)
        *q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
    c->names[c->n_names++] = name;
    return 0;
}

/* SNI names come from the certificate: its DNS subjectAltNames, or its
 * common name when it has none (as browsers used to, and hitch does). */
static int cert_collect_names(struct tls_cert *c)
{
    const mbedtls_x509_sequence *san;
    const mbedtls_x509_name *dn;

    for (san = &c->chain.subject_alt_names; san != NULL && san->buf.p != NULL; san = san->next)
        if ((san->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK) == MBEDTLS_X509_SAN_DNS_NAME &&
            cert_add_name(c, san->buf.p, san->buf.len) != 0)
            return -1;
    if (c->n_names > 0)
        return 0;
    for (dn = &c->chain.subject; dn != NULL; dn = dn->next)
        if (dn->oid.p != NULL && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &dn->oid) == 0 &&
            cert_add_name(c, dn->val.p, dn->val.len) != 0)
            return -1;
    return 0;
}

static int cert_load(mbedtls_ctr_drbg_context *drbg, struct tls_cert *c, const struct kp_cert *kc,
                     const char *file, char *err, size_t errlen)
{
    char what[512];
    int ret;

    mbedtls_x509_crt_init(&c->chain);
    mbedtls_pk_init(&c->key);
    ret = mbedtls_x509_crt_parse_file(&c->chain, kc->cert_file);
    if (ret != 0) {
        snprintf(what, sizeof what, "%s:%d: cannot load certificate %s", file, kc->line, kc->cert_file);
        kp_tls_mbed_error(err, errlen, what, ret);
        return -1;
    }
    ret = mbedtls_pk_parse_keyfile(&c->key, kc->key_file, NULL, mbedtls_ctr_drbg_random, drbg);
    if (ret != 0) {
        snprintf(what, sizeof what, "%s:%d: cannot load private key %s", file, kc->line, kc->key_file);
        kp_tls_mbed_error(err, errlen, what, ret);
        return -1;
    }
    ret = mbedtls_pk_check_pair(&c->chain.pk, &c->key, mbedtls_ctr_drbg_random, drbg);
    if (ret != 0) {
        snprintf(err, errlen, "%s:%d: private key %s does not match certificate %s", file,
                 kc->line, kc->key_file, kc->cert_file);
        return -1;
    }
    if (!mbedtls_pk_can_do(&c->key, MBEDTLS_PK_RSA) && !mbedtls_pk_can_do(&c->key, MBEDTLS_PK_ECKEY)) {
        snprintf(err, errlen, "%s:%d: %s: only RSA and ECDSA keys are supported", file, kc->line,
                 kc->key_file);
        return -1;
    }
    if (cert_collect_names(c) != 0) {
        snprintf(err, errlen, "%s:%d: out of memory for the names of %s", file, kc->line,
                 kc->cert_file);
        return -1;
    }
    return 0;
}

static void cert_free(struct tls_cert *c)
{
    mbedtls_x509_crt_free(&c->chain);
    mbedtls_pk_free(&c->key);
    for (size_t i = 0; i < c->n_names; i++)
        free(c->names[i]);
    free(c->names);
}

/* Best match for a name: 2 exact, 1 wildcard, 0 none. */
static int cert_match(const struct tls_cert *c, const char *name)
{
    int best = 0;

    for (size_t i = 0; i < c->n_names; i++) {
        int m = hostname_match(c->names[i], name);
        if (m > best)
            best = m;
    }
    return best;
}

struct certstore {
    struct tls_cert *certs;
    size_t n_certs;
};

struct certstore *certstore_load(const struct kp_frontend *fe, const char *file,
                                 mbedtls_ctr_drbg_context *drbg, char *err, size_t errlen)
{
    struct certstore *cs = calloc(1, sizeof *cs);

    if (cs == NULL || (cs->certs = calloc(fe->n_certs, sizeof *cs->certs)) == NULL) {
        free(cs);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (; cs->n_certs < fe->n_certs; cs->n_certs++)
        if (cert_load(drbg, &cs->certs[cs->n_certs], &fe->certs[cs->n_certs], file, err,
                      errlen) != 0) {
            cs->n_certs++; /* free the half-loaded one too */
            certstore_free(cs);
            return NULL;
        }
    return cs;
}

void certstore_free(struct certstore *cs)
{
    if (cs == NULL)
        return;
    for (size_t i = 0; i < cs->n_certs; i++)
        cert_free(&cs->certs[i]);
    free(cs->certs);
    free(cs);
}

int certstore_set_default(const struct certstore *cs, mbedtls_ssl_config *conf)
{
    return mbedtls_ssl_conf_own_cert(conf, &cs->certs[0].chain, &cs->certs[0].key);
}

/* The best match of any certificate for name: 2 exact, 1 wildcard, 0 none. */
static int best_match(const struct certstore *cs, const char *name)
{
    int best = 0;

    for (size_t i = 0; i < cs->n_certs; i++) {
        int m = cert_match(&cs->certs[i], name);
        if (m > best)
            best = m;
    }
    return best;
}

int certstore_covers(const struct certstore *cs, const char *name)
{
    return best_match(cs, name) > 0;
}

int certstore_offer(const struct certstore *cs, mbedtls_ssl_context *ssl, const char *name)
{
    int best = best_match(cs, name);

    if (best == 0)
        return 0;
    for (size_t i = 0; i < cs->n_certs; i++)
        if (cert_match(&cs->certs[i], name) == best &&
            mbedtls_ssl_set_hs_own_cert(ssl, &cs->certs[i].chain, &cs->certs[i].key) != 0)
            return -1;
    return best;
}
