/*
 * ku_client - a TLS 1.3 client (OpenSSL) that asks for KeyUpdates while a
 * download streams in, for tests/integration/keyupdate.sh.
 *
 * openssl s_client reads no command while download data is pending, so it
 * cannot send a KeyUpdate mid-download; this client can.  It connects,
 * sends --upload bytes (a fixed pattern), then reads to the end; each time
 * the bytes received reach an --update-at mark it sends a
 * KeyUpdate(update_requested) at once.  It prints one line:
 *
 *   received BYTES sha256 HEX key_updates sent N received M end HOW
 *
 * (received: the server's KeyUpdate messages; HOW: close_notify, eof or
 * error:REASON).  Exit 0 on close_notify, 1 otherwise.  No certificate check
 * (test certificates).
 *
 *   ku_client --connect HOST:PORT [--sni NAME] [--ciphersuites LIST]
 *             [--upload BYTES] [--update-at BYTES]...
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define MAX_MARKS 8
#define CHUNK 65536
#define HS_KEY_UPDATE 24 /* RFC 8446 4 HandshakeType key_update */

struct opts {
    const char *connect, *sni, *suites;
    unsigned long long upload, marks[MAX_MARKS];
    int nmarks;
};

static unsigned key_updates_sent, key_updates_received;

/* Counts the KeyUpdate messages each way, as OpenSSL sees them. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version, (void)ssl, (void)arg;
    if (content_type != SSL3_RT_HANDSHAKE || len < 1 ||
        ((const unsigned char *)buf)[0] != HS_KEY_UPDATE)
        return;
    if (write_p)
        key_updates_sent++;
    else
        key_updates_received++;
}

static void usage(void)
{
    fprintf(stderr, "usage: ku_client --connect HOST:PORT [--sni NAME] [--ciphersuites LIST]\n"
                    "                 [--upload BYTES] [--update-at BYTES]...\n");
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        { "connect", 1, NULL, 'c' },   { "sni", 1, NULL, 's' },       { "ciphersuites", 1, NULL, 'S' },
        { "upload", 1, NULL, 'u' },    { "update-at", 1, NULL, 'k' }, { NULL, 0, NULL, 0 },
    };
    int ch;

    memset(o, 0, sizeof *o);
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'c': o->connect = optarg; break;
        case 's': o->sni = optarg; break;
        case 'S': o->suites = optarg; break;
        case 'u': o->upload = strtoull(optarg, NULL, 0); break;
        case 'k':
            if (o->nmarks == MAX_MARKS)
                usage();
            o->marks[o->nmarks++] = strtoull(optarg, NULL, 0);
            break;
        default: usage();
        }
    }
    if (o->connect == NULL || optind != argc)
        usage();
}

static SSL *connect_tls(const struct opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    BIO *bio;
    SSL *ssl;

    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        (o->suites != NULL && !SSL_CTX_set_ciphersuites(ctx, o->suites)))
        return NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_msg_callback(ctx, on_msg);
    ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* ssl holds its own reference */
    bio = BIO_new_connect(o->connect);
    if (ssl == NULL || bio == NULL || BIO_do_connect(bio) <= 0)
        return NULL;
    SSL_set_bio(ssl, bio, bio);
    if ((o->sni != NULL && !SSL_set_tlsext_host_name(ssl, o->sni)) || SSL_connect(ssl) != 1)
        return NULL;
    return ssl;
}

static int upload(SSL *ssl, unsigned long long n)
{
    unsigned char buf[CHUNK];

    memset(buf, 'u', sizeof buf);
    while (n > 0) {
        int len = n < sizeof buf ? (int)n : (int)sizeof buf;
        if (SSL_write(ssl, buf, len) != len)
            return -1;
        n -= (unsigned long long)len;
    }
    return 0;
}

/* KeyUpdate(update_requested), sent now rather than with our next write. */
static int key_update(SSL *ssl)
{
    return SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1 && SSL_do_handshake(ssl) == 1 ? 0 : -1;
}

/* Reads to the end; *how says how it ended.  The total received. */
static unsigned long long download(SSL *ssl, const struct opts *o, EVP_MD_CTX *md,
                                   const char **how)
{
    static char reason[256];
    unsigned char buf[CHUNK];
    unsigned long long got = 0;
    int mark = 0, n;

    for (;;) {
        while (mark < o->nmarks && got >= o->marks[mark]) {
            if (key_update(ssl) != 0) {
                *how = "error:SSL_key_update";
                return got;
            }
            mark++;
        }
        n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)n);
        got += (unsigned long long)n;
    }
    switch (SSL_get_error(ssl, n)) {
    case SSL_ERROR_ZERO_RETURN: *how = "close_notify"; break;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            *how = "eof";
            break;
        }
        /* fall through */
    default: {
        const char *r = ERR_reason_error_string(ERR_peek_error());
        snprintf(reason, sizeof reason, "error:%s", r != NULL ? r : "unknown");
        for (char *p = reason; *p; p++)
            if (*p == ' ')
                *p = '_';
        *how = reason;
    }
    }
    return got;
}

int main(int argc, char **argv)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[32];
    const char *how = "error:connect";
    unsigned long long got = 0;
    struct opts o;
    SSL *ssl;

    parse(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN); /* a closed connection is reported, not fatal */
    if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
        return 1;
    ssl = connect_tls(&o);
    if (ssl != NULL && upload(ssl, o.upload) != 0)
        how = "error:upload";
    else if (ssl != NULL)
        got = download(ssl, &o, md, &how);
    if (strcmp(how, "close_notify") == 0)
        SSL_shutdown(ssl);
    ERR_print_errors_fp(stderr);
    EVP_DigestFinal_ex(md, digest, NULL);
    printf("received %llu sha256 ", got);
    for (size_t i = 0; i < sizeof digest; i++)
        printf("%02x", digest[i]);
    printf(" key_updates sent %u received %u end %s\n", key_updates_sent, key_updates_received,
           how);
    SSL_free(ssl);
    EVP_MD_CTX_free(md);
    return strcmp(how, "close_notify") == 0 ? 0 : 1;
}
