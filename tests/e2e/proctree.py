#!/usr/bin/env python3
"""Host processes of a sandbox, found by walking the host's process tree (tests/e2e/fault_test.sh,
soak_test.sh). A process is named by "PID START" (START: field 22 of /proc/PID/stat, its start
time in clock ticks), which a reused pid cannot fake.

Usage:
  proctree.py tree PID...        PID (if alive) and its descendants, one "PID START" a line
  proctree.py alive FILE         the "PID START" lines of FILE whose process still exists
                                 (a zombie too: nothing reaped it yet)
  proctree.py sentry PID         the child of PID (runsc boot or do) that is the sentry (runsc-sentry)
  proctree.py gofer PID          the descendants of PID that are a gofer (`runsc ... gofer ...`)
  proctree.py cgroups STATE_JSON the cgroup directories that exist of the container whose
                                 state.json (runsc's) is STATE_JSON, as it recorded them
  proctree.py fds PID            how many fds process PID holds
  proctree.py dump PID...        PID's tree with each thread's state and wait channel (for a
                                 test's failure message)
"""
import json
import os
import sys


def stat_of(pid):
    """(ppid, start, state) of pid, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[19]), fields[0]


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def children_map():
    children = {}
    for pid in all_pids():
        st = stat_of(pid)
        if st:
            children.setdefault(st[0], []).append((pid, st[1]))
    return children


def tree(roots):
    children = children_map()
    out = []
    todo = []
    for root in roots:
        st = stat_of(root)
        if st:
            out.append((root, st[1]))
            todo.append(root)
    while todo:
        pid = todo.pop()
        for child, start in children.get(pid, []):
            out.append((child, start))
            todo.append(child)
    return out


def argv_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def cgroup_dirs(state_json):
    with open(state_json) as f:
        saved = json.load(f).get("extra", {}).get("cgroup", "")
    root = "/sys/fs/cgroup"
    found = set()
    for line in saved.splitlines():
        if ":" not in line:  # one path in every hierarchy
            hierarchies = [os.path.join(root, h) for h in os.listdir(root)] + [root]
            path = line
        else:  # "controllers:path", as /proc/PID/cgroup names the hierarchy
            key, path = line.split(":", 1)
            key = key.removeprefix("name=")
            hierarchies = [os.path.join(root, key)] if key else [os.path.join(root, "unified"), root]
        for h in hierarchies:
            d = os.path.realpath(h) + path
            if path and os.path.isfile(os.path.join(d, "cgroup.procs")):
                found.add(d)
    return sorted(found)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "tree":
        for pid, start in tree([int(a) for a in args]):
            print(pid, start)
    elif cmd == "alive":
        with open(args[0]) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 2:
                    continue
                st = stat_of(int(parts[0]))
                if st and st[1] == int(parts[1]):
                    print(parts[0], parts[1], st[2], b" ".join(argv_of(int(parts[0]))).decode(
                        errors="replace").strip())
    elif cmd == "sentry":
        # The sentry: the child of runsc boot (or runsc do), its supervisor, named runsc-sentry.
        for pid, _ in children_map().get(int(args[0]), []):
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "runsc-sentry":
                        print(pid)
            except OSError:
                pass
    elif cmd == "gofer":
        for pid, _ in tree([int(args[0])])[1:]:
            if b"gofer" in argv_of(pid)[1:]:
                print(pid)
    elif cmd == "dump":
        for pid, _ in tree([int(a) for a in args]):
            st = stat_of(pid)
            name = b" ".join(argv_of(pid)[:3]).decode(errors="replace")
            print(f"{pid} ppid={st[0] if st else '?'} {name}")
            try:
                tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
            except OSError:
                tids = []
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                        wchan = f.read()
                    tst = stat_of(f"{pid}/task/{tid}")
                except OSError:
                    continue
                extra = ""
                try:
                    with open(f"/proc/{pid}/task/{tid}/status") as f:
                        tracer = [l.split()[1] for l in f if l.startswith("TracerPid:")]
                    if tracer and tracer[0] != "0":
                        extra += f" traced by {tracer[0]}"
                    with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                        call = f.read().split()
                    if call and call[0].isdigit():  # the number, then its arguments
                        extra += f" in syscall {call[0]}({', '.join(call[1:4])})"
                except OSError:
                    pass
                print(f"    {tid} {tst[2] if tst else '?'} {wchan}{extra}")
    elif cmd == "cgroups":
        for d in cgroup_dirs(args[0]):
            print(d)
    elif cmd == "fds":
        print(len(os.listdir(f"/proc/{args[0]}/fd")))
    else:
        sys.exit(f"proctree.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
