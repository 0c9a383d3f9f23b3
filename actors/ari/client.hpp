#pragma once
// ARI client: one event WebSocket + REST transport per Asterisk server, a channel actor per
// channel in the Stasis application(s) and a bridge actor per bridge.
//
// Actors and threads:
//  - Asio threads own the sockets; they decode event frames (typed, generated decoders) and
//    anon_send them to the dispatcher actor; REST replies are anon_sent to the actor that
//    issued the request. Nothing here blocks an actor.
//  - The dispatcher routes each event to the actor of its channel / bridge (and to the actor
//    that started a playback), spawning a channel actor at StasisStart (or before the
//    originate request when the app originates with a pre-assigned channelId) and a bridge
//    actor when the app creates a bridge (or at BridgeCreated). A channel actor stops at
//    StasisEnd / ChannelDestroyed, a bridge actor at BridgeDestroyed; both stop when a
//    reconnect finds their channel / bridge gone (reconciliation with GET /channels, /bridges).
//  - Every (re)subscription lists the channels already inside the apps (GET /channels); each
//    one without an actor gets client_config::on_reconnect: hangup, continue (back to the
//    dialplan) or adopt (a channel actor running client_handlers::on_adopt).
//  - ApplicationReplaced (another client subscribed one of the apps): the event socket is
//    dropped as lost with that reason and re-subscribed after the capped, jittered backoff,
//    for as long as the client runs (the other client may leave). Re-subscribing takes the
//    app back from the other client (Asterisk gives an app to its latest subscriber), so two
//    clients of one app alternate, each at most once per (growing) backoff delay.
//  - Each actor has a bounded event queue (client_config::channel_queue events in flight);
//    a non-lifecycle event beyond it is dropped and counted (queue "ari.channel" / "ari.bridge");
//    lifecycle events (StasisStart/End, ChannelDestroyed, BridgeDestroyed) are never dropped.
//  - Handlers (stasis_handler) are C++20 coroutines run inside the channel actor: every
//    co_await of a handle method resumes in that actor. Handles (channel, bridge, session)
//    are bound to the actor that created them and must only be used there.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/ari/config.hpp"
#include "actors/ari/errors.hpp"
#include "actors/ari/rest.hpp"
#include "actors/common/call_ended.hpp"
#include "actors/common/task.hpp"
#include "generated/ari/operations.hpp"

namespace boost::asio {
class io_context;
}

namespace astra::ari {

struct event;                         // generated/ari/events.hpp
struct StasisStart;                   // generated/ari/events.hpp
enum class event_type : std::uint8_t;  // generated/ari/events.hpp
using event_ptr = std::shared_ptr<const event>;

class channel;
class bridge;
class session;

namespace detail {
class actor_core;
// Sends `request` from the actor owning `core`; `done` runs inside that actor.
void submit(actor_core* core, result<rest_request> request, std::function<void(result<rest_response>)> done);
// True when `f`, the outcome of a request awaited in the actor owning `core`, must end a
// straight-line handler (client_config::on_hangup == end_handler): the channel has left
// Stasis (StasisEnd, ChannelDestroyed, gone), the reply is channel_gone, or the client stopped.
bool ends_handler(const actor_core* core, const failure& f) noexcept;
}  // namespace detail

// co_await-able outcome of one ARI call (result<T>): starts when awaited (or detach()ed),
// resumes inside the actor that owns the handle.
template <class T>
class [[nodiscard]] pending : public callback_awaitable<result<T>> {
 public:
  using base = callback_awaitable<result<T>>;
  explicit pending(typename base::starter start) : base(start), start_(std::move(start)) {}
  // Awaited inside the actor owning `core`: see detail::ends_handler.
  pending(detail::actor_core* core, typename base::starter start) : base(start), start_(std::move(start)), core_(core) {}
  result<T> await_resume() {
    result<T> r = base::await_resume();
    if (!r && core_ && detail::ends_handler(core_, r.error())) throw call_ended{r.error().code, r.error().detail};
    return r;
  }
  // Starts without waiting; `then` (optional) runs inside the actor with the outcome.
  void detach(std::function<void(result<T>)> then = {}) {
    auto start = std::move(start_);
    start([then = std::move(then)](result<T> r) {
      if (then) then(std::move(r));
    });
  }

