#!/usr/bin/env bash
# Soak test (issue 7, point 4): creates, starts, execs into, kills and deletes COUNT containers
# (50), PARALLEL (5) at a time, alternating the platforms, then checks that nothing leaked and
# prints the leak counts:
#   processes   every host process seen in a sandbox's tree (sampled; proctree.py) and every
#               exec waiter is gone
#   fds         each sentry holds as many host fds after its execs as before them; the system's
#               allocated file handles (/proc/sys/fs/file-nr) are back to the start, within
#               FD_TOLERANCE (other processes of the machine open files too)
#   mounts      /proc/self/mountinfo has as many lines as at the start
#   cgroups     no cgroup directory of any container is left
#   state       the state root (--root) is empty
#   memory      MemAvailable is back to the start within MEM_TOLERANCE_MB (page cache and slab
#               move on their own), Shmem (where the sandboxes' memfds live) within
#               SHMEM_TOLERANCE_MB
# ctest runs it alone (RUN_SERIAL), so the machine-wide numbers are its own.
#
# Usage: soak_test.sh RUNSC [COUNT] [PARALLEL]
set -uo pipefail
runsc=$1
count=${2:-50}
parallel=${3:-5}
runtime=$runsc
here=$(cd "$(dirname "$0")" && pwd)
FD_TOLERANCE=${FD_TOLERANCE:-256}
MEM_TOLERANCE_MB=${MEM_TOLERANCE_MB:-96}
SHMEM_TOLERANCE_MB=${SHMEM_TOLERANCE_MB:-8}
EXECS=${EXECS:-3}

. "$here/oci_lib.sh" moat-soak
tree() { "$here/proctree.py" tree "$@"; }

meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
file_nr() { awk '{print $1}' /proc/sys/fs/file-nr; }
mounts() { wc -l </proc/self/mountinfo; }

# A container's cgroup directories that exist (as its state.json recorded them).
cgroup_dirs() { "$here/proctree.py" cgroups "$state/$1/state.json"; }

mkdir -p "$work/out" "$work/rec"
# The init writes a file a few times a second: alive, but leaving the two cores to the lifecycles.
# It waits with the shell's own `read -t` on a FIFO nobody writes, not with sleep: a child
# process of its own would come and go, and the sentry's fds with it (a pidfd, and a sysmsg
# region on seccomp_trap), so that the fd counts below would depend on when they were read.
b=$(bundle soak '{"process":{"args":["sh","-c","mkfifo /tmp/tick; exec 3<>/tmp/tick; i=0; while :; do i=$((i+1)); echo $i > /tmp/n; read -t 0.3 x <&3; done"]}}')

