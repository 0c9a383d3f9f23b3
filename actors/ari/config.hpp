#pragma once
// Configuration of one ARI connection (one Asterisk server): where, who, limits, deadlines.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "actors/common/call_ended.hpp"
#include <string_view>
#include <vector>

#include "actors/common/backoff.hpp"
#include "protocols/common/result.hpp"

namespace astra::ari {

// Limits and defaults shared by both transports.
inline constexpr std::size_t default_max_connections = 4;          // keep-alive HTTP connections per server
inline constexpr std::size_t default_max_pending_requests = 1024;   // queued while all connections are busy
inline constexpr std::size_t max_response_bytes = 8 * 1024 * 1024;  // a bigger HTTP reply is refused
inline constexpr std::size_t max_event_frame_bytes = 4 * 1024 * 1024;  // a bigger WebSocket frame closes the socket
inline constexpr std::size_t max_pending_ws_writes = 1024;          // RESTRequest frames queued for writing
inline constexpr std::size_t default_channel_queue = 256;           // events in flight to one channel/bridge actor
inline constexpr std::size_t default_dispatch_queue = 8192;         // frames in flight from the socket to the dispatcher

// What the client does with a channel it finds inside one of its applications, with no actor,
// each time the event socket (re)subscribes (astra restarted, Asterisk restarted, network cut).
enum class reconnect_policy : std::uint8_t {
  hangup,                // DELETE /channels/{id} (the default: never leave a caller in silence)
  continue_in_dialplan,  // POST /channels/{id}/continue: back to the dialplan after Stasis()
  adopt,                 // a channel actor runs client_handlers::on_adopt with the listed state
};
// "hangup", "continue", "adopt" (metric label values).
std::string_view to_string(reconnect_policy p) noexcept;

struct client_config {
  // http://host:port[/prefix] or https://...; the event socket uses ws:// or wss:// on the
  // same authority. A prefix (http.conf `prefix=`) is kept: <prefix>/ari/...
  std::string url = "http://127.0.0.1:8088";
  std::string user = "asterisk";
  std::string password;
  // Send the credentials as ?api_key=user:password instead of an Authorization header
  // (only when asked: URLs end up in logs).
  bool use_api_key = false;

  // TLS (https/wss): the peer certificate is verified against the system store (or
  // ca_file) and the host name, unless verify_tls is explicitly turned off.
  bool verify_tls = true;
  std::string ca_file;

  // Event socket: one or more Stasis applications; subscribeAll=true when asked.
  std::vector<std::string> apps;
  // false: no event socket at all; events arrive only through client::inject_frame (a replica
  // running calls whose events the holder of the socket relays over NATS, issue 14). REST goes
  // over HTTP; no reconciliation runs (there is no (re)subscription).
  bool event_socket = true;
  bool subscribe_all = false;
  // Application event filter (PUT /applications/{app}/eventFilter, in the recorded Asterisk 22
  // api-docs; added in Asterisk 16.3 / 13.26 according to its changelog, unverified here; with
  // {"allowed":[{"type":...}...]}), set for every app at each successful subscription when not
  // empty: Asterisk then sends the apps only these event types. The client adds the types it
  // needs itself (client_event_types()). Empty (the default): no filter is set and Asterisk's
  // current one is left as it is. A refused request (an older Asterisk: 404/405, or any error)
  // is logged once per client; the client then receives, and ignores, the rest as before.
  // Handlers that wait for other event types (channel::on / channel::wait) must be listed.
  std::vector<std::string> event_filter;

  // Send REST calls as RESTRequest frames over the event socket (Asterisk 22.4+). Probed at
  // every connect; plain HTTP is used whenever the socket is down or the probe failed.
  bool rest_over_websocket = false;

  std::size_t max_connections = default_max_connections;
  std::size_t max_pending_requests = default_max_pending_requests;
  std::chrono::milliseconds request_timeout{10'000};   // whole request: queue + connect + write + read
  std::chrono::milliseconds connect_timeout{5'000};    // TCP + TLS + WebSocket handshake
  std::chrono::milliseconds idle_connection_max{20'000};  // a pooled connection idle longer is discarded
  // The event socket is idle-pinged after ping_interval of silence; no frame at all for
  // dead_peer_timeout closes it as dead (then reconnect).
  std::chrono::milliseconds dead_peer_timeout{20'000};
  std::chrono::milliseconds probe_timeout{2'000};      // REST-over-WebSocket support probe
  backoff_policy reconnect{};                          // between event socket attempts

  // Channels found in the apps without an actor at each (re)subscription: GET /channels,
  // keeping those whose dialplan app is Stasis (any case) with one of `apps` as the first
  // comma-separated token of its data. One policy for every app of this client.
  reconnect_policy on_reconnect = reconnect_policy::hangup;
  // A listed channel is acted on only if no StasisStart, StasisEnd or ChannelDestroyed about it
  // arrived within this window after the listing (it was entering or leaving the app then).
  std::chrono::milliseconds orphan_grace{500};
  // A channel handler that ends by a throw (outcome failed or exception) while its channel is
  // still in the app: the channel is hung up (true), or left where it is (false: a wrapper
  // applies its own policy, as the outbound per-call sockets' after_handler does).
  bool hangup_on_handler_failure = true;

  std::size_t channel_queue = default_channel_queue;   // per channel/bridge actor
  // What the end of a channel does to its handler's awaited requests: return_error (errors
  // as values: channel_gone, 404 ...) or end_handler (straight-line: the request throws
  // astra::call_ended once the channel left Stasis or the client stopped, and the handler
  // ends normally; astra::service's default).
  hangup_policy on_hangup = hangup_policy::return_error;
  std::size_t dispatch_queue = default_dispatch_queue; // socket -> dispatcher
};

// The event types the client needs for itself whatever the handlers do: channel and bridge
// lifecycles (actor creation and end, reconciliation), ApplicationReplaced, and the playback
// events channel::wait_playback / bridge playbacks rely on.
const std::vector<std::string>& client_event_types();

// The JSON body of PUT /applications/{app}/eventFilter allowing `types` plus
// client_event_types() (sorted, without duplicates): {"allowed":[{"type":"..."},...]}.
std::string event_filter_body(const std::vector<std::string>& types);

// A parsed client_config::url.
struct endpoint {
  bool tls = false;
  std::string host;
  std::string port;     // numeric or service name
  std::string prefix;   // "" or "/something" (no trailing slash)
  // "/<prefix>/ari/<path>"
  std::string target(std::string_view relative_path) const;
  std::string host_header() const;  // "host:port"
};

result<endpoint> parse_endpoint(std::string_view url);

}  // namespace astra::ari