 private:
  typename base::starter start_;
  detail::actor_core* core_ = nullptr;
};

// Runs inside the channel actor for each channel entering the application.
using stasis_handler = std::function<task<void>(channel chan, session& ari)>;
// Runs inside a new channel actor for a channel found already inside the application (with no
// actor) when the event socket (re)subscribed and the policy is reconnect_policy::adopt.
// `state` is the channel as GET /channels listed it (state, caller, dialplan position). No
// StasisStart is replayed: chan.start_event() is nullptr.
using adoption_handler = std::function<task<void>(channel chan, session& ari, Channel state)>;

// The ARI API as seen from one actor (channel or bridge actor).
class session {
 public:
  explicit session(detail::actor_core* core) : core_(core) {}

  // Any generated operation: co_await ari.request(channels::get{.channelId = id}).
  template <class Op>
  pending<typename Op::response_type> request(Op op) {
    using R = typename Op::response_type;
    auto* core = core_;
    return pending<R>(core, [core, op = std::move(op)](std::function<void(result<R>)> complete) {
      detail::submit(core, to_request(op), [complete = std::move(complete)](result<rest_response> r) {
        if (!r) complete(r.error());
        else complete(decode_response<Op>(r->status, r->body, r->reason));
      });
    });
  }
  // A request as given; the reply whatever its status (non-2xx is not an error here).
  pending<rest_response> raw(rest_request request);

  // An HTTP-like exchange outside ARI (e.g. a webhook request): `start` runs at once and
  // gets a completion to call exactly once, from any thread; the awaiting coroutine resumes
  // in this actor. The exchange must have its own deadline.
  pending<rest_response> external(std::function<void(rest_callback)> start);

  // Creates a bridge with a pre-assigned id; its bridge actor exists before the request.
  pending<bridge> create_bridge(std::string type = "mixing", std::string name = {});
  // Originates with a pre-assigned channelId (params.channelId or a new one) into this
  // client's first app unless params.app is set; the channel actor exists before the
  // request, its handler (or the client's) runs at its StasisStart.
  pending<Channel> originate(channels::originate params, stasis_handler handler = {});
  pending<Channel> external_media(channels::external_media params, stasis_handler handler = {});

  channel channel_of(std::string id);
  bridge bridge_of(std::string id);
  // Runs a detached coroutine in this actor (e.g. from an event callback).
  void spawn(task<void> body);
  // A new unique id ("<prefix>-<random>-<n>") for channels, bridges, playbacks.
  std::string new_id(std::string_view prefix);
  const std::string& app() const;

 private:
  detail::actor_core* core_;
};

class channel {
 public:
  channel() = default;
  channel(detail::actor_core* core, std::string id) : core_(core), id_(std::move(id)) {}
  const std::string& id() const noexcept { return id_; }

  pending<void> answer();
  pending<void> hangup(std::string reason = {});
  pending<void> ring();
  pending<void> ring_stop();
  // Plays media (comma-separated list allowed); a playback id is pre-assigned and its
  // Playback* events are delivered to this actor too (see wait_playback).
  pending<Playback> play(std::string media, std::string playback_id = {});
  pending<LiveRecording> record(std::string name, std::string format = "wav", channels::record options = {});
  pending<void> send_dtmf(std::string digits);
  pending<void> mute(std::string direction = "both");
  pending<void> unmute(std::string direction = "both");
  pending<void> hold();
  pending<void> unhold();
  pending<void> start_moh(std::string moh_class = {});
  pending<void> stop_moh();
  pending<std::string> get_var(std::string name);
  pending<void> set_var(std::string name, std::string value);
  pending<Channel> snoop(std::string spy = "both", std::string whisper = "none", std::string app = {});
  pending<void> redirect(std::string endpoint);
  pending<void> continue_in_dialplan(std::string context = {}, std::string extension = {},
                                     std::optional<std::int64_t> priority = {});
  pending<Channel> get();

