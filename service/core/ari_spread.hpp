#pragma once
// Issue 14: ARI call actors spread across replicas over NATS. Internal to service/core.
//
// The holder of a server's ARI event socket runs an ari_relay; every replica (the holder too)
// runs an ari_worker. Subjects (P = "<subject_prefix>.<server>"):
//   P.ari.calls            the relay offers each StasisStart (the frame as received) as a
//                          request to the queue group "P.workers"; one worker claims it by
//                          answering {"instance","replica"} after it subscribed the channel's
//                          subject and started the channel actor.
//   P.ari.channel.<id>     every event about channel <id> (channel_id() of the event, playback
//   P.ari.bridge.<id>      and recording targets included) / bridge <id>, in socket order, as
//                          {"seq":N,"relay":R,"event":<frame>} (R: the relay's random id; an
//                          event about a channel and a bridge is published on both and the
//                          worker drops the second copy by (R, seq)). <id> is subject_token(id).
//                          Events of a channel whose offer is not answered yet wait in the
//                          relay (bounded: max_held_events) and follow the claim in order.
//   P.ari.claim            a worker's actor for a channel it originates (pre-assigned id):
//                          {"instance","replica","channel"}; the relay forwards that channel's
//                          StasisStart instead of offering it.
//   P.ari.claims           each worker every heartbeat: {"instance","replica","channels":[...]}
//                          (its live channel actors). A worker with claimed calls silent for
//                          worker_timeout is lost: its calls get servers[].ari.on_worker_loss
//                          (hangup: DELETE /channels/{id} by the holder; reoffer: the
//                          StasisStart is offered again). A new holder learns the claims from
//                          the next heartbeats.
// An offer nobody answers (NATS no-responders at once, or no answer within claim_timeout) is
// hung up and counted (astra_ari_calls_unclaimed_total).
//
// Threads: on_event runs on the event socket's strand; bus callbacks on libnats delivery
// threads; the sweep/heartbeat timers on Asio threads. Each object guards its state with one
// mutex; nothing blocks beyond it. Publishing goes through the bus's bounded buffer (relay
// messages: only while this replica holds the server).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "service/config/config.hpp"

namespace boost::asio {
class io_context;
}

namespace astra {
namespace bus {
class nats_bus;
}
namespace ari {
class client;
struct event;
}  // namespace ari
}  // namespace astra

namespace astra::runtime {

inline constexpr std::size_t max_held_events = 256;  // per offered call, waiting for its claim

struct ari_spread_options {
  std::string server;
  std::size_t bus_index = 0;
  config::ari_worker_loss_policy on_worker_loss = config::ari_worker_loss_policy::hangup;
  std::chrono::milliseconds claim_timeout{2000};   // offer -> claim answer
  std::chrono::milliseconds heartbeat{1000};       // worker claims period
  std::chrono::milliseconds worker_timeout{3500};  // no claims heartbeat this long: worker lost
  // Relay, at each (re)subscription of the socket, once the replicas' heartbeats had time to
  // arrive (2.5 x heartbeat): GET /channels; a channel inside one of `apps` that no replica
  // claims gets `on_reconnect` (hangup, continue, or adopt: offered as a StasisStart built
  // from the listing; the handler runs from the start).
  std::vector<std::string> apps;
  config::ari_reconnect_policy on_reconnect = config::ari_reconnect_policy::hangup;
};

// REST through the holder's ARI client: `done` gets the HTTP status (0: transport failure)
// and body, on any thread.
using relay_rest_fn = std::function<void(std::string method, std::string path,
                                         std::function<void(int status, std::string body)> done)>;

// Counters the service turns into metrics; each optional, any thread, must not block.
struct ari_spread_hooks {
  std::function<void()> offered;                            // relay: a StasisStart offered
  std::function<void()> claimed;                            // worker: this replica claimed a call
  std::function<void()> unclaimed;                          // relay: an offer nobody took
  std::function<void()> worker_lost;                        // relay: a replica with calls went silent
  std::function<void(std::string_view policy)> loss_call;   // relay: one call handled by on_worker_loss
  std::function<void(std::string_view reason)> dropped;     // relay: held events over max_held_events
  // relay: an unclaimed channel found at a (re)subscription, once its on_reconnect ran:
  // policy "hangup" / "continue" / "adopt", outcome "ok" / "gone" (404) / "failed".
  std::function<void(std::string_view policy, std::string_view outcome)> reconnect_channel;
};

class ari_relay {
 public:
  // `rest`: the holder's ARI client (hang-ups, the listing). Subscribes the reply inbox,
  // P.ari.claim and P.ari.claims; starts the sweep timer.
  static std::shared_ptr<ari_relay> start(bus::nats_bus& bus, boost::asio::io_context& io, ari_spread_options opts,
                                          ari_spread_hooks hooks, relay_rest_fn rest);
  virtual ~ari_relay() = default;
  // The ARI client's relay hook (socket strand).
  virtual void on_event(const ari::event& e, std::string_view frame) = 0;
  // The event socket (re)subscribed (any thread): schedules the listing of unclaimed channels.
  virtual void on_connected() = 0;
  // Unsubscribes and stops the timer; idempotent.
  virtual void stop() = 0;
  // Calls known (offered or claimed) right now.
  virtual std::size_t calls() const = 0;
};

class ari_worker {
 public:
  // `client`: an ari::client started with event_socket = false whose hooks.member calls
  // on_member; it must outlive the worker's stop(). Subscribes P.ari.calls (queue group) and
  // starts the heartbeat.
  static std::shared_ptr<ari_worker> start(bus::nats_bus& bus, boost::asio::io_context& io, ari_spread_options opts,
                                           ari_spread_hooks hooks);
  virtual ~ari_worker() = default;
  // Set once, before any offer can arrive (right after start).
  virtual void attach(ari::client* client) = 0;
  // The client's member hook.
  virtual void on_member(bool channel, const std::string& id, bool added) = 0;
  // Drain: takes no new call (leaves the queue group); calls in progress go on.
  virtual void stop_accepting() = 0;
  // Unsubscribes everything and stops the heartbeat; idempotent.
  virtual void stop() = 0;
  virtual std::size_t live_channels() const = 0;
};

}  // namespace astra::runtime
