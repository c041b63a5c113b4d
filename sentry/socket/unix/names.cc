// AF_UNIX names: sockaddr_un parsing, the abstract namespace, the table of sockets bound to
// socket files, the lookup connect(2) and sendto(2) do, the registry of every endpoint and
// /proc/net/unix.
#include <sys/stat.h>

#include <cinttypes>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sentry/kernel/task.h"
#include "sentry/socket/unix/endpoint.h"
#include "sentry/socket/unix/unix.h"

namespace moat::sockets {
namespace unixsock {

namespace {

constexpr size_t kSunPathOffset = offsetof(sockaddr_un, sun_path);

// The sandbox's one network namespace: names in it, each with the endpoint bound to it. The
// entries are removed by Endpoint::Release while the file still holds the endpoint, so a
// lookup may take a reference under the lock.
struct Tables {
  absl::Mutex mu;
  // Abstract names are per socket type, as Linux hashes them: a stream and a datagram socket
  // may share one, and neither finds the other.
  std::map<std::pair<int, std::string>, Endpoint*> abstract ABSL_GUARDED_BY(mu);
  std::map<std::pair<uint64_t, uint64_t>, Endpoint*> inodes ABSL_GUARDED_BY(mu);
};

Tables& tables() {
  static Tables* t = new Tables;
  return *t;
}

struct Registry {
  absl::Mutex mu;
  std::set<Endpoint*> all ABSL_GUARDED_BY(mu);
};

Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

}  // namespace

SockAddr Name::ToSockAddr() const {
  SockAddr a;
  auto& un = *reinterpret_cast<sockaddr_un*>(&a.storage);
  un.sun_family = AF_UNIX;
  // sockaddr_storage has room past sun_path for a path of 108 bytes and its NUL.
  std::memcpy(un.sun_path, bytes.data(), bytes.size());
  a.len = kSunPathOffset + bytes.size() + (abstract() ? 0 : 1);
  return a;
}

SockAddr UnnamedAddress() {
  SockAddr a;
  a.storage.ss_family = AF_UNIX;
  a.len = sizeof(sa_family_t);
  return a;
}

Result<Name> ParseAddress(const SockAddr& addr) {
  if (addr.len <= kSunPathOffset || addr.len > sizeof(sockaddr_un)) return Errno(EINVAL);
  if (addr.family() != AF_UNIX) return Errno(EINVAL);
  const auto& un = addr.as<sockaddr_un>();
  size_t n = addr.len - kSunPathOffset;
  Name name;
  if (un.sun_path[0] == '\0') {
    name.bytes.assign(un.sun_path, n);
  } else {
    name.bytes.assign(un.sun_path, strnlen(un.sun_path, n));
  }
  return name;
}

Result<void> BindAbstract(Endpoint* ep, const std::string& bytes) {
  Tables& t = tables();
  absl::MutexLock l(&t.mu);
  if (!t.abstract.emplace(std::make_pair(ep->type, bytes), ep).second) return Errno(EADDRINUSE);
  return Ok();
}

Result<Name> BindAutomatic(Endpoint* ep) {
  // Linux starts at a random number and walks the 2^20 names from there.
  static std::atomic<uint32_t> seed{std::random_device{}()};
  uint32_t n = seed.fetch_add(0x9e3779b9u, std::memory_order_relaxed) & 0xFFFFF;
  Tables& t = tables();
  absl::MutexLock l(&t.mu);
  for (uint32_t tries = 0; tries <= 0xFFFFF; tries++) {
    n = (n + 1) & 0xFFFFF;
    Name name;
    name.bytes = absl::StrFormat("%c%05x", '\0', n);
    if (t.abstract.emplace(std::make_pair(ep->type, name.bytes), ep).second) return name;
  }
  return Errno(ENOSPC);
}

void BindInode(Endpoint* ep, std::pair<uint64_t, uint64_t> key) {
  Tables& t = tables();
  absl::MutexLock l(&t.mu);
  t.inodes[key] = ep;
}

void Unbind(Endpoint* ep, const Name& name, std::pair<uint64_t, uint64_t> key) {
  Tables& t = tables();
  absl::MutexLock l(&t.mu);
  if (name.abstract()) {
    auto it = t.abstract.find(std::make_pair(ep->type, name.bytes));
    if (it != t.abstract.end() && it->second == ep) t.abstract.erase(it);
  } else {
    auto it = t.inodes.find(key);
    if (it != t.inodes.end() && it->second == ep) t.inodes.erase(it);
  }
}

Result<RefPtr<Endpoint>> FindEndpoint(Task& task, const Name& name, int type) {
  RefPtr<Endpoint> found;
  if (name.abstract()) {
    Tables& t = tables();
    absl::MutexLock l(&t.mu);
    auto it = t.abstract.find(std::make_pair(type, name.bytes));
    if (it == t.abstract.end()) return Errno(ECONNREFUSED);
    found = RefPtr<Endpoint>(it->second);
  } else {
    // unix_find_bsd: the path is followed to the end; the caller needs write permission on
    // the socket file.
    vfs::Path p = TRY(task.ResolveAt(AT_FDCWD, name.bytes, 0));
    vfs::Stat st = TRY(p.dentry->inode()->GetStat());
    TRY(vfs::CheckPermission(*task.creds(), st, W_OK));
    if (!S_ISSOCK(st.mode)) return Errno(ECONNREFUSED);
    Tables& t = tables();
    absl::MutexLock l(&t.mu);
    auto it = t.inodes.find({st.dev, st.ino});
    if (it == t.inodes.end()) return Errno(ECONNREFUSED);
    found = RefPtr<Endpoint>(it->second);
  }
  if (found->type != type) return Errno(EPROTOTYPE);
  return found;
}

void Register(Endpoint* ep) {
  Registry& r = registry();
  absl::MutexLock l(&r.mu);
  r.all.insert(ep);
}

void Unregister(Endpoint* ep) {
  Registry& r = registry();
  absl::MutexLock l(&r.mu);
  r.all.erase(ep);
}

void ForEachEndpoint(const std::function<void(Endpoint&)>& fn) {
  // The endpoints are visited with the registry unlocked: an endpoint dropped under another
  // one's lock unregisters itself, so the registry's lock may not be held around theirs.
  std::vector<RefPtr<Endpoint>> all;
  {
    Registry& r = registry();
    absl::MutexLock l(&r.mu);
    all.reserve(r.all.size());
    for (Endpoint* ep : r.all) {
      if (ep->TryIncRef()) {
        all.emplace_back(ep);
        ep->DecRef();
      }
    }
  }
  for (const RefPtr<Endpoint>& ep : all) fn(*ep);
}

}  // namespace unixsock

std::string ProcNetUnix() {
  using unixsock::Endpoint;
  using unixsock::State;
  std::string out = "Num       RefCount Protocol Flags    Type St Inode Path\n";
  unixsock::ForEachEndpoint([&](Endpoint& ep) {
    absl::MutexLock l(&ep.mu);
    if (ep.dead) return;
    // The kernel address is hidden (kptr_restrict), as an unprivileged reader sees it.
    constexpr int kAcceptCon = 1 << 16;  // __SO_ACCEPTCON
    constexpr int kUnconnected = 1, kConnecting = 2, kConnected = 3;  // SS_*
    uint64_t ino = ep.ino.load();
    bool connected = ep.state == State::kConnected;
    int st = ino ? (connected ? kConnected : kUnconnected) : (connected ? kConnecting : 4);
    // The count leaves out the reference this walk holds.
    absl::StrAppendFormat(&out, "%016x: %08X %08X %08X %04X %02X %5u", 0, ep.RefCount() - 1, 0,
                          ep.state == State::kListening ? kAcceptCon : 0, ep.type, st, ino);
    if (ep.name) {
      const std::string& b = ep.name->bytes;
      out += ' ';
      for (char c : b) out += c ? c : '@';
    }
    out += '\n';
  });
  return out;
}

}  // namespace moat::sockets
