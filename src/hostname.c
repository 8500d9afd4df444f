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
