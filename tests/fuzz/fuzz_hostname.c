/*
 * fuzz_hostname - name matching, SNI validation and routing.
 *
 * Input: NUL-separated strings: the client's name, then up to 8 route
 * patterns.  hostname_valid() is compared with an independent reading of
 * its rule; hostname_match() and backend_route() are checked for what they
 * promise.
 */
#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "hostname.h"

/* The rule of hostname.h, written differently: split on dots. */
static int reference_valid(const char *name, size_t len)
{
    char copy[300], *label, *save = NULL;
    size_t labels = 0, seen = 0;

    if (len == 0 || len > 253 || memchr(name, 0, len) != NULL || name[len - 1] == '.' ||
        name[0] == '.' || memmem(name, len, "..", 2) != NULL)
        return 0;
    memcpy(copy, name, len);
    copy[len] = '\0';
    for (label = strtok_r(copy, ".", &save); label; label = strtok_r(NULL, ".", &save)) {
        size_t n = strlen(label);
        if (n > 63 || label[0] == '-' || label[n - 1] == '-')
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!(isalnum((unsigned char)label[i]) || label[i] == '-' || label[i] == '_'))
                return 0;
        labels++;
        seen += n + 1;
    }
    return labels > 0 && seen == len + 1;
}

static void check_match(const char *pattern, const char *name)
{
    int m = hostname_match(pattern, name);

    assert(m >= 0 && m <= 2);
    if (m == 2)
        assert(strcasecmp(pattern, name) == 0);
    if (m == 1) {
        const char *dot = strchr(name, '.');
        assert(pattern[0] == '*' && pattern[1] == '.' && dot != NULL && dot != name);
        assert(strcasecmp(dot, pattern + 1) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1), *strs[9];
    struct kp_backend backends[9] = { 0 };
    struct kp_route routes[8];
    struct kp_frontend fe = { .routes = routes, .backend = &backends[8] };
    size_t n = 0;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    assert(hostname_valid((const char *)data, size) == reference_valid((const char *)data, size));
    for (char *p = copy; n < 9 && p <= copy + size; p += strlen(p) + 1)
        strs[n++] = p;
    for (size_t i = 1; i < n; i++) {
        check_match(strs[i], strs[0]);
        routes[i - 1] = (struct kp_route){ .sni = strs[i][0] ? strs[i] : NULL,
                                           .backend = &backends[i - 1] };
    }
    fe.n_routes = n - 1;
    const struct kp_backend *be = backend_route(&fe, strs[0][0] ? strs[0] : NULL, NULL);
    /* The first route that matches, else the default. */
    size_t want = 8;
    for (size_t i = 0; i < fe.n_routes && want == 8; i++)
        if (routes[i].sni == NULL || (strs[0][0] && hostname_match(routes[i].sni, strs[0])))
            want = i;
    assert(be == &backends[want]);
    free(copy);
    return 0;
}
