/*
 * main.c - command line, start-up, privileges, signals.
 *
 * Start-up order matters: configuration and certificates are fully checked
 * before anything binds; everything that needs root (binding port 443,
 * reading private keys) happens before privileges are dropped; threads
 * start last.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "ktls.h"
#include "log.h"
#include "reply.h"
#include "tls.h"
#include "worker.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/ktlsproxy.ini"

#define EX_USAGE 64
#define EX_UNAVAILABLE 69
#define EX_OSERR 71

enum {
    OPT_LISTEN = 256, OPT_BACKEND, OPT_CERT, OPT_KEY, OPT_ALPN, OPT_PROXY, OPT_KTLS, OPT_WORKERS,
    OPT_LOG_LEVEL,
};

static const struct option long_options[] = {
    { "config", required_argument, NULL, 'c' },
    { "test", no_argument, NULL, 't' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { "listen", required_argument, NULL, OPT_LISTEN },
    { "backend", required_argument, NULL, OPT_BACKEND },
    { "cert", required_argument, NULL, OPT_CERT },
    { "key", required_argument, NULL, OPT_KEY },
    { "alpn", required_argument, NULL, OPT_ALPN },
    { "proxy-protocol", required_argument, NULL, OPT_PROXY },
    { "ktls", required_argument, NULL, OPT_KTLS },
    { "workers", required_argument, NULL, OPT_WORKERS },
    { "user", required_argument, NULL, 'u' },
    { "group", required_argument, NULL, 'g' },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ktlsproxy [-t] [-c FILE]\n"
            "       ktlsproxy [-t] --listen ADDR:PORT --backend ADDR:PORT --cert FILE [--key FILE]\n"
            "                 [--alpn h2,http/1.1] [--proxy-protocol v1|v2] [--ktls auto|required|off]\n"
            "                 [--workers N] [-u USER] [-g GROUP] [--log-level LEVEL]\n"
            "\n"
            "  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
            "  -t, --test          check the configuration and certificates, then exit\n"
            "  -h, --help          this text\n"
            "  -V, --version       print the version\n"
            "See ktlsproxy(8) and ktlsproxy.ini(5).\n");
}

struct options {
    const char *config;
    int test;
    struct kp_cli cli;
};

static void parse_options(int argc, char **argv, struct options *o)
{
    int c;

    while ((c = getopt_long(argc, argv, "c:thVu:g:", long_options, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 't': o->test = 1; break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("ktlsproxy %s\n", PACKAGE_VERSION); exit(0);
        case 'u': o->cli.user = optarg; break;
        case 'g': o->cli.group = optarg; break;
        case OPT_LISTEN: o->cli.listen = optarg; break;
        case OPT_BACKEND: o->cli.backend = optarg; break;
        case OPT_CERT: o->cli.cert = optarg; break;
        case OPT_KEY: o->cli.key = optarg; break;
        case OPT_ALPN: o->cli.alpn = optarg; break;
        case OPT_PROXY: o->cli.proxy_protocol = optarg; break;
        case OPT_KTLS: o->cli.ktls = optarg; break;
        case OPT_WORKERS: o->cli.workers = optarg; break;
        case OPT_LOG_LEVEL: o->cli.log_level = optarg; break;
        default: usage(stderr); exit(EX_USAGE);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ktlsproxy: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        exit(EX_USAGE);
    }
}

static struct kp_config *load_config(const struct options *o)
{
    const struct kp_cli *cli = &o->cli;
    int cli_mode = cli->listen || cli->backend || cli->cert || cli->key || cli->alpn ||
                   cli->proxy_protocol || cli->ktls || cli->workers;
    char err[1024];
    struct kp_config *cfg;

    if (cli_mode && o->config != NULL) {
        fprintf(stderr, "ktlsproxy: -c cannot be combined with --listen/--backend/--cert...\n");
        exit(EX_USAGE);
    }
    cfg = cli_mode ? config_from_cli(cli, err, sizeof err)
                   : config_load_file(o->config ? o->config : DEFAULT_CONFIG, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "ktlsproxy: %s\n", err);
        exit(KP_EX_CONFIG);
    }
    return cfg;
}

/* Load every certificate, key and error page once, so that a bad file is
 * reported as a configuration error before anything starts. */
static void check_tls_material(const struct kp_config *cfg, struct shared *sh)
{
    char err[1024];

    for (size_t f = 0; f < cfg->n_frontends; f++) {
        struct tls_frontend *tf = tls_frontend_new(cfg, &cfg->frontends[f], err, sizeof err);
        if (tf == NULL) {
            fprintf(stderr, "ktlsproxy: %s\n", err);
            exit(KP_EX_CONFIG);
        }
        tls_frontend_free(tf);
        sh->error_page_fd[f] =
            reply_open_error_page(cfg, &cfg->frontends[f], &sh->error_page_len[f], err, sizeof err);
        if (sh->error_page_fd[f] < 0) {
            fprintf(stderr, "ktlsproxy: %s\n", err);
            exit(KP_EX_CONFIG);
        }
    }
}

