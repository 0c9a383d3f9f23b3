#pragma once
// The /ari/events WebSocket of one ARI server (Boost.Beast inside), with reconnect and
// optional REST over the same socket.
//
// Contract:
//  - Connects to ws(s)://host/<prefix>/ari/events?app=a,b[&subscribeAll=true] with Basic
//    auth (or api_key when asked), TLS verification as configured.
//  - Idle pings: after dead_peer_timeout/2 of silence (no frame received, data or control) a
//    ping is sent; nothing received for dead_peer_timeout closes the socket as dead (failure
//    ari_errc::timeout). Checked on a coarse timer every dead_peer_timeout/4: a dead peer is
//    found between dead_peer_timeout and 5/4 of it after the last frame.
//  - On any loss it reconnects after backoff (capped exponential + jitter) until stop() or
//    set_reconnect(false). The backoff is reset by a connection that succeeded its handshake,
//    except one ended by drop() that lasted less than config.reconnect.max: a peer that keeps
//    taking the socket over (ApplicationReplaced) meets growing delays, never a hot loop.
//  - Callbacks run on the stream's strand (one at a time, in frame order). stop() waits for
//    a running callback to return and guarantees no callback runs afterwards (it may be
//    called from inside a callback).
//  - REST over WebSocket (Asterisk 22.4+): send_rest() writes a RESTRequest frame and
//    completes with the RESTResponse of the same request_id, or timeout / not_connected /
//    disconnected. When config.rest_over_websocket is set, every connect probes support
//    with GET asterisk/ping; rest_supported() tells the outcome.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "actors/ari/config.hpp"
#include "actors/ari/rest.hpp"

namespace boost::asio {
class io_context;
}

namespace astra::ari {

struct event_stream_callbacks {
  std::function<void()> connected;                 // handshake done
  std::function<void(std::string frame)> frame;    // one text frame (an event), RESTResponses excluded
  // The socket is gone; retry_in < 0 means no further attempt will be made.
  std::function<void(const failure& why, std::chrono::milliseconds retry_in)> disconnected;
  // A RESTResponse that matches no pending request (e.g. Asterisk's reply to a malformed frame).
  std::function<void(int status, std::string message)> unmatched_rest_response;
  std::function<void(bool supported)> rest_probe;  // outcome of the REST-over-WebSocket probe
};

class event_stream {
 public:
  static result<std::shared_ptr<event_stream>> create(boost::asio::io_context& io, const client_config& config,
                                                      event_stream_callbacks callbacks);
  ~event_stream();

  void start();
  void stop();
  void set_reconnect(bool enabled);
  // Closes connection number `connection` (the value of connects() while it was up) as lost
  // with `why`, if it is still the current one (else nothing happens): disconnected(why,
  // retry_in) follows and the stream reconnects after its backoff. Thread-safe, non-blocking
  // (the close runs on the stream's strand).
  void drop(failure why, std::uint64_t connection);

  bool connected() const;
  bool rest_supported() const;
  std::uint64_t connects() const;  // successful handshakes so far

  // Completion runs on the strand; `timeout` (0 = config.request_timeout) bounds it.
  void send_rest(rest_request request, rest_callback done, std::chrono::milliseconds timeout = {});
  // Writes a raw text frame; false if not connected or max_pending_ws_writes reached.
  bool send_text(std::string frame);

 private:
  struct impl;
  explicit event_stream(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace astra::ari
