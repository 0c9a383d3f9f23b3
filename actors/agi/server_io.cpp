// The Asio side of the FastAGI server: the acceptor, one connection per accepted socket (agi_*
// block, admission, reply parsing, command writes), the shared deadline heap that wakes
// connections, and the outbox through which call actors reach their sockets.
#include <utility>  // before Asio (see platform-facts)

#include "actors/agi/detail/server_impl.hpp"
#include "actors/agi/detail/socket_reader.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace astra::agi {

namespace {

// Inline receive buffer per connection: holds a typical reply line ("200 result=1 (value)\n");
// a fuller read goes on into the connection's spill buffer (read_op, socket_reader.hpp).
constexpr std::size_t inbox_bytes = 64;
// Connections taken from the listen backlog per readiness of the listener (accept4() until the
// backlog is empty), before the io thread turns to other work.
// One accept per pass of the io loop let a burst of connects queue behind the replies of
// every live call: a call's first command waited up to 18 ms at 100 concurrent calls
// (bench_agi_churn, first_command_p99_us) against 2 ms for its later ones.
constexpr int max_accepts_per_wakeup = 64;
// Delay before accepting again after the process ran out of descriptors (EMFILE/ENFILE).
constexpr std::chrono::milliseconds accept_retry_delay{20};

peer_address to_peer(const tcp::endpoint& ep) {
  peer_address p;
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  if (addr.is_v4()) {
    auto b = addr.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), p.bytes.begin());
    p.is_v4 = true;
  } else {
    auto b = addr.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), p.bytes.begin());
    p.is_v4 = false;
  }
  p.port = ep.port();
  return p;
}


}  // namespace

using detail::agi_socket;
using detail::read_op;

// ------------------------------------------------------------------ connection (Asio side)