static void drop_privileges(const struct kp_config *cfg)
{
    const struct passwd *pw = cfg->user ? getpwnam(cfg->user) : NULL;
    const struct group *gr = cfg->group ? getgrnam(cfg->group) : NULL;
    gid_t gid = gr ? gr->gr_gid : pw ? pw->pw_gid : getgid();

    if (cfg->user == NULL && cfg->group == NULL) {
        if (geteuid() == 0)
            log_warn("running as root: set user and group in [global] to drop privileges");
        return;
    }
    if ((cfg->user && pw == NULL) || (cfg->group && gr == NULL) ||
        (pw ? initgroups(pw->pw_name, gid) : setgroups(1, &gid)) != 0 || setgid(gid) != 0 ||
        (pw && setuid(pw->pw_uid) != 0)) {
        log_err("cannot drop privileges to user %s group %s: %s", cfg->user ? cfg->user : "-",
                cfg->group ? cfg->group : "-", strerror(errno));
        exit(EX_OSERR);
    }
    log_info("running as uid %d gid %d", (int)getuid(), (int)getgid());
}

static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static bool probe_ktls(const struct kp_config *cfg)
{
    char err[256];

    /* For comparisons (contrib/bench) and kernels whose kTLS misbehaves. */
    if (cfg->ktls == KP_KTLS_OFF) {
        log_notice("ktls = off: TLS stays in user space (mbedTLS)");
        return false;
    }
    if (ktls_probe(err, sizeof err) == 0)
        return true;
    if (cfg->ktls == KP_KTLS_REQUIRED) {
        log_err("ktls = required, but %s", err);
        exit(EX_UNAVAILABLE);
    }
    log_warn("kernel TLS unavailable (%s): TLS stays in user space (mbedTLS)", err);
    return false;
}

static int wait_for_stop(const sigset_t *set)
{
    int sig;

    for (;;)
        if (sigwait(set, &sig) == 0 && (sig == SIGTERM || sig == SIGINT))
            return sig;
}

static void release(struct kp_config *cfg, struct shared *sh, struct worker **workers)
{
    for (size_t f = 0; f < cfg->n_frontends; f++)
        close(sh->error_page_fd[f]);
    free(workers);
    free(sh->error_page_fd);
    free(sh->error_page_len);
    config_free(cfg);
}

int main(int argc, char **argv)
{
    struct options o = { 0 };
    struct shared sh = { 0 };
    struct worker **workers;
    struct kp_config *cfg;
    char err[1024];
    sigset_t set;

    parse_options(argc, argv, &o);
    cfg = load_config(&o);
    log_init(o.test ? KP_LOG_STDERR : cfg->log_target, cfg->log_level);
    if (tls_global_init(err, sizeof err) != 0) {
        log_err("%s", err);
        return EX_OSERR;
    }
    sh.cfg = cfg;
    sh.error_page_fd = calloc(cfg->n_frontends, sizeof *sh.error_page_fd);
    sh.error_page_len = calloc(cfg->n_frontends, sizeof *sh.error_page_len);
    workers = calloc(cfg->workers, sizeof *workers);
    if (sh.error_page_fd == NULL || sh.error_page_len == NULL || workers == NULL) {
        log_err("out of memory");
        return EX_OSERR;
    }
    check_tls_material(cfg, &sh);
    if (o.test) {
        printf("ktlsproxy: configuration %s is OK\n", cfg->file);
        release(cfg, &sh, workers);
        return 0;
    }
    raise_fd_limit();
    sh.ktls = probe_ktls(cfg);

    /* Workers inherit this mask: only the main thread takes signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (unsigned i = 0; i < cfg->workers; i++)
        if ((workers[i] = worker_new(i, &sh, err, sizeof err)) == NULL) {
            log_err("%s", err);
            return EX_OSERR;
        }
    drop_privileges(cfg);
    for (unsigned i = 0; i < cfg->workers; i++)
        if (worker_start(workers[i]) != 0) {
            log_err("cannot start worker %u", i);
            return EX_OSERR;
        }
    log_notice("started: %u workers, %zu frontends, kernel TLS %s", cfg->workers,
               cfg->n_frontends, sh.ktls ? "on" : "off (user-space fallback)");

    log_notice("stopping on signal %d", wait_for_stop(&set));
    for (unsigned i = 0; i < cfg->workers; i++)
        worker_stop(workers[i]);
    for (unsigned i = 0; i < cfg->workers; i++)
        worker_join_and_free(workers[i]);
    release(cfg, &sh, workers);
    log_notice("stopped");
    return 0;
}
