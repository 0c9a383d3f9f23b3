#pragma once
// Bounds the messages in flight to one consumer actor, in messages and in bytes. CAF 0.17
// mailboxes are unbounded, so a producer (an Asio reader, a session actor) takes a credit
// before each send and the consumer returns it after handling the message.
//   try_acquire(): when no credit is left the message is refused and the refusal counted as
//                  a drop (policy drop_newest, the caller discards the message).
//   try_reserve(): the same without counting: the caller applies another policy (keeps the
//                  message in a backlog, pauses its reader) and counts what it finally drops
//                  with count_drops().
// A message larger than the byte capacity still passes when nothing is in flight, so one
// oversized-but-legal message cannot block a queue forever; the byte bound is then exceeded
// by at most that one message.
// Room notification: a producer that holds messages back calls arm_room_callback(); the
// next release() then calls the room callback once (on the releasing thread: it must only
// hand over, e.g. anon_send). Thread-safe.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>

namespace astra {

class inflight_bound {
 public:
  inflight_bound(std::string queue_name, std::size_t capacity,
                 std::size_t capacity_bytes = std::numeric_limits<std::size_t>::max())
      : name_(std::move(queue_name)), capacity_(capacity), capacity_bytes_(capacity_bytes) {}

  // Producer side: true if the message may be sent; false means it was dropped and counted.
  bool try_acquire(std::size_t bytes = 0) noexcept {
    if (try_reserve(bytes)) return true;
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  // Producer side: true if the message may be sent; false leaves the decision (and the drop
  // count, if it drops) to the caller.
  bool try_reserve(std::size_t bytes = 0) noexcept {
    std::size_t cur = in_flight_.load(std::memory_order_relaxed);
    for (;;) {
      if (cur >= capacity_) return false;
      if (cur > 0 && bytes_in_flight_.load(std::memory_order_relaxed) + bytes > capacity_bytes_) return false;
      if (in_flight_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel)) break;
    }
    bytes_in_flight_.fetch_add(bytes, std::memory_order_relaxed);
    delivered_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  // Consumer side: one message of `bytes` (as acquired) handled or discarded.
  void release(std::size_t bytes = 0) noexcept {
    bytes_in_flight_.fetch_sub(bytes, std::memory_order_relaxed);
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    if (room_armed_.load(std::memory_order_acquire) && room_armed_.exchange(false, std::memory_order_acq_rel) &&
        on_room_)
      on_room_();
  }

  // Consumer side: `count` messages of `bytes` in all handled or discarded.
  void release_many(std::size_t count, std::size_t bytes) noexcept {
    if (count == 0) return;
    bytes_in_flight_.fetch_sub(bytes, std::memory_order_relaxed);
    in_flight_.fetch_sub(count, std::memory_order_acq_rel);
    if (room_armed_.load(std::memory_order_acquire) && room_armed_.exchange(false, std::memory_order_acq_rel) &&
        on_room_)
      on_room_();
  }

  // Set once, before the bound is shared with the consumer.
  void set_room_callback(std::function<void()> on_room) { on_room_ = std::move(on_room); }
  // The next release() calls the room callback once. After arming, a producer must try
  // again once (a release may have happened just before the arming).
  void arm_room_callback() noexcept { room_armed_.store(true, std::memory_order_release); }
  void disarm_room_callback() noexcept { room_armed_.store(false, std::memory_order_release); }

  void count_drops(std::uint64_t n) noexcept { dropped_.fetch_add(n, std::memory_order_relaxed); }

  bool full() const noexcept {
    const std::size_t n = in_flight_.load(std::memory_order_relaxed);
    return n >= capacity_ || (n > 0 && bytes_in_flight_.load(std::memory_order_relaxed) >= capacity_bytes_);
  }
  const std::string& name() const noexcept { return name_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t capacity_bytes() const noexcept { return capacity_bytes_; }
  std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
  std::size_t bytes_in_flight() const noexcept { return bytes_in_flight_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t delivered() const noexcept { return delivered_.load(std::memory_order_relaxed); }

 private:
  std::string name_;
  std::size_t capacity_;
  std::size_t capacity_bytes_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::size_t> bytes_in_flight_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<bool> room_armed_{false};
  std::function<void()> on_room_;
};

using inflight_bound_ptr = std::shared_ptr<inflight_bound>;

}  // namespace astra
