#!/usr/bin/env python3
"""Request latency over one keep-alive connection: the guard against Nagle /
delayed-ACK stalls (a response whose last segment waits ~40 ms for the
client's delayed ACK).

  keepalive.py serve PORT
      A real HTTP/1.1 keep-alive server (Python's http.server): GET /N answers
      N bytes.  Each response leaves in one send() from a TCP_NODELAY socket,
      so the backend itself never waits on an ACK.
  keepalive.py client HOST PORT [--tls [--tls12]] [--requests N]
                      [--save FILE] [--baseline FILE] [--max-added-ms MS]
      N requests (sizes cycling through SIZES) over ONE connection, each timed
      from sending the request to the last byte of the body.  Prints the
      median per size; --save writes them to FILE.  With --baseline (medians
      saved by a run that cannot stall), exits 1 when any size's median
      exceeds the baseline's by MS or more: a stall that hits every response
      of a size shows there, while the noise of an emulated VM (single slow
      requests) does not.  Exits 1 on a wrong response too.
"""
import argparse
import http.server
import json
import socket
import socketserver
import ssl
import statistics
import sys
import time

# Small, one record, one record plus a small tail, several records plus a tail.
SIZES = (100, 16384, 16484, 70000)
PATTERN = bytes((i * 7) & 0xFF for i in range(256)) * (max(SIZES) // 256 + 1)


def body(n):
    return PATTERN[:n]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        try:
            n = int(self.path.lstrip("/"))
        except ValueError:
            n = 0
        n = min(n, len(PATTERN))
        head = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                "Content-Length: %d\r\n\r\n" % n).encode()
        self.wfile.write(head + body(n))

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(port):
    Server(("127.0.0.1", port), Handler).serve_forever()


def read_response(f, n):
    status = f.readline()
    if not status.startswith(b"HTTP/1.1 200"):
        raise ValueError("bad status line %r" % status)
    length = None
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    if length != n:
        raise ValueError("content-length %r, expected %d" % (length, n))
    body_got = f.read(n)
    if body_got != body(n):
        raise ValueError("body of %d bytes differs" % n)


def client(a):
    sock = socket.create_connection((a.host, a.port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if a.tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    f = sock.makefile("rb")
    times = []
    for i in range(a.requests):
        n = SIZES[i % len(SIZES)]
        t0 = time.monotonic()
        sock.sendall(b"GET /%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % n)
        try:
            read_response(f, n)
        except (ValueError, OSError) as e:
            print("request %d (%d bytes): %s" % (i, n, e))
            return 1
        times.append((time.monotonic() - t0) * 1000)
    by_size = {}
    for i, t in enumerate(times):
        by_size.setdefault(SIZES[i % len(SIZES)], []).append(t)
    medians = {n: statistics.median(ts) for n, ts in by_size.items()}
    print("%d requests, slowest %.2f ms" % (len(times), max(times)))
    if a.save:
        with open(a.save, "w") as out:
            json.dump(medians, out)
    base = {}
    if a.baseline:
        with open(a.baseline) as inp:
            base = {int(n): m for n, m in json.load(inp).items()}
    st = 0
    for n in sorted(medians):
        added = medians[n] - base.get(n, 0.0)
        verdict = ""
        if a.baseline and added >= a.max_added_ms:
            verdict, st = "  STALL", 1
        over = " (%+.2f ms over the baseline)" % added if a.baseline else ""
        print("  %6d bytes: median %.2f ms%s%s" % (n, medians[n], over, verdict))
    return st

def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("port", type=int)
    c = sub.add_parser("client")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--tls", action="store_true")
    c.add_argument("--tls12", action="store_true", help="with --tls: at most TLS 1.2")
    c.add_argument("--requests", type=int, default=120)
    c.add_argument("--save")
    c.add_argument("--baseline")
    c.add_argument("--max-added-ms", type=float, default=30.0)
    a = p.parse_args()
    if a.mode == "serve":
        serve(a.port)
        return 0
    return client(a)


if __name__ == "__main__":
    sys.exit(main())
