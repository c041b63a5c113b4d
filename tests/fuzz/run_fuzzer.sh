#!/usr/bin/env bash
# Runs one libFuzzer target for a fixed time, as the fuzz.* tests do (tests/fuzz/CMakeLists.txt).
# Usage: run_fuzzer.sh FUZZER CORPUS_DIR SECONDS
# The corpus in the source tree is only read: libFuzzer first runs every input in it (the seeds
# and the regression inputs of crashes fixed before), then mutates them, and the new inputs it
# keeps go to a temporary directory. A crash, leak, timeout or sanitizer report fails the test;
# the input that caused it is kept in ./artifacts/ (the test's build directory) and its path is
# printed last. The dictionary CORPUS_DIR.dict is used when it exists.
set -uo pipefail
fuzzer=$1 corpus=$2 seconds=$3
name=$(basename "$fuzzer")
artifacts=$PWD/artifacts
mkdir -p "$artifacts"
work=$(mktemp -d "/tmp/moat-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$artifacts/$name-")
[ -f "$corpus.dict" ] && args+=(-dict="$corpus.dict")

before=$(ls "$artifacts" | grep -c "^$name-" || true)
"$fuzzer" "${args[@]}" "$work" "$corpus" > "$work/log" 2>&1
status=$?
# The run's summary: its inputs and speed, and (on failure) the sanitizer's report.
grep -E "^(INFO: seed corpus|#[0-9]+ +(INITED|DONE))|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$work/log"
if [ $status -ne 0 ]; then
  tail -n 80 "$work/log"
  found=$(ls -t "$artifacts" | grep "^$name-" | head -n 1)
  if [ "$(ls "$artifacts" | grep -c "^$name-" || true)" -gt "$before" ] && [ -n "$found" ]; then
    echo "FAIL: $name exited with $status; the crashing input is $artifacts/$found"
  else
    echo "FAIL: $name exited with $status"
  fi
  exit 1
fi
echo "ok: $name ran ${seconds}s"
