#!/usr/bin/env bash
# The sentry's and the gofer's confinement (docs/security.md layers 2 and 3), checked from the
# host on a running container: the sentry's uid, capabilities, no_new_privs, seccomp mode,
# namespaces and empty root, and the gofer's. Usage: confinement_test.sh RUNSC PLATFORM
set -uo pipefail
runtime=${1:?runsc binary}
platform=${2:?platform}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/oci_lib.sh" moat-confine

# field PID NAME: a field of /proc/PID/status.
field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
# children PID: the pids whose parent is PID.
children() { for s in /proc/[0-9]*/stat; do awk -v p="$1" '$4 == p {print $1}' "$s" 2>/dev/null; done; }
# by_comm PID COMM: the descendants of PID named COMM.
by_comm() {
  local p
  for p in $(children "$1"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && echo "$p"
    by_comm "$p" "$2"
  done
}
check() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
differs() { [ "$(readlink "/proc/$2/ns/$3")" != "$(readlink "/proc/self/ns/$3")" ] || fail "$1 is in the host's $3 namespace"; }

b=$(bundle cf '{"process":{"args":["sleep","600"]},"linux":{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}]}}')
# An fd of the caller's (9, a file of its own) that the sandbox must not inherit.
: > "$work/caller-secret"
id=$(cid cf)
rs --platform="$platform" --network=none create --bundle "$b" "$id" 9>>"$work/caller-secret" || fail "create"
rs start "$id" || fail "start"
supervisor=$(rs state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
sentry=$(by_comm "$supervisor" runsc-sentry | head -1)
gofer=$(by_comm "$supervisor" runsc-gofer | head -1)
[ -n "$sentry" ] || fail "no sentry (runsc-sentry) under the sandbox process $supervisor"
[ -n "$gofer" ] || fail "no gofer (runsc-gofer) under the sandbox process $supervisor"
echo "supervisor $supervisor, sentry $sentry, gofer $gofer"

# The sentry: the host's nobody, CAP_SYS_ADMIN (bit 21) of its own user namespace only.
check "sentry uid" "$(field "$sentry" Uid)" 65534
check "sentry gid" "$(field "$sentry" Gid)" 65534
check "sentry CapEff" "$(field "$sentry" CapEff)" 0000000000200000
check "sentry CapBnd" "$(field "$sentry" CapBnd)" 0000000000200000
check "sentry NoNewPrivs" "$(field "$sentry" NoNewPrivs)" 1
check "sentry Seccomp" "$(field "$sentry" Seccomp)" 2
for ns in user pid mnt ipc uts net; do differs sentry "$sentry" "$ns"; done
check "sentry's pid in its namespace" "$(awk '$1 == "NSpid:" {print $NF}' "/proc/$sentry/status")" 1
check "sentry's root" "$(ls -A "/proc/$sentry/root/" | tr '\n' ' ')" ""
check "sentry's mounts" "$(wc -l < "/proc/$sentry/mountinfo")" 1
grep -q " / / ro," "/proc/$sentry/mountinfo" || fail "the sentry's root is not read-only: $(cat "/proc/$sentry/mountinfo")"
# Its threads all have the filter (a thread started before it would not).
for t in /proc/"$sentry"/task/*; do
  check "sentry thread ${t##*/} Seccomp" "$(awk '$1 == "Seccomp:" {print $2}' "$t/status")" 2
done
# The application: no capabilities, under the filters.
app=$(children "$sentry" | head -1)
[ -n "$app" ] || fail "no application process under the sentry"
check "application CapEff" "$(field "$app" CapEff)" 0000000000000000
check "application Seccomp" "$(field "$app" Seccomp)" 2

# The gofer: root, with file capabilities only, in an empty root of its own.
check "gofer uid" "$(field "$gofer" Uid)" 0
# CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID: bits 0 to 4.
check "gofer CapEff" "$(field "$gofer" CapEff)" 000000000000001f
check "gofer CapBnd" "$(field "$gofer" CapBnd)" 000000000000001f
check "gofer NoNewPrivs" "$(field "$gofer" NoNewPrivs)" 1
check "gofer Seccomp" "$(field "$gofer" Seccomp)" 2
for ns in mnt ipc uts net; do differs gofer "$gofer" "$ns"; done
check "gofer's root" "$(ls -A "/proc/$gofer/root/" | tr '\n' ' ')" ""

# Neither holds an fd of the caller's.
for p in "$supervisor" "$sentry" "$gofer"; do
  for fd in /proc/$p/fd/*; do
    [ "$(readlink "$fd")" != "$work/caller-secret" ] || fail "process $p holds the caller's fd ($fd)"
  done
done

# Killing the sentry ends the whole sandbox: its PID namespace goes with it.
kill -9 "$sentry"
for _ in $(seq 100); do live "$app" || live "$gofer" || break; sleep 0.05; done
live "$app" && fail "the application process $app outlived the sentry"
live "$gofer" && fail "the gofer $gofer outlived the sentry"
rs delete --force "$id" || fail "delete"
no_leftovers "$id"
echo ok
