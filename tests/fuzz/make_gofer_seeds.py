#!/usr/bin/env python3
"""Writes the seed corpus of gofer_fuzzer (tests/fuzz/gofer/seed-*): valid request sequences,
as the sentry's client sends them, in the fuzzer's input format (see gofer_fuzzer.cc), against
the tree the fuzzer makes. Run again after a protocol change: python3 make_gofer_seeds.py."""
import os
import struct

ATTACH, WALK, STAT, OPEN, CREATE, MKDIR, MKNOD, SYMLINK, LINK, UNLINK, RENAME, READLINK, \
    SETSTAT, READDIR, STATFS, CLOSE, CONNECT = range(2, 19)
O_RDONLY, O_WRONLY, O_RDWR, O_TRUNC = 0, 1, 2, 0o1000
AT_REMOVEDIR = 0x200
S_IFIFO, S_IFSOCK, S_IFREG = 0o010000, 0o140000, 0o100000
SOCK_STREAM, SOCK_DGRAM = 1, 2
UTIME_NOW = (1 << 30) - 1


def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)
def i64(v): return struct.pack("<q", v)
def s(v): return u32(len(v)) + v.encode()


def rec(type_, body=b"", flags=0):
    return struct.pack("<BBH", type_, flags, len(body)) + body


def attach(): return rec(ATTACH)
def walk(d, n): return rec(WALK, u64(d) + s(n))
def stat(n): return rec(STAT, u64(n))
def open_(n, f): return rec(OPEN, u64(n) + u32(f))
def create(d, n, f, m): return rec(CREATE, u64(d) + s(n) + u32(f) + u32(m) + u32(0) + u32(0))
def mkdir(d, n, m): return rec(MKDIR, u64(d) + s(n) + u32(m) + u32(0) + u32(0))
def mknod(d, n, m): return rec(MKNOD, u64(d) + s(n) + u32(m) + u32(0) + u32(0))
def symlink(d, n, t): return rec(SYMLINK, u64(d) + s(n) + s(t) + u32(0) + u32(0))
def link(d, n, t): return rec(LINK, u64(d) + s(n) + u64(t))
def unlink(d, n, f=0): return rec(UNLINK, u64(d) + s(n) + u32(f))
def rename(od, on, nd, nn, f=0): return rec(RENAME, u64(od) + s(on) + u64(nd) + s(nn) + u32(f))
def readlink(n): return rec(READLINK, u64(n))
def readdir(n, off=0): return rec(READDIR, u64(n) + u64(off))
def statfs(n): return rec(STATFS, u64(n))
def close(*ns): return rec(CLOSE, u32(len(ns)) + b"".join(u64(n) for n in ns))
def connect(n, t): return rec(CONNECT, u64(n) + u32(t))


def setstat(n, mask, mode=0, uid=0, gid=0, size=0, atime=(0, 0), mtime=(0, 0)):
    return rec(SETSTAT, u64(n) + u32(mask) + u32(mode) + u32(uid) + u32(gid) + i64(size) +
               i64(atime[0]) + i64(atime[1]) + i64(mtime[0]) + i64(mtime[1]))


seeds = {
    # Node ids count from 1 in the order the server makes nodes.
    "read": [0, attach(), walk(1, "file"), stat(2), open_(2, O_RDONLY), readdir(1), statfs(1),
             walk(1, "link"), readlink(3), close(2, 3), stat(2)],
    "write": [0, attach(), create(1, "new", O_RDWR, 0o644), setstat(2, 8 | 1, mode=0o600, size=10),
              mkdir(1, "d", 0o755), symlink(3, "s", "../file"), readlink(4), link(3, "hard", 2),
              rename(1, "new", 3, "renamed"), unlink(3, "hard"), unlink(1, "d", AT_REMOVEDIR),
              mknod(1, "p", S_IFIFO | 0o644), setstat(2, 16 | 32, atime=(1, 0), mtime=(0, UTIME_NOW)),
              open_(2, O_WRONLY | O_TRUNC), readdir(3)],
    "escape": [0, attach(), walk(1, "escape"), open_(2, O_RDONLY), readlink(2), walk(1, "abs"),
               walk(3, "secret"), walk(1, ".."), walk(1, "dotdot"), readdir(4), setstat(2, 2, uid=1),
               link(1, "x", 2), walk(1, "a/b"), symlink(1, "t", "/etc/passwd"), walk(1, "t")],
    "special": [0, attach(), walk(1, "sock"), connect(2, SOCK_STREAM), connect(2, SOCK_DGRAM),
                walk(1, "fifo"), open_(3, O_RDONLY), connect(3, SOCK_STREAM),
                mknod(1, "s2", S_IFSOCK | 0o600), mknod(1, "dev", 0o020000 | 0o600), statfs(3)],
    "tree": [0, attach(), walk(1, "dir"), walk(2, "deeper"), walk(2, "nested"), readdir(2),
             readdir(2, 1), mkdir(3, "x", 0o700), create(5, "y", O_WRONLY, 0o644),
             rename(2, "deeper", 1, "moved", 1), unlink(2, "nested"), stat(4), open_(4, O_RDWR),
             close(1, 2, 3, 4, 5, 6), readdir(1)],
    "readonly": [1, attach(), walk(1, "file"), open_(2, O_RDWR), open_(2, O_RDONLY),
                 create(1, "n", O_RDWR, 0o644), mkdir(1, "d", 0o755), setstat(2, 1, mode=0o777),
                 unlink(1, "file")],
    # Messages that are not well formed: a wrong length, half a header, an fd beside a request,
    # a reply type sent as a request, an unknown type, a body that does not decode.
    "malformed": [0, attach(), rec(WALK, u64(1) + s("file"), flags=1), rec(STAT, u64(1), flags=4),
                  rec(STAT, u64(1), flags=2), rec(STAT, u64(1), flags=8), rec(99), rec(0),
                  rec(WALK, u64(1) + u32(100) + b"x"), rec(CLOSE, u32(5)), stat(1)],
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gofer")
os.makedirs(here, exist_ok=True)
for name, parts in seeds.items():
    data = bytes([parts[0]]) + b"".join(parts[1:])
    with open(os.path.join(here, "seed-" + name), "wb") as f:
        f.write(data)
