#!/usr/bin/env bash
# Builds runsc, makes a busybox bundle (an OCI bundle: rootfs/ and config.json) and runs a
# container from it in the sandbox. Until the OCI commands land (issue #4) it runs the bundle's
# rootfs with `runsc do`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh

bundle=build/busybox-bundle
rm -rf "$bundle"
mkdir -p "$bundle/rootfs"/{bin,etc,tmp,proc,dev,sys,root}
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in $("$bundle/rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$bundle/rootfs/etc/passwd"
echo 'root:x:0:' > "$bundle/rootfs/etc/group"
echo "moat" > "$bundle/rootfs/etc/hostname"

echo "Running busybox in the sandbox:"
PATH=/bin build/runsc do --root "$bundle/rootfs" --cwd / -- /bin/sh -c '
  echo "hello from $(uname -s) $(uname -r) in the sandbox, pid $$"
  echo "files in /:" $(ls /)
  echo hello | tr a-z A-Z
  echo "scratch" > /tmp/written && cat /tmp/written
'
echo "The bundle's rootfs is unchanged on the host: $(ls "$bundle/rootfs/tmp" | wc -l) files in its /tmp."
