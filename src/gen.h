/*
 * gen.h - a configuration generation: one parsed configuration with
 * everything loaded from it (every worker's TLS contexts, the error pages,
 * which listening socket serves which frontend).
 *
 * A reload builds a new generation completely or not at all.  New
 * connections use the current one; a connection holds a reference on the
 * generation it started with, so certificates, routes and settings stay
 * valid until its end.  A generation is freed by whoever drops the last
 * reference (main thread or a worker), never while a connection uses it.
 */
#ifndef KP_GEN_H
#define KP_GEN_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

struct kp_listeners;
struct tls_frontend;

struct gen_listen {
    int fd;                     /* owned by struct kp_listeners, not by the generation */
    size_t fe;                  /* index into cfg->frontends */
};

struct kp_gen {
    struct kp_config *cfg;
    unsigned n_workers;
    struct tls_frontend **tls;  /* [worker * cfg->n_frontends + frontend] */
    int *error_page_fd;         /* per frontend */
    off_t *error_page_len;
    struct gen_listen *listen;  size_t n_listen;
    atomic_uint refs;
    atomic_uint adopted;        /* workers that switched to it */
};

/* Load everything cfg names, for n_workers workers (0: check only) and the
 * sockets in set (NULL: none).  Takes cfg; returns a generation holding one
 * reference, or NULL with err naming FILE:LINE of what failed (cfg freed). */
struct kp_gen *gen_new(struct kp_config *cfg, unsigned n_workers, const struct kp_listeners *set,
                       char *err, size_t errlen);

void gen_ref(struct kp_gen *g);
void gen_unref(struct kp_gen *g);  /* frees on the last reference */

struct tls_frontend *gen_tls(const struct kp_gen *g, unsigned worker, size_t fe);
int gen_error_page(const struct kp_gen *g, size_t fe, off_t *len);

#endif
