/*
 * test_config.c - ktlsproxy.ini(5) and the command line mode: every key,
 * every default, every error message, and that the manual and the example
 * configuration agree with the parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

/* A frontend that needs only a backend, and that backend. */
#define FRONTEND "[frontend web]\nlisten = *:443\ncert = @D@/cert.pem\n"
#define BACKEND  "[backend app]\naddress = 127.0.0.1:8080\n"
#define MINIMAL  FRONTEND "backend = app\n" BACKEND
#define H2C      "[backend h2c]\naddress = 127.0.0.1:8081\nhttp2 = yes\n"
#define ADDR_EXAMPLES "(e.g. 192.0.2.1:443, *:443, [::]:443)"

static char tmpdir[64] = "/tmp/test_config.XXXXXX";
static char err[2048];

/* ---- fixtures and helpers ---- */

static void
write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static char *
path_in_tmpdir(const char *name)
{
    static char path[256];

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static int
make_tmpdir(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    write_file(path_in_tmpdir("cert.pem"), "any readable file will do\n");
    write_file(path_in_tmpdir("key.pem"), "key\n");
    write_file(path_in_tmpdir("ca.pem"), "ca\n");
    write_file(path_in_tmpdir("error.http"), "HTTP/1.1 503 Service Unavailable\r\n\r\n");
    return mkdir(path_in_tmpdir("etc"), 0700);
}

static int
remove_tmpdir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd);
}

/* text with every occurrence of from replaced by to; the caller frees it. */
static char *
replace_all(const char *text, const char *from, const char *to)
{
    size_t from_len = strlen(from), to_len = strlen(to), n = 0;
    const char *s;
    char *out, *o;

    for (s = text; (s = strstr(s, from)); s += from_len)
        n++;
    out = malloc(strlen(text) + n * to_len + 1);
    assert_non_null(out);
    for (o = out, s = text; *s;) {
        if (strncmp(s, from, from_len) == 0) {
            memcpy(o, to, to_len);
            o += to_len;
            s += from_len;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    return out;
}

static struct kp_config *
load(const char *text)
{
    char *expanded = replace_all(text, "@D@", tmpdir);
    struct kp_config *cfg;

    err[0] = '\0';
    cfg = config_load_buffer("test.ini", expanded, strlen(expanded), err, sizeof err);
    free(expanded);
    return cfg;
}

static struct kp_config *
load_ok(const char *text)
{
    struct kp_config *cfg = load(text);

    if (!cfg)
        print_error("unexpected error: %s\n", err);
    assert_non_null(cfg);
    return cfg;
}

/* The error must begin with expected ("@D@" expanded), on one line. */
static void
assert_error_starts(const char *expected)
{
    char *want = replace_all(expected, "@D@", tmpdir);
    bool match = strncmp(err, want, strlen(want)) == 0;

    if (!match)
        print_error("expected: %s\n     got: %s\n", want, err);
    free(want);
    assert_true(match);
    assert_null(strchr(err, '\n'));
}

static void
assert_load_error(const char *text, const char *expected)
{
    struct kp_config *cfg = load(text);

    if (cfg)
        print_error("no error, expected: %s\n", expected);
    assert_null(cfg);
    assert_error_starts(expected);
}

static uint16_t
addr_port(const struct kp_addr *a)
{
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

static const char *
addr_host(const struct kp_addr *a, char *buf, size_t len)
{
    if (a->ss.ss_family == AF_INET6)
        return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, buf,
                         (socklen_t)len);
    return inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, buf,
                     (socklen_t)len);
}

static const char *
user_name(void)
{
    struct passwd *pw = getpwuid(0);  /* exists everywhere, unlike our own uid in a container */

    assert_non_null(pw);
    return pw->pw_name;
}

static const char *
group_name(void)
{
    struct group *gr = getgrgid(0);

    assert_non_null(gr);
    return gr->gr_name;
}

static char *
read_text(const char *relative)
{
    const char *top = getenv("top_srcdir");
    char path[1024];
    FILE *f;
    char *text;
    long len;

    snprintf(path, sizeof path, "%s/%s", top ? top : ".", relative);
    f = fopen(path, "r");
    if (!f)
        print_error("cannot open %s\n", path);
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len > 0);
    rewind(f);
    text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return text;
}

/* ---- defaults ---- */

static void
test_defaults(void **state)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct kp_config *cfg;
    const struct kp_frontend *fe;
    const struct kp_backend *be;
    char host[64];

    (void)state;
    cfg = load_ok(MINIMAL);
    assert_string_equal(cfg->file, "test.ini");
    assert_int_equal(cfg->workers, cpus < 1 ? 1 : cpus > 256 ? 256 : cpus);
    assert_null(cfg->user);
    assert_null(cfg->group);
    assert_int_equal(cfg->log_target, KP_LOG_AUTO);
    assert_int_equal(cfg->log_level, KP_LOG_INFO);
    assert_false(cfg->log_access);
    assert_int_equal(cfg->admin.line, 0);
    assert_int_equal(cfg->max_connections, 10000);
    assert_int_equal(cfg->max_handshakes, 1000);
    assert_int_equal(cfg->drain_timeout_ms, 30000);
    assert_int_equal(cfg->ktls, KP_KTLS_AUTO);

    assert_int_equal(cfg->n_frontends, 1);
    fe = &cfg->frontends[0];
    assert_string_equal(fe->name, "web");
    assert_int_equal(fe->line, 1);
    assert_int_equal(fe->n_listen, 1);
    assert_string_equal(fe->listen[0].text, "*:443");
    assert_int_equal(fe->listen[0].ss.ss_family, AF_INET);
    assert_int_equal(fe->listen[0].len, sizeof(struct sockaddr_in));
    assert_string_equal(addr_host(&fe->listen[0], host, sizeof host), "0.0.0.0");
    assert_int_equal(addr_port(&fe->listen[0]), 443);
    assert_int_equal(fe->n_certs, 1);
    assert_string_equal(fe->certs[0].cert_file, path_in_tmpdir("cert.pem"));
    assert_string_equal(fe->certs[0].key_file, path_in_tmpdir("cert.pem"));
    assert_int_equal(fe->certs[0].line, 3);
    assert_false(fe->sni_strict);
    assert_int_equal(fe->tls_versions, KP_TLS12 | KP_TLS13);
    assert_int_equal(fe->n_ciphers, 3);
    assert_int_equal(fe->ciphers[0], KP_AES_128_GCM);
    assert_int_equal(fe->ciphers[1], KP_AES_256_GCM);
    assert_int_equal(fe->ciphers[2], KP_CHACHA20_POLY1305);
    assert_int_equal(fe->n_groups, 3);
    assert_int_equal(fe->groups[0], 23);
    assert_int_equal(fe->groups[1], 29);
    assert_int_equal(fe->groups[2], 24);
    assert_int_equal(fe->n_alpn, 0);
    assert_int_equal(fe->handshake_timeout_ms, 10000);
    assert_int_equal(fe->idle_timeout_ms, 300000);
    assert_int_equal(fe->reply_linger_ms, 2000);
    assert_int_equal(fe->client_verify, KP_VERIFY_NONE);
    assert_null(fe->client_ca);
    assert_null(fe->error_page);
    assert_true(fe->session_tickets);
    assert_int_equal(fe->session_tickets_line, 0);
    assert_int_equal(fe->ticket_lifetime_s, 7200);
    assert_int_equal(fe->tls13_tickets, 1);
    assert_null(fe->ticket_key_file);
    assert_int_equal(fe->n_routes, 0);
    assert_ptr_equal(fe->backend, &cfg->backends[0]);

    assert_int_equal(cfg->n_backends, 1);
    be = &cfg->backends[0];
    assert_string_equal(be->name, "app");
    assert_int_equal(be->line, 5);
    assert_string_equal(be->addr.text, "127.0.0.1:8080");
    assert_string_equal(addr_host(&be->addr, host, sizeof host), "127.0.0.1");
    assert_int_equal(addr_port(&be->addr), 8080);
    assert_int_equal(be->connect_timeout_ms, 5000);
    assert_int_equal(be->proxy_protocol, KP_PROXY_OFF);
    assert_false(be->http2);
    config_free(cfg);
}

/* ---- every key with a value other than its default ---- */

static void
test_global_values(void **state)
{
    char text[1024];
    struct kp_config *cfg;

    (void)state;
    snprintf(text, sizeof text,
             "[global]\nworkers = 3\nuser = %s\ngroup = %s\nlog = syslog\n"
             "log_level = debug\nmax_connections = 5\nktls = required\n" MINIMAL,
             user_name(), group_name());
    cfg = load_ok(text);
    assert_int_equal(cfg->workers, 3);
    assert_string_equal(cfg->user, user_name());
    assert_string_equal(cfg->group, group_name());
    assert_int_equal(cfg->log_target, KP_LOG_SYSLOG);
    assert_int_equal(cfg->log_level, KP_LOG_DEBUG);
    assert_int_equal(cfg->max_connections, 5);
    assert_int_equal(cfg->ktls, KP_KTLS_REQUIRED);
    assert_int_equal(cfg->frontends[0].line, 9);
    config_free(cfg);
}

