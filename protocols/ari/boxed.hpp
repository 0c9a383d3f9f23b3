#pragma once
// boxed<T>: an optional value stored on the heap, with value semantics (deep copy) and the
// std::optional interface used by the generated models (has_value, *, ->, emplace, reset).
// Used for optional nested models so that events carrying many optional Channels/Bridges
// (BridgeAttendedTransfer, ...) stay small: sizeof(boxed<T>) == sizeof(void*).
#include <cassert>
#include <memory>
#include <optional>
#include <utility>

namespace astra::ari {

template <class T>
class boxed {
 public:
  using value_type = T;
  boxed() noexcept = default;
  boxed(std::nullopt_t) noexcept {}
  boxed(const T& v) : p_(std::make_unique<T>(v)) {}
  boxed(T&& v) : p_(std::make_unique<T>(std::move(v))) {}
  boxed(const boxed& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  boxed(boxed&&) noexcept = default;
  boxed& operator=(const boxed& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  boxed& operator=(boxed&&) noexcept = default;
  boxed& operator=(std::nullopt_t) noexcept { p_.reset(); return *this; }
  boxed& operator=(const T& v) { emplace(v); return *this; }
  boxed& operator=(T&& v) { emplace(std::move(v)); return *this; }

  bool has_value() const noexcept { return p_ != nullptr; }
  explicit operator bool() const noexcept { return has_value(); }
  T& operator*() noexcept { assert(p_); return *p_; }
  const T& operator*() const noexcept { assert(p_); return *p_; }
  T* operator->() noexcept { assert(p_); return p_.get(); }
  const T* operator->() const noexcept { assert(p_); return p_.get(); }
  T& value() noexcept { return **this; }
  const T& value() const noexcept { return **this; }
  template <class... A>
  T& emplace(A&&... args) {
    p_ = std::make_unique<T>(std::forward<A>(args)...);
    return *p_;
  }
  void reset() noexcept { p_.reset(); }

 private:
  std::unique_ptr<T> p_;
};

}  // namespace astra::ari
