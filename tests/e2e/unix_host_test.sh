#!/usr/bin/env bash
# End to end: a program in the sandbox connects to a host AF_UNIX socket that the sandbox's
# root (the host's files, through the gofer) brings in; the gofer connects for it.
# Usage: unix_host_test.sh RUNSC
set -uo pipefail
runsc=$1

fail() { echo "FAIL: $*"; exit 1; }

dir=$(mktemp -d /tmp/moat_unix_host.XXXXXX)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$dir"' EXIT
sock=$dir/s
# The host side: one connection, answered with what it sent, upper-cased.
python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
s.listen(1)
s.settimeout(60)
c, _ = s.accept()
data = b""
while True:
    d = c.recv(100)
    if not d:
        break
    data += d
c.sendall(data.upper())
c.close()
' "$sock" &
server=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "the host server did not start"

out=$(timeout 60 "$runsc" do -- python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
print(s.getpeername() == sys.argv[1])
s.sendall(b"ping from the sandbox")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    d = s.recv(100)
    if not d:
        break
    data += d
print(data.decode())
' "$sock")
status=$?
echo "$out"
[ "$status" = 0 ] || fail "exit status $status"
[ "$out" = "$(printf 'True\nPING FROM THE SANDBOX')" ] || fail "the sandbox printed '$out'"
echo PASS
