// The host's /proc as the sentry reads it: its application processes' host state (CPU times,
// resident memory), the host's CPU description, and reopening its own fds.
//
// The sentry opens no host path once it is confined (runsc/confine.h): it reads through one
// directory fd opened beforehand, of a proc instance of its own PID namespace, so that the pids
// it knows its processes by are the names in it. A process that is never confined (a unit test,
// or the CLI) gets the host's /proc, opened on first use.
//
// Thread safety: Set() is called once, before the threads that read start; the rest may be called
// from any thread.
#ifndef MOAT_BASE_HOST_PROC_H_
#define MOAT_BASE_HOST_PROC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "base/errno.h"
#include "base/file_descriptor.h"

namespace moat::hostproc {

// The directory fd reads go through (-1 if /proc could not be opened).
int Dir();

// Makes `dir` the directory Dir() returns from now on.
void Set(FileDescriptor dir);

// Reads the whole file at `rel` (relative: "123/status", "cpuinfo") under Dir().
Result<std::string> ReadFile(std::string_view rel);

// A "Name:  N kB" field of /proc/<pid>/status (VmRSS, VmHWM), in KiB; 0 if it cannot be read.
uint64_t StatusKb(int pid, std::string_view field);

// The host's configured CPUs (sysconf(_SC_NPROCESSORS_CONF), which reads /sys), taken on the
// first call: the confinement makes one before the host's files go out of reach.
int ConfiguredCpus();

// The ids a host id this process's user namespace does not map shows as (in stat, SO_PEERCRED):
// fs.overflowuid and fs.overflowgid, taken on the first call.
uint32_t OverflowUid();
uint32_t OverflowGid();

// How many tasks the host can have: the smaller of kernel.pid_max and kernel.threads-max, taken
// on the first call, which must come before the process enters a PID namespace of its own
// (since Linux 6.14 pid_max is a namespace's, and a new one's may be larger than the host's).
uint64_t HostTasksMax();

}  // namespace moat::hostproc

#endif  // MOAT_BASE_HOST_PROC_H_
