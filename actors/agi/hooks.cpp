#include "actors/agi/hooks.hpp"

#include <spdlog/spdlog.h>

#include "actors/agi/auth.hpp"
#include "actors/agi/detail/hook_guard.hpp"

namespace astra::agi {

const char* to_string(call_outcome o) noexcept {
  switch (o) {
    case call_outcome::completed: return "completed";
    case call_outcome::failed: return "failed";
    case call_outcome::exception: return "exception";
    case call_outcome::cut: return "cut";
    case call_outcome::timed_out: return "timed_out";
  }
  return "unknown";
}

const char* to_string(refusal r) noexcept {
  switch (r) {
    case refusal::capacity: return "capacity";
    case refusal::auth: return "auth";
    case refusal::auth_error: return "auth_error";
    case refusal::no_route: return "no_route";
    case refusal::shutting_down: return "shutting_down";
    case refusal::bad_environment: return "bad_environment";
    case refusal::env_timeout: return "env_timeout";
    case refusal::closed_early: return "closed_early";
  }
  return "unknown";
}

namespace detail {

const char* to_string(hook_kind kind) noexcept {
  switch (kind) {
    case hook_kind::call_started: return "call_started";
    case hook_kind::call_ended: return "call_ended";
    case hook_kind::command_completed: return "command_completed";
    case hook_kind::reply_received: return "reply_received";
    case hook_kind::connection_refused: return "connection_refused";
  }
  return "unknown";
}

std::string describe(const std::exception_ptr& error) {
  if (!error) return "unknown exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
  }
  return "unknown exception";
}

void hook_faults::record(hook_kind kind, const hook_subject& who, std::exception_ptr error) noexcept {
  total_.fetch_add(1, std::memory_order_relaxed);
  const auto n = by_kind_[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed) + 1;
  if ((n & (n - 1)) != 0) return;  // logged at 1, 2, 4, 8, ...: a hook throwing on every command stays quiet
  try {
    std::string subject;
    if (who.call_id != 0) {
      subject = "call " + std::to_string(who.call_id);
      if (!who.route.empty()) subject += " route " + std::string(who.route);
    } else if (who.peer) {
      subject = "peer " + who.peer->to_string();
    } else {
      subject = "no call";
    }
    spdlog::error("agi: {} hook threw ({}): {}; ignored ({} throw(s) of this hook so far, logged at 1, 2, 4, 8, ...)",
                  to_string(kind), subject, describe(error), n);
  } catch (...) {
    // Formatting or logging failed (out of memory): the throw is still counted.
  }
}

}  // namespace detail

}  // namespace astra::agi
