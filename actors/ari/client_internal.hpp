#pragma once
// PRIVATE to astra_actors_ari (actors.cpp, dispatcher.cpp, reconcile.cpp): the state shared by
// the client facade, the dispatcher and the channel/bridge actors, their messages, and the
// dispatcher's state. Includes CAF and the generated models: never include it from an
// interface header.
//
// Ownership and threads: shared_state is owned by the client (shared_ptr; actors and Asio
// callbacks hold it strongly or weakly as noted); its atomics and mutex-guarded members may
// be touched from any thread. dispatcher_state belongs to the dispatcher actor alone.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>

#include "actors/ari/client.hpp"
#include "actors/ari/event_stream.hpp"
#include "actors/ari/http_pool.hpp"
#include "actors/common/inflight_bound.hpp"
#include "generated/ari/models.hpp"

namespace astra::ari::detail {

struct event_msg {
  event_ptr ev;
  bool credited = true;         // false: sent beyond the bound (lifecycle event); do not release
  std::uint64_t connection = 0; // event_stream::connects() when the frame arrived (0: injected before any)
};
struct reply_msg {
  std::uint64_t tag = 0;
  std::shared_ptr<result<rest_response>> reply;
};
// How a new channel actor starts: at its StasisStart with `handler` (or the client's), or at
// once with on_adopt when `adopted` is set (the channel's state from GET /channels).
struct member_start {
  stasis_handler handler;
  std::shared_ptr<const Channel> adopted;
};
struct handler_msg {
  stasis_handler handler;
};
struct bound_msg {
  inflight_bound_ptr bound;
};
// Outcome of GET /channels or GET /bridges after a (re)subscription.
struct listing_msg {
  bool channels = true;
  std::uint64_t generation = 0;                        // connect generation that asked
  std::shared_ptr<std::vector<std::string>> ids;       // every id listed; null: the request failed
  std::shared_ptr<std::vector<Channel>> in_apps;       // channels: those inside one of the client's apps
  std::string error;
};

using ev_atom = caf::atom_constant<caf::atom("ari_ev")>;
using reply_atom = caf::atom_constant<caf::atom("ari_rep")>;
using spawn_chan_atom = caf::atom_constant<caf::atom("ari_spc")>;
using spawn_bridge_atom = caf::atom_constant<caf::atom("ari_spb")>;
using abort_atom = caf::atom_constant<caf::atom("ari_abort")>;
using watch_atom = caf::atom_constant<caf::atom("ari_watch")>;
using unreg_atom = caf::atom_constant<caf::atom("ari_unreg")>;
using conn_atom = caf::atom_constant<caf::atom("ari_conn")>;
using list_atom = caf::atom_constant<caf::atom("ari_list")>;
using orphan_atom = caf::atom_constant<caf::atom("ari_orph")>;
using gone_atom = caf::atom_constant<caf::atom("ari_gone")>;
using wait_tmo_atom = caf::atom_constant<caf::atom("ari_tmo")>;
using quit_atom = caf::atom_constant<caf::atom("ari_quit")>;
using stop_atom = caf::atom_constant<caf::atom("ari_stop")>;
using lost_atom = caf::atom_constant<caf::atom("ari_lost")>;

}  // namespace astra::ari::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ari::detail::event_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ari::detail::reply_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ari::detail::handler_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ari::detail::bound_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::ari::detail::listing_msg)

namespace astra::ari::detail {

// Events that start or end an actor: never dropped by a bound (they are sent uncredited).
bool lifecycle(event_type t);

// State shared by the client facade, the dispatcher and every channel/bridge actor.
struct shared_state {
  client_config cfg;
  client_hooks hooks;
  client_handlers handlers;
  std::shared_ptr<http_pool> pool;
  std::shared_ptr<event_stream> stream;
  // Outbound WebSockets (outbound_server.hpp): the socket Asterisk dialled carries every REST
  // request of this state's actors; pool and stream are then unset. Set once, before any
  // actor exists.
  std::shared_ptr<rest_transport> transport;
  caf::actor dispatcher;  // set once, before the stream starts
  inflight_bound dispatch_bound{"ari.dispatch", default_dispatch_queue};

  std::atomic<std::size_t> channel_actors{0};
  std::atomic<std::size_t> bridge_actors{0};
  std::atomic<std::uint64_t> events{0}, decode_errors{0}, unrouted{0}, dropped_actor{0}, vanished{0};
  std::atomic<std::uint64_t> replacements{0};
  std::atomic<std::uint64_t> rc_adopted{0}, rc_hung_up{0}, rc_continued{0}, rc_gone{0}, rc_failed{0};
  std::atomic<bool> is_connected{false};
  std::atomic<bool> event_filter_refused{false};  // logged once; set by any pool thread
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> id_counter{0};
  std::string id_salt;

