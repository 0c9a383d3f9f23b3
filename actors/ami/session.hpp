#pragma once
// AMI session actor: one CAF actor per Asterisk server. The socket belongs to Asio (an
// astra::io_runtime thread); the reader parses with astra::ami::parser and anon_sends one
// batch of parsed messages per socket read to the actor. The actor logs in, correlates
// requests by ActionID, fans events out to subscribers through bounded in-flight queues and
// supervises its own connection (reconnect with capped exponential backoff and jitter).
//
// Message protocol of the actor returned by spawn_session() (all types below):
//   request            -> reply            every request ends with a reply: success, or
//                                          reply::error = ami_errc::{timeout, disconnected,
//                                          not_logged_in, rejected, invalid_action,
//                                          header_injection, action_too_large, queue_full,
//                                          response_too_large (the answer exceeded a read
//                                          limit: at once, never a timeout)}
//   subscribe_request  -> (nothing)        the SENDER subscribes; it then receives
//                                          event_batch, link_event and event_lost
//                                          messages; monitored
//   unsubscribe_request-> (nothing)        the SENDER unsubscribes
//   status_query       -> session_status
//   stop_request       -> (nothing)        fails pending requests (disconnected), closes, quits
// Only caf/fwd.hpp-level CAF headers here; the implementation lives in session.cpp.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>

#include "actors/ami/tls_config.hpp"
#include "actors/common/backoff.hpp"
#include "actors/common/inflight_bound.hpp"
#include "protocols/ami/action.hpp"
#include "protocols/ami/errors.hpp"
#include "protocols/ami/message.hpp"
#include "protocols/ami/parser.hpp"
#include "protocols/common/result.hpp"

namespace astra {
class io_runtime;
}

