#pragma once
// ARI outbound WebSockets: Asterisk (22.5+, 21.10+, 20.15+; res_websocket_client with ari.conf
// `type = outbound_websocket`) dials astra and carries ARI over that socket. astra is the
// WebSocket SERVER here.
//
// Two kinds of socket, told apart by the first frame, ApplicationRegistered:
//  - per call (`connection_type = per_call_config`): application "<app>:<channel name>"; the
//    socket carries that one call. One connection = one channel actor (plus the bridge actors
//    the call creates), with the same handles and coroutine API as the inbound client
//    (ari::channel, ari::session, ari::bridge, stasis_handler). The call's end (its channel
//    actor stopped: StasisEnd, ChannelDestroyed) closes the socket; the socket's close stops
//    every actor of the call. When the handler returns with the channel still in Stasis, the
//    channel is hung up, continued or kept (outbound_server_config::after_handler).
//  - persistent (`connection_type = persistent`): application "<app>"; treated like an inbound
//    event socket: channel and bridge actors per call, reconciliation (GET /channels over the
//    socket) each time Asterisk (re)connects. Kept until the server stops.
// The base name (before ':') selects the configured app's handlers; an app with none is
// closed at once (close code 1008, counted: outbound_stats::no_handler).
//
// REST goes as RESTRequest frames over the same socket, correlated by request_id, each with a
// deadline (request_timeout); the socket's loss fails every pending request (disconnected).
//
// Admission (HTTP upgrade, in this order, each counted by upgrade_result):
//   draining -> 503 refused_draining; max_connections reached -> 503 refused_full (fast: the
//   dialplan's Stasis() then returns STASISSTATUS=FAILED after Asterisk's retries and can fall
//   back); not a GET WebSocket upgrade, or no `ari` in Sec-WebSocket-Protocol -> 400
//   bad_request; target path (query ignored) != config.path -> 404 not_found; Basic
//   credentials missing or wrong (compared in constant time) -> 401 unauthorized; else 101
//   with `Sec-WebSocket-Protocol: ari` (ok). The whole upgrade has handshake_timeout.
//
// Threads: Asio threads own the sockets (one strand per connection); they parse frames and
// only anon_send to actors. Hooks run on Asio and CAF threads: thread-safe and cheap.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/ari/client.hpp"

namespace boost::asio {
class io_context;
}

