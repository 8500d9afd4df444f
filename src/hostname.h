/*
 * hostname.h - DNS name matching shared by certificate selection (SNI) and
 * routing: exact names and "*.example.com" wildcards, case-insensitive.
 */
#ifndef KP_HOSTNAME_H
#define KP_HOSTNAME_H

#include <stddef.h>

/* 2 = exact match, 1 = wildcard match (one label), 0 = no match. */
int hostname_match(const char *pattern, const char *name);

/* 1 if name[0..len) is a host name as RFC 6066 3 asks of an SNI: dot
 * separated labels of letters, digits, hyphens (not first or last in a
 * label) and underscores (seen in the wild, harmless), each 1..63 bytes,
 * 253 bytes at most, no trailing dot.  Rejects every control byte. */
int hostname_valid(const char *name, size_t len);

#endif
