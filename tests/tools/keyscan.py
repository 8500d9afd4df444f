#!/usr/bin/env python3
"""keyscan - look for one TLS connection's secrets in a live process's memory.

    keyscan.py --keylog FILE --suite SUITE --pid PID [--server-hello MSGFILE]
               [--expect-found | --secrets-kept] [--generation N]

FILE is an NSS key log (openssl s_client -keylogfile FILE).  SUITE is the
negotiated cipher suite in OpenSSL's or IANA's spelling; it gives the hash,
key and IV lengths.  MSGFILE is openssl s_client's -msg output (-msgfile),
where the ServerHello's random is found: TLS 1.2 needs it.

What is looked for ("needles"): every form a key can take in memory.
  TLS 1.3  CLIENT_TRAFFIC_SECRET_0 and SERVER_TRAFFIC_SECRET_0 themselves;
           the write key and 12-byte IV derived from each with
           HKDF-Expand-Label(secret, "key"/"iv", "", len) (RFC 8446 7.1,
           7.3); and the IV's two parts apart, as the kernel's crypto_info
           keeps them for AES-GCM: the 4-byte salt and the 8 bytes after it.
  TLS 1.2  the 48-byte master secret (CLIENT_RANDOM line) and the key block
           PRF(master, "key expansion", server_random || client_random)
           (RFC 5246 6.3) cut into its parts: each side's write key and
           write IV (the 4-byte GCM salt, or ChaCha20's 12-byte IV).
           Without --server-hello only the master secret is searched.
Both derivations are computed here with hmac/hashlib, independently of the
daemon and of mbedTLS.  --generation N (TLS 1.3) looks for the secrets after
N KeyUpdates instead: each HKDF-Expand-Label(secret, "traffic upd", "",
Hash.length) of the previous one (RFC 8446 7.2), and their keys and IVs.

Secrets derived at run time can only be in writable memory, so only
writable (and anonymous) mappings are read, through /proc/PID/mem; that
also keeps the chance that a 4-byte salt matches by accident small (about
one in a thousand per scan of a few MiB).  Regions that cannot be read are
reported and skipped.

Exit status:
  default         0 if no needle is found, 1 if any is.
  --expect-found  0 if every *key* needle is found, 1 otherwise: for TLS 1.3
                  the traffic keys, IVs and IV parts (what a user-space AEAD
                  must hold to work; the traffic secrets may legitimately be
                  gone once the keys are derived, so they are only reported),
                  for TLS 1.2 the master secret and every part of the key
                  block.  This mode proves the scan can see keys that are
                  really there.
  --secrets-kept  0 if no key, IV or IV part is found, whether or not the
                  traffic secrets are (a kTLS connection that can follow
                  KeyUpdate keeps its two current secrets, see rekey.h).
  2               usage or input errors.
"""

import argparse
import hashlib
import hmac
import re
import sys

# TLS 1.3 suite -> (hash, AEAD key length); every TLS 1.3 AEAD has a 12-byte IV.
SUITES = {
    "TLS_AES_128_GCM_SHA256": (hashlib.sha256, 16),
    "TLS_AES_256_GCM_SHA384": (hashlib.sha384, 32),
    "TLS_CHACHA20_POLY1305_SHA256": (hashlib.sha256, 32),
}
IV_LEN = 12
SALT_LEN = 4
# TLS 1.2 AEAD (from the suite name) -> (PRF hash, key length, fixed IV length)
TLS12_AEADS = {
    "AES128_GCM": (hashlib.sha256, 16, 4),
    "AES_128_GCM": (hashlib.sha256, 16, 4),
    "AES256_GCM": (hashlib.sha384, 32, 4),
    "AES_256_GCM": (hashlib.sha384, 32, 4),
    "CHACHA20_POLY1305": (hashlib.sha256, 32, 12),
}
SPECIAL_MAPPINGS = ("[vvar]", "[vvar_vclock]", "[vsyscall]")
CHUNK = 1 << 20


def hkdf_expand(hash_fn, prk, info, length):
    """HKDF-Expand of RFC 5869 section 2.3."""
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hash_fn).digest()
        out += block
        counter += 1
    return out[:length]


def hkdf_expand_label(hash_fn, secret, label, context, length):
    """HKDF-Expand-Label of RFC 8446 section 7.1."""
    full = b"tls13 " + label
    info = (length.to_bytes(2, "big") + bytes([len(full)]) + full
            + bytes([len(context)]) + context)
    return hkdf_expand(hash_fn, secret, info, length)


def tls12_prf(hash_fn, secret, label, seed, length):
    """PRF of RFC 5246 section 5: P_hash(secret, label + seed)."""
    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = hmac.new(secret, a, hash_fn).digest()
        out += hmac.new(secret, a + seed, hash_fn).digest()
    return out[:length]


def read_keylog(path):
    """{label: [(client random, secret bytes), ...]} from an NSS key log."""
    entries = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3 or line.startswith("#"):
                continue
            entries.setdefault(parts[0], []).append(
                (bytes.fromhex(parts[1]), bytes.fromhex(parts[2])))
    return entries


def server_randoms(path):
    """The random of every ServerHello in openssl s_client -msg output."""
    randoms, lines = [], open(path).read().splitlines()
    for i, line in enumerate(lines):
        if not line.endswith(", ServerHello"):
            continue
        body = []
        for hexline in lines[i + 1:]:
            if not re.fullmatch(r"\s+([0-9a-f]{2} ?)+", hexline):
                break
            body += hexline.split()
        # type(1) length(3) version(2) random(32)
        randoms.append(bytes.fromhex("".join(body[6:38])))
    return randoms


