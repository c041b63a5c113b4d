#!/usr/bin/env bash
# File-operation costs side by side in one run: natively, under gVisor's runsc (Debian package,
# ptrace platform, `runsc do`) and under ours (`runsc do`), with ratios to native.
# Usage: bench/fs_compare.sh   (run as root from the repository root after a build; installs
# Debian's runsc package if it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/build/bench/fs_bench
ours=$PWD/build/runsc
[ -x "$bin" ] && [ -x "$ours" ] || { echo "build first: tools/build.sh" >&2; exit 1; }
if ! [ -x /usr/bin/runsc ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q runsc >/dev/null
fi

dir=$(mktemp -d /var/tmp/moat-fs-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
head -c 4096 /dev/urandom > "$dir/small"
head -c $((64 << 20)) /dev/urandom > "$dir/big"
export MOAT_BENCH_DIR=$dir

run() { "$@" --benchmark_format=json 2>/dev/null; }
run "$bin" > "$dir/native.json"
run /usr/bin/runsc --platform=ptrace --network=none do -- "$bin" > "$dir/gvisor.json"
run "$ours" do -- "$bin" > "$dir/moat.json"

python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
runs = {k: {b["name"]: b for b in json.load(open(f"{d}/{k}.json"))["benchmarks"]}
        for k in ("native", "gvisor", "moat")}
def value(b):
    # Throughput for the sequential read (MiB/s); time per operation (ns) otherwise.
    if "bytes_per_second" in b:
        return b["bytes_per_second"] / (1 << 20), "MiB/s"
    scale = {"ns": 1, "us": 1e3, "ms": 1e6}[b["time_unit"]]
    return b["real_time"] * scale, "ns/op"
print(f"{'benchmark':<16}{'native':>14}{'gVisor':>14}{'moat':>14}{'gVisor/native':>15}"
      f"{'moat/native':>13}{'moat vs gVisor':>16}")
for full in runs["native"]:
    name = full.split("/")[0]
    n, unit = value(runs["native"][full])
    g, _ = value(runs["gvisor"][full])
    m, _ = value(runs["moat"][full])
    if unit == "MiB/s":
        # Higher is better: ratios are fractions of native throughput.
        print(f"{name:<16}{n:>10.0f} {unit}{g:>8.0f} {unit}{m:>8.0f} {unit}"
              f"{g / n:>14.2f}x{m / n:>12.2f}x{m / g:>15.2f}x")
    else:
        print(f"{name:<16}{n:>10.0f} {unit}{g:>8.0f} {unit}{m:>8.0f} {unit}"
              f"{g / n:>14.1f}x{m / n:>12.1f}x{g / m:>15.2f}x")
print("ratios: time per op vs native (lower is better) and how many times faster moat is than "
      "gVisor; for MiB/s, the fraction of native throughput and moat's throughput over gVisor's")
PY