// One accepted socket. All members are touched on the socket's strand only, except through
// the call_transport methods, which post to that strand. Lives as long as an operation, the
// call actor (through its core) or a posted closure holds it.
class connection final : public detail::call_transport,
                         public detail::read_target,
                         public std::enable_shared_from_this<connection> {
 public:
  connection(std::shared_ptr<server::impl> srv, socket_type socket, peer_address peer)
      : srv_(std::move(srv)), socket_(std::move(socket)), peer_(peer) {}
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  ~connection() override {
    srv_->unschedule(*this);
    if (!admitted_) srv_->pending.fetch_sub(1);
  }

  // The shared deadline timer reached this connection's wake-up instant (on the strand).
  void on_deadline() {
    if (closed_) return;
    // A connection reset that arrived with the last data can go unseen by the reactor (see
    // read_op::perform_recv): look before reporting a timeout.
    if (!peer_still_there()) return;
    if (!admitted_) {
      srv_->refuse(refusal::env_timeout, peer_, "");
      close_now();
      return;
    }
    if (actor_) srv_->tell(actor_, detail::connection_news{detail::wake_up{}});
  }

  // False (and the peer reported gone) when the socket has failed (a reset the reader may not
  // have been woken for, see read_op::perform_recv). An end of stream is left to the reader,
  // which always sees it (and may hold the last reply before it, not yet delivered).
  bool peer_still_there() {
    char byte;
    ssize_t n;
    do n = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n >= 0 || errno == EAGAIN || errno == EWOULDBLOCK) return true;
    peer_gone(boost::system::error_code(errno, boost::system::system_category()));
    return false;
  }

  // Starts the agi_* block phase (called on the strand).
  void start() {
    socket_.adopt_non_blocking();  // TCP_NODELAY: inherited from the listener (server.cpp)
    srv_->schedule(*this, clock::now() + srv_->config.env_timeout);
    wait_readable();
  }

  // call_transport (called from the call actor): queued in the server's outbox, which the io
  // thread drains in batches, in order, onto each connection's strand.
  // From a call actor running on an io thread of this server's io_context (the default, see
  // server_config::handlers_on_io_threads) with none of its requests still in the outbox, the
  // request is dispatched to the strand directly: it runs at once unless another thread holds
  // the strand (no outbox lock, no posted drain, no extra pass of the io loop per command).
  void write(std::string line, clock::time_point wake_at) override {
    request({shared_from_this(), std::move(line), wake_at, outbound_kind::write});
  }
  void arm(clock::time_point wake_at) override { request({shared_from_this(), {}, wake_at, outbound_kind::arm}); }
  void close() override { request({shared_from_this(), {}, {}, outbound_kind::close}); }

  void request(outbound entry) {
    // Only the call actor requests (one thread at a time); the io thread only lowers the count,
    // so a 0 read here means every earlier request has run: the direct path keeps the order.
    if (in_outbox_.load(std::memory_order_acquire) == 0 && srv_->io.get_executor().running_in_this_thread()) {
      auto* conn = entry.conn.get();
      asio::dispatch(conn->executor(), [entry = std::move(entry)]() mutable {
        entry.conn->perform(entry.kind, entry.line, entry.wake_at);
      });
      return;
    }
    in_outbox_.fetch_add(1, std::memory_order_relaxed);
    srv_->push_outbound(std::move(entry));
  }
  // An outbox entry of this connection ran (or was dropped unrun).
  void outbox_entry_done() { in_outbox_.fetch_sub(1, std::memory_order_release); }

  // Runs one outbox entry (on the strand).
  void perform(outbound_kind kind, std::string& line, clock::time_point wake_at) {
    if (closed_) return;
    switch (kind) {
      case outbound_kind::write:
        send(std::move(line));
        if (wake_at != clock::time_point::max() && !closed_) start_timer(wake_at);
        return;
      case outbound_kind::arm:
        start_timer(wake_at);
        return;
      case outbound_kind::close:
        close_now();
        return;
    }
  }

  strand_type executor() { return socket_.get_executor(); }

 private:
  // A receive into the connection's small inline buffer, performed inside the reactor when the
  // socket becomes readable (read_op: no speculative recv, no epoll re-arm per wait).
  void wait_readable() {
    reader_.start(srv_->reactor, socket_, shared_from_this(), inbox_.data(), inbox_.size(), spill_);
  }
  strand_type read_executor() override { return executor(); }
  void on_received(const boost::system::error_code& ec, std::size_t n) override {
    if (closed_) return;
    if (ec) {
      peer_gone(ec == asio::error::eof ? boost::system::error_code{} : ec);
      return;
    }
    if (!consume(std::string_view(inbox_.data(), n))) return;
    if (!spill_.empty()) {
      // What followed the full inline buffer (read_op::spill_rest). Freed after use: an idle
      // call keeps no receive buffer beyond the inline one.
      std::string spilled;
      spilled.swap(spill_);
      if (!consume(spilled)) return;
    }
    wait_readable();
  }

  // Returns false when reading must stop (closed or handed over).
  bool consume(std::string_view bytes) {
    if (!admitted_) {
      // The parser exists only once bytes arrive (a burst of connects costs no parsers).
      if (!env_) env_ = std::make_unique<environment_parser>();
      const auto used = env_->feed(bytes);
      if (auto ec = env_->error()) {
        srv_->refuse(refusal::bad_environment, peer_, ec.message());
        close_now();
        return false;
      }
      if (!env_->done()) return true;
      auto env = env_->take();
      env_.reset();
      if (!admit(std::move(env))) return false;
      bytes.remove_prefix(used);
      if (bytes.empty()) return true;
    }
    while (!bytes.empty()) {
      if (!replies_) replies_ = std::make_unique<reply_parser>();
      bytes.remove_prefix(replies_->feed(bytes));
      while (auto event = replies_->next()) {
        if (!*event) {
          if (actor_) srv_->tell(actor_, detail::connection_news{detail::peer_garbled{event->error()}});
          close_now();
          return false;
        }
        if (actor_) srv_->tell(actor_, detail::connection_news{std::move(event->value())});
      }
    }
    // A parser holding no partial reply is dropped: an idle call keeps no parse buffers.
    if (replies_ && !replies_->mid_reply()) replies_.reset();
    return true;
  }

  bool admit(environment env) {
    auto& srv = *srv_;
    srv.unschedule(*this);
    if (srv.draining.load()) {
      srv.refuse(refusal::shutting_down, peer_, "");
      close_now();
      return false;
    }
    auto match = srv.routes.match(env.script_path);
    if (!match) {
      srv.refuse(refusal::no_route, peer_, "no route for '" + env.script_path + "'");
      close_now();
      return false;
    }
    const auto& policy = match->target->options.auth ? *match->target->options.auth : srv.config.auth;
    if (policy) {
      auth_request request{env, env.script_path, match->target->pattern, match->params, peer_};
      auth_decision decision;
      try {
        decision = policy(request);
      } catch (...) {
        // A user policy that throws refuses only this call (fail closed); the io thread goes on.
        srv.refuse(refusal::auth_error, peer_,
                   "route " + match->target->pattern + ", call uniqueid " + std::string(env.uniqueid()) + " (channel " +
                       std::string(env.channel()) + "): the auth policy threw: " +
                       detail::describe(std::current_exception()));
        close_now();
        return false;
      }
      if (!decision.allowed) {
        srv.refuse(refusal::auth, peer_, "route " + match->target->pattern + ": " + decision.reason);
        close_now();
        return false;
      }
    }
    if (srv.live.fetch_add(1) >= srv.config.max_concurrent_calls) {
      srv.live.fetch_sub(1);
      srv.refuse(refusal::capacity, peer_, "max_concurrent_calls reached");
      close_now();
      return false;
    }
    admitted_ = true;
    srv.pending.fetch_sub(1);
    ++srv.counters.started;
    call::identity id{srv.next_id.fetch_add(1), match->target, std::move(match->params), peer_};
    spawn_call(std::move(env), std::move(id));
    return true;
  }

  void spawn_call(environment env, call::identity id);

  void send(std::string line) {
    if (writing_) {
      backlog_->queued += line;
      return;
    }
    // Commands are small: usually the whole line fits the socket buffer at once.
    boost::system::error_code ec;
    std::size_t n = socket_.write_some(asio::buffer(line), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      n = 0;
    } else if (ec) {
      peer_gone(ec);
      return;
    }
    if (n == line.size()) return;
    if (!backlog_) backlog_ = std::make_unique<write_backlog>();
    backlog_->out = line.substr(n);
    start_async_write();
  }

  void start_async_write() {
    writing_ = true;
    asio::async_write(socket_, asio::buffer(backlog_->out), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
      self->writing_ = false;
      if (self->closed_) return;
      if (ec) {
        self->peer_gone(ec);
        return;
      }
      self->backlog_->out.clear();
      if (!self->backlog_->queued.empty()) {
        self->backlog_->out.swap(self->backlog_->queued);
        self->start_async_write();
      } else {
        self->backlog_.reset();
      }
    });
  }

  void start_timer(clock::time_point wake_at) {
    if (actor_) srv_->schedule(*this, wake_at);
  }

  void peer_gone(const boost::system::error_code& ec) {
    if (closed_) return;
    if (!admitted_) {
      srv_->refuse(refusal::closed_early, peer_, ec ? ec.message() : "");
    } else if (actor_) {
      srv_->tell(actor_, detail::connection_news{detail::peer_closed{
                                 ec ? std::error_code(ec.value(), std::system_category()) : std::error_code{}}});
    }
    close_now();
  }

  void close_now() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    srv_->unschedule(*this);
    socket_.close_accepted(ignored);  // sends the FIN (no shutdown() first: the descriptor is not shared)
    actor_ = nullptr;  // breaks the actor <-> connection cycle
    env_.reset();
    replies_.reset();
    if (!writing_) backlog_.reset();  // else the pending write still reads backlog_->out
  }

  std::shared_ptr<server::impl> srv_;
  agi_socket socket_;
  read_op reader_;  // the pending receive (see read_op)
  std::unique_ptr<environment_parser> env_;  // during the agi_* block only
  std::unique_ptr<reply_parser> replies_;    // while a reply is partially received
  caf::actor actor_;                         // the call, once admitted and until closed
  struct write_backlog {
    std::string out;     // being written by async_write
    std::string queued;  // lines that arrived meanwhile
  };
  std::unique_ptr<write_backlog> backlog_;   // only while the socket buffer is full (rare)
  std::array<char, inbox_bytes> inbox_;      // target of the pending receive
  std::string spill_;                        // its overflow (read_op), empty between reads
  peer_address peer_;
  bool closed_ = false;
  bool writing_ = false;
  bool admitted_ = false;
  std::atomic<std::uint32_t> in_outbox_{0};  // requests of this connection waiting in the server's outbox

  friend struct server::impl;
  static constexpr std::size_t not_scheduled = static_cast<std::size_t>(-1);
  std::size_t deadline_index_ = not_scheduled;  // position in srv_->deadlines (under deadline_mutex)
  clock::time_point wake_at_{};                 // valid while scheduled
};

