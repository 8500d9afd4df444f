/*
 * config.h - the configuration of ktlsproxy as plain, validated structs.
 *
 * The ini file (see ktlsproxy.ini(5)) is parsed once, at start-up or reload,
 * into a struct kp_config.  Everything in it has been checked: a caller never
 * has to validate a value again.  Errors are written into a caller-owned
 * buffer as "FILE:LINE: what is wrong" and the parse returns NULL.
 */
#ifndef KP_CONFIG_H
#define KP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"

#define KP_EX_CONFIG 78 /* sysexits.h EX_CONFIG */

enum kp_ktls_mode { KP_KTLS_AUTO, KP_KTLS_REQUIRED, KP_KTLS_OFF };
enum kp_log_target { KP_LOG_STDERR, KP_LOG_SYSLOG, KP_LOG_AUTO };
/* Same numbering as syslog priorities. */
enum kp_log_level { KP_LOG_ERR = 3, KP_LOG_WARNING = 4, KP_LOG_NOTICE = 5, KP_LOG_INFO = 6, KP_LOG_DEBUG = 7 };
enum kp_proxy_proto { KP_PROXY_OFF, KP_PROXY_V1, KP_PROXY_V2 };
enum kp_verify { KP_VERIFY_NONE, KP_VERIFY_OPTIONAL, KP_VERIFY_REQUIRED };

/* TLS versions, as a bit set. */
#define KP_TLS12 0x1u
#define KP_TLS13 0x2u

/* The AEAD ciphers the kernel can take over. */
enum kp_cipher { KP_AES_128_GCM, KP_AES_256_GCM, KP_CHACHA20_POLY1305, KP_CIPHER_COUNT };

/* ECDHE groups, IANA numbers (RFC 8446 4.2.7). */
#define KP_MAX_GROUPS 8
#define KP_MAX_ALPN 8
#define KP_ALPN_LEN 32   /* longest accepted protocol name, plus NUL */

struct kp_cert {
    char *cert_file;  /* PEM chain, leaf first */
    char *key_file;   /* PEM private key; the same file as cert_file if not given */
    int line;         /* where it was configured, for errors found when loading */
};

/* route = [sni:NAME] [alpn:PROTO] BACKEND; first match wins. */
struct kp_route {
    char *sni;                  /* exact name or "*.example.com", NULL = any */
    char *alpn;                 /* protocol name, NULL = any (also no ALPN) */
    struct kp_backend *backend;
    int line;
};

struct kp_backend {
    char *name;
    struct kp_addr addr;
    unsigned connect_timeout_ms;
    enum kp_proxy_proto proxy_protocol;
    bool http2;                 /* speaks cleartext HTTP/2 with prior knowledge */
    int line;
};

struct kp_frontend {
    char *name;
    struct kp_addr *listen;     size_t n_listen;
    struct kp_cert *certs;      size_t n_certs;   /* certs[0] is the default */
    bool sni_strict;            /* refuse names no certificate covers */
    unsigned tls_versions;      /* KP_TLS12 | KP_TLS13 */
    enum kp_cipher ciphers[KP_CIPHER_COUNT]; size_t n_ciphers; /* preference order */
    uint16_t groups[KP_MAX_GROUPS];          size_t n_groups;  /* preference order */
    char alpn[KP_MAX_ALPN][KP_ALPN_LEN];     size_t n_alpn;    /* server preference order */
    unsigned handshake_timeout_ms;
    unsigned idle_timeout_ms;
    unsigned reply_linger_ms;   /* after the unavailable reply, keep reading this long */
    enum kp_verify client_verify;
    char *client_ca;            /* required unless client_verify = none */
    struct kp_backend *backend; /* default backend, NULL only if every client matches a route */
    struct kp_route *routes;    size_t n_routes;
    char *error_page;           /* file holding a full HTTP/1.1 503 response, NULL = built in */
    /* Session tickets (src/tickets.c). */
    bool session_tickets;       /* default yes */
    int session_tickets_line;   /* 0 unless set in the file: an explicit yes is an error on
                                 * an mbedTLS without the 3.6.6 fix */
    unsigned ticket_lifetime_s; /* ticket validity and key rotation period */
    unsigned tls13_tickets;     /* NewSessionTicket messages per TLS 1.3 handshake */
    char *ticket_key_file;      /* keys shared by a fleet, NULL = random per process */
    int ticket_key_file_line;
    int line;
};

/* [admin]: the metrics listener; line == 0 when the section is absent. */
struct kp_admin_conf {
    struct kp_addr listen;
    bool allow_public;          /* a non-loopback address was asked for explicitly */
    int line;
};

struct kp_config {
    char *file;                 /* where it came from ("command line" for CLI mode) */
    unsigned workers;
    char *user, *group;         /* NULL = keep */
    enum kp_log_target log_target;
    enum kp_log_level log_level;
    unsigned max_connections;   /* whole process */
    unsigned max_handshakes;    /* per worker; a new connection evicts the oldest handshake */
    unsigned drain_timeout_ms;  /* SIGTERM: how long established connections may finish */
    enum kp_ktls_mode ktls;
    bool log_access;            /* one line per connection */
    struct kp_admin_conf admin;
    struct kp_frontend *frontends; size_t n_frontends;
    struct kp_backend *backends;   size_t n_backends;
};

/* Parse and validate a file.  NULL on error, with the message in err. */
struct kp_config *config_load_file(const char *path, char *err, size_t errlen);
/* The same from memory; name is used in error messages as the FILE part. */
struct kp_config *config_load_buffer(const char *name, const char *buf, size_t len,
                                     char *err, size_t errlen);

/* The hitch-style command line mode: one frontend, one backend. */
struct kp_cli {
    const char *listen, *backend, *cert, *key, *alpn, *proxy_protocol, *ktls, *workers;
    const char *user, *group, *log_level;
};
struct kp_config *config_from_cli(const struct kp_cli *cli, char *err, size_t errlen);

void config_free(struct kp_config *cfg);

/* Every key the parser accepts, as "section.key" (section "frontend",
 * "backend" or "global"), NULL-terminated; for the man page test. */
extern const char *const config_known_keys[];

const char *config_cipher_name(enum kp_cipher c);

#endif