static void
test_global_limits(void **state)
{
    struct kp_config *cfg;

    (void)state;
    cfg = load_ok("[global]\nworkers = 256\nmax_connections = 1000000\nlog = stderr\n"
                  "ktls = auto\n" MINIMAL);
    assert_int_equal(cfg->workers, 256);
    assert_int_equal(cfg->max_connections, 1000000);
    assert_int_equal(cfg->log_target, KP_LOG_STDERR);
    assert_int_equal(cfg->ktls, KP_KTLS_AUTO);
    config_free(cfg);
    cfg = load_ok("[global]\nworkers = 1\nmax_connections = 1\n" MINIMAL);
    assert_int_equal(cfg->workers, 1);
    assert_int_equal(cfg->max_connections, 1);
    config_free(cfg);
    cfg = load_ok("[global]\nmax_handshakes = 7\ndrain_timeout = 0\n" MINIMAL);
    assert_int_equal(cfg->max_handshakes, 7);
    assert_int_equal(cfg->drain_timeout_ms, 0);
    config_free(cfg);
    cfg = load_ok("[global]\nmax_handshakes = 1000000\ndrain_timeout = 2m\n" MINIMAL);
    assert_int_equal(cfg->max_handshakes, 1000000);
    assert_int_equal(cfg->drain_timeout_ms, 120000);
    config_free(cfg);
    cfg = load_ok("[global]\nktls = off\n" MINIMAL);
    assert_int_equal(cfg->ktls, KP_KTLS_OFF);
    config_free(cfg);
}

static void
test_log_levels(void **state)
{
    static const struct { const char *name; enum kp_log_level level; } levels[] = {
        { "error", KP_LOG_ERR }, { "warning", KP_LOG_WARNING }, { "notice", KP_LOG_NOTICE },
        { "info", KP_LOG_INFO }, { "DEBUG", KP_LOG_DEBUG },
    };
    char text[512];

    (void)state;
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        snprintf(text, sizeof text, "[global]\nlog_level = %s\n" MINIMAL, levels[i].name);
        struct kp_config *cfg = load_ok(text);
        assert_int_equal(cfg->log_level, levels[i].level);
        config_free(cfg);
    }
}

static void
test_frontend_values(void **state)
{
    struct kp_config *cfg;
    const struct kp_frontend *fe;
    char host[64];

    (void)state;
    cfg = load_ok("[frontend web]\n"
                  "listen = 192.0.2.1:443\n"
                  "listen = [::1]:8443\n"
                  "listen = [::]:443\n"
                  "cert = @D@/cert.pem @D@/key.pem\n"
                  "cert = @D@/key.pem\n"
                  "sni_strict = yes\n"
                  "tls_versions = 1.3\n"
                  "ciphers = chacha20-poly1305, AES-256-GCM\n"
                  "groups = secp521r1,x448 x25519\n"
                  "alpn = h2,http/1.1\n"
                  "handshake_timeout = 500ms\n"
                  "idle_timeout = 2h\n"
                  "client_verify = required\n"
                  "client_ca = @D@/ca.pem\n"
                  "route = sni:WWW.Example.COM alpn:http/1.1 other\n"
                  "route = sni:*.example.org app\n"
                  "route = alpn:h2 app\n"
                  "backend = other\n"
                  "error_page = @D@/error.http\n"
                  "session_tickets = yes\n"
                  "ticket_lifetime = 10m\n"
                  "tls13_tickets = 8\n"
                  "ticket_key_file = @D@/key.pem\n"
                  "reply_linger = 250ms\n"
                  BACKEND
                  "[backend other]\naddress = 127.0.0.1:9000\n");
    fe = &cfg->frontends[0];
    assert_int_equal(fe->n_listen, 3);
    assert_string_equal(fe->listen[0].text, "192.0.2.1:443");
    assert_string_equal(addr_host(&fe->listen[0], host, sizeof host), "192.0.2.1");
    assert_int_equal(fe->listen[1].ss.ss_family, AF_INET6);
    assert_int_equal(fe->listen[1].len, sizeof(struct sockaddr_in6));
    assert_string_equal(addr_host(&fe->listen[1], host, sizeof host), "::1");
    assert_int_equal(addr_port(&fe->listen[1]), 8443);
    assert_string_equal(addr_host(&fe->listen[2], host, sizeof host), "::");
    assert_int_equal(fe->n_certs, 2);
    assert_string_equal(fe->certs[0].cert_file, path_in_tmpdir("cert.pem"));
    assert_string_equal(fe->certs[0].key_file, path_in_tmpdir("key.pem"));
    assert_int_equal(fe->certs[0].line, 5);
    assert_string_equal(fe->certs[1].cert_file, path_in_tmpdir("key.pem"));
    assert_string_equal(fe->certs[1].key_file, path_in_tmpdir("key.pem"));
    assert_int_equal(fe->certs[1].line, 6);
    assert_true(fe->sni_strict);
    assert_int_equal(fe->tls_versions, KP_TLS13);
    assert_int_equal(fe->n_ciphers, 2);
    assert_int_equal(fe->ciphers[0], KP_CHACHA20_POLY1305);
    assert_int_equal(fe->ciphers[1], KP_AES_256_GCM);
    assert_int_equal(fe->n_groups, 3);
    assert_int_equal(fe->groups[0], 25);
    assert_int_equal(fe->groups[1], 30);
    assert_int_equal(fe->groups[2], 29);
    assert_int_equal(fe->n_alpn, 2);
    assert_string_equal(fe->alpn[0], "h2");
    assert_string_equal(fe->alpn[1], "http/1.1");
    assert_int_equal(fe->handshake_timeout_ms, 500);
    assert_int_equal(fe->idle_timeout_ms, 2 * 3600 * 1000);
    assert_int_equal(fe->reply_linger_ms, 250);
    assert_int_equal(fe->client_verify, KP_VERIFY_REQUIRED);
    assert_string_equal(fe->client_ca, path_in_tmpdir("ca.pem"));
    assert_int_equal(fe->n_routes, 3);
    assert_string_equal(fe->routes[0].sni, "www.example.com");
    assert_string_equal(fe->routes[0].alpn, "http/1.1");
    assert_string_equal(fe->routes[0].backend->name, "other");
    assert_int_equal(fe->routes[0].line, 16);
    assert_string_equal(fe->routes[1].sni, "*.example.org");
    assert_null(fe->routes[1].alpn);
    assert_ptr_equal(fe->routes[1].backend, &cfg->backends[0]);
    assert_null(fe->routes[2].sni);
    assert_string_equal(fe->routes[2].alpn, "h2");
    assert_ptr_equal(fe->routes[2].backend, &cfg->backends[0]);
    assert_ptr_equal(fe->backend, &cfg->backends[1]);
    assert_string_equal(fe->error_page, path_in_tmpdir("error.http"));
    assert_true(fe->session_tickets);
    assert_int_equal(fe->session_tickets_line, 21);
    assert_int_equal(fe->ticket_lifetime_s, 600);
    assert_int_equal(fe->tls13_tickets, 8);
    assert_string_equal(fe->ticket_key_file, path_in_tmpdir("key.pem"));
    assert_int_equal(fe->ticket_key_file_line, 24);
    config_free(cfg);
}

static void
test_frontend_keyword_values(void **state)
{
    struct kp_config *cfg;

    (void)state;
    cfg = load_ok(FRONTEND "sni_strict = no\ntls_versions = 1.2\nclient_verify = optional\n"
                  "client_ca = @D@/ca.pem\nbackend = app\n" BACKEND);
    assert_false(cfg->frontends[0].sni_strict);
    assert_int_equal(cfg->frontends[0].tls_versions, KP_TLS12);
    assert_int_equal(cfg->frontends[0].client_verify, KP_VERIFY_OPTIONAL);
    config_free(cfg);
    cfg = load_ok(FRONTEND "client_verify = none\nbackend = app\n" BACKEND);
    assert_int_equal(cfg->frontends[0].client_verify, KP_VERIFY_NONE);
    config_free(cfg);
}

