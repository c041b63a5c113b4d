#!/usr/bin/env bash
# Builds runsc, makes a busybox bundle (an OCI bundle: rootfs/ and config.json) and runs a
# container from it in the sandbox with `runsc run`, as an engine would.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh

bundle=build/busybox-bundle
rm -rf "$bundle"
tests/e2e/oci_bundle.py "$bundle" '{
  "hostname": "moat",
  "root": {"path": "rootfs", "readonly": false},
  "process": {"args": ["/bin/sh", "-c",
    "echo \"hello from $(uname -s) $(uname -r) in the sandbox, pid $$, host name $(hostname)\"; echo files in /: $(ls /); echo hello | tr a-z A-Z; echo scratch > /root/written && cat /root/written"]}
}'

echo "Running busybox in the sandbox with runsc run:"
build/runsc --root build/demo-state delete --force demo >/dev/null 2>&1 || true
build/runsc --root build/demo-state run --bundle "$bundle" demo
echo "The bundle's rootfs is unchanged on the host: $(ls "$bundle/rootfs/root" | wc -l) files in its /root."