// ------------------------------------------------------------------ shared deadline timer

void server::impl::heap_swap(std::size_t a, std::size_t b) {
  std::swap(deadlines[a], deadlines[b]);
  deadlines[a]->deadline_index_ = a;
  deadlines[b]->deadline_index_ = b;
}

void server::impl::heap_up(std::size_t i) {
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!(deadlines[i]->wake_at_ < deadlines[parent]->wake_at_)) break;
    heap_swap(i, parent);
    i = parent;
  }
}

void server::impl::heap_down(std::size_t i) {
  const std::size_t n = deadlines.size();
  for (;;) {
    std::size_t smallest = i;
    const std::size_t l = 2 * i + 1, r = 2 * i + 2;
    if (l < n && deadlines[l]->wake_at_ < deadlines[smallest]->wake_at_) smallest = l;
    if (r < n && deadlines[r]->wake_at_ < deadlines[smallest]->wake_at_) smallest = r;
    if (smallest == i) return;
    heap_swap(i, smallest);
    i = smallest;
  }
}

void server::impl::heap_remove(std::size_t i) {
  const std::size_t last = deadlines.size() - 1;
  deadlines[i]->deadline_index_ = connection::not_scheduled;
  if (i != last) {
    deadlines[i] = deadlines[last];
    deadlines[i]->deadline_index_ = i;
  }
  deadlines.pop_back();
  if (i < deadlines.size()) {
    heap_up(i);
    heap_down(deadlines[i]->deadline_index_);
  }
}

