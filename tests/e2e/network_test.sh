#!/usr/bin/env bash
# A container's network end to end (issue 6's acceptance): servers in the container answer
# clients on the host side of a veth pair, clients in the container reach servers there, and
# --network=none leaves the container nothing but its own loopback.
#
# Usage: network_test.sh [RUNTIME] [CASE]
#   RUNTIME  the runtime: a path (ctest passes build/runsc), `runc` (the host's runc) or `gvisor`
#            (Debian's /usr/bin/runsc, ptrace platform). The environment variable RUNTIME, when
#            set, wins over the argument: `RUNTIME=runc ctest -R e2e.network` checks the
#            expectations against Linux. For ours, $PLATFORM (if set) picks the platform.
#   CASE     http_server, redis_server, client, none, or all (the default).
#
# The network: each run makes two network namespaces of its own, moat-net-PID-h (the "host
# side") and moat-net-PID-c (the container's), joined by a veth pair: 10.200.6.1/24 on veth-h in
# the first, 10.200.6.2/24 on eth0 in the second, a default route through .1 and loopback up in
# both. The container joins the second by path (the "network" entry of linux.namespaces), as a
# container joins the namespace its engine set up; host-side programs run in the first with
# `ip netns exec`. Keeping the host side in a namespace of its own leaves the machine's own
# interfaces and routes alone, and lets runs go on in parallel with the same addresses. Traffic
# never leaves these two namespaces.
#
# The container's root: the busybox bundle of oci_bundle.py with the host's /usr bind-mounted
# read-only and /lib, /lib64 linking into it (Debian's merged /usr), so that Debian's python3,
# curl and redis-server run unchanged; net_probe.py (a client that says whether a connection was
# refused or timed out) at /net/probe.py and the files served at /www.
#
# Everything the test made (containers, host-side servers, namespaces, the work directory) is
# removed at exit, failed or not; namespaces left by a run that was killed are removed by the
# next run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runtime=${RUNTIME:-${1:-}}
case_name=${2:-all}
. "$here/oci_lib.sh" moat-net

usage="usage: [RUNTIME=runc|gvisor|PATH] network_test.sh [RUNTIME] [http_server|redis_server|client|none|all]"
case "$case_name" in
  http_server | redis_server | client | none | all) ;;
  *) fail "unknown case '$case_name'; $usage" ;;
esac

# Prerequisites: a missing one fails the test and says why (nothing here skips silently).
[ "$(id -u)" = 0 ] || fail "prerequisite: must run as root (network namespaces and containers need it)"
py=/usr/bin/python3  # Debian's python3 on both sides: the container's /usr is the host's.
for tool in ip curl redis-server redis-cli redis-benchmark busybox sha256sum "$py"; do
  command -v "$tool" >/dev/null ||
    fail "prerequisite: $tool is missing (tools/install-deps.sh installs iproute2, curl, redis-server, redis-tools, busybox-static, python3)"
done
[ -e /usr/lib64/ld-linux-x86-64.so.2 ] && [ -L /lib64 ] ||
  fail "prerequisite: the container's root links /lib64 to the host's /usr/lib64 (a merged-/usr Debian)"

case "$runtime" in
  "") fail "no runtime given; $usage" ;;
  runc) runtime=$(command -v runc) || fail "prerequisite: runc is not installed (tools/install-deps.sh)" ;;
  gvisor) runtime=/usr/bin/runsc
          [ -x "$runtime" ] || fail "prerequisite: gVisor's runsc is not installed (apt-get install runsc)" ;;
esac
[ -x "$runtime" ] || fail "runtime $runtime is not an executable (build it: /work/wt/mbuild runsc)"
# What kind of runtime it is decides its flags: runc has no --network, gVisor's and ours do.
rflags=()
none_flags=(--network=none)
rt=("$runtime")
if [ "$(basename "$runtime")" = runc ]; then
  kind=runc
  none_flags=()
elif "$runtime" --version 2>/dev/null | grep -q moat; then
  kind=moat
  [ -n "${PLATFORM:-}" ] && rflags=(--platform="$PLATFORM")
else
  kind=gvisor
  rflags=(--platform=ptrace)
  # Debian's gVisor needs a workaround to use its netstack on this kernel (gvisor_runsc.sh says why).
  rt=(env GVISOR_RUNSC="$runtime" "$here/gvisor_runsc.sh")
