// UserAddr: an address in the application's address space. It cannot be dereferenced; data crosses
// only through the task's CopyIn / CopyOut, which return EFAULT on a bad address.
#ifndef MOAT_BASE_USER_ADDR_H_
#define MOAT_BASE_USER_ADDR_H_

#include <cstdint>

namespace moat {

class UserAddr {
 public:
  constexpr UserAddr() = default;
  constexpr explicit UserAddr(uint64_t v) : v_(v) {}
  constexpr uint64_t value() const { return v_; }
  constexpr bool IsNull() const { return v_ == 0; }
  constexpr UserAddr operator+(uint64_t off) const { return UserAddr(v_ + off); }
  constexpr UserAddr operator-(uint64_t off) const { return UserAddr(v_ - off); }
  constexpr friend bool operator==(UserAddr a, UserAddr b) { return a.v_ == b.v_; }
  constexpr friend auto operator<=>(UserAddr a, UserAddr b) { return a.v_ <=> b.v_; }
  // Rounds down / up to `align` (a power of two).
  constexpr UserAddr RoundDown(uint64_t align) const { return UserAddr(v_ & ~(align - 1)); }
  constexpr UserAddr RoundUp(uint64_t align) const {
    return UserAddr((v_ + align - 1) & ~(align - 1));
  }

 private:
  uint64_t v_ = 0;
};

inline constexpr uint64_t kPageSize = 4096;
// The highest user address + 1 on x86-64 with 4-level paging.
inline constexpr uint64_t kMaxUserAddress = 0x7ffffffff000ULL;

}  // namespace moat

#endif  // MOAT_BASE_USER_ADDR_H_
