#!/usr/bin/env bash
# Installs what Moat needs to build and test, from Debian's packages only. Safe to run again.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libseccomp-dev nlohmann-json3-dev libabsl-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  liblwip-dev  # the sentry's TCP/IP stack (sentry/socket/netstack)
  busybox-static python3 sqlite3
  libpython3.11-testsuite  # CPython's own tests: tests/e2e/python_suite.sh
  podman conmon containerd runc  # the engines of tests/e2e/engines_test.sh
  iproute2 curl iperf3 redis-server redis-tools  # the network tests and bench/compare
  clang libclang-rt-14-dev  # the libFuzzer targets of tests/fuzz (tools/fuzz.sh): clang and its sanitizer runtimes
  golang-github-containers-common  # podman's default seccomp profile (e2e.oci_config.seccomp_default_profile)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
