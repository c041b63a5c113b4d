#!/usr/bin/env bash
# Prints the getpid round trip natively and under `runsc do`, and their ratio, from one run.
# Usage: bench/trap_roundtrip.sh [--platform=NAME]   (run from the repository root after a build)
set -euo pipefail
cd "$(dirname "$0")/.."
platform=${1:-"--platform=ptrace"}
bin=build/bench/getpid_bench
runsc=build/runsc
[ -x "$bin" ] && [ -x "$runsc" ] || { echo "build first: tools/build.sh" >&2; exit 1; }

measure() { "$@" --benchmark_format=json 2>/dev/null | python3 -c '
import json, sys
print(json.load(sys.stdin)["benchmarks"][0]["real_time"])'; }

native=$(measure "$bin")
sandboxed=$(measure "$runsc" do "$platform" -- "$PWD/$bin")
python3 - "$native" "$sandboxed" "$platform" <<'PY'
import sys
native, sandboxed, platform = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
print(f"getpid round trip: native {native:.0f} ns, runsc do {platform} {sandboxed:.0f} ns, "
      f"ratio {sandboxed / native:.1f}x")
PY
