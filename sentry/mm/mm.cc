#include "sentry/mm/mm.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"
#include "sentry/vfs/vfs.h"

namespace moat::mm {

MemoryManager::~MemoryManager() {
  if (exe_inode_) exe_inode_->RemoveExecutor();
}

void MemoryManager::SetExecutableInode(RefPtr<vfs::Inode> inode) {
  absl::MutexLock l(&mu_);
  if (inode) inode->AddExecutor();
  if (exe_inode_) exe_inode_->RemoveExecutor();
  exe_inode_ = std::move(inode);
}

RefPtr<MemoryManager> MemoryManager::Fork() {
  auto m = MakeRef<MemoryManager>();
  absl::MutexLock l(&mu_);
  m->brk_start_ = brk_start_;
  m->brk_ = brk_;
  m->brk_mapped_end_ = brk_mapped_end_;
  m->file_mappings_ = file_mappings_;
  m->argenv_ = argenv_;
  m->executable_ = executable_;
  m->auxv_ = auxv_;
  m->exe_path_ = exe_path_;
  m->stack_ = stack_;
  if (exe_inode_) exe_inode_->AddExecutor();
  m->exe_inode_ = exe_inode_;
  return m;
}

void MemoryManager::SetBrkStart(uint64_t start) {
  absl::MutexLock l(&mu_);
  brk_start_ = brk_ = brk_mapped_end_ = UserAddr(start).RoundUp(kPageSize).value();
}

uint64_t MemoryManager::Brk(kernel::Task& task, uint64_t addr) {
  absl::MutexLock l(&mu_);
  if (addr < brk_start_ || addr > kMaxUserAddress) return brk_;
  rlimit data = task.thread_group().GetRlimit(RLIMIT_DATA);
  if (data.rlim_cur != RLIM_INFINITY && addr - brk_start_ > data.rlim_cur) return brk_;
  uint64_t new_end = UserAddr(addr).RoundUp(kPageSize).value();
  if (new_end > brk_mapped_end_) {
    // MAP_FIXED_NOREPLACE: the heap must not grow over another mapping (Linux's brk fails too).
    Result<long> r = task.context().Inject(
        SYS_mmap, {brk_mapped_end_, new_end - brk_mapped_end_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, static_cast<uint64_t>(-1),
                   0});
    if (!r.ok() || *r < 0 || static_cast<uint64_t>(*r) != brk_mapped_end_) {
      if (r.ok() && *r >= 0) {
        (void)task.context().Inject(SYS_munmap, {static_cast<uint64_t>(*r),
                                                 new_end - brk_mapped_end_, 0, 0, 0, 0});
      }
      return brk_;
    }
  } else if (new_end < brk_mapped_end_) {
    Result<long> r =
        task.context().Inject(SYS_munmap, {new_end, brk_mapped_end_ - new_end, 0, 0, 0, 0});
    if (!r.ok() || *r < 0) return brk_;
  }
  brk_mapped_end_ = new_end;
  brk_ = addr;
  return brk_;
}

void MemoryManager::AddFileMapping(uint64_t start, const FileMapping& m) {
  RemoveFileMappings(start, m.end);
  absl::MutexLock l(&mu_);
  file_mappings_[start] = m;
}

void MemoryManager::RemoveFileMappings(uint64_t start, uint64_t end) {
  absl::MutexLock l(&mu_);
  std::map<uint64_t, FileMapping> keep;
  for (auto& [s, m] : file_mappings_) {
    if (m.end <= start || s >= end) {
      keep.emplace(s, m);
      continue;
    }
    // Keep the parts outside [start, end).
    if (s < start) {
      FileMapping left = m;
      left.end = start;
      keep.emplace(s, left);
    }
    if (m.end > end) {
      FileMapping right = m;
      right.offset += end - s;
      keep.emplace(end, right);
    }
  }
  file_mappings_ = std::move(keep);
}

std::map<uint64_t, FileMapping> MemoryManager::FileMappings() {
  absl::MutexLock l(&mu_);
  return file_mappings_;
}

void MemoryManager::SetArgEnv(uint64_t arg_start, uint64_t arg_end, uint64_t env_start,
                              uint64_t env_end) {
  absl::MutexLock l(&mu_);
  argenv_ = {arg_start, arg_end, env_start, env_end};
}

MemoryManager::ArgEnv MemoryManager::GetArgEnv() {
  absl::MutexLock l(&mu_);
  return argenv_;
}

void MemoryManager::SetExecutable(std::string path) {
  absl::MutexLock l(&mu_);
  executable_ = std::move(path);
}

std::string MemoryManager::executable() {
  absl::MutexLock l(&mu_);
  return executable_;
}

void MemoryManager::SetAuxv(std::string auxv) {
  absl::MutexLock l(&mu_);
  auxv_ = std::move(auxv);
}

std::string MemoryManager::auxv() {
  absl::MutexLock l(&mu_);
  return auxv_;
}

}  // namespace moat::mm

namespace moat::mm {

void MemoryManager::SetStack(uint64_t start, uint64_t end, uint64_t start_stack) {
  absl::MutexLock l(&mu_);
  stack_ = {start, end, start_stack};
}

MemoryManager::StackInfo MemoryManager::Stack() {
  absl::MutexLock l(&mu_);
  return stack_;
}

void MemoryManager::SetExecutablePath(vfs::Path path) {
  absl::MutexLock l(&mu_);
  std::swap(exe_path_, path);
}

vfs::Path MemoryManager::ExecutablePath() {
  absl::MutexLock l(&mu_);
  return exe_path_;
}

MemoryManager::BrkInfo MemoryManager::GetBrk() {
  absl::MutexLock l(&mu_);
  return {brk_start_, brk_, brk_mapped_end_};
}

}  // namespace moat::mm
