#pragma once
// Error values of the ARI client.
//
// Transport and client failures use ari_errc (category "ari"). A reply with a non-2xx
// status uses the protocol layer's HTTP status category (protocols/ari/errors.hpp):
// code.value() IS the status and failure::detail is Asterisk's "message"; http_status(f).
#include <string>
#include <system_error>

#include "protocols/ari/errors.hpp"
#include "protocols/common/result.hpp"

namespace astra::ari {

enum class ari_errc {
  invalid_url = 1,        // config url is not http(s)://host[:port][/prefix]
  resolve_failed,         // DNS lookup of the host failed
  connect_failed,         // TCP connect refused / unreachable
  tls_failed,             // TLS handshake or certificate verification failed
  timeout,                // the request's deadline passed
  disconnected,           // the peer closed the connection before the reply was complete
  bad_response,           // unparsable HTTP reply or RESTResponse frame
  response_too_large,     // reply body above max_response_bytes
  queue_full,             // the bounded request queue is full; request dropped (counted)
  upgrade_refused,        // the /ari/events WebSocket upgrade was answered with a non-101 status
  not_connected,          // REST over WebSocket requested while the event socket is down
  unsupported,            // the server does not answer RESTRequest frames (Asterisk < 22.4)
  cancelled,              // the client was stopped before the reply arrived
  invalid_argument,       // a caller-supplied value was rejected before sending
  application_replaced,   // another client registered the same Stasis application
  channel_gone,           // the channel left Stasis (or vanished during a reconnect gap)
};

const std::error_category& ari_category() noexcept;

inline std::error_code make_error_code(ari_errc e) noexcept { return {static_cast<int>(e), ari_category()}; }
}  // namespace astra::ari

namespace std {
template <>
struct is_error_code_enum<astra::ari::ari_errc> : true_type {};
}  // namespace std
