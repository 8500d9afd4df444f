/*
 * cli_config.c - the hitch-style command line mode: one frontend and one
 * backend, both named "default", built by the ini parser's own setters so
 * that every option is validated like the key it stands for.
 */
#include <stdio.h>

#include "config.h"
#include "config_parser.h"

#define CLI_NAME "default"   /* the frontend and backend of command line mode */

/* option sets the key of the section; messages call it name. */
static bool
apply_option(struct parser *p, const char *option, const char *name, enum section_kind kind,
             const char *key, const char *value)
{
    if (!value)
        return true;
    p->cli_option = option;
    p->key = name;
    return config_parser_setter(kind, key)(p, value);
}

static bool
apply_cert_options(struct parser *p, const struct kp_cli *cli)
{
    p->cli_option = "--cert";
    if (!check_readable(p, "certificate", cli->cert))
        return false;
    p->cli_option = "--key";
    if (cli->key && !check_readable(p, "key", cli->key))
        return false;
    p->cli_option = "--cert";
    return add_cert(p, cli->cert, cli->key);
}

static bool
apply_cli(struct parser *p, const struct kp_cli *cli)
{
    return open_frontend(p, CLI_NAME) && open_backend(p, CLI_NAME)
        && apply_option(p, "--listen", "listen", SECTION_FRONTEND, "listen", cli->listen)
        && apply_option(p, "--backend", "backend", SECTION_BACKEND, "address", cli->backend)
        && apply_cert_options(p, cli)
        && apply_option(p, "--alpn", "alpn", SECTION_FRONTEND, "alpn", cli->alpn)
        && apply_option(p, "--proxy-protocol", "proxy_protocol", SECTION_BACKEND, "proxy_protocol",
                        cli->proxy_protocol)
        && apply_option(p, "--ktls", "ktls", SECTION_GLOBAL, "ktls", cli->ktls)
        && apply_option(p, "--workers", "workers", SECTION_GLOBAL, "workers", cli->workers)
        && apply_option(p, "--user", "user", SECTION_GLOBAL, "user", cli->user)
        && apply_option(p, "--group", "group", SECTION_GLOBAL, "group", cli->group)
        && apply_option(p, "--log-level", "log_level", SECTION_GLOBAL, "log_level", cli->log_level)
        && add_backend_ref(p, NO_ROUTE, CLI_NAME);
}

struct kp_config *
config_from_cli(const struct kp_cli *cli, char *err, size_t errlen)
{
    struct parser p = { .file = CLI_FILE, .cli = true, .err = err, .errlen = errlen };
    const char *missing = !cli->listen ? "--listen" : !cli->backend ? "--backend"
                        : !cli->cert ? "--cert" : NULL;

    if (missing) {
        snprintf(err, errlen, "%s: %s: missing (required: --listen, --backend and --cert)",
                 CLI_FILE, missing);
        return NULL;
    }
    if (!config_parser_start(&p, CLI_FILE))
        return NULL;
    if (apply_cli(&p, cli)) {
        p.cli_option = NULL;
        config_parser_finish(&p);
    }
    return config_parser_done(&p);
}
