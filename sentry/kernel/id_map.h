// IdMap: a user namespace's uid or gid mapping (user_namespaces(7)): which host ids the sandbox's
// ids stand for. The sandbox's credentials, files and permission checks all use the container's
// own ids; the mapping is applied where ids cross to the host (the gofer client: file owners
// read from and written to host files) and shown in /proc/<pid>/uid_map and gid_map.
//
// An IdMap is a value, immutable once made; copies are cheap enough to hand around.
#ifndef MOAT_SENTRY_KERNEL_ID_MAP_H_
#define MOAT_SENTRY_KERNEL_ID_MAP_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace moat::kernel {

class IdMap {
 public:
  struct Range {
    uint32_t inside;   // first id in the sandbox
    uint32_t outside;  // the host id it is
    uint32_t count;
  };
  // The id Linux shows for a host id that is not mapped (/proc/sys/kernel/overflowuid).
  static constexpr uint32_t kOverflowId = 65534;

  // The identity over the whole id range: the sandbox's ids are the host's (no user namespace
  // in the config).
  IdMap() : ranges_{{0, 0, 4294967295u}} {}
  // `ranges` as config.json's uidMappings or gidMappings give them.
  explicit IdMap(std::vector<Range> ranges) : ranges_(std::move(ranges)) {}

  // The sandbox's id for host id `outside`, or nothing if it is not mapped.
  std::optional<uint32_t> ToInside(uint32_t outside) const {
    for (const Range& r : ranges_) {
      if (outside >= r.outside && outside - r.outside < r.count) return r.inside + (outside - r.outside);
    }
    return std::nullopt;
  }
  // The sandbox's id for host id `outside`, the overflow id if it is not mapped (what stat
  // shows for a file of an unmapped owner).
  uint32_t ToInsideOrOverflow(uint32_t outside) const {
    return ToInside(outside).value_or(kOverflowId);
  }
  // The host id for the sandbox's id `inside`, or nothing if it is not mapped.
  std::optional<uint32_t> ToOutside(uint32_t inside) const {
    for (const Range& r : ranges_) {
      if (inside >= r.inside && inside - r.inside < r.count) return r.outside + (inside - r.inside);
    }
    return std::nullopt;
  }
  bool identity() const {
    return ranges_.size() == 1 && ranges_[0].inside == 0 && ranges_[0].outside == 0 &&
           ranges_[0].count == 4294967295u;
  }
  // /proc/<pid>/uid_map's text: one "%10u %10u %10u\n" line per range.
  std::string ProcText() const {
    std::string out;
    for (const Range& r : ranges_) {
      char line[40];
      snprintf(line, sizeof(line), "%10u %10u %10u\n", r.inside, r.outside, r.count);
      out += line;
    }
    return out;
  }
  const std::vector<Range>& ranges() const { return ranges_; }

 private:
  std::vector<Range> ranges_;
};

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_ID_MAP_H_
