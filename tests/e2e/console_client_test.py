#!/usr/bin/env python3
"""Checks console_client.py against a host pseudo-terminal, with this script as the runtime: it
makes a pty, runs a shell on its replica as controlling terminal in a new session (what runc does
for the container's process), and sends the master to the client's socket as runc does.
"""

import fcntl
import os
import socket
import subprocess
import sys
import tempfile
import termios
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "console_client.py")


def run_case(name, shell_cmd, steps, check):
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "console.sock")
        ready = os.path.join(tmp, "ready")
        name_file = os.path.join(tmp, "name")
        client = subprocess.Popen(
            [sys.executable, CLIENT, "--socket", sock, "--ready", ready, "--name", name_file,
             "--timeout", "20"] + steps,
            stdout=subprocess.PIPE)
        while not os.path.exists(ready):
            time.sleep(0.01)
        master, replica = os.openpty()

        def become_terminal_owner():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        shell = subprocess.Popen(["/bin/sh", "-c", shell_cmd], stdin=replica, stdout=replica,
                                 stderr=replica, start_new_session=True,
                                 preexec_fn=become_terminal_owner)
        os.close(replica)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(sock)
            socket.send_fds(s, [b"/dev/ptmx"], [master])
        os.close(master)
        out, _ = client.communicate(timeout=30)
        try:
            shell_status = shell.wait(timeout=10)
        except subprocess.TimeoutExpired:
            shell.kill()
            shell_status = "still running"
        with open(name_file) as f:
            sent_name = f.read()
        problems = check(client.returncode, out, shell_status)
        if sent_name != "/dev/ptmx":
            problems.append(f"name {sent_name!r}")
        print(f"{'ok' if not problems else 'FAIL'}: {name}: client {client.returncode}, "
              f"shell {shell_status}, output {bytes(out)!r}")
        for p in problems:
            print(f"  {p}")
        return not problems


def main():
    ok = True
    # Input, echo, a size set by the engine, and the end of output when the shell exits.
    ok &= run_case(
        "interactive", "stty size; read line; echo \"got $line\"; stty size",
        ["size:40x100", "send:hello\\n", "expect:got hello"],
        lambda rc, out, st: [m for m in [
            None if rc == 0 else f"client exit {rc}",
            None if b"hello\r\n" in out else "no echo",
            None if b"got hello\r\n40 100\r\n" in out else "no answer or size",
            None if st == 0 else f"shell {st}"] if m])
    # A resize later on reaches the foreground process group as SIGWINCH.
    ok &= run_case(
        "sigwinch", "trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.1; done",
        ["expect:ready", "size:50x120"],
        lambda rc, out, st: [m for m in [
            None if rc == 0 else f"client exit {rc}",
            None if b"50 120" in out else "no new size",
            None if st == 0 else f"shell {st}"] if m])
    # Closing the master hangs the session up: the shell dies of SIGHUP.
    ok &= run_case(
        "hangup", "echo ready; sleep 20",
        ["expect:ready", "close"],
        lambda rc, out, st: [m for m in [
            None if rc == 0 else f"client exit {rc}",
            None if st == -1 else f"shell ended with {st}, not SIGHUP"] if m])
    # ^C interrupts the foreground job.
    ok &= run_case(
        "interrupt", "trap 'echo INT; exit 7' INT; echo ready; while :; do sleep 0.1; done",
        ["expect:ready", "send:\\x03", "expect:INT"],
        lambda rc, out, st: [m for m in [
            None if rc == 0 else f"client exit {rc}",
            None if st == 7 else f"shell {st}"] if m])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