static void
test_backend_values(void **state)
{
    struct kp_config *cfg;
    const struct kp_backend *be;
    const struct sockaddr_un *sun;
    char host[64];

    (void)state;
    cfg = load_ok(FRONTEND "alpn = h2\nroute = alpn:h2 h2c\nbackend = app\n"
                  "[backend app]\naddress = unix:/run/app.sock\nconnect_timeout = 1m\n"
                  "proxy_protocol = v2\nhttp2 = no\n"
                  "[backend h2c]\naddress = [::1]:9000\nproxy_protocol = v1\nhttp2 = yes\n");
    be = &cfg->backends[0];
    sun = (const struct sockaddr_un *)&be->addr.ss;
    assert_int_equal(sun->sun_family, AF_UNIX);
    assert_string_equal(sun->sun_path, "/run/app.sock");
    assert_int_equal(be->addr.len, offsetof(struct sockaddr_un, sun_path) + sizeof "/run/app.sock");
    assert_string_equal(be->addr.text, "unix:/run/app.sock");
    assert_int_equal(be->connect_timeout_ms, 60000);
    assert_int_equal(be->proxy_protocol, KP_PROXY_V2);
    assert_false(be->http2);
    be = &cfg->backends[1];
    assert_string_equal(addr_host(&be->addr, host, sizeof host), "::1");
    assert_int_equal(addr_port(&be->addr), 9000);
    assert_int_equal(be->proxy_protocol, KP_PROXY_V1);
    assert_true(be->http2);
    assert_ptr_equal(cfg->frontends[0].routes[0].backend, be);
    config_free(cfg);
    cfg = load_ok(FRONTEND "backend = app\n[backend app]\naddress = 127.0.0.1:1\n"
                  "proxy_protocol = off\n");
    assert_int_equal(cfg->backends[0].proxy_protocol, KP_PROXY_OFF);
    config_free(cfg);
}

/* A backend with http2 = yes may be the default of a frontend offering only h2. */
static void
test_http2_default_backend_with_h2_only(void **state)
{
    struct kp_config *cfg;

    (void)state;
    cfg = load_ok(FRONTEND "alpn = h2\nbackend = h2c\n" H2C);
    assert_true(cfg->frontends[0].backend->http2);
    config_free(cfg);
}

/* Routes alone, with no default backend; backends and alpn named before they appear. */
static void
test_routes_only_and_forward_references(void **state)
{
    struct kp_config *cfg;

    (void)state;
    cfg = load_ok(FRONTEND "route = alpn:h2 h2c\nroute = sni:a.example.com app\nalpn = h2\n"
                  H2C BACKEND);
    assert_null(cfg->frontends[0].backend);
    assert_string_equal(cfg->frontends[0].routes[0].backend->name, "h2c");
    assert_string_equal(cfg->frontends[0].routes[1].backend->name, "app");
    config_free(cfg);
}

static void
test_two_frontends(void **state)
{
    struct kp_config *cfg;

    (void)state;
    cfg = load_ok(MINIMAL "[frontend web2]\nlisten = [::]:443\ncert = @D@/cert.pem\n"
                  "backend = app2\nroute = sni:a.example app\n"
                  "[backend app2]\naddress = 127.0.0.1:2\n");
    assert_int_equal(cfg->n_frontends, 2);
    assert_int_equal(cfg->n_backends, 2);
    assert_string_equal(cfg->frontends[1].name, "web2");
    assert_ptr_equal(cfg->frontends[0].backend, &cfg->backends[0]);
    assert_ptr_equal(cfg->frontends[1].backend, &cfg->backends[1]);
    assert_ptr_equal(cfg->frontends[1].routes[0].backend, &cfg->backends[0]);
    config_free(cfg);
}

static void
test_durations(void **state)
{
    static const struct { const char *text; unsigned ms; } ok[] = {
        { "10", 10000 }, { "1ms", 1 }, { "250ms", 250 }, { "3s", 3000 }, { "2m", 120000 },
        { "24h", 86400000 }, { "86400000ms", 86400000 }, { "1440m", 86400000 }, { "007s", 7000 },
    };
    static const char *const bad[] = {
        "0", "0s", "0ms", "25h", "86400001ms", "86401", "10 s", "-1", "+1", "1d", "s", "1.5s",
        "10S", "99999999999999999999", "1sm",
    };
    char text[512], expected[512];

    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(text, sizeof text, FRONTEND "idle_timeout = %s\nbackend = app\n" BACKEND,
                 ok[i].text);
        struct kp_config *cfg = load_ok(text);
        assert_int_equal(cfg->frontends[0].idle_timeout_ms, ok[i].ms);
        config_free(cfg);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, FRONTEND "idle_timeout = %s\nbackend = app\n" BACKEND,
                 bad[i]);
        snprintf(expected, sizeof expected, "test.ini:4: bad duration '%s' for idle_timeout "
                 "(allowed: a positive integer with unit ms, s, m or h, seconds if none, "
                 "at most 24h)", bad[i]);
        assert_load_error(text, expected);
        assert_string_equal(err, expected);
    }
}

/* ---- the file format ---- */

/* Indented lines are ordinary lines, not continuations of the one before. */
static void
test_indented_repeated_keys(void **state)
{
    struct kp_config *cfg;

    (void)state;
    cfg = load_ok("[frontend web]\n  listen = *:443\n  listen = [::]:443\n"
                  "\tcert = @D@/cert.pem\n    cert = @D@/cert.pem @D@/key.pem\n"
                  "  backend = app\n" BACKEND);
    assert_int_equal(cfg->frontends[0].n_listen, 2);
    assert_string_equal(cfg->frontends[0].listen[1].text, "[::]:443");
    assert_int_equal(cfg->frontends[0].n_certs, 2);
    assert_string_equal(cfg->frontends[0].certs[1].key_file, path_in_tmpdir("key.pem"));
    config_free(cfg);
}

static void
test_comments_blank_lines_crlf_bom(void **state)
{
    struct kp_config *cfg;

    (void)state;
    cfg = load_ok("\xef\xbb\xbf; comment\r\n# comment\r\n\r\n   ; indented comment\n"
                  "[frontend web] ; the frontend\r\n"
                  "listen = *:443 ; inline\r\n"
                  "cert = @D@/cert.pem\r\n"
                  "backend = app\r\n"
                  "[backend app]\r\n"
                  "address = 127.0.0.1:8080\r\n"
                  "proxy_protocol = v1");
    assert_int_equal(cfg->frontends[0].line, 5);
    assert_string_equal(cfg->frontends[0].listen[0].text, "*:443");
    assert_int_equal(cfg->backends[0].line, 9);
    assert_int_equal(cfg->backends[0].proxy_protocol, KP_PROXY_V1);
    config_free(cfg);
    /* The line numbers of errors count comments and blank lines. */
    assert_load_error("; one\n\n# three\n[global]\n\n  ; six\nworkers = 0\n",
                      "test.ini:7: bad value '0' for workers (allowed: 1 to 256)");
    /* A BOM in front of the first section header. */
    cfg = load_ok("\xef\xbb\xbf" MINIMAL);
    config_free(cfg);
}

/* ---- errors in one key ---- */

struct key_error {
    const char *section;    /* where the line goes: global, frontend or backend */
    const char *line;
    int at;                 /* the line the error must name */
    const char *message;
};

#define ALLOWED_GROUPS "(allowed: x25519, secp256r1, secp384r1, secp521r1, x448)"
#define ALLOWED_CIPHERS "(allowed: AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305)"
#define ROUTE_SYNTAX "route = [sni:NAME] [alpn:PROTO] BACKEND"
#define BAD_HOST \
    "' in route (allowed: a name like www.example.com or a wildcard like *.example.com)"
#define NO_DNS ": host names are not resolved, use an IP address literal " ADDR_EXAMPLES

