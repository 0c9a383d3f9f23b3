#pragma once
// Containment of the FastAGI server's user hooks (hooks.hpp): a hook that throws is caught where
// it runs (Asio thread or call actor), counted per server, logged rate-limited (the 1st, 2nd,
// 4th, 8th... throw of each hook kind) with the call id or the peer, and the connection or call
// goes on as if the hook had returned.
//
// Thread affinity: one hook_faults per server, shared by all its connections and calls;
// record() and the readers are thread-safe (relaxed atomics; the logger is thread-safe).
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

namespace astra::agi {
struct peer_address;
}

namespace astra::agi::detail {

enum class hook_kind : std::uint8_t { call_started, call_ended, command_completed, reply_received, connection_refused };
inline constexpr std::size_t hook_kind_count = 5;
const char* to_string(hook_kind kind) noexcept;

// What a hook ran for; only read when a throw is logged. The views must stay valid during the
// invocation.
struct hook_subject {
  std::uint64_t call_id = 0;           // 0: no call (a refused connection)
  std::string_view route;              // the call's route pattern; may be empty
  const peer_address* peer = nullptr;  // a refused connection's peer; may be null
};

class hook_faults {
 public:
  // Counts one throw of a `kind` hook (`error`: the caught exception) and logs it when it is
  // the 1st, 2nd, 4th, 8th... throw of that kind.
  void record(hook_kind kind, const hook_subject& who, std::exception_ptr error) noexcept;
  // Throws counted so far: all kinds / one kind.
  std::uint64_t total() const noexcept { return total_.load(std::memory_order_relaxed); }
  std::uint64_t count(hook_kind kind) const noexcept {
    return by_kind_[static_cast<std::size_t>(kind)].load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> total_{0};
  std::array<std::atomic<std::uint64_t>, hook_kind_count> by_kind_{};
};

// Calls `hook(args...)` if it is set. A throw is recorded in `faults` (when not null) and
// swallowed; never throws itself.
template <class Hook, class... Args>
void invoke_hook(const Hook& hook, hook_faults* faults, hook_kind kind, const hook_subject& who,
                 Args&&... args) noexcept {
  if (!hook) return;
  try {
    hook(std::forward<Args>(args)...);
  } catch (...) {
    if (faults) faults->record(kind, who, std::current_exception());
  }
}

// what() of the exception in `error`; "unknown exception" for one not derived from
// std::exception (and for a null `error`).
std::string describe(const std::exception_ptr& error);

}  // namespace astra::agi::detail