namespace astra::ami {

// Named bounds of the session (counts unless stated).
inline constexpr std::size_t default_subscriber_capacity = 8192;    // events in flight per subscriber
inline constexpr std::size_t default_subscriber_bytes = 32u << 20;  // bytes of events in flight per subscriber
inline constexpr std::size_t default_inbox_capacity = 131072;       // events in flight reader -> actor
inline constexpr std::size_t default_inbox_bytes = 64u << 20;       // bytes of events in flight reader -> actor
inline constexpr std::size_t max_tracked_event_names = 512;         // per-event-name drop counters per session
inline constexpr std::size_t max_pending_requests = 4096;           // outstanding actions per session
inline constexpr std::size_t max_gap_history = 32;                  // outages kept in session_status
inline constexpr std::size_t max_write_queue_bytes = 4 * 1024 * 1024;  // unsent bytes per socket
inline constexpr std::size_t max_list_events = 100000;              // events collected for one list action

struct session_config {
  std::string name;                  // label for logs/metrics; "" => "host:port"
  std::string host = "127.0.0.1";
  std::uint16_t port = 5038;
  std::string username = "admin";
  std::string secret;
  bool md5 = false;                  // Challenge/MD5 login instead of a plain Secret:
  // The Events: mask: what Asterisk may send at most ("on", "off", "call,system", ...). Sent
  // with Login as is when push_event_filters is false.
  std::string events = "on";
  // Ask Asterisk for what the subscribers want only (session_pushdown.cpp): no subscriber
  // wanting events -> Login with Events: off; subscribers wanting only named events ->
  // Events: off at Login, an include Filter action per name (Asterisk 10+; the structured
  // name() form from 18.26 / 20.11 / 21.6 / 22.1), then an Events action opening the mask of
  // their documented classes (or `events` when a class is not certain); any all/predicate
  // subscriber -> `events`. Recomputed when subscriptions change: filters are only ever
  // added (Asterisk cannot remove one), so a narrowed subscription keeps the wider filters
  // until the next login and the client filters the rest. The link is reported up once the
  // filters are answered. A Filter Asterisk refuses turns pushdown off for the session (one
  // log line; the client filters, which it always does anyway).
  bool push_event_filters = true;
  tls_config tls;                    // AMI over TLS (manager.conf tlsenable, port 5039)
  std::string action_id_prefix;      // "" => "astra-<random hex>-"; every ActionID sent starts with it
  std::chrono::milliseconds connect_timeout{5000};   // resolve + TCP connect (+ TLS handshake)
  std::chrono::milliseconds login_timeout{5000};     // banner + (challenge +) login response
  std::chrono::milliseconds request_timeout{10000};  // default per-request deadline
  std::chrono::milliseconds write_timeout{2000};     // one socket write
  std::chrono::milliseconds keepalive_interval{15000};  // Ping period while up; 0 = no keepalive
  std::chrono::milliseconds keepalive_timeout{5000};    // dead-peer deadline for the Pong
  bool reconnect = true;             // false: one connection attempt; the session then stays down
  backoff_policy reconnect_backoff{std::chrono::milliseconds{500}, std::chrono::milliseconds{30'000}, 2.0, 0.2};
  backoff_policy login_failure_backoff{std::chrono::milliseconds{60'000}, std::chrono::milliseconds{600'000}, 2.0, 0.2};
  std::size_t inbox_capacity = default_inbox_capacity;
  std::size_t inbox_bytes = default_inbox_bytes;
  std::size_t read_buffer_bytes = 64 * 1024;
  parser_limits read_limits;  // what is read from Asterisk (message.hpp default_read_*)
  // Longest the reader waits for a full inbox or a full pause_reading subscriber before it
  // reads again and sheds (counted). Below Asterisk's 100 ms AMI writetimeout.
  std::chrono::milliseconds max_read_stall{50};
};

// Observer hooks for metrics/logging. Invoked on the session actor's thread; must be cheap,
// must not block and must be safe to call from several sessions' threads at once.
struct session_hooks {
  std::function<void(std::string_view session)> connected;  // logged in
  std::function<void(std::string_view session, const failure& reason)> disconnected;  // link lost / attempt failed
  std::function<void(std::string_view event_name)> event_received;  // every event read, before fan-out
  // Every request (internal Login/Challenge/Ping included): action name, outcome (empty =
  // success, else an ami_errc), seconds from send to completion.
  std::function<void(std::string_view action, std::error_code outcome, double seconds)> action_done;
  std::function<void(unsigned attempt, std::chrono::milliseconds delay)> reconnect;  // retry scheduled
  // Events newly dropped from a queue (the inbox or a subscriber's), per event name.
  std::function<void(std::string_view queue, std::string_view event_name, std::uint64_t dropped)> drop;
  // A message refused for a read limit (it is discarded; a request it answered has failed
  // with response_too_large, subscribers wanting the event got event_lost).
  std::function<void(const oversized_message& what)> oversized;
};

// --- messages ---------------------------------------------------------------------------

struct request {
  ami::action action;
  std::chrono::milliseconds timeout{0};  // 0 => session_config::request_timeout
};

struct reply {
  message_ptr response;               // Asterisk's Response (null when none arrived)
  std::vector<message_ptr> events;    // list actions: every event with this ActionID, in order,
                                      // the `EventList: Complete` event last
  std::string action_id;              // ActionID sent on the wire (session prefix included)
  failure error;                      // error.code empty on success; rejected => detail is Message:
  bool ok() const noexcept { return !error.code; }
};

// Which events a subscriber receives. Names compare case-insensitively.
struct event_filter {
  enum class mode { all, names, predicate, none };
  mode kind = mode::all;
  std::vector<std::string> names;
  // Runs on the session actor's thread: must be cheap, thread-safe and not block.
  std::function<bool(const message&)> predicate;

  static event_filter all() { return {}; }
  static event_filter by_names(std::vector<std::string> n) { return {mode::names, std::move(n), {}}; }
  static event_filter by_predicate(std::function<bool(const message&)> p) { return {mode::predicate, {}, std::move(p)}; }
  static event_filter links_only() { return {mode::none, {}, {}}; }
  bool matches(const message& m) const;
};

// What happens to an event for a subscriber whose in-flight bound is full. Every drop is
// counted per event name (session_status, session_hooks::drop).
enum class queue_policy {
  drop_newest,    // the new event is dropped
  drop_oldest,    // the event waits in the session's backlog for this subscriber (bounded
                  // like the in-flight queue); a full backlog drops its oldest event
  pause_reading,  // the event waits in the backlog and the session stops reading the socket
                  // until the subscriber catches up, for at most session_config::max_read_stall;
                  // then reading resumes and a full backlog drops the newest. Lossless for
                  // any consumer that keeps up on average. The backlog is bounded like the inbox.
};
const char* to_string(queue_policy) noexcept;

struct subscribe_request {
  event_filter filter;
  std::size_t capacity = default_subscriber_capacity;  // events in flight to this subscriber
  std::string name;                                    // queue name for drops/status; "" => "subscriber-<n>"
  queue_policy policy = queue_policy::pause_reading;
  std::size_t capacity_bytes = default_subscriber_bytes;  // bytes of events in flight to this subscriber
};

// An event the subscriber's filter wanted was lost: Asterisk wrote it over a read limit
// (session_config::read_limits). Sent at once, in wire order with the event batches.
struct event_lost {
  std::string session;
  std::string event_name;  // "" when the message ended before its Event: line was seen
  std::uint64_t bytes = 0;
  failure reason;          // code: the limit (line_too_long, too_many_headers, ...); detail names it
};
struct unsubscribe_request {};
struct status_query {};
struct stop_request {};

// Returns `count` in-flight credits to a subscriber's bound when destroyed: the credit of
// an event_batch is held until the last copy of the batch is gone (normally: right after
// the subscriber's handler returned).
class credit_lease {
 public:
  credit_lease(inflight_bound_ptr bound, std::size_t count, std::size_t bytes = 0)
      : bound_(std::move(bound)), count_(count), bytes_(bytes) {}
  ~credit_lease() { bound_->release_many(count_, bytes_); }
  credit_lease(const credit_lease&) = delete;
  credit_lease& operator=(const credit_lease&) = delete;

 private:
  inflight_bound_ptr bound_;
  std::size_t count_;
  std::size_t bytes_;
};

// Events for one subscriber, in wire order, from one socket read.
struct event_batch {
  std::string session;
  std::vector<message_ptr> events;
  std::shared_ptr<credit_lease> credit;
};

// Link state changes, sent to every subscriber.
struct link_event {
  enum class kind {
    up,    // logged in; gap = length of the outage before it (0 for the first connection)
    down,  // link lost or a connection/login attempt failed; reason says why
  };
  kind state = kind::down;
  std::string session;
  failure reason;                         // down: why
  std::chrono::milliseconds gap{0};       // up: outage length; down: time since the link went down
  std::chrono::milliseconds retry_in{0};  // down: delay before the next attempt
  bool final = false;                     // down: no further attempt (reconnect disabled / stopped)
  bool snapshot = false;                  // sent on subscribe to report the current state
};

struct subscriber_status {
  std::string name;
  queue_policy policy = queue_policy::pause_reading;
  std::size_t capacity = 0;
  std::size_t in_flight = 0;
  std::size_t backlog = 0;          // events waiting in the session for this subscriber
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;
  std::uint64_t lost_oversized = 0;  // wanted events lost to a read limit (event_lost sent)
};

struct session_status {
  std::string session;
  std::string state;  // connecting, logging_in, up, backoff, login_failed, stopped
  std::uint64_t connect_attempts = 0;
  std::uint64_t logins = 0;           // successful logins (1 + reconnects)
  std::uint64_t events_received = 0;
  std::uint64_t parse_errors = 0;
  std::uint64_t inbox_dropped = 0;    // events dropped between reader and actor
  std::uint64_t oversized = 0;        // messages refused for a read limit
  // Dropped events by event name (inbox and subscribers together), <= max_tracked_event_names
  // names; more names are counted under "(other)".
  std::vector<std::pair<std::string, std::uint64_t>> dropped_by_event;
  std::size_t inbox_in_flight = 0;
  std::size_t pending_requests = 0;
  std::chrono::milliseconds current_gap{0};            // time down so far, 0 when up
  std::vector<std::chrono::milliseconds> gaps;         // past outages, oldest first, <= max_gap_history
  std::string last_error;
  std::vector<subscriber_status> subscribers;
  // Event filters pushed to Asterisk on the current login (session_config::push_event_filters).
  std::string event_mask;               // the Events: mask Asterisk applies; "" when not logged in
  std::size_t event_filters = 0;        // include Filter rules sent (a match-all one included)
  bool event_filters_refused = false;   // Asterisk refused a Filter: the client filters alone
};

// Spawns a session actor and starts connecting. `io` must outlive the actor. The actor
// stops on stop_request or exit; when every handle is gone it is terminated as unreachable.
caf::actor spawn_session(caf::actor_system& system, io_runtime& io, session_config config,
                         session_hooks hooks = {});

// "astra-<8 random hex digits>-"
std::string make_action_id_prefix();

}  // namespace astra::ami

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::subscribe_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::unsubscribe_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::status_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::stop_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::event_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::link_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::event_lost)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ami::session_status)