static const struct key_error key_errors[] = {
    { "global", "workers = 0", 2, "bad value '0' for workers (allowed: 1 to 256)" },
    { "global", "workers = 257", 2, "bad value '257' for workers (allowed: 1 to 256)" },
    { "global", "workers = four", 2, "bad value 'four' for workers (allowed: 1 to 256)" },
    { "global", "workers = -1", 2, "bad value '-1' for workers (allowed: 1 to 256)" },
    { "global", "workers = +2", 2, "bad value '+2' for workers (allowed: 1 to 256)" },
    { "global", "workers = 99999999999999999999", 2,
      "bad value '99999999999999999999' for workers (allowed: 1 to 256)" },
    { "global", "workers =", 2, "missing value for workers" },
    { "global", "workers = 2\nworkers = 3", 3, "duplicate key 'workers' (first set at line 2)" },
    { "global", "max_connections = 0", 2,
      "bad value '0' for max_connections (allowed: 1 to 1000000)" },
    { "global", "max_connections = 1000001", 2,
      "bad value '1000001' for max_connections (allowed: 1 to 1000000)" },
    { "global", "max_handshakes = 0", 2,
      "bad value '0' for max_handshakes (allowed: 1 to 1000000)" },
    { "global", "max_handshakes = many", 2,
      "bad value 'many' for max_handshakes (allowed: 1 to 1000000)" },
    { "global", "drain_timeout = -1", 2, "bad duration '-1' for drain_timeout" },
    { "global", "drain_timeout = 25h", 2, "bad duration '25h' for drain_timeout" },
    { "global", "drain_timeout = 0s", 2, "bad duration '0s' for drain_timeout" },
    { "global", "log = file", 2, "bad value 'file' for log (allowed: auto, stderr, syslog)" },
    { "global", "log_access = sometimes", 2,
      "bad value 'sometimes' for log_access (allowed: yes, no)" },
    { "global", "log_level = verbose", 2,
      "bad value 'verbose' for log_level (allowed: error, warning, notice, info, debug)" },
    { "global", "ktls = on", 2, "bad value 'on' for ktls (allowed: auto, required, off)" },
    { "global", "user = no-such-user-ktlsproxy", 2,
      "user 'no-such-user-ktlsproxy' does not exist" },
    { "global", "group = no-such-group-ktlsproxy", 2,
      "group 'no-such-group-ktlsproxy' does not exist" },
    { "global", "listen = *:443", 2, "unknown key 'listen' in [global] (allowed: workers, user, "
      "group, log, log_level, max_connections, max_handshakes, drain_timeout, ktls, log_access)" },

    { "frontend", "listne = *:443", 4, "unknown key 'listne' in [frontend web] (allowed: listen, "
      "cert, sni_strict, tls_versions, ciphers, groups, alpn, handshake_timeout, idle_timeout, "
      "client_verify, client_ca, backend, route, error_page, reply_linger, session_tickets, "
      "ticket_lifetime, tls13_tickets, ticket_key_file)" },
    { "frontend", "Listen = *:80", 4, "unknown key 'Listen' in [frontend web]" },
    { "frontend", "reply_linger = 0", 4, "bad duration '0' for reply_linger" },
    { "frontend", "listen =", 4, "missing value for listen" },
    { "frontend", "listen = localhost:443", 4,
      "bad value 'localhost:443' for listen: 'localhost' is not an IP address" NO_DNS },
    { "frontend", "listen = unix:/run/x.sock", 4, "bad value 'unix:/run/x.sock' for listen: "
      "unix sockets are not allowed here " ADDR_EXAMPLES },
    { "frontend", "listen = *:443", 4, "listen address '*:443' is already used by frontend 'web'" },
    { "frontend", "listen = 0.0.0.0:443", 4,
      "listen address '0.0.0.0:443' is already used by frontend 'web'" },
    { "frontend", "cert = @D@/missing.pem", 4,
      "cannot open certificate file '@D@/missing.pem': No such file or directory" },
    { "frontend", "cert = @D@/cert.pem @D@/missing.key", 4,
      "cannot open key file '@D@/missing.key': No such file or directory" },
    { "frontend", "cert = @D@/cert.pem @D@/key.pem @D@/ca.pem", 4,
      "too many files for cert (allowed: CHAIN_FILE [KEY_FILE])" },
    { "frontend", "cert = @D@/etc", 4, "certificate file '@D@/etc' is not a regular file" },
    { "frontend", "sni_strict = maybe", 4, "bad value 'maybe' for sni_strict (allowed: yes, no)" },
    { "frontend", "sni_strict = yes\nsni_strict = no", 5,
      "duplicate key 'sni_strict' (first set at line 4)" },
    { "frontend", "tls_versions = 1.1", 4, "bad value '1.1' in tls_versions: TLS versions below "
      "1.2 are not supported (allowed: 1.2, 1.3)" },
    { "frontend", "tls_versions = 1.0 1.2", 4, "bad value '1.0' in tls_versions: TLS versions "
      "below 1.2 are not supported (allowed: 1.2, 1.3)" },
    { "frontend", "tls_versions = 1.2 1.4", 4,
      "bad value '1.4' in tls_versions (allowed: 1.2, 1.3)" },
    { "frontend", "tls_versions = 1.2, 1.2", 4, "'1.2' is listed twice in tls_versions" },
    { "frontend", "tls_versions = , ,", 4, "missing value for tls_versions" },
    { "frontend", "ciphers = AES-128-GCM RC4", 4, "bad value 'RC4' in ciphers " ALLOWED_CIPHERS },
    { "frontend", "ciphers = aes-128-gcm AES-128-GCM", 4,
      "'AES-128-GCM' is listed twice in ciphers" },
    { "frontend", "groups = ffdhe2048", 4, "bad value 'ffdhe2048' in groups: finite field groups "
      "are not supported, only ECDHE " ALLOWED_GROUPS },
    { "frontend", "groups = x25519 prime256v1", 4,
      "bad value 'prime256v1' in groups " ALLOWED_GROUPS },
    { "frontend", "alpn = h2 h2", 4, "'h2' is listed twice in alpn" },
    { "frontend", "alpn = ,", 4, "missing value for alpn" },
    { "frontend", "alpn = h2 0123456789abcdef0123456789abcdef", 4,
      "ALPN protocol name '0123456789abcdef0123456789abcdef' is too long (at most 31 bytes)" },
    { "frontend", "alpn = h\xc3\xa9", 4, "bad ALPN protocol name 'h\xc3\xa9' (allowed: printable "
      "ASCII without spaces or commas)" },
    { "frontend", "alpn = a b c d e f g h i", 4, "too many ALPN protocols (at most 8)" },
    { "frontend", "handshake_timeout = 0", 4, "bad duration '0' for handshake_timeout" },
    { "frontend", "client_verify = always", 4,
      "bad value 'always' for client_verify (allowed: none, optional, required)" },
    { "frontend", "client_ca = @D@/missing.pem", 4,
      "cannot open client_ca file '@D@/missing.pem': No such file or directory" },
    { "frontend", "error_page = @D@/missing.http", 4,
      "cannot open error_page file '@D@/missing.http': No such file or directory" },
    { "frontend", "session_tickets = on", 4,
      "bad value 'on' for session_tickets (allowed: yes, no)" },
    { "frontend", "ticket_lifetime = 0", 4, "bad duration '0' for ticket_lifetime" },
    { "frontend", "ticket_lifetime = 25h", 4, "bad duration '25h' for ticket_lifetime" },
    { "frontend", "ticket_lifetime = 1500ms", 4,
      "bad value '1500ms' for ticket_lifetime (allowed: whole seconds, 1s to 24h)" },
    { "frontend", "tls13_tickets = 9", 4, "bad value '9' for tls13_tickets (allowed: 0 to 8)" },
    { "frontend", "tls13_tickets = -1", 4, "bad value '-1' for tls13_tickets (allowed: 0 to 8)" },
    { "frontend", "ticket_key_file = @D@/missing.keys", 4,
      "cannot open ticket key file '@D@/missing.keys': No such file or directory" },
    { "frontend", "backend = app", 5, "duplicate key 'backend' (first set at line 4)" },
    { "frontend", "route = sni:a.example.com", 4,
      "route without a backend name (" ROUTE_SYNTAX ")" },
    { "frontend", "route = app", 4, "route to 'app' needs sni:NAME or alpn:PROTO (" ROUTE_SYNTAX
      "; for all other clients use backend = app)" },
    { "frontend", "route = sni:a.com sni:b.com app", 4, "sni: given twice in route" },
    { "frontend", "route = alpn:h2 alpn:h2 app", 4, "alpn: given twice in route" },
    { "frontend", "route = alpn: app", 4, "empty ALPN protocol name in route" },
    { "frontend", "route = alpn:0123456789abcdef0123456789abcdef app", 4,
      "ALPN protocol name '0123456789abcdef0123456789abcdef' is too long (at most 31 bytes)" },
    { "frontend", "route = sni:a.com app extra", 4,
      "unexpected 'extra' after the backend name (" ROUTE_SYNTAX ")" },
    { "frontend", "route = host:a.com app", 4,
      "unknown route condition 'host:a.com' (allowed: sni:NAME, alpn:PROTO)" },
    { "frontend", "route = sni: app", 4, "bad host name '" BAD_HOST },
    { "frontend", "route = sni:bad_name.com app", 4, "bad host name 'bad_name.com" BAD_HOST },
    { "frontend", "route = sni:*.* app", 4, "bad host name '*.*" BAD_HOST },
    { "frontend", "route = sni:* app", 4, "bad host name '*" BAD_HOST },
    { "frontend", "route = sni:www.*.com app", 4, "bad host name 'www.*.com" BAD_HOST },
    { "frontend", "route = sni:-a.com app", 4, "bad host name '-a.com" BAD_HOST },
    { "frontend", "route = sni:a-.com app", 4, "bad host name 'a-.com" BAD_HOST },
    { "frontend", "route = sni:a..com app", 4, "bad host name 'a..com" BAD_HOST },
    { "frontend", "route = sni:example.com. app", 4, "bad host name 'example.com." BAD_HOST },
    { "frontend", "route = sni:a234567890123456789012345678901234567890123456789012345678901234"
      ".com app", 4, "bad host name 'a2345678901234567890123456789012345678901234567890123456789"
      "01234.com" BAD_HOST },
    { "frontend", "route = alpn:h3 app", 4, "route with alpn:h3 can never match: frontend 'web' "
      "does not offer 'h3' in its alpn list" },

    { "backend", "address = localhost:8080", 8,
      "bad value 'localhost:8080' for address: 'localhost' is not an IP address" NO_DNS },
    { "backend", "address = unix:run/app.sock", 8,
      "bad value 'unix:run/app.sock' for address: the unix socket path must be absolute" },
    { "backend", "address = 127.0.0.1", 8,
      "bad value '127.0.0.1' for address: missing ':PORT' " ADDR_EXAMPLES },
    { "backend", "address = 127.0.0.1:0", 8,
      "bad value '127.0.0.1:0' for address: bad port '0' (allowed: 1 to 65535)" },
    { "backend", "address = ::1:80", 8, "bad value '::1:80' for address: an IPv6 address must "
      "be in brackets, e.g. [::1]:443" },
    { "backend", "connect_timeout = 5x", 8, "bad duration '5x' for connect_timeout" },
    { "backend", "proxy_protocol = v3", 8,
      "bad value 'v3' for proxy_protocol (allowed: off, v1, v2)" },
    { "backend", "http2 = maybe", 8, "bad value 'maybe' for http2 (allowed: yes, no)" },
    { "backend", "http2 = yes\nhttp2 = no", 9, "duplicate key 'http2' (first set at line 8)" },
    { "backend", "listen = *:1", 8, "unknown key 'listen' in [backend other] (allowed: address, "
      "connect_timeout, proxy_protocol, http2)" },
};

