#!/usr/bin/env bash
# Container start to exit, side by side in one run: the wall time of `run` for a busybox
# container running /bin/true, under runc, gVisor's runsc (Debian package, ptrace platform) and
# ours, interleaved, 20 runs each (N=... to change); prints the median and spread of each.
# Usage: bench/oci_start.sh   (as root from the repository root after a build; installs
# Debian's runc and runsc packages if they are missing)
set -euo pipefail
cd "$(dirname "$0")/.."
ours=$PWD/build/runsc
[ -x "$ours" ] || { echo "build first: tools/build.sh" >&2; exit 1; }
for pkg in runc runsc; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null
done
n=${N:-20}

dir=$(mktemp -d /var/tmp/moat-oci-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
tests/e2e/oci_bundle.py "$dir/bundle" \
  '{"process":{"args":["/bin/true"]},"linux":{"namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}]}}'

# Each runtime with its own state directory; network namespaces are left out (the host's is
# shared) so that no runtime pays for network setup the others skip.
declare -A cmd=(
  [runc]="runc --root $dir/state-runc run --bundle $dir/bundle"
  [gvisor]="/usr/bin/runsc --root $dir/state-gvisor --platform=ptrace --network=host run --bundle $dir/bundle"
  [moat]="$ours --root $dir/state-moat --network=host run --bundle $dir/bundle"
)
for rt in runc gvisor moat; do
  ${cmd[$rt]} warmup-$rt >/dev/null || { echo "$rt cannot run the container" >&2; exit 1; }
done
for i in $(seq "$n"); do
  for rt in runc gvisor moat; do
    start=$(date +%s%N)
    ${cmd[$rt]} "c$i-$rt" >/dev/null
    echo "$rt $(( ($(date +%s%N) - start) / 1000 ))" >> "$dir/times"
  done
done

python3 - "$dir/times" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    rt, us = line.split()
    times.setdefault(rt, []).append(int(us) / 1000)
med = {rt: statistics.median(v) for rt, v in times.items()}
print(f"runtime start to exit of /bin/true, {len(times['runc'])} runs each, interleaved")
print(f"{'runtime':<10}{'median ms':>11}{'min ms':>9}{'max ms':>9}{'vs runc':>9}{'vs gVisor':>11}")
for rt, label in (("runc", "runc"), ("gvisor", "gVisor"), ("moat", "moat")):
    v = times[rt]
    print(f"{label:<10}{med[rt]:>11.1f}{min(v):>9.1f}{max(v):>9.1f}"
          f"{med[rt] / med['runc']:>8.2f}x{med[rt] / med['gvisor']:>10.2f}x")
PY