fi
rs() { "${rt[@]}" --root "$state" "${rflags[@]}" "$@"; }

host_ip=10.200.6.1
ctr_ip=10.200.6.2
hns=moat-net-$$-h
cns=moat-net-$$-c
cns_path=/var/run/netns/$cns
# Host-side commands: in the host side's namespace.
hx() { ip netns exec "$hns" "$@"; }
say() { echo "== $*"; }

# Namespaces of runs that died without their cleanup (a ctest timeout kills with SIGKILL).
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^moat-net-[0-9]+-[hc]$'); do
  pid=${ns#moat-net-}; pid=${pid%-?}
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "removing $ns, left by run $pid"
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  fi
done

# net_up: the two namespaces and the veth pair between them. Each case gets a new pair, as each
# container an engine starts gets a new namespace: a sandbox that takes the interfaces over
# (gVisor's netstack, ours in `sandbox` mode) removes their addresses from the host kernel and
# does not give them back when it exits.
bg_pids=()
net_up() {
  ip netns add "$hns" || fail "ip netns add $hns (is this a sandbox that forbids network namespaces?)"
  ip netns add "$cns" || fail "ip netns add $cns"
  ip -n "$hns" link add veth-h type veth peer name eth0 netns "$cns" || fail "making the veth pair"
  ip -n "$hns" addr add "$host_ip/24" dev veth-h &&
    ip -n "$hns" link set veth-h up && ip -n "$hns" link set lo up &&
    ip -n "$cns" addr add "$ctr_ip/24" dev eth0 &&
    ip -n "$cns" link set eth0 up && ip -n "$cns" link set lo up &&
    ip -n "$cns" route add default via "$host_ip" || fail "configuring the veth pair"
  say "network: $hns ($host_ip on veth-h) <-> $cns ($ctr_ip on eth0)"
}
# net_down: the host-side servers and the namespaces (the veth pair goes with them).
net_down() {
  local p ns
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
  bg_pids=()
  host_server_started=false
  for ns in "$hns" "$cns"; do
    # Whatever still runs in a namespace of ours was started by this run.
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
}

net_cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    for f in "$work"/*.log; do
      [ -s "$f" ] && { echo "--- $(basename "$f") (last lines):"; tail -n 20 "$f"; }
    done
  fi
  cleanup  # oci_lib.sh's: every container, then the work directory.
  net_down
  exit "$status"
}
trap net_cleanup EXIT
trap 'exit 130' INT TERM HUP

say "runtime $runtime ($kind: $("$runtime" --version 2>&1 | head -1)), case $case_name"

# The files served on both sides: a token (a line compared as text) and 1 MiB of random bytes
# (compared by SHA-256, so that a lost or reordered segment shows).
mkdir -p "$work/www" "$work/www-kernel"
token="moat-net-token-$$-$RANDOM"
echo "$token" > "$work/www/token"
head -c 1048576 /dev/urandom > "$work/www/blob"
blob_sha=$(sha256sum < "$work/www/blob" | cut -c1-64)
echo "kernel-loopback-$$" > "$work/www-kernel/token"

# make_bundle NAME NETNS ARG...: a bundle at $work/NAME running ARG... with the host's /usr; NETNS
# is the path of the network namespace to join, or "new" for a new empty one.
make_bundle() {
  local name=$1 netns=$2 ns b
  shift 2
  if [ "$netns" = new ]; then ns='{"type":"network"}'; else ns="{\"type\":\"network\",\"path\":\"$netns\"}"; fi
  b=$(bundle "$name" "{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"},$ns]},
    \"+mounts\":[{\"destination\":\"/usr\",\"type\":\"bind\",\"source\":\"/usr\",\"options\":[\"rbind\",\"ro\"]}]}") ||
    fail "making bundle $name: $b"
  "$py" - "$b/config.json" "$@" <<'PY' || fail "setting the process of $name"
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = sys.argv[2:]
c["process"]["env"].append("PYTHONDONTWRITEBYTECODE=1")
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
  mkdir -p "$b/rootfs/usr" "$b/rootfs/net" "$b/rootfs/www"
  ln -sfn usr/lib "$b/rootfs/lib"
  ln -sfn usr/lib64 "$b/rootfs/lib64"
  cp "$here/net_probe.py" "$b/rootfs/net/probe.py"
  cp "$work/www/token" "$work/www/blob" "$b/rootfs/www/"
}

# start_container NAME [GLOBAL_FLAG...]: runs bundle NAME detached, its output in $work/NAME.log.
start_container() {
  local name=$1
  shift
  rs "$@" run --detach --bundle "$work/$name" "$(cid "$name")" > "$work/$name.log" 2>&1 < /dev/null ||
    fail "starting container $name: $(tail -n 5 "$work/$name.log")"
}

# run_container NAME [GLOBAL_FLAG...]: runs bundle NAME to its end (at most 180 s), its output in
# $work/NAME.out (printed); returns its exit status.
run_container() {
  local name=$1 status
  shift
  timeout 180 "${rt[@]}" --root "$state" "${rflags[@]}" "$@" run --bundle "$work/$name" "$(cid "$name")" \
    > "$work/$name.out" 2> "$work/$name.log" < /dev/null
  status=$?
  echo "--- container $name (exit $status):"
  cat "$work/$name.out"
  return $status
}

# wait_server NAME SECONDS WHAT CMD...: runs CMD until it succeeds while container NAME runs;
# fails, with CMD's last output, if the container stops or SECONDS pass first.
wait_server() {
  local name=$1 secs=$2 what=$3 deadline=$((SECONDS + $2))
  shift 3
  until "$@" > "$work/wait.out" 2>&1; do
    rs state "$(cid "$name")" 2>/dev/null | grep -q '"status": *"running"' ||
      fail "container $name stopped before $what answered: $(tail -n 5 "$work/$name.log")"
    [ "$SECONDS" -lt "$deadline" ] ||
      fail "$what did not answer within $secs s; the last try said: $(tail -n 3 "$work/wait.out")"
    sleep 0.2
  done
}

# start_host_server: python3's http.server on the host side, $host_ip:8081, serving $work/www.
host_server_started=false
start_host_server() {
  $host_server_started && return
  hx "$py" -m http.server --bind "$host_ip" --directory "$work/www" 8081 > "$work/host-http.log" 2>&1 &
  bg_pids+=($!)
  local deadline=$((SECONDS + 30))
  until hx curl -sf --max-time 2 -o /dev/null "http://$host_ip:8081/token"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the host-side server did not start: $(tail -n 5 "$work/host-http.log")"
    sleep 0.2
  done
  host_server_started=true
  say "host side: python3 -m http.server on $host_ip:8081"
}

# start_kernel_loopback_servers: servers on the host kernel's loopback, which a container whose
# loopback is the sandbox's own must not reach: one in the machine's own network namespace (on a
# port the kernel picks: $kernel_port), one on the same port in the container's namespace. Under
# --network=none, a sandbox that let the application's sockets through to the host kernel would
# reach one of them, whether or not it joined the container's namespace.
kernel_port=
start_kernel_loopback_servers() {
  "$py" -u -m http.server --bind 127.0.0.1 --directory "$work/www-kernel" 0 \
    > "$work/machine-loopback-http.log" 2>&1 &
  bg_pids+=($!)
  local deadline=$((SECONDS + 30))
  until kernel_port=$(sed -n 's/^Serving HTTP on 127.0.0.1 port \([0-9]*\) .*/\1/p' "$work/machine-loopback-http.log") &&
        [ -n "$kernel_port" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the machine's loopback server did not start: $(tail -n 5 "$work/machine-loopback-http.log")"
    sleep 0.2
  done
  ip netns exec "$cns" "$py" -m http.server --bind 127.0.0.1 --directory "$work/www-kernel" "$kernel_port" \
    > "$work/netns-loopback-http.log" 2>&1 &
  bg_pids+=($!)
  until curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$kernel_port/token" &&
        ip netns exec "$cns" curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$kernel_port/token"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the kernel loopback servers did not start: $(tail -n 5 "$work/netns-loopback-http.log")"
    sleep 0.2
  done
  say "the host kernel's loopback: 127.0.0.1:$kernel_port in the machine's namespace and in $cns"
}

# want WHAT GOT WANT
want() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; echo "ok: $1"; }
# field NAME KEY: the rest of the line "KEY: ..." of container NAME's output.
field() { sed -n "s/^$2: //p" "$work/$1.out" | head -1; }

