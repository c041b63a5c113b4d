#!/usr/bin/env bash
# Every config.json field, observed from inside the container (issue 4 item 6; the OCI
# runtime-tools validation suite is the model). For each field, a container runs with that field
# set; its program prints what it sees, and the case compares that with what Linux shows under
# runc. The expectations are runc's: run a case with runc as RUNTIME to check them against
# Linux (`oci_config_test.sh /usr/sbin/runc mounts`). Where the sandbox legitimately differs,
# the case says why and checks the sandbox's form (`is_runc`).
# Usage: oci_config_test.sh RUNTIME CASE [BUILD_DIR]
# $PLATFORM picks our runtime's platform (oci_lib.sh); the seccomp cases run a probe program
# from BUILD_DIR (default: build/ of this checkout).
set -uo pipefail
runtime=$1
case_name=$2
here=$(cd "$(dirname "$0")" && pwd)
build=${3:-$here/../../build}
# Extra global flags of the runtime for `run` (a case sets them).
run_flags=()
is_runc=false
[ "$(basename "$runtime")" = runc ] && is_runc=true

. "$here/oci_lib.sh" moat-ociconf

# run NAME SCRIPT [JSON_PATCH]: runs `sh -c SCRIPT` in a new container NAME (its bundle made from
# the patch, or already made by `bundle NAME`), with its stdout in $work/NAME.out (and printed);
# returns the container's exit status.
run() {
  local name=$1 script=$2 patch=${3:-}
  if [ -n "$patch" ] || [ ! -e "$work/$name/config.json" ]; then bundle "$name" "${patch:-{\}}" >/dev/null; fi
  python3 - "$work/$name/config.json" "$script" <<'PY' || fail "setting the script of $name"
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sh", "-c", sys.argv[2]]
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
  timeout 60 "$runtime" --root "$state" "${rflags[@]}" "${run_flags[@]}" run --bundle "$work/$name" "$(cid "$name")" > "$work/$name.out" 2> "$work/$name.err" < /dev/null
  local status=$?
  echo "--- $name (exit $status):"; cat "$work/$name.out"
  [ -s "$work/$name.err" ] && { echo "--- $name stderr:"; cat "$work/$name.err"; }
  return $status
}

# check WHAT GOT WANT
check() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
# out NAME: the container's output.
out() { cat "$work/$1.out"; }
# line NAME N: line N of the container's output.
line() { sed -n "${2}p" "$work/$1.out"; }

# mnt FILE DEST: "FSTYPE OPTS" of the mount at DEST in a mountinfo dump, OPTS being the
# per-mount flags the spec sets (ro or rw, then nosuid, nodev, noexec as present), for the
# topmost mount there.
mnt() {
  awk -v d="$2" '
    $5 == d {
      for (i = 7; $i != "-"; i++) {}
      n = split($6, o, ","); f = o[1]
      for (j = 2; j <= n; j++) if (o[j] == "nosuid") f = f ",nosuid"
      for (j = 2; j <= n; j++) if (o[j] == "nodev") f = f ",nodev"
      for (j = 2; j <= n; j++) if (o[j] == "noexec") f = f ",noexec"
      r = $(i + 1) " " f
    }
    END { print r }' "$1"
}
# mnt_id FILE DEST / mnt_parent FILE DEST: the mount's id and its parent's id.
mnt_id() { awk -v d="$2" '$5 == d { r = $1 } END { print r }' "$1"; }
mnt_parent() { awk -v d="$2" '$5 == d { r = $2 } END { print r }' "$1"; }

# seccomp_bundle NAME PROFILE [PATCH]: a bundle NAME whose linux.seccomp is the JSON PROFILE
# (merged with PATCH), with the probe of tests/e2e/seccomp_probe.c as /bin/probe.
seccomp_bundle() {
  local patch
  patch=$(python3 -c 'import json, sys
p = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
p.setdefault("linux", {})["seccomp"] = json.loads(sys.argv[1])
print(json.dumps(p))' "$2" "${3:-{\}}") || fail "the profile of $1 is not JSON"
  bundle "$1" "$patch" >/dev/null
  [ -x "$build/tests/e2e/seccomp_probe" ] || fail "no $build/tests/e2e/seccomp_probe: build it first"
  cp "$build/tests/e2e/seccomp_probe" "$work/$1/rootfs/bin/probe" || fail "copying the probe"
}

# The sandbox's capability names as /proc/self/status masks.
cap() {
  local mask=0 c
  for c in "$@"; do
    case $c in
      CHOWN) mask=$((mask | 1 << 0)) ;; KILL) mask=$((mask | 1 << 5)) ;;
      NET_BIND_SERVICE) mask=$((mask | 1 << 10)) ;; NET_RAW) mask=$((mask | 1 << 13)) ;;
      SYS_ADMIN) mask=$((mask | 1 << 21)) ;; AUDIT_WRITE) mask=$((mask | 1 << 29)) ;;
      *) fail "cap: unknown $c" ;;
    esac
  done
  printf '%016x' "$mask"
}

