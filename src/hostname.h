/*
 * hostname.h - DNS name matching shared by certificate selection (SNI) and
 * routing: exact names and "*.example.com" wildcards, case-insensitive.
 */
#ifndef KP_HOSTNAME_H
#define KP_HOSTNAME_H

/* 2 = exact match, 1 = wildcard match (one label), 0 = no match. */
int hostname_match(const char *pattern, const char *name);

#endif
