#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang into build-fuzz/ and runs each one for a
# short fixed time from its corpus (the fuzz.* tests; tests/fuzz/CMakeLists.txt). A crash fails
# and prints the path of the input that crashed. MOAT_FUZZ_SECONDS overrides the time per target.
# Usage: tools/fuzz.sh [ctest args...]   (e.g. -R fuzz.gofer)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=()
[ -n "${MOAT_FUZZ_SECONDS:-}" ] && seconds=(-DMOAT_FUZZ_SECONDS="$MOAT_FUZZ_SECONDS")
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOAT_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "${seconds[@]}" >/dev/null
cmake --build build-fuzz -j2
# Verbose: each test prints its few summary lines (inputs run, executions per second).
ctest --test-dir build-fuzz --output-on-failure -V -j2 "$@"
