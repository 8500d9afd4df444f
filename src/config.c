/*
 * config.c - read ktlsproxy.ini(5), or the command line mode, into a
 * validated struct kp_config.
 *
 * inih splits the text into sections and key = value pairs; everything
 * else happens here.  The text goes to inih through read_line(), which
 * does three jobs inih cannot do for us:
 *  - it counts lines: inih's handler gets no line number in the build
 *    Debian ships (INI_HANDLER_LINENO is 0);
 *  - it sees every section header, also one without keys, and its line,
 *    which inih never reports to the handler;
 *  - it strips leading white space, because inih takes an indented line as
 *    a continuation of the previous value (INI_ALLOW_MULTILINE) and would
 *    merge an indented repeated key into the previous one.
 *
 * A backend can be named before its section appears, so backend names are
 * kept aside as pending references and resolved when the whole text has
 * been read.  The first error ends the parse.
 */
#include "config.h"
#include "config_parser.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_WORKERS         256
#define MAX_CONNECTIONS     1000000
#define DEFAULT_CONNECTIONS 10000
#define DEFAULT_HANDSHAKES  1000
#define DEFAULT_DRAIN_MS    (30 * 1000)
#define DEFAULT_TICKET_LIFETIME_S 7200  /* as OpenSSL and HAProxy */
#define DEFAULT_TLS13_TICKETS 1         /* mbedTLS's default */
#define MAX_TLS13_TICKETS 8
#define MAX_DURATION_MS     (24u * 60 * 60 * 1000)
#define MAX_HOSTNAME        253
#define LIST_SEPARATORS     " \t,"
#define WORD_SEPARATORS     " \t"
#define NAME_CHARS \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
#define HOSTNAME_CHARS \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
#define SECTIONS            "[global], [frontend NAME], [backend NAME], [admin]"

struct keyword {
    const char *name;
    int value;
};

struct key_rule {
    const char *name;
    key_setter set;
    bool repeatable;
};

struct section_rules {
    const struct key_rule *rules;
    size_t n_rules;
};

static const struct keyword yes_no[] = { { "yes", 1 }, { "no", 0 }, { NULL, 0 } };
static const struct keyword log_targets[] = {
    { "auto", KP_LOG_AUTO }, { "stderr", KP_LOG_STDERR }, { "syslog", KP_LOG_SYSLOG }, { NULL, 0 },
};
static const struct keyword log_levels[] = {
    { "error", KP_LOG_ERR }, { "warning", KP_LOG_WARNING }, { "notice", KP_LOG_NOTICE },
    { "info", KP_LOG_INFO }, { "debug", KP_LOG_DEBUG }, { NULL, 0 },
};
static const struct keyword ktls_modes[] = {
    { "auto", KP_KTLS_AUTO }, { "required", KP_KTLS_REQUIRED }, { "off", KP_KTLS_OFF },
    { NULL, 0 },
};
static const struct keyword verify_modes[] = {
    { "none", KP_VERIFY_NONE }, { "optional", KP_VERIFY_OPTIONAL },
    { "required", KP_VERIFY_REQUIRED }, { NULL, 0 },
};
static const struct keyword proxy_modes[] = {
    { "off", KP_PROXY_OFF }, { "v1", KP_PROXY_V1 }, { "v2", KP_PROXY_V2 }, { NULL, 0 },
};
static const struct keyword tls_versions[] = {
    { "1.2", KP_TLS12 }, { "1.3", KP_TLS13 }, { NULL, 0 },
};
/* Indexed by enum kp_cipher. */
static const struct keyword ciphers[] = {
    { "AES-128-GCM", KP_AES_128_GCM }, { "AES-256-GCM", KP_AES_256_GCM },
    { "CHACHA20-POLY1305", KP_CHACHA20_POLY1305 }, { NULL, 0 },
};
static const struct keyword groups[] = {
    { "x25519", 29 }, { "secp256r1", 23 }, { "secp384r1", 24 }, { "secp521r1", 25 },
    { "x448", 30 }, { NULL, 0 },
};

static const enum kp_cipher default_ciphers[] = {
    KP_AES_128_GCM, KP_AES_256_GCM, KP_CHACHA20_POLY1305,
};
/* secp256r1 first: for a TLS 1.2 client that offers both, mbedTLS 3.6 follows our order, and
 * its P-256 (fixed-point comb) makes a full ECDHE-ECDSA handshake ~21 % cheaper than its
 * generic X25519 ladder (callgrind, bench/NOTES.md).  TLS 1.3 takes the client's first key
 * share we support, so this order costs no HelloRetryRequest there. */
static const uint16_t default_groups[] = { 23, 29, 24 };

/* ---- error messages ---- */

__attribute__((format(printf, 3, 0))) static void
vfail(struct parser *p, int line, const char *fmt, va_list ap)
{
    int n;

    if (p->failed)
        return;
    p->failed = true;
    p->failed_at = p->line;
    if (p->cli && p->cli_option)
        n = snprintf(p->err, p->errlen, "%s: %s: ", CLI_FILE, p->cli_option);
    else if (p->cli || line <= 0)
        n = snprintf(p->err, p->errlen, "%s: ", p->file);
    else
        n = snprintf(p->err, p->errlen, "%s:%d: ", p->file, line);
    if (n >= 0 && (size_t)n < p->errlen)
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
}

/* An error on the line being read; always returns false. */
__attribute__((format(printf, 2, 3))) static bool
fail(struct parser *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(p, p->line, fmt, ap);
    va_end(ap);
    return false;
}

/* An error about an earlier line (a section, a reference). */
__attribute__((format(printf, 3, 4))) static bool
fail_at(struct parser *p, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(p, line, fmt, ap);
    va_end(ap);
    return false;
}

