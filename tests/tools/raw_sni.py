#!/usr/bin/env python3
"""Send a hand-made TLS 1.2/1.3 ClientHello whose server_name carries
arbitrary bytes, and say what the server answered.

    raw_sni.py HOST PORT SNI_HEX

Prints one word: "alert:N" (the server's alert description, e.g. 112 for
unrecognized_name), "handshake" (it went on with a ServerHello), "closed"
(it closed without a word) or "other:TYPE".
"""
import os
import socket
import struct
import sys


def ext(kind, body):
    return struct.pack("!HH", kind, len(body)) + body


def client_hello(sni):
    name = struct.pack("!BH", 0, len(sni)) + sni
    exts = ext(0, struct.pack("!H", len(name)) + name)             # server_name
    exts += ext(10, struct.pack("!HHH", 4, 23, 29))                # groups: P-256, x25519
    exts += ext(13, struct.pack("!HHHH", 6, 0x0403, 0x0804, 0x0401))  # signature_algorithms
    exts += ext(11, b"\x01\x00")                                    # ec_point_formats
    exts += ext(43, b"\x04\x03\x04\x03\x03")                        # versions: 1.3, 1.2
    share = os.urandom(32)  # an x25519 share that no one checks before the SNI
    exts += ext(51, struct.pack("!HHH", 36, 29, 32) + share)        # key_share
    exts += ext(45, b"\x01\x01")                                    # psk modes
    suites = struct.pack("!HHHH", 6, 0x1301, 0xC02B, 0xC02F)
    body = b"\x03\x03" + os.urandom(32) + b"\x20" + os.urandom(32) + suites + b"\x01\x00"
    body += struct.pack("!H", len(exts)) + exts
    msg = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(msg)) + msg


def main():
    host, port, sni = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(client_hello(sni))
        head = b""
        while len(head) < 7:
            chunk = s.recv(7 - len(head))
            if not chunk:
                break
            head += chunk
    if len(head) < 5:
        print("closed")
    elif head[0] == 21 and len(head) >= 7:
        print("alert:%d" % head[6])
    elif head[0] == 22:
        print("handshake")
    else:
        print("other:%d" % head[0])


if __name__ == "__main__":
    main()
