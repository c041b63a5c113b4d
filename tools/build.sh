#!/usr/bin/env bash
# Configures and builds Moat into build/ (build/runsc is the binary). Two jobs: the reference
# machine has two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2
