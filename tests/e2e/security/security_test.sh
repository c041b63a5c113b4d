#!/usr/bin/env bash
# The escape tests (tests/e2e/security/README.md): runs one case's program in the sandbox on each
# platform and checks from the host that nothing got out.
# Usage: security_test.sh RUNSC CASE BUILD_DIR
#   PLATFORMS="ptrace seccomp_trap" (the default) picks the platforms; KEEP=1 keeps the work
#   directories.
# Each run gets a work directory /tmp/moat-sec.XXXXXX with:
#   rootfs/   the sandbox's root: the case's static program in /bin, nothing else of the host
#   host/     what must stay untouched: "canary" (a secret line, mode 600) and "stdin" (the
#             sandbox's stdin, opened read-only); runsc starts with host/ as its cwd
#   ctl/      bind-mounted at /ctl: the driver writes ctl/pids (the sentry's, the gofer's and a
#             victim host process's pids) once it has found them
# A run passes when runsc exits 0, the program printed its completion marker with no ESCAPED or
# BROKEN line, the secret appears nowhere in its output, host/ is byte for byte and stat for stat
# as it was, the victim (a host `sleep`) is alive, untraced and not stopped, no process of the
# sandbox is left, and the case's own host-side checks hold.
set -uo pipefail
runsc=$(realpath "$1")
case_name=$2
build=$(realpath "$3")
here=$(dirname "$(realpath "$0")")
bins=$build/tests/e2e/security
platforms=${PLATFORMS:-ptrace seccomp_trap}
failures=0

fail() { echo "FAIL [$case_name/$platform]: $*"; failures=$((failures + 1)); }
log() { echo "-- [$case_name/$platform] $*"; }

[ "$(id -u)" = 0 ] || { echo "FAIL: the escape tests run as root (runsc needs it)"; exit 1; }
[ -x "$runsc" ] || { echo "FAIL: no runsc at $1"; exit 1; }

# Every entry under $1 with its metadata and content hash (snapshot.py); stdin may be read.
snapshot() { "$here/snapshot.py" "$1" stdin; }

# The pids of $1 and all its descendants.
descendants() {
  local all
  all=$(ps -e -o pid=,ppid=)
  local list=" $1 " grew=1
  while [ $grew = 1 ]; do
    grew=0
    while read -r p pp; do
      if [[ "$list" == *" $pp "* && "$list" != *" $p "* ]]; then list="$list$p "; grew=1; fi
    done <<< "$all"
  done
  echo $list
}

starttime() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }

new_work() {
  work=$(mktemp -d /tmp/moat-sec.XXXXXX)
  chmod 755 "$work"
  rootfs=$work/rootfs host=$work/host ctl=$work/ctl
  mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$host" "$ctl"
  chmod 1777 "$rootfs/tmp"
  cp "$bins/$prog" "$rootfs/bin/$prog" || { echo "FAIL: no $bins/$prog (build it)"; exit 1; }
  secret="$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')"
  echo "MOAT-HOST-CANARY-$secret" > "$host/canary"
  chmod 600 "$host/canary"
  echo "stdin of the sandbox: a host file, opened read-only" > "$host/stdin"
  chmod 444 "$host/stdin"
  mkdir "$host/dir"
  # A host executable: a program in the sandbox that gets the host to exec it changes its atime.
  printf '#!/bin/sh\necho escaped > %s/exe-ran\n' "$host/dir" > "$host/dir/exe"
  chmod 755 "$host/dir/exe"
  : > "$ctl/pids"
  echo inside-root > "$rootfs/etc/marker"
  # Access times older than the contents: a read from the host side (relatime) shows.
  find "$host" -exec touch -a -h -d 2000-01-01 {} +
}

