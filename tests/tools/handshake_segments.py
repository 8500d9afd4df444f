#!/usr/bin/env python3
"""Print how many TCP data segments a TLS client received during the handshake.

    handshake_segments.py PORT 1.2|1.3

Connects to 127.0.0.1:PORT, completes a handshake of that version, waits a
moment for stragglers, then reads the socket's tcpi_data_segs_in (TCP_INFO).  A
server that sends each flight in one segment gives 1 (TLS 1.3) or 2 (TLS 1.2).
"""
import socket
import ssl
import struct
import sys
import time

TCPI_DATA_SEGS_IN = 152


def main():
    port, version = int(sys.argv[1]), sys.argv[2]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    conn = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                           server_hostname="localhost")
    time.sleep(0.5)
    info = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    # struct tcp_info (linux/tcp.h): tcpi_data_segs_in is the u32 at offset 152
    # (kernel 4.6+; a shorter answer means an older kernel).
    print(struct.unpack_from("I", info, TCPI_DATA_SEGS_IN)[0] if len(info) >= 156 else "unknown")
    conn.close()


main()