void server::impl::rearm_deadline_timer() {
  if (deadlines.empty()) return;  // left armed: it wakes once for nothing (cheaper than a cancel per call)
  const auto earliest = deadlines.front()->wake_at_;
  // Moved earlier only: a timer armed too early finds nothing due and is armed again for the
  // earliest instant then (on_deadline_timer). Re-arming on every later command deadline cost
  // a timerfd_settime per command.
  if (earliest >= deadline_armed) return;
  deadline_armed = earliest;
  deadline_timer.expires_at(earliest);
  deadline_timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_deadline_timer();
  });
}

void server::impl::schedule(connection& c, clock::time_point at) {
  std::lock_guard<std::mutex> lock(deadline_mutex);
  c.wake_at_ = at;
  if (c.deadline_index_ == connection::not_scheduled) {
    c.deadline_index_ = deadlines.size();
    deadlines.push_back(&c);
    heap_up(c.deadline_index_);
  } else {
    const auto i = c.deadline_index_;
    heap_up(i);
    heap_down(c.deadline_index_);
  }
  rearm_deadline_timer();
}

void server::impl::unschedule(connection& c) {
  std::lock_guard<std::mutex> lock(deadline_mutex);
  if (c.deadline_index_ == connection::not_scheduled) return;
  heap_remove(c.deadline_index_);
  rearm_deadline_timer();
}

void server::impl::on_deadline_timer() {
  std::vector<std::shared_ptr<connection>> due;
  {
    std::lock_guard<std::mutex> lock(deadline_mutex);
    deadline_armed = clock::time_point::max();
    const auto now = clock::now();
    while (!deadlines.empty() && deadlines.front()->wake_at_ <= now) {
      // A connection being destroyed waits in unschedule() for this mutex: lock() fails then.
      if (auto c = deadlines.front()->weak_from_this().lock()) due.push_back(std::move(c));
      heap_remove(0);
    }
    rearm_deadline_timer();
  }
  for (auto& c : due) {
    auto ex = c->executor();
    asio::post(ex, [c = std::move(c)] { c->on_deadline(); });
  }
}

// ------------------------------------------------------------------ call actors' messages

caf::execution_unit* server::impl::call_context() const noexcept {
  return config.handlers_on_io_threads ? runner.get() : nullptr;
}

void server::impl::tell(const caf::actor& call, detail::connection_news news) const {
  // anon_send with this server's execution unit as the context: the call actor is scheduled on
  // the io thread (no wake-up of a CAF worker) unless it is already scheduled or running.
  call->enqueue(caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, std::move(news)), call_context());
}

// ------------------------------------------------------------------ outbox

void server::impl::push_outbound(outbound entry) {
  bool post_drain = false;
  {
    std::lock_guard<std::mutex> lock(outbox_mutex);
    outbox.push_back(std::move(entry));
    post_drain = !std::exchange(outbox_drain_posted, true);
  }
  if (post_drain) asio::post(io, outbox_drain_task{shared_from_this()});
}

void server::impl::discard_outbox() noexcept {
  std::vector<outbound> dropped;
  {
    std::lock_guard<std::mutex> lock(outbox_mutex);
    dropped.swap(outbox);
    outbox_drain_posted = false;
  }
  // Destroyed here, outside the lock: each entry may hold the last reference to its connection.
}

