#!/usr/bin/env python3
"""The network tests' client inside a container (tests/e2e/network_test.sh): one line of output
that says what happened, so that the test can tell a refused connection from a timeout.

Usage: net_probe.py get URL TIMEOUT        prints "ok BODY" or "error KIND: MESSAGE"
       net_probe.py wait-get URL TIMEOUT   the same, retrying until TIMEOUT seconds have passed
       net_probe.py connect HOST PORT TIMEOUT
                                           prints "connected", "refused", "timeout",
                                           "unreachable" or "error KIND: MESSAGE"
The exit status is 0 for "ok" and "connected", 1 otherwise.
"""
import errno
import socket
import sys
import time
import urllib.request


def get(url, timeout):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return True, "ok " + r.read().decode(errors="replace").strip()
    except Exception as e:  # Every failure is reported, not raised: the caller compares lines.
        reason = getattr(e, "reason", e)
        return False, f"error {type(reason).__name__}: {reason}"


def connect(host, port, timeout):
    s = None
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((host, port))
        return True, "connected"
    except ConnectionRefusedError:
        return False, "refused"
    except socket.timeout:
        return False, "timeout"
    except OSError as e:
        if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return False, "unreachable"
        return False, f"error {type(e).__name__}: {e}"
    finally:
        if s is not None:
            s.close()


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "get" and len(sys.argv) == 4:
        ok, line = get(sys.argv[2], float(sys.argv[3]))
    elif cmd == "wait-get" and len(sys.argv) == 4:
        deadline = time.monotonic() + float(sys.argv[3])
        while True:
            ok, line = get(sys.argv[2], 5)
            if ok or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    elif cmd == "connect" and len(sys.argv) == 5:
        ok, line = connect(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(__doc__)
    print(line, flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
