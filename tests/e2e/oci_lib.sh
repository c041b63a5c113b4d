# The harness shared by the OCI runtime tests (oci_test.sh, oci_config_test.sh), sourced by each
# after it has set $runtime (the runtime binary: runsc, or runc to check an expectation) and
# $here (this directory):
#   . "$here/oci_lib.sh" NAME
# gives a work directory $work (/tmp/NAME.XXXXXX, removed at exit with every container left in
# it), the runtime's state root $state inside it, and:
#   fail MESSAGE...        prints FAIL: MESSAGE and ends the test
#   rs ARGS...             the runtime with --root $state
#   bundle NAME [PATCH]    makes a busybox bundle at $work/NAME and prints its path
#   no_leftovers ID        checks that nothing of container ID is left (runsc only)

fail() { echo "FAIL: $*"; exit 1; }

work=$(mktemp -d "/tmp/${1:?oci_lib.sh: a name for the work directory}.XXXXXX")
# Traversable by other users: the containers of the id_mappings case run as mapped users.
chmod 755 "$work"
state=$work/state
rs() { "$runtime" --root "$state" "$@"; }
cleanup() {
  for id in $(rs list -q 2>/dev/null); do rs delete --force "$id" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT

# bundle NAME [JSON_PATCH]: a busybox bundle at $work/NAME (oci_bundle.py: runc's default
# config, running `sh`, merged with the patch).
bundle() { "$here/oci_bundle.py" "$work/$1" "${2:-{\}}" || fail "making bundle $1"; echo "$work/$1"; }

# Checks that nothing of container $1 is left: no state directory, no sandbox or gofer process.
no_leftovers() {
  [ ! -e "$state/$1" ] || fail "state directory $state/$1 left behind"
  if pgrep -f -- "boot .*--id $1( |\$)" >/dev/null; then
    pgrep -af -- "boot .*--id $1( |\$)"
    fail "a sandbox process of $1 is left"
  fi
}
