// The dispatcher actor of the ARI client: frames in (decoded on Asio threads), events out to
// the channel/bridge actors, actors spawned and unregistered, ApplicationReplaced handled.
// Every map here is owned by the dispatcher actor; nothing blocks it.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/ari/client_internal.hpp"
#include "generated/ari/events.hpp"

namespace astra::ari::detail {

bool lifecycle(event_type t) {
  return t == event_type::StasisStart || t == event_type::StasisEnd || t == event_type::ChannelDestroyed ||
         t == event_type::BridgeDestroyed || t == event_type::BridgeCreated;
}

void shared_state::send(rest_request request, rest_callback done, std::chrono::milliseconds timeout) {
  if (transport) {
    auto method = request.method;
    auto hook = hooks.request;
    transport->send(
        std::move(request),
        [done = std::move(done), method = std::move(method), hook](result<rest_response> r) {
          if (hook) hook(method, r.ok() ? r->status : 0);
          done(std::move(r));
        },
        timeout);
    return;
  }
  if (cfg.rest_over_websocket && stream && stream->rest_supported()) {
    auto method = request.method;
    auto fallback_request = request;
    std::weak_ptr<http_pool> weak_pool = pool;
    auto hook = hooks.request;
    stream->send_rest(
        std::move(request),
        [done = std::move(done), method, hook, fallback_request = std::move(fallback_request), weak_pool,
         timeout](result<rest_response> r) mutable {
          if (!r && r.code() == make_error_code(ari_errc::not_connected)) {
            if (auto p = weak_pool.lock()) {
              p->send(std::move(fallback_request), std::move(done), timeout);
              return;
            }
          }
          if (hook) hook(method, r.ok() ? r->status : 0);
          done(std::move(r));
        },
        timeout);
    return;
  }
  pool->send(std::move(request), std::move(done), timeout);
}

bool shared_state::on_frame(std::string_view frame) {
  auto decoded = decode_event(frame);
  if (!decoded) {
    decode_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("ari: undecodable event frame ({} bytes): {}", frame.size(), decoded.error().message());
    return false;
  }
  events.fetch_add(1, std::memory_order_relaxed);
  auto ev = std::make_shared<const event>(std::move(*decoded));
  if (hooks.event) hooks.event(ev->type_name());
  if (hooks.event_frame) hooks.event_frame(ev->type_name(), frame);
  if (hooks.relay && ev->type() != event_type::ApplicationReplaced) {
    hooks.relay(*ev, frame);
    return true;
  }
  bool credited = dispatch_bound.try_acquire();
  if (!credited && !lifecycle(ev->type()) && ev->type() != event_type::ApplicationReplaced) {
    if (hooks.dropped) hooks.dropped("ari.dispatch", dispatch_bound.dropped());
    return false;
  }
  // On the stream's strand (frame callback) connects() is exactly the connection the frame came on.
  std::uint64_t connection = stream ? stream->connects() : 0;
  caf::anon_send(dispatcher, ev_atom::value, event_msg{std::move(ev), credited, connection});
  return true;
}

namespace {

void deliver(dispatcher_actor_t* self, dispatch_entry& e, const event_ptr& ev, bool force, const char* queue) {
  auto& sh = *self->state.sh;
  if (e.bound->try_acquire()) {
    self->send(e.actor, ev_atom::value, event_msg{ev, true});
  } else if (force) {
    self->send(e.actor, ev_atom::value, event_msg{ev, false});
  } else {
    auto total = sh.dropped_actor.fetch_add(1) + 1;
    if (sh.hooks.dropped) sh.hooks.dropped(queue, total);
  }
}

void dispatch(dispatcher_actor_t* self, const event_msg& m) {
  auto& st = self->state;
  auto& sh = *st.sh;
  const event_ptr& ev = m.ev;
  const event& e = *ev;
  auto t = e.type();
  bool force = lifecycle(t);
  caf::actor_addr delivered_to;
  bool delivered = false;

  if (t == event_type::ApplicationReplaced) {
    on_application_replaced(self, std::string(e.application()), m.connection);
    return;
  }

  auto channel_id = std::string(e.channel_id());
  if (!channel_id.empty()) {
    if (!st.orphans.empty()) note_channel_event(self, e);
    auto it = st.channels.find(channel_id);
    if (it == st.channels.end() && t == event_type::StasisStart)
      it = st.channels.emplace(channel_id, spawn_member(self, member_kind::channel, channel_id, {})).first;
    if (it != st.channels.end()) {
      deliver(self, it->second, ev, force, "ari.channel");
      delivered = true;
      delivered_to = it->second.actor.address();
      if (t == event_type::StasisEnd || t == event_type::ChannelDestroyed) st.channels.erase(it);
    }
  }
  auto bridge_id = std::string(e.bridge_id());
  if (!bridge_id.empty()) {
    auto it = st.bridges.find(bridge_id);
    if (it == st.bridges.end() && (t == event_type::BridgeCreated || t == event_type::ChannelEnteredBridge))
      it = st.bridges.emplace(bridge_id, spawn_member(self, member_kind::bridge, bridge_id, {})).first;
    if (it != st.bridges.end()) {
      deliver(self, it->second, ev, force, "ari.bridge");
      delivered = true;
      if (t == event_type::BridgeDestroyed) st.bridges.erase(it);
    }
  }
  auto playback_id = e.playback_id();
  if (!playback_id.empty()) {
    auto it = st.playback_watch.find(std::string(playback_id));
    if (it != st.playback_watch.end()) {
      if (it->second.actor.address() != delivered_to) deliver(self, it->second, ev, force, "ari.channel");
      delivered = true;
      if (t == event_type::PlaybackFinished) st.playback_watch.erase(it);
    }
  }
  if (!delivered) sh.unrouted.fetch_add(1, std::memory_order_relaxed);
}

// "application 'a' replaced by another client", "applications 'a', 'b' replaced by another client".
std::string replaced_text(const std::vector<std::string>& apps) {
  std::string names;
  for (const auto& a : apps) names += (names.empty() ? "'" : ", '") + a + "'";
  return (apps.size() == 1 ? "application " : "applications ") + names + " replaced by another client";
}

}  // namespace

void on_application_replaced(dispatcher_actor_t* self, const std::string& app, std::uint64_t connection) {
  auto& sh = *self->state.sh;
  if (!sh.stream || connection != sh.stream->connects()) {
    // The connection it came on is already gone; the current one re-subscribed the app since.
    spdlog::info("ari: ApplicationReplaced for '{}' from an earlier event socket; ignored", app);
    return;
  }
  std::string reason;
  {
    std::lock_guard lock(sh.link_mu);
    if (std::find(sh.replaced_apps.begin(), sh.replaced_apps.end(), app) == sh.replaced_apps.end())
      sh.replaced_apps.push_back(app);
    reason = replaced_text(sh.replaced_apps);
  }
  sh.replacements.fetch_add(1);
  spdlog::error("ari: {}; dropping the event socket, re-subscribing after the backoff", reason);
  if (sh.hooks.application_replaced) sh.hooks.application_replaced(app);
  // The socket is treated as lost (its other apps, if any, re-subscribe with it): the
  // stream reports `reason` through disconnected() and retries with its backoff.
  sh.stream->drop(failure{ari_errc::application_replaced, reason}, connection);
}

dispatch_entry spawn_member(dispatcher_actor_t* self, member_kind kind, const std::string& id, member_start start) {
  auto& sh = self->state.sh;
  bool is_channel = kind == member_kind::channel;
  auto bound = std::make_shared<inflight_bound>(is_channel ? "ari.channel" : "ari.bridge",
                                                sh->cfg.channel_queue ? sh->cfg.channel_queue : 1);
  auto actor = spawn_member_actor(self, sh, kind, id, std::move(start), bound);
  (is_channel ? sh->channel_actors : sh->bridge_actors).fetch_add(1);
  sh->counts_changed();
  std::weak_ptr<shared_state> weak = sh;
  // An outbound socket's state has no owner once its socket closed: its last actors keep it
  // (strongly) so that their end is still counted. The inbound client owns its state and
  // may be gone first: weak there.
  std::shared_ptr<shared_state> keep = sh->transport ? sh : nullptr;
  caf::actor dispatcher = caf::actor_cast<caf::actor>(self);
  auto addr = actor.address();
  if (sh->hooks.member) sh->hooks.member(is_channel, id, true);
  actor->attach_functor([weak, keep, is_channel, id, dispatcher, addr](const caf::error&) {
    if (auto s = keep ? keep : weak.lock()) {
      (is_channel ? s->channel_actors : s->bridge_actors).fetch_sub(1);
      s->counts_changed();
      if (s->hooks.member) s->hooks.member(is_channel, id, false);
    }
    caf::anon_send(dispatcher, unreg_atom::value, is_channel, id, addr);
  });
  return dispatch_entry{actor, bound, self->state.generation};
}

caf::behavior dispatcher_actor(dispatcher_actor_t* self, std::shared_ptr<shared_state> sh) {
  self->state.sh = std::move(sh);
  return {
      [self](ev_atom, const event_msg& m) {
        if (m.credited) self->state.sh->dispatch_bound.release();
        dispatch(self, m);
      },
      [self](conn_atom) {
        ++self->state.generation;
        if (!self->state.sh->hooks.relay) start_reconciliation(self);  // relay mode: the relay owns the calls
      },
      [self](list_atom, const listing_msg& m) { on_listing(self, m); },
      [self](orphan_atom, std::uint64_t generation) { apply_reconnect_policy(self, generation); },
      [self](spawn_chan_atom, const std::string& id, const handler_msg& h) {
        auto& st = self->state;
        if (st.channels.count(id)) return;
        st.channels.emplace(id, spawn_member(self, member_kind::channel, id, member_start{h.handler, nullptr}));
      },
      [self](spawn_bridge_atom, const std::string& id) {
        auto& st = self->state;
        if (st.bridges.count(id)) return;
        st.bridges.emplace(id, spawn_member(self, member_kind::bridge, id, {}));
      },
      [self](abort_atom, bool channel, const std::string& id, const std::string& why) {
        auto& map = channel ? self->state.channels : self->state.bridges;
        auto it = map.find(id);
        if (it == map.end()) return;
        self->send(it->second.actor, gone_atom::value, why);
        map.erase(it);
      },
      [self](watch_atom, const std::string& playback_id, const caf::actor& watcher, const bound_msg& b) {
        self->state.playback_watch[playback_id] = dispatch_entry{watcher, b.bound, self->state.generation};
      },
      [self](unreg_atom, bool channel, const std::string& id, const caf::actor_addr& addr) {
        auto& map = channel ? self->state.channels : self->state.bridges;
        auto it = map.find(id);
        if (it != map.end() && it->second.actor.address() == addr) map.erase(it);
        for (auto w = self->state.playback_watch.begin(); w != self->state.playback_watch.end();) {
          if (w->second.actor.address() == addr) w = self->state.playback_watch.erase(w);
          else ++w;
        }
      },
      // An outbound socket is gone (outbound_connection.cpp): every actor it carried ends as
      // if its channel/bridge left (handlers see channel_gone, end callbacks run), then the
      // dispatcher quits.
      [self](lost_atom, const std::string& why) {
        for (auto& [id, e] : self->state.channels) self->send(e.actor, gone_atom::value, why);
        for (auto& [id, e] : self->state.bridges) self->send(e.actor, gone_atom::value, why);
        self->state.channels.clear();
        self->state.bridges.clear();
        self->state.playback_watch.clear();
        self->state.orphans.clear();
        self->quit();
      },
      [self](stop_atom) {
        for (auto& [id, e] : self->state.channels) self->send(e.actor, stop_atom::value);
        for (auto& [id, e] : self->state.bridges) self->send(e.actor, stop_atom::value);
        self->state.channels.clear();
        self->state.bridges.clear();
        self->state.playback_watch.clear();
        self->state.orphans.clear();
        self->quit();
      },
  };
}

}  // namespace astra::ari::detail
