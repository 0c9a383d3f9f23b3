#pragma once
// Errors as values for the whole code base: a result<T> holds either a T or a failure
// (an std::error_code plus the peer's or user's own words, e.g. Asterisk's "Message:").
#include <cassert>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace astra {

struct failure {
  std::error_code code;
  std::string detail;  // human-readable specifics; may be empty

  // "<category>: <code message>[: detail]"
  std::string message() const {
    std::string text = code.message();
    if (!detail.empty()) text += ": " + detail;
    return text;
  }
  friend bool operator==(const failure& f, std::error_code ec) { return f.code == ec; }
};

template <class T>
class [[nodiscard]] result {
 public:
  using value_type = T;
  result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  result(failure f) : state_(std::in_place_index<1>, std::move(f)) {}
  result(std::error_code ec, std::string detail = {})
      : state_(std::in_place_index<1>, failure{ec, std::move(detail)}) {}

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  // On a failure these throw the failure (astra::failure, by value): straight-line handler
  // code may write `auto b = (co_await ari.create_bridge()).value();` and a failed step ends
  // its call as failed. Check ok() first where a failure is expected.
  T& value() & { throw_if_failed(); return std::get<0>(state_); }
  const T& value() const& { throw_if_failed(); return std::get<0>(state_); }
  T&& value() && { throw_if_failed(); return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const failure& error() const { assert(!ok()); return std::get<1>(state_); }
  std::error_code code() const noexcept { return ok() ? std::error_code{} : std::get<1>(state_).code; }

 private:
  void throw_if_failed() const {
    if (!ok()) throw std::get<1>(state_);
  }
  std::variant<T, failure> state_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  result() = default;
  result(failure f) : failure_(std::move(f)), failed_(true) {}
  result(std::error_code ec, std::string detail = {}) : failure_{ec, std::move(detail)}, failed_(static_cast<bool>(ec)) {}

  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  void value() const { if (failed_) throw failure_; }  // throws the failure, as result<T>::value()
  const failure& error() const { assert(!ok()); return failure_; }
  std::error_code code() const noexcept { return failed_ ? failure_.code : std::error_code{}; }

 private:
  failure failure_{};
  bool failed_ = false;
};

}  // namespace astra
