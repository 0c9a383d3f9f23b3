#pragma once
// The FastAGI connection's socket and its receive: the parts of the server that rely on Asio
// internals of Boost 1.74 (the socket's protected implementation, epoll_reactor::start_op,
// socket_ops state bits), kept together here and in socket_reader.cpp. Included by
// server_io.cpp and socket_reader.cpp only.
#include <utility>  // before Asio (see platform-facts)

#include <cstddef>
#include <memory>
#include <string>

#include "actors/agi/detail/server_impl.hpp"  // first: it brings io_context, which these need

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/version.hpp>

static_assert(BOOST_VERSION == 107400, "read_op and agi_socket rely on Boost 1.74's Asio internals");
#if !defined(BOOST_ASIO_HAS_EPOLL)
#error "read_op relies on Asio's epoll reactor"
#endif

namespace astra::agi::detail {

// A full inline buffer is followed by reads of this many bytes into the spill buffer, at most
// max_reads_per_wakeup of them before yielding to other connections.
inline constexpr std::size_t read_chunk_bytes = 4096;
inline constexpr int max_reads_per_wakeup = 4;

// Where a read_op delivers (the connection): read_executor() is asked from any io thread,
// on_received() is called on that executor.
class read_target {
 public:
  // The read's outcome, on read_executor(): `n` bytes in the buffer given to start(), then
  // whatever the spill buffer holds; or an error (eof: the peer closed).
  virtual void on_received(const boost::system::error_code& ec, std::size_t n) = 0;
  virtual strand_type read_executor() = 0;

 protected:
  ~read_target() = default;
};

// The connection's socket, with access to its reactor registration (for read_op below).
class agi_socket : public socket_type {
 public:
  explicit agi_socket(socket_type&& s) : socket_type(std::move(s)) {}
  asio::detail::reactor::per_descriptor_data& reactor_data() { return impl_.get_implementation().reactor_data_; }
  // Records that the descriptor is non-blocking already (accepted with SOCK_NONBLOCK), as
  // non_blocking(true) would, without its ioctl: sync reads and writes return would_block.
  void adopt_non_blocking() {
    impl_.get_implementation().state_ |= static_cast<asio::detail::socket_ops::state_type>(
        asio::detail::socket_ops::user_set_non_blocking | asio::detail::socket_ops::internal_non_blocking);
  }
  // Closes the socket without the EPOLL_CTL_DEL that Asio issues for a descriptor it did not
  // create itself (accepted sockets are marked "possibly duplicated"): this one was accepted
  // here with SOCK_CLOEXEC and never duplicated, so close() alone takes it out of the epoll set
  // (a fork() without exec() by the embedding program would share it: not supported).
  void close_accepted(boost::system::error_code& ec) {
    impl_.get_implementation().state_ &= static_cast<asio::detail::socket_ops::state_type>(
        ~asio::detail::socket_ops::possible_dup);
    close(ec);
  }
};

// The connection's one pending receive, kept inside the connection (no allocation per read).
//
// Why not socket::async_read_some: Boost 1.74's receive op tells the reactor that the socket is
// drained only when a read returns 0 bytes (EOF). After every reply that Asio read, the next
// async_read_some therefore tries a speculative recv() first, which fails with EAGAIN (the
// reply to the command just written has not come yet): 8 wasted system calls per call of 8
// commands, in a VM where a system call is the largest cost left (docs/performance.md). This op
// makes one recvmmsg of three receives and reports "drained" when the last one it made failed
// (EAGAIN), so the reactor waits for the next readiness edge instead; a short read alone would
// not do (a FIN that came with the data raises no second edge). async_wait would cost an
// EPOLL_CTL_MOD per wait instead: no gain.
//
// Contract: at most one start() at a time per connection (the connection starts the next read
// from the completion of the previous one, on its strand); the op completes on an io thread
// and hands the result to the target's strand. `owner_` keeps the target alive while
// the op is queued in the reactor or the scheduler; an op destroyed unrun (the io_context is
// destroyed with it pending) only drops that reference.
class read_op final : public asio::detail::reactor_op {
 public:
  read_op() : reactor_op(boost::system::error_code{}, &read_op::perform_recv, &read_op::complete_read) {}

  // Starts waiting for bytes (into `data`, `size` bytes; when those fill up, on into `spill`,
  // which must be empty), on `reactor` (the socket's).
  void start(asio::detail::reactor& reactor, agi_socket& socket, std::shared_ptr<read_target> target, char* data,
             std::size_t size, std::string& spill) {
    owner_ = std::move(target);
    fd_ = socket.native_handle();
    data_ = data;
    size_ = size;
    spill_ = &spill;
    ec_ = asio::error::operation_aborted;  // what the reactor leaves when it drops the op unrun
    bytes_transferred_ = 0;
    // A continuation: the completion stays on this thread's private queue (no scheduler lock,
    // no wake-up of another io thread).
    reactor.start_op(asio::detail::reactor::read_op, fd_, socket.reactor_data(), this, true, true);
  }

 private:
  // One recvmmsg of three receives (socket_reader.cpp): the reactor's perform function.
  static status perform_recv(reactor_op* base);
  // More than the inline buffer arrived: read on into the spill buffer (socket_reader.cpp).
  status spill_rest();

  static void complete_read(void* owner, asio::detail::scheduler_operation* base, const boost::system::error_code&,
                            std::size_t);

  std::shared_ptr<read_target> owner_;
  int fd_ = -1;
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::string* spill_ = nullptr;
  boost::system::error_code pending_error_;  // see spill_rest
};

}  // namespace astra::agi::detail
