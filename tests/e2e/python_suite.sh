#!/usr/bin/env bash
# Runs CPython's own file-system tests (Debian's libpython3.11-testsuite) natively and under
# `runsc do`, and compares the outcome of every test case. A case whose outcome differs must be
# listed, with its cause, in docs/python-testsuite.md; anything else that differs fails.
# Usage: python_suite.sh RUNSC
set -uo pipefail
runsc=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
doc=$repo/docs/python-testsuite.md
python=/usr/bin/python3
modules=(test_os test_fcntl test_tempfile test_shutil test_glob test_pathlib test_fileio)

if ! [ -d /usr/lib/python3.11/test ] || ! [ -f /usr/lib/python3.11/test/test_os.py ]; then
  echo "FAIL: Debian's libpython3.11-testsuite is not installed (tools/install-deps.sh installs it)"
  exit 1
fi
work=$(mktemp -d /var/tmp/moat-pysuite.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/native" "$work/sandbox" "$work/out"

# The tests write scratch files in their working directory; each run gets its own.
(cd "$work/native" && "$python" -m test --junit-xml "$work/out/native.xml" "${modules[@]}" \
   > "$work/out/native.log" 2>&1)
# The sandbox writes its report through a read-write volume; its scratch files stay in the
# overlay.
"$runsc" do --cwd /tmp --volume "$work/out:/report" -- \
  "$python" -m test --junit-xml /report/sandbox.xml "${modules[@]}" > "$work/out/sandbox.log" 2>&1
status=$?
echo "runsc do exited $status"

"$python" - "$work/out/native.xml" "$work/out/sandbox.xml" "$doc" <<'PY'
import re, sys, xml.etree.ElementTree as ET

def outcomes(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        sys.exit(f"FAIL: no report at {path}: {e}")
    result = {}
    for case in root.iter("testcase"):
        kind = "pass"
        for child in case:
            if child.tag in ("skipped", "failure", "error"):
                kind = child.tag
        result[case.get("name")] = kind
    return result

native, sandbox = outcomes(sys.argv[1]), outcomes(sys.argv[2])
# docs/python-testsuite.md lists each known difference as a line "- `test id`: cause".
known = set(re.findall(r"^- `([^`]+)`", open(sys.argv[3]).read(), re.M))

def counts(r):
    return {k: sum(1 for v in r.values() if v == k) for k in ("pass", "skipped", "failure", "error")}
print("native: ", counts(native))
print("sandbox:", counts(sandbox))
differ = sorted(n for n in native.keys() | sandbox.keys() if native.get(n) != sandbox.get(n))
unexplained = [n for n in differ if n not in known]
stale = sorted(known - set(differ))
for n in differ:
    print(f"{'known  ' if n in known else 'NEW    '} {n}: native {native.get(n)}, sandbox {sandbox.get(n)}")
for n in stale:
    print(f"listed in docs/python-testsuite.md but no longer different: {n}")
if unexplained or stale:
    sys.exit("FAIL: outcomes differ from what docs/python-testsuite.md lists")
print(f"PASS: {len(native)} cases; {len(differ)} differences, each listed with its cause")
PY
