/*
 * main.c - command line, start-up, privileges, signals.
 *
 * Start-up order matters: configuration and certificates are fully checked
 * before anything binds; everything that needs root (binding port 443,
 * reading private keys) happens before privileges are dropped; threads
 * start last.  Afterwards the main thread only takes signals: SIGHUP
 * reloads, SIGTERM drains and stops, SIGINT stops at once.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "gen.h"
#include "ktls.h"
#include "listener.h"
#include "log.h"
#include "memory.h"
#include "metrics.h"
#include "pipe_pool.h"
#include "pump.h"
#include "sd_notify.h"
#include "tickets.h"
#include "privs.h"
#include "tls.h"
#include "worker.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/ktlsproxy.ini"

#define EX_USAGE 64
#define EX_UNAVAILABLE 69
#define EX_OSERR 71
#define STATUS_SECONDS 5        /* how often STATUS= is sent to systemd */

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

static struct kp_config *read_config(const struct options *o, char *err, size_t errlen)
{
    const struct kp_cli *cli = &o->cli;
    int cli_mode = cli->listen || cli->backend || cli->cert || cli->key || cli->alpn ||
                   cli->proxy_protocol || cli->ktls || cli->workers;

    if (cli_mode && o->config != NULL) {
        fprintf(stderr, "ktlsproxy: -c cannot be combined with --listen/--backend/--cert...\n");
        exit(EX_USAGE);
    }
    return cli_mode ? config_from_cli(cli, err, errlen)
                    : config_load_file(o->config ? o->config : DEFAULT_CONFIG, err, errlen);
}

/* Load every certificate, key and error page of cfg, so that a bad file is
 * reported as a configuration error before anything starts. */
static struct kp_gen *gen_new_or_exit(struct kp_config *cfg, unsigned n_workers,
                                      const struct kp_listeners *ls)
{
    char err[1024];
    struct kp_gen *g = gen_new(cfg, n_workers, ls, err, sizeof err);

    if (g == NULL) {
        fprintf(stderr, "ktlsproxy: %s\n", err);
        exit(KP_EX_CONFIG);
    }
    return g;
}