case "$case_name" in
  mounts)
    # The destination, type and flags of every mount of the config, as mountinfo shows them,
    # and the tree they make (/dev/pts and /dev/shm inside /dev).
    run m 'cat /proc/self/mountinfo' \
      '{"mounts":[{"destination":"/proc","type":"proc","source":"proc"},
        {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
        {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]},
        {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]},
        {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
        {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
        {"destination":"/tmp","type":"tmpfs","source":"tmpfs","options":["nosuid","nodev","mode=1777"]},
        {"destination":"/data/deep","type":"tmpfs","source":"tmpfs","options":["ro","noexec","nosuid","nodev"]},
        {"destination":"/exec","type":"tmpfs","source":"tmpfs","options":["rw","exec","suid","dev"]}]}' ||
      fail "the container failed"
    mi=$work/m.out
    check "/proc" "$(mnt "$mi" /proc)" "proc rw"
    check "/dev" "$(mnt "$mi" /dev)" "tmpfs rw,nosuid"
    check "/dev/pts" "$(mnt "$mi" /dev/pts)" "devpts rw,nosuid,noexec"
    check "/dev/shm" "$(mnt "$mi" /dev/shm)" "tmpfs rw,nosuid,nodev,noexec"
    check "/dev/mqueue" "$(mnt "$mi" /dev/mqueue)" "mqueue rw,nosuid,nodev,noexec"
    check "/sys" "$(mnt "$mi" /sys)" "sysfs ro,nosuid,nodev,noexec"
    check "/tmp" "$(mnt "$mi" /tmp)" "tmpfs rw,nosuid,nodev"
    check "/data/deep (missing in the image: made)" "$(mnt "$mi" /data/deep)" "tmpfs ro,nosuid,nodev,noexec"
    check "/exec" "$(mnt "$mi" /exec)" "tmpfs rw"
    # The root's type is the host's file system under runc, the gofer's (9p) or the in-memory
    # overlay's in the sandbox: only its flags are compared.
    check "/ (root.readonly)" "$(mnt "$mi" / | cut -d' ' -f2)" "ro"
    check "/dev/pts's parent" "$(mnt_parent "$mi" /dev/pts)" "$(mnt_id "$mi" /dev)"
    check "/dev/mqueue's parent" "$(mnt_parent "$mi" /dev/mqueue)" "$(mnt_id "$mi" /dev)"
    check "/proc's parent" "$(mnt_parent "$mi" /proc)" "$(mnt_id "$mi" /)"
    echo ok
    ;;
  hostname)
    run h 'hostname; uname -n; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname' \
      '{"hostname":"box1","domainname":"example.org"}' || fail "the container failed"
    want="box1 box1 box1 example.org "
    # Debian's runc (1.1) predates runtime-spec 1.1's domainname and ignores it.
    if $is_runc && runc --version | grep -q "^runc version 1\.1"; then want="box1 box1 box1 (none) "; fi
    check "hostname, uname -n, kernel.hostname, kernel.domainname" "$(out h | tr '\n' ' ')" "$want"
    # No domainname: Linux's default.
    run h2 'cat /proc/sys/kernel/domainname' '{"hostname":"box2"}' || fail "the container failed"
    check "the default domainname" "$(out h2)" "(none)"
    echo ok
    ;;
  rlimits)
    run r 'grep -e "open files" -e "core file" -e "Max stack" -e "msgqueue" -e "Max nice" /proc/self/limits
           ulimit -n; ulimit -Hn; ulimit -s
           ulimit -n 2048 2>/dev/null && echo raised || echo "not raised"
           ulimit -n 100 && ulimit -n' \
      '{"process":{"rlimits":[{"type":"RLIMIT_NOFILE","soft":512,"hard":1024},
        {"type":"RLIMIT_CORE","soft":0,"hard":18446744073709551615},
        {"type":"RLIMIT_STACK","soft":8388608,"hard":16777216},
        {"type":"RLIMIT_MSGQUEUE","soft":1000,"hard":2000},
        {"type":"RLIMIT_NICE","soft":0,"hard":0}]}}' || fail "the container failed"
    check "/proc/self/limits" "$(out r | head -5 | tr -s ' ')" \
