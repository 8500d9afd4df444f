#!/usr/bin/env python3
"""Clients for tests/integration/ops.sh (reload, stop, limits).

  ops_client.py load PORT SECONDS BYTES GEN_SHA STOPFILE
      Until STOPFILE exists (or SECONDS pass): short connections one after
      another on 2 threads, plus 2 long-lived ones that trickle their upload
      over the whole run.  Each sends BYTES (a random block, its sha256
      recorded by kp_backend) and checks that the BYTES it receives hash to
      GEN_SHA.  Prints "ok N" or "fail N: reason..." per kind; exit 1 on any
      failure.
  ops_client.py one PORT SECONDS BYTES GEN_SHA
      One such connection, its upload spread over SECONDS; exit 1 on failure.
  ops_client.py hold PORT N FIRST_WAIT
      Opens N TLS connections at once and holds those whose handshake
      completes.  After FIRST_WAIT seconds prints "first K" (how many got
      through), closes N-K of those, then prints "then M" once every
      connection got through (or after 10 s).
  ops_client.py idle PORT
      One TLS connection that sends nothing: prints "connected", then how it
      ended: "close_notify" (a clean TLS close) or the error.
  ops_client.py raw PORT N
      Opens N plain TCP connections that never send a byte, prints "open",
      and holds them until killed.
  ops_client.py activate PORT CMD...
      Socket activation as systemd does it: bind 127.0.0.1:PORT, pass it as
      fd 3 with LISTEN_FDS=1 and LISTEN_PID, exec CMD (same pid).
  ops_client.py notify PATH OUTFILE
      Receive sd_notify datagrams on the unix socket PATH ('@' = abstract),
      append each to OUTFILE as one line (newlines shown as '|').
"""
import hashlib
import os
import socket
import ssl
import sys
import threading
import time


def tls_connect(port, timeout=30):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def exchange(port, payload, gen_sha, trickle=0.0, announce=False):
    """Send payload (in 16 KiB pieces, sleeping trickle between them), then
    read to the end; None if all is well, else what went wrong."""
    try:
        s = tls_connect(port)
        if announce:
            print("connected", flush=True)
        for i in range(0, len(payload), 16384):
            s.sendall(payload[i:i + 16384])
            if trickle:
                time.sleep(trickle)
        h = hashlib.sha256()
        while True:
            b = s.recv(65536)
            if not b:
                break
            h.update(b)
        s.close()
    except Exception as e:  # every failure counts, whatever it is
        return repr(e)
    return None if h.hexdigest() == gen_sha else "received bytes differ"


def load(port, seconds, nbytes, gen_sha, stopfile):
    payload = os.urandom(nbytes)
    print("payload %s" % hashlib.sha256(payload).hexdigest(), flush=True)
    deadline = time.time() + seconds
    results = {"short": [0, []], "long": [0, []]}
    lock = threading.Lock()

    def record(kind, err):
        with lock:
            results[kind][0] += 1
            if err:
                results[kind][1].append(err)

    def short():
        while time.time() < deadline and not os.path.exists(stopfile):
            record("short", exchange(port, payload, gen_sha))

    def long_lived():
        # Spread the upload over the run so the connection spans reloads.
        pieces = max(1, nbytes // 16384)
        while time.time() < deadline and not os.path.exists(stopfile):
            record("long", exchange(port, payload, gen_sha, trickle=2.0 / pieces))

    threads = [threading.Thread(target=short) for _ in range(2)]
    threads += [threading.Thread(target=long_lived) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = False
    for kind, (n, errs) in results.items():
        if errs:
            bad = True
            print("fail %s %d of %d: %s" % (kind, len(errs), n, "; ".join(errs[:5])))
        else:
            print("ok %s %d" % (kind, n))
    return 1 if bad or results["short"][0] == 0 else 0


def one(port, seconds, nbytes, gen_sha):
    err = exchange(port, os.urandom(nbytes), gen_sha, trickle=seconds / max(1, nbytes // 16384),
                   announce=True)
    print(err or "ok", flush=True)
    return 1 if err else 0


def raw(port, n):
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    print("open %d" % len(held), flush=True)
    time.sleep(3600)
    return 0


def activate(port, cmd):
    ls = socket.create_server(("127.0.0.1", port), backlog=128)
    if ls.fileno() != 3:
        os.dup2(ls.fileno(), 3)
    os.set_inheritable(3, True)
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
    os.execve(cmd[0], cmd, env)


def hold(port, n, first_wait):
    done = []
    lock = threading.Lock()

    def one():
        try:
            s = tls_connect(port, timeout=20)
            with lock:
                done.append(s)
        except Exception as e:
            print("# connection failed: %r" % e, flush=True)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    time.sleep(first_wait)
    with lock:
        first = len(done)
        served = list(done)
    print("first %d" % first, flush=True)
    for s in served[: n - first]:
        s.close()
    end = time.time() + 10
    while time.time() < end and len(done) < n:
        time.sleep(0.05)
    print("then %d" % len(done), flush=True)
    return 0


def idle(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=60)
    s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    print("connected", flush=True)
    try:
        b = s.recv(100)
        print("close_notify" if not b else "data %r" % b, flush=True)
    except Exception as e:
        print("error %r" % e, flush=True)
    return 0


def notify(path, outfile):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + path[1:] if path.startswith("@") else path)
    with open(outfile, "a") as out:
        out.write("listening\n")
        out.flush()
        while True:
            msg = s.recv(4096).decode()
            out.write(msg.replace("\n", "|") + "\n")
            out.flush()


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == "load":
        return load(int(a[0]), float(a[1]), int(a[2]), a[3], a[4])
    if cmd == "one":
        return one(int(a[0]), float(a[1]), int(a[2]), a[3])
    if cmd == "raw":
        return raw(int(a[0]), int(a[1]))
    if cmd == "activate":
        return activate(int(a[0]), a[1:])
    if cmd == "hold":
        return hold(int(a[0]), int(a[1]), float(a[2]))
    if cmd == "idle":
        return idle(int(a[0]))
    if cmd == "notify":
        return notify(a[0], a[1])
    print("unknown command", cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
