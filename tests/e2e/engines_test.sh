#!/usr/bin/env bash
# End-to-end checks of runsc under real container engines, as users run it: podman (through
# conmon), containerd (through its runc shim v2, containerd-shim-runc-v2, with BinaryName set
# to runsc) and Docker (daemon.json's runtimes, through the same shim). Each engine runs
# isolated in a temporary directory with its own storage, state and (containerd, dockerd)
# daemon, on a busybox image made here from Debian's static busybox: no registry, no network.
# Whatever the engine lacks is installed from Debian's packages first.
#
# Usage: engines_test.sh RUNSC podman|containerd|docker
#
# Every runsc call goes through a logging wrapper ($work/runsc-calls.log: what the engine ran and
# how each call ended), printed when a check fails.
set -uo pipefail
runsc=$(readlink -f "$1")
engine=$2
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/moat-engines.XXXXXX)
chmod 755 "$work"
image=localhost/moat-busybox:test
calls=$work/runsc-calls.log

fail() {
  echo "FAIL: $*"
  if [ -s "$calls" ]; then
    echo "--- runsc calls ($calls) ---"
    tail -n 60 "$calls"
  fi
  exit 1
}

# The runsc processes (sandboxes, gofers, exec waiters) that belong to this test: a runsc binary
# whose command line names something under $work or this test's state root.
own_runsc_pids() {
  local pid exe
  for pid in $(pgrep -f -- "$work|${ns_root:-$work}"); do
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    [ "$exe" = "$runsc" ] && echo "$pid"
  done
}

# Checks that no runsc process of this test is left (waiting a little for ones that are ending).
no_runsc_left() {
  for _ in $(seq 100); do
    [ -z "$(own_runsc_pids)" ] && return 0
    sleep 0.1
  done
  ps -o pid,ppid,args -p "$(own_runsc_pids | paste -sd,)"
  fail "runsc processes of this test are left"
}

