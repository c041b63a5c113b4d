// Errno and Result<T>: how the sentry reports errors.
//
// In the sentry an errno is the error (STYLE.md): every handler returns the exact errno Linux would.
// Errno is a cheap value type; Result<T> holds either a T or an Errno, and TRY() propagates the
// error to the caller. The control plane (runsc, filter building) uses absl::Status instead and
// converts at the boundary.
#ifndef MOAT_BASE_ERRNO_H_
#define MOAT_BASE_ERRNO_H_

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace moat {

// Kernel-internal restart codes (include/linux/errno.h). They never reach the application: the
// syscall return path turns them into a restart or EINTR.
inline constexpr int kERESTARTSYS = 512;
inline constexpr int kERESTARTNOINTR = 513;
inline constexpr int kERESTARTNOHAND = 514;
inline constexpr int kERESTART_RESTARTBLOCK = 516;
// The handler has already set every register it wants (execve, rt_sigreturn): leave rax alone.
inline constexpr int kEJUSTRETURN = 1000;
// The host kernel is to run the trapped syscall itself, unchanged (exit, a host restart_syscall).
inline constexpr int kEHOSTSYSCALL = 1001;

class Errno {
 public:
  constexpr explicit Errno(int value) : value_(value) {}
  constexpr int value() const { return value_; }
  // "ENOENT", or "errno 1234" for a value without a name.
  std::string Name() const;
  // strerror-like description.
  std::string Describe() const;
  friend constexpr bool operator==(Errno a, Errno b) { return a.value_ == b.value_; }

 private:
  int value_;
};

// The errno of the last failed libc call, as an Errno.
inline Errno LastErrno() { return Errno(errno); }

// The name of errno value `value` ("EINVAL"), or nullptr.
const char* ErrnoName(int value);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design.
  Result(Errno e) : v_(e) {}                 // NOLINT
  bool ok() const { return v_.index() == 0; }
  Errno error() const { return std::get<1>(v_); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }
  T value_or(T other) const { return ok() ? value() : other; }

 private:
  std::variant<T, Errno> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() : err_(0) {}
  Result(Errno e) : err_(e) {}  // NOLINT
  bool ok() const { return err_.value() == 0; }
  Errno error() const { return err_; }
  void value() const {}

 private:
  Errno err_;
};

inline Result<void> Ok() { return Result<void>(); }

// A Result<long> from a raw libc return value: -1 means errno.
inline Result<long> FromSyscall(long r) {
  if (r < 0) return LastErrno();
  return r;
}

}  // namespace moat

// TRY(expr): evaluates a Result; returns its error from the enclosing function, or yields its value.
#define TRY(expr)                                              \
  ({                                                           \
    auto&& moat_try_result_ = (expr);                          \
    if (!moat_try_result_.ok()) return moat_try_result_.error(); \
    std::move(moat_try_result_).value();                       \
  })

// RETURN_IF_ERRNO(expr): for Result<void> expressions in statement position.
#define RETURN_IF_ERRNO(expr)                                  \
  do {                                                         \
    auto&& moat_try_result_ = (expr);                          \
    if (!moat_try_result_.ok()) return moat_try_result_.error(); \
  } while (0)

#endif  // MOAT_BASE_ERRNO_H_
