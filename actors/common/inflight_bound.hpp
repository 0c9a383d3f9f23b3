#pragma once
// Bounds the messages in flight to one consumer actor. CAF 0.17 mailboxes are unbounded,
// so a producer (an Asio reader, a session actor) takes a credit before each send and the
// consumer returns it after handling the message. When no credit is left the producer
// drops the message and the drop is counted (policy: drop newest). Thread-safe.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace astra {

class inflight_bound {
 public:
  inflight_bound(std::string queue_name, std::size_t capacity)
      : name_(std::move(queue_name)), capacity_(capacity) {}

  // Producer side: true if the message may be sent; false means it was dropped and counted.
  bool try_acquire() noexcept {
    std::size_t cur = in_flight_.load(std::memory_order_relaxed);
    while (cur < capacity_) {
      if (in_flight_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel)) {
        delivered_.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
    }
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  // Consumer side: one message handled (or discarded) by the consumer.
  void release() noexcept { in_flight_.fetch_sub(1, std::memory_order_acq_rel); }

  const std::string& name() const noexcept { return name_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t delivered() const noexcept { return delivered_.load(std::memory_order_relaxed); }

 private:
  std::string name_;
  std::size_t capacity_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> delivered_{0};
};

using inflight_bound_ptr = std::shared_ptr<inflight_bound>;

}  // namespace astra
