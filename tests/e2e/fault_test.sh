#!/usr/bin/env bash
# Fault tests (issue 7, point 3): kill -9 the sentry, the gofer or an application process at a
# random point of a running container, and check that the container ends cleanly: `state` says
# stopped, `delete` leaves nothing (no host process of the sandbox, no mount, no cgroup, no state
# directory) and a new container with the same id runs. A dead gofer makes file operations fail
# with EIO, never hang (fault_probe.c checks from inside).
#
# Usage: fault_test.sh RUNSC FAULT_PROBE CASE PLATFORM [ROUNDS]
#   CASE: sentry | gofer | app | do_sentry        PLATFORM: ptrace | seccomp_trap
#
# The sandbox's host processes are found by walking the host's process tree down from the pid
# `runsc state` reports (proctree.py), sampled while the container runs: every process seen is
# checked to be gone at the end.
set -uo pipefail
runsc=$1
probe=$2
case_name=$3
platform=$4
rounds=${5:-3}
runtime=$runsc
here=$(cd "$(dirname "$0")" && pwd)

. "$here/oci_lib.sh" "moat-fault-$case_name-$platform"
rs() { "$runtime" --root "$state" --platform "$platform" "$@"; }
tree() { "$here/proctree.py" tree "$@"; }
# The sentry of the sandbox whose runsc boot (the supervisor, the pid `state` reports) is $1.
sentry_of() {
  local s
  for _ in $(seq 100); do
    s=$("$here/proctree.py" sentry "$1")
    [ -n "$s" ] && { echo "$s"; return 0; }
    sleep 0.05
  done
  fail "no sentry (runsc-sentry) under runsc boot $1"
}
# What the sentry case kills in round $1: the sentry itself, or (every third round) the runsc boot
# process above it, the supervisor, which takes the sentry with it (PR_SET_PDEATHSIG).
sentry_victim() {
  if [ $(($1 % 3)) = 0 ]; then
    victim=$boot victim_name="runsc boot (the sentry's supervisor)"
  else
    victim=$(sentry_of "$boot") victim_name="the sentry"
  fi
}
# The sampler goes before oci_lib.sh's cleanup (it samples into the work directory).
trap 'stop_sampler; cleanup' EXIT

