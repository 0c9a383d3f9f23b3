// The FastAGI connection's receive (socket_reader.hpp): one recvmmsg per readiness, inside
// Asio's reactor.
#include "actors/agi/detail/socket_reader.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include <boost/asio/dispatch.hpp>

namespace astra::agi::detail {

asio::detail::reactor& reactor_of(asio::io_context& io) { return asio::use_service<asio::detail::reactor>(io); }

// Three receives in one system call (recvmmsg): the first into the inline buffer, the others
// into scratch buffers. For a stream socket the kernel goes on to the next receive only after
// the previous one, so the last receive made tells what a short read cannot: EAGAIN (the
// socket is drained: the reactor may wait for the next edge), 0 bytes (the peer closed after
// the data: the next read, attempted at once, reports it), or more data (read on into the
// spill buffer). A short read alone would not do: a FIN that arrived with the data raises no
// second edge.
asio::detail::reactor_op::status read_op::perform_recv(reactor_op* base) {
  auto* op = static_cast<read_op*>(base);
  if (op->pending_error_) {  // met by spill_rest after data it delivered: reported now
    op->ec_ = std::exchange(op->pending_error_, {});
    op->bytes_transferred_ = 0;
    return done;
  }
  // The third receive does for an overflowing read (an agi_* block) what the second does for
  // a reply: it tells whether the socket is drained.
  thread_local char scratch[2][read_chunk_bytes];
  iovec iov[3] = {{op->data_, op->size_}, {scratch[0], read_chunk_bytes}, {scratch[1], read_chunk_bytes}};
  mmsghdr msgs[3] = {};
  for (int i = 0; i < 3; ++i) {
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  for (;;) {
    const int got = ::recvmmsg(op->fd_, msgs, 3, MSG_DONTWAIT, nullptr);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      op->ec_ = boost::system::error_code(errno, boost::system::system_category());
      op->bytes_transferred_ = 0;
      return done;
    }
    const std::size_t first = msgs[0].msg_len;
    if (first == 0) {
      op->ec_ = asio::error::eof;
      op->bytes_transferred_ = 0;
      return done_and_exhausted;
    }
    op->ec_ = {};
    op->bytes_transferred_ = first;
    // The last receive made failed: EAGAIN, or (rarely) an error such as a reset that arrived
    // with the data, which the kernel keeps for the next receive without a new readiness
    // edge. That is then seen by the call's next command (its write fails) or deadline
    // (connection::peer_still_there), not at once.
    if (got == 1) return done_and_exhausted;
    const std::size_t second = msgs[1].msg_len;
    if (second == 0) return done;  // end of stream after the data
    op->spill_->append(scratch[0], second);
    if (got == 2) return done_and_exhausted;
    const std::size_t third = msgs[2].msg_len;
    if (third == 0) return done;  // end of stream after the data
    op->spill_->append(scratch[1], third);
    return op->spill_rest();
  }
}
// More than the inline buffer arrived (an agi_* block, a long reply): read on into the spill
// buffer until the socket says EAGAIN (drained), 0 (end of stream: left for the next read,
// attempted at once), an error (kept in pending_error_ for the next read: recv() hands a
// socket error out once), or max_reads_per_wakeup reads were made.
asio::detail::reactor_op::status read_op::spill_rest() {
  for (int round = 0; round < max_reads_per_wakeup; ++round) {
    const auto old = spill_->size();
    spill_->resize(old + read_chunk_bytes);
    const ssize_t n = ::recv(fd_, spill_->data() + old, read_chunk_bytes, MSG_DONTWAIT);
    const int err = errno;
    spill_->resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    if (n > 0) continue;
    if (n < 0 && err == EINTR) continue;
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) return done_and_exhausted;
    if (n < 0) pending_error_ = boost::system::error_code(err, boost::system::system_category());
    return done;
  }
  return done;  // more may be waiting: read again at once
}

void read_op::complete_read(void* owner, asio::detail::scheduler_operation* base, const boost::system::error_code&,
                            std::size_t) {
  auto* op = static_cast<read_op*>(base);
  const auto ec = op->ec_;
  const auto n = op->bytes_transferred_;
  auto target = std::move(op->owner_);  // may be the last reference: op is not touched after this
  if (!owner || !target) return;         // destroyed unrun: the io_context is going away
  auto* t = target.get();
  asio::dispatch(t->read_executor(), [target = std::move(target), ec, n] { target->on_received(ec, n); });
}

}  // namespace astra::agi::detail
