#include <utility>  // before Asio (see platform-facts)

#include "actors/agi/server.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <variant>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/io_context_strand.hpp>
#include <boost/asio/write.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace astra::agi::detail {
// Connection -> call actor messages (besides reply_event).
struct peer_closed {
  std::error_code ec;  // empty: orderly close (EOF)
};
struct peer_garbled {
  failure what;  // the reply stream could not be parsed
};
struct wake_up {};  // the call's wake-up instant passed
// Everything the connection tells its call actor travels as one message type, so the call's
// behavior has two cases (a smaller actor per call).
struct connection_news {
  std::variant<reply_event, wake_up, peer_closed, peer_garbled> what;
};
// From the call itself (`done`: the handler finished) or from server::shutdown (`cut`).
struct call_control {
  bool cut = false;
};
}  // namespace astra::agi::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::agi::detail::connection_news)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::agi::detail::call_control)

namespace astra::agi {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using detail::clock;
// Concrete executor types (not any_io_executor): smaller sockets, timers and pending operations.
// io_context::strand draws its implementation from the io_context's fixed pool instead of
// allocating one per connection (unrelated connections may share one: they are then serialized
// with each other, which costs nothing with one io thread).
using strand_type = asio::io_context::strand;
using socket_type = asio::basic_stream_socket<tcp, strand_type>;
using timer_type = asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, strand_type>;


const char* to_string(call_outcome o) noexcept {
  switch (o) {
    case call_outcome::completed: return "completed";
    case call_outcome::failed: return "failed";
    case call_outcome::exception: return "exception";
    case call_outcome::cut: return "cut";
  }
  return "unknown";
}

const char* to_string(refusal r) noexcept {
  switch (r) {
    case refusal::capacity: return "capacity";
    case refusal::auth: return "auth";
    case refusal::no_route: return "no_route";
    case refusal::shutting_down: return "shutting_down";
    case refusal::bad_environment: return "bad_environment";
    case refusal::env_timeout: return "env_timeout";
    case refusal::closed_early: return "closed_early";
  }
  return "unknown";
}

namespace {

// Bytes read per readiness notification before yielding to other connections.
constexpr std::size_t read_chunk_bytes = 4096;
// Inline receive buffer per connection: holds a typical reply line ("200 result=1 (value)\n");
// a fuller read is followed by reads into the thread's read_chunk_bytes buffer.
constexpr std::size_t inbox_bytes = 64;
constexpr int max_reads_per_wakeup = 4;
// Delay before accepting again after the process ran out of descriptors (EMFILE/ENFILE).
constexpr std::chrono::milliseconds accept_retry_delay{20};
// Up to this many calls, the call registry and deadline heap are allocated at construction.
constexpr std::size_t max_presized_calls = 65536;
// How long shutdown() waits for cut calls' actors to end.
constexpr std::chrono::seconds cut_grace{5};

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

class connection;

enum class outbound_kind : std::uint8_t { write, arm, close };
struct outbound {
  std::shared_ptr<connection> conn;
  std::string line;                 // write: the command line
  clock::time_point wake_at{};      // write/arm: wake-up instant (max(): none)
  outbound_kind kind = outbound_kind::write;
};

struct server::impl : std::enable_shared_from_this<server::impl> {
  impl(caf::actor_system& sys, asio::io_context& ctx, router r, server_config c)
      : system(sys), io(ctx), routes(std::move(r)), config(std::move(c)), acceptor(ctx), accept_retry(ctx), accept_strand(ctx), deadline_timer(ctx) {
    core.command_timeout = config.command_timeout;
    core.timeout_margin = config.timeout_margin;
    core.long_command_timeout = config.long_command_timeout;
    core.hangup_reply_grace = config.hangup_reply_grace;
    core.fail_fast_after_hangup = config.fail_fast_after_hangup;
    core.max_commands_after_close = config.max_commands_after_close;
    // The call registry and the deadline heap are sized for the configured call limit up
    // front (a few bytes per allowed call): growing them under a burst would leave freed
    // arrays behind in the heap.
    const auto expected = std::min<std::size_t>(config.max_concurrent_calls, max_presized_calls);
    calls.reserve(expected);
    deadlines.reserve(expected);
  }

