#pragma once
// The FastAGI server: accepts Asterisk's connections (agi://host:4573/path?query), reads the
// agi_* block, routes, admits (auth, concurrency cap), then runs the route's handler coroutine
// in a CAF actor of its own — one actor per call, no thread per call.
//
// Embedding (the astra service or a user program):
//   caf::actor_system sys{cfg};  astra::io_runtime io{1};
//   astra::agi::router routes;   routes.add("/ivr/:menu", &menu);
//   astra::agi::server srv{sys, io.context(), std::move(routes), {.port = 4573}};
//   if (auto ec = srv.start()) { ... }            // bind/listen errors
//   ...
//   auto report = srv.shutdown(10s);               // on SIGTERM: drained / cut counts
//
// Failures of user code are contained: a handler that throws ends its own call (outcome
// exception), a hook that throws is counted and skipped (hooks.hpp), an auth policy that throws
// refuses that one call (refusal::auth_error); the server and the other calls go on.
//
// Threads: Asio threads (the io_context's) own the sockets: they accept, read, parse and
// anon_send parsed replies to the call actors; actors post writes back. The io_context and the
// actor_system must outlive the server.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include <caf/fwd.hpp>

#include "actors/agi/auth.hpp"
#include "actors/agi/call.hpp"
#include "actors/agi/hooks.hpp"
#include "actors/agi/router.hpp"

namespace boost::asio {
class io_context;
}

namespace astra::agi {

struct server_config {
  std::string host = "0.0.0.0";  // IPv4 or IPv6 literal ("::" listens dual-stack where allowed)
  std::uint16_t port = 4573;     // 0: an ephemeral port (see server::local_port)
  int listen_backlog = 4096;     // pending connects the kernel queues (capped by net.core.somaxconn)

  // Calls (admitted connections with a running handler) beyond this are refused and counted.
  std::size_t max_concurrent_calls = 20000;
  // The agi_* block must be complete this long after the connect, else the socket is closed.
  std::chrono::milliseconds env_timeout{5000};

  // Command deadlines (see call.hpp): default, margin added to a command's own timeout
  // argument, deadline of EXEC/GOSUB/unbounded commands, and how long the reply of a
  // live-channel command interrupted by HANGUP is waited for before the next command is sent.
  std::chrono::milliseconds command_timeout{30000};
  std::chrono::milliseconds timeout_margin{5000};
  std::chrono::milliseconds long_command_timeout{3600000};
  std::chrono::milliseconds hangup_reply_grace{500};
  // After HANGUP/511, fail live-channel commands locally instead of letting Asterisk answer 511.
  bool fail_fast_after_hangup = false;
  // Commands a handler may issue after its call closed before the call is ended as runaway
  // (each of them fails at once; a loop that ignores the errors would otherwise spin).
  std::uint32_t max_commands_after_close = 256;
  // A call still running this long after its admission is ended by the server: its handler is
  // not resumed again, the socket is closed, the outcome is call_outcome::timed_out (counted in
  // server_stats::calls_timed_out). It also ends a handler stalled on something other than a
  // command (commands have their own deadlines). 0: no limit (the default).
  std::chrono::milliseconds max_call_duration{0};

  // Where call actors (the handlers) run: true (the default), on the io thread that reads their
  // socket (a reply resumes the handler and its next command is written without a thread hop);
  // false, on CAF's workers (each command crosses threads twice: io thread -> worker -> io
  // thread, each crossing a mailbox and often a futex wake-up). bench_agi_churn, 2026-12-05:
  // true costs 13-15 us of server CPU per command against 23-24 us, at 93.7 % of the bare
  // loopback floor's commands/s against about 63 %, p99 1.7-1.9 ms against 3.0-3.1 ms
  // (docs/performance.md). Either
  // way a handler must never block: it would stall the sockets of the calls that share its io
  // thread (true) or a worker that every actor shares (false). Messages from outside the call
  // (agi::call::external completions) run it on CAF's workers; so do all calls once
  // shutdown() starts.
  bool handlers_on_io_threads = true;

  // Global admission policy; a route's own policy overrides it. Empty: admit all. A policy that
  // throws refuses the call (refusal::auth_error, server_stats::auth_errors), logged once with
  // the route and the call's agi_uniqueid; the server goes on.
  auth_policy auth;
  server_hooks hooks;
};

// Cumulative counters since construction (relaxed snapshots).
struct server_stats {
  std::uint64_t accepted = 0;           // TCP connections accepted
  std::uint64_t calls_started = 0;      // admitted calls (actors spawned)
  std::uint64_t calls_completed = 0;    // handler returned normally
  std::uint64_t calls_failed = 0;       // handler returned an error or threw
  std::uint64_t calls_cut = 0;          // closed by the drain deadline
  std::uint64_t calls_timed_out = 0;    // closed after running max_call_duration
  std::uint64_t refused_capacity = 0;
  std::uint64_t refused_auth = 0;       // the auth policy refused
  std::uint64_t auth_errors = 0;        // the auth policy threw (the call was refused)
  std::uint64_t hook_errors = 0;        // hook invocations (server_hooks) that threw
  std::uint64_t no_route = 0;
  std::uint64_t refused_shutting_down = 0;
  std::uint64_t bad_environment = 0;    // malformed or oversized agi_* block
  std::uint64_t env_timeouts = 0;
  std::uint64_t closed_early = 0;       // peer closed before the agi_* block completed
  std::uint64_t accept_errors = 0;      // failed accept() calls (e.g. out of descriptors: retried every 20 ms)
  std::size_t live_calls = 0;           // call actors alive now
  std::size_t pending_connections = 0;  // connections still sending their agi_* block
};

struct shutdown_report {
  std::size_t drained = 0;  // calls that ended by themselves during the drain
  std::size_t cut = 0;      // calls closed by the server at the drain deadline
};

class server {
 public:
  // Throws std::invalid_argument for an unusable configuration (max_concurrent_calls 0, a
  // timeout <= 0). An empty router is valid: every call is refused as no_route (counted in
  // server_stats::no_route and reported to hooks.connection_refused).
  server(caf::actor_system& system, boost::asio::io_context& io, router routes, server_config config);
  // Shuts down with no drain time (cuts live calls) if shutdown() was not called.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds, listens and starts accepting. Returns the bind/listen error, if any.
  std::error_code start();
  // The bound port (useful with port 0); 0 before start().
  std::uint16_t local_port() const noexcept;

  std::size_t live_calls() const noexcept;
  server_stats stats() const noexcept;

  // Stops accepting (new connects are refused by the kernel), lets calls run until `drain`
  // elapsed, then cuts the rest and waits (at most 5 s more) for their actors to end.
  // Blocks the calling thread: never call it from an Asio thread or an actor. Idempotent
  // (a second call reports zeros).
  shutdown_report shutdown(std::chrono::milliseconds drain);

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace astra::agi