  // Link status (client::stats): guarded by link_mu.
  mutable std::mutex link_mu;
  std::vector<std::string> replaced_apps;  // since the last subscription
  std::string down_reason;                 // "" while connected
  std::optional<std::chrono::steady_clock::time_point> retry_at;  // next connect attempt

  explicit shared_state(client_config c)
      : cfg(std::move(c)), dispatch_bound("ari.dispatch", cfg.dispatch_queue ? cfg.dispatch_queue : 1) {
    std::random_device rd;
    static const char* hex = "0123456789abcdef";
    for (int i = 0; i < 8; ++i) id_salt += hex[rd() % 16];
  }
  // With a given id salt (outbound sockets: one per server, not one random_device per call).
  shared_state(client_config c, std::string salt)
      : cfg(std::move(c)), dispatch_bound("ari.dispatch", cfg.dispatch_queue ? cfg.dispatch_queue : 1),
        id_salt(std::move(salt)) {}

  std::string new_id(std::string_view prefix) {
    return std::string(prefix) + "-" + id_salt + "-" + std::to_string(id_counter.fetch_add(1) + 1);
  }

  const std::string& first_app() const {
    static const std::string none;
    return cfg.apps.empty() ? none : cfg.apps.front();
  }

  // Reads and reports under one lock (callers run on any CAF worker): the hook's last call
  // then carries the latest counts, never an older pair reported late.
  std::mutex counts_mu;
  void counts_changed() {
    if (!hooks.actors) return;
    std::lock_guard<std::mutex> lock(counts_mu);
    hooks.actors(channel_actors.load(), bridge_actors.load());
  }

  // One event frame from the socket (Asio strand) or inject_frame(): decode, count, bound,
  // dispatch. Defined in dispatcher.cpp.
  bool on_frame(std::string_view frame);

  // `transport` when set (outbound sockets), else REST over the event socket when enabled and
  // supported, else (or when it dropped) HTTP.
  // `done` runs on an Asio thread.
  void send(rest_request request, rest_callback done, std::chrono::milliseconds timeout = {});
};

// --- dispatcher (dispatcher.cpp) -----------------------------------------------------------

enum class member_kind { channel, bridge };

struct dispatch_entry {
  caf::actor actor;
  inflight_bound_ptr bound;
  std::uint64_t generation = 0;  // connect generation at registration
};

// A channel listed inside an app at a (re)subscription, waiting out client_config::orphan_grace.
struct orphan_candidate {
  Channel state;
  std::uint64_t generation = 0;
};

struct dispatcher_state {
  std::shared_ptr<shared_state> sh;
  std::unordered_map<std::string, dispatch_entry> channels;
  std::unordered_map<std::string, dispatch_entry> bridges;
  std::unordered_map<std::string, dispatch_entry> playback_watch;
  std::unordered_map<std::string, orphan_candidate> orphans;
  std::uint64_t generation = 0;  // successful subscriptions so far
};

using dispatcher_actor_t = caf::stateful_actor<dispatcher_state>;

caf::behavior dispatcher_actor(dispatcher_actor_t* self, std::shared_ptr<shared_state> sh);
// Spawns a channel/bridge actor and counts it; the caller registers the entry.
dispatch_entry spawn_member(dispatcher_actor_t* self, member_kind kind, const std::string& id, member_start start);
// ApplicationReplaced from connection `connection`: records it and drops that connection as
// lost with the reason (the stream re-subscribes after its backoff). A stale one (from an
// earlier connection) is ignored.
void on_application_replaced(dispatcher_actor_t* self, const std::string& app, std::uint64_t connection);

// --- channel / bridge actors (actors.cpp) ---------------------------------------------------

caf::actor spawn_member_actor(caf::event_based_actor* parent, std::shared_ptr<shared_state> sh, member_kind kind,
                              std::string id, member_start start, inflight_bound_ptr bound);

// --- reconciliation after a (re)subscription (reconcile.cpp) ---------------------------------

// Called by the dispatcher at each successful subscription (st.generation already bumped):
// lists the channels (every time) and the bridges (reconnects only).
void start_reconciliation(dispatcher_actor_t* self);
// A listing came back: stops actors whose channel/bridge vanished during the gap, and queues
// the channels inside the apps that have no actor for on_reconnect after orphan_grace.
void on_listing(dispatcher_actor_t* self, const listing_msg& m);
// An event about a channel: a StasisStart, StasisEnd or ChannelDestroyed takes it off the
// orphan candidates (it was entering or leaving the app while being listed).
void note_channel_event(dispatcher_actor_t* self, const event& e);
// orphan_grace passed for the candidates of `generation`: applies on_reconnect to each one
// that still has no actor.
void apply_reconnect_policy(dispatcher_actor_t* self, std::uint64_t generation);

}  // namespace astra::ari::detail