  caf::actor_system& system;
  asio::io_context& io;
  const router routes;
  const server_config config;
  detail::core_settings core;
  tcp::acceptor acceptor;        // touched on the io_context only (after start)
  asio::steady_timer accept_retry;
  strand_type accept_strand;     // acceptor and accept_retry are touched on it only (after start)
  std::uint64_t failed_accepts = 0;  // consecutive failed accepts (accept_strand only)

  // One wake-up timer for every connection (instead of an Asio timer + pending wait per call):
  // a binary min-heap of connections ordered by their wake-up instant. Each connection is in it
  // at most once (connection::deadline_index_). Guarded by deadline_mutex (any io thread).
  std::mutex deadline_mutex;
  std::vector<connection*> deadlines;
  asio::steady_timer deadline_timer;
  clock::time_point deadline_armed = clock::time_point::max();  // instant deadline_timer waits for

  // Sets (or moves) `c`'s wake-up instant; the connection gets on_deadline() on its strand at or after it.
  void schedule(connection& c, clock::time_point at);
  // Removes `c` from the heap (no-op if absent). Safe from the connection's destructor.
  void unschedule(connection& c);
  void on_deadline_timer();
  // Heap helpers (deadline_mutex held).
  void heap_swap(std::size_t a, std::size_t b);
  void heap_up(std::size_t i);
  void heap_down(std::size_t i);
  void heap_remove(std::size_t i);
  void rearm_deadline_timer();

  std::atomic<bool> draining{false};
  std::atomic<std::uint16_t> port{0};
  std::atomic<std::size_t> live{0};
  std::atomic<std::size_t> pending{0};
  std::atomic<std::uint64_t> next_id{1};

  struct {
    std::atomic<std::uint64_t> accepted{0}, started{0}, completed{0}, failed{0}, cut{0}, refused_capacity{0},
        refused_auth{0}, no_route{0}, refused_shutting_down{0}, bad_environment{0}, env_timeouts{0},
        closed_early{0}, accept_errors{0};
  } counters;

  std::mutex mutex;  // guards calls; signals `changed` when a call ends
  std::condition_variable changed;
  std::unordered_map<std::uint64_t, caf::actor> calls;

  void accept_next();
  void on_accepted(socket_type socket);

  // Requests from call actors to their connections, drained by one posted handler per batch
  // (instead of a post per command). Bounded by the number of live calls: each call has at
  // most one command line in flight plus a timer update and a close.
  std::mutex outbox_mutex;
  std::vector<outbound> outbox;        // guarded by outbox_mutex
  bool outbox_drain_posted = false;    // guarded by outbox_mutex
  void push_outbound(outbound entry);
  void drain_outbox();
  // Frees every queued entry unrun. Only for an io_context that will never run the drain.
  void discard_outbox() noexcept;

  // The posted drain. Destroyed without running (the io_context was stopped, then destroyed,
  // before it ran), it discards the outbox: every entry holds its connection, which holds this
  // server, a cycle that would otherwise keep the server, the connection and the call actor
  // alive for good.
  struct outbox_drain_task {
    std::shared_ptr<impl> self;
    outbox_drain_task(std::shared_ptr<impl> s) : self(std::move(s)) {}
    outbox_drain_task(outbox_drain_task&&) noexcept = default;
    outbox_drain_task& operator=(outbox_drain_task&&) = delete;
    ~outbox_drain_task() {
      if (self) self->discard_outbox();
    }
    void operator()() {
      const auto s = std::move(self);
      s->drain_outbox();
    }
  };

