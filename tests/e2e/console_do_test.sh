#!/usr/bin/env bash
# The container's terminal end to end: `runsc do --console-socket` gives the command a terminal
# of the sandbox and sends its master to console_client.py, which plays the engine.
# Usage: console_do_test.sh RUNSC CASE
set -u
runsc=$1
case_name=$2
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

fail() {
  echo "FAIL: $*"
  exit 1
}

# Runs the client with the steps given after the command (separated by --), then the command
# in the sandbox; leaves the output in $out, the statuses in $client_status and $runsc_status.
run() {
  local cmd=()
  while [ "$1" != "--" ]; do cmd+=("$1"); shift; done
  shift
  python3 "$here/console_client.py" --socket "$dir/sock" --ready "$dir/ready" --timeout 30 \
    "$@" >"$dir/out" &
  local client=$!
  for _ in $(seq 500); do [ -e "$dir/ready" ] && break; sleep 0.01; done
  timeout 60 "$runsc" do --console-socket "$dir/sock" -- "${cmd[@]}" </dev/null >"$dir/runsc.out" 2>&1
  runsc_status=$?
  wait $client
  client_status=$?
  out=$(cat "$dir/out")
  echo "runsc: $runsc_status, client: $client_status, output: $(printf %q "$out")"
  cat "$dir/runsc.out"
}

case "$case_name" in
  interactive)
    # Canonical input with the sandbox's echo, the size the engine set, /dev/pts/N as ttyname,
    # the command as its session's leader with the terminal in the foreground.
    run /bin/sh -c 'read line; stty size; tty; echo "got $line"' \
      -- size:40x100 'send:hello\n' 'expect:got hello'
    [ "$runsc_status" = 0 ] || fail "runsc exit $runsc_status"
    [ "$client_status" = 0 ] || fail "client exit $client_status"
    case "$out" in *$'hello\r\n40 100\r\n/dev/pts/'[0-9]*$'\r\ngot hello\r') ;;
      *) fail "unexpected output" ;; esac
    ;;
  sigwinch)
    # A resize by the engine reaches the foreground process group as SIGWINCH.
    run /bin/sh -c 'trap "stty size; exit 0" WINCH; echo ready; while :; do sleep 0.1; done' \
      -- 'expect:ready' 'size:50x120' 'expect:50 120'
    [ "$runsc_status" = 0 ] || fail "runsc exit $runsc_status"
    [ "$client_status" = 0 ] || fail "client exit $client_status"
    ;;
  interrupt)
    # ^C is the sandbox line discipline's: SIGINT to the foreground process group, echoed ^C.
    run /bin/sh -c 'trap "echo INT; exit 3" INT; echo ready; while :; do sleep 0.1; done' \
      -- 'expect:ready' 'send:\x03' 'expect:INT'
    [ "$runsc_status" = 3 ] || fail "runsc exit $runsc_status"
    case "$out" in *'^CINT'*) ;; *) fail "no ^C echo" ;; esac
    ;;
  hangup)
    # Closing the master hangs the session up: its leader gets SIGHUP.
    run /bin/sh -c 'trap "exit 7" HUP; echo ready; while :; do sleep 0.1; done' \
      -- 'expect:ready' close
    [ "$runsc_status" = 7 ] || fail "runsc exit $runsc_status, not the HUP trap's 7"
    ;;
  eof)
    # The command's exit ends the output: the engine reads EIO after the last byte.
    run /bin/sh -c 'echo one; echo two' --
    [ "$runsc_status" = 0 ] || fail "runsc exit $runsc_status"
    [ "$client_status" = 0 ] || fail "client exit $client_status (no end of output?)"
    [ "$out" = $'one\r\ntwo\r' ] || fail "unexpected output"
    ;;
  bulk)
    # More output than either terminal holds, all of it delivered before the end.
    run /bin/sh -c 'seq 1 20000' --
    [ "$runsc_status" = 0 ] || fail "runsc exit $runsc_status"
    [ "$(printf %s "$out" | tr -d '\r' | wc -l)" = 19999 ] || fail "lines missing"
    case "$out" in *$'19999\r\n20000\r') ;; *) fail "the end is missing" ;; esac
    ;;
  eof_char)
    # ^D at the start of a line is end of file for the reader (canonical mode).
    run /bin/cat -- 'send:abc\n' 'expect:abc\r\nabc\r\n' 'send:\x04'
    [ "$runsc_status" = 0 ] || fail "runsc exit $runsc_status"
    [ "$client_status" = 0 ] || fail "client exit $client_status"
    ;;
  *)
    fail "unknown case $case_name"
    ;;
esac
echo PASS
