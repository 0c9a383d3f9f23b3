#pragma once
// Polling for tests that watch other threads: eventually(pred) calls `pred` every 2 ms until it
// holds or `timeout` passes, and returns its last value. Never used to assert timing.
#include <chrono>
#include <thread>

namespace astra::test {

template <class Predicate>
bool eventually(Predicate&& predicate, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return predicate();
}

}  // namespace astra::test