void server::impl::drain_outbox() {
  // One drainer at a time (outbox_drain_posted stays set until the outbox is seen empty), so
  // entries for one connection reach its strand in the order they were pushed.
  thread_local std::vector<outbound> batch;
  struct clear_on_exit {
    std::vector<outbound>& v;
    ~clear_on_exit() {
      v.clear();
      if (v.capacity() > 4096) v.shrink_to_fit();  // keep what bursts need, not without bound
    }
  };
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(outbox_mutex);
      if (outbox.empty()) {
        outbox_drain_posted = false;
        return;
      }
      batch.swap(outbox);
    }
    clear_on_exit guard{batch};
    for (auto& entry : batch) {
      auto* conn = entry.conn.get();
      asio::dispatch(conn->executor(), [entry = std::move(entry)]() mutable {
        entry.conn->perform(entry.kind, entry.line, entry.wake_at);
        entry.conn->outbox_entry_done();
      });
    }
  }
}

void connection::spawn_call(environment env, call::identity id) {
  call_environment compact(env);  // compacted here, on the io thread: moved, never copied, into the call
  env = environment{};  // the parsed block is freed here, on this thread, before the actor exists
  auto actor = detail::spawn_call_actor(srv_, shared_from_this(), std::move(compact), std::move(id));
  // CAF 0.17's spawn() pins the system's logger in a thread_local of the calling thread
  // (CAF_SET_LOGGER_SYS); ~actor_system waits until every such reference is gone. This is an
  // Asio thread that may outlive the actor system: drop the reference at once.
  caf::logger::set_current_actor_system(nullptr);
  actor_ = std::move(actor);
}

// ------------------------------------------------------------------ acceptor

void server::impl::accept_next() {
  // Wait until the listener is readable, then take what its backlog holds (accept_ready).
  acceptor.async_wait(tcp::acceptor::wait_read, asio::bind_executor(accept_strand, [self = shared_from_this()](const boost::system::error_code& ec) {
    if (!self->acceptor.is_open() || ec == asio::error::operation_aborted) return;
    if (ec) {
      ++self->counters.accept_errors;
      if (self->failed_accepts++ == 0) spdlog::warn("agi: waiting for connections failed: {} (retrying)", ec.message());
      self->retry_accept_later();
      return;
    }
    self->accept_ready();
  }));
}

void server::impl::retry_accept_later() {
  accept_retry.expires_after(accept_retry_delay);
  accept_retry.async_wait(asio::bind_executor(accept_strand, [self = shared_from_this()](const boost::system::error_code& wec) {
    if (!wec && self->acceptor.is_open()) self->accept_next();
  }));
}

void server::impl::accept_ready() {
  // accept4(): sockets non-blocking and close-on-exec from the start (no ioctl per call; a
  // child process the embedding program starts does not inherit calls), the peer's address
  // filled in (no getpeername()). Until the backlog is empty, at most max_accepts_per_wakeup.
  for (int taken = 0; taken < max_accepts_per_wakeup && acceptor.is_open(); ++taken) {
    tcp::endpoint peer;
    auto len = static_cast<socklen_t>(peer.capacity());
    const int fd = ::accept4(acceptor.native_handle(), peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;                      // the backlog is empty
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;  // that one is gone; next
      ++counters.accept_errors;
      // Logged once per run of failures (out of descriptors repeats every retry).
      if (failed_accepts++ == 0) spdlog::warn("agi: accept failed: {} (retrying)", std::system_category().message(err));
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        retry_accept_later();
        return;
      }
      break;
    }
    if (const auto failed = std::exchange(failed_accepts, 0))
      spdlog::info("agi: accepting again after {} failed accept(s)", failed);
    peer.resize(len);
    socket_type socket{strand_type{io}};
    boost::system::error_code ec;
    socket.assign(peer.protocol(), fd, ec);  // registers it with the reactor
    if (ec) {
      ::close(fd);
      ++counters.accept_errors;
      spdlog::warn("agi: an accepted connection could not be registered: {}", ec.message());
      continue;
    }
    on_accepted(std::move(socket), peer);
  }
  accept_next();
}

void server::impl::on_accepted(socket_type socket, const tcp::endpoint& peer_endpoint) {
  ++counters.accepted;
  auto peer = to_peer(peer_endpoint);
  if (draining.load()) {
    refuse(refusal::shutting_down, peer, "");
    return;  // socket closed by its destructor
  }
  if (live.load() >= config.max_concurrent_calls) {
    refuse(refusal::capacity, peer, "max_concurrent_calls reached");
    return;
  }
  pending.fetch_add(1);
  auto conn = std::make_shared<connection>(shared_from_this(), std::move(socket), peer);
  // The socket's executor is its own strand; start there (we are on the acceptor's context).
  asio::dispatch(conn->executor(), [conn] { conn->start(); });
}

}  // namespace astra::agi
