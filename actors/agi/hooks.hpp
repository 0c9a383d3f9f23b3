#pragma once
// Metric hooks of the FastAGI server (all optional).
//
// Thread affinity: per-call events are invoked where the call's actor runs (its io thread by
// default, a CAF worker with server_config::handlers_on_io_threads = false or during
// shutdown), refusals on Asio threads, concurrently; every callback must be thread-safe, non-blocking and cheap.
// The string_views are valid during the callback only.
//
// Failures: a hook that throws is caught where it was invoked, counted
// (server_stats::hook_errors) and logged with the call id (or the peer) — the 1st, 2nd, 4th,
// 8th... throw of each hook only — and the call or connection goes on as if it had returned.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

namespace astra::agi {

struct peer_address;

// How a call (a connection whose route matched and that was admitted) ended.
enum class call_outcome {
  completed,  // the handler returned normally (also after the caller hung up)
  failed,     // the handler returned an error result
  exception,  // the handler threw
  cut,        // closed by the server: drain deadline passed during shutdown
  timed_out,  // closed by the server: still running after server_config::max_call_duration
};
const char* to_string(call_outcome o) noexcept;

// Why a connection never became a call.
enum class refusal {
  capacity,         // max_concurrent_calls reached
  auth,             // the route's (or the global) auth policy refused it
  auth_error,       // the auth policy threw: refused (fail closed), logged with the call's uniqueid
  no_route,         // no route matched agi_network_script
  shutting_down,    // the server is draining
  bad_environment,  // the agi_* block was malformed or exceeded a limit
  env_timeout,      // the agi_* block did not arrive within env_timeout
  closed_early,     // the peer closed before the agi_* block was complete (health probe, scanner)
};
const char* to_string(refusal r) noexcept;

struct server_hooks {
  // A call was admitted and its actor started.
  std::function<void(std::string_view route, std::uint64_t call_id)> call_started;
  // A call's actor ended; duration measured from admission.
  std::function<void(std::string_view route, std::uint64_t call_id, call_outcome outcome,
                     std::chrono::nanoseconds duration)>
      call_ended;
  // A command completed: command is the catalog name in lower case ("stream file"; for send()
  // the catalog name of its verb, or "raw" when unknown), latency from write to final reply; code is the reply code (200, 510, 511, 520) or 0
  // when there was no reply (timeout, disconnect, hangup before the reply, refused locally).
  std::function<void(std::string_view command, std::chrono::nanoseconds latency, int code)> command_completed;
  // Every reply line Asterisk sent, by code (100, 200, 510, 511, 520); HANGUP notices are 0.
  std::function<void(int code)> reply_received;
  // A connection was closed without becoming a call.
  std::function<void(refusal reason, const peer_address& peer)> connection_refused;
};

}  // namespace astra::agi