def iv_parts(tag, iv):
    """The IV whole, and its salt and rest apart (AES-GCM crypto_info)."""
    return [(tag + " write iv", iv, True),
            (tag + " iv salt", iv[:SALT_LEN], True),
            (tag + " iv rest", iv[SALT_LEN:], True)]


def tls13_needles(entries, suite, generation):
    """[(name, bytes, is_key)] for every TLS 1.3 connection in the log, after
    generation KeyUpdates."""
    hash_fn, key_len = SUITES[suite]
    needles = []
    for side in ("CLIENT", "SERVER"):
        for n, (_, secret) in enumerate(entries.get(side + "_TRAFFIC_SECRET_0", [])):
            for _ in range(generation):
                secret = hkdf_expand_label(hash_fn, secret, b"traffic upd", b"",
                                           hash_fn().digest_size)
            tag = side.lower() + ("" if n == 0 else "#%d" % n)
            needles.append((tag + " traffic secret", secret, False))
            needles.append((tag + " write key",
                            hkdf_expand_label(hash_fn, secret, b"key", b"", key_len), True))
            needles += iv_parts(tag, hkdf_expand_label(hash_fn, secret, b"iv", b"", IV_LEN))
    return needles


def tls12_aead(suite):
    for name, params in TLS12_AEADS.items():
        if name in suite:
            return params
    return None


def tls12_needles(entries, suite, srandoms):
    """[(name, bytes, is_key)]: master secrets, and with the server randoms
    (in connection order, like the key log) the key blocks' parts."""
    hash_fn, key_len, iv_len = tls12_aead(suite)
    needles = []
    for n, (crandom, master) in enumerate(entries.get("CLIENT_RANDOM", [])):
        tag = "" if n == 0 else "#%d" % n
        needles.append(("master secret" + tag, master, True))
        if n >= len(srandoms):
            continue
        block = tls12_prf(hash_fn, master, b"key expansion", srandoms[n] + crandom,
                          2 * key_len + 2 * iv_len)
        parts = (("client write key", key_len), ("server write key", key_len),
                 ("client write iv", iv_len), ("server write iv", iv_len))
        off = 0
        for name, length in parts:
            needles.append((name + tag, block[off:off + length], True))
            off += length
    return needles


def readable_regions(pid):
    """[(start, end, description)] of the mappings we may read."""
    regions = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split(None, 5)
            start, end = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5].strip() if len(fields) > 5 else ""
            # writable, or anonymous (a key can be in no other kind)
            if fields[1][0] != "r" or name in SPECIAL_MAPPINGS or (
                    fields[1][1] != "w" and name and not name.startswith("[")):
                continue
            regions.append((start, end, "%s %s %s" % (fields[0], fields[1], name or "[anon]")))
    return regions


def scan(pid, needles):
    """{needle name: [(address, region description)]}; notes unreadable chunks."""
    hits = {name: [] for name, _, _ in needles}
    overlap = max(len(b) for _, b, _ in needles) - 1
    unreadable = 0
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for start, end, desc in readable_regions(pid):
            tail = b""  # end of the previous chunk: finds needles that straddle two
            for addr in range(start, end, CHUNK):
                try:
                    mem.seek(addr)
                    data = mem.read(min(CHUNK, end - addr))
                except OSError:
                    unreadable += 1
                    tail = b""
                    continue
                window, base = tail + data, addr - len(tail)
                for name, needle, _ in needles:
                    pos = window.find(needle)
                    while pos != -1:
                        if pos + len(needle) > len(tail):  # else seen in the last chunk
                            hits[name].append((base + pos, desc))
                        pos = window.find(needle, pos + 1)
                tail = data[-overlap:] if overlap else b""
    if unreadable:
        print("# %d chunk(s) of %d bytes could not be read" % (unreadable, CHUNK))
    return hits


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keylog", required=True)
    ap.add_argument("--suite", required=True, help="TLS 1.3 suite, or any TLS 1.2 suite")
    ap.add_argument("--pid", required=True, type=int)
    ap.add_argument("--server-hello", help="openssl s_client -msg output (TLS 1.2)")
    ap.add_argument("--expect-found", action="store_true")
    ap.add_argument("--secrets-kept", action="store_true")
    ap.add_argument("--generation", type=int, default=0)
    args = ap.parse_args()

    entries = read_keylog(args.keylog)
    suite = args.suite.upper().replace("-", "_")
    if entries.get("CLIENT_TRAFFIC_SECRET_0"):
        if suite not in SUITES:
            print("keyscan: %s is not a TLS 1.3 suite" % args.suite, file=sys.stderr)
            return 2
        needles = tls13_needles(entries, suite, args.generation)
    else:
        if tls12_aead(suite) is None:
            print("keyscan: %s is not a TLS 1.2 AEAD suite" % args.suite, file=sys.stderr)
            return 2
        srandoms = server_randoms(args.server_hello) if args.server_hello else []
        needles = tls12_needles(entries, suite, srandoms)
    if not needles:
        print("keyscan: no usable secret in %s" % args.keylog, file=sys.stderr)
        return 2

    hits = scan(args.pid, needles)
    for name, needle, is_key in needles:
        found = hits[name]
        print("%-26s %-9s %s" % (name, "FOUND" if found else "not found", needle.hex()))
        for addr, desc in found:
            print("#   at 0x%x in %s" % (addr, desc))

    if args.expect_found:
        return 0 if all(hits[name] for name, _, is_key in needles if is_key) else 1
    if args.secrets_kept:
        return 1 if any(hits[name] for name, _, is_key in needles if is_key) else 0
    return 1 if any(hits.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