/* Enough descriptors for max_connections, or a warning saying how many. */
static void raise_fd_limit(const struct kp_config *cfg, size_t n_listeners)
{
    rlim_t need = (rlim_t)cfg->max_connections * CONN_MAX_FDS +
                  (rlim_t)cfg->workers * (2 * PIPE_POOL_MAX_IDLE + 4) + n_listeners +
                  2 * cfg->n_frontends + 32;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    struct rlimit want = { need, rl.rlim_max > need ? rl.rlim_max : need };
    if (setrlimit(RLIMIT_NOFILE, &want) == 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    log_warn("max_connections = %u needs %llu file descriptors, but RLIMIT_NOFILE is %llu "
             "(raise it, e.g. LimitNOFILE=%llu): accepting pauses when they run out",
             cfg->max_connections, (unsigned long long)need, (unsigned long long)rl.rlim_cur,
             (unsigned long long)need);
}

/* No kernel TLS at all: exit with required, else warn once. */
static bool ktls_unavailable(const struct kp_config *cfg, const char *why)
{
    if (cfg->ktls == KP_KTLS_REQUIRED) {
        log_err("ktls = required, but %s", why);
        exit(EX_UNAVAILABLE);
    }
    log_warn("kernel TLS unavailable (%s): TLS stays in user space (mbedTLS)", why);
    return false;
}

/* Probe every TLS version x cipher x direction; with ktls = required the
 * frontends then offer only what the kernel takes (kp_tls_suites_for()). */
static bool probe_ktls(const struct kp_config *cfg)
{
    char err[512], takes[256], lacks[256];
    int suites[TLS_MAX_SUITES + 1];
    struct ktls_caps caps;

    /* For comparisons (contrib/bench) and kernels whose kTLS misbehaves. */
    if (cfg->ktls == KP_KTLS_OFF) {
        log_notice("ktls = off: TLS stays in user space (mbedTLS)");
        return false;
    }
    if (ktls_probe(&caps, err, sizeof err) != 0)
        return ktls_unavailable(cfg, err);
    ktls_caps_describe(&caps, takes, sizeof takes, lacks, sizeof lacks);
    if ((caps.tx & caps.rx) == 0) {
        snprintf(err, sizeof err, "the kernel TLS ULP takes no key (lacks %s)", lacks);
        return ktls_unavailable(cfg, err);
    }
    ktls_use_caps(&caps);
    log_notice("kernel TLS takes %s", takes);
    if (ktls_caps_rekey(&caps))
        log_notice("kernel TLS can rekey: a TLS 1.3 client's KeyUpdate is followed");
    else
        log_notice("kernel TLS cannot rekey (Linux 6.14 and later can): a TLS 1.3 client's "
                   "KeyUpdate closes its connection");
    if (strcmp(lacks, "none") == 0)
        return true;
    if (cfg->ktls == KP_KTLS_AUTO) {
        log_warn("kernel TLS lacks %s: connections with these stay in user space", lacks);
        return true;
    }
    log_warn("kernel TLS lacks %s: with ktls = required these are not offered", lacks);
    for (size_t f = 0; f < cfg->n_frontends; f++)
        if (kp_tls_suites_for(cfg, &cfg->frontends[f], suites) == 0) {
            log_err("frontend %s: ktls = required, but the kernel takes none of its suites",
                    cfg->frontends[f].name);
            exit(EX_UNAVAILABLE);
        }
    return true;
}

/* ---- running ---- */

struct daemon {
    struct options o;
    struct shared sh;
    struct kp_listeners ls;
    struct kp_gen *gen;         /* main's reference on the current generation */
    struct kp_admin *admin;     /* the metrics listener, NULL without [admin] */
};

static void notify_status(const struct daemon *d, const char *extra)
{
    kp_sd_notifyf("%sSTATUS=%u connections", extra, atomic_load(&d->sh.n_conns));
}

static void wake_all(struct daemon *d)
{
    for (unsigned i = 0; i < d->sh.n_workers; i++)
        worker_wake(d->sh.workers[i]);
}

/* Publish g and wait until every worker uses it, so that the sockets the
 * old generation alone listened on can be closed. */
static void switch_to(struct daemon *d, struct kp_gen *g)
{
    const struct timespec tick = { 0, 10 * 1000 * 1000 };

    atomic_store(&d->sh.gen, g);
    wake_all(d);
    while (atomic_load(&g->adopted) < d->sh.n_workers)
        nanosleep(&tick, NULL);
    gen_unref(d->gen);
    d->gen = g;
    listeners_close_unused(&d->ls, g->cfg);
}

/* Settings that only a restart changes: keep the running values. */
static void keep_start_settings(const struct kp_config *old, struct kp_config *cfg)
{
    if (cfg->workers != old->workers)
        log_warn("reload: workers = %u takes effect at the next restart", cfg->workers);
    cfg->workers = old->workers;
}

/* A reload is a transaction: everything of the new configuration is loaded
 * before anything changes; on any error the old one keeps serving. */
static void reload(struct daemon *d)
{
    char err[1024];
    struct kp_config *cfg;
    struct kp_gen *g = NULL;

    kp_sd_notify_reloading();
    log_notice("reloading %s", d->gen->cfg->file);
    cfg = read_config(&d->o, err, sizeof err);
    if (cfg != NULL) {
        keep_start_settings(d->gen->cfg, cfg);
        if (listeners_open(&d->ls, cfg, err, sizeof err) != 0)
            config_free(cfg);
        else if ((g = gen_new(cfg, d->sh.n_workers, &d->ls, err, sizeof err)) == NULL)
            listeners_close_unused(&d->ls, d->gen->cfg);
        else if (tickets_reload(g->cfg, err, sizeof err) != 0) {
            gen_unref(g);
            g = NULL;
            listeners_close_unused(&d->ls, d->gen->cfg);
        }
    }
    metrics_reload_result(g != NULL);
    if (g == NULL)
        log_err("reload failed, the running configuration stays: %s", err);
    else {
        switch_to(d, g);
        log_notice("reloaded %s", g->cfg->file);
    }
    notify_status(d, "READY=1\n");
}

static void stop(struct daemon *d, int sig)
{
    enum kp_stop how = sig == SIGTERM && d->gen->cfg->drain_timeout_ms > 0 ? KP_STOP_DRAIN
                                                                           : KP_STOP_NOW;

    kp_sd_notify("STOPPING=1");
    if (how == KP_STOP_DRAIN)
        log_notice("stopping on signal %d: draining %u connections for up to %u ms", sig,
                   atomic_load(&d->sh.n_conns), d->gen->cfg->drain_timeout_ms);
    else
        log_notice("stopping on signal %d", sig);
    atomic_store(&d->sh.stop, how);
    wake_all(d);
    for (unsigned i = 0; i < d->sh.n_workers; i++)
        worker_join(d->sh.workers[i]);
    for (unsigned i = 0; i < d->sh.n_workers; i++)
        worker_free(d->sh.workers[i]);
}

static void run(struct daemon *d, const sigset_t *set)
{
    const struct timespec every = { STATUS_SECONDS, 0 };
    int sig;

    for (;;) {
        sig = sigtimedwait(set, NULL, &every);
        if (sig == SIGHUP)
            reload(d);
        else if (sig == SIGTERM || sig == SIGINT)
            break;
        else
            notify_status(d, "");
    }
    stop(d, sig);
}

static void start_workers(struct daemon *d)
{
    char err[1024];
    unsigned n = d->gen->cfg->workers;

    d->sh.workers = calloc(n, sizeof *d->sh.workers);
    if (d->sh.workers == NULL) {
        log_err("out of memory");
        exit(EX_OSERR);
    }
    atomic_store(&d->sh.gen, d->gen);
    for (d->sh.n_workers = 0; d->sh.n_workers < n; d->sh.n_workers++)
        if ((d->sh.workers[d->sh.n_workers] = worker_new(d->sh.n_workers, &d->sh, err, sizeof err)) == NULL) {
            log_err("%s", err);
            exit(EX_OSERR);
        }
    /* Before dropping privileges: the admin address may be a privileged port. */
    if (admin_start(d->gen->cfg, &d->admin, err, sizeof err) != 0) {
        log_err("%s", err);
        exit(EX_OSERR);
    }
    if (privs_drop(d->gen->cfg->user, d->gen->cfg->group, err, sizeof err) != 0) {
        log_err("%s", err);
        exit(EX_OSERR);
    }
    log_info("running as uid %d gid %d", (int)getuid(), (int)getgid());
    for (unsigned i = 0; i < n; i++)
        if (worker_start(d->sh.workers[i]) != 0) {
            log_err("cannot start worker %u", i);
            exit(EX_OSERR);
        }
}

/* Sockets from systemd where it passed them, bound here otherwise. */
static void open_listeners(struct daemon *d, const struct kp_config *cfg)
{
    char err[1024];

    if (listeners_inherit(&d->ls, cfg, err, sizeof err) != 0) {
        log_err("%s", err);
        exit(KP_EX_CONFIG);
    }
    if (d->ls.n > 0)
        log_notice("socket activation: %zu listening sockets from systemd", d->ls.n);
    if (listeners_open(&d->ls, cfg, err, sizeof err) != 0) {
        log_err("%s", err);
        exit(EX_OSERR);
    }
}

int main(int argc, char **argv)
{
    struct daemon d = { 0 };
    struct kp_config *cfg;
    char err[1024];
    sigset_t set;

    parse_options(argc, argv, &d.o);
    cfg = read_config(&d.o, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "ktlsproxy: %s\n", err);
        return KP_EX_CONFIG;
    }
    log_init(d.o.test ? KP_LOG_STDERR : cfg->log_target, cfg->log_level);
    memory_policy();
    if (privs_check(geteuid(), cfg->user, cfg->group, err, sizeof err) != 0) {
        log_err("%s", err);
        config_free(cfg);
        return KP_EX_CONFIG;
    }
    privs_warn_exposed_keys(cfg);
    if (kp_tls_global_init(err, sizeof err) != 0) {
        log_err("%s", err);
        return EX_OSERR;
    }
    if (d.o.test) {
        d.gen = gen_new_or_exit(cfg, 0, NULL);
        printf("ktlsproxy: configuration %s is OK\n", cfg->file);
        gen_unref(d.gen);
        return 0;
    }
    open_listeners(&d, cfg);
    d.gen = gen_new_or_exit(cfg, cfg->workers, &d.ls);
    raise_fd_limit(d.gen->cfg, d.ls.n);
    d.sh.ktls = probe_ktls(d.gen->cfg);

    /* Workers inherit this mask: only the main thread takes signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    start_workers(&d);
    log_notice("started: %u workers, %zu frontends, kernel TLS %s", d.sh.n_workers,
               d.gen->cfg->n_frontends, d.sh.ktls ? "on" : "off (user-space fallback)");
    notify_status(&d, "READY=1\n");
    run(&d, &set);
    admin_stop(d.admin);
    gen_unref(d.gen);
    listeners_free(&d.ls);
    free(d.sh.workers);
    log_notice("stopped");
    return 0;
}
