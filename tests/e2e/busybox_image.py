#!/usr/bin/env python3
"""Makes a busybox container image without any registry: for the engine tests (engines_test.sh).

Usage: busybox_image.py OUT.tar NAME[:TAG]

The image has one layer: Debian's static /bin/busybox at /bin/busybox, a symlink for each of its
applets in /bin, the usual empty directories, and an /etc/passwd and /etc/group with root and
nobody. It is written as a docker-archive (manifest.json, the config, the layer tar), which both
`podman load` and containerd's `ctr image import` read. The tar is reproducible: fixed owners and
times.
"""
import hashlib
import io
import json
import subprocess
import sys
import tarfile

BUSYBOX = "/bin/busybox"
MTIME = 1700000000
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def add(tar, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def layer():
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d, mode in [("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("proc", 0o555),
                        ("sys", 0o555), ("tmp", 0o1777), ("root", 0o700), ("run", 0o755),
                        ("var", 0o755), ("var/tmp", 0o1777), ("usr", 0o755),
                        ("usr/bin", 0o755), ("sbin", 0o755)]:
            add(tar, d, tarfile.DIRTYPE, mode=mode)
        with open(BUSYBOX, "rb") as f:
            add(tar, "bin/busybox", data=f.read(), mode=0o755)
        for a in sorted(set(applets)):
            if a != "busybox":
                add(tar, f"bin/{a}", tarfile.SYMTYPE, mode=0o777, link="busybox")
        add(tar, "etc/passwd",
            data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        add(tar, "etc/group", data=b"root:x:0:\nnogroup:x:65534:\n")
    return buf.getvalue()


def main():
    out, name = sys.argv[1], sys.argv[2]
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    data = layer()
    diff_id = "sha256:" + hashlib.sha256(data).hexdigest()
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": {"Env": [f"PATH={PATH}"], "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "busybox_image.py"}],
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id[len("sha256:"):] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [name],
                            "Layers": [layer_name]}]).encode()
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add(tar, diff_id[len("sha256:"):], tarfile.DIRTYPE, mode=0o755)
        add(tar, layer_name, data=data)
        add(tar, config_name, data=config)
        add(tar, "manifest.json", data=manifest)


if __name__ == "__main__":
    main()