# run_case EXTRA_RUNSC_ARGS... -- PROGRAM_ARGS...: runs the case's program in a sandbox on
# $platform, fills $out (its output), $status, $sentry, $gofer, and the monitor's maxima.
run_case() {
  local runsc_args=() prog_args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do runsc_args+=("$1"); shift; done
  shift
  prog_args=("$@")
  out_file=$work/out
  sleep 600 & victim=$!
  (cd "$host" && exec "$runsc" do --platform "$platform" --root "$rootfs" --cwd / \
     --volume "$ctl:/ctl" "${runsc_args[@]}" -- "/bin/$prog" pids=/ctl/pids "${prog_args[@]}") \
    < "$host/stdin" > "$out_file" 2>&1 &
  runsc_pid=$!
  sentry="" gofer="" 
  local deadline=$((SECONDS + ${TIMEOUT:-90})) p exe
  # The sentry is the parent of the application's processes (their host image is the stub's
  # memfd); the gofer is the process whose command line says so.
  while [ $SECONDS -lt $deadline ] && kill -0 "$runsc_pid" 2>/dev/null; do
    for p in $(descendants "$runsc_pid"); do
      exe=$(readlink "/proc/$p/exe" 2>/dev/null)
      if [[ "$exe" == *moat-stub* && -z "$sentry" ]]; then
        sentry=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)
      fi
      if [ -z "$gofer" ] && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q ' gofer '; then
        gofer=$p
      fi
    done
    [ -n "$sentry" ] && [ -n "$gofer" ] && break
    sleep 0.05
  done
  # In place: the file exists from the start (a name that appears later may be cached as absent).
  echo "sentry=${sentry:-0} gofer=${gofer:-0} victim=$victim" >> "$ctl/pids"
  sandbox_pids=$(descendants "$runsc_pid")
  local starts=() q
  for q in $sandbox_pids; do starts+=("$q:$(starttime "$q")"); done
  # Watch the host while the case runs: the sentry's fds, the sandbox's processes, the host's.
  max_sentry_fds=0 max_sandbox_procs=0 max_host_procs=0 min_host_free_pids=999999999
  local n pid_max
  pid_max=$(cat /proc/sys/kernel/pid_max)
  while [ $SECONDS -lt $deadline ] && kill -0 "$runsc_pid" 2>/dev/null; do
    if [ -n "$sentry" ]; then
      n=$(ls "/proc/$sentry/fd" 2>/dev/null | wc -l)
      [ "$n" -gt "$max_sentry_fds" ] && max_sentry_fds=$n
    fi
    n=$(ls -d /proc/[0-9]*/task/[0-9]* 2>/dev/null | wc -l)
    [ "$n" -gt "$max_host_procs" ] && max_host_procs=$n
    [ $((pid_max - n)) -lt "$min_host_free_pids" ] && min_host_free_pids=$((pid_max - n))
    n=$(descendants "$runsc_pid" | wc -w)
    [ "$n" -gt "$max_sandbox_procs" ] && max_sandbox_procs=$n
    sleep 0.2
  done
  if kill -0 "$runsc_pid" 2>/dev/null; then
    fail "runsc still running after ${TIMEOUT:-90} s; killing it"
    kill -9 "$runsc_pid"
  fi
  wait "$runsc_pid"
  status=$?
  out=$(cat "$out_file")
  echo "$out" | sed "s/^/   | /"
  log "runsc exited $status; host pids: sentry $sentry gofer $gofer; most sentry fds $max_sentry_fds," \
      "sandbox host processes $max_sandbox_procs, host tasks $max_host_procs of pid_max $pid_max"
  # Nothing of the sandbox is left: each pid seen is gone, or is another process by now. The
  # gofer and the sentry end with runsc (PR_SET_PDEATHSIG), a moment later on a loaded machine:
  # each gets up to 5 s.
  local entry
  for entry in "${starts[@]}"; do
    q=${entry%%:*}
    # A zombie is gone as far as the sandbox goes (this machine's pid 1 may be slow to reap).
    alive() {
      [ -n "${entry#*:}" ] && [ "$(starttime "$q")" = "${entry#*:}" ] &&
        [ "$(awk '{print $3}' "/proc/$q/stat" 2>/dev/null)" != Z ]
    }
    for _ in $(seq 50); do alive || break; sleep 0.1; done
    if alive; then
      fail "process $q of the sandbox is still there: $(tr '\0' ' ' < "/proc/$q/cmdline")"
      kill -9 "$q" 2>/dev/null
    fi
  done
  # (The case's own host-side helpers, like network_none's listener, are not the sandbox's.)
  local left
  left=$(pgrep -f -- "$work" | grep -vx "${listener:-0}")
  if [ -n "$left" ]; then
    fail "processes naming $work are left: $(ps -o pid=,args= -p "$(echo $left | tr ' ' ,)")"
  fi
}