# Installs the Debian packages that provide the given commands, if a command is missing.
# Arguments: COMMAND:PACKAGE ...
need() {
  local missing=() spec
  for spec in "$@"; do
    command -v "${spec%%:*}" >/dev/null 2>&1 || [ -e "${spec%%:*}" ] || missing+=("${spec#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -y -q -o DPkg::Lock::Timeout=600 install "${missing[@]}")
  "${apt[@]}" >"$work/apt.log" 2>&1 ||
    { apt-get -q -o DPkg::Lock::Timeout=600 update >>"$work/apt.log" 2>&1 && "${apt[@]}" >>"$work/apt.log" 2>&1; } ||
    { tail -20 "$work/apt.log"; fail "could not install ${missing[*]}"; }
}

# A runtime for the engine: a script that logs each call and its exit status, then runs runsc
# with EXTRA global flags first. Prints its path.
make_wrapper() {
  local path=$work/bin/runsc
  mkdir -p "$work/bin"
  cat >"$path" <<EOF
#!/bin/bash
echo "\$(date +%T.%N) [\$\$] \$*" >>"$calls"
"$runsc" $* "\$@"
rc=\$?
echo "\$(date +%T.%N) [\$\$] exit \$rc" >>"$calls"
exit \$rc
EOF
  chmod 755 "$path"
  echo "$path"
}

# Runs a command with a terminal (util-linux script), its output in $work/tty.out, and returns
# its exit status. Input is a pipe kept open for the command's lifetime, not /dev/null, so that
# script does not send an end-of-file character into the terminal.
with_tty() {
  local cmd
  printf -v cmd '%q ' "$@"
  sleep 30 | timeout 60 script -qefc "$cmd" /dev/null >"$work/tty.out" 2>&1
}

# Times a command in milliseconds: sets $elapsed_ms and returns the command's status.
timed() {
  local start end status
  start=$(date +%s%N)
  "$@"
  status=$?
  end=$(date +%s%N)
  elapsed_ms=$(((end - start) / 1000000))
  return $status
}

############################################################### checks every engine shares
# Each takes the engine's command up to the program to run (its image, and for ctr the
# container id, included) and appends the program itself.

# WHAT CMD...: the container's output reaches the engine, and its exit status comes back.
check_output_and_status() {
  local what=$1 out status
  shift
  out=$(timeout 120 "$@" sh -c 'echo hello from $(hostname); exit 7')
  status=$?
  echo "$what: $out (status $status)"
  [ "$status" = 7 ] || fail "$what exited $status, want 7"
  [[ "$out" == "hello from "* ]] || fail "$what printed '$out'"
}

# WHAT CMD...: the container's init is pid 1 of its pid namespace: its own SIGKILL is ignored, as
# on Linux; a child's death by a signal is 128+N.
check_pid1_signals() {
  local what=$1 out status
  shift
  out=$(timeout 120 "$@" sh -c 'kill -KILL $$; sh -c "kill -SEGV \$\$" 2>/dev/null; echo $?')
  status=$?
  [ "$status" = 0 ] || fail "a pid 1 that sent itself SIGKILL: $what exited $status, want 0"
  [ "$out" = 139 ] || fail "a child killed by SIGSEGV: the shell saw '$out', want 139"
}

# WHAT WANT_STATUS CMD...: a terminal (given by script): the process sees a tty, and its status
# comes back.
check_tty() {
  local what=$1 want=$2 status
  shift 2
  with_tty "$@" sh -c "tty; exit $want"
  status=$?
  [ "$status" = "$want" ] || { cat "$work/tty.out"; fail "$what exited $status, want $want"; }
  grep -q '^/dev/pts/' "$work/tty.out" || { cat "$work/tty.out"; fail "$what: no tty inside"; }
}

# WHAT CMD...: an exec'd process's output and exit status.
check_exec() {
  local what=$1 out status
  shift
  out=$(timeout 60 "$@" sh -c 'echo in exec; exit 5')
  status=$?
  [ "$status" = 5 ] || fail "$what exited $status, want 5"
  [ "$out" = "in exec" ] || fail "$what printed '$out'"
}

# WHAT CMD...: the engine's pipe is the process's stdin.
check_stdin() {
  local what=$1 out
  shift
  out=$(echo piped-in | timeout 60 "$@" cat)
  [ "$out" = piped-in ] || fail "$what printed '$out'"
}

# WHAT WANT_STATUS CMD...: a program that does not exist: the engine exits WANT_STATUS (or, for
# "failure", any status but 0); its output goes to $work/missing.out.
check_missing_program() {
  local what=$1 want=$2 status
  shift 2
  timeout 120 "$@" /nonexistent >"$work/missing.out" 2>&1
  status=$?
  if [ "$want" = failure ]; then
    [ "$status" != 0 ] || fail "$what of a missing program succeeded"
  else
    [ "$status" = "$want" ] || fail "$what of a missing program exited $status, want $want: $(cat "$work/missing.out")"
  fi
}

# Podman and Docker, whose command lines agree on logs, stop, inspect and rm.
# ENGINE...: `ENGINE logs long` shows what container long printed first.
await_started() {
  for _ in $(seq 100); do
    "$@" logs long 2>/dev/null | grep -q started && break
    sleep 0.1
  done
  "$@" logs long | grep -qx started || fail "$1 logs: '$("$@" logs long 2>&1)'"
}

# NAME ENGINE...: `ENGINE stop --time 2` of container long, a pid-1 shell without a SIGTERM
# handler, which SIGTERM does not end: the engine sends SIGKILL after 2 s, and the container's
# exit code is 137. Then removes it.
check_stop_after_grace() {
  local name=$1
  shift
  timed timeout 60 "$@" stop --time 2 long >/dev/null 2>&1 || fail "$name stop"
  echo "$name stop --time 2 took ${elapsed_ms} ms"
  [ "$elapsed_ms" -ge 1900 ] || fail "$name stop took ${elapsed_ms} ms: SIGTERM ended a pid-1 shell without a handler"
  [ "$elapsed_ms" -le 15000 ] || fail "$name stop took ${elapsed_ms} ms: SIGKILL did not end the container"
  [ "$("$@" inspect -f '{{.State.ExitCode}}' long)" = 137 ] || fail "exit code after $name stop"
  timeout 60 "$@" rm long >/dev/null || fail "$name rm"
}

# ROOT: runsc keeps no container in state root ROOT, and no runsc process of this test is left.
check_nothing_left() {
  [ -z "$("$runsc" --root "$1" list -q)" ] || fail "runsc still lists: $("$runsc" --root "$1" list)"
  no_runsc_left
}

[ "$(id -u)" = 0 ] || fail "must run as root (engines need to mount and to make cgroups)"
need python3:python3 /bin/busybox:busybox-static script:bsdutils
"$here/busybox_image.py" "$work/busybox.tar" "$image" || fail "making the busybox image"

###################################################################################### podman
podman_cleanup() {
  if [ -n "${P[*]:-}" ]; then
    "${P[@]}" rm --all --force --time 0 >/dev/null 2>&1
  fi
  for pid in $(own_runsc_pids); do kill -KILL "$pid" 2>/dev/null; done
  # conmon processes of this test (their command lines name $work).
  for pid in $(pgrep -f -- "conmon .*$work"); do kill -KILL "$pid" 2>/dev/null; done
  findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}

run_podman() {
  need podman:podman conmon:conmon
  trap podman_cleanup EXIT
  local cfg=$work/config
  mkdir -p "$cfg" "$work/tmp"
  # No network, no registries, no systemd: a containers.conf, registries.conf and storage.conf
  # of the test's own.
  cat >"$cfg/containers.conf" <<EOF
[containers]
netns = "none"
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
EOF
  echo 'unqualified-search-registries = []' >"$cfg/registries.conf"
  cat >"$cfg/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
  export CONTAINERS_CONF=$cfg/containers.conf CONTAINERS_REGISTRIES_CONF=$cfg/registries.conf
  export CONTAINERS_STORAGE_CONF=$cfg/storage.conf TMPDIR=$work/tmp
  local base=(podman --root "$work/storage" --runroot "$work/run" --tmpdir "$work/libpod"
              --storage-driver vfs --cgroup-manager cgroupfs --events-backend file
              --volumepath "$work/volumes")
  local state=$work/runsc-state
  local wrapper
  wrapper=$(make_wrapper --root "$state")
  P=("${base[@]}" --runtime "$wrapper")
  local out status

  "${base[@]}" load -i "$work/busybox.tar" >"$work/load.log" 2>&1 || { cat "$work/load.log"; fail "podman load"; }
  "${base[@]}" image exists "$image" || fail "podman load did not make $image"

  # 1. runsc itself as the runtime (its default state root): output and exit status.
  check_output_and_status "podman run" "${base[@]}" --runtime "$runsc" run --rm --cidfile "$work/cid" "$image"
  ! "$runsc" list -q | grep -qx "$(cat "$work/cid")" || fail "the container is left in runsc's state"

  # 2. Through the logging wrapper from here on: signals of pid 1.
  check_pid1_signals "podman run" "${P[@]}" run --rm "$image"

  # 3. stdin is the engine's pipe; the config's user, environment, cwd and a bind mount.
  mkdir -p "$work/vol" && echo from-the-host >"$work/vol/f"
  out=$(echo piped-in | timeout 120 "${P[@]}" run --rm -i --user 65534:65534 -e FOO=bar -w /tmp \
        -v "$work/vol:/vol:ro" "$image" sh -c 'cat; id -u; echo $FOO; pwd; cat /vol/f')
  status=$?
  [ "$status" = 0 ] || fail "podman run -i exited $status"
  [ "$out" = "$(printf 'piped-in\n65534\nbar\n/tmp\nfrom-the-host')" ] || fail "podman run -i printed '$out'"
  # podman run --preserve-fds: conmon passes the fd on to runsc create --preserve-fds.
  out=$(timeout 120 "${P[@]}" run --rm --preserve-fds 1 "$image" sh -c 'cat <&3' 3<"$work/vol/f")
  [ "$out" = from-the-host ] || fail "podman run --preserve-fds 1 printed '$out'"

  # 4. A program that does not exist: podman's 127, with runsc's message.
  check_missing_program "podman run" 127 "${P[@]}" run --rm "$image"
  grep -q "/nonexistent" "$work/missing.out" || fail "podman run of a missing program said '$(cat "$work/missing.out")'"

  # 5. A terminal (-t).
  check_tty "podman run -t" 4 "${P[@]}" run --rm -t "$image"

  # 6. A long-running container: exec, logs, pause, stop (SIGTERM is ignored by a pid-1 shell
  # without a handler, so podman sends SIGKILL after --time), rm.
  timeout 120 "${P[@]}" run -d --name long "$image" \
    sh -c 'echo started; while :; do sleep 1; done' >/dev/null || fail "podman run -d"
  await_started "${P[@]}"
  [ "$("${P[@]}" inspect -f '{{.State.Status}}' long)" = running ] || fail "the container is not running"
  check_exec "podman exec" "${P[@]}" exec long
  check_stdin "podman exec -i" "${P[@]}" exec -i long
  check_missing_program "podman exec" 127 "${P[@]}" exec long
  check_tty "podman exec -t" 6 "${P[@]}" exec -t long
  timeout 60 "${P[@]}" pause long >/dev/null || fail "podman pause"
  [ "$("${P[@]}" inspect -f '{{.State.Status}}' long)" = paused ] || fail "not paused after podman pause"
  timeout 60 "${P[@]}" unpause long >/dev/null || fail "podman unpause"
  timeout 60 "${P[@]}" exec long true || fail "podman exec after unpause"
  check_stop_after_grace podman "${P[@]}"

  # 7. A container whose init waits for a child: the SIGKILL of podman stop takes the child too
  # (the PID namespace dies with its init), and the container stops.
  timeout 120 "${P[@]}" run -d --name parent "$image" sh -c 'sleep 1000 & wait' >/dev/null ||
    fail "podman run -d parent"
  timed timeout 60 "${P[@]}" stop --time 1 parent >/dev/null 2>&1 || fail "podman stop parent"
  [ "$elapsed_ms" -le 15000 ] || fail "podman stop of a container with a child took ${elapsed_ms} ms"
  [ "$("${P[@]}" inspect -f '{{.State.ExitCode}}' parent)" = 137 ] || fail "exit code of parent after stop"
  timeout 60 "${P[@]}" rm parent >/dev/null || fail "podman rm parent"

  # 8. podman rm --force of a running container.
  timeout 120 "${P[@]}" run -d --name doomed "$image" sleep 1000 >/dev/null || fail "podman run -d doomed"
  timeout 60 "${P[@]}" rm --force --time 0 doomed >/dev/null || fail "podman rm --force"

  [ -z "$("${P[@]}" ps -aq)" ] || fail "podman still has containers: $("${P[@]}" ps -a)"
  check_nothing_left "$state"
  echo "ok (${SECONDS} s)"
}

################################################################################## containerd
containerd_cleanup() {
  if [ -n "${C[*]:-}" ] && [ -S "$work/containerd.sock" ]; then
    for id in $("${C[@]}" task ls -q 2>/dev/null); do
      "${C[@]}" task kill -a -s SIGKILL "$id" >/dev/null 2>&1
      "${C[@]}" task delete --force "$id" >/dev/null 2>&1
    done
    for id in $("${C[@]}" container ls -q 2>/dev/null); do
      "${C[@]}" container delete "$id" >/dev/null 2>&1
    done
  fi
  if [ -n "${containerd_pid:-}" ]; then
    kill -TERM "$containerd_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$containerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$containerd_pid" 2>/dev/null
  fi
  # Shims of this test's namespace outlive the daemon.
  for pid in $(pgrep -f -- "containerd-shim-runc-v2 -namespace ${ns:-none} "); do kill -KILL "$pid" 2>/dev/null; done
  for pid in $(own_runsc_pids); do kill -KILL "$pid" 2>/dev/null; done
  findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  [ -n "${ns_root:-}" ] && rm -rf "$ns_root"
  rm -rf "$work"
}

# The status ctr reports for task $1 (RUNNING, PAUSED, STOPPED).
task_status() { "${C[@]}" task ls | awk -v id="$1" '$1 == id {print $3}'; }

# NAME WHY: waits up to 10 s for task NAME to stop.
await_task_stopped() {
  for _ in $(seq 100); do
    [ "$(task_status "$1")" = STOPPED ] && return 0
    sleep 0.1
  done
  fail "task $1 did not stop $2"
}

# Deletes stopped task $1 and its container.
delete_task() {
  timeout 60 "${C[@]}" task delete "$1" 2>/dev/null || fail "ctr task delete $1"
  timeout 60 "${C[@]}" container delete "$1" || fail "ctr container delete $1"
}

run_containerd() {
  need containerd:containerd ctr:containerd containerd-shim-runc-v2:containerd
  trap containerd_cleanup EXIT
  ns=moat-$$-$RANDOM
  # The runc shim's state root for runsc: runc's default, per namespace.
  ns_root=/run/containerd/runc/$ns
  local sock=$work/containerd.sock
  cat >"$work/containerd.toml" <<EOF
version = 2
root = "$work/containerd/root"
state = "$work/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
                    "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/containerd/opt"
EOF
  containerd --config "$work/containerd.toml" >"$work/containerd.log" 2>&1 &
  containerd_pid=$!
  C=(ctr --address "$sock" --namespace "$ns")
  for _ in $(seq 100); do "${C[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${C[@]}" version >/dev/null 2>&1 || { tail -20 "$work/containerd.log"; fail "containerd did not start"; }
  local snapshotter=overlayfs
  "${C[@]}" plugins ls 2>/dev/null | grep -q 'io.containerd.snapshotter.v1 *overlayfs .* ok' || snapshotter=native
  C=("${C[@]}")
  local R=(--snapshotter "$snapshotter")
  local wrapper out status
  wrapper=$(make_wrapper)

  "${C[@]}" image import --snapshotter "$snapshotter" "$work/busybox.tar" >"$work/import.log" 2>&1 ||
    { cat "$work/import.log"; fail "ctr image import"; }

  # 1. runsc itself as the runc shim's binary: output and exit status.
  check_output_and_status "ctr run" "${C[@]}" run "${R[@]}" --runc-binary "$runsc" --rm "$image" plain

  # 2. Through the logging wrapper from here on: signals of pid 1.
  check_pid1_signals "ctr run" "${C[@]}" run "${R[@]}" --runc-binary "$wrapper" --rm "$image" sig

  # 3. A program that does not exist: the shim reports runsc's message from its log.json.
  check_missing_program "ctr run" failure "${C[@]}" run "${R[@]}" --runc-binary "$wrapper" --rm "$image" missing
  [[ "$(cat "$work/missing.out")" == *"OCI runtime create failed"*"/nonexistent"* ]] ||
    fail "ctr run of a missing program said '$(cat "$work/missing.out")'"

  # 4. A terminal (-t): the shim gives a console socket and reads create's output to its end
  # before it takes the terminal.
  check_tty "ctr run -t" 4 "${C[@]}" run "${R[@]}" --runc-binary "$wrapper" --rm -t "$image" tty1

  # 5. A long-running task: exec, ps, pause, kill (SIGTERM is ignored by a pid-1 shell without a
  # handler; SIGKILL is not), delete.
  timeout 120 "${C[@]}" run "${R[@]}" --runc-binary "$wrapper" -d "$image" long \
    sh -c 'while :; do sleep 1; done' || fail "ctr run -d"
  [ "$(task_status long)" = RUNNING ] || fail "task long is not running"
  check_exec "ctr task exec" "${C[@]}" task exec --exec-id e1 long
  check_tty "ctr task exec -t" 6 "${C[@]}" task exec -t --exec-id e2 long
  "${C[@]}" task ps long >/dev/null || fail "ctr task ps"
  # The shim kills an exec'd process by the pid runsc exec --pid-file gave it (runsc's waiter):
  # a SIGKILL there must end the process in the sandbox too.
  timeout 60 "${C[@]}" task exec -d --exec-id e3 long sleep 999 || fail "ctr task exec -d"
  timeout 60 "${C[@]}" task exec --exec-id e4 long ps -o args | grep -q '^sleep 999' ||
    fail "the exec'd sleep is not running"
  timeout 60 "${C[@]}" task kill --exec-id e3 -s SIGKILL long || fail "ctr task kill --exec-id e3"
  for _ in $(seq 50); do
    timeout 60 "${C[@]}" task exec --exec-id e5 long ps -o args | grep -q '^sleep 999' || break
    sleep 0.2
  done
  ! timeout 60 "${C[@]}" task exec --exec-id e6 long ps -o args | grep -q '^sleep 999' ||
    fail "the exec'd sleep survived a SIGKILL to its exec process"
  timeout 60 "${C[@]}" task pause long || fail "ctr task pause"
  [ "$(task_status long)" = PAUSED ] || fail "task long is not paused"
  timeout 60 "${C[@]}" task resume long || fail "ctr task resume"
  timeout 60 "${C[@]}" task metrics long >/dev/null || fail "ctr task metrics"
  timeout 60 "${C[@]}" task kill long || fail "ctr task kill (SIGTERM)"
  sleep 1
  [ "$(task_status long)" = RUNNING ] || fail "SIGTERM ended a pid-1 shell without a handler"
  timeout 60 "${C[@]}" task kill -s SIGKILL long || fail "ctr task kill -s SIGKILL"
  await_task_stopped long "after SIGKILL"
  delete_task long

  # 6. SIGKILL to an init that waits for a child: the child goes too (the PID namespace dies
  # with its init), and the task stops.
  timeout 120 "${C[@]}" run "${R[@]}" --runc-binary "$wrapper" -d "$image" parent \
    sh -c 'sleep 1000 & wait' || fail "ctr run -d parent"
  timeout 60 "${C[@]}" task kill -s SIGKILL parent || fail "ctr task kill -s SIGKILL parent"
  await_task_stopped parent "after SIGKILL to its init"
  delete_task parent

  # 7. kill --all of a task with several processes, then delete.
  timeout 120 "${C[@]}" run "${R[@]}" --runc-binary "$wrapper" -d "$image" all \
    sh -c 'sleep 1000 & sleep 1000 & wait' || fail "ctr run -d all"
  timeout 60 "${C[@]}" task kill --all -s SIGKILL all || fail "ctr task kill --all"
  await_task_stopped all "after kill --all"
  grep -q "kill --all all 9" "$calls" || fail "ctr task kill --all did not run runsc kill --all"
  delete_task all

  [ -z "$("${C[@]}" task ls -q)" ] || fail "tasks left: $("${C[@]}" task ls)"
  [ -z "$("${C[@]}" container ls -q)" ] || fail "containers left: $("${C[@]}" container ls)"
  check_nothing_left "$ns_root"
  echo "ok (${SECONDS} s)"
}

###################################################################################### docker
docker_cleanup() {
  if [ -n "${D[*]:-}" ] && [ -S "$work/docker.sock" ]; then
    for id in $("${D[@]}" ps -aq 2>/dev/null); do "${D[@]}" rm -f "$id" >/dev/null 2>&1; done
  fi
  if [ -n "${dockerd_pid:-}" ]; then
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$dockerd_pid" 2>/dev/null
  fi
  # The containerd that dockerd started, and its shims (their command lines name $work).
  for pid in $(pgrep -f -- "containerd.*$work"); do kill -KILL "$pid" 2>/dev/null; done
  for pid in $(own_runsc_pids); do kill -KILL "$pid" 2>/dev/null; done
  findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}

run_docker() {
  need dockerd:docker.io containerd:containerd
  trap docker_cleanup EXIT
  local docker=docker
  [ -x /usr/bin/docker ] && docker=/usr/bin/docker
  # runsc as a runtime of daemon.json; no network of dockerd's own (no bridge, no iptables).
  local wrapper
  wrapper=$(make_wrapper)
  cat >"$work/daemon.json" <<EOF
{
  "runtimes": {"runsc": {"path": "$wrapper"}},
  "iptables": false, "ip6tables": false, "ip-forward": false, "ip-masq": false,
  "bridge": "none", "userland-proxy": false,
  "exec-opts": ["native.cgroupdriver=cgroupfs"]
}
EOF
  dockerd --config-file "$work/daemon.json" --data-root "$work/docker" --exec-root "$work/dexec" \
    --pidfile "$work/dockerd.pid" -H "unix://$work/docker.sock" >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  D=("$docker" -H "unix://$work/docker.sock")
  for _ in $(seq 300); do "${D[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${D[@]}" version >/dev/null 2>&1 || { tail -20 "$work/dockerd.log"; fail "dockerd did not start"; }
  local run=("${D[@]}" run --runtime=runsc --network none)
  local out status

  "${D[@]}" load -i "$work/busybox.tar" >"$work/load.log" 2>&1 || { cat "$work/load.log"; fail "docker load"; }

  # 1. Output and exit status (Docker's spec has "blockIO": {"weight": 0}, which is unset).
  check_output_and_status "docker run" "${run[@]}" --rm "$image"

  # 2. stdin, and a program that does not exist (Docker's 127).
  check_stdin "docker run -i" "${run[@]}" --rm -i "$image"
  check_missing_program "docker run" 127 "${run[@]}" --rm "$image"
  timeout 120 "${run[@]}" --rm "$image" nonexistent >/dev/null 2>&1
  status=$?
  [ "$status" = 127 ] || fail "docker run of a program not in \$PATH exited $status, want 127"
  timeout 120 "${run[@]}" --rm "$image" /etc/passwd >/dev/null 2>&1
  status=$?
  [ "$status" = 126 ] || fail "docker run of a file that is not executable exited $status, want 126"

  # 3. A long-running container: exec, logs, stop (SIGKILL after --time), rm.
  timeout 120 "${run[@]}" -d --name long "$image" \
    sh -c 'echo started; while :; do sleep 1; done' >/dev/null || fail "docker run -d"
  await_started "${D[@]}"
  check_exec "docker exec" "${D[@]}" exec long
  check_stdin "docker exec -i" "${D[@]}" exec -i long
  check_stop_after_grace docker "${D[@]}"
  # 4. docker kill (SIGKILL) of an init that waits for a child: the child goes too.
  timeout 120 "${run[@]}" -d --name parent "$image" sh -c 'sleep 1000 & wait' >/dev/null ||
    fail "docker run -d parent"
  timeout 60 "${D[@]}" kill parent >/dev/null || fail "docker kill parent"
  out=$(timeout 20 "${D[@]}" wait parent) || fail "docker kill: the container did not stop"
  [ "$out" = 137 ] || fail "docker wait after docker kill: '$out', want 137"
  timeout 60 "${D[@]}" rm parent >/dev/null || fail "docker rm parent"
  timeout 120 "${run[@]}" -d --name doomed "$image" sleep 1000 >/dev/null || fail "docker run -d doomed"
  timeout 60 "${D[@]}" rm --force doomed >/dev/null || fail "docker rm --force"

  [ -z "$("${D[@]}" ps -aq)" ] || fail "docker still has containers: $("${D[@]}" ps -a)"
  # dockerd gives the shim runsc's state root as EXEC_ROOT/runtime-runc/moby (whatever the
  # runtime's name).
  local root roots=0
  for root in "$work"/dexec/runtime-*/moby; do
    [ -d "$root" ] || continue
    roots=$((roots + 1))
    [ -z "$("$runsc" --root "$root" list -q)" ] || fail "runsc still lists: $("$runsc" --root "$root" list)"
  done
  [ "$roots" -gt 0 ] || fail "no runsc state root under $work/dexec"
  no_runsc_left
  echo "ok (${SECONDS} s)"
}

case "$engine" in
  podman) run_podman ;;
  containerd) run_containerd ;;
  docker) run_docker ;;
  *) fail "unknown engine $engine (podman, containerd or docker)" ;;
esac
