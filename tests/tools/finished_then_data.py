#!/usr/bin/env python3
"""A TLS 1.3 client whose first application data leaves in the same send()
as its Finished message, so the bytes are already queued in the server's
socket when the server hands its keys to the kernel.

    finished_then_data.py [--fin] HOST PORT SNI FILE

Sends FILE, reads the answer until the server closes, and prints
"FIRST_SEND_BYTES RECEIVED_BYTES SHA256" of what came back.  With --fin the
client's side ends with that first send (FILE up to 16 KiB): corked, so that
Finished, data and FIN arrive in one segment and the server's socket is no
longer established when it tries to hand its keys to the kernel.
"""
import hashlib
import socket
import ssl
import sys


def main():
    args = sys.argv[1:]
    fin = args[0] == "--fin"
    if fin:
        args = args[1:]
    host, port, sni, path = args[0], int(args[1]), args[2], args[3]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname=sni)
    sock = socket.create_connection((host, port))
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            if out.pending:
                sock.sendall(out.read())
            data = sock.recv(65536)
            if not data:
                sys.exit("server closed during the handshake")
            inc.write(data)
    with open(path, "rb") as f:
        payload = f.read()
    # The Finished is still in the outgoing buffer: add the first record of
    # data and send both with one call.
    tls.write(payload[:16384])
    first = out.read()
    if fin:
        if len(payload) > 16384:
            sys.exit("--fin sends at most 16 KiB")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        sock.sendall(first)
        sock.shutdown(socket.SHUT_WR)  # the FIN rides on the corked data
    else:
        sock.sendall(first)
    for off in range(16384, len(payload), 65536):
        tls.write(payload[off:off + 65536])
        sock.sendall(out.read())
    digest, received = hashlib.sha256(), 0
    while True:
        try:
            chunk = tls.read(65536)
            if not chunk:
                break
            digest.update(chunk)
            received += len(chunk)
        except ssl.SSLWantReadError:
            data = sock.recv(65536)
            if not data:
                break
            inc.write(data)
        except ssl.SSLZeroReturnError:
            break
    print(len(first), received, digest.hexdigest())


main()