static void
test_key_errors(void **state)
{
    char text[1024], expected[1024];

    (void)state;
    for (size_t i = 0; i < sizeof key_errors / sizeof key_errors[0]; i++) {
        const struct key_error *e = &key_errors[i];
        if (strcmp(e->section, "global") == 0)
            snprintf(text, sizeof text, "[global]\n%s\n" MINIMAL, e->line);
        else if (strcmp(e->section, "frontend") == 0)
            snprintf(text, sizeof text, FRONTEND "%s\nbackend = app\n" BACKEND, e->line);
        else
            snprintf(text, sizeof text, MINIMAL "[backend other]\n%s\n", e->line);
        snprintf(expected, sizeof expected, "test.ini:%d: %s", e->at, e->message);
        assert_load_error(text, expected);
    }
}

/* ---- [admin] and log_access ---- */

static void
test_admin_and_access_log(void **state)
{
    struct kp_config *cfg;

    (void)state;
    cfg = load_ok("[global]\nlog = auto\nlog_access = yes\n\n[admin]\nlisten = 127.0.0.1:9443\n"
                  MINIMAL);
    assert_int_equal(cfg->log_target, KP_LOG_AUTO);
    assert_true(cfg->log_access);
    assert_int_equal(cfg->admin.line, 5);
    assert_string_equal(cfg->admin.listen.text, "127.0.0.1:9443");
    assert_false(cfg->admin.allow_public);
    config_free(cfg);
    cfg = load_ok("[admin]\nlisten = [::1]:9443\n" MINIMAL);
    assert_string_equal(cfg->admin.listen.text, "[::1]:9443");
    config_free(cfg);
    cfg = load_ok("[admin]\nlisten = unix:/run/ktlsproxy/admin.sock\n" MINIMAL);
    assert_string_equal(cfg->admin.listen.text, "unix:/run/ktlsproxy/admin.sock");
    config_free(cfg);
    cfg = load_ok("[admin]\nlisten = 192.0.2.1:9443\nallow_public = yes\n" MINIMAL);
    assert_true(cfg->admin.allow_public);
    config_free(cfg);
}

/* ---- errors about sections and the file as a whole ---- */

struct file_error {
    const char *text;
    const char *message;
};

static const struct file_error file_errors[] = {
    { "", "test.ini: no frontend defined (add a [frontend NAME] section)" },
    { "[global]\nworkers = 2\n" BACKEND,
      "test.ini: no frontend defined (add a [frontend NAME] section)" },
    { "workers = 2\n[global]\n", "test.ini:1: key 'workers' outside of any section "
      "(allowed sections: [global], [frontend NAME], [backend NAME], [admin])" },
    { "[frontnd]\n", "test.ini:1: unknown section [frontnd] "
      "(allowed: [global], [frontend NAME], [backend NAME], [admin])" },
    { "[global]\n[frontnd web]\n", "test.ini:2: unknown section [frontnd web] "
      "(allowed: [global], [frontend NAME], [backend NAME], [admin])" },
    { "[frontend]\n", "test.ini:1: [frontend] needs a name: [frontend NAME]" },
    { "[ backend ]\n", "test.ini:1: [backend] needs a name: [backend NAME]" },
    { "[frontend a b]\n",
      "test.ini:1: bad frontend name 'a b' (allowed characters: a-z A-Z 0-9 _ . -)" },
    { MINIMAL "[backend x/y]\n",
      "test.ini:7: bad backend name 'x/y' (allowed characters: a-z A-Z 0-9 _ . -)" },
    { "[global x]\n", "test.ini:1: [global] takes no name" },
    { "[global]\n" MINIMAL "[global]\n",
      "test.ini:8: duplicate section [global] (first at line 1)" },
    { MINIMAL "[frontend web]\n", "test.ini:7: duplicate frontend 'web' (first at line 1)" },
    { MINIMAL "[backend app]\n", "test.ini:7: duplicate backend 'app' (first at line 5)" },
    { "[frontend web]\ncert = @D@/cert.pem\nbackend = app\n" BACKEND,
      "test.ini:1: frontend 'web' has no listen address (add listen = ADDR:PORT)" },
    { BACKEND "[frontend web]\ncert = @D@/cert.pem\nbackend = app\n",
      "test.ini:3: frontend 'web' has no listen address (add listen = ADDR:PORT)" },
    { "[frontend web]\nlisten = *:443\nbackend = app\n" BACKEND,
      "test.ini:1: frontend 'web' has no certificate (add cert = CHAIN_FILE [KEY_FILE])" },
    { FRONTEND BACKEND, "test.ini:1: frontend 'web' has neither a backend nor a route "
      "(add backend = NAME)" },
    { FRONTEND "client_verify = optional\nbackend = app\n" BACKEND,
      "test.ini:1: frontend 'web' verifies clients but has no client_ca "
      "(add client_ca = FILE or set client_verify = none)" },
    { FRONTEND "route = alpn:h2 app\nalpn = http/1.1\nbackend = app\n" BACKEND,
      "test.ini:4: route with alpn:h2 can never match: frontend 'web' does not offer 'h2' "
      "in its alpn list" },
    { FRONTEND "backend = app\n[backend app]\nconnect_timeout = 1s\n",
      "test.ini:5: backend 'app' has no address (add address = ADDR:PORT or unix:/PATH)" },
    { FRONTEND "backend = nope\n" BACKEND, "test.ini:4: backend 'nope' is not defined" },
    { FRONTEND "route = sni:a.com nope\nbackend = app\n" BACKEND,
      "test.ini:4: backend 'nope' is not defined" },
    { FRONTEND "backend = h2c\n" H2C, "test.ini:4: backend 'h2c' speaks only HTTP/2 (http2 = yes), "
      "so it cannot be the default backend of frontend 'web', whose clients may not negotiate "
      "h2 (use route = alpn:h2 h2c, or alpn = h2)" },
    { FRONTEND "alpn = h2 http/1.1\nbackend = h2c\n" H2C,
      "test.ini:5: backend 'h2c' speaks only HTTP/2 (http2 = yes), so it cannot be the default "
      "backend of frontend 'web'" },
    { FRONTEND "route = sni:a.com h2c\nbackend = app\n" BACKEND H2C,
      "test.ini:4: backend 'h2c' speaks only HTTP/2 (http2 = yes), so a route to it needs "
      "alpn:h2" },
    { FRONTEND "alpn = h2 http/1.1\nroute = alpn:http/1.1 h2c\nbackend = app\n" BACKEND H2C,
      "test.ini:5: backend 'h2c' speaks only HTTP/2 (http2 = yes), so a route to it needs "
      "alpn:h2" },
    { FRONTEND "listen\nbackend = app\n" BACKEND,
      "test.ini:4: syntax error (expected [SECTION], key = value or a comment)" },
    { "[frontend web\n", "test.ini:1: syntax error" },
    /* The syntax error on line 2 comes before the missing listen found on line 3. */
    { "[frontend web]\nbogus line\n" BACKEND, "test.ini:2: syntax error" },
    { "[global]\nworkers = 2\n  [frontend web\nworkers = 0\n", "test.ini:3: syntax error" },
    { "[global]\nworkers = 0\nbogus\n", "test.ini:2: bad value '0' for workers" },
    { FRONTEND "error_page = @D@/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", "test.ini:4: line too long (at most 198 characters)" },
    { BACKEND "[frontend listen]\nlisten = [::1]:443\ncert = @D@/cert.pem\nbackend = app\n"
      "[frontend other]\nlisten = [::1]:443\n",
      "test.ini:8: listen address '[::1]:443' is already used by frontend 'listen'" },
    /* [admin] */
    { "[admin]\n" MINIMAL, "test.ini:1: [admin] needs listen = 127.0.0.1:PORT or unix:/PATH" },
    { "[admin]\nlisten = *:9443\n" MINIMAL, "test.ini:1: [admin] listen = *:9443 is not a "
      "loopback address (set allow_public = yes to serve metrics there)" },
    { "[admin]\nlisten = [::]:9443\nallow_public = no\n" MINIMAL, "test.ini:1: [admin] listen = "
      "[::]:9443 is not a loopback address (set allow_public = yes to serve metrics there)" },
    { "[admin]\nlisten = localhost:9443\n" MINIMAL, "test.ini:2: bad value 'localhost:9443' "
      "for listen: 'localhost' is not an IP address" },
    { "[admin]\nallow_public = perhaps\n" MINIMAL,
      "test.ini:2: bad value 'perhaps' for allow_public (allowed: yes, no)" },
    { "[admin]\nlisten = 127.0.0.1:1\nlisten = 127.0.0.1:2\n" MINIMAL,
      "test.ini:3: duplicate key 'listen' (first set at line 2)" },
    { "[admin]\nlisten = 127.0.0.1:1\n[admin]\n" MINIMAL,
      "test.ini:3: duplicate section [admin] (first at line 1)" },
    { "[admin x]\nlisten = 127.0.0.1:1\n" MINIMAL, "test.ini:1: [admin] takes no name" },
    { "[admin]\nport = 1\n" MINIMAL,
      "test.ini:2: unknown key 'port' in [admin] (allowed: listen, allow_public)" },
};