  void refuse(refusal why, const peer_address& peer, std::string_view detail) {
    switch (why) {
      case refusal::capacity: ++counters.refused_capacity; break;
      case refusal::auth: ++counters.refused_auth; break;
      case refusal::no_route: ++counters.no_route; break;
      case refusal::shutting_down: ++counters.refused_shutting_down; break;
      case refusal::bad_environment: ++counters.bad_environment; break;
      case refusal::env_timeout: ++counters.env_timeouts; break;
      case refusal::closed_early: ++counters.closed_early; break;
    }
    if (why == refusal::closed_early) {
      spdlog::debug("agi: {} closed before its agi_* block was complete", peer.to_string());
    } else if (why == refusal::capacity || why == refusal::shutting_down || why == refusal::env_timeout) {
      spdlog::info("agi: refused {} ({}){}{}", peer.to_string(), to_string(why), detail.empty() ? "" : ": ", detail);
    } else {
      spdlog::warn("agi: refused {} ({}){}{}", peer.to_string(), to_string(why), detail.empty() ? "" : ": ", detail);
    }
    if (config.hooks.connection_refused) config.hooks.connection_refused(why, peer);
  }

  bool cutting = false;  // guarded by mutex: shutdown() has taken its snapshot of calls to cut

  // Called by the call actor itself before its handler starts (so a call that ends at once
  // is registered before call_ended erases it). Returns false when shutdown() is already
  // cutting: the call must cut itself (no cut message will reach it).
  bool register_call(std::uint64_t id, caf::actor actor) {
    std::lock_guard<std::mutex> lock(mutex);
    if (cutting) return false;
    calls.emplace(id, std::move(actor));
    return true;
  }

  void call_ended(std::uint64_t id, call_outcome outcome) {
    switch (outcome) {
      case call_outcome::completed: ++counters.completed; break;
      case call_outcome::failed:
      case call_outcome::exception: ++counters.failed; break;
      case call_outcome::cut: ++counters.cut; break;
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      calls.erase(id);
      live.fetch_sub(1);
    }
    changed.notify_all();
  }
};

// ------------------------------------------------------------------ connection (Asio side)

// One accepted socket. All members are touched on the socket's strand only, except through
// the call_transport methods, which post to that strand. Lives as long as an operation, the
// call actor (through its core) or a posted closure holds it.
class connection final : public detail::call_transport, public std::enable_shared_from_this<connection> {
 public:
  connection(std::shared_ptr<server::impl> srv, socket_type socket, peer_address peer)
      : srv_(std::move(srv)), socket_(std::move(socket)), peer_(peer) {}

  ~connection() override {
    srv_->unschedule(*this);
    if (!admitted_) srv_->pending.fetch_sub(1);
  }

  // The shared deadline timer reached this connection's wake-up instant (on the strand).
  void on_deadline() {
    if (closed_) return;
    if (!admitted_) {
      srv_->refuse(refusal::env_timeout, peer_, "");
      close_now();
      return;
    }
    if (actor_) caf::anon_send(actor_, detail::connection_news{detail::wake_up{}});
  }

  // Starts the agi_* block phase (called on the strand).
  void start() {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    socket_.set_option(tcp::no_delay(true), ec);
    srv_->schedule(*this, clock::now() + srv_->config.env_timeout);
    wait_readable();
  }

  // call_transport (called from the call actor): queued in the server's outbox, which the io
  // thread drains in batches, in order, onto each connection's strand.
  void write(std::string line, clock::time_point wake_at) override {
    srv_->push_outbound({shared_from_this(), std::move(line), wake_at, outbound_kind::write});
  }
  void arm(clock::time_point wake_at) override {
    srv_->push_outbound({shared_from_this(), {}, wake_at, outbound_kind::arm});
  }
  void close() override { srv_->push_outbound({shared_from_this(), {}, {}, outbound_kind::close}); }

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
  // A receive into the connection's small inline buffer: Asio then reads inside its reactor
  // without re-arming epoll per wait (an async_wait costs an EPOLL_CTL_MOD each time).
  void wait_readable() {
    socket_.async_read_some(asio::buffer(inbox_), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
      self->on_received(ec, n);
    });
  }

