#!/usr/bin/env python3
"""Prints every entry under DIR with its type, mode, owner, size, times, link count, symlink
target and content hash, one line each, sorted: two runs differ if anything in the tree changed.
Contents are read with O_NOATIME, so access times count too: a read of a file whose atime is
older than its mtime (new_work sets them so) shows as a new atime. Names given after DIR are
listed without their atime (files the sandbox may read, like its stdin).
Usage: snapshot.py DIR [NAME...]"""
import hashlib
import os
import stat
import sys

root = sys.argv[1]
no_atime = set(sys.argv[2:])
lines = []
for dirpath, dirnames, filenames in os.walk(root):
    for name in [""] + dirnames + filenames:
        path = os.path.join(dirpath, name) if name else dirpath
        rel = os.path.relpath(path, root)
        st = os.lstat(path)
        atime = "-" if os.path.basename(rel) in no_atime or stat.S_ISDIR(st.st_mode) else st.st_atime_ns
        line = f"{rel} {stat.filemode(st.st_mode)} {st.st_uid}:{st.st_gid} {st.st_size} " \
               f"a={atime} m={st.st_mtime_ns} c={st.st_ctime_ns} n={st.st_nlink} ino={st.st_ino}"
        if stat.S_ISLNK(st.st_mode):
            line += " -> " + os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
            h = hashlib.sha256()
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                h.update(b)
            os.close(fd)
            line += " sha256=" + h.hexdigest()
        lines.append(line)
print("\n".join(sorted(lines)))
