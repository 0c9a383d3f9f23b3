#pragma once
// Plain-code facade over the AMI session actor: futures and callbacks, no CAF needed at the
// call site. Callbacks run on a CAF worker thread (never an Asio thread); callbacks of one
// subscription run one at a time, in order.
#include <chrono>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/ami/session.hpp"

namespace astra::ami {

// Keeps a subscription alive; destroying it unsubscribes (and stops its helper actor). Once
// the handle is destroyed (or reset) none of its callbacks runs again: the destructor waits
// for one that is running on another thread, so state the callbacks capture may go right
// after it. A callback may drop its own subscription.
class subscription {
 public:
  subscription() = default;
  explicit subscription(std::shared_ptr<void> token) : token_(std::move(token)) {}
  void reset() { token_.reset(); }
  explicit operator bool() const noexcept { return token_ != nullptr; }

 private:
  std::shared_ptr<void> token_;
};

class client {
 public:
  using batch_handler = std::function<void(const std::vector<message_ptr>&)>;
  using event_handler = std::function<void(const message_ptr&)>;
  using link_handler = std::function<void(const link_event&)>;
  using lost_handler = std::function<void(const event_lost&)>;
  using reply_handler = std::function<void(reply)>;

  // Spawns the session actor (which starts connecting at once). `system` and `io` must
  // outlive the client.
  client(caf::actor_system& system, io_runtime& io, session_config config, session_hooks hooks = {});
  // Stops the session (pending requests fail with disconnected).
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // The session actor, for actor code (request/then with ami::request -> ami::reply).
  const caf::actor& actor() const noexcept;

  // Blocks the calling thread (never call it from an actor or an Asio handler) until the
  // session is logged in (ok), or the session reports a final failure (reconnect disabled)
  // or `timeout` passes (ami_errc::timeout, detail = last connection error if any).
  astra::result<void> wait_until_up(std::chrono::milliseconds timeout);

  // Every request completes: success or reply::error (timeout 0 => session default).
  std::future<reply> send(action a, std::chrono::milliseconds timeout = std::chrono::milliseconds{0});
  void send(action a, reply_handler on_reply, std::chrono::milliseconds timeout = std::chrono::milliseconds{0});

  // Events per socket read (wire order) and link changes. `capacity` bounds the events in
  // flight to this subscriber; beyond it the policy applies (default pause_reading; drops
  // are counted in status()).
  subscription subscribe_batches(event_filter filter, batch_handler on_events, link_handler on_link = {},
                                 std::size_t capacity = default_subscriber_capacity, std::string name = {});
  subscription subscribe(event_filter filter, event_handler on_event, link_handler on_link = {},
                         std::size_t capacity = default_subscriber_capacity, std::string name = {});
  // Full control: filter, bounds, policy and name in `req`; on_lost learns of wanted events
  // Asterisk wrote over a read limit. A handler that throws is caught, logged and counted
  // (status: subscriber's callback_errors is not tracked; the log line names the
  // subscription); the subscription lives on.
  subscription subscribe(subscribe_request req, batch_handler on_events, link_handler on_link = {},
                         lost_handler on_lost = {});

  std::future<session_status> status();

  // Idempotent; the destructor calls it.
  void stop();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace astra::ami
