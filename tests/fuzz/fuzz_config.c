/*
 * fuzz_config - the configuration parser on hostile input.
 *
 * The first byte picks the mode: even, the rest is ini text for
 * config_load_buffer(); odd, the rest is up to 11 NUL-separated command line
 * values for config_from_cli() (an empty value stands for an absent option).
 * Either way the parse must succeed or fail with a message, never crash,
 * leak or read out of bounds; a successful parse must be internally sound.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static void check_sound(const struct kp_config *cfg)
{
    assert(cfg->n_frontends > 0);
    for (size_t i = 0; i < cfg->n_frontends; i++) {
        const struct kp_frontend *fe = &cfg->frontends[i];
        assert(fe->n_certs > 0 && fe->n_listen > 0);
        for (size_t r = 0; r < fe->n_routes; r++)
            assert(fe->routes[r].backend != NULL);
    }
}

static void fuzz_ini(const uint8_t *data, size_t size)
{
    char err[512];
    struct kp_config *cfg = config_load_buffer("fuzz.ini", (const char *)data, size, err,
                                               sizeof err);

    if (cfg != NULL) {
        check_sound(cfg);
        config_free(cfg);
    } else {
        assert(strncmp(err, "fuzz.ini", 8) == 0);
    }
}

static void fuzz_cli(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1), *fields[11] = { 0 }, *p, err[512];
    struct kp_config *cfg;
    size_t n = 0;

    if (copy == NULL)
        return;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (p = copy; n < 11 && p <= copy + size; p += strlen(p) + 1)
        fields[n++] = *p ? p : NULL;
    struct kp_cli cli = {
        .listen = fields[0], .backend = fields[1], .cert = fields[2], .key = fields[3],
        .alpn = fields[4], .proxy_protocol = fields[5], .ktls = fields[6], .workers = fields[7],
        .user = fields[8], .group = fields[9], .log_level = fields[10],
    };
    cfg = config_from_cli(&cli, err, sizeof err);
    if (cfg != NULL) {
        check_sound(cfg);
        config_free(cfg);
    } else {
        assert(strncmp(err, "command line: ", 14) == 0);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fuzz_cli(data + 1, size - 1);
    else
        fuzz_ini(data + 1, size - 1);
    return 0;
}
