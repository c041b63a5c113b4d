#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: unit tests and the syscall conformance
# suite, each conformance program natively and in the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
ctest --test-dir build --output-on-failure -j2 --timeout 300