static const char *
keyword_names(const struct keyword *kw, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (; kw->name; kw++) {
        int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", kw->name);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

static bool
bad_keyword(struct parser *p, const char *value, const struct keyword *kw)
{
    char allowed[256];

    return fail(p, "bad value '%s' for %s (allowed: %s)", value, p->key,
                keyword_names(kw, allowed, sizeof allowed));
}

/* ---- small parsers ---- */

static bool
find_keyword(const struct keyword *kw, const char *name, int *value)
{
    for (; kw->name; kw++) {
        if (strcasecmp(kw->name, name) == 0) {
            *value = kw->value;
            return true;
        }
    }
    return false;
}

/* Plain decimal digits, nothing else, at most max. */
static bool
parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    unsigned long n = 0;

    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if ((unsigned long)(*s - '0') > max || n > (max - (unsigned long)(*s - '0')) / 10)
            return false;   /* the first test: max - digit must not wrap */
        n = n * 10 + (unsigned long)(*s - '0');
    }
    *out = n;
    return true;
}

/*
 * The next item of the LIST at *cursor, copied into tok; its full length is
 * returned, 0 at the end, >= toklen if it did not fit.
 */
static size_t
next_list_item(const char **cursor, char *tok, size_t toklen)
{
    const char *start = *cursor + strspn(*cursor, LIST_SEPARATORS);
    size_t n = strcspn(start, LIST_SEPARATORS);

    *cursor = start + n;
    snprintf(tok, toklen, "%.*s", (int)n, start);
    return n;
}

static bool
parse_number(struct parser *p, const char *value, unsigned min, unsigned max, unsigned *out)
{
    unsigned long n;

    if (!parse_ulong(value, max, &n) || n < min)
        return fail(p, "bad value '%s' for %s (allowed: %u to %u)", value, p->key, min, max);
    *out = (unsigned)n;
    return true;
}

static bool
parse_keyword(struct parser *p, const char *value, const struct keyword *kw, int *out)
{
    if (!find_keyword(kw, value, out))
        return bad_keyword(p, value, kw);
    return true;
}

static bool
parse_yes_no(struct parser *p, const char *value, bool *out)
{
    int yes;

    if (!parse_keyword(p, value, yes_no, &yes))
        return false;
    *out = yes;
    return true;
}

/* DURATION: digits with an optional unit, seconds if none. */
static bool
parse_duration(struct parser *p, const char *value, unsigned *out_ms)
{
    static const struct { const char *suffix; unsigned long long ms; } units[] = {
        { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 }, { "h", 60 * 60 * 1000 },
    };
    size_t digits = strspn(value, "0123456789");
    char number[16];
    unsigned long n;

    if (digits > 0 && digits < sizeof number) {
        memcpy(number, value, digits);
        number[digits] = '\0';
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            if (strcmp(value + digits, units[i].suffix) == 0
                && parse_ulong(number, MAX_DURATION_MS, &n) && n > 0
                && n * units[i].ms <= MAX_DURATION_MS) {
                *out_ms = (unsigned)(n * units[i].ms);
                return true;
            }
        }
    }
    return fail(p, "bad duration '%s' for %s (allowed: a positive integer with unit ms, s, m "
                "or h, seconds if none, at most 24h)", value, p->key);
}

/*
 * A list of keywords in preference order, separated by spaces or commas,
 * each at most once.  explain, if given, says why a token is refused
 * when it is something the user may reasonably have expected to work.
 */
static bool
parse_keyword_list(struct parser *p, const char *value, const struct keyword *kw,
                   const char *(*explain)(const char *token), int *out, size_t *n_out)
{
    const char *cursor = value;
    char tok[64], allowed[256];
    size_t len, n = 0;
    int item;

    while ((len = next_list_item(&cursor, tok, sizeof tok)) > 0) {
        if (len >= sizeof tok || !find_keyword(kw, tok, &item)) {
            const char *why = explain ? explain(tok) : NULL;
            return fail(p, "bad value '%s' in %s%s%s (allowed: %s)", tok, p->key, why ? ": " : "",
                        why ? why : "", keyword_names(kw, allowed, sizeof allowed));
        }
        for (size_t i = 0; i < n; i++) {
            if (out[i] == item)
                return fail(p, "'%s' is listed twice in %s", tok, p->key);
        }
        out[n++] = item;
    }
    if (n == 0)
        return fail(p, "missing value for %s", p->key);
    *n_out = n;
    return true;
}

static const char *
explain_tls_version(const char *token)
{
    if (strcmp(token, "1.0") == 0 || strcmp(token, "1.1") == 0)
        return "TLS versions below 1.2 are not supported";
    return NULL;
}

static const char *
explain_group(const char *token)
{
    if (strncasecmp(token, "ffdhe", 5) == 0)
        return "finite field groups are not supported, only ECDHE";
    return NULL;
}

/* An ALPN protocol name: 1..31 bytes of printable ASCII, no space or comma. */
static bool
check_alpn_name(struct parser *p, const char *name, size_t len)
{
    if (len >= KP_ALPN_LEN)
        return fail(p, "ALPN protocol name '%s' is too long (at most %d bytes)", name,
                    KP_ALPN_LEN - 1);
    for (const char *s = name; *s; s++) {
        if (*s <= ' ' || *s > '~' || *s == ',')
            return fail(p, "bad ALPN protocol name '%s' (allowed: printable ASCII "
                        "without spaces or commas)", name);
    }
    return true;
}

/*
 * A host name for SNI routing, "*.example.com" for any one label in front
 * of example.com; lowercased in place.  SNI carries no trailing dot.
 */
static bool
normalize_sni_name(char *name)
{
    char *label = strncmp(name, "*.", 2) == 0 ? name + 2 : name;

    if (strlen(label) > MAX_HOSTNAME)
        return false;
    for (;;) {
        size_t n = strspn(label, HOSTNAME_CHARS);
        if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-')
            return false;
        if (label[n] == '\0')
            break;
        if (label[n] != '.')
            return false;
        label += n + 1;
    }
    for (char *s = name; *s; s++)
        *s = (char)tolower((unsigned char)*s);
    return true;
}

