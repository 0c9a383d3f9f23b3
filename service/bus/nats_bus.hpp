#pragma once
// astra's NATS bus (issue 14): one NATS connection per process, the upstream leases in a
// JetStream key-value bucket, and the bounded publisher of AMI/ARI/FastAGI events.
//
// Threads (none of them is an actor or an Asio thread; nats.h stays out of this header):
//  - the lease thread (owned): connects, creates/binds the lease bucket, acquires, renews and
//    releases the per-server leases. Every KV operation has a deadline of
//    min(request_timeout, lease_ttl / 6); it is the only thread that blocks on NATS.
//  - the publisher thread (owned): drains the outgoing buffer into natsConnection_Publish.
//  - libnats's own threads: connection callbacks and subscriptions; they only set atomics,
//    notify a condition variable or call the hooks (which must not block: post to an actor or
//    Asio, bump a metric).
// Publishing (publish_*) is callable from any thread, never blocks beyond one short mutex
// section, and never waits for NATS: the outgoing buffer is bounded by cfg.buffer_messages
// and cfg.buffer_bytes; beyond either a new message is dropped and counted (drop_newest).
//
// Leases: key <server> in bucket <subject_prefix with '.' -> '_'>_leases (TTL = lease_ttl,
// history 1). Acquired with kvStore_Create (absent or deleted key) or kvStore_Update on a value
// marked released; renewed every lease_ttl / 3 with kvStore_Update(last revision). A holder
// that has not renewed for 2/3 of lease_ttl gives the server up (hooks.lease with held=false)
// before the key can expire and be taken elsewhere: checked between KV operations, so at the
// latest 2/3 + 1/6 (one KV deadline) = 5/6 of lease_ttl after its last successful renewal. The revision of the acquiring write is
// the holder's epoch: strictly increasing across holders of one server.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/ami/message.hpp"
#include "service/config/bus_config.hpp"

namespace astra::bus {

// A change of this replica's hold on one server (lease thread).
struct lease_change {
  std::string server;
  bool held = false;
  std::uint64_t epoch = 0;         // held: the KV revision of the acquiring write
  std::string reason;              // held: "free", "expired", "released", "restart"; lost: "renew_failed", "taken", "released", "stopped"
  std::string previous_holder;     // held: the replica seen holding it before ("" if none seen)
  std::int64_t gap_ms = -1;        // held: time without a holder before this acquisition (-1: unknown)
};

struct bus_hooks {
  std::function<void(const lease_change&)> lease;                                   // lease thread
  std::function<void(const std::string& server, const std::string& holder)> holder;  // lease thread: who holds it now ("" none)
  std::function<void(bool up, const std::string& detail)> connection;              // libnats / lease thread
  std::function<void(std::string_view reason, std::uint64_t n)> dropped;           // any thread
  std::function<void(std::string_view kind, std::uint64_t n)> published;          // publisher thread
};

// A NATS request astra answers (AMI action, ARI request) handed to the service: `data` is the
// request body; `reply` (callable once, from any thread) publishes the JSON answer.
using reply_fn = std::function<void(std::string json)>;
using request_handler = std::function<void(std::size_t server, std::string data, reply_fn reply)>;

// One message delivered to a subscription made with nats_bus::subscribe. The views are valid
// only during the callback.
struct bus_message {
  std::string_view subject;
  std::string_view data;
  std::string_view reply;      // "" when the sender expects no answer
  bool no_responders = false;  // NATS's 503 status: nobody listened on the request's subject
};
// Runs on a libnats delivery thread, in order per subscription; must not block (post to an
// actor or Asio, touch atomics/short mutex sections). A throw is caught and logged.
using message_handler = std::function<void(const bus_message&)>;

class nats_bus {
 public:
  // Starts the threads; never blocks on NATS (the first connection attempt runs on the lease
  // thread). `servers`: the configured server names, in order (index = server argument).
  static std::unique_ptr<nats_bus> start(const config::bus_nats_config& cfg, std::vector<std::string> servers,
                                         bus_hooks hooks);
  virtual ~nats_bus() = default;

