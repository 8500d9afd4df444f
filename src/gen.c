/*
 * gen.c - configuration generations, reference-counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gen.h"
#include "listener.h"
#include "reply.h"
#include "tls.h"

static void gen_free(struct kp_gen *g)
{
    size_t nf = g->cfg->n_frontends;

    for (size_t i = 0; g->tls != NULL && i < g->n_workers * nf; i++)
        kp_tls_frontend_free(g->tls[i]);
    for (size_t f = 0; g->error_page_fd != NULL && f < nf; f++)
        if (g->error_page_fd[f] >= 0)
            close(g->error_page_fd[f]);
    free(g->tls);
    free(g->error_page_fd);
    free(g->error_page_len);
    free(g->listen);
    config_free(g->cfg);
    free(g);
}

static int load_listen(struct kp_gen *g, const struct kp_listeners *set, char *err, size_t errlen)
{
    const struct kp_config *cfg = g->cfg;

    for (size_t f = 0; f < cfg->n_frontends; f++)
        g->n_listen += cfg->frontends[f].n_listen;
    g->listen = calloc(g->n_listen ? g->n_listen : 1, sizeof *g->listen);
    if (g->listen == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    g->n_listen = 0;
    for (size_t f = 0; f < cfg->n_frontends; f++)
        for (size_t i = 0; i < cfg->frontends[f].n_listen; i++) {
            int fd = listeners_fd(set, &cfg->frontends[f].listen[i]);
            if (fd < 0) {
                snprintf(err, errlen, "listen %s: no socket", cfg->frontends[f].listen[i].text);
                return -1;
            }
            g->listen[g->n_listen++] = (struct gen_listen){ .fd = fd, .fe = f };
        }
    return 0;
}

static int load(struct kp_gen *g, const struct kp_listeners *set, char *err, size_t errlen)
{
    const struct kp_config *cfg = g->cfg;
    size_t nf = cfg->n_frontends;
    unsigned copies = g->n_workers ? g->n_workers : 1;

    g->tls = calloc(copies * nf, sizeof *g->tls);
    g->error_page_fd = malloc(nf * sizeof *g->error_page_fd);
    g->error_page_len = calloc(nf, sizeof *g->error_page_len);
    if (g->tls == NULL || g->error_page_fd == NULL || g->error_page_len == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    g->n_workers = copies;
    for (size_t f = 0; f < nf; f++)
        g->error_page_fd[f] = -1;
    for (size_t f = 0; f < nf; f++) {
        for (unsigned w = 0; w < copies; w++)
            if ((g->tls[w * nf + f] = kp_tls_frontend_new(cfg, &cfg->frontends[f], err, errlen)) == NULL)
                return -1;
        kp_tls_frontend_check_routes(g->tls[f], cfg);
        g->error_page_fd[f] = reply_open_error_page(cfg, &cfg->frontends[f], &g->error_page_len[f],
                                                    err, errlen);
        if (g->error_page_fd[f] < 0)
            return -1;
    }
    return set != NULL ? load_listen(g, set, err, errlen) : 0;
}

struct kp_gen *gen_new(struct kp_config *cfg, unsigned n_workers, const struct kp_listeners *set,
                       char *err, size_t errlen)
{
    struct kp_gen *g = calloc(1, sizeof *g);

    if (g == NULL) {
        snprintf(err, errlen, "out of memory");
        config_free(cfg);
        return NULL;
    }
    g->cfg = cfg;
    g->n_workers = n_workers;
    atomic_init(&g->refs, 1);
    atomic_init(&g->adopted, 0);
    if (load(g, set, err, errlen) != 0) {
        gen_free(g);
        return NULL;
    }
    return g;
}

void gen_ref(struct kp_gen *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

void gen_unref(struct kp_gen *g)
{
    if (g != NULL && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
        gen_free(g);
}

struct tls_frontend *gen_tls(const struct kp_gen *g, unsigned worker, size_t fe)
{
    return g->tls[worker * g->cfg->n_frontends + fe];
}

int gen_error_page(const struct kp_gen *g, size_t fe, off_t *len)
{
    *len = g->error_page_len[fe];
    return g->error_page_fd[fe];
}
