/*
 * hostname.c - DNS names: matching against certificate and route patterns,
 * and the validity of a name a client sends.
 */
#include <string.h>
#include <strings.h>

#include "hostname.h"

int hostname_match(const char *pattern, const char *name)
{
    const char *dot;

    if (strcasecmp(pattern, name) == 0)
        return 2;
    /* "*.example.com" covers "a.example.com", not "example.com" nor
     * "a.b.example.com" (RFC 6125 6.4.3). */
    if (pattern[0] != '*' || pattern[1] != '.')
        return 0;
    dot = strchr(name, '.');
    return dot != NULL && dot != name && strcasecmp(pattern + 1, dot) == 0 ? 1 : 0;
}

static int label_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

int hostname_valid(const char *name, size_t len)
{
    size_t label = 0; /* length of the label so far */

    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '.') {
            if (label == 0 || name[i - 1] == '-')
                return 0;
            label = 0;
        } else if (!label_char(name[i]) || (label == 0 && name[i] == '-') || ++label > 63) {
            return 0;
        }
    }
    return label > 0 && name[len - 1] != '-';
}