static void
test_file_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof file_errors / sizeof file_errors[0]; i++)
        assert_load_error(file_errors[i].text, file_errors[i].message);
}

static void
test_nul_byte(void **state)
{
    static const char text[] = "[global]\nwor\0kers = 2\n";

    (void)state;
    assert_null(config_load_buffer("test.ini", text, sizeof text - 1, err, sizeof err));
    assert_string_equal(err, "test.ini:2: NUL byte in line");
}

/* The buffer need not end in NUL: only len bytes are read. */
static void
test_buffer_is_not_read_past_len(void **state)
{
    static const char text[] = "[global]\nworkers = 2\n[bogus]\n";
    struct kp_config *cfg;

    (void)state;
    /* Cut before "[bogus]" and in the middle of "workers = 2" */
    assert_null(config_load_buffer("test.ini", text, strlen("[global]\nworkers = 2"), err,
                                   sizeof err));
    assert_string_equal(err, "test.ini: no frontend defined (add a [frontend NAME] section)");
    cfg = config_load_buffer("test.ini", text, strlen("[global]\nwork"), err, sizeof err);
    assert_null(cfg);
    assert_string_equal(err, "test.ini:2: syntax error (expected [SECTION], key = value or a "
                        "comment)");
}

static void
test_small_error_buffer(void **state)
{
    char small[12];

    (void)state;
    assert_null(config_load_buffer("test.ini", "[frontnd]\n", 10, small, sizeof small));
    assert_string_equal(small, "test.ini:1:");
    assert_null(config_load_buffer("test.ini", "[frontnd]\n", 10, NULL, 0));
}

/* ---- config_load_file ---- */

static void
test_load_file(void **state)
{
    char *path = strdup(path_in_tmpdir("good.ini")), *text;
    struct kp_config *cfg;
    char expected[512];

    (void)state;
    text = replace_all(MINIMAL, "@D@", tmpdir);
    write_file(path, text);
    free(text);
    cfg = config_load_file(path, err, sizeof err);
    if (!cfg)
        print_error("%s\n", err);
    assert_non_null(cfg);
    assert_string_equal(cfg->file, path);
    assert_string_equal(cfg->frontends[0].name, "web");
    config_free(cfg);

    write_file(path, "[global]\n\nworkers = 0\n");
    assert_null(config_load_file(path, err, sizeof err));
    snprintf(expected, sizeof expected, "%s:3: bad value '0' for workers (allowed: 1 to 256)",
             path);
    assert_string_equal(err, expected);
    free(path);
}

static void
test_load_file_missing(void **state)
{
    (void)state;
    assert_null(config_load_file("/nonexistent/ktlsproxy.ini", err, sizeof err));
    assert_string_equal(err, "/nonexistent/ktlsproxy.ini: cannot open: No such file or directory");
}

static void
test_load_file_directory(void **state)
{
    char expected[256];

    (void)state;
    assert_null(config_load_file(tmpdir, err, sizeof err));
    snprintf(expected, sizeof expected, "%s: cannot read: Is a directory", tmpdir);
    assert_string_equal(err, expected);
}

/* ---- command line mode ---- */

static void
test_cli_all_options(void **state)
{
    char cert[256], key[256];
    struct kp_cli cli = {
        .listen = "[::]:8443", .backend = "unix:/run/app.sock", .cert = cert, .key = key,
        .alpn = "h2,http/1.1", .proxy_protocol = "v2", .ktls = "required", .workers = "2",
        .log_level = "debug",
    };
    struct kp_config *cfg;
    const struct kp_frontend *fe;

    (void)state;
    snprintf(cert, sizeof cert, "%s", path_in_tmpdir("cert.pem"));
    snprintf(key, sizeof key, "%s", path_in_tmpdir("key.pem"));
    cli.user = user_name();
    cli.group = group_name();
    cfg = config_from_cli(&cli, err, sizeof err);
    if (!cfg)
        print_error("%s\n", err);
    assert_non_null(cfg);
    assert_string_equal(cfg->file, "command line");
    assert_int_equal(cfg->workers, 2);
    assert_string_equal(cfg->user, user_name());
    assert_string_equal(cfg->group, group_name());
    assert_int_equal(cfg->log_level, KP_LOG_DEBUG);
    assert_int_equal(cfg->ktls, KP_KTLS_REQUIRED);
    assert_int_equal(cfg->n_frontends, 1);
    assert_int_equal(cfg->n_backends, 1);
    fe = &cfg->frontends[0];
    assert_string_equal(fe->name, "default");
    assert_int_equal(fe->n_listen, 1);
    assert_int_equal(fe->listen[0].ss.ss_family, AF_INET6);
    assert_int_equal(addr_port(&fe->listen[0]), 8443);
    assert_int_equal(fe->n_certs, 1);
    assert_string_equal(fe->certs[0].cert_file, cert);
    assert_string_equal(fe->certs[0].key_file, key);
    assert_int_equal(fe->n_alpn, 2);
    assert_string_equal(fe->alpn[0], "h2");
    assert_string_equal(fe->alpn[1], "http/1.1");
    assert_int_equal(fe->tls_versions, KP_TLS12 | KP_TLS13);
    assert_int_equal(fe->n_routes, 0);
    assert_ptr_equal(fe->backend, &cfg->backends[0]);
    assert_string_equal(cfg->backends[0].name, "default");
    assert_int_equal(cfg->backends[0].addr.ss.ss_family, AF_UNIX);
    assert_int_equal(cfg->backends[0].proxy_protocol, KP_PROXY_V2);
    assert_int_equal(cfg->backends[0].connect_timeout_ms, 5000);
    assert_false(cfg->backends[0].http2);
    config_free(cfg);
}

