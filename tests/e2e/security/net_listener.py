#!/usr/bin/env python3
"""The host side of the network_none escape case: listens on TCP and UDP port PORT of every
address given, and on the abstract AF_UNIX socket @NAME (stream and datagram), and appends a line
to LOG for every connection or datagram that arrives. Prints "ready" once every socket listens.
Usage: net_listener.py LOG PORT NAME ADDR..."""
import os
import select
import socket
import sys

log, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
socks = []
for addr in sys.argv[4:]:
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(fam, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        if kind == socket.SOCK_STREAM:
            s.listen(16)
        socks.append((s, f"{'tcp' if kind == socket.SOCK_STREAM else 'udp'} {addr}:{port}"))
for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_UNIX, kind)
    s.bind("\0" + name)
    if kind == socket.SOCK_STREAM:
        s.listen(16)
    socks.append((s, f"unix @{name}"))
print("ready", flush=True)
by_fd = {s.fileno(): (s, what) for s, what in socks}
while True:
    ready, _, _ = select.select(list(by_fd), [], [])
    for fd in ready:
        s, what = by_fd[fd]
        if s.type == socket.SOCK_STREAM:
            c, peer = s.accept()
            line = f"accepted on {what} from {peer}"
            c.close()
        else:
            data, peer = s.recvfrom(4096)
            line = f"datagram on {what} from {peer}: {data!r}"
        with open(log, "a") as f:
            f.write(line + "\n")