  // Event callbacks of the owning channel actor (run inside it, in event order).
  void on(event_type type, std::function<void(const event&)> callback);
  void on_any(std::function<void(const event&)> callback);
  // The channel left: StasisEnd, ChannelDestroyed, or gone after a reconnect (channel_gone).
  void on_end(std::function<void(const failure& why)> callback);
  // Next event of `type` for this actor (channel_gone when the channel ends first, timeout).
  pending<event_ptr> wait(event_type type, std::chrono::milliseconds timeout = std::chrono::minutes(5));
  // Next event of this actor for which `match` is true (runs inside the actor; timeout:
  // ari_errc::timeout). A matcher that never matches makes a sleep that a hang-up ends.
  pending<event_ptr> wait_for(std::function<bool(const event&)> match, std::chrono::milliseconds timeout);
  // PlaybackFinished of `playback_id` (already finished => at once).
  pending<void> wait_playback(std::string playback_id, std::chrono::milliseconds timeout = std::chrono::minutes(5));
  // False once the owning actor's channel has ended (StasisEnd, ChannelDestroyed, gone).
  bool active() const;
  // The StasisStart that started this channel's handler (nullptr before it).
  const StasisStart* start_event() const;

 private:
  detail::actor_core* core_ = nullptr;
  std::string id_;
};

class bridge {
 public:
  bridge() = default;
  bridge(detail::actor_core* core, std::string id) : core_(core), id_(std::move(id)) {}
  const std::string& id() const noexcept { return id_; }

  pending<void> add(std::string channel_id, std::optional<std::string> role = {});
  pending<void> add(std::vector<std::string> channel_ids);
  pending<void> remove(std::string channel_id);
  // Playback events of the pre-assigned playback id are delivered to the calling actor too.
  pending<Playback> play(std::string media, std::string playback_id = {});
  pending<LiveRecording> record(std::string name, std::string format = "wav", bridges::record options = {});
  pending<void> start_moh(std::string moh_class = {});
  pending<void> stop_moh();
  pending<void> destroy();
  pending<Bridge> get();