static void
test_cli_minimal(void **state)
{
    char cert[256];
    struct kp_cli cli = { .listen = "*:443", .backend = "127.0.0.1:80", .cert = cert };
    struct kp_config *cfg;

    (void)state;
    snprintf(cert, sizeof cert, "%s", path_in_tmpdir("cert.pem"));
    cfg = config_from_cli(&cli, err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(cfg->frontends[0].certs[0].key_file, cert);
    assert_int_equal(cfg->frontends[0].n_alpn, 0);
    assert_int_equal(cfg->backends[0].proxy_protocol, KP_PROXY_OFF);
    assert_int_equal(cfg->ktls, KP_KTLS_AUTO);
    assert_int_equal(cfg->log_level, KP_LOG_INFO);
    assert_null(cfg->user);
    config_free(cfg);
}

static void
test_cli_missing_options(void **state)
{
    struct kp_cli cli = { .listen = "*:443", .backend = "127.0.0.1:80", .cert = "/x.pem" };
    struct kp_cli no_listen = cli, no_backend = cli, no_cert = cli;

    (void)state;
    no_listen.listen = NULL;
    no_backend.backend = NULL;
    no_cert.cert = NULL;
    assert_null(config_from_cli(&no_listen, err, sizeof err));
    assert_string_equal(err, "command line: --listen: missing (required: --listen, --backend "
                        "and --cert)");
    assert_null(config_from_cli(&no_backend, err, sizeof err));
    assert_string_equal(err, "command line: --backend: missing (required: --listen, --backend "
                        "and --cert)");
    assert_null(config_from_cli(&no_cert, err, sizeof err));
    assert_string_equal(err, "command line: --cert: missing (required: --listen, --backend "
                        "and --cert)");
}

static void
test_cli_bad_values(void **state)
{
    static const struct { const char *field; const char *value; const char *message; } cases[] = {
        { "listen", "localhost:443", "command line: --listen: bad value 'localhost:443' for "
          "listen: 'localhost' is not an IP address" },
        { "listen", "unix:/run/x", "command line: --listen: bad value 'unix:/run/x' for listen: "
          "unix sockets are not allowed here" },
        { "backend", "127.0.0.1", "command line: --backend: bad value '127.0.0.1' for backend: "
          "missing ':PORT'" },
        { "cert", "@D@/missing.pem", "command line: --cert: cannot open certificate file "
          "'@D@/missing.pem': No such file or directory" },
        { "key", "@D@/missing.key", "command line: --key: cannot open key file "
          "'@D@/missing.key': No such file or directory" },
        { "alpn", "h2,h2", "command line: --alpn: 'h2' is listed twice in alpn" },
        { "proxy_protocol", "v3", "command line: --proxy-protocol: bad value 'v3' for "
          "proxy_protocol (allowed: off, v1, v2)" },
        { "ktls", "maybe", "command line: --ktls: bad value 'maybe' for ktls (allowed: auto, "
          "required, off)" },
        { "workers", "0", "command line: --workers: bad value '0' for workers (allowed: 1 to "
          "256)" },
        { "user", "no-such-user-ktlsproxy", "command line: --user: user 'no-such-user-ktlsproxy' "
          "does not exist" },
        { "group", "no-such-group-ktlsproxy", "command line: --group: group "
          "'no-such-group-ktlsproxy' does not exist" },
        { "log_level", "loud", "command line: --log-level: bad value 'loud' for log_level "
          "(allowed: error, warning, notice, info, debug)" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *value = replace_all(cases[i].value, "@D@", tmpdir);
        char cert[256];
        struct kp_cli cli = { .listen = "*:443", .backend = "127.0.0.1:80", .cert = cert };
        const char **field =
            strcmp(cases[i].field, "listen") == 0 ? &cli.listen
            : strcmp(cases[i].field, "backend") == 0 ? &cli.backend
            : strcmp(cases[i].field, "cert") == 0 ? &cli.cert
            : strcmp(cases[i].field, "key") == 0 ? &cli.key
            : strcmp(cases[i].field, "alpn") == 0 ? &cli.alpn
            : strcmp(cases[i].field, "proxy_protocol") == 0 ? &cli.proxy_protocol
            : strcmp(cases[i].field, "ktls") == 0 ? &cli.ktls
            : strcmp(cases[i].field, "workers") == 0 ? &cli.workers
            : strcmp(cases[i].field, "user") == 0 ? &cli.user
            : strcmp(cases[i].field, "group") == 0 ? &cli.group
            : &cli.log_level;

        snprintf(cert, sizeof cert, "%s", path_in_tmpdir("cert.pem"));
        *field = value;
        assert_null(config_from_cli(&cli, err, sizeof err));
        assert_error_starts(cases[i].message);
        free(value);
    }
}

/* ---- config_parse_addr ---- */

static void
test_parse_addr_good(void **state)
{
    static const struct {
        const char *text;
        int family;
        const char *host;
        uint16_t port;
    } cases[] = {
        { "1.2.3.4:443", AF_INET, "1.2.3.4", 443 },
        { "*:443", AF_INET, "0.0.0.0", 443 },
        { "0.0.0.0:1", AF_INET, "0.0.0.0", 1 },
        { "[::]:443", AF_INET6, "::", 443 },
        { "[::1]:8443", AF_INET6, "::1", 8443 },
        { "[2001:db8::1]:65535", AF_INET6, "2001:db8::1", 65535 },
        { "[::ffff:192.0.2.1]:80", AF_INET6, "::ffff:192.0.2.1", 80 },
    };
    struct kp_addr addr;
    char host[64];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!config_parse_addr(cases[i].text, &addr, false, err, sizeof err))
            print_error("%s: %s\n", cases[i].text, err);
        assert_true(config_parse_addr(cases[i].text, &addr, false, err, sizeof err));
        assert_int_equal(addr.ss.ss_family, cases[i].family);
        assert_int_equal(addr.len, cases[i].family == AF_INET ? sizeof(struct sockaddr_in)
                                                                : sizeof(struct sockaddr_in6));
        assert_string_equal(addr_host(&addr, host, sizeof host), cases[i].host);
        assert_int_equal(addr_port(&addr), cases[i].port);
        assert_string_equal(addr.text, cases[i].text);
    }
}

static void
test_parse_addr_unix(void **state)
{
    char longest[128] = "unix:/", too_long[128] = "unix:/";
    struct kp_addr addr;
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&addr.ss;

    (void)state;
    assert_true(config_parse_addr("unix:/run/ktlsproxy/app.sock", &addr, true, err, sizeof err));
    assert_int_equal(sun->sun_family, AF_UNIX);
    assert_string_equal(sun->sun_path, "/run/ktlsproxy/app.sock");
    assert_int_equal(addr.len, offsetof(struct sockaddr_un, sun_path) + 24);
    assert_string_equal(addr.text, "unix:/run/ktlsproxy/app.sock");

    assert_false(config_parse_addr("unix:/run/app.sock", &addr, false, err, sizeof err));
    assert_string_equal(err, "unix sockets are not allowed here " ADDR_EXAMPLES);
    assert_false(config_parse_addr("unix:app.sock", &addr, true, err, sizeof err));
    assert_string_equal(err, "the unix socket path must be absolute");
    assert_false(config_parse_addr("unix:", &addr, true, err, sizeof err));
    assert_string_equal(err, "the unix socket path must be absolute");

    /* sun_path holds 107 bytes and the NUL. */
    memset(longest + 6, 'a', sizeof sun->sun_path - 2);
    memset(too_long + 6, 'a', sizeof sun->sun_path - 1);
    assert_true(config_parse_addr(longest, &addr, true, err, sizeof err));
    assert_false(config_parse_addr(too_long, &addr, true, err, sizeof err));
    assert_string_equal(err, "the unix socket path is too long (at most 107 bytes)");
}

static void
test_parse_addr_bad(void **state)
{
    static const struct { const char *text; const char *message; } cases[] = {
        { "localhost:8080", "'localhost' is not an IP address: host names are not resolved, "
          "use an IP address literal " ADDR_EXAMPLES },
        { "1.2.3:80", "'1.2.3' is not an IP address" },
        { "1.2.3.4", "missing ':PORT' " ADDR_EXAMPLES },
        { ":443", "missing address before ':PORT' " ADDR_EXAMPLES },
        { "1.2.3.4:", "bad port '' (allowed: 1 to 65535)" },
        { "1.2.3.4:0", "bad port '0' (allowed: 1 to 65535)" },
        { "1.2.3.4:65536", "bad port '65536' (allowed: 1 to 65535)" },
        { "1.2.3.4:44x", "bad port '44x' (allowed: 1 to 65535)" },
        { "1.2.3.4:-1", "bad port '-1' (allowed: 1 to 65535)" },
        { "::1:443", "an IPv6 address must be in brackets, e.g. [::1]:443" },
        { "[::1]", "missing ':PORT' after ']'" },
        { "[::1]443", "missing ':PORT' after ']'" },
        { "[::1:443", "missing ']' after the IPv6 address" },
        { "[zz]:443", "'zz' is not an IPv6 address" },
        { "[1.2.3.4]:443", "'1.2.3.4' is not an IPv6 address" },
        { "[::1]:0", "bad port '0' (allowed: 1 to 65535)" },
        { "", "missing ':PORT' " ADDR_EXAMPLES },
        { "1.2.3.4:443 ", "bad port '443 ' (allowed: 1 to 65535)" },
    };
    char too_long[200];
    struct kp_addr addr;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&addr, 0x55, sizeof addr);
        if (config_parse_addr(cases[i].text, &addr, true, err, sizeof err))
            print_error("accepted: %s\n", cases[i].text);
        assert_false(config_parse_addr(cases[i].text, &addr, true, err, sizeof err));
        if (strncmp(err, cases[i].message, strlen(cases[i].message)) != 0)
            print_error("%s: expected: %s\n got: %s\n", cases[i].text, cases[i].message, err);
        assert_int_equal(strncmp(err, cases[i].message, strlen(cases[i].message)), 0);
        assert_int_equal(addr.len, 0);
    }
    memset(too_long, '1', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    assert_false(config_parse_addr(too_long, &addr, true, err, sizeof err));
    assert_string_equal(err, "the address is too long (at most 127 characters)");
}

