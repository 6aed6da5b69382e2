#!/usr/bin/env python3
"""Broker memory per idle connection, plaintext or TLS.

  bench/tls_idle.py PORT COUNT PID plain|tls [CA]

Opens COUNT connections to 127.0.0.1:PORT (completing the TLS handshake,
trusting CA, when tls), sends one byte on each (half a frame's length, so
the broker has read application data and holds a partial frame), waits a
second and prints how much the RSS of process PID grew, per connection.
Start hermodd first, e.g. with --store memory --log-level warn (and
--tls-cert/--tls-key for tls). Standard library only.
"""
import socket
import ssl
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise SystemExit("no such process")


def main():
    port, count, pid, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    time.sleep(0.3)
    before = rss_kib(pid)
    ctx = ssl.create_default_context(cafile=sys.argv[5]) if mode == "tls" else None
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        if ctx is not None:
            s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        socks.append(s)
    for s in socks:
        s.sendall(b"\x00")
    time.sleep(1.0)
    after = rss_kib(pid)
    print(f"{mode}: {count} idle connections: RSS {before} -> {after} KiB, "
          f"{(after - before) * 1024 / count:.0f} bytes each")


main()
