#pragma once
// Internals of the FastAGI server, shared by its translation units (not part of the library's
// interface; included by these files only):
//   server.cpp       the public server API: construction, start, stats, admission
//                    bookkeeping (refusals, call registry) and shutdown (drain, cut)
//   server_io.cpp    the Asio side: acceptor, one connection per socket, the shared deadline
//                    heap and the outbox of requests from call actors to their sockets
//   server_call.cpp  the call actor (one per admitted call) that runs the route's handler
#include <utility>  // before Asio (see platform-facts)

#include <atomic>
#include <functional>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include <boost/asio/detail/reactor_fwd.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/io_context_strand.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include "actors/agi/detail/hook_guard.hpp"
#include "actors/agi/detail/io_execution_unit.hpp"
#include "actors/agi/server.hpp"

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
// To a call actor: from the call itself (`done`: the handler finished; `expire`: its
// max_call_duration passed while its connection was closed) or from server::shutdown (`cut`).
struct call_control {
  enum kind_t : std::uint8_t { done, cut, expire } kind = done;
};
// To a call actor, from any thread: a completion of something the handler awaits outside the
// call (agi::call::external, e.g. a webhook request), run inside the actor.
struct run_in_call {
  std::function<void()> fn;
};
}  // namespace astra::agi::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::agi::detail::connection_news)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::agi::detail::call_control)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::agi::detail::run_in_call)

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

class connection;  // server_io.cpp

enum class outbound_kind : std::uint8_t { write, arm, close };
struct outbound {
  std::shared_ptr<connection> conn;
  std::string line;                 // write: the command line
  clock::time_point wake_at{};      // write/arm: wake-up instant (max(): none)
  outbound_kind kind = outbound_kind::write;
};

struct server::impl : std::enable_shared_from_this<server::impl> {
  impl(caf::actor_system& sys, asio::io_context& ctx, router r, server_config c);  // server.cpp

  caf::actor_system& system;
  asio::io_context& io;
  // io's reactor (epoll), on which connections start their receives directly (server_io.cpp,
  // read_op). Looked up once: use_service() takes a lock.
  asio::detail::reactor& reactor;
  // Where call actors run (config.handlers_on_io_threads): scheduled by the connections'
  // messages and at spawn; detached (everything on CAF's workers) when shutdown() starts.
  std::shared_ptr<detail::io_execution_unit> runner;
  // The execution unit a connection's message to its call actor schedules it on (null: CAF's
  // scheduler).
  caf::execution_unit* call_context() const noexcept;
  // Connection -> call actor (any io thread).
  void tell(const caf::actor& call, detail::connection_news news) const;
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
  // server_io.cpp.
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
    std::atomic<std::uint64_t> accepted{0}, started{0}, completed{0}, failed{0}, cut{0}, timed_out{0},
        refused_capacity{0}, refused_auth{0}, auth_errors{0}, no_route{0}, refused_shutting_down{0},
        bad_environment{0}, env_timeouts{0}, closed_early{0}, accept_errors{0};
    // Calls that ended, whatever the outcome.
    std::uint64_t ended() const noexcept {
      return completed.load() + failed.load() + cut.load() + timed_out.load();
    }
  } counters;
  // Hooks (config.hooks) that threw; core.faults points here.
  detail::hook_faults hook_faults;

  std::mutex mutex;  // guards calls; signals `changed` when a call ends
  std::condition_variable changed;
  std::unordered_map<std::uint64_t, caf::actor> calls;

  // The acceptor (server_io.cpp; on accept_strand).
  void accept_next();         // waits for the listener to be readable
  void accept_ready();        // takes the backlog's connections
  void retry_accept_later();  // accept_next() after accept_retry_delay
  void on_accepted(socket_type socket, const tcp::endpoint& peer);

  // Requests from call actors to their connections, drained by one posted handler per batch
  // (instead of a post per command). Bounded by the number of live calls: each call has at
  // most one command line in flight plus a timer update and a close. server_io.cpp.
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

  // Counts and logs a connection that never became a call, then tells the hook. server.cpp.
  void refuse(refusal why, const peer_address& peer, std::string_view detail);

  bool cutting = false;  // guarded by mutex: shutdown() has taken its snapshot of calls to cut

  // Called by the call actor itself before its handler starts (so a call that ends at once
  // is registered before call_ended erases it). Returns false when shutdown() is already
  // cutting: the call must cut itself (no cut message will reach it). server.cpp.
  bool register_call(std::uint64_t id, caf::actor actor);
  // Called once per call, from its actor's state destructor. server.cpp.
  void call_ended(std::uint64_t id, call_outcome outcome);
};

namespace detail {

// The reactor of `io` (server_io.cpp).
asio::detail::reactor& reactor_of(asio::io_context& io);

// Spawns the actor of an admitted call (server_call.cpp). Called on the connection's strand;
// `transport` is that connection.
caf::actor spawn_call_actor(std::shared_ptr<server::impl> srv, std::shared_ptr<call_transport> transport,
                            call_environment env, call::identity id);

}  // namespace detail

}  // namespace astra::agi
