#include "service/cli/line_output.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace astra::cli {

void out_buffer::grow(std::size_t need) {
  std::size_t cap = std::max(capacity_ * 2, need);
  std::unique_ptr<char[]> bigger(new char[cap]);
  std::memcpy(bigger.get(), data_.get(), size_);
  data_ = std::move(bigger);
  capacity_ = cap;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {  // a non-blocking descriptor (inherited)
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, -1);
        continue;
      }
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

line_output::line_output(int fd, limits l)
    : fd_(fd), limits_(l), pending_(l.flush_bytes * 2), writing_(l.flush_bytes * 2) {
  flusher_ = std::thread([this] { run(); });
}

line_output::~line_output() { close(); }

void line_output::appended(bool was_empty) {
  ++appends_;
  if (pending_.empty()) return;
  if (was_empty) oldest_ = std::chrono::steady_clock::now();
  if (state_ == flusher_state::waiting_for_data) {
    wake_.notify_one();
  } else if (state_ == flusher_state::lingering && !nudged_ && pending_.size() >= limits_.flush_bytes) {
    nudged_ = true;
    wake_.notify_one();
  }
}

void line_output::run() {
  using clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    state_ = flusher_state::waiting_for_data;
    wake_.wait(lock, [&] { return !pending_.empty() || closed_; });
    if (pending_.empty()) break;  // closed, everything written
    if (!closed_ && !failed_ && pending_.size() < limits_.flush_bytes) {
      // Linger while appends go on: until an idle gap, flush_bytes, max_delay or close.
      state_ = flusher_state::lingering;
      nudged_ = false;
      const auto latest = oldest_ + limits_.max_delay;
      for (;;) {
        const auto now = clock::now();
        if (now >= latest) break;
        const std::uint64_t seen = appends_;
        if (wake_.wait_until(lock, std::min(now + limits_.idle_gap, latest),
                             [&] { return closed_ || pending_.size() >= limits_.flush_bytes; }))
          break;
        if (appends_ == seen) break;  // idle for a whole gap
      }
    }
    state_ = flusher_state::writing;
    std::swap(pending_, writing_);
    room_.notify_all();
    const bool discard = failed_;
    lock.unlock();
    const bool ok = discard || write_all(fd_, writing_.view());
    writing_.clear();
    lock.lock();
    if (!ok) {
      failed_ = true;
      pending_.clear();
      room_.notify_all();
    }
  }
}

bool line_output::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    wake_.notify_all();
    room_.notify_all();
  }
  if (flusher_.joinable()) flusher_.join();
  return !failed();
}

bool line_output::failed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failed_;
}

}  // namespace astra::cli