case_http_server() {
  say "http_server: python3 -m http.server in the container on 0.0.0.0:8080; curl from the host side"
  make_bundle http "$cns_path" "$py" -m http.server --bind 0.0.0.0 --directory /www 8080
  local t0=$SECONDS
  start_container http
  wait_server http 120 "the container's http.server" \
    hx curl -sf --max-time 3 -o /dev/null "http://$ctr_ip:8080/token"
  echo "the server answered after $((SECONDS - t0)) s"
  want "curl http://$ctr_ip:8080/token from the host side" \
    "$(hx curl -sS --max-time 20 "http://$ctr_ip:8080/token" 2>&1)" "$token"
  want "sha256 of 1 MiB fetched with curl from the container" \
    "$(hx curl -sS --max-time 60 "http://$ctr_ip:8080/blob" | sha256sum | cut -c1-64)" "$blob_sha"
  local i
  for i in $(seq 1 20); do
    hx curl -sf --max-time 20 -o /dev/null "http://$ctr_ip:8080/token" ||
      fail "request $i of 20 sequential requests to the container's server failed"
  done
  echo "ok: 20 sequential requests, each on a new connection"
  # The container's stack answers ARP and ICMP echo on its address (under ours and gVisor's,
  # the host kernel no longer does): busybox's ping, as Debian's iputils-ping is optional.
  hx ip neigh flush dev veth-h > /dev/null 2>&1
  want "busybox ping -c1 $ctr_ip from the host side (ARP, then an echo reply)" \
    "$(hx busybox ping -c1 -W 5 "$ctr_ip" > "$work/ping.log" 2>&1 && echo answered)" answered
  local mac
  mac=$(hx ip neigh show "$ctr_ip" dev veth-h | grep -o 'lladdr [0-9a-f:]*')
  [ -n "$mac" ] || fail "the host side has no neighbour entry for $ctr_ip after ping: $(hx ip neigh show dev veth-h)"
  echo "ok: the host side resolved $ctr_ip ($mac)"
  # Malformed frames (bad lengths, options, protocols; truncated; broadcast and multicast):
  # the container's stack must neither crash nor wedge.
  hx "$py" "$here/net_garbage.py" veth-h "${mac#lladdr }" "$ctr_ip" "$host_ip" 5000 > "$work/garbage.log" 2>&1 ||
    fail "sending malformed frames: $(tail -n 3 "$work/garbage.log")"
  want "sha256 of 1 MiB fetched after $(cut -d" " -f2 "$work/garbage.log") malformed frames" \
    "$(hx curl -sS --max-time 60 "http://$ctr_ip:8080/blob" | sha256sum | cut -c1-64)" "$blob_sha"
  rs delete --force "$(cid http)" > /dev/null 2>&1
}

