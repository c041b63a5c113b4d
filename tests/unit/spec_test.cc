// Tests of runsc/spec/spec.h, config.json parsing: a full podman config, every field, unknown
// fields, mutations, and a table of bad inputs each with the exact JSON path its error must name.
// spec_output_test.cc has LoadBundle, ParseProcess and the JSON runsc writes.
#include "runsc/spec/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace moat::runsc::spec {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

// What podman 4 hands its OCI runtime for `podman run --rm -it alpine sh` (rootful), trimmed to
// a few seccomp rules, plus fields this parser must ignore.
constexpr char kPodmanConfig[] = R"json({
  "ociVersion": "1.1.0",
  "process": {
    "terminal": true,
    "user": {"uid": 0, "gid": 0, "umask": 18, "additionalGids": [0, 1, 2, 3, 4, 6, 10, 11, 20, 26, 27]},
    "args": ["sh"],
    "env": [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "TERM=xterm",
      "container=podman",
      "HOME=/root",
      "HOSTNAME=5f6c2d6b1e2a"
    ],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                   "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
                   "CAP_SETUID", "CAP_SYS_CHROOT"],
      "effective": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                    "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
                    "CAP_SETUID", "CAP_SYS_CHROOT"],
      "permitted": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                    "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
                    "CAP_SETUID", "CAP_SYS_CHROOT"]
    },
    "rlimits": [
      {"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576},
      {"type": "RLIMIT_NPROC", "hard": 4194304, "soft": 4194304}
    ],
    "oomScoreAdj": 0
  },
  "root": {"path": "/var/lib/containers/storage/overlay/3c1d/merged"},
  "hostname": "5f6c2d6b1e2a",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/etc/hostname", "type": "bind", "source": "/run/containers/storage/overlay-containers/5f6c/userdata/hostname", "options": ["bind", "rprivate"]},
    {"destination": "/run/.containerenv", "type": "bind", "source": "/run/containers/storage/overlay-containers/5f6c/userdata/.containerenv", "options": ["bind", "rprivate"]},
    {"destination": "/etc/resolv.conf", "type": "bind", "source": "/run/containers/storage/overlay-containers/5f6c/userdata/resolv.conf", "options": ["bind", "rprivate"]},
    {"destination": "/etc/hosts", "type": "bind", "source": "/run/containers/storage/overlay-containers/5f6c/userdata/hosts", "options": ["bind", "rprivate"]},
    {"destination": "/dev/shm", "type": "bind", "source": "/var/lib/containers/storage/overlay-containers/5f6c/userdata/shm", "options": ["bind", "rprivate", "nosuid", "noexec", "nodev"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]}
  ],
  "annotations": {
    "io.container.manager": "libpod",
    "io.podman.annotations.autoremove": "TRUE",
    "org.opencontainers.image.stopSignal": "15",
    "org.systemd.property.KillSignal": "15"
  },
  "linux": {
    "sysctl": {"net.ipv4.ping_group_range": "0 0"},
    "resources": {
      "pids": {"limit": 2048}
    },
    "cgroupsPath": "machine.slice:libpod:5f6c2d6b1e2a",
    "namespaces": [
      {"type": "pid"},
      {"type": "network", "path": "/run/netns/netns-1f2e3d4c"},
      {"type": "ipc"},
      {"type": "uts"},
      {"type": "mount"},
      {"type": "cgroup"}
    ],
    "seccomp": {
      "defaultAction": "SCMP_ACT_ERRNO",
      "defaultErrnoRet": 38,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      "syscalls": [
        {"names": ["bdflush", "io_pgetevents", "kexec_file_load", "kexec_load"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["accept", "read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
      ]
    },
    "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                    "/sys/firmware", "/sys/fs/selinux", "/sys/dev/block"],
    "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                      "/proc/sysrq-trigger"],
    "intelRdt": {"closID": "ignored"},
    "someFutureField": [1, 2, 3]
  },
  "vm": {"hypervisor": {"path": "/ignored"}},
  "windows": null
})json";

uint64_t Bit(int cap) { return uint64_t{1} << cap; }

TEST(SpecParse, PodmanConfig) {
  absl::StatusOr<Spec> spec = ParseSpec(kPodmanConfig);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->oci_version, "1.1.0");
  ASSERT_TRUE(spec->process.has_value());
  const Process& p = *spec->process;
  EXPECT_TRUE(p.terminal);
  EXPECT_EQ(p.user.uid, 0u);
  EXPECT_EQ(p.user.umask, 18u);
  EXPECT_EQ(p.user.additional_gids.size(), 11u);
  EXPECT_EQ(p.user.additional_gids.back(), 27u);
  EXPECT_THAT(p.args, ElementsAre("sh"));
  EXPECT_EQ(p.env.size(), 5u);
  EXPECT_EQ(p.cwd, "/");
  ASSERT_TRUE(p.capabilities.has_value());
  // CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6, SETUID 7, SETPCAP 8,
  // NET_BIND_SERVICE 10, SYS_CHROOT 18, SETFCAP 31.
  uint64_t want = Bit(0) | Bit(1) | Bit(3) | Bit(4) | Bit(5) | Bit(6) | Bit(7) | Bit(8) | Bit(10) |
                  Bit(18) | Bit(31);
  EXPECT_EQ(p.capabilities->bounding, want);
  EXPECT_EQ(p.capabilities->effective, want);
  EXPECT_EQ(p.capabilities->permitted, want);
  EXPECT_EQ(p.capabilities->inheritable, 0u);
  EXPECT_EQ(p.capabilities->ambient, 0u);
  ASSERT_EQ(p.rlimits.size(), 2u);
  EXPECT_EQ(p.rlimits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(p.rlimits[0].soft, 1048576u);
  EXPECT_EQ(p.rlimits[1].resource, RLIMIT_NPROC);
  EXPECT_EQ(p.oom_score_adj, 0);
  EXPECT_FALSE(p.no_new_privileges);

  EXPECT_EQ(spec->root.path, "/var/lib/containers/storage/overlay/3c1d/merged");
  EXPECT_FALSE(spec->root.readonly);
  EXPECT_EQ(spec->hostname, "5f6c2d6b1e2a");

  ASSERT_EQ(spec->mounts.size(), 12u);
  const Mount& dev = spec->mounts[1];
  EXPECT_EQ(dev.destination, "/dev");
  EXPECT_EQ(dev.type, "tmpfs");
  EXPECT_TRUE(dev.options.nosuid);
  EXPECT_TRUE(dev.options.strictatime);
  EXPECT_EQ(dev.options.data, "mode=755,size=65536k");
  EXPECT_FALSE(dev.IsBind());
  const Mount& sys = spec->mounts[2];
  EXPECT_TRUE(sys.options.readonly);
  EXPECT_TRUE(sys.options.noexec);
  EXPECT_TRUE(sys.options.nodev);
  const Mount& pts = spec->mounts[3];
  EXPECT_EQ(pts.options.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  const Mount& hosts = spec->mounts[8];
  EXPECT_TRUE(hosts.IsBind());
  EXPECT_TRUE(hosts.options.bind);
  EXPECT_EQ(hosts.options.propagation, "rprivate");
  EXPECT_EQ(hosts.options.data, "");
  EXPECT_THAT(hosts.raw_options, ElementsAre("bind", "rprivate"));
  const Mount& tmp = spec->mounts[11];
  EXPECT_TRUE(tmp.options.tmpcopyup);
  EXPECT_FALSE(tmp.options.readonly);

  EXPECT_EQ(spec->annotations.size(), 4u);
  EXPECT_EQ(spec->annotations.at("io.container.manager"), "libpod");

  const Linux& lx = spec->linux;
  EXPECT_EQ(lx.sysctl.at("net.ipv4.ping_group_range"), "0 0");
  ASSERT_TRUE(lx.resources.has_value());
  EXPECT_EQ(lx.resources->pids_limit, 2048);
  EXPECT_FALSE(lx.resources->memory.limit.has_value());
  EXPECT_EQ(lx.cgroups_path, "machine.slice:libpod:5f6c2d6b1e2a");
  ASSERT_EQ(lx.namespaces.size(), 6u);
  ASSERT_NE(lx.FindNamespace("network"), nullptr);
  EXPECT_EQ(lx.FindNamespace("network")->path, "/run/netns/netns-1f2e3d4c");
  EXPECT_EQ(lx.FindNamespace("user"), nullptr);
  ASSERT_TRUE(lx.seccomp.has_value());
  EXPECT_EQ(lx.seccomp->default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(lx.seccomp->default_errno_ret, 38u);
  EXPECT_THAT(lx.seccomp->architectures,
              ElementsAre("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"));
  ASSERT_EQ(lx.seccomp->syscalls.size(), 4u);
  EXPECT_EQ(lx.seccomp->syscalls[0].errno_ret, 1u);
  EXPECT_EQ(lx.seccomp->syscalls[1].names.size(), 3u);
  ASSERT_EQ(lx.seccomp->syscalls[3].args.size(), 1u);
  EXPECT_EQ(lx.seccomp->syscalls[3].args[0].value, 2114060288u);
  EXPECT_EQ(lx.seccomp->syscalls[3].args[0].op, "SCMP_CMP_MASKED_EQ");
  EXPECT_EQ(lx.masked_paths.size(), 11u);
  EXPECT_EQ(lx.readonly_paths.size(), 6u);
}

// Every field spec.h knows, with non-default values.
constexpr char kEveryField[] = R"json({
  "ociVersion": "1.2.0",
  "process": {
    "terminal": true,
    "consoleSize": {"height": 25, "width": 80},
    "user": {"uid": 1000, "gid": 100, "umask": 63, "additionalGids": [5], "username": "me"},
    "args": ["/bin/app", "--flag", ""],
    "env": ["A=1", "EMPTY=", "WEIRD.NAME=x=y"],
    "cwd": "/work",
    "capabilities": {"bounding": ["CAP_CHECKPOINT_RESTORE"], "effective": ["CAP_CHOWN"],
                     "inheritable": ["CAP_BPF"], "permitted": ["CAP_PERFMON"],
                     "ambient": ["CAP_SYS_ADMIN"]},
    "rlimits": [{"type": "RLIMIT_CORE", "soft": 0, "hard": 18446744073709551615}],
    "noNewPrivileges": true,
    "apparmorProfile": "prof",
    "oomScoreAdj": -1000,
    "selinuxLabel": "label",
    "scheduler": {"policy": "SCHED_DEADLINE", "nice": -20, "priority": 3,
                  "flags": ["SCHED_FLAG_RESET_ON_FORK"], "runtime": 1, "deadline": 2, "period": 3},
    "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 7},
    "execCPUAffinity": {"initial": "0", "final": "1-3"}
  },
  "root": {"path": "rootfs", "readonly": true},
  "mounts": [
    {"destination": "/data", "type": "bind", "source": "/srv", "options":
      ["rbind", "ro", "rw", "nosuid", "suid", "nodev", "noexec", "noatime", "nodiratime",
       "sync", "dirsync", "rslave", "defaults", "", "rro", "rnosuid", "rnodev", "rnoexec",
       "rnoatime", "rrelatime", "rstrictatime", "rnodiratime", "rnosymfollow", "nosymfollow",
       "mand", "lazytime", "iversion", "silent", "remount", "x-custom=1"],
     "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
     "gidMappings": [{"containerID": 0, "hostID": 100, "size": 1}]},
    {"destination": "/empty"}
  ],
  "hostname": "host",
  "domainname": "example.org",
  "hooks": {
    "prestart": [{"path": "/bin/pre", "args": ["pre", "x"], "env": ["K=V"], "timeout": 5}],
    "createRuntime": [{"path": "/bin/cr"}],
    "createContainer": [{"path": "/bin/cc"}],
    "startContainer": [{"path": "/bin/sc"}],
    "poststart": [{"path": "/bin/ps"}],
    "poststop": [{"path": "/bin/post1"}, {"path": "/bin/post2"}]
  },
  "annotations": {"a": "b"},
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "mount"}, {"type": "ipc"},
                   {"type": "uts"}, {"type": "user"}, {"type": "cgroup"}, {"type": "time"}],
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "timeOffsets": {"monotonic": {"secs": -5, "nanosecs": 7}, "boottime": {"secs": 9}},
    "sysctl": {"kernel.shmmax": "1"},
    "cgroupsPath": "/moat/c1",
    "resources": {
      "devices": [{"allow": false, "access": "rwm"},
                  {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}],
      "memory": {"limit": 536870912, "reservation": 1, "swap": -1, "kernel": -1,
                 "kernelTCP": 2, "swappiness": 60, "disableOOMKiller": true,
                 "useHierarchy": false, "checkBeforeUpdate": true},
      "cpu": {"shares": 1024, "quota": 100000, "burst": 5000, "period": 100000,
              "realtimeRuntime": 950000, "realtimePeriod": 1000000, "cpus": "0-1", "mems": "0",
              "idle": 1},
      "pids": {"limit": -1},
      "blockIO": {"weight": 500, "leafWeight": 10,
                  "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
                  "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
                  "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 700}],
                  "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 800}],
                  "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}]},
      "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
      "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
      "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
      "unified": {"memory.high": "max", "io.max": "8:0 rbps=1"}
    },
    "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438,
                 "uid": 0, "gid": 0},
                {"type": "p", "path": "/dev/myfifo"}],
    "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AARCH64"],
                "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                "listenerPath": "/run/agent.sock", "listenerMetadata": "meta",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
                             {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 5}]},
    "rootfsPropagation": "rslave",
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"],
    "mountLabel": "mlabel",
    "personality": {"domain": "LINUX32", "flags": []}
  }
})json";

