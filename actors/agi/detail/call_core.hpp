#pragma once
// The command state machine of one FastAGI call (no Asio, no CAF: driven by the call's actor
// and unit-testable with a fake transport).
//
// Thread affinity: every member is called from the owning actor's context only. Completing a
// command resumes the handler coroutine synchronously (inside on_event/on_tick/...), so each
// entry point leaves the core consistent before it completes a slot.
//
// Wire discipline: at most one command is written and unanswered at a time (Asterisk aborts a
// playing command when new bytes arrive). A command abandoned before its reply (deadline expired,
// or completed early with hung_up because HANGUP arrived during a live-channel command) leaves an
// "orphan": its late final reply is swallowed before the next queued command is written. An
// orphan left by HANGUP is waited for at most settings::hangup_reply_grace.
//
// Ambiguous -1 (command_slot::minus_one_ambiguous): Asterisk answers a playback interrupted by
// the caller's hang-up with `200 result=-1` and writes its HANGUP line only after that reply, and
// the same -1 also means "could not be played". Unless the channel is already known hung up, or
// the reply itself shows the file never played (see call_core.cpp), the core keeps the command
// in flight and writes its own `CHANNEL STATUS` probe (not visible to the handler, deadline
// settings::command_timeout, ahead of any queued command): HANGUP, 511 or `200 result=-1`
// complete the command with hung_up, any other reply with its original -1 reply. Hooks see the
// command once (command_completed at its -1 reply); the probe's reply counts in reply_received.
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "actors/agi/detail/hook_guard.hpp"
#include "actors/agi/hooks.hpp"
#include "actors/common/call_ended.hpp"
#include "protocols/agi/errors.hpp"
#include "protocols/agi/reply.hpp"
#include "protocols/common/result.hpp"

namespace astra::agi::detail {

using clock = std::chrono::steady_clock;
// The core's source of "now" (steady clock in production, a virtual clock in tests). A plain
// function pointer: no state, no allocation, 8 bytes in core_settings.
using time_source = clock::time_point (*)() noexcept;

// Implemented by the Asio connection. Calls return at once (they post to the socket's strand).
class call_transport {
 public:
  virtual ~call_transport() = default;
  // Writes one command line (LF included) and, unless `wake_at` is time_point::max(), (re)arms
  // the wake-up timer for it.
  virtual void write(std::string line, clock::time_point wake_at) = 0;
  // (Re)arms the wake-up timer: the actor receives a tick at or after `wake_at`.
  virtual void arm(clock::time_point wake_at) = 0;
  // Shuts the socket down and closes it; later writes are dropped. Idempotent.
  virtual void close() = 0;
};

class call_core;

// One command of a handler. Heap-allocated by the command<T> awaitable (so that a handler's
// coroutine frame holds a pointer per co_await, not a whole slot) and owned by it.
struct command_slot {
  std::string line;                 // command line, LF included; moved to the transport when written.
                                    // When `preset` is set: the reason the command could not be built.
                                    // While the core probes an ambiguous -1: that reply's bytes.
  std::error_code preset;           // set when the command could not be built: it completes at once
  std::string_view name = "raw";    // catalog name for hooks/logs (static storage)
  std::chrono::milliseconds own_timeout{0};  // the command's own timeout argument; 0: none, <0: unbounded
  bool dead_ok = false;             // Asterisk runs it on a dead channel
  bool minus_one_is_hangup = false; // "200 result=-1" means the channel went away
  bool long_running = false;        // EXEC/GOSUB: runs dialplan, unbounded by nature
  // "200 result=-1" means failure or hang-up: settle it with a CHANNEL STATUS probe (file
  // comment). Set for (res_agi.c, Asterisk 22 docs "-1 on error or if the channel was
  // disconnected" / "-1 on error/hangup"): STREAM FILE, CONTROL STREAM FILE, GET OPTION (the same
  // playback path as STREAM FILE, then a digit wait) and SAY ALPHA/DIGITS/NUMBER/PHONETIC/DATE/
  // TIME/DATETIME (-1 from a missing sound file or a hang-up). Not set for: GET DATA and WAIT
  // FOR DIGIT (minus_one_is_hangup: their -1 only comes from a hang-up), RECORD FILE (its -1
  // carries a reason: "(hangup)" is decoded as a record_result that keeps endpos, the others
  // are local failures), RECEIVE CHAR/TEXT (-1 "(hangup)" also on a live channel without text
  // support), EXEC (-1 is the application's own result, handed to the handler).
  bool minus_one_ambiguous = false;