  void on_received(const boost::system::error_code& ec, std::size_t n) {
    if (closed_) return;
    if (ec) {
      peer_gone(ec == asio::error::eof ? boost::system::error_code{} : ec);
      return;
    }
    if (!consume(std::string_view(inbox_.data(), n))) return;
    if (n == inbox_.size()) {
      // More may be waiting (the agi_* block, a long reply): drain it at once.
      thread_local char buffer[read_chunk_bytes];
      for (int round = 0; round < max_reads_per_wakeup; ++round) {
        boost::system::error_code rec;
        const std::size_t got = socket_.read_some(asio::buffer(buffer, sizeof buffer), rec);
        if (rec == asio::error::would_block || rec == asio::error::try_again) break;
        if (rec) {
          peer_gone(rec == asio::error::eof ? boost::system::error_code{} : rec);
          return;
        }
        if (!consume(std::string_view(buffer, got))) return;
        if (got < sizeof buffer) break;
      }
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
          if (actor_) caf::anon_send(actor_, detail::connection_news{detail::peer_garbled{event->error()}});
          close_now();
          return false;
        }
        if (actor_) caf::anon_send(actor_, detail::connection_news{std::move(event->value())});
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
      auto decision = policy(request);
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
      caf::anon_send(actor_, detail::connection_news{detail::peer_closed{
                                 ec ? std::error_code(ec.value(), std::system_category()) : std::error_code{}}});
    }
    close_now();
  }

  void close_now() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    srv_->unschedule(*this);
    socket_.shutdown(socket_type::shutdown_both, ignored);
    socket_.close(ignored);
    actor_ = nullptr;  // breaks the actor <-> connection cycle
    env_.reset();
    replies_.reset();
    if (!writing_) backlog_.reset();  // else the pending write still reads backlog_->out
  }

  std::shared_ptr<server::impl> srv_;
  socket_type socket_;
  std::unique_ptr<environment_parser> env_;  // during the agi_* block only
  std::unique_ptr<reply_parser> replies_;    // while a reply is partially received
  caf::actor actor_;                         // the call, once admitted and until closed
  struct write_backlog {
    std::string out;     // being written by async_write
    std::string queued;  // lines that arrived meanwhile
  };
  std::unique_ptr<write_backlog> backlog_;   // only while the socket buffer is full (rare)
  std::array<char, inbox_bytes> inbox_;      // target of the pending receive
  peer_address peer_;
  bool closed_ = false;
  bool writing_ = false;
  bool admitted_ = false;

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
  if (deadlines.empty()) {
    if (deadline_armed != clock::time_point::max()) {
      deadline_armed = clock::time_point::max();
      deadline_timer.cancel();
    }
    return;
  }
  const auto earliest = deadlines.front()->wake_at_;
  if (earliest == deadline_armed) return;
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
      });
    }
  }
}

// ------------------------------------------------------------------ call actor

namespace {

struct call_seed {
  std::shared_ptr<server::impl> srv;
  std::shared_ptr<connection> conn;
  call_environment env;  // compacted on the io thread: moved, never copied, into the call
  call::identity id;
};

struct call_state {
  std::shared_ptr<server::impl> srv;
  std::optional<call> the_call;  // inline: one allocation less per call
  astra::root_task root;  // after the_call: its frames (holding command slots) die first
  clock::time_point started{};
  call_outcome outcome = call_outcome::completed;
  bool finished = false;  // the handler returned or threw
  bool cut = false;
  bool reported = false;
  std::unique_ptr<failure> result_error;  // what a result_handler returned (null: success)

  call_state() = default;
  call_state(const call_state&) = delete;

  ~call_state() {
    root = astra::root_task{};  // destroys a still-suspended handler frame chain
    if (the_call) the_call->core().shutdown(agi_errc::shutting_down);  // closes the socket if still open
    finish_report();
    const auto call_id = id();
    the_call.reset();
    if (srv) srv->call_ended(call_id, outcome);
  }

  std::uint64_t id() const noexcept { return the_call ? the_call->id() : 0; }
  // The route's pattern (the router outlives every call).
  std::string_view route() const noexcept { return the_call ? the_call->route_pattern() : std::string_view{}; }