/* ---- tables ---- */

static void
test_cipher_names(void **state)
{
    (void)state;
    config_free(NULL);  /* allowed, like free(NULL) */
    assert_string_equal(config_cipher_name(KP_AES_128_GCM), "AES-128-GCM");
    assert_string_equal(config_cipher_name(KP_AES_256_GCM), "AES-256-GCM");
    assert_string_equal(config_cipher_name(KP_CHACHA20_POLY1305), "CHACHA20-POLY1305");
    assert_string_equal(config_cipher_name(KP_CIPHER_COUNT), "unknown");
}

/* A set of "section.key" strings. */
struct key_set {
    char keys[64][128];
    size_t n;
};

static void
key_set_add(struct key_set *set, const char *section, const char *key)
{
    assert_true(set->n < sizeof set->keys / sizeof set->keys[0]);
    snprintf(set->keys[set->n++], sizeof set->keys[0], "%s.%s", section, key);
}

static bool
key_set_has(const struct key_set *set, const char *key)
{
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->keys[i], key) == 0)
            return true;
    }
    return false;
}

static bool
is_known_key(const char *key)
{
    for (const char *const *k = config_known_keys; *k; k++) {
        if (strcmp(*k, key) == 0)
            return true;
    }
    return false;
}

/* set and config_known_keys hold the same keys, each once. */
static void
assert_same_keys(const struct key_set *set, const char *what)
{
    size_t n_known = 0;

    for (const char *const *k = config_known_keys; *k; k++, n_known++) {
        if (!key_set_has(set, *k))
            print_error("%s lacks %s\n", what, *k);
        assert_true(key_set_has(set, *k));
    }
    for (size_t i = 0; i < set->n; i++) {
        if (!is_known_key(set->keys[i]))
            print_error("%s has %s, which the parser does not know\n", what, set->keys[i]);
        assert_true(is_known_key(set->keys[i]));
    }
    assert_int_equal(set->n, n_known);
}

/* The keys the parser lists in its unknown-key message are config_known_keys. */
static void
test_known_keys_match_parser(void **state)
{
    static const struct { const char *section; const char *text; } sections[] = {
        { "global", "[global]\nnope = 1\n" },
        { "frontend", "[frontend web]\nnope = 1\n" },
        { "backend", "[backend app]\nnope = 1\n" },
        { "admin", "[admin]\nnope = 1\n" },
    };
    struct key_set set = { .n = 0 };

    (void)state;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        char *list, *key, *save;
        assert_null(load(sections[i].text));
        list = strstr(err, "(allowed: ");
        assert_non_null(list);
        list += strlen("(allowed: ");
        assert_non_null(strchr(list, ')'));
        *strchr(list, ')') = '\0';
        for (key = strtok_r(list, ", ", &save); key; key = strtok_r(NULL, ", ", &save))
            key_set_add(&set, sections[i].section, key);
    }
    assert_same_keys(&set, "the parser's unknown key message");
}

/* Every key documented in ktlsproxy.ini(5), as ".It Ic key" in its section's list. */
static void
test_man_page_documents_every_key(void **state)
{
    char *text = read_text("man/ktlsproxy.ini.5"), *line, *save;
    const char *section = NULL;
    struct key_set set = { .n = 0 };
    char key[64];

    (void)state;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, ".Sh ", 4) == 0)
            section = NULL;
        else if (strncmp(line, ".Ss ", 4) == 0)
            section = strstr(line, "[global]") ? "global"
                      : strstr(line, "[frontend") ? "frontend"
                      : strstr(line, "[backend") ? "backend"
                      : strstr(line, "[admin]") ? "admin" : NULL;
        else if (section && sscanf(line, ".It Ic %63s", key) == 1)
            key_set_add(&set, section, key);
    }
    assert_same_keys(&set, "ktlsproxy.ini.5");
    free(text);
}

/* etc/ktlsproxy.ini shows every key in its section, commented out or not. */
static void
test_example_shows_every_key(void **state)
{
    char *text = read_text("etc/ktlsproxy.ini"), *line, *save;
    char section[32] = "", key[64], equals[2], full[128];
    struct key_set set = { .n = 0 };

    (void)state;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line += strspn(line, " \t;#");
        if (line[0] == '[') {
            assert_int_equal(sscanf(line, "[%31[a-z]", section), 1);
        } else if (section[0] && sscanf(line, "%63[a-z_0-9] %1[=]", key, equals) == 2) {
            snprintf(full, sizeof full, "%s.%s", section, key);
            if (!key_set_has(&set, full))
                key_set_add(&set, section, key);
        }
    }
    assert_same_keys(&set, "etc/ktlsproxy.ini");
    free(text);
}

/* etc/ktlsproxy.ini parses, once its /etc/ktlsproxy/ files are files that exist. */
static void
test_example_parses(void **state)
{
    char *text = read_text("etc/ktlsproxy.ini"), *local, *s, etc[128], path[256];
    struct kp_config *cfg;
    const struct kp_frontend *fe;

    (void)state;
    snprintf(etc, sizeof etc, "%s/etc/", tmpdir);
    local = replace_all(text, "/etc/ktlsproxy/", etc);
    for (s = local; (s = strstr(s, etc)); s += strlen(etc)) {
        assert_int_equal(sscanf(s, "%255[^ \t\r\n;]", path), 1);
        write_file(path, "");
    }
    cfg = config_load_buffer("ktlsproxy.ini", local, strlen(local), err, sizeof err);
    if (!cfg)
        print_error("%s\n", err);
    assert_non_null(cfg);
    assert_int_equal(cfg->n_frontends, 1);
    fe = &cfg->frontends[0];
    assert_int_equal(fe->n_listen, 2);
    assert_string_equal(fe->listen[0].text, "*:443");
    assert_string_equal(fe->listen[1].text, "[::]:443");
    assert_int_equal(fe->n_certs, 1);
    assert_int_equal(fe->n_alpn, 2);
    assert_string_equal(fe->alpn[0], "h2");
    assert_string_equal(fe->alpn[1], "http/1.1");
    assert_int_equal(fe->n_routes, 1);
    assert_string_equal(fe->routes[0].alpn, "h2");
    assert_true(fe->routes[0].backend->http2);
    assert_non_null(fe->backend);
    assert_false(fe->backend->http2);
    assert_int_equal(fe->backend->proxy_protocol, KP_PROXY_V2);
    config_free(cfg);
    free(local);
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_global_values),
        cmocka_unit_test(test_global_limits),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_frontend_values),
        cmocka_unit_test(test_frontend_keyword_values),
        cmocka_unit_test(test_backend_values),
        cmocka_unit_test(test_http2_default_backend_with_h2_only),
        cmocka_unit_test(test_routes_only_and_forward_references),
        cmocka_unit_test(test_two_frontends),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_indented_repeated_keys),
        cmocka_unit_test(test_comments_blank_lines_crlf_bom),
        cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_admin_and_access_log),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_buffer_is_not_read_past_len),
        cmocka_unit_test(test_small_error_buffer),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_file_missing),
        cmocka_unit_test(test_load_file_directory),
        cmocka_unit_test(test_cli_all_options),
        cmocka_unit_test(test_cli_minimal),
        cmocka_unit_test(test_cli_missing_options),
        cmocka_unit_test(test_cli_bad_values),
        cmocka_unit_test(test_parse_addr_good),
        cmocka_unit_test(test_parse_addr_unix),
        cmocka_unit_test(test_parse_addr_bad),
        cmocka_unit_test(test_cipher_names),
        cmocka_unit_test(test_known_keys_match_parser),
        cmocka_unit_test(test_man_page_documents_every_key),
        cmocka_unit_test(test_example_shows_every_key),
        cmocka_unit_test(test_example_parses),
    };

    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
