#!/usr/bin/env bash
# End-to-end checks of runsc as an OCI runtime: the lifecycle driven by separate runsc processes,
# as an engine drives it, with its failure paths.
# Usage: oci_test.sh RUNSC CASE
set -uo pipefail
runsc=$1
runtime=$runsc
case_name=$2
here=$(cd "$(dirname "$0")" && pwd)

. "$here/oci_lib.sh" moat-oci

status_of() { rs state "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
pid_of() { rs state "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'; }

# Waits up to 10 s for container $1 to reach status $2.
await_status() {
  for _ in $(seq 200); do
    [ "$(status_of "$1")" = "$2" ] && return 0
    sleep 0.05
  done
  fail "container $1 is $(status_of "$1"), not $2"
}

case "$case_name" in
  lifecycle)
    # create leaves the process created but not run; start runs it; state follows; delete
    # cleans up. Each step is a separate runsc process.
    mkdir -p "$work/out"
    b=$(bundle b "{\"process\":{\"args\":[\"sh\",\"-c\",\"touch /out/ran; sleep 1000\"]},
                  \"mounts\":[{\"destination\":\"/out\",\"type\":\"bind\",\"source\":\"$work/out\",\"options\":[\"rbind\",\"rw\"]}]}")
    rs create --bundle "$b" --pid-file "$work/pid" c1 || fail "create"
    [ "$(status_of c1)" = created ] || fail "status after create: $(status_of c1)"
    pid=$(cat "$work/pid")
    [ "$pid" = "$(pid_of c1)" ] || fail "pid file $pid, state pid $(pid_of c1)"
    kill -0 "$pid" || fail "the container's process $pid does not exist after create"
    sleep 0.3
    [ ! -e "$work/out/ran" ] || fail "the container's program ran before start"
    rs start c1 || fail "start"
    for _ in $(seq 100); do [ -e "$work/out/ran" ] && break; sleep 0.05; done
    [ -e "$work/out/ran" ] || fail "the container's program did not run after start"
    [ "$(status_of c1)" = running ] || fail "status after start: $(status_of c1)"
    rs list | grep -q "^c1 .* running " || { rs list; fail "list does not show c1 running"; }
    rs kill c1 KILL || fail "kill"
    await_status c1 stopped
    [ "$(pid_of c1)" = 0 ] || fail "a stopped container reports pid $(pid_of c1)"
    rs delete c1 || fail "delete"
    no_leftovers c1
    rs state c1 2>/dev/null && fail "state of a deleted container succeeded"
    echo ok
    ;;
  run)
    b=$(bundle b '{"process":{"args":["sh","-c","echo hello from $(hostname); exit 7"]}}')
    out=$(rs run --bundle "$b" r1)
    status=$?
    echo "$out"
    [ "$status" = 7 ] || fail "run exited $status, want 7"
    [ "$out" = "hello from moat-test" ] || fail "run printed '$out'"
    no_leftovers r1
    # A container that SIGKILL ends: run exits 128+9. (The container's pid 1 cannot kill itself
    # so, as on Linux: the signal comes from outside.)
    b=$(bundle k '{"process":{"args":["sleep","1000"]}}')
    rs run --bundle "$b" r2 &
    runner=$!
    await_status r2 running
    rs kill r2 KILL || fail "kill"
    wait $runner
    status=$?
    [ "$status" = 137 ] || fail "a container killed by SIGKILL: run exited $status, want 137"
    no_leftovers r2
    ;;
  start_states)
    b=$(bundle b '{"process":{"args":["sleep","1000"]}}')
    rs create --bundle "$b" s1 || fail create
    rs start s1 || fail start
    rs start s1 2>"$work/err" && fail "start of a running container succeeded"
    grep -q running "$work/err" || fail "start error does not say why: $(cat "$work/err")"
    rs kill s1 9
    await_status s1 stopped
    rs start s1 2>/dev/null && fail "start of a stopped container succeeded"
    rs delete s1 || fail delete
    rs start s1 2>"$work/err" && fail "start of a deleted container succeeded"
    grep -q "does not exist" "$work/err" || fail "start error: $(cat "$work/err")"
    echo ok
    ;;
  delete_running)
    b=$(bundle b '{"process":{"args":["sleep","1000"]}}')
    rs run --detach --bundle "$b" d1 || fail "run --detach"
    [ "$(status_of d1)" = running ] || fail "status $(status_of d1)"
    rs delete d1 2>"$work/err" && fail "delete of a running container succeeded"
    grep -q "not stopped" "$work/err" || fail "delete error: $(cat "$work/err")"
    [ "$(status_of d1)" = running ] || fail "a refused delete changed the container"
    rs delete --force d1 || fail "delete --force"
    no_leftovers d1
    rs delete --force never-existed || fail "delete --force of a missing container must succeed"
    rs delete never-existed 2>/dev/null && fail "delete of a missing container succeeded"
    # A created container is deleted without --force.
    rs create --bundle "$b" d2 || fail create
    rs delete d2 || fail "delete of a created container"
    no_leftovers d2
    echo ok
    ;;
  duplicate_id)
    b=$(bundle b '{"process":{"args":["sleep","1000"]}}')
    rs create --bundle "$b" dup || fail create
    pid=$(pid_of dup)
    rs create --bundle "$b" dup 2>"$work/err" && fail "a duplicate id was created"
    grep -q "already exists" "$work/err" || fail "duplicate error: $(cat "$work/err")"
    [ "$(pid_of dup)" = "$pid" ] && [ "$(status_of dup)" = created ] ||
      fail "the failed duplicate create changed the first container"
    rs create --bundle "$b" "bad/id" 2>"$work/err" && fail "an id with a slash was accepted"
    grep -q "invalid container id" "$work/err" || fail "bad id error: $(cat "$work/err")"
    rs delete dup
    no_leftovers dup
    echo ok
    ;;
  bad_config)
    # Each broken config fails with an error that names the problem and leaves nothing.
    check_bad() {  # NAME EXPECTED_MESSAGE_PART
      rs create --bundle "$work/$1" "$1" 2>"$work/err" && fail "$1: create succeeded"
      echo "$1: $(cat "$work/err")"
      grep -qF -- "$2" "$work/err" || fail "$1: the error does not mention '$2'"
      no_leftovers "$1"
    }
    bundle badjson >/dev/null; echo '{"ociVersion": "1.1.0", "process": {' > "$work/badjson/config.json"
    check_bad badjson "parse error"
    bundle wrongtype '{"process":{"args":"sh -c true"}}' >/dev/null
    check_bad wrongtype "process.args"
    bundle noargs '{"process":{"args":[]}}' >/dev/null
    check_bad noargs "process.args"
    bundle norootfs '{"root":{"path":"missing-rootfs"}}' >/dev/null
    check_bad norootfs "missing-rootfs"
    bundle badrlimit '{"process":{"rlimits":[{"type":"RLIMIT_NOFILE","soft":1,"hard":1},{"type":"RLIMIT_FOO","soft":1,"hard":1}]}}' >/dev/null
    check_bad badrlimit 'process.rlimits[1].type'
    bundle noprog '{"process":{"args":["/bin/no-such-program"]}}' >/dev/null
    check_bad noprog "no-such-program"
    mkdir -p "$work/noconfig"
    check_bad noconfig "config.json"
    echo ok
    ;;
  kill)
    b=$(bundle b '{"process":{"args":["sh","-c","trap \"echo got USR1\" USR1; trap \"echo got TERM; exit 3\" TERM; while :; do sleep 0.05; done"]}}')
    rs create --bundle "$b" k1 >"$work/out" 2>&1 || fail create
    rs start k1 || fail start
    sleep 0.3
    rs kill k1 USR1 || fail "kill USR1"
    sleep 0.3
    rs kill k1 SIGTERM || fail "kill SIGTERM"
    await_status k1 stopped
    rs kill k1 KILL 2>"$work/err" && fail "kill of a stopped container succeeded"
    # containerd's shim takes runc's "container not running" for a process that is gone.
    grep -q "container not running" "$work/err" || fail "kill of a stopped container said: $(cat "$work/err")"
    rs kill --all k1 KILL || fail "kill --all of a stopped container failed (runc lets it through)"
    rs kill k1 NOSUCHSIG 2>"$work/err" && fail "an unknown signal was accepted"
    grep -q "unknown signal" "$work/err" || fail "bad signal error: $(cat "$work/err")"
    cat "$work/out"
    grep -q "got USR1" "$work/out" && grep -q "got TERM" "$work/out" || fail "signals did not arrive"
    [ "$(rs wait k1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["exitStatus"])')" = 3 ] ||
      fail "wait does not report exit status 3"
    rs delete k1
    # --all reaches every process, by number too.
    b=$(bundle all '{"process":{"args":["sh","-c","sleep 1000 & sleep 1000 & wait"]}}')
    rs run -d --bundle "$b" k2 || fail run
    sleep 0.3
    [ "$(rs ps --format json k2 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 3 ] ||
      fail "ps does not show 3 processes: $(rs ps --format json k2)"
    rs kill --all k2 9 || fail "kill --all"
    await_status k2 stopped
    rs delete k2
    no_leftovers k2
    # SIGKILL to the init alone ends the container: its children die with its PID namespace.
    rs run -d --bundle "$b" k3 || fail run
    sleep 0.3
    rs kill k3 KILL || fail "kill KILL"
    await_status k3 stopped
    rs delete k3
    no_leftovers k3
    echo ok
    ;;
  exec)
    b=$(bundle b '{"process":{"args":["sleep","1000"],"env":["PATH=/bin","FROM_CONFIG=yes"]}}')
    rs run -d --bundle "$b" e1 || fail run
    out=$(rs exec e1 sh -c 'echo "ppid=$PPID cfg=$FROM_CONFIG pwd=$(pwd)"; exit 5')
    status=$?
    echo "$out"
    [ "$status" = 5 ] || fail "exec exited $status, want 5"
    [ "$out" = "ppid=0 cfg=yes pwd=/" ] || fail "exec printed '$out'"
    out=$(rs exec --cwd /tmp --env X=1 --user 65534:65534 e1 sh -c 'echo $(pwd) $X $(id -u):$(id -g)')
    [ "$out" = "/tmp 1 65534:65534" ] || fail "exec with flags printed '$out'"
    cat > "$work/process.json" <<'JSON'
{"args": ["sh", "-c", "echo from process.json $A"], "env": ["A=a", "PATH=/bin"], "cwd": "/",
 "user": {"uid": 0, "gid": 0}}