  void finish_report() {
    if (reported || !srv) return;
    reported = true;
    if (!finished && !cut) outcome = call_outcome::cut;  // ended without its handler finishing
    const auto duration = clock::now() - started;
    spdlog::debug("agi: call {} route {} ended: {} after {} ms", id(), route(), to_string(outcome),
                  std::chrono::duration_cast<std::chrono::milliseconds>(duration).count());
    if (srv->config.hooks.call_ended) srv->config.hooks.call_ended(route(), id(), outcome, duration);
  }
};

astra::task<void> run_result_handler(const result_handler& body, call& c, std::unique_ptr<failure>* out) {
  auto r = co_await body(c);
  if (!r) *out = std::make_unique<failure>(r.error());
}

// Handlers capture only `self` (a smaller behavior per call actor).
void check_runaway(caf::stateful_actor<call_state>* self) {
  auto& s = self->state;
  if (!s.finished && s.the_call->core().runaway()) {
    spdlog::error("agi: call {} route {}: handler kept issuing commands after the call closed; ending it",
                  s.id(), s.route());
    s.outcome = call_outcome::failed;
    s.finished = true;
    self->quit();
  }
}

void handler_done(caf::stateful_actor<call_state>* self, std::exception_ptr error) {
  auto& st = self->state;
  st.finished = true;
  if (!st.cut) {
    bool call_over = false;  // a straight-line handler met the end of its call: a normal end
    std::string what = "unknown exception";
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const astra::call_ended& ended) {
        call_over = true;
        spdlog::debug("agi: call {} route {}: ended by {}", st.id(), st.route(), ended.reason.message());
      } catch (const astra::failure& f) {  // `throw r.error()`: the handler gives up with an error value
        st.result_error = std::make_unique<failure>(f);
        error = nullptr;
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
    }
    if (error && !call_over) {
      st.outcome = call_outcome::exception;
      spdlog::error("agi: call {} route {} (channel {}): handler threw: {}", st.id(), st.route(),
                    st.the_call->env().channel(), what);
    } else if (st.result_error && st.result_error->code) {
      st.outcome = call_outcome::failed;
      spdlog::warn("agi: call {} route {} (channel {}): handler failed: {}", st.id(), st.route(),
                   st.the_call->env().channel(), st.result_error->message());
    }
  }
  st.the_call->core().shutdown(agi_errc::disconnected);
  // The root's frame is still on the stack here: end the actor from a fresh message.
  self->send(self, detail::call_control{false});
}

caf::behavior call_actor(caf::stateful_actor<call_state>* self, std::shared_ptr<call_seed> seed) {
  auto& st = self->state;
  st.srv = seed->srv;
  st.started = clock::now();
  const route& target = *seed->id.target;
  const auto& srv = *seed->srv;
  st.the_call.emplace(srv.core, seed->conn, &srv.config.hooks, std::move(seed->env), std::move(seed->id));
  seed.reset();
  st.the_call->set_on_hangup(target.options.on_hangup);
  if (srv.config.hooks.call_started) srv.config.hooks.call_started(st.route(), st.id());
  spdlog::debug("agi: call {} route {} started (channel {})", st.id(), st.route(), st.the_call->env().channel());

  if (target.result_body) {
    st.root = astra::root_task(run_result_handler(target.result_body, *st.the_call, &st.result_error));
  } else {
    st.root = astra::root_task(target.body(*st.the_call));
  }
  if (st.srv->register_call(st.id(), caf::actor_cast<caf::actor>(self))) {
    st.root.start([self](std::exception_ptr error) { handler_done(self, error); });
    check_runaway(self);
  } else {
    self->send(self, detail::call_control{true});  // shutdown is cutting: never start the handler
  }

  return {
      [self](detail::connection_news& news) {
        auto& core = self->state.the_call->core();
        switch (news.what.index()) {
          case 0: core.on_event(std::move(std::get<reply_event>(news.what))); break;
          case 1: core.on_tick(clock::now()); break;
          case 2: core.on_disconnected(std::get<detail::peer_closed>(news.what).ec); break;
          case 3: {
            auto& garbled = std::get<detail::peer_garbled>(news.what);
            spdlog::warn("agi: call {} route {}: unreadable reply stream: {}", self->state.id(), self->state.route(),
                         garbled.what.message());
            core.on_protocol_error(std::move(garbled.what));
            break;
          }
        }
        check_runaway(self);
      },
      [self](detail::call_control control) {
        auto& s = self->state;
        if (!control.cut) {
          self->quit();
          return;
        }
        if (s.finished) return;
        s.cut = true;
        s.outcome = call_outcome::cut;
        spdlog::info("agi: call {} route {}: cut by shutdown", s.id(), s.route());
        // The handler is not resumed: ~call_state destroys its frames, then closes the socket.
        self->quit();
      },
  };
}

}  // namespace

