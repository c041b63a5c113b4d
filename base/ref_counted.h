// Intrusive reference counting for shared kernel objects (tasks, mounts, dentries, open files).
//
// A class derives from RefCounted<T>; RefPtr<T> holds one reference. MakeRef<T>(args...) creates an
// object with one reference. A raw pointer member means "not owned".
#ifndef MOAT_BASE_REF_COUNTED_H_
#define MOAT_BASE_REF_COUNTED_H_

#include <atomic>
#include <cstdint>
#include <utility>

namespace moat {

template <typename T>
class RefCounted {
 public:
  RefCounted() = default;
  RefCounted(const RefCounted&) = delete;
  RefCounted& operator=(const RefCounted&) = delete;

  void IncRef() const { refs_.fetch_add(1, std::memory_order_relaxed); }
  void DecRef() const {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      static_cast<const T*>(this)->OnLastRef();
      delete static_cast<const T*>(this);
    }
  }
  // Takes a reference only while the object is alive (its count is not zero): for a holder of a
  // raw pointer that is told of the object's end under a lock of its own (epoll's interest
  // lists). Returns false if the object is already on its way out.
  bool TryIncRef() const {
    int64_t n = refs_.load(std::memory_order_relaxed);
    while (n > 0) {
      if (refs_.compare_exchange_weak(n, n + 1, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  int64_t RefCount() const { return refs_.load(std::memory_order_relaxed); }
  // Runs when the count reaches zero, before any destructor, while the object is still whole.
  // A class hides it with its own to learn of its end first (FileDescription tells epoll).
  void OnLastRef() const {}

 protected:
  ~RefCounted() = default;

 private:
  mutable std::atomic<int64_t> refs_{0};
};

template <typename T>
class RefPtr {
 public:
  RefPtr() = default;
  RefPtr(std::nullptr_t) {}  // NOLINT
  // Takes a new reference on `p`.
  explicit RefPtr(T* p) : p_(p) {
    if (p_) p_->IncRef();
  }
  RefPtr(const RefPtr& o) : RefPtr(o.p_) {}
  RefPtr(RefPtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  template <typename U>
  RefPtr(const RefPtr<U>& o) : RefPtr(o.get()) {}  // NOLINT: upcast.
  template <typename U>
  RefPtr(RefPtr<U>&& o) noexcept : p_(o.Leak()) {}  // NOLINT: upcast.
  ~RefPtr() {
    if (p_) p_->DecRef();
  }
  RefPtr& operator=(RefPtr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }

  T* get() const { return p_; }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }
  // Gives up the reference without dropping it.
  T* Leak() { return std::exchange(p_, nullptr); }
  void reset() { RefPtr().swap(*this); }
  void swap(RefPtr& o) noexcept { std::swap(p_, o.p_); }
  friend bool operator==(const RefPtr& a, const RefPtr& b) { return a.p_ == b.p_; }
  friend bool operator==(const RefPtr& a, std::nullptr_t) { return a.p_ == nullptr; }

 private:
  T* p_ = nullptr;
};

template <typename T, typename... Args>
RefPtr<T> MakeRef(Args&&... args) {
  return RefPtr<T>(new T(std::forward<Args>(args)...));
}

// A new reference to `p` if it is still alive (RefCounted::TryIncRef), else null.
template <typename T>
RefPtr<T> TryRef(T* p) {
  if (!p || !p->TryIncRef()) return nullptr;
  RefPtr<T> r(p);
  p->DecRef();  // the reference TryIncRef took; `r` holds its own
  return r;
}

// Casts a RefPtr down the class hierarchy (the caller knows the dynamic type).
template <typename T, typename U>
RefPtr<T> StaticRefCast(const RefPtr<U>& p) {
  return RefPtr<T>(static_cast<T*>(p.get()));
}

}  // namespace moat

#endif  // MOAT_BASE_REF_COUNTED_H_
