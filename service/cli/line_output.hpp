#pragma once
// Buffered line output for the event tails (`astra ami watch`, `astra ari watch`): producers
// append whole lines to a memory buffer under a lock; a flusher thread of its own writes the
// buffer to a file descriptor in large write(2) calls.
//
// Contract:
//  - append(fill) runs fill(out_buffer&) under the lock; fill appends whole lines only. Every
//    byte appended is written, in append order, unless the output failed.
//  - When bytes reach the descriptor (one write(2) per flush, possibly split by the kernel):
//      * when the producers go idle: no append during idle_gap (1 ms) after the last one;
//      * at the latest max_delay (50 ms) after the oldest byte still waiting was appended;
//      * as soon as flush_bytes (256 KiB) are waiting;
//      * at close() (and destruction): everything appended before it.
//    So a quiet stream is printed within about a millisecond, a busy one in big writes.
//  - Backpressure, never loss: while max_buffered bytes (4 MiB) wait because the descriptor
//    is slower than the producers, append() blocks until the flusher has taken them.
//  - A write error (EPIPE: the reader went away; ENOSPC, ...) makes failed() true: bytes still
//    waiting and later appends are discarded, append() returns false.
//  - Threads: append() from any thread; close() from a thread that is not inside append().
//    Costs per append: one uncontended lock; the flusher is woken only when the buffer turns
//    non-empty or passes flush_bytes, and otherwise sleeps in idle_gap steps while bytes wait.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

namespace astra::cli {

// Growable byte buffer without zero-filling; owned by one thread at a time.
class out_buffer {
 public:
  explicit out_buffer(std::size_t capacity = 1 << 16) : data_(new char[capacity]), capacity_(capacity) {}
  // Room for `extra` more bytes; returns the write position (valid until the next reserve).
  char* reserve(std::size_t extra) {
    if (size_ + extra > capacity_) grow(size_ + extra);
    return data_.get() + size_;
  }
  // Marks the bytes up to `end` (a pointer from reserve() plus what was written) as used.
  void commit(char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }
  void push_back(char c) { *reserve(1) = c, ++size_; }
  void append(std::string_view s) {
    std::memcpy(reserve(s.size()), s.data(), s.size());
    size_ += s.size();
  }
  std::string_view view() const { return {data_.get(), size_}; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }

 private:
  void grow(std::size_t need);

  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t size_ = 0;
};

// Writes all of `data` to fd (waits on EAGAIN, retries EINTR); false on a write error.
bool write_all(int fd, std::string_view data);

class line_output {
 public:
  struct limits {
    std::size_t flush_bytes = 256 * 1024;    // waiting bytes that trigger a flush at once
    std::size_t max_buffered = 4 << 20;      // waiting bytes beyond which append() blocks
    std::chrono::milliseconds max_delay{50};  // longest time a byte waits while appends go on
    std::chrono::microseconds idle_gap{1000};  // a pause this long counts as idle: flush
  };

  // Starts the flusher thread; `fd` stays owned by the caller and open until close() returns.
  explicit line_output(int fd) : line_output(fd, limits{}) {}
  line_output(int fd, limits l);
  ~line_output();  // close()
  line_output(const line_output&) = delete;
  line_output& operator=(const line_output&) = delete;

  // Runs fill(out_buffer&) under the lock (see the contract). False if the output failed or
  // was closed; fill did not run then.
  template <class Fill>
  bool append(Fill&& fill) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (pending_.size() >= limits_.max_buffered)
      room_.wait(lock, [&] { return pending_.size() < limits_.max_buffered || failed_ || closed_; });
    if (failed_ || closed_) return false;
    const bool was_empty = pending_.empty();
    fill(pending_);
    appended(was_empty);
    return true;
  }

  // Writes everything appended so far and stops the flusher; idempotent. Returns !failed().
  bool close();
  bool failed() const;

 private:
  enum class flusher_state { waiting_for_data, lingering, writing };
  void appended(bool was_empty);  // under the lock
  void run();

  const int fd_;
  const limits limits_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the flusher: data, flush_bytes reached, close
  std::condition_variable room_;  // producers: pending_ below max_buffered again
  out_buffer pending_;            // appended, not yet taken by the flusher
  out_buffer writing_;            // the flusher's (no lock needed while it writes)
  std::uint64_t appends_ = 0;
  std::chrono::steady_clock::time_point oldest_;  // when pending_ last turned non-empty
  flusher_state state_ = flusher_state::writing;
  bool nudged_ = false;  // flush_bytes wake-up sent for the current lingering
  bool closed_ = false;
  bool failed_ = false;
  std::thread flusher_;
};

}  // namespace astra::cli