namespace astra::ari {

// Named bounds of one outbound socket.
inline constexpr std::size_t outbound_max_upgrade_bytes = 8 * 1024;        // request line + headers of the upgrade
inline constexpr std::size_t outbound_max_frame_bytes = 1024 * 1024;       // a bigger message closes the socket (1009)
inline constexpr std::size_t outbound_max_queued_writes = 256;             // frames waiting to be written
inline constexpr std::size_t outbound_max_queued_write_bytes = 1024 * 1024;  // their bytes
inline constexpr std::size_t outbound_max_pending_requests = 256;          // RESTRequests awaiting their RESTResponse
// Beyond a write bound the new REST request fails at once (queue_full), nothing is dropped
// silently; beyond the pending bound likewise.

enum class upgrade_result : std::uint8_t { ok, unauthorized, refused_draining, refused_full, bad_request, not_found };
// "ok", "unauthorized", "refused_draining", "refused_full", "bad_request", "not_found" (metric label).
std::string_view to_string(upgrade_result r) noexcept;

enum class outbound_mode : std::uint8_t { per_call, persistent };
std::string_view to_string(outbound_mode m) noexcept;  // "per_call", "persistent"

// Per call: the channel is still in Stasis when its handler ended.
enum class after_handler_policy : std::uint8_t {
  hangup,                // DELETE /channels/{id} (default: the socket then closes after StasisEnd)
  continue_in_dialplan,  // POST /channels/{id}/continue
  keep,                  // nothing: the call stays until the caller hangs up
};

// Why an upgraded connection ended (outbound_stats counts each).
enum class close_reason : std::uint8_t {
  call_ended,            // per call: the channel actor stopped; astra closed (1000)
  peer_closed,           // Asterisk closed the socket (or it was lost)
  no_handler,            // ApplicationRegistered for an app with no handler (1008)
  bad_first_frame,       // the first frame was not a valid ApplicationRegistered (1008)
  registration_timeout,  // no ApplicationRegistered within handshake_timeout (1008)
  oversized_frame,       // a message over outbound_max_frame_bytes (1009)
  server_stopped,        // stop(): the end of the drain
};
std::string_view to_string(close_reason r) noexcept;

struct outbound_app {
  std::string name;          // the Stasis() application name (base name of per-call sockets)
  client_handlers handlers;  // on_stasis_start required; on_adopt for persistent reconnects
};

struct outbound_server_config {
  std::string host = "0.0.0.0";
  std::uint16_t port = 8765;  // 0: ephemeral (local_port() tells)
  std::string path = "/ari/events";
  std::string username;       // empty: no credentials required (not recommended)
  std::string password;
  std::size_t max_connections = 20'000;  // upgraded + being upgraded
  std::chrono::milliseconds handshake_timeout{5'000};  // upgrade; then again until ApplicationRegistered
  std::chrono::milliseconds request_timeout{10'000};   // one RESTRequest -> RESTResponse
  std::chrono::milliseconds idle_timeout{60'000};      // silence before astra pings; twice that closes
  std::string tls_cert_file;  // both set: wss (PEM chain / key)
  std::string tls_key_file;
  std::vector<outbound_app> apps;
  after_handler_policy after_handler = after_handler_policy::hangup;
  // How long a channel still in Stasis when its handler returned may take to leave (its
  // StasisEnd after the handler's own hangup / continue) before after_handler applies.
  std::chrono::milliseconds after_handler_grace{1'000};
  hangup_policy on_hangup = hangup_policy::end_handler;  // as client_config::on_hangup
  std::size_t channel_queue = default_channel_queue;     // events in flight to one actor
  std::size_t dispatch_queue = default_dispatch_queue;   // frames in flight to one socket's dispatcher
  reconnect_policy on_reconnect = reconnect_policy::hangup;  // persistent sockets, as client_config
};

// Every member optional; called from Asio and CAF threads; must be thread-safe and cheap.
struct outbound_hooks {
  std::function<void(upgrade_result)> upgrade;
  // A registered connection of `app` (base name) opened (+1) or ended (-1).
  std::function<void(std::string_view app, outbound_mode mode, int delta)> connection;
  std::function<void(close_reason)> closed;
  // A channel handler ended: app is the base name, outcome as client_hooks::handler_ended.
  std::function<void(std::string_view app, std::string_view outcome)> handler_ended;
  std::function<void(std::string_view type)> event;                  // every event decoded
  std::function<void(std::string_view method, int status)> request;  // every REST reply (0: failure)
};

struct outbound_stats {
  std::uint64_t upgrades_ok = 0, unauthorized = 0, refused_draining = 0, refused_full = 0, bad_request = 0,
                not_found = 0;
  std::uint64_t handshake_failures = 0;  // of bad_request: timeouts, resets and broken frames during the upgrade
  std::uint64_t per_call_sockets = 0, persistent_sockets = 0;  // registered so far
  std::uint64_t no_handler = 0, bad_first_frame = 0, registration_timeouts = 0, oversized_frames = 0;
  std::uint64_t call_ended_closes = 0, peer_closes = 0, stopped_closes = 0;
  std::uint64_t invalid_frames = 0;           // text frames that are not a decodable event (counted, skipped)
  std::uint64_t unmatched_rest_responses = 0;  // RESTResponse with an unknown request_id (counted, skipped)
  std::uint64_t requests_failed_on_close = 0;  // pending REST requests failed by the socket's loss
  std::uint64_t request_timeouts = 0;
  std::size_t live_connections = 0;  // accepted, not yet closed (what max_connections bounds)
  std::size_t live_registered = 0;   // of them, past ApplicationRegistered
  std::size_t channel_actors = 0;    // live, over every socket
  std::size_t bridge_actors = 0;
};

class outbound_server {
 public:
  // Validates (apps unique and with on_stasis_start, TLS files load); does not listen yet.
  // The io_context is run by the caller; the actor system outlives the server.
  static result<std::unique_ptr<outbound_server>> create(caf::actor_system& system, boost::asio::io_context& io,
                                                         outbound_server_config config, outbound_hooks hooks = {});
  ~outbound_server();  // stop()

  std::error_code start();          // binds and listens
  std::uint16_t local_port() const;
  // New upgrades get 503 (refused_draining); open connections go on. Idempotent.
  void drain();
  bool draining() const;
  // Closes the listener and every connection (close_reason::server_stopped; their actors stop).
  // Idempotent; returns at once (the closes run on the connections' strands).
  void stop();

  outbound_stats stats() const;

  struct impl;

 private:
  explicit outbound_server(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace astra::ari