TEST(SpecParse, EveryField) {
  absl::StatusOr<Spec> spec = ParseSpec(kEveryField);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const Process& p = *spec->process;
  ASSERT_TRUE(p.console_size.has_value());
  EXPECT_EQ(p.console_size->height, 25u);
  EXPECT_EQ(p.console_size->width, 80u);
  EXPECT_EQ(p.user.uid, 1000u);
  EXPECT_EQ(p.user.gid, 100u);
  EXPECT_EQ(p.user.umask, 077u);
  EXPECT_EQ(p.user.username, "me");
  EXPECT_THAT(p.args, ElementsAre("/bin/app", "--flag", ""));
  EXPECT_EQ(p.cwd, "/work");
  EXPECT_EQ(p.capabilities->bounding, Bit(40));
  EXPECT_EQ(p.capabilities->effective, Bit(0));
  EXPECT_EQ(p.capabilities->inheritable, Bit(39));
  EXPECT_EQ(p.capabilities->permitted, Bit(38));
  EXPECT_EQ(p.capabilities->ambient, Bit(21));
  EXPECT_EQ(p.rlimits[0].resource, RLIMIT_CORE);
  EXPECT_EQ(p.rlimits[0].hard, UINT64_MAX);
  EXPECT_TRUE(p.no_new_privileges);
  EXPECT_EQ(p.apparmor_profile, "prof");
  EXPECT_EQ(p.oom_score_adj, -1000);
  EXPECT_EQ(p.selinux_label, "label");
  ASSERT_TRUE(p.scheduler.has_value());
  EXPECT_EQ(p.scheduler->policy, "SCHED_DEADLINE");
  EXPECT_EQ(p.scheduler->nice, -20);
  EXPECT_EQ(p.scheduler->priority, 3);
  EXPECT_THAT(p.scheduler->flags, ElementsAre("SCHED_FLAG_RESET_ON_FORK"));
  EXPECT_EQ(p.scheduler->period, 3u);
  ASSERT_TRUE(p.io_priority.has_value());
  EXPECT_EQ(p.io_priority->ioclass, "IOPRIO_CLASS_BE");
  EXPECT_EQ(p.io_priority->priority, 7);
  ASSERT_TRUE(p.exec_cpu_affinity.has_value());
  EXPECT_EQ(p.exec_cpu_affinity->final_, "1-3");

  EXPECT_TRUE(spec->root.readonly);
  EXPECT_EQ(spec->root.abs_path, "");  // only LoadBundle resolves it
  EXPECT_EQ(spec->domainname, "example.org");

  const MountOptions& o = spec->mounts[0].options;
  EXPECT_TRUE(o.rbind);
  EXPECT_FALSE(o.readonly);  // "rw" came after "ro"
  EXPECT_FALSE(o.nosuid);    // "suid" came after "nosuid"
  EXPECT_TRUE(o.nodev && o.noexec && o.noatime && o.nodiratime && o.sync && o.dirsync);
  EXPECT_TRUE(o.rec_readonly && o.rec_nosuid && o.rec_nodev && o.rec_noexec && o.rec_noatime &&
              o.rec_relatime && o.rec_strictatime && o.rec_nodiratime && o.rec_nosymfollow);
  EXPECT_TRUE(o.nosymfollow && o.mand && o.lazytime && o.iversion && o.silent && o.remount);
  EXPECT_EQ(o.propagation, "rslave");
  EXPECT_EQ(o.data, "x-custom=1");
  ASSERT_EQ(spec->mounts[0].uid_mappings.size(), 1u);
  EXPECT_EQ(spec->mounts[0].uid_mappings[0].host_id, 1000u);
  EXPECT_EQ(spec->mounts[0].gid_mappings[0].host_id, 100u);
  EXPECT_EQ(spec->mounts[1].type, "");

  const Hooks& h = spec->hooks;
  ASSERT_EQ(h.prestart.size(), 1u);
  EXPECT_EQ(h.prestart[0].path, "/bin/pre");
  EXPECT_THAT(h.prestart[0].args, ElementsAre("pre", "x"));
  EXPECT_THAT(h.prestart[0].env, ElementsAre("K=V"));
  EXPECT_EQ(h.prestart[0].timeout, 5);
  EXPECT_EQ(h.create_runtime[0].path, "/bin/cr");
  EXPECT_EQ(h.create_container[0].path, "/bin/cc");
  EXPECT_EQ(h.start_container[0].path, "/bin/sc");
  EXPECT_EQ(h.poststart[0].path, "/bin/ps");
  ASSERT_EQ(h.poststop.size(), 2u);
  EXPECT_FALSE(h.poststop[1].timeout.has_value());

  const Linux& lx = spec->linux;
  EXPECT_EQ(lx.namespaces.size(), 8u);
  EXPECT_EQ(lx.uid_mappings[0].size, 65536u);
  EXPECT_EQ(lx.gid_mappings[0].host_id, 100000u);
  EXPECT_EQ(lx.time_offsets.at("monotonic").secs, -5);
  EXPECT_EQ(lx.time_offsets.at("monotonic").nanosecs, 7u);
  EXPECT_EQ(lx.time_offsets.at("boottime").secs, 9);
  const Resources& r = *lx.resources;
  ASSERT_EQ(r.devices.size(), 2u);
  EXPECT_FALSE(r.devices[0].allow);
  EXPECT_EQ(r.devices[0].type, "a");
  EXPECT_FALSE(r.devices[0].major.has_value());
  EXPECT_EQ(r.devices[1].major, 10);
  EXPECT_EQ(r.devices[1].access, "rw");
  EXPECT_EQ(r.memory.limit, 536870912);
  EXPECT_EQ(r.memory.swap, -1);
  EXPECT_EQ(r.memory.kernel_tcp, 2);
  EXPECT_EQ(r.memory.swappiness, 60u);
  EXPECT_EQ(r.memory.disable_oom_killer, true);
  EXPECT_EQ(r.memory.use_hierarchy, false);
  EXPECT_EQ(r.memory.check_before_update, true);
  EXPECT_EQ(r.cpu.shares, 1024u);
  EXPECT_EQ(r.cpu.quota, 100000);
  EXPECT_EQ(r.cpu.burst, 5000u);
  EXPECT_EQ(r.cpu.realtime_period, 1000000u);
  EXPECT_EQ(r.cpu.cpus, "0-1");
  EXPECT_EQ(r.cpu.idle, 1);
  EXPECT_EQ(r.pids_limit, -1);
  EXPECT_EQ(r.block_io.weight, 500);
  EXPECT_EQ(r.block_io.leaf_weight, 10);
  EXPECT_EQ(r.block_io.weight_device[0].weight, 500);
  EXPECT_FALSE(r.block_io.weight_device[0].leaf_weight.has_value());
  EXPECT_EQ(r.block_io.throttle_read_bps_device[0].rate, 600u);
  EXPECT_EQ(r.block_io.throttle_write_bps_device[0].rate, 700u);
  EXPECT_EQ(r.block_io.throttle_read_iops_device[0].rate, 800u);
  EXPECT_EQ(r.block_io.throttle_write_iops_device[0].minor, 16);
  EXPECT_EQ(r.hugepage_limits[0].page_size, "2MB");
  ASSERT_TRUE(r.network.has_value());
  EXPECT_EQ(r.network->class_id, 1048577u);
  EXPECT_EQ(r.network->priorities[0].first, "eth0");
  EXPECT_EQ(r.rdma.at("mlx5_1").hca_objects, 10000u);
  EXPECT_EQ(r.unified.at("io.max"), "8:0 rbps=1");
  ASSERT_EQ(lx.devices.size(), 2u);
  EXPECT_EQ(lx.devices[0].file_mode, 438u);
  EXPECT_EQ(lx.devices[0].uid, 0u);
  EXPECT_EQ(lx.devices[1].type, "p");
  EXPECT_FALSE(lx.devices[1].file_mode.has_value());
  const Seccomp& s = *lx.seccomp;
  EXPECT_EQ(s.listener_path, "/run/agent.sock");
  EXPECT_EQ(s.listener_metadata, "meta");
  EXPECT_THAT(s.flags, ElementsAre("SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"));
  EXPECT_EQ(s.syscalls[1].errno_ret, 5u);
  EXPECT_EQ(lx.rootfs_propagation, "rslave");
  EXPECT_EQ(lx.mount_label, "mlabel");
  ASSERT_TRUE(lx.personality.has_value());
  EXPECT_EQ(lx.personality->domain, "LINUX32");
}

