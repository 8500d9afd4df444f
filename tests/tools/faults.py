#!/usr/bin/env python3
"""faults.py - hostile clients and broken backends for tests/integration/faults.sh.

    faults.py backend KIND PORT        a broken backend (runs until killed):
        reset   reads a little, sends 64 KiB, then resets the connection
        stall   accepts and never reads
        late    reads, waits 1 s, then answers 1 MiB and closes
    faults.py client KIND PORT [ARGS]  one hostile client; prints one line

Client kinds and what they print (SECS: seconds until the daemon closed the
connection; HOW: eof, reset, or open if it outlived the limit):
    upload SNI SECS      handshake, then send without pause for SECS seconds:
                         "SENT_BYTES" (what the kernel accepted)
    noread SNI SECS      handshake, then neither read nor write for SECS s
    roundtrip SNI        handshake, send 5 bytes, read to the end: "BYTES SECS HOW"
    leave SNI            handshake, send 5 bytes, close at once
    slow-hello           a ClientHello at one byte a second: "SECS HOW SENT"
    rst-mid-record SNI   handshake, half an application data record, reset
    garbage SNI          handshake, then a record of garbage: "SECS HOW ALERT"
    alert-flood N        N warning alerts before any hello: "SECS HOW ALERT"
    sslv2 | sslv3 | big-hello | bad-length
                         that hello (see below), read the answer: "SECS HOW ALERT"
ALERT is the description of the first plaintext alert received, or "none".
"""
import os
import select
import socket
import ssl
import struct
import sys
import time