  // AMI events of server `server` received while holding it (each becomes one message on
  // <prefix>.<server>.ami.event.<EventName>); `received_unix_ms` is when astra read them.
  virtual void publish_ami_events(std::size_t server, const std::vector<ami::message_ptr>& events,
                                  std::int64_t received_unix_ms) = 0;
  // One ARI event frame (JSON as received) on <prefix>.<server>.ari.event.<type>.
  virtual void publish_ari_event(std::size_t server, std::string_view type, std::string_view json,
                                 std::int64_t received_unix_ms) = 0;
  // One ended FastAGI call on <prefix>.agi.call.end.
  virtual void publish_agi_call_end(std::string_view route, std::uint64_t call_id, std::string_view outcome,
                                    std::chrono::nanoseconds duration, std::string_view transport) = 0;

  // Requests on <prefix>.<server>.ami.action / .ari.request are answered while this replica
  // holds the server (the subscription exists only then). Set before start of holding: call
  // before the first lease can be acquired (right after start()).
  virtual void set_request_handlers(request_handler ami_action, request_handler ari_request) = 0;

  // Generic messaging (issue 14's ARI call spreading, service/core/ari_spread).
  // Subscribes `subject` (in queue group `queue` unless empty): made at once when the
  // connection object exists, else as soon as it is created; libnats keeps it across
  // reconnects. Returns an id for unsubscribe (never 0).
  virtual std::uint64_t subscribe(std::string subject, std::string queue, message_handler handler) = 0;
  // Ends a subscription: no new callback starts after it returns (one may be finishing on its
  // delivery thread; the handler is destroyed after it). Unknown ids are ignored.
  virtual void unsubscribe(std::uint64_t id) = 0;
  // Publishes through the ordered, bounded outgoing buffer (never blocks; false: dropped and
  // counted as buffer_full). These messages (the ARI call protocol) have a reserve of 4,096
  // messages / 4 MiB above bus.nats.buffer, so that an event burst does not cost calls.
  // `reply` makes it a request (the answer goes to that subject).
  // `holder_of` (a server index, or npos): queued and published only while this replica holds
  // that server (else dropped, counted as not_holder), like the server's events.
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  virtual bool publish(std::string subject, std::string payload, std::string reply = {},
                       std::size_t holder_of = npos) = 0;
  // A new unique inbox subject prefix ("_INBOX.<random>") for replies.
  virtual std::string new_inbox() = 0;
  // This process's random instance id (as in its lease values) and replica name.
  virtual const std::string& instance() const = 0;
  virtual const std::string& replica() const = 0;
  // "<subject_prefix>." (e.g. "astra.").
  virtual const std::string& prefix() const = 0;

  // Drain: stops acquiring, gives up every held server (hooks.lease held=false, reason
  // "released") and marks each lease released in the bucket so a standby takes it at once.
  // Bounded by `timeout`. Idempotent.
  virtual void release_leases(std::chrono::milliseconds timeout) = 0;
  // Stops the threads and closes the connection (publishes what is buffered, bounded by 1 s).
  virtual void stop() = 0;

  virtual bool connected() const = 0;
  virtual bool holds(std::size_t server) const = 0;
  // Messages waiting in the outgoing buffer now.
  virtual std::size_t buffered() const = 0;
  // {"connected":..,"replica":..,"buffered":..,"dropped":..,"servers":{NAME:{"holder":..,"held":..,"epoch":..}}}
  virtual std::string status_json() const = 0;
};

// Subject token for an AMI event name / ARI type: bytes outside A-Z a-z 0-9 _ - become '_'.
std::string subject_token(std::string_view name);

// Appends `m` as one JSON object in the shape `astra ami watch` prints (headers in wire order,
// a repeated key as an array of its values at its first position).
void append_ami_json(std::string& out, const ami::message& m);

}  // namespace astra::bus