void connection::spawn_call(environment env, call::identity id) {
  auto seed = std::make_shared<call_seed>(call_seed{srv_, shared_from_this(), call_environment(env), std::move(id)});
  env = environment{};  // the parsed block is freed here, on this thread, before the actor exists
  auto actor = srv_->system.spawn(call_actor, std::move(seed));
  // CAF 0.17's spawn() pins the system's logger in a thread_local of the calling thread
  // (CAF_SET_LOGGER_SYS); ~actor_system waits until every such reference is gone. This is an
  // Asio thread that may outlive the actor system: drop the reference at once.
  caf::logger::set_current_actor_system(nullptr);
  actor_ = std::move(actor);
}

// ------------------------------------------------------------------ acceptor

void server::impl::accept_next() {
  acceptor.async_accept(strand_type(io), asio::bind_executor(accept_strand, [self = shared_from_this()](const boost::system::error_code& ec, socket_type socket) {
    if (!self->acceptor.is_open() || ec == asio::error::operation_aborted) return;
    if (ec) {
      ++self->counters.accept_errors;
      // Logged once per run of failures (out of descriptors repeats every retry).
      if (self->failed_accepts++ == 0) spdlog::warn("agi: accept failed: {} (retrying)", ec.message());
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory) {
        self->accept_retry.expires_after(accept_retry_delay);
        self->accept_retry.async_wait(asio::bind_executor(self->accept_strand, [self](const boost::system::error_code& wec) {
          if (!wec && self->acceptor.is_open()) self->accept_next();
        }));
        return;
      }
      self->accept_next();
      return;
    }
    if (const auto failed = std::exchange(self->failed_accepts, 0))
      spdlog::info("agi: accepting again after {} failed accept(s)", failed);
    self->on_accepted(std::move(socket));
    self->accept_next();
  }));
}

void server::impl::on_accepted(socket_type socket) {
  ++counters.accepted;
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec) return;  // already reset by the peer: costs nothing
  auto peer = to_peer(remote);
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

// ------------------------------------------------------------------ server

server::server(caf::actor_system& system, asio::io_context& io, router routes, server_config config) {
  if (config.max_concurrent_calls == 0) throw std::invalid_argument("agi server: max_concurrent_calls must be > 0");
  if (config.env_timeout.count() <= 0 || config.command_timeout.count() <= 0)
    throw std::invalid_argument("agi server: timeouts must be positive");
  impl_ = std::make_shared<impl>(system, io, std::move(routes), std::move(config));
}

server::~server() {
  if (!impl_) return;
  if (!impl_->draining.load()) shutdown(std::chrono::milliseconds{0});
  // Requests still in the outbox (closes of calls just cut) are handed to their strands now:
  // they run if the io_context runs, or are freed with it (which also breaks the
  // connection -> server reference) if it was stopped.
  bool drain_now = false;
  {
    std::lock_guard<std::mutex> lock(impl_->outbox_mutex);
    drain_now = !impl_->outbox.empty() && !std::exchange(impl_->outbox_drain_posted, true);
  }
  if (drain_now) impl_->drain_outbox();
}

