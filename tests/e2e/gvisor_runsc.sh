#!/bin/sh
# Runs gVisor's runsc (Debian's /usr/bin/runsc, or $GVISOR_RUNSC) with its arguments, working
# around gVisor issue 10704 so that its netstack (--network=sandbox) starts on recent kernels.
#
# Debian 12's gVisor (0.0~20221219) refuses to take the interfaces of a network namespace that it
# believes is the machine's root one ("cannot run with network enabled in root network
# namespace"), and it tells them apart by whether /proc/sys/net/core/rmem_default exists; since
# Linux 6.11 or so that file exists in every network namespace. So runsc runs here in a mount
# namespace of its own where an empty tmpfs hides /proc/sys/net: the check then passes for the
# namespace the container joins, and nothing else of the machine changes. (A mount on
# /proc/sys/net/core would not do: that directory is a different one in each network namespace.)
# The sandbox and gofer processes that runsc starts keep that mount namespace; gVisor's sandbox
# does not read the host's /proc/sys/net.
set -e
exec unshare --mount --propagation private sh -c \
  'mount -t tmpfs -o ro,size=4k moat-gvisor-10704 /proc/sys/net && exec "$0" "$@"' \
  "${GVISOR_RUNSC:-/usr/bin/runsc}" "$@"