HOST = "127.0.0.1"
LIMIT = 30.0


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def hello_bytes(sni="localhost"):
    """A real ClientHello (Python's OpenSSL), as the first flight."""
    out = ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(ssl.MemoryBIO(), out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def tls_over_raw(sni):
    """(raw socket, SSLObject, its outgoing BIO) after a completed
    handshake, so that records can be cut and forged on the raw socket."""
    sock = socket.create_connection((HOST, PORT), timeout=LIMIT)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(inc, out, server_hostname=sni)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(out.read())
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed during the handshake")
            inc.write(data)
    sock.sendall(out.read())
    return sock, obj, out


def wait_close(sock, t0):
    """Read until the peer closes: (seconds, how, first plaintext alert)."""
    sock.settimeout(max(0.1, LIMIT - (time.monotonic() - t0)))
    first, alert = b"", "none"
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                how = "eof"
                break
            first += data if len(first) < 7 else b""
    except ConnectionResetError:
        how = "reset"
    except (TimeoutError, socket.timeout):
        how = "open"
    if len(first) >= 7 and first[0] == 0x15:
        alert = str(first[6])
    return "%.2f %s %s" % (time.monotonic() - t0, how, alert)


def rst(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def send_then_wait(data):
    sock = socket.create_connection((HOST, PORT), timeout=LIMIT)
    t0 = time.monotonic()
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return wait_close(sock, t0)


def record(ctype, body, version=b"\x03\x03"):
    return bytes([ctype]) + version + struct.pack("!H", len(body)) + body


# ---- hostile hellos ----
def sslv2_hello():
    # SSL 2.0 CLIENT-HELLO (msg 1), version 0x0002, one cipher spec
    # (SSL_CK_RC4_128_WITH_MD5), no session id, 16 bytes of challenge.
    body = b"\x01\x00\x02" + struct.pack("!HHH", 3, 0, 16) + b"\x01\x00\x80" + os.urandom(16)
    return struct.pack("!H", 0x8000 | len(body)) + body


def sslv3_hello():
    # SSL 3.0 record and ClientHello: client_version 3.0, two suites, no
    # extensions.
    hello = b"\x03\x00" + os.urandom(32) + b"\x00" + b"\x00\x04\x00\x2f\x00\x35" + b"\x01\x00"
    return record(22, b"\x01" + struct.pack("!I", len(hello))[1:] + hello, b"\x03\x00")


def big_hello():
    # A ClientHello that claims 1 MiB, sent as 64 full records of 16 KiB.
    msg = b"\x01" + struct.pack("!I", 1 << 20)[1:] + os.urandom((1 << 20))
    return b"".join(record(22, msg[i:i + 16384], b"\x03\x01")
                    for i in range(0, 64 * 16384, 16384))


def bad_length():
    # A handshake record header announcing 65535 bytes (> 2^14 + 256).
    return b"\x16\x03\x01\xff\xff" + hello_bytes()[5:]


# ---- clients ----
def c_upload(sni, secs):
    ctx = client_ctx()
    sock = ctx.wrap_socket(socket.create_connection((HOST, PORT), timeout=LIMIT),
                           server_hostname=sni)
    sock.setblocking(False)
    chunk, sent, end = b"u" * 16384, 0, time.monotonic() + float(secs)
    while time.monotonic() < end:
        select.select([], [sock], [], 0.2)
        try:
            sent += sock.send(chunk)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            pass
        except OSError:     # the daemon gave up on us: report what went in
            break
    rst(sock)
    return str(sent)


def c_noread(sni, secs):
    sock = client_ctx().wrap_socket(socket.create_connection((HOST, PORT)), server_hostname=sni)
    time.sleep(float(secs))
    rst(sock)
    return "done"


def c_roundtrip(sni):
    sock = client_ctx().wrap_socket(socket.create_connection((HOST, PORT), timeout=LIMIT),
                                    server_hostname=sni)
    t0 = time.monotonic()
    got, how = 0, "eof"
    try:
        sock.sendall(b"hello")  # (the daemon may have closed already)
        while True:
            data = sock.recv(65536)
            if not data:
                break
            got += len(data)
    except ssl.SSLEOFError:
        how = "eof"
    except (ConnectionResetError, BrokenPipeError):
        how = "reset"
    except ssl.SSLError:
        how = "tls-error"
    except (TimeoutError, socket.timeout):
        how = "open"
    return "%d %.2f %s" % (got, time.monotonic() - t0, how)


def c_leave(sni):
    sock = client_ctx().wrap_socket(socket.create_connection((HOST, PORT)), server_hostname=sni)
    sock.sendall(b"hello")
    sock.close()
    return "done"


def c_slow_hello():
    sock = socket.create_connection((HOST, PORT), timeout=LIMIT)
    t0, sent = time.monotonic(), 0
    for b in hello_bytes():
        try:
            sock.send(bytes([b]))
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            break
        r, _, _ = select.select([sock], [], [], 1.0)
        if r or time.monotonic() - t0 > LIMIT:
            break
    return wait_close(sock, t0) + " " + str(sent)


def c_rst_mid_record(sni):
    sock, obj, out = tls_over_raw(sni)
    obj.write(b"x" * 16000)
    rec = out.read()
    sock.sendall(rec[: len(rec) // 2])
    time.sleep(0.2)
    rst(sock)
    return "done"


def c_garbage(sni):
    sock, _, _ = tls_over_raw(sni)
    t0 = time.monotonic()
    sock.sendall(record(23, os.urandom(200)))
    # Alerts after the handshake are encrypted: report only how it ended.
    return wait_close(sock, t0).rsplit(" ", 1)[0]


def c_alert_flood(n):
    # warning-level user_canceled (90), again and again
    return send_then_wait(record(21, b"\x01\x5a") * int(n))


CLIENTS = {
    "upload": c_upload, "noread": c_noread, "roundtrip": c_roundtrip, "leave": c_leave,
    "slow-hello": c_slow_hello, "rst-mid-record": c_rst_mid_record, "garbage": c_garbage,
    "alert-flood": c_alert_flood,
    "sslv2": lambda: send_then_wait(sslv2_hello()),
    "sslv3": lambda: send_then_wait(sslv3_hello()),
    "big-hello": lambda: send_then_wait(big_hello()),
    "bad-length": lambda: send_then_wait(bad_length()),
}


# ---- backends ----
def b_reset(conn):
    conn.recv(65536)
    conn.sendall(b"r" * 65536)
    time.sleep(0.2)
    rst(conn)


def b_stall(conn):
    time.sleep(3600)


def b_late(conn):
    conn.recv(65536)
    time.sleep(1)
    try:
        conn.sendall(b"l" * (1 << 20))
    except OSError:
        pass
    conn.close()


BACKENDS = {"reset": b_reset, "stall": b_stall, "late": b_late}


def backend(kind):
    import threading
    ls = socket.create_server((HOST, PORT), backlog=256)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=BACKENDS[kind], args=(conn,), daemon=True).start()


if __name__ == "__main__":
    role, kind, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if role == "backend":
        backend(kind)
    else:
        print(CLIENTS[kind](*sys.argv[4:]), flush=True)
