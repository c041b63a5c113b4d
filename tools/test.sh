#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: unit tests and the syscall conformance
# suite, each conformance program natively and in the sandbox; then builds the fuzzers with clang
# and runs each for a short fixed time (tools/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
# The fuzzers run whatever the suite said, and the exit status is the suite's failure first.
status=0
ctest --test-dir build --output-on-failure -j2 --timeout 300 || status=$?
tools/fuzz.sh || { [ "$status" != 0 ] || status=$?; }
# A failed test's output again, last, where a reader of CI's end of log sees it: its last lines
# (ctest's LastTest.log holds the whole of it).
log=build/Testing/Temporary/LastTest.log
if [ -s build/Testing/Temporary/LastTestsFailed.log ] && [ -s "$log" ]; then
  while IFS=: read -r _ name; do
    out=$(awk -v name="$name" '$0 ~ "^[0-9]+/[0-9]+ Testing: " && $3 == name { on = 1; next }
                               on && /^<end of output>$/ { exit }
                               on' "$log")
    # What the test said went wrong first (a shell test's FAIL line, a gtest's Failure), then its end.
    echo "=== failed test $name: $(grep -m3 -E 'FAIL|Failure' <<<"$out" | tr '\n' ' ')"
    echo "=== the end of its output (all of it: $log)"
    tail -n 60 <<<"$out"
  done < build/Testing/Temporary/LastTestsFailed.log
fi
exit "$status"
