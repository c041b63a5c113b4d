#!/usr/bin/env bash
# End-to-end checks of `runsc do` with real programs from the host's root.
# Usage: do_test.sh RUNSC CASE [BUILD_DIR]
set -uo pipefail
runsc=$1
case_name=$2
build=${3:-}

fail() { echo "FAIL: $*"; exit 1; }

case "$case_name" in
  shell)
    out=$("$runsc" do -- /bin/sh -c 'echo hello | tr a-z A-Z; ls / | wc -l; exit 3')
    status=$?
    echo "$out"
    [ "$status" = 3 ] || fail "exit status $status, want 3"
    [ "$(echo "$out" | head -1)" = HELLO ] || fail "first line is not HELLO"
    count=$(echo "$out" | sed -n 2p)
    [ "$count" -gt 5 ] 2>/dev/null || fail "ls / | wc -l printed '$count'"
    ;;
  python)
    out=$("$runsc" do -- python3 -c '
import os, subprocess, threading
results = []
def work(i):
    results.append(i * i)
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
pid = os.fork()
if pid == 0:
    os._exit(7)
_, status = os.waitpid(pid, 0)
p1 = subprocess.Popen(["echo", "one two three"], stdout=subprocess.PIPE)
p2 = subprocess.run(["wc", "-w"], stdin=p1.stdout, capture_output=True, text=True)
p1.wait()
print(sorted(results) == [i * i for i in range(8)], os.WEXITSTATUS(status), p2.stdout.strip())
')
    status=$?
    echo "$out"
    [ "$status" = 0 ] || fail "exit status $status"
    [ "$out" = "True 7 3" ] || fail "python printed '$out'"
    ;;
  bash)
    out=$("$runsc" do -- bash -c 'declare -A m=([a]=1 [b]=2); f() { echo "${#m[@]}:$1"; }; f "$(echo sub)"; s=0; for i in $(seq 3); do s=$((s + i)); done; echo $s | cat')
    echo "$out"
    [ "$out" = "$(printf '2:sub\n6')" ] || fail "bash printed '$out'"
    ;;
  sqlite)
    out=$(printf 'create table t(x); insert into t values (1),(2),(3); select sum(x) from t;\n' |
          "$runsc" do -- sqlite3 :memory:)
    echo "$out"
    [ "$out" = 6 ] || fail "sqlite3 printed '$out'"
    ;;
  busybox)
    out=$("$runsc" do -- /bin/busybox sh -c 'busybox echo a b c | busybox wc -w; busybox seq 3 | busybox tail -1; busybox uname -s')
    echo "$out"
    [ "$out" = "$(printf '3\n3\nLinux')" ] || fail "busybox printed '$out'"
    ;;
  ps)
    # busybox ps reads /proc: the shell (init, waiting for its child) and ps itself.
    out=$("$runsc" do -- /bin/busybox sh -c 'busybox ps -o pid,ppid,stat,comm,args; exit 0')
    status=$?
    echo "$out"
    [ "$status" = 0 ] || fail "exit status $status"
    [ "$(echo "$out" | wc -l)" = 3 ] || fail "ps printed $(echo "$out" | wc -l) lines, want 3"
    echo "$out" | grep -Eq '^ +1 +0 +S +busybox +/bin/busybox sh -c busybox ps' ||
      fail "no line for the shell"
    echo "$out" | grep -Eq '^ +[0-9]+ +1 +R +busybox +busybox ps -o pid' || fail "no line for ps"
    ;;
  segv)
    # The NULL dereference kills only its own process; the shell goes on and reports 139.
    out=$("$runsc" do -- /bin/sh -c "$build/tests/e2e/segv; echo status \$?")
    status=$?
    echo "$out"
    [ "$out" = "status 139" ] || fail "the shell printed '$out'"
    "$runsc" do -- "$build/tests/e2e/segv"
    status=$?
    [ "$status" = 139 ] || fail "runsc exited $status, want 139"
    ;;
  efault)
    "$runsc" do -- "$build/tests/e2e/efault" || fail "efault checks failed"
    ;;
  pty)
    # A pseudo-terminal of the sandbox: a child on the replica as its controlling terminal,
    # canonical input with echo, ONLCR output, end of file when it exits.
    out=$("$runsc" do -- python3 -c '
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    print(os.ttyname(0), os.getsid(0) == os.getpid(), os.tcgetpgrp(0) == os.getpid())
    print("hello", input("name? "))
    sys.exit(3)
os.write(fd, b"world\n")
out = b""
while True:
    try:
        d = os.read(fd, 1024)
    except OSError:
        break
    if not d:
        break
    out += d
print(repr(out), os.waitpid(pid, 0)[1] >> 8)
')
    echo "$out"
    want="b'world\\r\\n/dev/pts/0 True True\\r\\nname? hello world\\r\\n' 3"
    [ "$out" = "$want" ] || fail "python printed '$out', want '$want'"
    ;;
  host_tty)
    # The caller's terminal as stdio: terminal ioctls go to the host terminal.
    command -v script >/dev/null || fail "script(1) is needed to give runsc a terminal"
    out=$(script -qec "$runsc do -- /bin/sh -c 'stty -a | head -1; stty -echo; stty -a | grep -c -- -echo'" /dev/null </dev/null | tr -d '\r')
    status=$?
    echo "$out"
    [ "$status" = 0 ] || fail "exit status $status"
    echo "$out" | head -1 | grep -q '^speed ' || fail "stty -a printed '$out'"
    [ "$(echo "$out" | sed -n 2p)" = 1 ] || fail "stty -echo did not reach the terminal: '$out'"
    ;;
  writes_stay_inside)
    dir=$(mktemp -d)
    echo original > "$dir/file"
    "$runsc" do -- /bin/sh -c "echo changed > $dir/file; rm -f $dir/file; touch $dir/new; ls $dir" || fail "sandboxed writes failed"
    [ "$(cat "$dir/file")" = original ] || fail "the host file changed"
    [ ! -e "$dir/new" ] || fail "a file appeared on the host"
    rm -rf "$dir"
    ;;
  gofer_escape)
    # The gofer serves a rootfs whose symlinks point out of it, and a bind mount; whatever the
    # sandbox walks, it stays inside the container's root: absolute symlinks mean the
    # container's root, and ".." stops there (from the rootfs and from the bind mount alike).
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    rootfs=$dir/bundle/rootfs
    mkdir -p "$rootfs"/{bin,etc,mnt} "$dir/vol/sub"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in sh cat ls tr grep; do ln -s busybox "$rootfs/bin/$applet"; done
    echo container-shadow > "$rootfs/etc/shadow"
    echo outside > "$dir/bundle/outside-marker"
    ln -s /etc/shadow "$rootfs/shadow_abs"
    ln -s ../../../../../../etc/shadow "$rootfs/shadow_rel"
    ln -s ../../.. "$rootfs/up"
    ln -s ../../../../etc/shadow "$dir/vol/sub/shadow_from_vol"
    out=$(PATH=/bin "$runsc" do --root "$rootfs" --cwd / --volume "$dir/vol:/mnt/vol" -- /bin/busybox sh -c '
      cat /shadow_abs /shadow_rel /up/etc/shadow /mnt/vol/sub/shadow_from_vol
      cat /mnt/vol/../../etc/shadow /mnt/vol/sub/../../../../../etc/shadow
      cd /mnt/vol/sub/../../../../..; pwd; ls /up/ | tr "\n" " "; echo
      cat /outside-marker /../outside-marker /up/../outside-marker 2>&1 | grep -c "No such file"')
    status=$?
    echo "$out"
    [ "$status" = 0 ] || fail "exit status $status"
    expected="$(printf 'container-shadow\n%.0s' 1 2 3 4 5 6)
/
bin dev etc mnt proc shadow_abs shadow_rel sys up 
3"
    [ "$out" = "$expected" ] || fail "the sandbox saw outside its root: '$out'"
    ;;
  volume)
    # --volume bind mounts are served by the gofer: read-write ones change the host directory,
    # read-only ones refuse with EROFS; the overlay root still keeps every other write inside.
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    mkdir "$dir/rw" "$dir/ro"
    echo old > "$dir/rw/file"
    echo fixed > "$dir/ro/file"
    out=$("$runsc" do --volume "$dir/rw:/mnt/rw" --volume "$dir/ro:/mnt/ro:ro" -- /bin/sh -c '
      echo new > /mnt/rw/file; mkdir /mnt/rw/d; echo x > /mnt/rw/d/y; ln -s d/y /mnt/rw/link
      mv /mnt/rw/d/y /mnt/rw/z; chmod 600 /mnt/rw/z
      echo nope > /mnt/ro/file 2>/dev/null || echo "ro refused"
      touch /mnt/ro/new 2>/dev/null || echo "ro refused"
      cat /mnt/ro/file; stat -c "%a %s" /mnt/rw/z')
    status=$?
    echo "$out"
    [ "$status" = 0 ] || fail "exit status $status"
    [ "$out" = "$(printf 'ro refused\nro refused\nfixed\n600 2')" ] || fail "the sandbox printed '$out'"
    [ "$(cat "$dir/rw/file")" = new ] || fail "the write did not reach the host"
    [ "$(cat "$dir/rw/z")" = x ] && [ -d "$dir/rw/d" ] && [ ! -e "$dir/rw/d/y" ] || fail "mkdir/mv did not reach the host"
    [ "$(readlink "$dir/rw/link")" = d/y ] || fail "the symlink did not reach the host"
    [ "$(stat -c %a "$dir/rw/z")" = 600 ] || fail "chmod did not reach the host"
    [ "$(cat "$dir/ro/file")" = fixed ] && [ ! -e "$dir/ro/new" ] || fail "a read-only volume changed"
    out=$("$runsc" do --volume "$dir/rw" -- /bin/true 2>&1)
    [ $? != 0 ] && echo "$out" | grep -q "want HOST:TARGET" || fail "a bad --volume was accepted: '$out'"
    ;;
  many_files)
    # Walking more files than the fd limit allows: the sentry's dentry cache lets unused entries
    # go, and with them the gofer's host fds, so nothing runs out.
    dir=$(mktemp -d /var/tmp/moat-many.XXXXXX)
    trap 'rm -rf "$dir"' EXIT
    for d in $(seq 0 59); do mkdir "$dir/d$d"; (cd "$dir/d$d" && touch $(seq -f "f%g" 0 199)); done
    out=$( (ulimit -n 2048 && "$runsc" do -- /bin/sh -c "find $dir -type f | wc -l; du -s /usr/lib >/dev/null && echo du ok; echo x > /tmp/after && cat /tmp/after") 2>&1)
    status=$?
    echo "$out"
    [ "$status" = 0 ] || fail "exit status $status"
    [ "$out" = "$(printf '12000\ndu ok\nx')" ] || fail "the sandbox printed '$out'"
    ;;
  syscalls_table)
    out=$("$runsc" syscalls)
    echo "$out" | tail -1
    echo "$out" | tail -1 | grep -Eq '^[0-9]+ syscalls: [0-9]+ supported, [0-9]+ partial, [0-9]+ unsupported$' ||
      fail "no summary line"
    echo "$out" | grep -Eq '^0 +read +supported' || fail "read is not listed as supported"
    ;;
  exit_signal)
    # A signal sent to runsc is forwarded to the sandbox's init; when it kills init, runsc exits
    # 128+N. (From inside, init ignores signals it has no handler for, as pid 1 does in Linux.)
    "$runsc" do -- /bin/sleep 30 &
    pid=$!
    sleep 1
    kill -TERM "$pid"
    wait "$pid"
    status=$?
    [ "$status" = 143 ] || fail "runsc exited $status, want 143 (128+SIGTERM)"
    out=$("$runsc" do -- /bin/sh -c 'kill -TERM $$; echo survived')
    [ "$out" = survived ] || fail "init did not ignore its own SIGTERM: '$out'"
    ;;
  *)
    fail "unknown case $case_name"
    ;;
esac
echo "PASS: $case_name"
