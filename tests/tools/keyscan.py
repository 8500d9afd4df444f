#!/usr/bin/env python3
"""keyscan - look for one TLS connection's secrets in a live process's memory.

    keyscan.py --keylog FILE --suite SUITE --pid PID [--expect-found]

FILE is an NSS key log (openssl s_client -keylogfile FILE).  SUITE is the
negotiated cipher suite in OpenSSL's or IANA's spelling; it picks the hash and
key length that TLS 1.3 key derivation needs.

What is looked for ("needles"):
  TLS 1.3  CLIENT_TRAFFIC_SECRET_0 and SERVER_TRAFFIC_SECRET_0 themselves, and
           the write key and 12-byte IV derived from each with
           HKDF-Expand-Label(secret, "key"/"iv", "", len) (RFC 8446 7.1, 7.3).
  TLS 1.2  only the 48-byte master secret (CLIENT_RANDOM line).  The key block
           is PRF(master, "key expansion", server_random || client_random),
           and the key log carries the client random only, so the keys
           themselves cannot be derived from it.

The whole readable address space (/proc/PID/maps, minus [vvar]-like special
mappings) is read through /proc/PID/mem; regions that cannot be read are
reported and skipped.

Exit status:
  default         0 if no needle is found, 1 if any is.
  --expect-found  0 if every *key* needle is found, 1 otherwise: for TLS 1.3
                  the four traffic keys and IVs (what a user-space AEAD must
                  hold to work; the traffic secrets may legitimately be gone
                  once the keys are derived, so they are only reported), for
                  TLS 1.2 the master secret.  This mode proves the scan can
                  see keys that are really there.
  2               usage or input errors.
"""

import argparse
import hashlib
import hmac
import sys

# suite -> (hash, AEAD key length); every TLS 1.3 AEAD here has a 12-byte IV.
SUITES = {
    "TLS_AES_128_GCM_SHA256": (hashlib.sha256, 16),
    "TLS_AES_256_GCM_SHA384": (hashlib.sha384, 32),
    "TLS_CHACHA20_POLY1305_SHA256": (hashlib.sha256, 32),
}
IV_LEN = 12
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


def read_keylog(path):
    """{label: [secret bytes, ...]} from an NSS key log."""
    entries = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3 or line.startswith("#"):
                continue
            entries.setdefault(parts[0], []).append(bytes.fromhex(parts[2]))
    return entries


def tls13_needles(entries, suite):
    """[(name, bytes, is_key)] for every TLS 1.3 connection in the log."""
    hash_fn, key_len = SUITES[suite]
    needles = []
    for side in ("CLIENT", "SERVER"):
        for n, secret in enumerate(entries.get(side + "_TRAFFIC_SECRET_0", [])):
            tag = side.lower() + ("" if n == 0 else "#%d" % n)
            needles.append((tag + " traffic secret", secret, False))
            needles.append((tag + " write key",
                            hkdf_expand_label(hash_fn, secret, b"key", b"", key_len), True))
            needles.append((tag + " write iv",
                            hkdf_expand_label(hash_fn, secret, b"iv", b"", IV_LEN), True))
    return needles


def tls12_needles(entries):
    return [("master secret" + ("" if n == 0 else "#%d" % n), m, True)
            for n, m in enumerate(entries.get("CLIENT_RANDOM", []))]


def readable_regions(pid):
    """[(start, end, description)] of the mappings we may read."""
    regions = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split(None, 5)
            start, end = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5].strip() if len(fields) > 5 else ""
            if fields[1][0] != "r" or name in SPECIAL_MAPPINGS:
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
    ap.add_argument("--expect-found", action="store_true")
    args = ap.parse_args()

    entries = read_keylog(args.keylog)
    suite = args.suite.upper().replace("-", "_")
    if entries.get("CLIENT_TRAFFIC_SECRET_0"):
        if suite not in SUITES:
            print("keyscan: %s is not a TLS 1.3 suite" % args.suite, file=sys.stderr)
            return 2
        needles = tls13_needles(entries, suite)
    else:
        needles = tls12_needles(entries)
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
    return 1 if any(hits.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