# The checks every case gets after run_case.
common_checks() {
  [ -n "$sentry" ] || fail "never found the sentry's host pid"
  [ -n "$gofer" ] || fail "never found the gofer's host pid"
  [ "$status" = 0 ] || fail "runsc exited $status (the program exits 1 when it escaped)"
  echo "$out" | grep -q "^SECURITY-CASE-DONE $case_name escapes=0$" ||
    fail "no completion marker 'SECURITY-CASE-DONE $case_name escapes=0': the program did not finish"
  if echo "$out" | grep -Eq '^(ESCAPED|BROKEN):'; then
    fail "$(echo "$out" | grep -E '^(ESCAPED|BROKEN):' | head -5)"
  fi
  if echo "$out" | grep -q "$secret"; then fail "the host canary's secret is in the output"; fi
  [ "$(snapshot "$host")" = "$host_before" ] || {
    fail "the host directory changed:"
    diff <(echo "$host_before") <(snapshot "$host") | head -20
  }
  if ! kill -0 "$victim" 2>/dev/null; then
    fail "the victim host process $victim is gone"
  else
    local st tracer
    st=$(awk '{print $3}' "/proc/$victim/stat")
    tracer=$(awk '/^TracerPid/ {print $2}' "/proc/$victim/status")
    [ "$st" != T ] && [ "$st" != t ] || fail "the victim host process is stopped ($st)"
    [ "$tracer" = 0 ] || fail "the victim host process is traced by $tracer"
    kill -9 "$victim" 2>/dev/null
  fi
  wait "$victim" 2>/dev/null
}

# No mount of the host names the work directory (a mount made from the sandbox would).
host_mounts_clean() {
  if grep -q -- "$work" /proc/self/mountinfo /proc/1/mountinfo; then
    fail "a host mount names $work: $(grep -- "$work" /proc/self/mountinfo /proc/1/mountinfo)"
    grep -- "$work" /proc/self/mountinfo | awk '{print $5}' | xargs -r -n1 umount -l
  fi
}