"Max stack size 8388608 16777216 bytes 
Max core file size 0 unlimited bytes 
Max open files 512 1024 files 
Max msgqueue size 1000 2000 bytes 
Max nice priority 0 0 "
    check "ulimit -n, -Hn, -s" "$(out r | sed -n '6,8p' | tr '\n' ' ')" "512 1024 8192 "
    # Without CAP_SYS_RESOURCE (runc's default capabilities) the hard limit holds; lowering is
    # always allowed.
    check "raising past the hard limit" "$(line r 9)" "not raised"
    check "lowering" "$(line r 10)" "100"
    echo ok
    ;;
  capabilities)
    status_caps='grep -e ^CapInh -e ^CapPrm -e ^CapEff -e ^CapBnd -e ^CapAmb /proc/self/status | tr -s "\t" " "'
    # runc's default: ambient capabilities that are not inheritable are not raised (capabilities(7):
    # PR_CAP_AMBIENT_RAISE needs both permitted and inheritable).
    run c1 "$status_caps" || fail "the container failed"
    d=$(cap AUDIT_WRITE KILL NET_BIND_SERVICE)
    check "default capabilities" "$(out c1 | tr '\n' ' ')" \
      "CapInh: 0000000000000000 CapPrm: $d CapEff: $d CapBnd: $d CapAmb: 0000000000000000 "
    caps='"capabilities":{"bounding":["CAP_CHOWN","CAP_KILL","CAP_SYS_ADMIN","CAP_NET_RAW"],
          "effective":["CAP_CHOWN","CAP_KILL"],"permitted":["CAP_CHOWN","CAP_KILL","CAP_SYS_ADMIN"],
          "inheritable":["CAP_KILL","CAP_SYS_ADMIN"],"ambient":["CAP_KILL"]}'
    # Root: the sets are set, then the program is executed; an execve by root makes the
    # permitted and effective sets inheritable | bounding (capabilities(7), "Capabilities and
    # execution of programs by root").
    run c2 "$status_caps" "{\"process\":{\"noNewPrivileges\":false,$caps}}" || fail "the container failed"
    all=$(cap CHOWN KILL SYS_ADMIN NET_RAW)
    check "root's capabilities" "$(out c2 | tr '\n' ' ')" \
      "CapInh: $(cap KILL SYS_ADMIN) CapPrm: $all CapEff: $all CapBnd: $all CapAmb: $(cap KILL) "
    # With no_new_privs, the execve cannot gain what was not permitted.
    run c3 "$status_caps" "{\"process\":{\"noNewPrivileges\":true,$caps}}" || fail "the container failed"
    p=$(cap CHOWN KILL SYS_ADMIN)
    check "root's capabilities with noNewPrivileges" "$(out c3 | tr '\n' ' ')" \
      "CapInh: $(cap KILL SYS_ADMIN) CapPrm: $p CapEff: $p CapBnd: $all CapAmb: $(cap KILL) "
    # Another user: after the execve of a file without capabilities, only the ambient set is
    # permitted and effective.
    run c4 "$status_caps" "{\"process\":{\"user\":{\"uid\":1000,\"gid\":1000},$caps}}" ||
      fail "the container failed"
    check "uid 1000's capabilities" "$(out c4 | tr '\n' ' ')" \
      "CapInh: $(cap KILL SYS_ADMIN) CapPrm: $(cap KILL) CapEff: $(cap KILL) CapBnd: $all CapAmb: $(cap KILL) "
    echo ok
    ;;
  no_new_privileges)
    run n1 'grep NoNewPrivs /proc/self/status' '{"process":{"noNewPrivileges":true}}' || fail "the container failed"
    check "noNewPrivileges true" "$(out n1 | tr -s '\t' ' ')" "NoNewPrivs: 1"
    run n2 'grep NoNewPrivs /proc/self/status' '{"process":{"noNewPrivileges":false}}' || fail "the container failed"
    check "noNewPrivileges false" "$(out n2 | tr -s '\t' ' ')" "NoNewPrivs: 0"
    echo ok
    ;;
  user)
    run u 'id -u; id -g; id -G; umask; cd /dev/shm && touch f && mkdir d && stat -c %a f d; stat -c "%u %g" f' \
      '{"process":{"user":{"uid":1000,"gid":1001,"additionalGids":[5,100],"umask":23}}}' ||
      fail "the container failed"
    check "uid gid groups umask modes owner" "$(out u | tr '\n' ' ')" "1000 1001 1001 5 100 0027 640 750 1000 1001 "
    # Without umask: 0022, as runc leaves it.
    run u2 'umask' '{}' || fail "the container failed"
    check "the default umask" "$(out u2)" "0022"
    echo ok
    ;;
  cwd_env)
    # runc sets HOME (from the image's /etc/passwd, "/" for a user it lacks) when the config
    # does not; a missing cwd is made.
    run e 'pwd; env | grep -v -e ^SHLVL= -e ^PWD= | sort' \
      '{"process":{"cwd":"/etc","env":["PATH=/bin:/sbin","A=1","B=two words"]}}' || fail "the container failed"
    check "cwd and env" "$(out e | tr '\n' '|')" "/etc|A=1|B=two words|HOME=/root|PATH=/bin:/sbin|"
    run e2 'pwd; echo $HOME' \
      '{"process":{"cwd":"/tmp/made/here","env":["PATH=/bin","HOME=/home/x"],"user":{"uid":1000,"gid":1000}}}' ||
      fail "the container failed"
    check "a missing cwd, HOME given" "$(out e2 | tr '\n' '|')" "/tmp/made/here|/home/x|"
    run e3 'echo $HOME' '{"process":{"env":["PATH=/bin"],"user":{"uid":1000,"gid":1000}}}' ||
      fail "the container failed"
    check "HOME of a user the image lacks" "$(out e3)" "/"
    echo ok
    ;;
  oom_score_adj)
    # Set with privilege, so also the least value the process may go back to without
    # CAP_SYS_RESOURCE (which runc's default capabilities lack).
    run o 'cat /proc/self/oom_score_adj; echo 600 > /proc/self/oom_score_adj && cat /proc/self/oom_score_adj
           echo 400 > /proc/self/oom_score_adj; cat /proc/self/oom_score_adj' \
      '{"process":{"oomScoreAdj":500}}' || fail "the container failed"
    want="500 600 600 "
    # runc sets it from a process that must have CAP_SYS_RESOURCE for the floor to be set;
    # where the host withholds that capability from runc (this CI's container does), the
    # floor stays runc's own (0).
    if $is_runc && ! capsh --has-p=cap_sys_resource 2>/dev/null; then want="500 600 400 "; fi
    check "oomScoreAdj" "$(out o | tr '\n' ' ')" "$want"
    echo ok
    ;;
  masked_paths)
    # Paths of the image, so that what is masked does not depend on the host's /proc.
    b=$(bundle mp '{"linux":{"maskedPaths":["/etc/secret","/secretdir","/bin/secretdir","/no/such/path"]}}')
    echo "a secret" > "$b/rootfs/etc/secret"
    mkdir -p "$b/rootfs/secretdir" "$b/rootfs/bin/secretdir"
    echo x > "$b/rootfs/secretdir/file"; echo x > "$b/rootfs/bin/secretdir/file"
    run mp 'for f in /etc/secret; do echo "$f $(wc -c < $f) $(stat -c %F,%t,%T $f)"; done
            for d in /secretdir /bin/secretdir; do echo "$d $(ls -A $d | wc -l) $(stat -c %F $d)"; done
            touch /secretdir/x 2>&1 | grep -o "Read-only file system"
            echo > /etc/secret && echo "wrote to the masked file"' || fail "the container failed"
    check "a masked file reads as /dev/null" "$(line mp 1)" "/etc/secret 0 character special file,1,3"
    check "masked directories are empty" "$(out mp | sed -n '2,3p' | tr '\n' '|')" \
      "/secretdir 0 directory|/bin/secretdir 0 directory|"
    check "a masked directory is read-only" "$(line mp 4)" "Read-only file system"
    check "writing a masked file goes to /dev/null" "$(line mp 5)" "wrote to the masked file"
    [ "$(cat "$b/rootfs/etc/secret")" = "a secret" ] || fail "the masked file changed"
    echo ok
    ;;
  readonly_paths)
    mkdir -p "$work/vol/ro"
    run ro '{ echo x > /proc/sys/kernel/hostname; } 2>&1 | grep -o "Read-only file system"
            touch /vol/ro/x 2>&1 | grep -o "Read-only file system"
            touch /vol/x && echo "rest writable"
            ls /vol/ro >/dev/null && echo "ro readable"' \
      "{\"linux\":{\"readonlyPaths\":[\"/proc/sys\",\"/vol/ro\",\"/no/such/path\"]},
        \"+mounts\":[{\"destination\":\"/vol\",\"type\":\"bind\",\"source\":\"$work/vol\",\"options\":[\"rbind\",\"rw\"]}]}" ||
      fail "the container failed"
    check "readonlyPaths" "$(out ro | tr '\n' '|')" \
      "Read-only file system|Read-only file system|rest writable|ro readable|"
    [ -e "$work/vol/x" ] && [ ! -e "$work/vol/ro/x" ] || fail "the writes reached the wrong places"
    echo ok
    ;;
  root_readonly)
    run rr1 'touch /newfile 2>&1 | grep -o "Read-only file system"; touch /tmp/f && echo "tmp writable"' \
      '{"root":{"path":"rootfs","readonly":true}}' || fail "the container failed"
    check "root.readonly true" "$(out rr1 | tr '\n' '|')" "Read-only file system|tmp writable|"
    run rr2 'touch /newfile && echo written && rm /newfile' '{"root":{"path":"rootfs","readonly":false}}' ||
      fail "the container failed"
    check "root.readonly false" "$(out rr2)" "written"
    echo ok
    ;;
  tmpfs_options)
    # On a destination the image lacks: runc gives a tmpfs mounted over an existing directory
    # that directory's mode, whatever the mode option says (its mountToRootfs).
    run t 'stat -c "%a %u %g" /data; df -k /data | awk "NR==2 {print \$2}"
           stat -c %a /data2; df -k /data2 | awk "NR==2 {print \$2}"
           dd if=/dev/zero of=/data2/f bs=1024 count=1024 2>&1 | grep -o "No space left on device"' \
      '{"+mounts":[{"destination":"/data","type":"tmpfs","source":"tmpfs","options":["size=1m","mode=0710","uid=1000","gid=1001"]},
        {"destination":"/data2","type":"tmpfs","source":"tmpfs","options":["size=512k","mode=1777"]}]}' ||
      fail "the container failed"
    check "tmpfs mode uid gid" "$(line t 1)" "710 1000 1001"
    check "tmpfs size (KiB)" "$(line t 2)" "1024"
    check "mode=1777" "$(line t 3)" "1777"
    check "size=512k" "$(line t 4)" "512"
    check "writing past the size" "$(line t 5)" "No space left on device"
    echo ok
    ;;
  bind_mounts)
    mkdir -p "$work/rw" "$work/ro"
    echo hello > "$work/rw/hello"; echo hello > "$work/ro/hello"
    echo "10.1.2.3 bound" > "$work/hosts"
    run bm 'cat /rw/hello; echo new > /rw/new
            cat /ro/hello; echo x 2>&1 > /ro/x | grep -o "Read-only file system"
            cat /etc/hosts; echo y 2>&1 >> /etc/hosts | grep -o "Read-only file system"
            cat /proc/self/mountinfo > /rw/mountinfo' \
      "{\"+mounts\":[{\"destination\":\"/rw\",\"type\":\"bind\",\"source\":\"$work/rw\",\"options\":[\"rbind\",\"rw\"]},
        {\"destination\":\"/ro\",\"type\":\"none\",\"source\":\"$work/ro\",\"options\":[\"bind\",\"ro\",\"nosuid\"]},
        {\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"$work/hosts\",\"options\":[\"rbind\",\"ro\"]}]}" ||
      fail "the container failed"
    check "bind mounts" "$(out bm | tr '\n' '|')" \
      "hello|hello|Read-only file system|10.1.2.3 bound|Read-only file system|"
    check "a write through the rw bind mount" "$(cat "$work/rw/new")" "new"
    [ ! -e "$work/ro/x" ] || fail "a write went through the ro bind mount"
    check "the bound file" "$(cat "$work/hosts")" "10.1.2.3 bound"
    # The mount flags; the type is the host file system's under runc, the gofer's (9p) in the
    # sandbox.
    check "/ro flags" "$(mnt "$work/rw/mountinfo" /ro | cut -d' ' -f2)" "ro,nosuid"
    check "/rw flags" "$(mnt "$work/rw/mountinfo" /rw | cut -d' ' -f2)" "rw"
    check "/etc/hosts flags" "$(mnt "$work/rw/mountinfo" /etc/hosts | cut -d' ' -f2)" "ro"
    echo ok
    ;;
  special_mounts)
    # proc, sysfs, devpts and mqueue are there with their types, and work; so is the
    # container's cgroup.
    run sm 'cat /proc/self/mountinfo > /dev/shm/mi
            for d in /proc /sys /dev/pts /dev/mqueue /sys/fs/cgroup; do awk -v d=$d "\$5 == d {print d}" /dev/shm/mi | head -1; done
            cat /proc/self/comm; [ -d /sys/kernel ] && echo sysfs; [ -c /dev/pts/ptmx ] && echo devpts
            cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max' \
      '{"mounts":[{"destination":"/proc","type":"proc","source":"proc"},
        {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
        {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]},
        {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]},
        {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
        {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
        {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]}],
        "linux":{"resources":{"pids":{"limit":77}}}}' || fail "the container failed"
    check "the special mounts" "$(out sm | tr '\n' ' ')" "/proc /sys /dev/pts /dev/mqueue /sys/fs/cgroup cat sysfs devpts 77 "
    echo ok
    ;;
  sysctl)
    # Namespaced keys (runc's rule: kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, net.* with
    # a network namespace) read back as written, in the kernel's format.
    run s 'for k in kernel/shmmax kernel/shmmni kernel/msgmax kernel/sem net/ipv4/ping_group_range net/core/somaxconn fs/mqueue/msg_max; do
             echo "$k=$(cat /proc/sys/$k)"; done' \
      '{"linux":{"sysctl":{"kernel.shmmax":"65536","kernel.shmmni":"100","kernel.msgmax":"4096",
        "kernel.sem":"250 32000 32 128","net.ipv4.ping_group_range":"0 2147483647",
        "net.core.somaxconn":"256","fs.mqueue.msg_max":"20"}}}' || fail "the container failed"
    tab=$(printf '\t')
    check "sysctl values" "$(out s | tr '\n' '|')" \
      "kernel/shmmax=65536|kernel/shmmni=100|kernel/msgmax=4096|kernel/sem=250${tab}32000${tab}32${tab}128|net/ipv4/ping_group_range=0${tab}2147483647|net/core/somaxconn=256|fs/mqueue/msg_max=20|"
    # A key that is not namespaced would change the host under runc: refused.
    b=$(bundle s2 '{"linux":{"sysctl":{"vm.swappiness":"10"}}}')
    rs create --bundle "$b" s2 2> "$work/err" && fail "a sysctl outside the container's namespaces was accepted"
    cat "$work/err"
    grep -q "vm.swappiness" "$work/err" || fail "the error does not name the key"
    rs state s2 >/dev/null 2>&1 && fail "the refused container exists"
    echo ok
    ;;
  id_mappings)
    # A user namespace: container ids 0..65535 are host ids 100000..165535. /proc/self/uid_map
    # says so, files show their owners mapped (unmapped ones as the overflow id 65534), and a
    # file the container makes on a bind mount belongs to the mapped host id.
    b=$(bundle um '{"process":{"capabilities":{"bounding":["CAP_CHOWN"],"effective":["CAP_CHOWN"],"permitted":["CAP_CHOWN"]}},
                    "linux":{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"user"}],
                    "uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],
                    "gidMappings":[{"containerID":0,"hostID":200000,"size":65536}]}}')
    touch "$b/rootfs/etc/mapped" && chown 100005:200007 "$b/rootfs/etc/mapped"
    mkdir -p "$b/rootfs/shared"
    mkdir -p "$work/shared" && chown 100000:200000 "$work/shared"
    python3 - "$b/config.json" "$work/shared" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["mounts"].append({"destination": "/shared", "type": "bind", "source": sys.argv[2], "options": ["rbind", "rw"]})
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
    run um 'cat /proc/self/uid_map /proc/self/gid_map | tr -s " "; id -u; stat -c "%u %g" /etc/mapped /bin/busybox /shared
            touch /shared/made && chown 3:4 /shared/made && mkdir /shared/dir && stat -c "%u %g" /shared/made /shared/dir' ||
      fail "the container failed"
    check "uid_map gid_map" "$(out um | head -2)" " 0 100000 65536
 0 200000 65536"
    check "owners seen inside" "$(out um | sed -n '3,6p' | tr '\n' '|')" "0|5 7|65534 65534|0 0|"
    check "owners made inside, seen inside" "$(out um | sed -n '7,8p' | tr '\n' '|')" "3 4|0 0|"
    check "owners made inside, seen on the host" "$(stat -c '%u %g' "$work/shared/made" "$work/shared/dir" | tr '\n' '|')" \
      "100003 200004|100000 200000|"
    echo ok
    ;;
  namespaces)
    # pid: the container's program is its pid 1 and sees only its own processes; uts: its own
    # host name; mount: its mounts are not the host's; ipc: its own SysV objects.
    run ns 'echo $$; hostname; set -- /proc/[0-9]*; echo $#; grep -c " /proc " /proc/self/mountinfo' \
      '{"hostname":"nsbox"}' || fail "the container failed"
    check "pid 1, hostname, process count, proc mounts" "$(out ns | tr '\n' ' ')" "1 nsbox 1 1 "
    # Without a pid namespace, runc's container shares the host's pids. The sandbox's processes
    # are always in the sentry's own pid table (that is the sandbox): pid 1 still.
    run ns2 'echo $$' '{"linux":{"namespaces":[{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}]}}' ||
      fail "the container failed"
    if $is_runc; then
      [ "$(out ns2)" != 1 ] || fail "runc without a pid namespace: pid 1"
    else
      check "the sandbox without a pid namespace" "$(out ns2)" "1"
    fi
    echo ok
    ;;
  pids_limit)
    # linux.resources.pids.limit: forking past it fails with EAGAIN.
    # The forks are made by an inner shell, which exits (status 2) when one fails; the outer
    # one counts the processes with no fork of its own (a glob).
    run pl 'sh -c "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done" 2> /dev/shm/err; echo "exit $?"
            read -r e < /dev/shm/err; echo "$e"; set -- /proc/[0-9]*; echo "$# processes"' \
      '{"linux":{"resources":{"pids":{"limit":8}}}}' || fail "the container failed"
    # The outer sh, the inner sh and 6 sleeps fill the 8; the inner sh is gone.
    check "forking past the limit" "$(out pl | tr '\n' '|')" \
      "exit 2|sh: can't fork: Resource temporarily unavailable|7 processes|"
    # Outside, `events` reports the container's limit.
    b=$(bundle pl2 '{"process":{"args":["sleep","100"]},"linux":{"resources":{"pids":{"limit":8}}}}')
    rs run -d --bundle "$b" pl2 || fail "run -d"
    check "events' pids limit" "$(rs events --stats pl2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["pids"]["limit"])')" "8"
    rs delete -f pl2
    echo ok
    ;;
  memory_limit)
    # linux.resources.memory.limit: a process that allocates past it is killed (SIGKILL by the
    # OOM killer); the container goes on.
    run ml 'sh -c "x=\$(head -c 200000000 /dev/zero | tr \"\\\\0\" a); echo survived"; echo "status $?"
            sh -c "x=\$(head -c 1000000 /dev/zero | tr \"\\\\0\" a); echo small survived"' \
      '{"linux":{"resources":{"memory":{"limit":67108864,"swap":67108864}}}}' || fail "the container failed"
    check "allocating past memory.limit" "$(out ml | tr '\n' '|')" "status 137|small survived|"
    echo ok
    ;;
  annotations)
    b=$(bundle an '{"annotations":{"com.example.a":"1","org.example/b":"two words"}}')
    rs create --bundle "$b" an || fail create
    rs state an | python3 -c 'import json,sys; a=json.load(sys.stdin)["annotations"]; assert a == {"com.example.a": "1", "org.example/b": "two words"}, a' ||
      fail "state does not show the annotations"
    rs delete an
    echo ok
    ;;
  hooks)
    # Every kind, in the lifecycle's order, each with the state on its stdin. runc runs the
    # startContainer hook inside the container (path resolved there): the log directory is
    # bound at the same path inside, so that the same hook works both ways.
    mkdir -p "$work/hooks"
    hook() { echo "{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"echo \\\"$1 \$(cat)\\\" >> $work/hooks/log\"]}"; }
    b=$(bundle hk "{\"process\":{\"args\":[\"sh\",\"-c\",\"echo started >> $work/hooks/log\"]},
      \"+mounts\":[{\"destination\":\"$work/hooks\",\"type\":\"bind\",\"source\":\"$work/hooks\",\"options\":[\"rbind\",\"rw\"]}],
      \"hooks\":{\"prestart\":[$(hook prestart)],\"createRuntime\":[$(hook createRuntime)],
                 \"createContainer\":[$(hook createContainer)],\"startContainer\":[$(hook startContainer)],
                 \"poststart\":[$(hook poststart)],\"poststop\":[$(hook poststop)]}}")
    rs create --bundle "$b" hk || fail create
    rs start hk || fail start
    for _ in $(seq 100); do [ "$(rs state hk | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = stopped ] && break; sleep 0.05; done
    rs delete hk || fail delete
    cat "$work/hooks/log"
    python3 - "$work/hooks/log" "$is_runc" <<'PY' || fail "the hooks ran wrong"
import json, sys
is_runc = sys.argv[2] == "true"
lines = [l.rstrip("\n") for l in open(sys.argv[1])]
kinds = [l.split(" ", 1)[0] for l in lines]
assert kinds[:3] == ["prestart", "createRuntime", "createContainer"], kinds
assert kinds[-1] == "poststop", kinds
assert kinds.index("startContainer") < kinds.index("started"), kinds
# runc runs poststart from `runc start` while its init runs startContainer: either may be first.
# The sandbox runs startContainer, then the program, then poststart.
if not is_runc:
    assert kinds.index("startContainer") < kinds.index("poststart"), kinds
states = {l.split(" ", 1)[0]: json.loads(l.split(" ", 1)[1]) for l in lines if l != "started"}
want = {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
        "startContainer": "created", "poststart": "running", "poststop": "stopped"}
if is_runc:
    want["poststart"] = "created"  # runc 1.1 reports the state it read before starting
for kind, status in want.items():
    s = states[kind]
    assert s["status"] == status, (kind, s)
    assert s["id"] == "hk" and s["bundle"].endswith("/hk"), (kind, s)
# The container's pid, as the host sees it (runc's createContainer and startContainer hooks run
# inside the container's pid namespace and see 1 there; the sandbox runs them on the host).
kinds_with_pid = ["prestart", "createRuntime", "poststart"]
if not is_runc:
    kinds_with_pid += ["createContainer", "startContainer"]
pids = {states[k]["pid"] for k in kinds_with_pid}
assert len(pids) == 1 and pids.pop() > 1, states
assert states["poststop"].get("pid", 0) == 0, states["poststop"]
PY
    # A failing prestart hook fails create and leaves nothing.
    b=$(bundle hf '{"hooks":{"prestart":[{"path":"/bin/false"}]}}')
    rs create --bundle "$b" hf 2> "$work/err" && fail "create with a failing prestart hook succeeded"
    cat "$work/err"
    rs state hf >/dev/null 2>&1 && fail "the failed container exists"
    [ -z "$(rs list -q)" ] || fail "list shows $(rs list -q)"
    echo ok
    ;;
  seccomp)
    # linux.seccomp: mkdir fails with EPERM (SCMP_ACT_ERRNO's default errno), chmod with the
    # errnoRet given; SCMP_ACT_TRACE with no tracer is ENOSYS, as in Linux; the rest is allowed.
    seccomp_bundle sc '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
        "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"},
                    {"names":["chmod","fchmodat"],"action":"SCMP_ACT_ERRNO","errnoRet":19},
                    {"names":["getpriority"],"action":"SCMP_ACT_TRACE","errnoRet":5}]}'
    run sc 'mkdir /tmp/d 2>&1 | grep -o "Operation not permitted"; touch /tmp/f; chmod 600 /tmp/f 2>&1 | grep -o "No such device"; probe getpriority getpid; echo done' ||
      fail "the container failed"
    check "seccomp" "$(out sc | tr '\n' '|')" "Operation not permitted|No such device|getpriority=ENOSYS|getpid=ok|done|"
    echo ok
    ;;
  seccomp_kill)
    # SCMP_ACT_KILL (runc's name for SCMP_ACT_KILL_THREAD) and SCMP_ACT_KILL_THREAD end the
    # calling thread, SCMP_ACT_KILL_PROCESS its whole process, with SIGSYS: a process whose only
    # thread is killed dies of SIGSYS (a shell sees 128 + 31), one with another thread goes on.
    # The profile names syscalls that busybox's sh never makes.
    seccomp_bundle sk '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["add_key"],"action":"SCMP_ACT_KILL"},
        {"names":["request_key"],"action":"SCMP_ACT_KILL_THREAD"},
        {"names":["keyctl"],"action":"SCMP_ACT_KILL_PROCESS"}]}'
    run sk 'for c in add_key request_key keyctl; do probe getpid $c getpid; echo "$c: $?"; done
            for c in add_key request_key keyctl; do probe thread $c getpid; echo "thread $c: $?"; done' ||
      fail "the container failed"
    check "kills" "$(out sk | tr '\n' '|')" \
      "getpid=ok|add_key: 159|getpid=ok|request_key: 159|getpid=ok|keyctl: 159|getpid=ok|alive|thread add_key: 0|getpid=ok|alive|thread request_key: 0|thread keyctl: 159|"
    # A process whose first thread was killed, and whose other thread then leaves with exit(2),
    # ends with that thread's status (Linux 6.x), not the killed one's.
    run sk 'probe leader request_key; echo "leader: $?"' || fail "the container failed"
    check "leader killed" "$(out sk | tr '\n' '|')" "thread exits|leader: 5|"
    # The container's own process killed: runtime run exits as a shell would show it.
    run sk 'probe keyctl'
    check "the container's status" "$?" 159
    echo ok
    ;;
  seccomp_trap)
    # SCMP_ACT_TRAP: the syscall does not run and the thread gets SIGSYS with si_code SYS_SECCOMP
    # (1), si_syscall, si_arch (AUDIT_ARCH_X86_64) and si_errno (the action's data, 0 from runc),
    # and si_call_addr the address after the syscall instruction; rax holds the syscall number
    # when the handler returns. Without a handler, SIGSYS kills the process.
    seccomp_bundle st '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getpriority"],"action":"SCMP_ACT_TRAP"}]}'
    # A blocked or ignored SIGSYS does not save the process: the kernel forces the signal.
    run st 'probe trap getpriority getpid; echo "handled: $?"; probe getpriority; echo "unhandled: $?"
            probe blocked getpriority; echo "blocked: $?"; probe ignored getpriority; echo "ignored: $?"' ||
      fail "the container failed"
    check "trap" "$(out st | tr '\n' '|')" \
      "getpriority=SIGSYS code=1 syscall=140 arch=c000003e errno=0 addr=ok ret=nr|getpid=ok|handled: 0|unhandled: 159|blocked: 159|ignored: 159|"
    echo ok
    ;;
  seccomp_log)
    # SCMP_ACT_LOG runs the syscall. Linux writes an audit record; the sandbox, which has no audit
    # log of its own, writes the record to the runtime's log (--log, which engines always give):
    # docs/oci-config.md.
    seccomp_bundle sl '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getpriority"],"action":"SCMP_ACT_LOG"}]}'
    run_flags=(--log "$work/runtime.log")
    run sl 'probe getpriority:0:0; echo "status $?"' || fail "the container failed"
    check "log" "$(out sl | tr '\n' '|')" "getpriority=ok|status 0|"
    if ! $is_runc; then
      grep -E 'seccomp: pid=.* syscall=140 \(getpriority\) .*code=0x7ffc0000' "$work/runtime.log" ||
        fail "no record of the logged syscall in the runtime's log: $(grep seccomp "$work/runtime.log")"
    fi
    echo ok
    ;;
  seccomp_args)
    # Argument conditions: 64-bit comparisons (SCMP_CMP_GE with a value past 32 bits),
    # SCMP_CMP_MASKED_EQ, conditions on two arguments (both must hold) and, as runc makes them,
    # several on the same argument (any may hold).
    seccomp_bundle sa '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getpriority"],"action":"SCMP_ACT_ERRNO","errnoRet":33,
         "args":[{"index":1,"value":1000,"op":"SCMP_CMP_GE"}]},
        {"names":["umask"],"action":"SCMP_ACT_ERRNO","errnoRet":33,
         "args":[{"index":0,"value":448,"valueTwo":448,"op":"SCMP_CMP_MASKED_EQ"}]},
        {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":33,
         "args":[{"index":0,"value":16,"op":"SCMP_CMP_EQ"},{"index":0,"value":17,"op":"SCMP_CMP_EQ"}]},
        {"names":["setpriority"],"action":"SCMP_ACT_ERRNO","errnoRet":33,
         "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":2,"value":5,"op":"SCMP_CMP_EQ"}]},
        {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":33,
         "args":[{"index":0,"value":4294967295,"op":"SCMP_CMP_NE"}]}]}'
    run sa 'probe getpriority:0:0 getpriority:0:999 getpriority:0:1000 getpriority:0:0x100000000 \
              umask:0700 umask:022 umask:0600 socket:16:3:0 socket:17:3:0 socket:1:1:0 \
              setpriority:1:0:5 setpriority:0:0:5 setpriority:1:0:6 personality:0xffffffff personality:0' ||
      fail "the container failed"
    check "conditions" "$(out sa | tr '\n' ' ')" \
      "getpriority=ok getpriority=ESRCH getpriority=EDOM getpriority=EDOM umask=EDOM umask=ok umask=ok socket=EDOM socket=EDOM socket=ok setpriority=EDOM setpriority=ok setpriority=ok personality=ok personality=EDOM "
    echo ok
    ;;
  seccomp_exec)
    # A process started by exec in a running container is under the container's profile too.
    seccomp_bundle se '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getpriority"],"action":"SCMP_ACT_ERRNO","errnoRet":33},
        {"names":["keyctl"],"action":"SCMP_ACT_KILL_PROCESS"}]}' '{"process":{"args":["sleep","1000"]}}'
    id=$(cid se)
    rs run -d --bundle "$work/se" "$id" > /dev/null < /dev/null || fail "run -d"
    check "exec" "$(rs exec "$id" probe getpriority getpid)" "getpriority=EDOM
