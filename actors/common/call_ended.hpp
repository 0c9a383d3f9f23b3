#pragma once
// Thrown from an awaited call operation (a FastAGI command, an ARI request of a channel's
// handler) when the call is over and the handler runs in straight-line mode: the caller hung
// up, the peer closed the connection, or the service cut the call while draining. The handler
// runner catches it and ends the call NORMALLY (outcome completed); nothing is logged as an
// error. It deliberately does not derive from std::exception, so that a handler's own
// `catch (const std::exception&)` does not swallow the end of its call; a handler that must
// run code at the end uses RAII or `catch (const astra::call_ended&) { ...; throw; }`.
// Every other error (a timeout, a failed command, an ARI 404) stays a value (astra::result).
#include <string>
#include <system_error>

namespace astra {

struct call_ended {
  std::error_code reason;  // agi_errc::hung_up / disconnected / shutting_down, ari: channel gone, ...
  std::string detail;
};

// What a hang-up means to a handler's awaited operations.
enum class hangup_policy {
  end_handler,   // straight-line: the operation throws astra::call_ended (handlers of astra::service)
  return_error,  // errors as values: the operation yields the error (hung_up, ...) like any other
};

}  // namespace astra