 private:
  detail::actor_core* core_ = nullptr;
  std::string id_;
};

// Hooks for metrics and logs. Every member is optional; each may be called from any
// Asio or actor thread (implementations must be thread-safe and cheap).
struct client_hooks {
  std::function<void(bool connected)> connected;                     // event socket up / down
  std::function<void(std::string_view type)> event;                  // every event received
  // Every decoded event frame as received (JSON text), on the event socket's strand; must not
  // block (issue 14: the bus copies it into its bounded buffer). Unset: not called.
  std::function<void(std::string_view type, std::string_view frame)> event_frame;
  // Relay mode (issue 14: the holder of the socket hands calls to other replicas). When set,
  // the client runs no channel or bridge actor: every decoded event but ApplicationReplaced
  // (which the client handles as always) goes to `relay`, in socket order, on the socket's
  // strand, and no reconciliation runs after a (re)subscription (the relay owns the calls).
  // Must not block. The event object lives only for the call.
  std::function<void(const ari::event& e, std::string_view frame)> relay;
  // A channel or bridge actor was registered (added = true: at StasisStart, before an
  // originate or a bridge creation is sent) or has ended (false). Runs on the dispatcher actor
  // (added) or on the thread where the actor ended (removed); must not block.
  std::function<void(bool channel, const std::string& id, bool added)> member;
  std::function<void(std::string_view method, int status)> request;  // every REST reply (0 = transport failure)
  std::function<void(std::size_t channels, std::size_t bridges)> actors;  // live actor counts changed
  std::function<void(std::string_view queue, std::uint64_t total)> dropped;  // "ari.dispatch", "ari.channel", "ari.bridge", "ari.http"
  std::function<void(std::string_view app)> application_replaced;    // another client took the app over
  // The event socket is gone; the next attempt is in retry_in (< 0: none). After
  // ApplicationReplaced, why is ari_errc::application_replaced with the detail
  // "application 'NAME' replaced by another client".
  std::function<void(const failure& why, std::chrono::milliseconds retry_in)> disconnected;
  // A channel found in an app without an actor at a (re)subscription, once its policy ran:
  // policy "hangup" / "continue" / "adopt"; outcome "ok", "gone" (404: it had left already)
  // or "failed" (any other error).
  std::function<void(std::string_view policy, std::string_view outcome)> reconnect_channel;
  // A channel's handler ended: app (of its StasisStart; "" when adopted), outcome
  // "completed" (returned, or ended by the end of its channel in straight-line mode),
  // "failed" (threw an astra::failure: `throw r.error()` or result::value() on an error) or
  // "exception" (threw anything else: logged with the channel id; only that call ends).
  std::function<void(std::string_view app, std::string_view outcome)> handler_ended;
};

struct client_handlers {
  stasis_handler on_stasis_start;  // required for channels to do anything but be tracked
  // Every event of a bridge, inside its bridge actor (optional).
  std::function<void(bridge b, session& ari, const event& e)> on_bridge_event;
  // A bridge actor's bridge ended (BridgeDestroyed, or gone after a reconnect: channel_gone
  // with the reason), inside its bridge actor, once, before it stops; not called when the
  // client itself is stopped (optional).
  std::function<void(bridge b, session& ari, const failure& why)> on_bridge_end;
  // The adoption entry point (client_config::on_reconnect == adopt). Unset: the adopted
  // channel's actor hangs it up (there is no logic to resume it with).
  adoption_handler on_adopt;
};

// Outcomes of client_config::on_reconnect so far.
struct reconnect_channel_counts {
  std::uint64_t adopted = 0;    // actors spawned for on_adopt
  std::uint64_t hung_up = 0;    // DELETE /channels/{id} succeeded
  std::uint64_t continued = 0;  // POST /channels/{id}/continue succeeded
  std::uint64_t gone = 0;       // 404: the channel had left before the request
  std::uint64_t failed = 0;     // any other failure (listing failures are not counted here)
};

struct client_stats {
  std::size_t channel_actors = 0;
  std::size_t bridge_actors = 0;
  std::uint64_t events = 0;            // frames decoded
  std::uint64_t decode_errors = 0;
  std::uint64_t unrouted = 0;          // events for no live actor (e.g. the other leg of a Local channel)
  std::uint64_t dropped_dispatch = 0;  // socket -> dispatcher bound hit
  std::uint64_t dropped_actor = 0;     // dispatcher -> actor bound hit
  std::uint64_t connects = 0;          // successful event socket handshakes
  std::uint64_t vanished = 0;          // actors stopped by reconciliation
  bool connected = false;
  bool rest_over_websocket = false;    // RESTRequest frames in use right now
  // Apps taken over by another client since the last successful subscription (cleared by it).
  std::vector<std::string> replaced_apps;
  std::uint64_t replacements = 0;      // event sockets dropped after ApplicationReplaced
  // Why the event socket is down ("" while connected), e.g. "application 'sales' replaced by
  // another client" or the transport failure's message.
  std::string down_reason;
  // While disconnected: time left before the next connect attempt (0 once it is due: an
  // attempt may be under way); -1 when connected or not reconnecting.
  std::chrono::milliseconds retry_in{-1};
  reconnect_channel_counts reconnect_channels;
};

class client {
 public:
  // Validates the configuration (url, TLS store, apps) and starts connecting. The
  // io_context must be run by the caller (astra::io_runtime); the actor system outlives
  // the client.
  static result<std::unique_ptr<client>> start(caf::actor_system& system, boost::asio::io_context& io,
                                               client_config config, client_handlers handlers,
                                               client_hooks hooks = {});
  ~client();
  // Closes the socket, stops the dispatcher and every channel/bridge actor. Idempotent.
  void stop();

  client_stats stats() const;
  std::size_t channel_actors() const;
  std::size_t bridge_actors() const;
  bool connected() const;
  const client_config& config() const;
  // REST from outside any actor (status as received); `done` runs on an Asio thread.
  void send(rest_request request, rest_callback done);
  // Originates from outside any actor with a pre-assigned channel id (params.channelId or a
  // new one); the channel actor is spawned before the request. `done` runs on an Asio thread.
  void originate(channels::originate params, std::function<void(result<Channel>)> done = {},
                 stasis_handler handler = {});

  // Feeds one event frame exactly as if it had arrived on the event socket (decode, hooks,
  // bounds, dispatch): replays, benchmarks. False if it was dropped (dispatch bound) or
  // undecodable. Thread-safe.
  bool inject_frame(std::string frame);
  // Frames decoded but not yet routed by the dispatcher (bounded by config.dispatch_queue).
  std::size_t dispatch_backlog() const;

  struct impl;

 private:
  explicit client(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace astra::ari
