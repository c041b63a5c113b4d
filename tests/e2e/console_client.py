#!/usr/bin/env python3
"""The engine's end of a container terminal (runc's --console-socket), for end-to-end tests.

Listens on a unix socket, takes the pseudo-terminal master that the runtime sends there (one
message: the master's name as data, the fd in SCM_RIGHTS, as runc's utils.SendFd does), runs a
script of steps against it, then collects the output until the terminal's other side is gone
(EOF or EIO on the master) and prints all of it, raw, on stdout.

Steps, in order (TEXT takes Python escapes: \\n, \\r, \\x03 for ^C, \\x04 for ^D):
  expect:TEXT     wait until the output (after the previous match) contains TEXT
  send:TEXT       write TEXT to the master, as typed keys
  size:ROWSxCOLS  resize the terminal (TIOCSWINSZ on the master), as an engine does
  sleep:SECONDS   wait
  close           close the master (a hang-up for the container) and stop collecting

Exit status: 0 when the output ended by itself (or after `close`), 2 when --timeout expired
first, 3 when an `expect` step timed out, 1 for a usage or socket error. The output collected so
far is printed in every case. --ready FILE is created once the socket listens (start the
runtime after it exists); --name FILE gets the name the runtime sent with the fd.

Example:
  console_client.py --socket /tmp/c.sock --ready /tmp/c.ready size:40x100 \\
      'expect:# ' 'send:stty size\\n' 'expect:40 100' 'send:exit\\n'
"""

import argparse
import codecs
import errno
import fcntl
import os
import select
import socket
import struct
import sys
import termios
import time


def decode(text):
    return codecs.decode(text, "unicode_escape").encode("latin-1")


def receive_master(listener, deadline):
    listener.settimeout(max(0.0, deadline - time.monotonic()))
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(max(0.0, deadline - time.monotonic()))
        msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise RuntimeError(f"expected one fd from the runtime, got {len(fds)}")
    return fds[0], msg.decode(errors="replace")


class Terminal:
    """The master and everything read from it."""

    def __init__(self, fd):
        self.fd = fd
        self.output = bytearray()
        self.matched = 0  # where the next `expect` starts looking
        self.ended = False

    def pump(self, timeout):
        """Reads what arrives within `timeout` seconds; False once the other side is gone."""
        if self.ended:
            return False
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError as e:
            if e.errno == errno.EIO:  # no replica left open: the container's side is gone
                self.ended = True
                return False
            raise
        if not data:
            self.ended = True
            return False
        self.output += data
        return True

    def expect(self, text, deadline):
        while True:
            at = self.output.find(text, self.matched)
            if at >= 0:
                self.matched = at + len(text)
                return True
            if time.monotonic() >= deadline or not self.pump(deadline - time.monotonic()):
                return self.output.find(text, self.matched) >= 0

    def send(self, data):
        while data:
            try:
                n = os.write(self.fd, data)
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    select.select([], [self.fd], [], 1)
                    continue
                raise
            data = data[n:]

    def resize(self, rows, cols):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--socket", required=True, help="the console socket path to listen on")
    parser.add_argument("--timeout", type=float, default=30.0, help="overall limit, seconds")
    parser.add_argument("--ready", help="file created once the socket listens")
    parser.add_argument("--name", help="file that gets the name sent with the fd")
    parser.add_argument("steps", nargs="*")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(args.socket)
    except FileNotFoundError:
        pass
    listener.bind(args.socket)
    listener.listen(1)
    if args.ready:
        with open(args.ready, "w"):
            pass
    try:
        fd, name = receive_master(listener, deadline)
    except (OSError, RuntimeError) as e:
        print(f"console_client: {e}", file=sys.stderr)
        return 1
    finally:
        listener.close()
    if args.name:
        with open(args.name, "w") as f:
            f.write(name)

    term = Terminal(fd)
    status = 0
    closed = False
    try:
        for step in args.steps:
            kind, _, arg = step.partition(":")
            if kind == "expect":
                if not term.expect(decode(arg), deadline):
                    print(f"console_client: no {arg!r} in the output", file=sys.stderr)
                    status = 3
                    break
            elif kind == "send":
                term.send(decode(arg))
            elif kind == "size":
                rows, _, cols = arg.partition("x")
                term.resize(int(rows), int(cols))
            elif kind == "sleep":
                end = time.monotonic() + float(arg)
                while time.monotonic() < end and term.pump(end - time.monotonic()):
                    pass
            elif kind == "close":
                os.close(fd)
                closed = True
                break
            else:
                print(f"console_client: unknown step {step!r}", file=sys.stderr)
                status = 1
                break
        if not closed and status == 0:
            while term.pump(deadline - time.monotonic()):
                if time.monotonic() >= deadline:
                    print("console_client: timed out before the end of the output",
                          file=sys.stderr)
                    status = 2
                    break
    finally:
        if not closed:
            os.close(fd)
        sys.stdout.buffer.write(term.output)
        sys.stdout.buffer.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