case_redis_server() {
  say "redis_server: redis-server in the container on 0.0.0.0:6379; redis-cli and redis-benchmark from the host side"
  make_bundle redis "$cns_path" /usr/bin/redis-server --bind 0.0.0.0 --port 6379 \
    --protected-mode no --save "" --appendonly no --dir /tmp
  local t0=$SECONDS
  start_container redis
  wait_server redis 120 "the container's redis-server" \
    sh -c "ip netns exec $hns redis-cli -h $ctr_ip -p 6379 ping | tee /dev/stderr | grep -qx PONG"
  echo "the server answered after $((SECONDS - t0)) s"
  want "redis-cli ping" "$(hx timeout 30 redis-cli -h "$ctr_ip" ping 2>&1)" "PONG"
  want "redis-cli set" "$(hx timeout 30 redis-cli -h "$ctr_ip" set moat "$token" 2>&1)" "OK"
  want "redis-cli get" "$(hx timeout 30 redis-cli -h "$ctr_ip" get moat 2>&1)" "$token"
  echo "redis-benchmark -q -n 1000 -t ping,set,get (50 parallel connections):"
  hx timeout 120 redis-benchmark -h "$ctr_ip" -q -n 1000 -t ping,set,get > "$work/bench.txt" 2>&1
  local status=$?
  # -q rewrites its progress line with carriage returns: keep each line's final text.
  tr '\r' '\n' < "$work/bench.txt" | grep "requests per second" | tee "$work/bench.lines"
  [ "$status" -eq 0 ] || fail "redis-benchmark exited with status $status: $(tr '\r' '\n' < "$work/bench.txt" | tail -n 3)"
  want "redis-benchmark results (PING_INLINE, PING_MBULK, SET, GET)" \
    "$(grep -c "requests per second" "$work/bench.lines")" 4
  rs delete --force "$(cid redis)" > /dev/null 2>&1
}

