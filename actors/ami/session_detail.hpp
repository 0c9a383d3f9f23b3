#pragma once
// Internal to actors/ami: the session actor's state and the functions its translation units
// share (session.cpp: connection, login, requests, behavior; session_fanout.cpp: subscriber
// queues, backlogs, drops; session_pushdown.cpp: event filters pushed to Asterisk). Included
// by those .cpp files only.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/ami/connection.hpp"
#include "actors/ami/session.hpp"

namespace astra::ami::detail {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;
using req_timeout_atom = caf::atom_constant<caf::atom("reqtimeout")>;
using keepalive_atom = caf::atom_constant<caf::atom("keepalive")>;
using login_deadline_atom = caf::atom_constant<caf::atom("logindl")>;
using subscriber_room_atom = caf::atom_constant<caf::atom("subroom")>;  // a subscriber's bound has room
using inbox_room_atom = caf::atom_constant<caf::atom("inboxroom")>;     // the inbox has room

enum class link_state_t { connecting, logging_in, up, backoff, login_failed, stopped };

// Event filters pushed to Asterisk on the current connection (session_pushdown.cpp). What
// was sent is tracked as sent: an answer that refuses it corrects the record.
struct pushdown_state {
  std::string mask;                  // the Events: mask Asterisk has (Login, then Events actions)
  std::set<std::string> filters;     // lower-case names with an include Filter sent
  bool match_all = false;            // an include Filter every event matches was sent
  std::uint64_t filters_accepted = 0;
  std::optional<bool> structured;    // Asterisk takes name() filters (CoreSettings); unknown yet
  bool probing = false;              // CoreSettings in flight
  std::size_t in_flight = 0;         // Filter / Events actions not answered yet
  bool dirty = false;                // the demand changed while actions were in flight
  bool logged_in = false;            // Login answered Success on this connection
};

struct pending_request {
  std::string action_name;
  clock_type::time_point started;
  std::optional<caf::response_promise> promise;  // external request
  std::function<void(reply&)> internal;          // Login/Challenge/Ping of the session itself
  reply result;
  bool list = false;
};

struct subscriber_entry {
  std::uint64_t id = 0;
  caf::actor handle;
  caf::actor_addr addr;
  std::string name;
  event_filter filter;
  queue_policy policy = queue_policy::pause_reading;
  inflight_bound_ptr bound;  // events in flight to the subscriber (count and bytes)
  // drop_oldest / pause_reading: events waiting for the bound to have room, wire order.
  std::deque<message_ptr> backlog;
  std::size_t backlog_bytes = 0;
  std::size_t backlog_capacity = 0;        // events
  std::size_t backlog_capacity_bytes = 0;  // bytes
  std::uint64_t logged_drops = 0;
  std::uint64_t lost_oversized = 0;
};

struct session_state {
  session_config cfg;
  session_hooks hooks;
  io_runtime* io = nullptr;
  std::string label;
  std::string prefix;
  std::shared_ptr<detail::connection> conn;
  std::uint64_t generation = 0;
  link_state_t state = link_state_t::connecting;
  std::unordered_map<std::string, pending_request> pending;
  std::size_t lists_pending = 0;
  std::uint64_t next_seq = 1;
  backoff reconnect_backoff;
  backoff login_backoff;
  std::vector<subscriber_entry> subscribers;
  std::uint64_t subscriber_seq = 0;
  inflight_bound_ptr inbox;
  bool reader_held = false;  // hold_reading(true) sent to the current connection
  std::unordered_map<std::string, std::uint64_t> dropped_by_event;  // <= max_tracked_event_names + 1
  std::uint64_t oversized = 0;
  std::unordered_map<std::string, bool> oversized_logged;  // event/response names logged once
  std::optional<clock_type::time_point> down_since;
  std::deque<milliseconds> gaps;
  std::uint64_t connect_attempts = 0;
  std::uint64_t logins = 0;
  std::uint64_t events_received = 0;
  std::uint64_t parse_errors = 0;
  // The last connection or login failure, code included (status shows its message; a
  // subscriber that arrives after it gets it in its snapshot: tls_failed, not disconnected).
  // Reset by a successful login.
  std::optional<failure> last_failure;
  std::optional<failure> login_refusal;  // set when Asterisk refused this connection's login
  pushdown_state pushdown;               // per connection (reset by start_connect)
  // Asterisk refused a Filter: no more Filter actions in this session (logged once); the
  // Events: mask is still narrowed, and the client filters, as it always does.
  bool filters_refused = false;
  // Asterisk refused an Events mask: the session logs in with cfg.events from then on and
  // pushes nothing (logged once).
  bool mask_refused = false;
  bool events_timeout_logged = false;

  ~session_state() {
    if (conn) conn->close({make_error_code(ami_errc::disconnected), "session stopped"});
  }
};

using session_actor_type = caf::stateful_actor<session_state>;
using self_ptr = session_actor_type*;

const char* to_string(link_state_t s);
inline milliseconds elapsed_ms(clock_type::time_point since) {
  return std::chrono::duration_cast<milliseconds>(clock_type::now() - since);
}

// --- session.cpp --------------------------------------------------------------------------
// Sends `a` with a fresh ActionID. External requests (promise) need a logged-in link;
// internal ones (login, filters) only a connection. Always ends in exactly one reply.
void dispatch(self_ptr self, const action& a, milliseconds timeout, std::optional<caf::response_promise> promise,
              std::function<void(reply&)> internal);
// Login (and the pushed filters, if any) done: the link is up.
void became_up(self_ptr self);
// Removes the request and hands its reply to the requester.
void complete(self_ptr self, std::unordered_map<std::string, pending_request>::iterator it);

// --- session_fanout.cpp -------------------------------------------------------------------
void fan_out(self_ptr self, const std::vector<message_ptr>& events);
void on_subscriber_room(self_ptr self, std::uint64_t id);
// Holds the reader while a pause_reading subscriber has a backlog.
void update_reader_hold(self_ptr self);
// A message Asterisk wrote over a read limit: discarded by the parser, never silent.
void on_oversized(self_ptr self, const oversized_message& o);
// Counts `n` dropped events named `event_name` from `queue` (per name, bounded).
void count_dropped(self_ptr self, const std::string& queue, std::string_view event_name, std::uint64_t n);

// --- session_pushdown.cpp -----------------------------------------------------------------
// The Events: mask to log in with: the configured one when pushdown is off (or refused);
// "off" when the subscribers want nothing or only named events (filters come first, then
// an Events action opens the mask); the configured one when they want everything.
std::string pushdown_login_mask(self_ptr self);
// Login answered Success: installs what the subscribers need, then calls became_up().
void pushdown_after_login(self_ptr self);
// The subscriptions changed: asks Asterisk for what they now need (while logged in).
void pushdown_sync(self_ptr self);

}  // namespace astra::ami::detail
