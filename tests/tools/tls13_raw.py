#!/usr/bin/env python3
"""A TLS 1.3 client (AES-GCM suites) that does what ordinary clients cannot:
Python's ssl module runs the handshake in memory, the traffic secrets come
from its key log, and this script writes records of its own with them.

    tls13_raw.py HOST PORT SNI KEYLOG unfinished
        Receives the server's whole flight (the server has derived its
        application secrets by then), then sends garbage instead of its
        Finished, so that the handshake fails.  Prints the server's answer
        ("alert:N" or "closed") and the suite.
    tls13_raw.py HOST PORT SNI KEYLOG alert-then-data
        Completes the handshake, sends a warning-level user_canceled alert,
        then "hello" as application data, and reads the answer until the
        server closes.  Prints the number of answer bytes.
    tls13_raw.py HOST PORT SNI KEYLOG key-update-storm N
        Completes the handshake, then sends N KeyUpdate(update_not_requested)
        messages, each in its own record under the next client traffic
        secret (RFC 8446 4.6.3, 7.2), and waits until the server closes.
        Prints "closed" or "open" (still open after 10 s).
"""
import hashlib
import hmac
import socket
import ssl
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


# suite -> (hash, key length)
SUITES = {
    "TLS_AES_128_GCM_SHA256": (hashlib.sha256, 16),
    "TLS_AES_256_GCM_SHA384": (hashlib.sha384, 32),
}


def hkdf_expand_label(hash_fn, secret, label, length):
    info = struct.pack("!HB", length, 6 + len(label)) + b"tls13 " + label + b"\x00"
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([counter]), hash_fn).digest()
        out += block
        counter += 1
    return out[:length]


def client_secret(keylog):
    """The last CLIENT_TRAFFIC_SECRET_0 (the file may hold older sessions)."""
    secrets = [line.split()[2] for line in open(keylog)
               if line.startswith("CLIENT_TRAFFIC_SECRET_0 ")]
    if not secrets:
        sys.exit("no CLIENT_TRAFFIC_SECRET_0 in " + keylog)
    return bytes.fromhex(secrets[-1])


def record(suite, secret, seq, inner_type, payload):
    hash_fn, key_len = SUITES[suite]
    key = hkdf_expand_label(hash_fn, secret, b"key", key_len)
    iv = hkdf_expand_label(hash_fn, secret, b"iv", 12)
    nonce = bytes(a ^ b for a, b in zip(iv, seq.to_bytes(12, "big")))
    inner = payload + bytes([inner_type])
    header = b"\x17\x03\x03" + struct.pack("!H", len(inner) + 16)
    return header + AESGCM(key).encrypt(nonce, inner, header)


def handshake(sock, sni, keylog):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.keylog_filename = keylog
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname=sni)
    while True:
        try:
            tls.do_handshake()
            return tls, inc, out
        except ssl.SSLWantReadError:
            if out.pending:
                sock.sendall(out.read())
            data = sock.recv(65536)
            if not data:
                sys.exit("server closed during the handshake")
            inc.write(data)


def answer(sock):
    try:
        head = sock.recv(7)
    except ConnectionResetError:
        head = b""
    return "alert:%d" % head[6] if len(head) == 7 and head[0] == 21 else "closed"


def key_update_storm(sock, suite, secret, count):
    hash_fn = SUITES[suite][0]
    for _ in range(count):
        try:
            sock.sendall(record(suite, secret, 0, 22, b"\x18\x00\x00\x01\x00"))
        except (BrokenPipeError, ConnectionResetError):
            break
        secret = hkdf_expand_label(hash_fn, secret, b"traffic upd", hash_fn().digest_size)
    try:
        while sock.recv(65536):
            pass
        return "closed"
    except ConnectionResetError:
        return "closed"
    except socket.timeout:
        return "open"


def main():
    host, port, sni, keylog, mode = sys.argv[1:6]
    sock = socket.create_connection((host, int(port)), timeout=10)
    tls, inc, out = handshake(sock, sni, keylog)
    if mode == "unfinished":
        out.read()  # our Finished: never sent
        sock.sendall(b"\x17\x03\x03\x00\x20" + bytes(32))
        print(answer(sock), tls.cipher()[0])
        return
    sock.sendall(out.read())
    secret, suite = client_secret(keylog), tls.cipher()[0]
    if mode == "key-update-storm":
        print(key_update_storm(sock, suite, secret, int(sys.argv[6])))
        return
    sock.sendall(record(suite, secret, 0, 21, b"\x01\x5a"))  # warning, user_canceled
    sock.sendall(record(suite, secret, 1, 23, b"hello"))
    got, closed = 0, False
    while not closed:
        data = sock.recv(65536)
        if not data:
            break
        inc.write(data)
        try:
            while not closed:
                chunk = tls.read(65536)
                got += len(chunk)
                closed = not chunk  # close_notify: the answer is complete
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError:
            closed = True
    print(got)


if __name__ == "__main__":
    main()
