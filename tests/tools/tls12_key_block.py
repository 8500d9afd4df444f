#!/usr/bin/env python3
"""tls12_key_block.py - TLS 1.2 key blocks for tests/unit/test_ktls_keys.c,
computed with Python's hmac/hashlib, independently of mbedTLS and of
src/ktls_keys.c.  Run once; its output is committed there as constants.

The inputs are test_ktls_keys.c's fill_pattern(): byte i = start + 7 * i
(mod 256); master starts at 0x31, client random 0x42, server random 0x53.
key_block = PRF(master, "key expansion", server_random + client_random)
(RFC 5246 section 6.3), PRF = P_<hash> (section 5).
"""
import hashlib
import hmac


def pattern(n, start):
    return bytes((start + 7 * i) & 0xFF for i in range(n))


def p_hash(hash_fn, secret, seed, length):
    out, a = b"", seed
    while len(out) < length:
        a = hmac.new(secret, a, hash_fn).digest()
        out += hmac.new(secret, a + seed, hash_fn).digest()
    return out[:length]


def key_block(hash_fn, length):
    seed = b"key expansion" + pattern(32, 0x53) + pattern(32, 0x42)
    return p_hash(hash_fn, pattern(48, 0x31), seed, length)


if __name__ == "__main__":
    # AES-128-GCM: 2 x 16-byte key + 2 x 4-byte salt; AES-256-GCM with
    # SHA-384: 2 x 32 + 2 x 4; ChaCha20-Poly1305: 2 x 32 + 2 x 12.
    for name, fn, n in (("SHA256_AES128GCM", hashlib.sha256, 40),
                        ("SHA384_AES256GCM", hashlib.sha384, 72),
                        ("SHA256_CHACHA20", hashlib.sha256, 88)):
        print('#define KEY_BLOCK_%s "%s"' % (name, key_block(fn, n).hex()))