JSON
    out=$(rs exec --process "$work/process.json" e1)
    [ "$out" = "from process.json a" ] || fail "exec --process printed '$out'"
    # Detached: the pid file names a process that ends with the exec'd process's status.
    rs exec --detach --pid-file "$work/exec.pid" e1 sh -c 'sleep 0.3; exit 4' || fail "exec -d"
    wpid=$(cat "$work/exec.pid")
    kill -0 "$wpid" || fail "the exec pid $wpid does not exist"
    rs ps --format json e1 | grep -q , || fail "ps does not show the exec'd process"
    for _ in $(seq 100); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$wpid" 2>/dev/null && fail "the exec waiter outlived its process"
    rs exec e1 /no/such/program 2>"$work/err" && fail "exec of a missing program succeeded"
    grep -q "no/such/program" "$work/err" || fail "exec error: $(cat "$work/err")"
    rs kill e1 9; await_status e1 stopped
    rs exec e1 true 2>/dev/null && fail "exec in a stopped container succeeded"
    rs delete e1
    no_leftovers e1
    echo ok
    ;;
  pause)
    mkdir -p "$work/out"
    b=$(bundle b "{\"process\":{\"args\":[\"sh\",\"-c\",\"i=0; while :; do i=\$((i+1)); echo \$i > /out/n.new; mv /out/n.new /out/n; done\"]},
                  \"mounts\":[{\"destination\":\"/out\",\"type\":\"bind\",\"source\":\"$work/out\",\"options\":[\"rbind\",\"rw\"]}]}")
    rs run -d --bundle "$b" p1 || fail run
    sleep 0.5
    rs pause p1 || fail pause
    [ "$(status_of p1)" = paused ] || fail "status after pause: $(status_of p1)"
    sleep 0.2; a=$(cat "$work/out/n"); sleep 0.5; b2=$(cat "$work/out/n")
    [ "$a" = "$b2" ] || fail "the container ran while paused ($a then $b2)"
    rs pause p1 2>/dev/null && fail "pause of a paused container succeeded"
    rs resume p1 || fail resume
    [ "$(status_of p1)" = running ] || fail "status after resume: $(status_of p1)"
    sleep 0.5; c=$(cat "$work/out/n")
    [ "$c" -gt "$b2" ] || fail "the container did not continue after resume ($b2 then $c)"
    rs pause p1 || fail "pause again"
    rs delete --force p1 || fail "delete --force of a paused container"
    no_leftovers p1
    echo ok
    ;;
  ps_events)
    b=$(bundle b '{"process":{"args":["sh","-c","while :; do :; done"]}}')
    rs run -d --bundle "$b" pe || fail run
    sleep 0.5
    pids=$(rs ps --format json pe)
    echo "$pids"
    hostpid=$(echo "$pids" | python3 -c 'import json,sys; p=json.load(sys.stdin); assert len(p)==1; print(p[0])') ||
      fail "ps --format json: $pids"
    grep -q "busybox\|sh" "/proc/$hostpid/cmdline" 2>/dev/null || [ -e "/proc/$hostpid" ] || fail "pid $hostpid is not a host process"
    rs ps pe | tee "$work/ps"
    [ "$(wc -l < "$work/ps")" = 2 ] || fail "ps table has not header + 1 line"
    rs events --stats pe | tee "$work/ev"
    python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); assert e["type"]=="stats" and e["id"]=="pe"; assert e["data"]["cpu"]["usage"]["total"]>0; assert e["data"]["pids"]["current"]>=1' "$work/ev" ||
      fail "events --stats"
    timeout 5 "$runsc" --root "$state" events --interval 200ms pe > "$work/stream"
    [ "$(wc -l < "$work/stream")" -ge 5 ] || fail "events streamed $(wc -l < "$work/stream") lines in 5s"
    rs delete --force pe
    echo ok
    ;;
  concurrency)
    # Commands on one container from many processes at once are serialized: exactly one start
    # wins.
    b=$(bundle b '{"process":{"args":["sleep","1000"]}}')
    rs create --bundle "$b" cc || fail create
    for i in 1 2 3 4 5 6; do (rs start cc 2>/dev/null && echo won >> "$work/wins") & done
    wait
    [ "$(wc -l < "$work/wins")" = 1 ] || fail "$(wc -l < "$work/wins") concurrent starts succeeded"
    for i in 1 2 3 4; do rs state cc >/dev/null & done; wait
    rs delete --force cc
    no_leftovers cc
    echo ok
    ;;
  misc_commands)
    "$runsc" --version | grep -q "runsc version" || fail "--version"
    "$runsc" features | python3 -c 'import json,sys; f=json.load(sys.stdin); assert f["ociVersionMax"]; assert "linux" in f' ||
      fail features
    mkdir -p "$work/spec"
    rs spec --bundle "$work/spec" || fail spec
    python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["process"]["args"]==["sh"]' "$work/spec/config.json" ||
      fail "spec wrote a bad config"
    rs spec --bundle "$work/spec" 2>/dev/null && fail "spec overwrote config.json"
    rs list --format json | python3 -c 'import json,sys; assert json.load(sys.stdin) in (None, [])' ||
      fail "list --format json of nothing"
    # Errors go to --log, in JSON with --log-format json, where engines look for them.
    rs --log "$work/log.json" --log-format json create --bundle "$work/nope" x 2>/dev/null && fail "create of a missing bundle"
    python3 -c 'import json,sys; l=[json.loads(x) for x in open(sys.argv[1])]; assert any(e["level"]=="error" and "nope" in e["msg"] for e in l)' "$work/log.json" ||
      { cat "$work/log.json"; fail "no JSON error in the log"; }
    echo ok
    ;;
  terminal)
    # process.terminal with --console-socket: the engine (console_client.py) gets the master;
    # sizes, resizes and ^C reach the container; exec -t gets a terminal of its own.
    b=$(bundle b '{"process":{"terminal":true,"args":["sh"],"consoleSize":{"height":30,"width":90}}}')
    client() {  # SOCKET OUTPUT STEPS...
      local sock=$1 out=$2; shift 2
      rm -f "$sock.ready"
      timeout 30 python3 "$here/console_client.py" --socket "$sock" --ready "$sock.ready" "$@" > "$out" 2>&1 &
      for _ in $(seq 100); do [ -e "$sock.ready" ] && return 0; sleep 0.05; done
      fail "console_client.py did not start"
    }
    client "$work/c.sock" "$work/out" 'expect:# ' 'send:stty size\n' 'expect:30 90' \
      'size:40x100' 'sleep:0.3' 'send:stty size; tty\n' 'expect:40 100' 'send:sleep 100\n' \
      'sleep:0.3' 'send:\x03' 'expect:# ' 'send:exit 3\n'
    rs create --bundle "$b" --console-socket "$work/c.sock" t1 || fail create
    rs start t1 || fail start
    wait
    cat "$work/out"
    grep -q "^30 90" "$work/out" || fail "consoleSize did not reach the container"
    grep -q "^40 100" "$work/out" || fail "the resize did not reach the container"
    grep -q "^/dev/pts/0" "$work/out" || fail "the terminal is not /dev/pts/0 in the container"
    await_status t1 stopped
    [ "$(rs wait t1)" = '{"id":"t1","exitStatus":3}' ] || fail "wait: $(rs wait t1)"
    rs delete t1
    # A terminal needs somewhere to go.
    rs create --bundle "$b" t2 2>"$work/err" && fail "create of a terminal container without a console socket"
    grep -q "console-socket" "$work/err" || fail "error: $(cat "$work/err")"
    no_leftovers t2
    # exec -t with a console socket, into a container without a terminal.
    b=$(bundle s '{"process":{"args":["sleep","1000"]}}')
    rs run -d --bundle "$b" t3 || fail run
    client "$work/e.sock" "$work/eout" 'expect:# ' 'send:tty; echo $((6*7))\n' 'expect:42' 'send:exit\n'
    rs exec -t --console-socket "$work/e.sock" t3 sh || fail "exec -t"
    wait
    cat "$work/eout"
    grep -q "^/dev/pts/" "$work/eout" || fail "exec -t has no terminal"
    # With a terminal, fds 3 and on are still the caller's (--preserve-fds).
    echo "from a file" > "$work/in"
    client "$work/p.sock" "$work/pout" 'expect:# ' 'send:cat <&3\n' 'expect:from a file' 'send:exit\n'
    rs exec -t --console-socket "$work/p.sock" --preserve-fds 1 t3 sh 3<"$work/in" ||
      fail "exec -t --preserve-fds"
    wait
    cat "$work/pout"
    grep -q "^from a file" "$work/pout" || fail "exec -t --preserve-fds did not pass fd 3"
    rs delete -f t3
    no_leftovers t3
    echo ok
    ;;
  preserve_fds)
    # --preserve-fds: the caller's fds 3 to 3+N-1 become the container's (run, create) or the
    # exec'd process's, a pipe as well as a file; no other fd of the caller's goes in.
    echo "from a file" > "$work/in"
    b=$(bundle b '{"process":{"args":["sh","-c","read a <&3; read b <&4; echo \"got: $a, $b\"; echo written >&5; { echo leaked >&6; } 2>/dev/null || echo no fd 6"]}}')
    out=$(rs run --preserve-fds 3 --bundle "$b" p1 3<"$work/in" 4< <(echo "from a pipe") \
          5>"$work/out" 6>"$work/six")
    status=$?
    echo "$out"
    [ "$status" = 0 ] || fail "run --preserve-fds exited $status"
    [ "$out" = "$(printf 'got: from a file, from a pipe\nno fd 6')" ] || fail "run printed '$out'"
    [ "$(cat "$work/out")" = written ] || fail "fd 5 of the container: '$(cat "$work/out")'"
    [ ! -s "$work/six" ] || fail "fd 6, not passed on, was written"
    no_leftovers p1
    b=$(bundle c '{"process":{"args":["sh","-c","cat <&3 >&4"]}}')
    rs create --preserve-fds 2 --bundle "$b" p2 3<"$work/in" 4>"$work/out2" || fail create
    rs start p2 || fail start
    await_status p2 stopped
    [ "$(cat "$work/out2")" = "from a file" ] || fail "create --preserve-fds: '$(cat "$work/out2")'"
    rs delete p2
    no_leftovers p2
    b=$(bundle e '{"process":{"args":["sleep","1000"]}}')
    rs run -d --bundle "$b" p3 || fail "run -d"
    out=$(rs exec --preserve-fds 1 p3 sh -c 'cat <&3; { echo x >&4; } 2>/dev/null || echo no fd 4' \
          3<"$work/in" 4>"$work/four")
    [ "$out" = "$(printf 'from a file\nno fd 4')" ] || fail "exec --preserve-fds printed '$out'"
    rs exec -d --preserve-fds 1 p3 sh -c 'cat <&3 > /tmp/got' 3<"$work/in" || fail "exec -d --preserve-fds"
    for _ in $(seq 100); do
      [ "$(rs exec p3 cat /tmp/got 2>/dev/null)" = "from a file" ] && break
      sleep 0.05
    done
    [ "$(rs exec p3 cat /tmp/got)" = "from a file" ] || fail "exec -d --preserve-fds did not pass fd 3"
    rs delete -f p3
    no_leftovers p3
    # An fd that is not open is named (runc would pass on whatever it has at that number).
    if [ "$(basename "$runtime")" != runc ]; then
      rs run --preserve-fds 2 --bundle "$b" p4 3<"$work/in" 4>&- 2>"$work/err" &&
        fail "run --preserve-fds 2 with fd 4 closed succeeded"
      grep -q "fd 4 is not open" "$work/err" || fail "error: $(cat "$work/err")"
      no_leftovers p4
      rs run -d --bundle "$b" p5 || fail "run -d"
      rs exec --preserve-fds 1 p5 true 3>&- 2>"$work/err" && fail "exec --preserve-fds 1 with fd 3 closed"
      grep -q "fd 3 is not open" "$work/err" || fail "error: $(cat "$work/err")"
      rs delete -f p5
      no_leftovers p5
    fi
    echo ok
    ;;
  *)
    fail "unknown case $case_name"
    ;;
esac
