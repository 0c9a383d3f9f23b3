#pragma once
// Capped exponential backoff with jitter, shared by every reconnecting upstream
// (AMI sessions, ARI event sockets). Not thread-safe: owned by one actor.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace astra {

struct backoff_policy {
  std::chrono::milliseconds initial{500};   // delay before the first retry
  std::chrono::milliseconds max{30'000};    // cap on any delay
  double multiplier = 2.0;                  // growth per failed attempt
  double jitter = 0.2;                      // +/- fraction of the delay, in [0, 1]
};

class backoff {
 public:
  explicit backoff(backoff_policy policy = {}, std::uint64_t seed = std::random_device{}())
      : policy_(policy), rng_(seed) {}

  // Delay before the next attempt; grows geometrically up to the cap, then jitters
  // uniformly in [d*(1-jitter), d*(1+jitter)], never above the cap.
  std::chrono::milliseconds next() {
    double base = static_cast<double>(policy_.initial.count());
    for (unsigned i = 0; i < attempts_ && base < policy_.max.count(); ++i) base *= policy_.multiplier;
    base = std::min(base, static_cast<double>(policy_.max.count()));
    ++attempts_;
    double j = std::clamp(policy_.jitter, 0.0, 1.0);
    std::uniform_real_distribution<double> dist(base * (1.0 - j), base * (1.0 + j));
    double d = std::min(dist(rng_), static_cast<double>(policy_.max.count()));
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(d, 0.0)));
  }

  void reset() noexcept { attempts_ = 0; }
  unsigned attempts() const noexcept { return attempts_; }
  const backoff_policy& policy() const noexcept { return policy_; }

 private:
  backoff_policy policy_;
  std::mt19937_64 rng_;
  unsigned attempts_ = 0;
};

}  // namespace astra