TEST(SpecParse, MinimalAndNulls) {
  // No process (allowed by ParseSpec), nulls standing for absent fields, as Go reads them.
  absl::StatusOr<Spec> spec = ParseSpec(
      R"({"ociVersion": "1.0.0", "process": null, "mounts": null, "linux": {"seccomp": null}})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->process.has_value());
  EXPECT_TRUE(spec->mounts.empty());
  EXPECT_FALSE(spec->linux.seccomp.has_value());
  EXPECT_TRUE(ParseSpec("{}").ok());
}

TEST(SpecParse, ZeroBlockIoWeightIsUnset) {
  // Docker writes "weight": 0 when no --blkio-weight is given; runc takes it for "not set".
  absl::StatusOr<Spec> spec = ParseSpec(
      R"({"linux": {"resources": {"blockIO": {"weight": 0, "leafWeight": 0}}}})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_TRUE(spec->linux.resources.has_value());
  EXPECT_FALSE(spec->linux.resources->block_io.weight.has_value());
  EXPECT_FALSE(spec->linux.resources->block_io.leaf_weight.has_value());
}

TEST(SpecParse, DeepNestingInAnUnknownFieldIsHarmless) {
  std::string deep = R"({"unknown": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_TRUE(ParseSpec(deep).ok());
  std::string unterminated = R"({"unknown": )" + std::string(100000, '[');
  EXPECT_FALSE(ParseSpec(unterminated).ok());
}

// Mutations of a real config (bytes flipped, spans cut, prefixes) must each parse or fail with an
// InvalidArgument status: never crash, hang or throw.
TEST(SpecParse, SurvivesMutations) {
  const std::string base = kPodmanConfig;
  uint64_t seed = 0x9e3779b97f4a7c15;
  auto next = [&seed] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  const char kInteresting[] = "{}[]\",:0-1e\\u \n\xff\x00";
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = base;
    switch (i % 3) {
      case 0:  // flip a few bytes to JSON-significant ones
        for (int k = 0; k < 3; ++k) {
          text[next() % text.size()] = kInteresting[next() % (sizeof(kInteresting) - 1)];
        }
        break;
      case 1: {  // cut a span out
        size_t at = next() % text.size();
        text.erase(at, next() % 64);
        break;
      }
      default:  // a prefix
        text.resize(next() % text.size());
        break;
    }
    absl::StatusOr<Spec> spec = ParseSpec(text);
    if (spec.ok()) {
      ++parsed;
    } else {
      EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << spec.status();
    }
  }
  EXPECT_GT(parsed, 0);  // some mutations land in strings and keep the config valid
}

TEST(SpecParse, DecodeMountOptions) {
  MountOptions o = DecodeMountOptions({"ro", "nosuid", "size=1m", "private", "mode=700"});
  EXPECT_TRUE(o.readonly);
  EXPECT_TRUE(o.nosuid);
  EXPECT_EQ(o.propagation, "private");
  EXPECT_EQ(o.data, "size=1m,mode=700");
}

// A config with `fields` inside "process" next to valid args and cwd.
std::string Proc(const std::string& fields) {
  return R"({"process": {"args": ["sh"], "cwd": "/", )" + fields + "}}";
}
// A config with `fields` inside "linux".
std::string Lx(const std::string& fields) { return R"({"linux": {)" + fields + "}}"; }
// A config with one seccomp section.
std::string Sc(const std::string& fields) { return Lx(R"("seccomp": {)" + fields + "}"); }
// A config with one resources section.
std::string Res(const std::string& fields) { return Lx(R"("resources": {)" + fields + "}"); }

struct BadInput {
  std::string json;
  std::string message;  // the whole message, or its start when `prefix`
  bool prefix = false;
};

class SpecBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(SpecBadInput, ErrorNamesThePath) {
  const BadInput& bad = GetParam();
  absl::StatusOr<Spec> spec = ParseSpec(bad.json);
  ASSERT_FALSE(spec.ok()) << bad.json;
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  if (bad.prefix) {
    EXPECT_THAT(std::string(spec.status().message()), StartsWith(bad.message)) << bad.json;
  } else {
    EXPECT_EQ(spec.status().message(), bad.message) << bad.json;
  }
}

INSTANTIATE_TEST_SUITE_P(
    SpecTable, SpecBadInput,
    ::testing::Values(
        // Not JSON.
        BadInput{R"({"process": })", "config.json: parse error at line 1, column 13: ", true},
        BadInput{"{\n  \"a\": 1,\n  \"b\": tru\n}",
                 "config.json: parse error at line 3, column 11: ", true},
        BadInput{"{\"a\": 1", "config.json: parse error at line 1, column 8: ", true},
        BadInput{"", "config.json: parse error at line 1, column 1: ", true},
        BadInput{R"({"a": 1} x)", "config.json: parse error at line 1, column 10: ", true},
        BadInput{R"({"a": 1e999})", "config.json: parse error: number overflow", true},
        BadInput{"{\"a\": \"\xff\"}", "config.json: parse error at line 1, column 8: ", true},
        // Wrong types, top level and deep.
        BadInput{"[1, 2]", "config.json: expected an object, got array"},
        BadInput{R"({"ociVersion": 1})", "ociVersion: expected a string, got 1"},
        BadInput{R"({"process": "sh"})", "process: expected an object, got string"},
        BadInput{R"({"hostname": ["a"]})", "hostname: expected a string, got array"},
        BadInput{R"({"mounts": {}})", "mounts: expected an array, got object"},
        BadInput{R"({"root": true})", "root: expected an object, got boolean"},
        BadInput{R"({"root": {"readonly": true}})", "root.path: missing required field"},
        BadInput{R"({"root": {"path": "r", "readonly": "yes"}})",
                 "root.readonly: expected a boolean, got string"},
        BadInput{R"({"annotations": {"a": 1}})", R"(annotations["a"]: expected a string, got 1)"},
        BadInput{R"({"annotations": {"": "x"}})", R"(annotations[""]: the key must not be empty)"},
        BadInput{Lx(R"("sysctl": {"kernel.x": 1})"),
                 R"(linux.sysctl["kernel.x"]: expected a string, got 1)"},
        // process.
        BadInput{R"({"process": {"cwd": "/"}})",
                 "process.args: must be a non-empty array of strings"},
        BadInput{R"({"process": {"args": [], "cwd": "/"}})",
                 "process.args: must be a non-empty array of strings"},
        BadInput{R"({"process": {"args": "sh", "cwd": "/"}})",
                 "process.args: must be a non-empty array of strings"},
        BadInput{R"({"process": {"args": ["sh", 5], "cwd": "/"}})",
                 "process.args[1]: expected a string, got 5"},
        BadInput{R"({"process": {"args": [""], "cwd": "/"}})",
                 "process.args[0]: the program name is empty"},
        BadInput{R"({"process": {"args": ["s\u0000h"], "cwd": "/"}})",
                 "process.args[0]: contains a NUL byte"},
        BadInput{R"({"process": {"args": ["sh"]}})", "process.cwd: missing required field"},
        BadInput{R"({"process": {"args": ["sh"], "cwd": "work"}})",
                 "process.cwd: must be an absolute path"},
        BadInput{Proc(R"("env": ["A=1", "FOO"])"),
                 R"(process.env[1]: must be of the form NAME=value, got "FOO")"},
        BadInput{Proc(R"("env": ["=x"])"),
                 R"(process.env[0]: must be of the form NAME=value, got "=x")"},
        BadInput{Proc(R"("terminal": "yes")"), "process.terminal: expected a boolean, got string"},
        BadInput{Proc(R"("user": {"uid": "0"})"),
                 "process.user.uid: expected an unsigned 32-bit integer, got string"},
        BadInput{Proc(R"("user": {"uid": -1})"),
                 "process.user.uid: expected an unsigned 32-bit integer, got -1"},
        BadInput{Proc(R"("user": {"gid": 4294967296})"),
                 "process.user.gid: expected an unsigned 32-bit integer, got 4294967296"},
        BadInput{Proc(R"("user": {"umask": 512})"),
                 "process.user.umask: must be at most 0777 (511), got 512"},
        BadInput{Proc(R"("user": {"additionalGids": [1, 1.5]})"),
                 "process.user.additionalGids[1]: expected an unsigned 32-bit integer, got 1.5"},
        BadInput{Proc(R"("rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                                     {"type": "RLIMIT_FOO", "soft": 1, "hard": 1}])"),
                 R"(process.rlimits[1].type: unknown rlimit "RLIMIT_FOO")"},
        BadInput{Proc(R"("rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                                     {"type": "RLIMIT_NOFILE", "soft": 2, "hard": 2}])"),
                 R"(process.rlimits[1].type: duplicate rlimit "RLIMIT_NOFILE")"},
        BadInput{Proc(R"("rlimits": [{"type": "RLIMIT_CORE", "hard": 1}])"),
                 "process.rlimits[0].soft: missing required field"},
        BadInput{Proc(R"("rlimits": [{"type": "RLIMIT_CORE", "soft": 2, "hard": 1}])"),
                 "process.rlimits[0].soft: soft limit 2 is above the hard limit 1"},
        BadInput{Proc(R"("capabilities": {"bounding": ["CAP_KILL", "CAP_FOO"]})"),
                 R"(process.capabilities.bounding[1]: unknown capability "CAP_FOO")"},
        BadInput{Proc(R"("capabilities": {"effective": [3]})"),
                 "process.capabilities.effective[0]: expected a string, got 3"},
        BadInput{Proc(R"("capabilities": ["CAP_KILL"])"),
                 "process.capabilities: expected an object, got array"},
        BadInput{Proc(R"("oomScoreAdj": 1001)"),
                 "process.oomScoreAdj: must be in [-1000, 1000], got 1001"},
        BadInput{Proc(R"("consoleSize": {"height": 10})"),
                 "process.consoleSize.width: missing required field"},
        BadInput{Proc(R"("consoleSize": {"height": 70000, "width": 1})"),
                 "process.consoleSize.height: expected an unsigned 16-bit integer, got 70000"},
        BadInput{Proc(R"("scheduler": {"policy": "SCHED_FOO"})"),
                 R"(process.scheduler.policy: unknown policy "SCHED_FOO")"},
        BadInput{Proc(R"("scheduler": {"policy": "SCHED_OTHER", "nice": 20})"),
                 "process.scheduler.nice: must be in [-20, 19], got 20"},
        BadInput{Proc(R"("ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 8})"),
                 "process.ioPriority.priority: must be in [0, 7], got 8"},
        BadInput{Proc(R"("ioPriority": {"priority": 1})"),
                 "process.ioPriority.class: missing required field"},
        // mounts and hooks.
        BadInput{R"({"mounts": [{"destination": "/a"}, {"destination": "/b"},
                                {"destination": "c", "type": "bind"}]})",
                 "mounts[2].destination: must be an absolute path"},
        BadInput{R"({"mounts": [{"type": "tmpfs"}]})",
                 "mounts[0].destination: missing required field"},
        BadInput{R"({"mounts": [{"destination": "/a", "options": ["ro", true]}]})",
                 "mounts[0].options[1]: expected a string, got boolean"},
        BadInput{R"({"mounts": [{"destination": "/a",
                                 "uidMappings": [{"containerID": 0, "hostID": 0, "size": 0}]}]})",
                 "mounts[0].uidMappings[0].size: must be greater than zero"},
        BadInput{R"({"hooks": {"prestart": [{"path": "hook"}]}})",
                 "hooks.prestart[0].path: must be an absolute path"},
        BadInput{R"({"hooks": {"poststop": [{"path": "/h", "timeout": 0}]}})",
                 "hooks.poststop[0].timeout: must be greater than zero, got 0"},
        BadInput{R"({"hooks": {"createRuntime": {"path": "/h"}}})",
                 "hooks.createRuntime: expected an array, got object"},
        BadInput{R"({"hooks": {"poststart": [{"path": "/h", "env": ["X"]}]}})",
                 R"(hooks.poststart[0].env[0]: must be of the form NAME=value, got "X")"},
        // linux: namespaces and ids.
        BadInput{Lx(R"("namespaces": [{"type": "foo"}])"),
                 R"(linux.namespaces[0].type: unknown namespace "foo")"},
        BadInput{Lx(R"("namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "pid"}])"),
                 R"(linux.namespaces[2].type: duplicate namespace "pid")"},
        BadInput{Lx(R"("namespaces": [{"type": "network", "path": "netns/x"}])"),
                 "linux.namespaces[0].path: must be an absolute path"},
        BadInput{Lx(R"("namespaces": [{"path": "/proc/1/ns/pid"}])"),
                 "linux.namespaces[0].type: missing required field"},
        BadInput{Lx(R"("uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}])"),
                 "linux.uidMappings: needs a user namespace in linux.namespaces"},
        BadInput{Lx(R"("namespaces": [{"type": "user"}])"),
                 "linux.uidMappings: required with a new user namespace"},
        BadInput{Lx(R"("namespaces": [{"type": "user"}],
                       "uidMappings": [{"containerID": 4294967295, "hostID": 0, "size": 2}])"),
                 "linux.uidMappings[0]: the range goes past the last 32-bit id"},
        BadInput{Lx(R"("namespaces": [{"type": "user"}],
                       "uidMappings": [{"containerID": 0, "size": 2}])"),
                 "linux.uidMappings[0].hostID: missing required field"},
        // linux: devices and resources.
        BadInput{Lx(R"("devices": [{"type": "x", "path": "/dev/x"}])"),
                 R"(linux.devices[0].type: unknown device type "x" (want c, b, u or p))"},
        BadInput{Lx(R"("devices": [{"type": "c", "path": "/dev/x", "minor": 1}])"),
                 "linux.devices[0].major: missing required field"},
        BadInput{Lx(R"("devices": [{"type": "c", "path": "dev/x", "major": 1, "minor": 1}])"),
                 "linux.devices[0].path: must be an absolute path"},
        BadInput{Res(R"("devices": [{"allow": true, "access": "rwx"}])"),
                 R"(linux.resources.devices[0].access: must be made of r, w and m, got "rwx")"},
        BadInput{Res(R"("devices": [{"access": "rwm"}])"),
                 "linux.resources.devices[0].allow: missing required field"},
        BadInput{Res(R"("memory": {"limit": "1G"})"),
                 "linux.resources.memory.limit: expected a 64-bit integer, got string"},
        BadInput{Res(R"("memory": {"swappiness": 101})"),
                 "linux.resources.memory.swappiness: must be in [0, 100], got 101"},
        BadInput{Res(R"("cpu": {"shares": -1})"),
                 "linux.resources.cpu.shares: expected an unsigned 64-bit integer, got -1"},
        BadInput{Res(R"("cpu": {"quota": 1000, "burst": 2000})"),
                 "linux.resources.cpu.burst: must not be larger than quota (1000), got 2000"},
        BadInput{Res(R"("pids": {})"), "linux.resources.pids.limit: missing required field"},
        BadInput{Res(R"("blockIO": {"weight": 5})"),
                 "linux.resources.blockIO.weight: must be in [10, 1000], got 5"},
        BadInput{Res(R"("blockIO": {"weightDevice": [{"major": 8, "minor": 0}]})"),
                 "linux.resources.blockIO.weightDevice[0]: needs weight or leafWeight"},
        BadInput{
            Res(R"("unified": {"../../etc/passwd": "x"})"),
            R"(linux.resources.unified["../../etc/passwd"]: must be a cgroup file name such as "memory.max")"},
        BadInput{Res(R"("rdma": {"mlx": {}})"),
                 R"(linux.resources.rdma["mlx"]: needs hcaHandles or hcaObjects)"},
        // linux: seccomp.
        BadInput{Sc(R"("defaultAction": "SCMP_ACT_FOO")"),
                 R"(linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO")"},
        BadInput{Sc(R"("architectures": [])"),
                 "linux.seccomp.defaultAction: missing required field"},
        BadInput{Sc(R"("defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"},
                                    {"names": ["write"], "action": "SCMP_ACT_NOPE"}])"),
                 R"(linux.seccomp.syscalls[1].action: unknown action "SCMP_ACT_NOPE")"},
        BadInput{Sc(R"("defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                     "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}])"),
                 R"(linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_XX")"},
        BadInput{Sc(R"("defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                     "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}])"),
                 "linux.seccomp.syscalls[0].args[0].index: must be in [0, 5] (a syscall has 6 "
                 "arguments), got 6"},
        BadInput{Sc(R"("defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"])"),
                 R"(linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_VAX")"},
        BadInput{Sc(R"("defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_X"])"),
                 R"(linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_X")"},
        BadInput{Sc(R"("defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}])"),
                 "linux.seccomp.syscalls[0].errnoRet: only allowed with SCMP_ACT_ERRNO or "
                 "SCMP_ACT_TRACE, not SCMP_ACT_ALLOW"},
        BadInput{Sc(R"("defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1)"),
                 "linux.seccomp.defaultErrnoRet: only allowed with SCMP_ACT_ERRNO or "
                 "SCMP_ACT_TRACE, not SCMP_ACT_KILL"},
        BadInput{Sc(R"("defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}])"),
                 "linux.seccomp.syscalls[0].names: must be a non-empty array of strings"},
        BadInput{Sc(R"("defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}])"),
                 "linux.seccomp.listenerPath: required when an action is SCMP_ACT_NOTIFY"},
        BadInput{Sc(R"("defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a")"),
                 "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"},
        BadInput{Sc(R"("defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m")"),
                 "linux.seccomp.listenerMetadata: only allowed with listenerPath"},
        // linux: the rest.
        BadInput{Lx(R"("rootfsPropagation": "sideways")"),
                 R"(linux.rootfsPropagation: unknown propagation "sideways")"},
        BadInput{Lx(R"("maskedPaths": ["/proc/kcore", "proc/keys"])"),
                 "linux.maskedPaths[1]: must be an absolute path"},
        BadInput{Lx(R"("readonlyPaths": [7])"), "linux.readonlyPaths[0]: expected a string, got 7"},
        BadInput{
            Lx(R"("timeOffsets": {"realtime": {"secs": 1}})"),
            R"(linux.timeOffsets["realtime"]: unknown clock "realtime" (want monotonic or boottime))"},
        BadInput{Lx(R"("timeOffsets": {"boottime": {"nanosecs": 1000000000}})"),
                 "linux.timeOffsets[\"boottime\"].nanosecs: must be below 1e9, got 1000000000"},
        BadInput{Lx(R"("personality": {"domain": "BSD"})"),
                 R"(linux.personality.domain: unknown domain "BSD" (want LINUX or LINUX32))"},
        BadInput{Lx(R"("cgroupsPath": 5)"), "linux.cgroupsPath: expected a string, got 5"},
        BadInput{R"({"linux": []})", "linux: expected an object, got array"}),
    // Stable names (the default prints the bytes of each case, pointers included).
    [](const ::testing::TestParamInfo<BadInput>& info) {
      return "Case" + std::to_string(info.index);
    });

TEST(SpecParse, ErrorQuotesHostileBytes) {
  absl::StatusOr<Spec> spec = ParseSpec(Lx(R"("namespaces": [{"type": "a\"\n\u00e9"}])"));
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(),
            R"(linux.namespaces[0].type: unknown namespace "a\"\x0a\xc3\xa9")");
}

}  // namespace
}  // namespace moat::runsc::spec
