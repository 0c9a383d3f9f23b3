#pragma once
// One configured Asterisk server inside the service: the glue between its components (AMI
// session actor, ARI client) and the metrics, status board and logs. Internal to
// service/core; the server supervisor actor drives it.
//
// Thread affinity: spawn_ami_session / start_ari / stop_ari / ami_link_event /
// events_consumed / logged_off / actor_restarted run on the server supervisor's actor;
// poll_status on the main thread; the component hooks it installs run on CAF and Asio
// threads (they only touch atomics, the thread-safe metrics and the status board).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/actor.hpp>
#include <caf/atom.hpp>

#include "actors/common/backoff.hpp"
#include "service/config/config.hpp"
#include "service/core/registrations.hpp"
#include "service/core/status_board.hpp"

namespace astra {
class io_runtime;
namespace metrics {
struct astra_metrics;
struct bus_metrics;
}
namespace ami {
struct link_event;
struct session_status;
class message;
}
namespace bus {
class nats_bus;
}
namespace agi {
class async_agi;
}
}  // namespace astra

namespace astra::runtime {

// Sent to a server supervisor when upstream_allowed() may have changed (the bus lease of the
// server was acquired or lost); the supervisor reads upstream_allowed() and starts or stops
// the AMI session and the ARI client accordingly.
using lease_atom = caf::atom_constant<caf::atom("lease")>;

class server_runtime {
 public:
  virtual ~server_runtime() = default;

  virtual const std::string& name() const = 0;

  // AMI (valid when has_ami()).
  virtual bool has_ami() const = 0;
  // Spawns a fresh session actor (it connects, logs in and reconnects by itself).
  virtual caf::actor spawn_ami_session() = 0;
  // The current session for status queries (null while restarting).
  virtual void publish_ami(caf::actor session) = 0;
  // The service subscriber's queue (queues.ami_subscriber).
  virtual const config::queue_config& subscriber_queue() const = 0;
  virtual void ami_link_event(const ami::link_event& ev) = 0;
  virtual void events_consumed(std::size_t n) = 0;
  virtual void logged_off(const std::string& error) = 0;
  // The session's latest status (polled by the supervisor): board detail and queue views.
  virtual void ami_status(const ami::session_status& status) = 0;
  // An AMI event handler registered in code threw (counted in astra_ami_handler_errors_total).
  // Thread affinity: any (the user subscription's actor).
  virtual void ami_handler_failed() = 0;
  // servers[].ami.async_agi: attaches the AsyncAGI dispatcher to a freshly spawned session (it
  // subscribes to the session and quits with it); null when AsyncAGI is off for this server.
  virtual caf::actor attach_async_agi(const caf::actor& session) {
    (void)session;
    return {};
  }

  // ARI (no-ops without an ari section). start_ari logs and records a failure to start.
  virtual void start_ari() = 0;
  virtual void stop_ari() = 0;

  // With the bus (issue 14): the drain stops taking ARI calls offered by the holder (calls in
  // progress go on); ari_calls_running counts the channel actors this replica still runs.
  virtual void stop_accepting_ari_calls() {}
  virtual std::size_t ari_calls_running() const { return 0; }

  // AMI event subscriptions registered in code for this server (astra::service::ami_events).
  virtual std::vector<const ami_registration*> ami_subscriptions() const = 0;

  // Issue 14 (bus): whether this replica may run the server's upstreams now (true without a
  // bus; with one, while it holds the server's lease). Any thread.
  virtual bool upstream_allowed() const { return true; }
  // Lease thread of the bus: records the new state and tells the supervisor (lease_atom).
  virtual void set_upstream_allowed(bool allowed) { (void)allowed; }
  // The supervisor's AMI events (its own subscription) on their way to the bus; a no-op
  // without one. Server supervisor's thread; never blocks (bounded bus buffer).
  virtual void forward_ami_events(const std::vector<std::shared_ptr<const ami::message>>& events) { (void)events; }
  // Bus request/reply (issue 14), called on a libnats thread: answers `request` (JSON text)
  // through `reply` (called exactly once, from any thread) without blocking the caller; the
  // answer has its own deadline (servers[].ami.action_timeout / servers[].ari.request_timeout).
  // AMI: {"action": NAME, "headers": {K: V | [V...]}} -> {"response": {...}, "events": [...]}
  // as `astra ami send` prints; ARI: {"method", "path", "body"} -> {"status": N, "body": ...}
  // as `astra ari call` prints. Errors: {"error": {"code", "message"}} (codes: invalid,
  // disconnected, timeout, failed; an Asterisk `Response: Error` also carries "response").
  virtual void bus_ami_action(std::string request, std::function<void(std::string)> reply) {
    (void)request;
    reply(R"({"error":{"code":"invalid","message":"no AMI on this server"}})");
  }
  virtual void bus_ari_request(std::string request, std::function<void(std::string)> reply) {
    (void)request;
    reply(R"({"error":{"code":"invalid","message":"no ARI on this server"}})");
  }

  // Supervision.
  virtual backoff_policy restart_policy() const = 0;
  virtual void actor_restarted(const std::string& kind, const std::string& reason, std::chrono::milliseconds delay) = 0;
  virtual void set_supervisor(caf::actor sup) = 0;
  virtual caf::actor supervisor() const = 0;

  // Main thread: refreshes the board's ARI detail; adds this server's live actors and
  // queues (AMI ones from the latest ami_status) to the totals.
  virtual void poll_status(std::map<std::string, std::int64_t>& actors, std::vector<queue_view>& queues) = 0;
  // Final stop of everything this server owns (after the drain); idempotent.
  virtual void shutdown() = 0;
};

// `regs` must outlive the runtime (ARI handlers by name and by app, AMI subscriptions);
// `async` (AsyncAGI, used when server.ami->async_agi; may be null) too. `bus` (may be null:
// no bus, the upstreams always run) too; `bus_index` is the server's index in the bus.
std::shared_ptr<server_runtime> make_server_runtime(caf::actor_system& system, io_runtime& io,
                                                    const config::config& cfg, const config::server_config& server,
                                                    metrics::astra_metrics& m, status_board& board,
                                                    const registrations& regs, agi::async_agi* async = nullptr,
                                                    bus::nats_bus* bus = nullptr, std::size_t bus_index = 0,
                                                    metrics::bus_metrics* bus_metrics = nullptr);

}  // namespace astra::runtime