std::error_code server::start() {
  auto& d = *impl_;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(d.config.host, ec);
  if (ec) return std::make_error_code(std::errc::invalid_argument);
  tcp::endpoint endpoint{address, d.config.port};
  d.acceptor.open(endpoint.protocol(), ec);
  if (!ec) d.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) d.acceptor.bind(endpoint, ec);
  if (!ec) d.acceptor.listen(d.config.listen_backlog, ec);
  if (ec) {
    boost::system::error_code ignored;
    d.acceptor.close(ignored);
    return std::error_code(ec.value(), std::system_category());
  }
  d.port = d.acceptor.local_endpoint().port();
  spdlog::info("agi: listening on {}:{}", d.config.host, d.port.load());
  asio::post(d.accept_strand, [self = impl_] { self->accept_next(); });
  return {};
}

std::uint16_t server::local_port() const noexcept { return impl_->port.load(); }

std::size_t server::live_calls() const noexcept { return impl_->live.load(); }

server_stats server::stats() const noexcept {
  const auto& c = impl_->counters;
  server_stats s;
  s.accepted = c.accepted.load();
  s.calls_started = c.started.load();
  s.calls_completed = c.completed.load();
  s.calls_failed = c.failed.load();
  s.calls_cut = c.cut.load();
  s.refused_capacity = c.refused_capacity.load();
  s.refused_auth = c.refused_auth.load();
  s.no_route = c.no_route.load();
  s.refused_shutting_down = c.refused_shutting_down.load();
  s.bad_environment = c.bad_environment.load();
  s.env_timeouts = c.env_timeouts.load();
  s.closed_early = c.closed_early.load();
  s.accept_errors = c.accept_errors.load();
  s.live_calls = impl_->live.load();
  s.pending_connections = impl_->pending.load();
  return s;
}

shutdown_report server::shutdown(std::chrono::milliseconds drain) {
  auto& d = *impl_;
  if (d.draining.exchange(true)) return {};
  // The drain starts here: a call that ends from now on counts as drained.
  const auto ended_before = d.counters.completed.load() + d.counters.failed.load() + d.counters.cut.load();
  const auto cut_before = d.counters.cut.load();
  spdlog::info("agi: shutting down: {} live calls, drain {} ms", d.live.load(), drain.count());
  {
    // Close the listening socket on the acceptor's strand; wait so that no accept runs
    // afterwards. The closure owns what it touches: it may run after this wait gave up.
    struct close_wait {
      std::mutex m;
      std::condition_variable cv;
      bool done = false;
    };
    auto wait = std::make_shared<close_wait>();
    asio::post(d.accept_strand, [self = impl_, wait] {
      boost::system::error_code ignored;
      self->acceptor.close(ignored);
      self->accept_retry.cancel();
      std::lock_guard<std::mutex> lock(wait->m);
      wait->done = true;
      wait->cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(wait->m);
    // The io_context may not be running (embedding error or already stopped): do not hang.
    if (!wait->cv.wait_for(lock, std::chrono::seconds(2), [&] { return wait->done; })) {
      spdlog::warn("agi: io_context did not run the acceptor close within 2 s");
    }
  }
  std::vector<caf::actor> to_cut;
  {
    std::unique_lock<std::mutex> lock(d.mutex);
    d.changed.wait_for(lock, drain, [&] { return d.live.load() == 0; });
    d.cutting = true;  // calls registering from now on cut themselves
    for (auto& [id, actor] : d.calls) to_cut.push_back(actor);
  }
  for (auto& actor : to_cut) caf::anon_send(actor, detail::call_control{true});
  {
    std::unique_lock<std::mutex> lock(d.mutex);
    d.changed.wait_for(lock, cut_grace, [&] { return d.live.load() == 0; });
  }
  shutdown_report report;
  report.cut = static_cast<std::size_t>(d.counters.cut.load() - cut_before);
  const auto ended_after = d.counters.completed.load() + d.counters.failed.load() + d.counters.cut.load();
  report.drained = static_cast<std::size_t>(ended_after - ended_before) - report.cut;
  spdlog::info("agi: shutdown complete: {} drained, {} cut, {} still live", report.drained, report.cut, d.live.load());
  return report;
}

}  // namespace astra::agi
