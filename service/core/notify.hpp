#pragma once
// notify_each: runs every lifecycle hook of a list (registrations::lifecycle) with the same
// arguments. A hook is user code: what it throws is caught and logged once per call with the
// hook's name, and the next hook still runs. Thread affinity: the caller's.
#include <exception>
#include <string>

#include <spdlog/spdlog.h>

namespace astra::runtime {

template <class Hooks, class... Args>
void notify_each(const Hooks& hooks, const char* hook_name, const Args&... args) noexcept {
  for (const auto& hook : hooks) {
    try {
      hook(args...);
    } catch (const std::exception& e) {
      spdlog::error("lifecycle hook {} threw: {}", hook_name, e.what());
    } catch (...) {
      spdlog::error("lifecycle hook {} threw a non-standard exception", hook_name);
    }
  }
}

}  // namespace astra::runtime