status_of() { rs state "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
pid_of() { rs state "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'; }

# A random delay between $1 and $2 milliseconds, in seconds.
delay() { python3 -c "import random; print(random.uniform($1, $2) / 1000)"; }

# Waits up to $2 s for container $1 to reach status $3.
await_status() {
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(status_of "$1" 2>/dev/null)" = "$3" ] && return 0
    sleep 0.05
  done
  "$here/proctree.py" dump "$boot"
  fail "container $1 is $(status_of "$1"), not $3, $2 s after the fault (its processes above)"
}

# Waits up to $2 s for process $1 (a child of this shell) to end; prints its status.
await_exit() {
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { kill -9 "$1"; fail "$3 did not end within $2 s"; }
    sleep 0.05
  done
  wait "$1"
}

# Waits up to $3 s for a line matching $2 in file $1.
await_line() {
  local deadline=$((SECONDS + $3))
  until grep -qE "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { tail -20 "$1"; fail "no line '$2' in $1 within $3 s"; }
    sleep 0.05
  done
}

# Samples the sandbox's process tree (under pid $1) into $2 every 100 ms until stopped: a process
# that could be left behind lives longer than that (what dies sooner needs no check; a sample
# walks all of /proc, and sampling faster took a core from the sandbox under test).
start_sampler() {
  ( while kill -0 "$1" 2>/dev/null; do tree "$1" >>"$2"; sleep 0.1; done ) &
  sampler=$!
}
sampler=""
stop_sampler() {
  [ -n "$sampler" ] || return 0
  kill "$sampler" 2>/dev/null
  wait "$sampler" 2>/dev/null
  sampler=""
}

# The cgroup directories of container $1 that exist (from its state.json, as runsc recorded it).
cgroup_dirs() { "$here/proctree.py" cgroups "$state/$1/state.json"; }

mounts_before=$(wc -l </proc/self/mountinfo)

# Checks that nothing of container $1 is left: every process in $2 gone (a zombie counts as gone:
# its parent is init by now), no cgroup directory of $3, no state directory, no mount of $work.
check_clean() {
  local id=$1 procs=$2 cgroups=$3 left=""
  [ ! -e "$state/$id" ] || fail "$id: state directory $state/$id left behind"
  sort -u "$procs" -o "$procs"
  for _ in $(seq 200); do
    left=$("$here/proctree.py" alive "$procs" | grep -v ' Z ' || true)
    [ -z "$left" ] && break
    sleep 0.05
  done
  [ -z "$left" ] || { echo "$left"; fail "$id: host processes of the sandbox left (above)"; }
  for d in $cgroups; do [ ! -d "$d" ] || fail "$id: cgroup $d left behind"; done
  if grep -qF "$work" /proc/self/mountinfo; then
    grep -F "$work" /proc/self/mountinfo
    fail "$id: mounts of the container left"
  fi
  echo "  clean: $(wc -l <"$procs") processes seen, all gone; $(echo $cgroups | wc -w) cgroup dirs removed; mountinfo $(wc -l </proc/self/mountinfo) lines (was $mounts_before)"
}

# delete [--force] ID: deletes the container; fails if delete had to kill processes that outlived the
# sandbox (it does, and says so, but they should have died with it).
delete() {
  rs delete "$@" 2>"$work/delete.err" || fail "delete $*: $(cat "$work/delete.err")"
  ! grep -q "outlived the sandbox" "$work/delete.err" || fail "delete $*: $(cat "$work/delete.err")"
}

# Waits up to 5 s for every process in file $1 to be gone (before delete, which would kill them).
await_gone() {
  local left
  sort -u "$1" -o "$1"
  for _ in $(seq 100); do
    left=$("$here/proctree.py" alive "$1" | grep -v ' Z ' || true)
    [ -z "$left" ] && return 0
    sleep 0.05
  done
  echo "$left"
  fail "processes of the killed sandbox still run 5 s later (above)"
}

# Runs a new container with id $1 to its end and checks its output.
# (What runsc logs on stderr, a warning of a loaded machine, is shown, not compared.)
rerun() {
  local out
  out=$(rs run --bundle "$rerun_bundle" "$1" 2>"$work/rerun.err") ||
    fail "$1: a new container with the same id failed: $out $(cat "$work/rerun.err")"
  [ "$out" = "rerun ok" ] || fail "$1: the new container printed '$out' $(cat "$work/rerun.err")"
  [ ! -s "$work/rerun.err" ] || sed 's/^/  rerun stderr: /' "$work/rerun.err"
  [ ! -e "$state/$1" ] || fail "$1: the rerun left its state directory"
  echo "  a new container $1 ran"
}

# The workload: file I/O on the root and a bind mount, forks and execs, in the init and in an
# exec'd process.
mkdir -p "$work/out"
# The loop's children: cat, ls and a subshell live for a millisecond, and sleep for 100 ms, so that
# the app case finds one to kill. The root is writable (the overlay's, in sentry memory): on a
# read-only root the redirections to /tmp failed before their fork.
loop='i=0; while :; do i=$((i+1)); echo $i >> /out/log.$$; cat /etc/passwd > /tmp/p; ls / > /dev/null; (echo sub > /tmp/s); sleep 0.1; [ $((i % 50)) = 0 ] && : > /out/log.$$; done'
b=$(bundle busy "{\"root\":{\"path\":\"rootfs\",\"readonly\":false},\"process\":{\"args\":[\"sh\",\"-c\",\"$loop\"]},
                 \"mounts\":[{\"destination\":\"/out\",\"type\":\"bind\",\"source\":\"$work/out\",\"options\":[\"rbind\",\"rw\"]}]}")
rerun_bundle=$(bundle rerun '{"process":{"args":["echo","rerun ok"]}}')

# Creates and starts container $1 of bundle $2 with the exec'd loop; sets boot, procs, cgroups,
# execer (the `runsc exec` client's pid).
start_busy() {
  local id=$1
  procs=$work/procs.$id.$round
  : >"$procs"
  rs create --bundle "$2" "$id" >"$work/$id.log" 2>&1 || fail "$id: create: $(cat "$work/$id.log")"
  boot=$(pid_of "$id")
  cgroups=$(cgroup_dirs "$id")
  [ -n "$cgroups" ] || echo "  (no cgroup directory recorded for $id)"
  start_sampler "$boot" "$procs"
  rs start "$id" || fail "$id: start"
  rs exec "$id" sh -c "$loop" >"$work/$id.exec.log" 2>&1 &
  execer=$!
}

echo "platform $platform, $rounds rounds"
for round in $(seq "$rounds"); do
  id=$(cid "f-$case_name-$platform")
  rm -rf "${work:?}"/out/*
  case "$case_name" in
    sentry)
      if [ "$round" = 1 ]; then
        # Killed while created: the init exists but has not run.
        procs=$work/procs.$id.$round
        : >"$procs"
        rs create --bundle "$b" "$id" || fail "create"
        boot=$(pid_of "$id")
        cgroups=$(cgroup_dirs "$id")
        tree "$boot" >>"$procs"
        sentry_victim "$round"
        sleep "$(delay 0 300)"
        echo "round $round: kill -9 $victim_name ($victim) of a created container"
        kill -9 "$victim"
        execer=""
      else
        start_busy "$id" "$b"
        d=$(delay 100 2000)
        sleep "$d"
        sentry_victim "$round"
        echo "round $round: kill -9 $victim_name ($victim) after ${d}s"
        kill -9 "$victim"
      fi
      await_status "$id" 10 stopped
      [ "$(pid_of "$id")" = 0 ] || fail "a stopped container reports pid $(pid_of "$id")"
      [ -z "$execer" ] || await_exit "$execer" 10 "runsc exec (its sandbox killed)"
      stop_sampler
      await_gone "$procs"
      delete "$id"
      ;;
    app)
      start_busy "$id" "$b"
      d=$(delay 300 2000)
      sleep "$d"
      sentry=$(sentry_of "$boot")
      # The sentry's children are the root processes: the init (the first to start; pids wrap
      # around on a busy host) and the exec'd one. The children of their loops live for
      # milliseconds: sampled (pgrep, cheap on a host with many processes) until a kill lands.
      roots=$(for p in $(pgrep -P "$sentry"); do echo "$(awk '{print $22}' /proc/$p/stat 2>/dev/null) $p"; done | sort -n | awk '{print $2}')
      [ "$(echo "$roots" | wc -w)" = 2 ] || fail "want 2 root processes under the sentry $sentry, found '$roots'"
      init_root=$(echo "$roots" | head -1)
      exec_root=$(echo "$roots" | tail -1)
      for _ in $(seq 2000); do
        case $((round % 3)) in
          1) victim=$init_root; kind=init ;;
          2) victim=$exec_root; kind=exec ;;
          0) victim=$(pgrep -P "$init_root,$exec_root" | shuf -n1); kind=child ;;
        esac
        [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null && break
        victim=""
        sleep 0.01
      done
      [ -n "$victim" ] || fail "no application process of kind $kind found under the sentry $sentry"
      echo "round $round: killed the application's $kind process $victim with SIGKILL after ${d}s"
      if [ "$kind" = init ]; then
        await_status "$id" 10 stopped
        await_exit "$execer" 10 "runsc exec (its container's init killed)"
        stop_sampler
        await_gone "$procs"
        delete "$id"
      else
        sleep 0.5
        [ "$(status_of "$id")" = running ] || fail "the container is $(status_of "$id") after its $kind process was killed"
        if [ "$kind" = exec ]; then
          await_exit "$execer" 10 "runsc exec (its process killed)"
          st=$?
          [ "$st" = 137 ] || fail "runsc exec of a killed process exited $st, want 137: $(head -c 2000 "$work/$id.exec.log")"
        fi
        out=$(timeout 20 "$runtime" --root "$state" --platform "$platform" exec "$id" echo alive) ||
          fail "exec after the fault"
        [ "$out" = alive ] || fail "exec after the fault printed '$out'"
        delete --force "$id"
        await_exit "$execer" 10 "runsc exec (its container deleted)"
        stop_sampler
      fi
      ;;
    gofer)
      pb=$work/probe
      if [ ! -e "$pb/config.json" ]; then
        pb=$(bundle probe "{\"process\":{\"args\":[\"/probe/fault_probe\",\"/probe\",\"/out\"]},
                           \"mounts\":[{\"destination\":\"/out\",\"type\":\"bind\",\"source\":\"$work/out\",\"options\":[\"rbind\",\"rw\"]}]}")
        mkdir -p "$pb/rootfs/probe"
        cp "$probe" "$pb/rootfs/probe/fault_probe"
        head -c 4M /dev/urandom >"$pb/rootfs/probe/big"
      fi
      procs=$work/procs.$id.$round
      : >"$procs"
      rs create --bundle "$pb" "$id" >"$work/$id.log" 2>&1 || fail "create: $(cat "$work/$id.log")"
      boot=$(pid_of "$id")
      cgroups=$(cgroup_dirs "$id")
      start_sampler "$boot" "$procs"
      rs start "$id" || fail start
      await_line "$work/$id.log" '^ready' 30
      gofer=$("$here/proctree.py" gofer "$boot")
      if [ "$(echo "$gofer" | wc -w)" != 1 ]; then
        "$here/proctree.py" dump "$boot"
        echo "the container is $(status_of "$id"); what it printed, and runsc logged:"
        head -c 4000 "$work/$id.log"
        echo "its host processes seen so far that still exist:"
        "$here/proctree.py" alive <(sort -u "$procs")
        fail "want one gofer under runsc boot $boot, found '$gofer'"
      fi
      d=$(delay 0 1000)
      sleep "$d"
      echo "round $round: kill -9 the gofer $gofer after ${d}s"
      kill -9 "$gofer"
      await_line "$work/$id.log" '^(RESULT|HANG)' 30
      sed 's/^/  probe: /' "$work/$id.log" | grep -v '^  probe: ready' | head -20
      ! grep -qE '^(HANG|UNEXPECTED)' "$work/$id.log" || fail "a file operation hung or failed other than with EIO"
      grep -q '^RESULT eio=stat,open,create,readdir,fork unexpected=0' "$work/$id.log" ||
        fail "the probe did not see every operation fail with EIO"
      [ "$(status_of "$id")" = running ] || fail "the container is $(status_of "$id") without its gofer"
      # A new process needs its program from the gofer: exec fails, and does not hang.
      timeout 20 "$runtime" --root "$state" --platform "$platform" exec "$id" /bin/true \
        >"$work/exec.err" 2>&1
      st=$?
      [ "$st" != 124 ] || fail "exec without a gofer hung"
      [ "$st" != 0 ] || fail "exec without a gofer succeeded"
      echo "  exec without a gofer fails ($st): $(head -1 "$work/exec.err")"
      rs kill "$id" KILL || fail "kill"
      await_status "$id" 10 stopped
      stop_sampler
      delete "$id"
      ;;
    do_sentry)
      procs=$work/procs.do.$round
      : >"$procs"
      "$runtime" --platform "$platform" do --volume "$work/out:/out" -- /bin/sh -c \
        'i=0; while :; do i=$((i+1)); echo $i >> /out/do.log; cat /etc/passwd > /dev/null; (ls / > /dev/null); done' &
      boot=$!
      cgroups=""
      start_sampler "$boot" "$procs"
      d=$(delay 200 2000)
      sleep "$d"
      sentry_victim "$round"
      echo "round $round: kill -9 $victim_name ($victim) of runsc do after ${d}s"
      kill -9 "$victim"
      wait "$boot" 2>/dev/null
      stop_sampler
      await_gone "$procs"
      id=do  # no state directory: check_clean's first check passes
      ;;
    *) fail "unknown case $case_name" ;;
  esac
  check_clean "$id" "$procs" "$cgroups"
  [ "$case_name" = do_sentry ] || rerun "$id"
done
echo ok
