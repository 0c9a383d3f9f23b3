#include "actors/agi/hooks.hpp"

namespace astra::agi {

const char* to_string(call_outcome o) noexcept {
  switch (o) {
    case call_outcome::completed: return "completed";
    case call_outcome::failed: return "failed";
    case call_outcome::exception: return "exception";
    case call_outcome::cut: return "cut";
  }
  return "unknown";
}

const char* to_string(refusal r) noexcept {
  switch (r) {
    case refusal::capacity: return "capacity";
    case refusal::auth: return "auth";
    case refusal::no_route: return "no_route";
    case refusal::shutting_down: return "shutting_down";
    case refusal::bad_environment: return "bad_environment";
    case refusal::env_timeout: return "env_timeout";
    case refusal::closed_early: return "closed_early";
  }
  return "unknown";
}

}  // namespace astra::agi