# overlay_root under `runsc run` with --overlay=true and a writable root (config.json's
# root.readonly false): the bundle's rootfs is $rootfs itself.
oci_overlay() {
  local bundle=$work/bundle state=$work/state id=moat-sec-$$ before after st
  mkdir -p "$bundle"
  mv "$rootfs" "$bundle/rootfs"
  rootfs=$bundle/rootfs
  local caps='["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_MKNOD", "CAP_SYS_ADMIN"]'
  "$here/../oci_bundle.py" "$bundle" "{\"process\": {\"args\": [\"/bin/overlay_root\"], \"capabilities\": {\"bounding\": $caps, \"effective\": $caps, \"permitted\": $caps}}, \"root\": {\"readonly\": false}}" ||
    { fail "oci_bundle.py failed"; return; }
  before=$("$here/snapshot.py" "$rootfs" | sed 's/ a=[0-9-]*//')
  timeout 120 "$runsc" --root "$state" --overlay=true --platform "$platform" run -b "$bundle" "$id" > "$work/oci.out" 2>&1
  st=$?
  sed 's/^/   | /' "$work/oci.out"
  "$runsc" --root "$state" delete --force "$id" > /dev/null 2>&1
  [ "$st" = 0 ] || fail "runsc run exited $st"
  grep -q "^SECURITY-CASE-DONE overlay_root escapes=0$" "$work/oci.out" ||
    fail "no completion marker from the OCI container"
  after=$("$here/snapshot.py" "$rootfs" | sed 's/ a=[0-9-]*//')
  # runsc makes the mount points the config names (/proc, /dev, ...) in the rootfs, as runc
  # does: those may appear; nothing else may change.
  after=$(echo "$after" | grep -Ev '^\./?(proc|dev|sys|tmp|dev/pts|dev/shm|dev/mqueue) d')
  before=$(echo "$before" | grep -Ev '^\./?(proc|dev|sys|tmp|dev/pts|dev/shm|dev/mqueue) d')
  # Their parent directory's times and link count change with them.
  after=$(echo "$after" | grep -v '^\. ')
  before=$(echo "$before" | grep -v '^\. ')
  [ "$after" = "$before" ] || {
    fail "the rootfs under the overlay changed on the host (runsc run --overlay=true):"
    diff <(echo "$before") <(echo "$after") | head -30
  }
}

cleanup() {
  if [ -n "${work:-}" ] && [ -d "$work" ]; then
    if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
  fi
}
trap 'cleanup; kill -9 ${victim:-} 2>/dev/null' EXIT