/* Readable now; open() rather than access() so that it is the real check. */
bool
check_readable(struct parser *p, const char *what, const char *path)
{
    struct stat st;
    bool regular;
    int fd;

    /* O_NONBLOCK: a FIFO must not hang the parse. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return fail(p, "cannot open %s file '%s': %s", what, path, strerror(errno));
    regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!regular)
        return fail(p, "%s file '%s' is not a regular file", what, path);
    return true;
}

static bool
parse_addr_value(struct parser *p, const char *value, bool allow_unix, struct kp_addr *out)
{
    char why[256];

    if (!config_parse_addr(value, out, allow_unix, why, sizeof why))
        return fail(p, "bad value '%s' for %s: %s", value, p->key, why);
    return true;
}

/* ---- building the structs ---- */

/* arr with room for one more, zeroed, element at [n]; NULL when out of memory. */
static void *
grow(struct parser *p, void *arr, size_t n, size_t size)
{
    char *bigger = reallocarray(arr, n + 1, size);

    if (!bigger) {
        fail(p, "out of memory");
        return NULL;
    }
    memset(bigger + n * size, 0, size);
    return bigger;
}

static char *
dup_str(struct parser *p, const char *s)
{
    char *copy = strdup(s);

    if (!copy)
        fail(p, "out of memory");
    return copy;
}

static struct kp_frontend *
current_frontend(struct parser *p)
{
    return &p->cfg->frontends[p->frontend];
}

static struct kp_backend *
current_backend(struct parser *p)
{
    return &p->cfg->backends[p->backend];
}

bool
add_backend_ref(struct parser *p, size_t route, const char *name)
{
    struct backend_ref *refs = grow(p, p->refs, p->n_refs, sizeof *refs);
    char *copy;

    if (!refs)
        return false;
    p->refs = refs;
    if (!(copy = dup_str(p, name)))
        return false;
    refs[p->n_refs++] = (struct backend_ref){ p->frontend, route, copy, p->line };
    return true;
}

bool
add_cert(struct parser *p, const char *chain, const char *key)
{
    struct kp_frontend *fe = current_frontend(p);
    struct kp_cert *certs = grow(p, fe->certs, fe->n_certs, sizeof *certs);
    struct kp_cert *cert;

    if (!certs)
        return false;
    fe->certs = certs;
    cert = &certs[fe->n_certs];
    cert->cert_file = dup_str(p, chain);
    cert->key_file = dup_str(p, key ? key : chain);
    cert->line = p->line;
    fe->n_certs++;  /* even half filled, so that config_free() sees it */
    return cert->cert_file && cert->key_file;
}

/* ---- [global] ---- */

static bool
set_global_workers(struct parser *p, const char *value)
{
    return parse_number(p, value, 1, MAX_WORKERS, &p->cfg->workers);
}

static bool
set_global_user(struct parser *p, const char *value)
{
    if (!getpwnam(value))
        return fail(p, "user '%s' does not exist", value);
    return (p->cfg->user = dup_str(p, value)) != NULL;
}

static bool
set_global_group(struct parser *p, const char *value)
{
    if (!getgrnam(value))
        return fail(p, "group '%s' does not exist", value);
    return (p->cfg->group = dup_str(p, value)) != NULL;
}

static bool
set_global_log(struct parser *p, const char *value)
{
    int target;

    if (!parse_keyword(p, value, log_targets, &target))
        return false;
    p->cfg->log_target = target;
    return true;
}

static bool
set_global_log_level(struct parser *p, const char *value)
{
    int level;

    if (!parse_keyword(p, value, log_levels, &level))
        return false;
    p->cfg->log_level = level;
    return true;
}

static bool
set_global_max_connections(struct parser *p, const char *value)
{
    return parse_number(p, value, 1, MAX_CONNECTIONS, &p->cfg->max_connections);
}

static bool
set_global_max_handshakes(struct parser *p, const char *value)
{
    return parse_number(p, value, 1, MAX_CONNECTIONS, &p->cfg->max_handshakes);
}

/* 0 is allowed here: close at once on SIGTERM. */
static bool
set_global_drain_timeout(struct parser *p, const char *value)
{
    if (strcmp(value, "0") == 0) {
        p->cfg->drain_timeout_ms = 0;
        return true;
    }
    return parse_duration(p, value, &p->cfg->drain_timeout_ms);
}

static bool
set_global_ktls(struct parser *p, const char *value)
{
    int mode;

    if (!parse_keyword(p, value, ktls_modes, &mode))
        return false;
    p->cfg->ktls = mode;
    return true;
}

static bool
set_global_log_access(struct parser *p, const char *value)
{
    return parse_yes_no(p, value, &p->cfg->log_access);
}

/* ---- [admin] ---- */

static bool
set_admin_listen(struct parser *p, const char *value)
{
    return parse_addr_value(p, value, true, &p->cfg->admin.listen);
}

static bool
set_admin_allow_public(struct parser *p, const char *value)
{
    return parse_yes_no(p, value, &p->cfg->admin.allow_public);
}

/* Metrics name frontends and traffic: not for the world unless asked. */
static bool
check_admin(struct parser *p)
{
    const struct kp_admin_conf *ad = &p->cfg->admin;

    if (ad->listen.len == 0)
        return fail_at(p, ad->line, "[admin] needs listen = 127.0.0.1:PORT or unix:/PATH");
    if (!addr_is_loopback(&ad->listen) && !ad->allow_public)
        return fail_at(p, ad->line, "[admin] listen = %s is not a loopback address "
                       "(set allow_public = yes to serve metrics there)", ad->listen.text);
    return true;
}

/* ---- [frontend NAME] ---- */

static bool
listen_address_taken(struct parser *p, const struct kp_addr *addr)
{
    for (size_t f = 0; f < p->cfg->n_frontends; f++) {
        const struct kp_frontend *fe = &p->cfg->frontends[f];
        for (size_t i = 0; i < fe->n_listen; i++) {
            if (fe->listen[i].len == addr->len
                && memcmp(&fe->listen[i].ss, &addr->ss, addr->len) == 0) {
                fail(p, "listen address '%s' is already used by frontend '%s'", addr->text,
                     fe->name);
                return true;
            }
        }
    }
    return false;
}

static bool
set_frontend_listen(struct parser *p, const char *value)
{
    struct kp_frontend *fe = current_frontend(p);
    struct kp_addr addr, *listen;

    if (!parse_addr_value(p, value, false, &addr) || listen_address_taken(p, &addr))
        return false;
    if (!(listen = grow(p, fe->listen, fe->n_listen, sizeof *listen)))
        return false;
    listen[fe->n_listen++] = addr;
    fe->listen = listen;
    return true;
}

/* cert = CHAIN_FILE [KEY_FILE] */
static bool
set_frontend_cert(struct parser *p, const char *value)
{
    char *words = dup_str(p, value), *save, *chain, *key;
    bool ok = false;

    if (!words)
        return false;
    chain = strtok_r(words, WORD_SEPARATORS, &save);
    key = strtok_r(NULL, WORD_SEPARATORS, &save);
    if (strtok_r(NULL, WORD_SEPARATORS, &save))
        fail(p, "too many files for cert (allowed: CHAIN_FILE [KEY_FILE])");
    else if (check_readable(p, "certificate", chain) && (!key || check_readable(p, "key", key)))
        ok = add_cert(p, chain, key);
    free(words);
    return ok;
}

static bool
set_frontend_sni_strict(struct parser *p, const char *value)
{
    return parse_yes_no(p, value, &current_frontend(p)->sni_strict);
}

static bool
set_frontend_tls_versions(struct parser *p, const char *value)
{
    struct kp_frontend *fe = current_frontend(p);
    int versions[2];
    size_t n;

    if (!parse_keyword_list(p, value, tls_versions, explain_tls_version, versions, &n))
        return false;
    fe->tls_versions = 0;
    for (size_t i = 0; i < n; i++)
        fe->tls_versions |= (unsigned)versions[i];
    return true;
}

static bool
set_frontend_ciphers(struct parser *p, const char *value)
{
    struct kp_frontend *fe = current_frontend(p);
    int list[KP_CIPHER_COUNT];
    size_t n;

    if (!parse_keyword_list(p, value, ciphers, NULL, list, &n))
        return false;
    for (size_t i = 0; i < n; i++)
        fe->ciphers[i] = list[i];
    fe->n_ciphers = n;
    return true;
}

static bool
set_frontend_groups(struct parser *p, const char *value)
{
    struct kp_frontend *fe = current_frontend(p);
    int list[sizeof groups / sizeof groups[0] - 1];
    size_t n;

    _Static_assert(sizeof list / sizeof list[0] <= KP_MAX_GROUPS, "KP_MAX_GROUPS too small");
    if (!parse_keyword_list(p, value, groups, explain_group, list, &n))
        return false;
    for (size_t i = 0; i < n; i++)
        fe->groups[i] = (uint16_t)list[i];
    fe->n_groups = n;
    return true;
}

static bool
set_frontend_alpn(struct parser *p, const char *value)
{
    struct kp_frontend *fe = current_frontend(p);
    const char *cursor = value;
    char tok[64];
    size_t len;

    while ((len = next_list_item(&cursor, tok, sizeof tok)) > 0) {
        if (!check_alpn_name(p, tok, len))
            return false;
        for (size_t i = 0; i < fe->n_alpn; i++) {
            if (strcmp(fe->alpn[i], tok) == 0)
                return fail(p, "'%s' is listed twice in %s", tok, p->key);
        }
        if (fe->n_alpn == KP_MAX_ALPN)
            return fail(p, "too many ALPN protocols (at most %d)", KP_MAX_ALPN);
        strcpy(fe->alpn[fe->n_alpn++], tok);
    }
    if (fe->n_alpn == 0)
        return fail(p, "missing value for %s", p->key);
    return true;
}

static bool
set_frontend_handshake_timeout(struct parser *p, const char *value)
{
    return parse_duration(p, value, &current_frontend(p)->handshake_timeout_ms);
}

static bool
set_frontend_idle_timeout(struct parser *p, const char *value)
{
    return parse_duration(p, value, &current_frontend(p)->idle_timeout_ms);
}

static bool
set_frontend_reply_linger(struct parser *p, const char *value)
{
    return parse_duration(p, value, &current_frontend(p)->reply_linger_ms);
}

static bool
set_frontend_client_verify(struct parser *p, const char *value)
{
    int mode;

    if (!parse_keyword(p, value, verify_modes, &mode))
        return false;
    current_frontend(p)->client_verify = mode;
    return true;
}

static bool
set_frontend_client_ca(struct parser *p, const char *value)
{
    struct kp_frontend *fe = current_frontend(p);

    if (!check_readable(p, "client_ca", value))
        return false;
    return (fe->client_ca = dup_str(p, value)) != NULL;
}

static bool
set_frontend_backend(struct parser *p, const char *value)
{
    return add_backend_ref(p, NO_ROUTE, value);
}

#define ROUTE_SYNTAX "route = [sni:NAME] [alpn:PROTO] BACKEND"

struct route_words {
    char *sni, *alpn, *backend;     /* NULL if not given */
};

/* Split a route's value, in place, checking each word on its own. */
static bool
parse_route_words(struct parser *p, char *value, struct route_words *w)
{
    char *save, *word;

    for (word = strtok_r(value, WORD_SEPARATORS, &save); word;
         word = strtok_r(NULL, WORD_SEPARATORS, &save)) {
        if (w->backend)
            return fail(p, "unexpected '%s' after the backend name (%s)", word, ROUTE_SYNTAX);
        if (strncmp(word, "sni:", 4) == 0) {
            if (w->sni)
                return fail(p, "sni: given twice in route");
            w->sni = word + 4;
            if (!normalize_sni_name(w->sni))
                return fail(p, "bad host name '%s' in route (allowed: a name like "
                            "www.example.com or a wildcard like *.example.com)", w->sni);
        } else if (strncmp(word, "alpn:", 5) == 0) {
            if (w->alpn)
                return fail(p, "alpn: given twice in route");
            w->alpn = word + 5;
            if (w->alpn[0] == '\0')
                return fail(p, "empty ALPN protocol name in route");
            if (!check_alpn_name(p, w->alpn, strlen(w->alpn)))
                return false;
        } else if (strchr(word, ':')) {
            return fail(p, "unknown route condition '%s' (allowed: sni:NAME, alpn:PROTO)", word);
        } else {
            w->backend = word;
        }
    }
    if (!w->backend)
        return fail(p, "route without a backend name (%s)", ROUTE_SYNTAX);
    if (!w->sni && !w->alpn)
        return fail(p, "route to '%s' needs sni:NAME or alpn:PROTO (%s; for all other "
                    "clients use backend = %s)", w->backend, ROUTE_SYNTAX, w->backend);
    return true;
}

static bool
add_route(struct parser *p, const struct route_words *w)
{
    struct kp_frontend *fe = current_frontend(p);
    struct kp_route *routes = grow(p, fe->routes, fe->n_routes, sizeof *routes);
    struct kp_route *route;

    if (!routes)
        return false;
    fe->routes = routes;
    route = &routes[fe->n_routes++];   /* counted at once, so that config_free() sees it */
    route->line = p->line;
    if ((w->sni && !(route->sni = dup_str(p, w->sni)))
        || (w->alpn && !(route->alpn = dup_str(p, w->alpn))))
        return false;
    return add_backend_ref(p, fe->n_routes - 1, w->backend);
}

static bool
set_frontend_route(struct parser *p, const char *value)
{
    struct route_words w = { NULL, NULL, NULL };
    char *words = dup_str(p, value);
    bool ok;

    if (!words)
        return false;
    ok = parse_route_words(p, words, &w) && add_route(p, &w);
    free(words);
    return ok;
}

static bool
set_frontend_error_page(struct parser *p, const char *value)
{
    struct kp_frontend *fe = current_frontend(p);

    if (!check_readable(p, "error_page", value))
        return false;
    return (fe->error_page = dup_str(p, value)) != NULL;
}

/* ---- [frontend NAME]: session tickets ---- */

static bool
set_frontend_session_tickets(struct parser *p, const char *value)
{
    current_frontend(p)->session_tickets_line = p->line;
    return parse_yes_no(p, value, &current_frontend(p)->session_tickets);
}

/* Whole seconds: mbedTLS counts ticket and key lifetimes in seconds. */
static bool
set_frontend_ticket_lifetime(struct parser *p, const char *value)
{
    unsigned ms;

    if (!parse_duration(p, value, &ms))
        return false;
    if (ms % 1000 != 0)
        return fail(p, "bad value '%s' for %s (allowed: whole seconds, 1s to 24h)", value, p->key);
    current_frontend(p)->ticket_lifetime_s = ms / 1000;
    return true;
}

static bool
set_frontend_tls13_tickets(struct parser *p, const char *value)
{
    return parse_number(p, value, 0, MAX_TLS13_TICKETS, &current_frontend(p)->tls13_tickets);
}

static bool
set_frontend_ticket_key_file(struct parser *p, const char *value)
{
    struct kp_frontend *fe = current_frontend(p);

    if (!check_readable(p, "ticket key", value))
        return false;
    fe->ticket_key_file_line = p->line;
    return (fe->ticket_key_file = dup_str(p, value)) != NULL;
}

/* ---- [backend NAME] ---- */

static bool
set_backend_address(struct parser *p, const char *value)
{
    return parse_addr_value(p, value, true, &current_backend(p)->addr);
}

static bool
set_backend_connect_timeout(struct parser *p, const char *value)
{
    return parse_duration(p, value, &current_backend(p)->connect_timeout_ms);
}

static bool
set_backend_proxy_protocol(struct parser *p, const char *value)
{
    int mode;

    if (!parse_keyword(p, value, proxy_modes, &mode))
        return false;
    current_backend(p)->proxy_protocol = mode;
    return true;
}

static bool
set_backend_http2(struct parser *p, const char *value)
{
    return parse_yes_no(p, value, &current_backend(p)->http2);
}

/* ---- the keys, once: the rule tables and config_known_keys ---- */

#define ONCE     false
#define REPEATED true

#define GLOBAL_KEYS(X) \
    X(global, workers, ONCE) \
    X(global, user, ONCE) \
    X(global, group, ONCE) \
    X(global, log, ONCE) \
    X(global, log_level, ONCE) \
    X(global, max_connections, ONCE) \
    X(global, max_handshakes, ONCE) \
    X(global, drain_timeout, ONCE) \
    X(global, ktls, ONCE) \
    X(global, log_access, ONCE)

#define ADMIN_KEYS(X) \
    X(admin, listen, ONCE) \
    X(admin, allow_public, ONCE)

#define FRONTEND_KEYS(X) \
    X(frontend, listen, REPEATED) \
    X(frontend, cert, REPEATED) \
    X(frontend, sni_strict, ONCE) \
    X(frontend, tls_versions, ONCE) \
    X(frontend, ciphers, ONCE) \
    X(frontend, groups, ONCE) \
    X(frontend, alpn, ONCE) \
    X(frontend, handshake_timeout, ONCE) \
    X(frontend, idle_timeout, ONCE) \
    X(frontend, client_verify, ONCE) \
    X(frontend, client_ca, ONCE) \
    X(frontend, backend, ONCE) \
    X(frontend, route, REPEATED) \
    X(frontend, error_page, ONCE) \
    X(frontend, reply_linger, ONCE) \
    X(frontend, session_tickets, ONCE) \
    X(frontend, ticket_lifetime, ONCE) \
    X(frontend, tls13_tickets, ONCE) \
    X(frontend, ticket_key_file, ONCE)

#define BACKEND_KEYS(X) \
    X(backend, address, ONCE) \
    X(backend, connect_timeout, ONCE) \
    X(backend, proxy_protocol, ONCE) \
    X(backend, http2, ONCE)

#define KEY_RULE(section, key, repeatable) { #key, set_##section##_##key, repeatable },
#define KEY_NAME(section, key, repeatable) #section "." #key,

static const struct key_rule global_rules[] = { GLOBAL_KEYS(KEY_RULE) };
static const struct key_rule frontend_rules[] = { FRONTEND_KEYS(KEY_RULE) };
static const struct key_rule backend_rules[] = { BACKEND_KEYS(KEY_RULE) };
static const struct key_rule admin_rules[] = { ADMIN_KEYS(KEY_RULE) };

#define RULES(table) { table, sizeof table / sizeof table[0] }
static const struct section_rules section_rules[] = {
    [SECTION_GLOBAL] = RULES(global_rules),
    [SECTION_FRONTEND] = RULES(frontend_rules),
    [SECTION_BACKEND] = RULES(backend_rules),
    [SECTION_ADMIN] = RULES(admin_rules),
};

_Static_assert(sizeof frontend_rules / sizeof frontend_rules[0] <= MAX_SECTION_KEYS
               && sizeof global_rules / sizeof global_rules[0] <= MAX_SECTION_KEYS
               && sizeof backend_rules / sizeof backend_rules[0] <= MAX_SECTION_KEYS
               && sizeof admin_rules / sizeof admin_rules[0] <= MAX_SECTION_KEYS,
               "MAX_SECTION_KEYS too small");

const char *const config_known_keys[] = {
    GLOBAL_KEYS(KEY_NAME) FRONTEND_KEYS(KEY_NAME) BACKEND_KEYS(KEY_NAME) ADMIN_KEYS(KEY_NAME) NULL
};

const char *
config_cipher_name(enum kp_cipher c)
{
    if ((unsigned)c >= KP_CIPHER_COUNT)
        return "unknown";
    return ciphers[c].name;
}

key_setter
config_parser_setter(enum section_kind kind, const char *key)
{
    const struct section_rules *sec = &section_rules[kind];

    for (size_t i = 0; i < sec->n_rules; i++)
        if (strcmp(sec->rules[i].name, key) == 0)
            return sec->rules[i].set;
    return NULL;
}

/* ---- sections ---- */

static bool
check_section_name(struct parser *p, const char *kind, const char *name)
{
    if (name[0] == '\0')
        return fail(p, "[%s] needs a name: [%s NAME]", kind, kind);
    if (name[strspn(name, NAME_CHARS)] != '\0')
        return fail(p, "bad %s name '%s' (allowed characters: a-z A-Z 0-9 _ . -)", kind, name);
    return true;
}

static void
begin_section(struct parser *p, enum section_kind kind)
{
    p->section = kind;
    memset(p->key_lines, 0, sizeof p->key_lines);
}

static bool
open_global(struct parser *p, const char *name)
{
    if (name[0] != '\0')
        return fail(p, "[global] takes no name");
    if (p->global_line)
        return fail(p, "duplicate section [global] (first at line %d)", p->global_line);
    p->global_line = p->line;
    begin_section(p, SECTION_GLOBAL);
    return true;
}

bool
open_frontend(struct parser *p, const char *name)
{
    struct kp_config *cfg = p->cfg;
    struct kp_frontend *fe;

    if (!check_section_name(p, "frontend", name))
        return false;
    for (size_t i = 0; i < cfg->n_frontends; i++) {
        if (strcmp(cfg->frontends[i].name, name) == 0)
            return fail(p, "duplicate frontend '%s' (first at line %d)", name,
                        cfg->frontends[i].line);
    }
    if (!(fe = grow(p, cfg->frontends, cfg->n_frontends, sizeof *fe)))
        return false;
    cfg->frontends = fe;
    p->frontend = cfg->n_frontends++;
    fe = current_frontend(p);
    fe->line = p->line;
    fe->tls_versions = KP_TLS12 | KP_TLS13;
    memcpy(fe->ciphers, default_ciphers, sizeof default_ciphers);
    fe->n_ciphers = sizeof default_ciphers / sizeof default_ciphers[0];
    memcpy(fe->groups, default_groups, sizeof default_groups);
    fe->n_groups = sizeof default_groups / sizeof default_groups[0];
    fe->handshake_timeout_ms = 10 * 1000;
    fe->idle_timeout_ms = 300 * 1000;
    fe->reply_linger_ms = 2 * 1000;
    fe->client_verify = KP_VERIFY_NONE;
    fe->session_tickets = true;
    fe->ticket_lifetime_s = DEFAULT_TICKET_LIFETIME_S;
    fe->tls13_tickets = DEFAULT_TLS13_TICKETS;
    begin_section(p, SECTION_FRONTEND);
    return (fe->name = dup_str(p, name)) != NULL;
}

bool
open_backend(struct parser *p, const char *name)
{
    struct kp_config *cfg = p->cfg;
    struct kp_backend *be;

    if (!check_section_name(p, "backend", name))
        return false;
    for (size_t i = 0; i < cfg->n_backends; i++) {
        if (strcmp(cfg->backends[i].name, name) == 0)
            return fail(p, "duplicate backend '%s' (first at line %d)", name,
                        cfg->backends[i].line);
    }
    if (!(be = grow(p, cfg->backends, cfg->n_backends, sizeof *be)))
        return false;
    cfg->backends = be;
    p->backend = cfg->n_backends++;
    be = current_backend(p);
    be->line = p->line;
    be->connect_timeout_ms = 5 * 1000;
    be->proxy_protocol = KP_PROXY_OFF;
    begin_section(p, SECTION_BACKEND);
    return (be->name = dup_str(p, name)) != NULL;
}

static bool
open_admin(struct parser *p, const char *name)
{
    if (name[0] != '\0')
        return fail(p, "[admin] takes no name");
    if (p->cfg->admin.line)
        return fail(p, "duplicate section [admin] (first at line %d)", p->cfg->admin.line);
    p->cfg->admin.line = p->line;
    begin_section(p, SECTION_ADMIN);
    return true;
}

static bool
has_default_backend(const struct parser *p, size_t frontend)
{
    for (size_t i = 0; i < p->n_refs; i++) {
        if (p->refs[i].frontend == frontend && p->refs[i].route == NO_ROUTE)
            return true;
    }
    return false;
}

static bool
alpn_offered(const struct kp_frontend *fe, const char *proto)
{
    for (size_t i = 0; i < fe->n_alpn; i++) {
        if (strcmp(fe->alpn[i], proto) == 0)
            return true;
    }
    return false;
}

/* What a frontend needs, checked once its section is complete. */
static bool
check_frontend(struct parser *p)
{
    struct kp_frontend *fe = current_frontend(p);

    if (fe->n_listen == 0)
        return fail_at(p, fe->line, "frontend '%s' has no listen address "
                       "(add listen = ADDR:PORT)", fe->name);
    if (fe->n_certs == 0)
        return fail_at(p, fe->line, "frontend '%s' has no certificate "
                       "(add cert = CHAIN_FILE [KEY_FILE])", fe->name);
    if (fe->client_verify != KP_VERIFY_NONE && !fe->client_ca)
        return fail_at(p, fe->line, "frontend '%s' verifies clients but has no client_ca "
                       "(add client_ca = FILE or set client_verify = none)", fe->name);
    if (!has_default_backend(p, p->frontend) && fe->n_routes == 0)
        return fail_at(p, fe->line, "frontend '%s' has neither a backend nor a route "
                       "(add backend = NAME)", fe->name);
    for (size_t i = 0; i < fe->n_routes; i++) {
        const char *proto = fe->routes[i].alpn;
        if (proto && !alpn_offered(fe, proto))
            return fail_at(p, fe->routes[i].line, "route with alpn:%s can never match: "
                           "frontend '%s' does not offer '%s' in its alpn list",
                           proto, fe->name, proto);
    }
    return true;
}

static bool
check_backend(struct parser *p)
{
    struct kp_backend *be = current_backend(p);

    if (be->addr.len == 0)
        return fail_at(p, be->line, "backend '%s' has no address "
                       "(add address = ADDR:PORT or unix:/PATH)", be->name);
    return true;
}

static bool
close_section(struct parser *p)
{
    switch (p->section) {
    case SECTION_FRONTEND:
        return check_frontend(p);
    case SECTION_BACKEND:
        return check_backend(p);
    case SECTION_ADMIN:
        return check_admin(p);
    case SECTION_NONE:
    case SECTION_GLOBAL:
        break;
    }
    return true;
}

/* "[TYPE NAME]" at the start of line; a header without ']' is inih's syntax error. */
static void
section_header(struct parser *p, const char *line)
{
    const char *close = strchr(line, ']');
    char *text, *type_end, *name;
    size_t len;

    if (!close || !close_section(p))
        return;
    if (!(text = strndup(line + 1, (size_t)(close - line - 1)))) {
        fail(p, "out of memory");
        return;
    }
    for (len = strlen(text); len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'); len--)
        text[len - 1] = '\0';
    name = text + strspn(text, WORD_SEPARATORS);
    type_end = name + strcspn(name, WORD_SEPARATORS);
    len = (size_t)(type_end - name);
    if (len == 6 && strncmp(name, "global", len) == 0)
        open_global(p, type_end + strspn(type_end, WORD_SEPARATORS));
    else if (len == 8 && strncmp(name, "frontend", len) == 0)
        open_frontend(p, type_end + strspn(type_end, WORD_SEPARATORS));
    else if (len == 7 && strncmp(name, "backend", len) == 0)
        open_backend(p, type_end + strspn(type_end, WORD_SEPARATORS));
    else if (len == 5 && strncmp(name, "admin", len) == 0)
        open_admin(p, type_end + strspn(type_end, WORD_SEPARATORS));
    else
        fail(p, "unknown section [%s] (allowed: %s)", name, SECTIONS);
    free(text);
}

/* ---- inih callbacks ---- */

/* inih's fgets-like reader over p->buf; see the comment at the top. */
static char *
read_line(char *str, int num, void *stream)
{
    struct parser *p = stream;
    const char *start = p->buf + p->pos;
    const char *newline;
    size_t n;

    if (p->failed || p->pos >= p->len)
        return NULL;
    newline = memchr(start, '\n', p->len - p->pos);
    n = newline ? (size_t)(newline - start) + 1 : p->len - p->pos;
    p->pos += n;
    p->line++;
    if (p->line == 1 && n >= 3 && memcmp(start, "\xef\xbb\xbf", 3) == 0) {
        start += 3;     /* UTF-8 byte order mark */
        n -= 3;
    }
    for (; n > 0 && (*start == ' ' || *start == '\t'); n--)
        start++;
    if (memchr(start, '\0', n)) {
        fail(p, "NUL byte in line");
        return NULL;
    }
    if (n >= (size_t)num) {
        fail(p, "line too long (at most %d characters)", num - 2);
        return NULL;
    }
    memcpy(str, start, n);
    str[n] = '\0';
    if (str[0] == '[')
        section_header(p, str);
    return p->failed ? NULL : str;
}

static const char *
section_title(struct parser *p, char *buf, size_t len)
{
    switch (p->section) {
    case SECTION_FRONTEND:
        snprintf(buf, len, "[frontend %s]", current_frontend(p)->name);
        break;
    case SECTION_BACKEND:
        snprintf(buf, len, "[backend %s]", current_backend(p)->name);
        break;
    case SECTION_ADMIN:
        snprintf(buf, len, "[admin]");
        break;
    case SECTION_GLOBAL:
    case SECTION_NONE:
        snprintf(buf, len, "[global]");
        break;
    }
    return buf;
}

static void
unknown_key(struct parser *p, const char *key, const struct section_rules *sec)
{
    char title[128], allowed[512];
    size_t used = 0;

    allowed[0] = '\0';
    for (size_t i = 0; i < sec->n_rules; i++) {
        int n = snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "",
                         sec->rules[i].name);
        if (n > 0 && (size_t)n < sizeof allowed - used)
            used += (size_t)n;
    }
    fail(p, "unknown key '%s' in %s (allowed: %s)", key, section_title(p, title, sizeof title),
         allowed);
}

static void
set_key(struct parser *p, const char *key, const char *value)
{
    const struct section_rules *sec;
    size_t i;

    if (p->section == SECTION_NONE) {
        fail(p, "key '%s' outside of any section (allowed sections: %s)", key, SECTIONS);
        return;
    }
    sec = &section_rules[p->section];
    for (i = 0; i < sec->n_rules; i++)
        if (strcmp(sec->rules[i].name, key) == 0)
            break;
    if (i == sec->n_rules) {
        unknown_key(p, key, sec);
        return;
    }
    if (!sec->rules[i].repeatable && p->key_lines[i]) {
        fail(p, "duplicate key '%s' (first set at line %d)", key, p->key_lines[i]);
        return;
    }
    p->key_lines[i] = p->line;
    p->key = key;
    if (value[0] == '\0')
        fail(p, "missing value for %s", key);
    else
        sec->rules[i].set(p, value);
}

static int
handle_pair(void *user, const char *section, const char *key, const char *value)
{
    struct parser *p = user;

    (void)section;  /* read_line() keeps track of sections */
    set_key(p, key, value);
    return !p->failed;
}

/* ---- putting it together ---- */

static bool
resolve_backend_ref(struct parser *p, const struct backend_ref *ref)
{
    struct kp_frontend *fe = &p->cfg->frontends[ref->frontend];
    struct kp_backend *be = NULL;
    const char *route_alpn;

    for (size_t i = 0; i < p->cfg->n_backends && !be; i++) {
        if (strcmp(p->cfg->backends[i].name, ref->name) == 0)
            be = &p->cfg->backends[i];
    }
    if (!be)
        return fail_at(p, ref->line, "backend '%s' is not defined", ref->name);
    if (ref->route == NO_ROUTE) {
        if (be->http2 && !(fe->n_alpn == 1 && strcmp(fe->alpn[0], "h2") == 0))
            return fail_at(p, ref->line, "backend '%s' speaks only HTTP/2 (http2 = yes), so it "
                           "cannot be the default backend of frontend '%s', whose clients may "
                           "not negotiate h2 (use route = alpn:h2 %s, or alpn = h2)",
                           be->name, fe->name, be->name);
        fe->backend = be;
        return true;
    }
    route_alpn = fe->routes[ref->route].alpn;
    if (be->http2 && !(route_alpn && strcmp(route_alpn, "h2") == 0))
        return fail_at(p, ref->line, "backend '%s' speaks only HTTP/2 (http2 = yes), so a route "
                       "to it needs alpn:h2", be->name);
    fe->routes[ref->route].backend = be;
    return true;
}

/* Checks that need the whole configuration. */
void
config_parser_finish(struct parser *p)
{
    if (!close_section(p))
        return;
    if (p->cfg->n_frontends == 0) {
        fail_at(p, 0, "no frontend defined (add a [frontend NAME] section)");
        return;
    }
    for (size_t i = 0; i < p->n_refs; i++) {
        if (!resolve_backend_ref(p, &p->refs[i]))
            return;
    }
}

/* The parser's own allocations go; the config only if the parse failed. */
struct kp_config *
config_parser_done(struct parser *p)
{
    for (size_t i = 0; i < p->n_refs; i++)
        free(p->refs[i].name);
    free(p->refs);
    if (p->failed) {
        config_free(p->cfg);
        return NULL;
    }
    return p->cfg;
}

static unsigned
default_workers(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    if (cpus < 1)
        return 1;
    return cpus > MAX_WORKERS ? MAX_WORKERS : (unsigned)cpus;
}

bool
config_parser_start(struct parser *p, const char *file)
{
    struct kp_config *cfg = calloc(1, sizeof *cfg);

    if (!cfg || !(cfg->file = strdup(file))) {
        free(cfg);
        snprintf(p->err, p->errlen, "%s: out of memory", file);
        return false;
    }
    cfg->workers = default_workers();
    cfg->log_target = KP_LOG_AUTO;
    cfg->log_level = KP_LOG_INFO;
    cfg->max_connections = DEFAULT_CONNECTIONS;
    cfg->max_handshakes = DEFAULT_HANDSHAKES;
    cfg->drain_timeout_ms = DEFAULT_DRAIN_MS;
    cfg->ktls = KP_KTLS_AUTO;
    p->cfg = cfg;
    return true;
}

struct kp_config *
config_load_buffer(const char *name, const char *buf, size_t len, char *err, size_t errlen)
{
    struct parser p = { .file = name, .buf = buf, .len = len, .err = err, .errlen = errlen };
    int ret;

    if (!config_parser_start(&p, name))
        return NULL;
    ret = ini_parse_stream(read_line, &p, handle_pair, &p);
    if (ret > 0 && (!p.failed || ret < p.failed_at)) {
        p.failed = false;   /* the syntax error came first */
        fail_at(&p, ret, "syntax error (expected [SECTION], key = value or a comment)");
    } else if (ret < 0) {
        fail(&p, "out of memory");
    }
    if (!p.failed)
        config_parser_finish(&p);
    return config_parser_done(&p);
}

static char *
read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL, *bigger;
    size_t size = 0, used = 0;

    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    do {
        if (used == size) {
            size = size ? size * 2 : 8192;
            if (!(bigger = realloc(buf, size))) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            buf = bigger;
        }
        used += fread(buf + used, 1, size - used, f);
    } while (!feof(f) && !ferror(f));
    if (ferror(f)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    *len = used;
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

struct kp_config *
config_load_file(const char *path, char *err, size_t errlen)
{
    struct kp_config *cfg;
    size_t len;
    char *text = read_file(path, &len, err, errlen);

    if (!text)
        return NULL;
    cfg = config_load_buffer(path, text, len, err, errlen);
    free(text);
    return cfg;
}

void
config_free(struct kp_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_frontends; i++) {
        struct kp_frontend *fe = &cfg->frontends[i];
        for (size_t c = 0; c < fe->n_certs; c++) {
            free(fe->certs[c].cert_file);
            free(fe->certs[c].key_file);
        }
        for (size_t r = 0; r < fe->n_routes; r++) {
            free(fe->routes[r].sni);
            free(fe->routes[r].alpn);
        }
        free(fe->name);
        free(fe->listen);
        free(fe->certs);
        free(fe->routes);
        free(fe->client_ca);
        free(fe->error_page);
        free(fe->ticket_key_file);
    }
    for (size_t i = 0; i < cfg->n_backends; i++)
        free(cfg->backends[i].name);
    free(cfg->frontends);
    free(cfg->backends);
    free(cfg->user);
    free(cfg->group);
    free(cfg->file);
    free(cfg);
}
