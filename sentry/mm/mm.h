// MemoryManager: the sentry's bookkeeping of one application address space (DESIGN.md section 4).
//
// The address space itself is the host process's: anonymous mmap, munmap, mprotect and friends
// run natively. The sentry keeps what it must: the program break (brk is emulated), the file
// mappings it made (for /proc/pid/maps and msync), and where argv and envp live
// (/proc/pid/cmdline, /proc/pid/environ). Shared by threads cloned with CLONE_VM.
//
// TODO(#3): anonymous mappings, munmap and mprotect run natively and are not recorded, so
// /proc/pid/maps shows the mappings the sentry made (files, the stack, the heap) as it made them.
#ifndef MOAT_SENTRY_MM_MM_H_
#define MOAT_SENTRY_MM_MM_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/synchronization/mutex.h"
#include "base/errno.h"
#include "base/ref_counted.h"
#include "base/user_addr.h"
#include "sentry/vfs/vfs.h"

namespace moat::kernel {
class Task;
}

namespace moat::mm {

// A mapping the sentry made of a file, as /proc/pid/maps shows it.
struct FileMapping {
  uint64_t end;
  uint64_t offset;
  int prot;
  int flags;
  std::string name;
  uint64_t dev;
  uint64_t ino;
};

class MemoryManager : public RefCounted<MemoryManager> {
 public:
  // A copy for fork (the host copies the memory itself).
  RefPtr<MemoryManager> Fork();

  // The brk area: [brk_start, brk) is the heap; [brk_start, mapped_end) is mapped.
  void SetBrkStart(uint64_t start);
  // brk(2): moves the break, mapping or unmapping anonymous memory through `task`. Returns the
  // new (or unchanged, on failure) break, as Linux does.
  uint64_t Brk(kernel::Task& task, uint64_t addr);

  // Records a file mapping made at [start, end). It replaces what was recorded there (a
  // MAP_FIXED mapping replaces, and a record in the way of a new mapping is stale).
  void AddFileMapping(uint64_t start, const FileMapping& m);
  // Forgets the file mappings in [start, end) (munmap, or an anonymous mapping over them).
  void RemoveFileMappings(uint64_t start, uint64_t end);
  std::map<uint64_t, FileMapping> FileMappings();

  // Where the initial argv and envp strings are.
  void SetArgEnv(uint64_t arg_start, uint64_t arg_end, uint64_t env_start, uint64_t env_end);
  struct ArgEnv {
    uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  };
  ArgEnv GetArgEnv();
  ~MemoryManager();
  // The program mapped here: it cannot be opened for writing while mapped (ETXTBSY).
  void SetExecutableInode(RefPtr<vfs::Inode> inode);
  // The path of the executable (/proc/pid/exe) and the auxv the program got.
  void SetExecutable(std::string path);
  std::string executable();
  void SetAuxv(std::string auxv);
  std::string auxv();

  // For /proc/pid/maps, stat and status: the initial stack the loader mapped, [start, end),
  // with `start_stack` the stack pointer the program started with; the executable's location
  // (/proc/pid/exe follows it); and the brk area.
  void SetStack(uint64_t start, uint64_t end, uint64_t start_stack);
  struct StackInfo {
    uint64_t start = 0, end = 0, start_stack = 0;
  };
  StackInfo Stack();
  void SetExecutablePath(vfs::Path path);
  vfs::Path ExecutablePath();
  struct BrkInfo {
    uint64_t start = 0, brk = 0, mapped_end = 0;
  };
  BrkInfo GetBrk();

 private:
  absl::Mutex mu_;
  uint64_t brk_start_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t brk_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t brk_mapped_end_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, FileMapping> file_mappings_ ABSL_GUARDED_BY(mu_);
  ArgEnv argenv_ ABSL_GUARDED_BY(mu_);
  std::string executable_ ABSL_GUARDED_BY(mu_);
  std::string auxv_ ABSL_GUARDED_BY(mu_);
  RefPtr<vfs::Inode> exe_inode_ ABSL_GUARDED_BY(mu_);
  vfs::Path exe_path_ ABSL_GUARDED_BY(mu_);
  StackInfo stack_ ABSL_GUARDED_BY(mu_);
};

}  // namespace moat::mm

#endif  // MOAT_SENTRY_MM_MM_H_