for platform in $platforms; do
  prog=$case_name
  [ "$case_name" = stub_clone ] && prog=stub_syscall
  new_work
  host_before=$(snapshot "$host")
  case "$case_name" in
    proc_root)
      run_case --network none -- "canary=$host/canary"
      common_checks
      ;;
    stub_syscall|stub_clone)
      prog=stub_syscall
      [ "$case_name" = stub_clone ] && set -- only=clone || set --
      run_case --network none -- "hostdir=$host/dir" "canary=$host/canary" "$@"
      common_checks
      host_mounts_clean
      ;;
    gofer_race)
      mkdir "$work/vol"
      run_case --network none --volume "$work/vol:/mnt/vol" -- "canary=$host/canary"
      common_checks
      outside=$(find "$work" / -xdev -maxdepth 1 -name 'pwned*' 2>/dev/null;
                find "$work" -name 'pwned*' ! -path "$work/vol/*" 2>/dev/null)
      [ -z "$outside" ] || fail "files made through raced names are outside the volume: $outside"
      ;;
    bind_dotdot)
      mkdir "$work/vol"
      ln -s ../host "$work/vol/up"
      run_case --network none --volume "$work/vol:/mnt/vol" -- "canary=$host/canary"
      common_checks
      ;;
    sentry_memory)
      disks=$(awk 'NR > 2 && $4 !~ /[0-9]$/ || $4 ~ /^(nvme[0-9]+n[0-9]+|loop[0-9]+|dm-[0-9]+)$/ {
                     printf "%s%s:%s", sep, $1, $2; sep = "," }' /proc/partitions)
      hostname_before=$(hostname)
      run_case --network none -- "disks=$disks"
      common_checks
      if [ "$(hostname)" != "$hostname_before" ]; then
        fail "the host's hostname changed to $(hostname)"
        hostname "$hostname_before"
      fi
      if grep -q moat-escape /proc/keys 2>/dev/null; then fail "a host keyring holds moat-escape"; fi
      ;;
    network_none)
      port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      addrs="127.0.0.1 $(ip -o addr show 2>/dev/null | awk '$3 == "inet" || $3 == "inet6" {split($4, a, "/"); if (a[1] !~ /^fe80/) print a[1]}' | grep -v '^127\.0\.0\.1$' | sort -u | tr '\n' ' ')"
      abstract="moat-sec-$$-$RANDOM$RANDOM"
      "$here/net_listener.py" "$work/net.log" "$port" "$abstract" $addrs > "$work/listener.out" 2>&1 &
      listener=$!
      for _ in $(seq 50); do grep -q ready "$work/listener.out" 2>/dev/null && break; sleep 0.1; done
      grep -q ready "$work/listener.out" || fail "the host listener did not start: $(cat "$work/listener.out")"
      targets=""
      for a in $addrs; do
        if [[ "$a" == *:* ]]; then targets="$targets,[$a]:$port"; else targets="$targets,$a:$port"; fi
      done
      targets=${targets#,}
      log "host listeners on $targets and @$abstract"
      # And addresses no host has (documentation ranges): with only lo, connect and sendto must
      # find no route to any address but lo's, whatever addresses this host happens to have.
      targets="$targets,192.0.2.77:$port,[2001:db8::77]:$port"
      run_case --network none -- "tcp=$targets" "udp=$targets" "abstract=$abstract"
      common_checks
      # The listener itself must still answer: the checks below mean something.
      python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 2).close()" ||
        fail "the host listener does not answer the host"
      sleep 0.3
      kill "$listener" 2>/dev/null
      wait "$listener" 2>/dev/null
      grep -v "127.0.0.1', [0-9]*) *\$" "$work/net.log" > "$work/net.sandbox.log" 2>/dev/null
      # The driver's own probe above is the only connection allowed.
      if [ "$(grep -c . "$work/net.log" 2>/dev/null)" != 1 ]; then
        fail "the host listener heard from the sandbox: $(cat "$work/net.log")"
      fi
      ;;
    overlay_root)
      mkdir -p "$rootfs/data/dir/sub" "$rootfs/data/emptydir"
      for f in file append pwrite before trunc ftrunc del ren over_src over_dst xa xb copy_dst \
               dir/sub/inner; do
        echo "original $f" > "$rootfs/data/$f"
      done
      head -c 8192 /dev/urandom > "$rootfs/data/mapped"
      head -c 8192 /dev/urandom > "$rootfs/data/mapped2"
      echo "original hl" > "$rootfs/data/hl_a"
      ln "$rootfs/data/hl_a" "$rootfs/data/hl_b"
      ln -s file "$rootfs/data/sym_to_file"
      root_before=$("$here/snapshot.py" "$rootfs" | sed 's/ a=[0-9-]*//')
      run_case --network none -- 
      common_checks
      root_after=$("$here/snapshot.py" "$rootfs" | sed 's/ a=[0-9-]*//')
      [ "$root_after" = "$root_before" ] || {
        fail "the rootfs under the overlay changed on the host (runsc do):"
        diff <(echo "$root_before") <(echo "$root_after") | head -30
      }
      # The same under an OCI container whose root is writable, with --overlay=true.
      oci_overlay
      ;;
    exhaust_fds)
      file_max=$(cat /proc/sys/fs/file-max)
      run_case --network none -- children=4
      common_checks
      used=$(awk '{print $1}' /proc/sys/fs/file-nr)
      log "host file-nr now $used of $file_max; the sentry had at most $max_sentry_fds fds"
      [ "$used" -lt $((file_max / 2)) ] || fail "the host has $used of $file_max files open"
      ;;
    exhaust_procs)
      pid_max=$(cat /proc/sys/kernel/pid_max)
      TIMEOUT=${TIMEOUT:-280} run_case --network none -- "max=$((pid_max / 2))"
      common_checks
      log "fewest free host pids while it ran: $min_host_free_pids of $pid_max"
      [ "$min_host_free_pids" -gt $((pid_max / 5)) ] ||
        fail "the host came down to $min_host_free_pids free pids of $pid_max"
      ;;
    *)
      echo "FAIL: unknown case $case_name"
      exit 1
      ;;
  esac
  cleanup
done
if [ $failures -gt 0 ]; then
  echo "FAIL: $case_name: $failures check(s) failed"
  exit 1
fi
echo "PASS: $case_name on $platforms"