# One container's whole life; records what it saw under $work/rec/N.*. Fails (returns 1) with a
# message on stdout.
lifecycle() {
  local n=$1 platform id boot sentry out fds0 fds1 waiter
  platform=$([ $((n % 2)) = 0 ] && echo ptrace || echo seccomp_trap)
  id=soak-$$-$n  # unique on the machine: cgroups are named after ids
  # Every step has a minute: a step that hangs fails its container, and says which step it was
  # (timeout exits 124), where the test's own time limit would say nothing.
  # A step that takes 5 s or more is named in $work/rec/N.slow (the container's line says so).
  r() {
    local t0=$EPOCHREALTIME status
    timeout 60 "$runtime" --root "$state" --platform "$platform" "$@"
    status=$?
    awk -v a="$t0" -v b="$EPOCHREALTIME" -v step="$*" \
      'BEGIN { if (b - a >= 5) printf "%s (%.1f s)\n", step, b - a }' >>"$work/rec/$n.slow"
    return $status
  }
  r create --bundle "$b" "$id" >"$work/rec/$n.log" 2>&1 || { echo "$id: create: $(cat "$work/rec/$n.log")"; return 1; }
  boot=$(r state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  cgroup_dirs "$id" >"$work/rec/$n.cgroups"
  tree "$boot" >>"$work/rec/$n.procs"
  r start "$id" || { echo "$id: start (exit $?; 124: it hung)"; return 1; }
  # A first exec, then the sentry's fds; more execs (one detached, whose waiter is a host
  # process of its own), then its fds again.
  out=$(r exec "$id" sh -c 'echo exec-ok; cat /etc/passwd > /dev/null') || { echo "$id: exec (exit $?; 124: it hung)"; return 1; }
  [ "$out" = exec-ok ] || { echo "$id: exec printed '$out'"; return 1; }
  tree "$boot" >>"$work/rec/$n.procs"
  # runsc boot is the sentry's supervisor; the sentry is its child.
  sentry=$("$here/proctree.py" sentry "$boot")
  [ -n "$sentry" ] || { echo "$id: no sentry under runsc boot $boot"; return 1; }
  fds0=$("$here/proctree.py" fds "$sentry")
  r exec --detach --pid-file "$work/rec/$n.waiter" "$id" sh -c 'sleep 0.2' || { echo "$id: exec -d (exit $?; 124: it hung)"; return 1; }
  waiter=$(cat "$work/rec/$n.waiter")
  echo "$waiter $(awk '{print $22}' "/proc/$waiter/stat" 2>/dev/null)" >>"$work/rec/$n.procs"
  for i in $(seq "$EXECS"); do
    out=$(r exec "$id" sh -c "echo exec-$i; ls /bin > /dev/null") || { echo "$id: exec $i (exit $?; 124: it hung)"; return 1; }
    [ "$out" = "exec-$i" ] || { echo "$id: exec $i printed '$out'"; return 1; }
  done
  tree "$boot" >>"$work/rec/$n.procs"
  # The detached process is done by now (0.2 s); its end is the sentry's too.
  for _ in $(seq 100); do kill -0 "$waiter" 2>/dev/null || break; sleep 0.05; done
  # The sentry lets go of an ended process's fds as it reaps it: give it a moment.
  for _ in $(seq 40); do
    fds1=$("$here/proctree.py" fds "$sentry")
    [ "$fds1" -le "$fds0" ] && break
    sleep 0.05
  done
  echo "$platform $fds0 $fds1" >"$work/rec/$n.fds"
  r kill "$id" KILL || { echo "$id: kill (exit $?; 124: it hung)"; return 1; }
  local stop0=$SECONDS
  for _ in $(seq 200); do
    [ "$(r state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = stopped ] && break
    sleep 0.05
  done
  [ $((SECONDS - stop0)) -lt 5 ] || echo "stopping ($((SECONDS - stop0)) s)" >>"$work/rec/$n.slow"
  r delete "$id" || { echo "$id: delete (exit $?; 124: it hung)"; return 1; }
}

# A first container on each platform warms the caches (the bundle's files, runsc's pages)
# before the baseline.
for n in 1000 1001; do
  lifecycle $n >"$work/warmup.err" || fail "warm-up container: $(cat "$work/warmup.err")"
  rm -f "$work"/rec/$n.*
done
sleep 1
mem0=$(meminfo MemAvailable)
shmem0=$(meminfo Shmem)
fnr0=$(file_nr)
mounts0=$(mounts)
start=$SECONDS

# PARALLEL workers take the containers in turn.
for w in $(seq 0 $((parallel - 1))); do
  (
    for n in $(seq "$w" "$parallel" $((count - 1))); do
      t0=$SECONDS
      msg=$(lifecycle "$n") || { echo "$msg" >"$work/rec/$n.failed"; echo "FAIL: $msg"; }
      slow=$(paste -sd, "$work/rec/$n.slow" 2>/dev/null)
      echo "container $n: $((SECONDS - t0)) s${slow:+; slow steps: $slow}"
    done
  ) &
done
wait
elapsed=$((SECONDS - start))
failed=$(ls "$work"/rec/*.failed 2>/dev/null | wc -l)

# Let exiting processes go and the kernel settle.
cat "$work"/rec/*.procs | sort -u >"$work/procs"
for _ in $(seq 100); do
  left=$("$here/proctree.py" alive "$work/procs" | grep -v ' Z ' || true)
  [ -z "$left" ] && break
  sleep 0.1
done
sleep 2
mem1=$(meminfo MemAvailable)
shmem1=$(meminfo Shmem)
fnr1=$(file_nr)
mounts1=$(mounts)

leaked_procs=$(echo -n "$left" | grep -c . || true)
leaked_cgroups=0
for f in "$work"/rec/*.cgroups; do
  for d in $(cat "$f"); do [ -d "$d" ] && leaked_cgroups=$((leaked_cgroups + 1)); done
done
leaked_state=$(ls -A "$state" 2>/dev/null | wc -l)
sentry_fd_leak=$(cat "$work"/rec/*.fds | awk '{d = $3 - $2; if (d > 0) s += d} END {print s + 0}')
mem_drop_mb=$(((mem0 - mem1) / 1024))
shmem_growth_mb=$(((shmem1 - shmem0) / 1024))

echo "soak: $count containers, $parallel at a time, $((EXECS + 2)) execs each, in ${elapsed}s; $failed failed"
echo "leaks: processes=$leaked_procs (of $(wc -l <"$work/procs") seen)" \
     "cgroups=$leaked_cgroups (of $(cat "$work"/rec/*.cgroups | wc -l))" \
     "state_dirs=$leaked_state mounts=$((mounts1 - mounts0))" \
     "sentry_fds=$sentry_fd_leak (over $(cat "$work"/rec/*.fds | wc -l) sentries)" \
     "system_file_handles=$((fnr1 - fnr0)) (tolerance $FD_TOLERANCE)"
echo "memory: MemAvailable $((mem0 / 1024)) -> $((mem1 / 1024)) MiB (drop ${mem_drop_mb} MiB, tolerance $MEM_TOLERANCE_MB)," \
     "Shmem $((shmem0 / 1024)) -> $((shmem1 / 1024)) MiB (growth ${shmem_growth_mb} MiB, tolerance $SHMEM_TOLERANCE_MB)"
echo "sentry fds after the first exec -> after the others, per container (platform before after):"
for f in "$work"/rec/*.fds; do echo "  $(basename "$f" .fds): $(cat "$f")"; done | sort -t- -k2 -n | column -c 160

[ "$failed" = 0 ] || fail "$failed containers failed (above)"
[ -z "$left" ] || { echo "$left"; fail "host processes left (above)"; }
[ "$leaked_cgroups" = 0 ] || fail "cgroup directories left"
[ "$leaked_state" = 0 ] || { ls -A "$state"; fail "state directories left"; }
[ "$mounts1" = "$mounts0" ] || fail "mountinfo has $mounts1 lines, $mounts0 at the start"
[ "$sentry_fd_leak" = 0 ] || fail "sentries hold more fds after their execs than before"
[ $((fnr1 - fnr0)) -le "$FD_TOLERANCE" ] || fail "the system holds $((fnr1 - fnr0)) more file handles"
[ "$mem_drop_mb" -le "$MEM_TOLERANCE_MB" ] || fail "MemAvailable dropped by $mem_drop_mb MiB"
[ "$shmem_growth_mb" -le "$SHMEM_TOLERANCE_MB" ] || fail "Shmem grew by $shmem_growth_mb MiB"
echo ok
