# The harness shared by the OCI runtime tests (oci_test.sh, oci_config_test.sh), sourced by each
# after it has set $runtime (the runtime binary: runsc, or runc to check an expectation) and
# $here (this directory):
#   . "$here/oci_lib.sh" NAME
# gives a work directory $work (/tmp/NAME.XXXXXX, removed at exit with every container left in
# it), the runtime's state root $state inside it, and:
#   fail MESSAGE...        prints FAIL: MESSAGE and ends the test
#   rs ARGS...             the runtime with --root $state (and --platform=$PLATFORM if set)
#   bundle NAME [PATCH]    makes a busybox bundle at $work/NAME and prints its path
#   cid NAME               a container id for NAME that no other run uses
#   live PID               whether process PID exists and is not a zombie
#   no_leftovers ID        checks that nothing of container ID is left (runsc only)

fail() { echo "FAIL: $*"; exit 1; }

# stat_field PID N: field N of /proc/PID/stat counted from after the command name (1 is field 3,
# the state), empty if the process is gone.
stat_field() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f"$2"; }
# start_time PID: the process's start time (field 22 of /proc/PID/stat), empty if it is gone.
start_time() { stat_field "$1" 20; }
# live PID: the process exists and has not ended. A zombie has ended: its parent, the host's init
# for an orphan, reaps it when it gets to it.
live() { local st; st=$(stat_field "$1" 1); [ -n "$st" ] && [ "$st" != Z ]; }

# Each work directory names its run in $work/owner: "PID START_TIME RUNTIME". A run that ctest
# killed at its timeout (SIGKILL, so no cleanup) leaves its detached containers running, and
# they load the machine for every test after it. Each run first deletes the containers of the
# runs that are gone (the owner's pid is gone or belongs to a newer process) and removes their
# work directories.
sweep_dead_runs() {
  local owner d pid started rt id
  for owner in /tmp/moat-*.??????/owner; do
    [ -f "$owner" ] || continue
    d=${owner%/owner}
    read -r pid started rt < "$owner" || continue
    [ -n "$pid" ] && [ "$(start_time "$pid")" = "$started" ] && continue
    echo "removing $d, left by run $pid (killed before its cleanup)"
    if [ -x "$rt" ]; then
      for id in $("$rt" --root "$d/state" list -q 2>/dev/null); do
        "$rt" --root "$d/state" delete --force "$id" > /dev/null 2>&1
      done
    fi
    rm -rf --one-file-system "$d"
  done
}
sweep_dead_runs

work=$(mktemp -d "/tmp/${1:?oci_lib.sh: a name for the work directory}.XXXXXX")
# Traversable by other users: the containers of the id_mappings case run as mapped users.
chmod 755 "$work"
echo "$$ $(start_time $$) $(command -v "$runtime")" > "$work/owner"
state=$work/state
# The runtime's global flags: $PLATFORM (ptrace or seccomp_trap), when set, picks our platform;
# runc has none.
rflags=()
[ -n "${PLATFORM:-}" ] && [ "$(basename "$runtime")" != runc ] && rflags=(--platform="$PLATFORM")
rs() { "$runtime" --root "$state" "${rflags[@]}" "$@"; }
cleanup() {
  for id in $(rs list -q 2>/dev/null); do rs delete --force "$id" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT

# bundle NAME [JSON_PATCH]: a busybox bundle at $work/NAME (oci_bundle.py: runc's default
# config, running `sh`, merged with the patch).
bundle() { "$here/oci_bundle.py" "$work/$1" "${2:-{\}}" || fail "making bundle $1"; echo "$work/$1"; }

# cid NAME: NAME and this run's pid. A container's cgroup is named after its id whatever the
# state root, the runtime refuses a cgroup that holds processes, and the same case runs on the
# other platform or under runc at the same time (ctest -j).
cid() { echo "$1-$$"; }

# Checks that nothing of container $1 is left: no state directory, no sandbox or gofer process.
no_leftovers() {
  [ ! -e "$state/$1" ] || fail "state directory $state/$1 left behind"
  if pgrep -f -- "boot .*--id $1( |\$)" >/dev/null; then
    pgrep -af -- "boot .*--id $1( |\$)"
    fail "a sandbox process of $1 is left"
  fi
}