getpid=ok"
    rs exec "$id" probe keyctl
    check "exec killed" "$?" 159
    rs exec "$id" sh -c 'probe keyctl; echo "in sh: $?"; probe getpriority'
    check "exec'd shell" "$(rs exec "$id" sh -c 'probe keyctl; echo "in sh: $?"; probe getpriority')" "in sh: 159
getpriority=EDOM"
    rs kill "$id" 9
    echo ok
    ;;
  seccomp_default_profile)
    # The default profile podman sends (containers-common's seccomp.json, put in OCI form as
    # podman does for x86-64 and its default capabilities): busybox works as usual, and what
    # the profile forbids fails with its errno: ENOSYS (its defaultErrnoRet) for what it does not
    # list, EPERM for what it refuses, EINVAL for an audit netlink socket without
    # CAP_AUDIT_WRITE, and personality only with the personas it lists.
    profile=/usr/share/containers/seccomp.json
    [ -f "$profile" ] || fail "no $profile (Debian's golang-github-containers-common; tools/install-deps.sh)"
    caps='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_NET_BIND_SERVICE","CAP_SETFCAP","CAP_SETGID","CAP_SETPCAP","CAP_SETUID","CAP_SYS_CHROOT"]'
    oci=$(python3 - "$profile" "$caps" <<'PY'
import json, sys
src = json.load(open(sys.argv[1]))
caps = set(json.loads(sys.argv[2]))
rules = []
for r in src["syscalls"]:
    inc, exc = r.get("includes") or {}, r.get("excludes") or {}
    if inc.get("arches") and not {"amd64", "x86", "x32"} & set(inc["arches"]): continue
    if exc.get("arches") and {"amd64"} & set(exc["arches"]): continue
    if inc.get("caps") and not set(inc["caps"]) <= caps: continue
    if exc.get("caps") and set(exc["caps"]) & caps: continue
    if inc.get("minKernel") or exc.get("minKernel"): pass
    rule = {"names": r["names"], "action": r["action"]}
    if "errnoRet" in r: rule["errnoRet"] = r["errnoRet"]
    if r.get("args"): rule["args"] = r["args"]
    rules.append(rule)
out = {"defaultAction": src["defaultAction"], "syscalls": rules,
       "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]}
if "defaultErrnoRet" in src: out["defaultErrnoRet"] = src["defaultErrnoRet"]
print(json.dumps(out))
PY
) || fail "converting $profile"
    seccomp_bundle sd "$oci" "{\"process\":{\"capabilities\":{\"bounding\":$caps,\"effective\":$caps,\"permitted\":$caps}}}"
    run sd 'echo hello | tr a-z A-Z; cd /tmp && echo data > f && cat f && rm f && cd /
            seq 3 | sort -r | tr "\n" " "; echo; sleep 0.1 && echo slept; id -u; head -c 4 /dev/urandom | wc -c
            ls /bin/busybox; ps -o comm | grep -c "^ps"; sh -c "exit 7"; echo "sh: $?"
            probe getpid add_key kexec_load bpf swapon userfaultfd io_uring_setup socket:16:3:9 \
                  personality:1 personality:0xffffffff' ||
      fail "the container failed"
    check "busybox" "$(out sd | head -n 10 | tr '\n' '|')" "HELLO|data|3 2 1 |slept|0|4|/bin/busybox|1|sh: 7|getpid=ok|"
    check "forbidden" "$(out sd | tail -n +11 | tr '\n' ' ')" \
      "add_key=ENOSYS kexec_load=EPERM bpf=EPERM swapon=EPERM userfaultfd=EPERM io_uring_setup=ENOSYS socket=EINVAL personality=ENOSYS personality=ok "
    echo ok
    ;;
  *)
    fail "unknown case $case_name"
    ;;
esac
