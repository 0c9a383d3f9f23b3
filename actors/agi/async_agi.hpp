#pragma once
// AsyncAGI over AMI: `AGI(agi:async[,route[,args...]])` in the dialplan hands the channel to
// AMI instead of a FastAGI socket. For every AMI session it is attached to, astra::agi::async_agi
// runs one dispatcher actor that subscribes to the session's AsyncAGIStart / AsyncAGIExec /
// AsyncAGIEnd events and spawns one call actor per AsyncAGI channel. The call actor runs the
// route's handler (the same astra::agi::handler type and router as the FastAGI server) on the
// same sans-IO call core: each command line the core writes goes out as
// `Action: AGI` (Channel, Command, CommandID) through the session, and the URL-encoded Result of
// the AsyncAGIExec event that carries that CommandID is fed back as the reply.
//
// Route: the first AGI argument (`AGI(agi:async,/ivr/menu?lang=en,first)` -> route "/ivr/menu",
// query lang=en, call.args() == {"first"}); no argument -> "/". Routes' auth policies are not
// applied (the call arrives over astra's own authenticated AMI login; there is no peer address).
//
// Ends of a call (what FastAGI's socket close means here):
//  - AsyncAGIEnd (the channel hung up or left AGI), or `Response: Error` to an Action: AGI
//    (Asterisk: "Channel ... does not exist"): the core sees a HANGUP notice, then the end of the
//    connection: the command in flight fails hung_up, later ones disconnected (a straight-line
//    handler ends with astra::call_ended, as on FastAGI).
//  - The AMI link goes down, or an Action: AGI fails otherwise (timeout, queue full ...):
//    disconnected (the channel, if still up, waits in AGI on Asterisk's side until it hangs up;
//    a lost AsyncAGIExec cannot be recovered after a reconnect).
//  - The handler returns (or throws, or the call is cut/timed out): astra sends
//    `ASYNCAGI BREAK` unless the channel already left AGI, so the dialplan continues after AGI().
//  - Refused starts (no route, a bad Env, max_calls reached, draining) get ASYNCAGI BREAK at
//    once and are counted (hooks.connection_refused with a default peer_address).
// Hang-up, 511, dead-channel and timeout rules are the call core's (actors/agi/call.hpp).
//
// Only one AMI client should drive AsyncAGI on an Asterisk: every session with `agi` read
// permission sees AsyncAGIStart.
//
// Threads: the dispatcher and the call actors are CAF actors; hooks run on CAF workers (see
// hooks.hpp: thread-safe, cheap). Only caf/fwd.hpp here.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/agi/hooks.hpp"
#include "actors/agi/router.hpp"

namespace astra::agi {

namespace detail {
struct async_shared;
}

struct async_agi_config {
  std::string name = "ami";             // label for logs (the server's name)
  std::shared_ptr<const router> routes; // required; shared with every dispatcher and call
  // Live call actors over all sessions; an AsyncAGIStart beyond it is refused (capacity).
  std::size_t max_calls = 20000;
  // Command deadlines, as server_config (call.hpp).
  std::chrono::milliseconds command_timeout{30000};
  std::chrono::milliseconds timeout_margin{5000};
  std::chrono::milliseconds long_command_timeout{3600000};
  std::chrono::milliseconds hangup_reply_grace{500};
  bool fail_fast_after_hangup = false;
  std::uint32_t max_commands_after_close = 256;
  std::chrono::milliseconds max_call_duration{0};  // 0: no limit
  // Deadline of the AMI round trip of one Action: AGI (Asterisk answers "Added AGI command to
  // queue" at once; the command's own result comes later in AsyncAGIExec, under the command's
  // deadline).
  std::chrono::milliseconds action_timeout{10000};
  // CommandID of every Action: AGI: prefix + "<call id>-<n>". "" => "astra-<8 hex>-".
  std::string command_id_prefix;
  // The dispatcher's subscription to its session (pause_reading: an AsyncAGIExec is never shed
  // while the dispatcher keeps up; events in flight from the session to the dispatcher).
  std::size_t subscriber_capacity = 8192;
  server_hooks hooks;
};

struct async_agi_stats {
  std::uint64_t calls_started = 0;
  std::uint64_t calls_completed = 0;
  std::uint64_t calls_failed = 0;      // error result, exception or runaway
  std::uint64_t calls_cut = 0;
  std::uint64_t calls_timed_out = 0;
  std::uint64_t refused_capacity = 0;
  std::uint64_t no_route = 0;
  std::uint64_t bad_environment = 0;
  std::uint64_t refused_shutting_down = 0;
  std::uint64_t foreign_results = 0;   // AsyncAGIExec of a tracked channel with a CommandId astra did not send
  std::uint64_t hook_errors = 0;
  std::size_t live_calls = 0;
};

class async_agi {
 public:
  // Throws std::invalid_argument for a null router, max_calls 0 or a timeout <= 0.
  explicit async_agi(async_agi_config config);
  ~async_agi();
  async_agi(const async_agi&) = delete;
  async_agi& operator=(const async_agi&) = delete;

  // Spawns the dispatcher of one AMI session actor (ami::spawn_session). It monitors the
  // session and quits with it (its live calls are then cut); a restarted session needs a new
  // attach. Thread-safe.
  caf::actor attach(caf::actor_system& system, const caf::actor& session);

  // Refuses new calls (refused_shutting_down, ASYNCAGI BREAK), waits until the live calls end
  // or `drain` passed, then cuts the rest (their channels get ASYNCAGI BREAK while the sessions
  // are still up) and waits at most 2 s more for their actors. Blocks the calling thread (never
  // from an actor or an Asio thread). Returns {calls that ended by themselves, calls cut}.
  std::pair<std::size_t, std::size_t> shutdown(std::chrono::milliseconds drain);
  // From now on every AsyncAGIStart is refused (shutting_down). Thread-safe; shutdown() does it too.
  void refuse_new_calls() noexcept;

  async_agi_stats stats() const noexcept;
  std::size_t live_calls() const noexcept;

 private:
  std::shared_ptr<detail::async_shared> shared_;
};

}  // namespace astra::agi