  // Managed by the core.
  std::coroutine_handle<> waiter;
  std::unique_ptr<astra::result<reply>> outcome;  // set on completion
  clock::time_point issued{}, written{}, deadline{};
  command_slot* next = nullptr;
  call_core* owner = nullptr;  // non-null while queued or in flight
};

struct core_settings {
  std::chrono::milliseconds command_timeout{30000};      // default deadline of every command
  std::chrono::milliseconds timeout_margin{5000};        // added to a command's own timeout argument
  std::chrono::milliseconds long_command_timeout{3600000};  // EXEC, GOSUB, unbounded own timeouts
  std::chrono::milliseconds hangup_reply_grace{500};     // wait for the reply of a command cut short by HANGUP
  bool fail_fast_after_hangup = false;  // refuse live-channel commands locally once HANGUP was seen
  // Commands accepted after the call closed (each fails at once) before the core stops
  // completing them and reports runaway(): the actor then ends the call.
  std::uint32_t max_commands_after_close = 256;
  // The whole call's deadline, from the core's construction; 0: none. Reaching it on a tick
  // sets expired() (the owner ends the call); it only moves the transport's timer earlier.
  std::chrono::milliseconds max_call_duration{0};
  time_source now = &clock::now;  // every instant the core reads (deadlines, grace, wake-ups); never null
  // Where hooks that throw are counted (the server's, shared by its calls; thread-safe); null:
  // a throwing hook is swallowed uncounted.
  hook_faults* faults = nullptr;
};

struct core_counters {
  std::uint32_t commands = 0;
  std::uint32_t timeouts = 0;
  std::uint32_t orphan_replies = 0;     // late replies swallowed
  std::uint32_t unexpected_replies = 0; // final replies with no command outstanding
  std::uint32_t probes = 0;             // CHANNEL STATUS probes written to settle an ambiguous -1
};

class call_core {
 public:
  // `settings` is shared by every call of a server and must outlive the core (the server owns
  // it); only the default command deadline can be changed per call (set_command_timeout).
  // `call_id` names the call in the log line of a hook that throws. With
  // settings.max_call_duration set, the constructor arms the transport for the call's deadline.
  call_core(const core_settings& settings, std::shared_ptr<call_transport> transport, const server_hooks* hooks,
            std::uint64_t call_id = 0);
  ~call_core();
  call_core(const call_core&) = delete;
  call_core& operator=(const call_core&) = delete;

  // Queues a command. Returns true if the caller must suspend (the slot completes later through
  // its waiter), false if it completed synchronously (slot.outcome is set).
  bool submit(command_slot& slot);
  // The slot's frame is being destroyed before completion: forget it (its reply, if any, is
  // swallowed as an orphan).
  void detach(command_slot& slot) noexcept;

  // Parsed input from the connection.
  void on_event(reply_event event);
  // The reply stream is corrupt (parser error): fail everything, close.
  void on_protocol_error(failure f);
  // The peer closed or the socket failed.
  void on_disconnected(std::error_code ec);
  // The transport's timer fired.
  void on_tick(clock::time_point now);
  // Ends the call: later and pending commands fail with `reason`; closes the transport.
  void shutdown(agi_errc reason);

  bool hung_up() const noexcept { return hung_up_; }
  bool connected() const noexcept { return !closed_; }
  bool idle() const noexcept { return inflight_ == nullptr && head_ == nullptr; }
  // The in-flight command answered an ambiguous -1 and the core's CHANNEL STATUS probe is on the
  // wire (the command completes when the probe is answered).
  bool probing() const noexcept { return probing_; }
  // The handler kept issuing commands on a closed call: it is suspended for good and the owner
  // must end the call.
  bool runaway() const noexcept { return runaway_; }
  // A tick found the call past settings().max_call_duration: the owner must end the call (the
  // core completes nothing for it; its pending commands fail when the owner shuts it down).
  bool expired() const noexcept { return expired_; }
  // When the call expires (time_point::max(): never).
  clock::time_point call_deadline() const noexcept { return call_deadline_; }
  const core_counters& counters() const noexcept { return counters_; }
  const core_settings& settings() const noexcept { return *settings_; }
  // This call's default command deadline (starts at settings().command_timeout).
  std::chrono::milliseconds command_timeout() const noexcept { return command_timeout_; }
  void set_command_timeout(std::chrono::milliseconds timeout) noexcept { command_timeout_ = timeout; }
  astra::hangup_policy hangup_policy() const noexcept { return hangup_policy_; }
  void set_hangup_policy(astra::hangup_policy p) noexcept { hangup_policy_ = p; }
  // True when a command error must end a straight-line handler (astra::call_ended).
  bool ends_handler(std::error_code ec) const noexcept {
    return hangup_policy_ == astra::hangup_policy::end_handler &&
           (ec == agi_errc::hung_up || ec == agi_errc::disconnected || ec == agi_errc::shutting_down);
  }

 private:
  std::chrono::milliseconds timeout_for(const command_slot& slot) const;
  void enqueue(command_slot& slot);
  command_slot* pop_front() noexcept;
  bool unlink(command_slot& slot) noexcept;
  void pump();
  void send(std::string line, clock::time_point deadline, clock::time_point now);
  void start_probe(command_slot& slot, reply&& minus_one, clock::time_point now);
  void finish_probe(const reply& answer);
  void rearm();
  void report(const command_slot& slot, int code, clock::time_point now);
  void complete(command_slot& slot, astra::result<reply> outcome);
  void fail_all(agi_errc code, const std::string& detail);

  const core_settings* settings_;
  std::chrono::milliseconds command_timeout_;
  std::shared_ptr<call_transport> transport_;
  const server_hooks* hooks_;
  std::uint64_t call_id_;
  clock::time_point call_deadline_ = clock::time_point::max();
  command_slot* inflight_ = nullptr;
  command_slot* head_ = nullptr;
  command_slot* tail_ = nullptr;
  std::uint32_t orphans_ = 0;               // final replies to swallow before writing again
  bool orphan_after_hangup_ = false;        // the newest orphan was left by HANGUP
  clock::time_point orphan_grace_until{};   // give up waiting for orphan replies then
  clock::time_point armed_for_ = clock::time_point::max();
  bool hung_up_ = false;
  bool closed_ = false;
  bool runaway_ = false;
  bool expired_ = false;
  bool probing_ = false;                    // inflight_ waits for the reply of the core's probe
  astra::hangup_policy hangup_policy_ = astra::hangup_policy::return_error;
  std::uint32_t after_close_ = 0;
  agi_errc closed_reason_ = agi_errc::disconnected;
  core_counters counters_;
};

}  // namespace astra::agi::detail
