/*
 * config_parser.h - the parser's state and the few steps of it that the
 * command line mode (cli_config.c) reuses, so that both ways of configuring
 * ktlsproxy validate alike.  Internal to config.c and cli_config.c.
 */
#ifndef KP_CONFIG_PARSER_H
#define KP_CONFIG_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define CLI_FILE         "command line"
#define NO_ROUTE         ((size_t)-1)
#define MAX_SECTION_KEYS 24

enum section_kind { SECTION_NONE, SECTION_GLOBAL, SECTION_FRONTEND, SECTION_BACKEND, SECTION_ADMIN };

/* A backend named by a frontend, looked up once every backend is known. */
struct backend_ref {
    size_t frontend;
    size_t route;       /* NO_ROUTE: the frontend's default backend */
    char *name;
    int line;
};

struct parser {
    struct kp_config *cfg;
    const char *file;           /* the FILE of error messages */
    const char *buf;            /* the text, for read_line() */
    size_t len, pos;
    int line;                   /* the line inih is working on */
    enum section_kind section;
    int global_line;            /* where [global] is, 0 = not yet */
    size_t frontend, backend;   /* the one being filled in */
    int key_lines[MAX_SECTION_KEYS]; /* where each key of the section was set */
    struct backend_ref *refs;
    size_t n_refs;
    const char *key;            /* the key being set, for messages */
    bool cli;
    const char *cli_option;     /* the option being applied in command line mode */
    char *err;
    size_t errlen;
    bool failed;
    int failed_at;              /* the line being read when it failed */
};

typedef bool (*key_setter)(struct parser *p, const char *value);

/* A parse: start, feed (sections, keys), finish, then done() frees the
 * parser's own allocations and returns the config, NULL if it failed. */
bool config_parser_start(struct parser *p, const char *file);
void config_parser_finish(struct parser *p);
struct kp_config *config_parser_done(struct parser *p);

bool open_frontend(struct parser *p, const char *name);
bool open_backend(struct parser *p, const char *name);
/* The setter of a key of a section, NULL if there is no such key. */
key_setter config_parser_setter(enum section_kind kind, const char *key);
bool check_readable(struct parser *p, const char *what, const char *path);
bool add_cert(struct parser *p, const char *chain, const char *key);
/* route: an index into the current frontend's routes, or NO_ROUTE. */
bool add_backend_ref(struct parser *p, size_t route, const char *name);

#endif