case_client() {
  start_host_server
  say "client: curl, busybox wget and python3 in the container fetch from the host side's server"
  # busybox wget's own -T crashes (SIGSEGV) in Debian 12's busybox-static, on the host too:
  # timeout(1) bounds it instead.
  make_bundle client "$cns_path" /bin/sh -c "
    echo \"curl: \$(curl -sS --max-time 30 http://$host_ip:8081/token 2>&1)\"
    echo \"curl blob: \$(curl -sS --max-time 60 http://$host_ip:8081/blob | sha256sum | cut -c1-64)\"
    echo \"wget: \$(timeout 30 busybox wget -q -O - http://$host_ip:8081/token 2>&1)\"
    echo \"python: \$(python3 /net/probe.py get http://$host_ip:8081/token 30)\"
    echo \"closed port: \$(python3 /net/probe.py connect $host_ip 1 30)\""
  run_container client
  want "curl http://$host_ip:8081/token in the container" "$(field client curl)" "$token"
  want "sha256 of 1 MiB fetched with curl by the container" "$(field client "curl blob")" "$blob_sha"
  want "busybox wget in the container" "$(field client wget)" "$token"
  want "python3 urllib in the container" "$(field client python)" "ok $token"
  want "connecting to a closed port on the host side (a RST)" "$(field client "closed port")" "refused"
}

case_none() {
  start_host_server
  local netns=$cns_path how="--network=none, in $cns (whose veth reaches the host side)"
  if [ "$kind" = runc ]; then
    # runc has no --network=none: its equivalent is a new, empty network namespace.
    netns=new
    how="a new empty network namespace (runc's form of --network=none)"
  fi
  start_kernel_loopback_servers
  say "none: $how; the container's own loopback must work, nothing else"
  make_bundle none "$netns" /bin/sh -c "
    python3 -m http.server --bind 127.0.0.1 --directory /www 8083 > /tmp/http.log 2>&1 &
    echo \"own loopback: \$(python3 /net/probe.py wait-get http://127.0.0.1:8083/token 120)\"
    echo \"host side: \$(python3 /net/probe.py connect $host_ip 8081 5)\"
    echo \"host side http: \$(python3 /net/probe.py get http://$host_ip:8081/token 5)\"
    echo \"kernel loopback: \$(python3 /net/probe.py get http://127.0.0.1:$kernel_port/token 5)\"
    if [ -r /proc/net/dev ]; then
      echo \"interfaces: \$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -s ' \n' ' ')\"
    else
      echo 'interfaces: (no /proc/net/dev)'
    fi
    kill \$! 2> /dev/null"
  # The lines say what failed: the container's exit status alone would not.
  run_container none "${none_flags[@]}"
  want "a server on the container's own loopback" "$(field none "own loopback")" "ok $token"
  local got
  got=$(field none "host side")
  case "$got" in
    refused | timeout | unreachable) echo "ok: connecting to the host side's server ($host_ip:8081) failed: $got" ;;
    *) fail "connecting to the host side's server ($host_ip:8081) under --network=none: got '$got', want refused, timeout or unreachable" ;;
  esac
  got=$(field none "host side http")
  case "$got" in
    error*) echo "ok: an HTTP request to the host side failed: $got" ;;
    *) fail "an HTTP request to the host side under --network=none: got '$got', want an error" ;;
  esac
  got=$(field none "kernel loopback")
  case "$got" in
    error*) echo "ok: the host kernel's loopback servers (127.0.0.1:$kernel_port) are not reached: $got" ;;
    *) fail "127.0.0.1:$kernel_port reached a server on the host kernel's loopback: got '$got'" ;;
  esac
  echo "interfaces the container sees (/proc/net/dev; not checked): $(field none interfaces)"
}

cases=("$case_name")
[ "$case_name" = all ] && cases=(http_server redis_server client none)
for c in "${cases[@]}"; do
  t0=$EPOCHREALTIME
  net_up
  "case_$c"
  for id in $(rs list -q 2>/dev/null); do rs delete --force "$id" > /dev/null 2>&1; done
  net_down
  echo "== $c passed in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
done
echo "PASS: ${cases[*]} ($kind)"
