// Reconciliation of the ARI client's actors with Asterisk at each (re)subscription of the
// event socket:
//  - reconnects only: actors whose channel / bridge vanished during the gap are told
//    (channel_gone) and stopped (GET /channels, GET /bridges);
//  - every subscription, the first included: channels already inside one of the apps with
//    no actor (astra restarted, Asterisk kept the calls) get client_config::on_reconnect.
// Runs inside the dispatcher actor; REST replies come back to it as list_atom messages.
#include <algorithm>
#include <cctype>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "actors/ari/client_internal.hpp"
#include "generated/ari/events.hpp"

namespace astra::ari {

std::string_view to_string(reconnect_policy p) noexcept {
  switch (p) {
    case reconnect_policy::hangup: return "hangup";
    case reconnect_policy::continue_in_dialplan: return "continue";
    case reconnect_policy::adopt: return "adopt";
  }
  return "hangup";
}

namespace detail {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// True if the channel executes Stasis(<one of apps>[,args]) right now (Asterisk 22 channel
// JSON: dialplan.app_name "Stasis", dialplan.app_data "<app>[,args...]").
bool inside_apps(const Channel& c, const std::vector<std::string>& apps) {
  if (!iequals(c.dialplan.app_name, "Stasis")) return false;
  std::string_view data = c.dialplan.app_data;
  auto app = data.substr(0, data.find(','));
  return std::find(apps.begin(), apps.end(), app) != apps.end();
}

void list(dispatcher_actor_t* self, bool channels) {
  auto& sh = *self->state.sh;
  rest_request req;
  req.method = "GET";
  req.path = channels ? "/ari/channels" : "/ari/bridges";
  caf::actor me = caf::actor_cast<caf::actor>(self);
  auto generation = self->state.generation;
  auto apps = sh.cfg.apps;
  // The listing goes over HTTP (or, on an outbound socket, over that socket): never queued
  // behind the handlers' REST-over-WebSocket traffic of an inbound client.
  rest_transport& via = sh.transport ? *sh.transport : static_cast<rest_transport&>(*sh.pool);
  via.send(std::move(req), [me, channels, generation, apps = std::move(apps)](result<rest_response> r) {
    listing_msg m;
    m.channels = channels;
    m.generation = generation;
    auto checked = check_status(std::move(r));
    if (!checked) {
      m.error = checked.error().message();
    } else if (channels) {
      auto list = decode_response<ari::channels::list>(checked->status, checked->body, checked->reason);
      if (list) {
        m.ids = std::make_shared<std::vector<std::string>>();
        m.in_apps = std::make_shared<std::vector<Channel>>();
        for (auto& c : *list) {
          m.ids->push_back(c.id);
          if (inside_apps(c, apps)) m.in_apps->push_back(std::move(c));
        }
      } else {
        m.error = list.error().message();
      }
    } else {
      auto list = decode_response<ari::bridges::list>(checked->status, checked->body, checked->reason);
      if (list) {
        m.ids = std::make_shared<std::vector<std::string>>();
        for (auto& b : *list) m.ids->push_back(b.id);
      } else {
        m.error = list.error().message();
      }
    }
    caf::anon_send(me, list_atom::value, std::move(m));
  });
}

// Stops the actors registered before `generation` whose channel/bridge is not listed.
void stop_vanished(dispatcher_actor_t* self, bool channels, std::uint64_t generation,
                   const std::vector<std::string>& ids) {
  auto& st = self->state;
  std::unordered_set<std::string> present(ids.begin(), ids.end());
  auto& map = channels ? st.channels : st.bridges;
  std::size_t gone = 0;
  for (auto it = map.begin(); it != map.end();) {
    if (it->second.generation < generation && !present.count(it->first)) {
      self->send(it->second.actor, gone_atom::value,
                 std::string(channels ? "channel" : "bridge") + " vanished while the event socket was down");
      it = map.erase(it);
      ++gone;
    } else {
      ++it;
    }
  }
  st.sh->vanished.fetch_add(gone);
  if (gone) spdlog::info("ari: reconnect: {} {} gone during the gap, their actors stopped", gone,
                         channels ? "channels" : "bridges");
  // Playback watches of stopped actors die with them (sends to a dead actor are dropped).
}

// Counts one outcome of the policy (any thread).
void count_outcome(shared_state& sh, reconnect_policy policy, std::string_view outcome) {
  if (outcome == "ok") {
    (policy == reconnect_policy::adopt          ? sh.rc_adopted
     : policy == reconnect_policy::hangup       ? sh.rc_hung_up
                                                : sh.rc_continued)
        .fetch_add(1);
  } else {
    (outcome == "gone" ? sh.rc_gone : sh.rc_failed).fetch_add(1);
  }
  if (sh.hooks.reconnect_channel) sh.hooks.reconnect_channel(to_string(policy), outcome);
}

// hangup / continue: one REST call, its outcome counted when the reply arrives (Asio thread).
void send_policy_request(const std::shared_ptr<shared_state>& shp, reconnect_policy policy, const std::string& id) {
  auto& sh = *shp;
  result<rest_request> req = failure{ari_errc::invalid_argument, "no request"};
  if (policy == reconnect_policy::hangup) {
    channels::hangup op;
    op.channelId = id;
    req = to_request(op);
  } else {
    channels::continue_in_dialplan op;
    op.channelId = id;
    req = to_request(op);
  }
  if (!req) {
    spdlog::error("ari: reconnect: cannot build the {} request for channel {}: {}", to_string(policy), id,
                  req.error().message());
    count_outcome(sh, policy, "failed");
    return;
  }
  std::weak_ptr<shared_state> weak = shp;
  sh.send(std::move(*req), [weak, policy, id](result<rest_response> r) {
    auto s = weak.lock();
    if (!s) return;
    auto checked = check_status(std::move(r));
    std::string_view outcome = "ok";
    if (!checked) outcome = http_status(checked.error()) == 404 ? "gone" : "failed";
    if (outcome == "ok")
      spdlog::info("ari: reconnect: channel {} found in the app without an actor: {} done", id, to_string(policy));
    else if (outcome == "gone")
      spdlog::info("ari: reconnect: channel {} found in the app without an actor had left before the {}", id,
                   to_string(policy));
    else
      spdlog::warn("ari: reconnect: {} of channel {} (found in the app without an actor) failed: {}", to_string(policy),
                   id, checked.error().message());
    count_outcome(*s, policy, outcome);
  });
}

}  // namespace

// client_config::event_filter: PUT /applications/{app}/eventFilter for every app. The reply is
// only logged (a refusal once per client): the client filters what it receives anyway.
void push_event_filter(dispatcher_actor_t* self) {
  auto sh = self->state.sh;
  if (sh->cfg.event_filter.empty()) return;
  const std::string body = event_filter_body(sh->cfg.event_filter);
  for (const auto& app : sh->cfg.apps) {
    rest_request req;
    req.method = "PUT";
    req.path = "/ari/applications/" + percent_encode_segment(app) + "/eventFilter";
    req.body = body;
    std::weak_ptr<shared_state> weak = sh;
    sh->pool->send(std::move(req), [weak, app](result<rest_response> r) {
      auto s = weak.lock();
      if (!s) return;
      auto checked = check_status(std::move(r));
      if (checked) {
        spdlog::debug("ari: event filter of app {} set", app);
        return;
      }
      if (!s->event_filter_refused.exchange(true))
        spdlog::warn("ari: setting the event filter of app {} failed ({}); Asterisk keeps sending every event, "
                     "astra ignores the ones it does not need",
                     app, checked.error().message());
    });
  }
}

void start_reconciliation(dispatcher_actor_t* self) {
  push_event_filter(self);
  list(self, true);                               // every subscription: orphans (+ vanished on reconnects)
  if (self->state.generation > 1) list(self, false);  // reconnects: vanished bridges
}

void on_listing(dispatcher_actor_t* self, const listing_msg& m) {
  auto& st = self->state;
  const char* what = m.channels ? "channels" : "bridges";
  if (!m.ids) {
    spdlog::warn("ari: listing {} after the subscription failed: {}; keeping actors{}", what, m.error,
                 m.channels ? ", channels already in the app are not checked" : "");
    return;
  }
  if (m.generation > 1) stop_vanished(self, m.channels, m.generation, *m.ids);
  if (!m.channels || !m.in_apps || m.generation != st.generation) return;  // a newer subscription lists again
  std::size_t queued = 0;
  for (const auto& c : *m.in_apps) {
    if (st.channels.count(c.id)) continue;  // has an actor: handled already
    st.orphans[c.id] = orphan_candidate{c, m.generation};
    ++queued;
  }
  if (!queued) return;
  spdlog::info("ari: {} channel(s) inside the app without an actor; policy {} in {} ms unless they move", queued,
               to_string(st.sh->cfg.on_reconnect), st.sh->cfg.orphan_grace.count());
  self->delayed_send(self, st.sh->cfg.orphan_grace, orphan_atom::value, m.generation);
}

void note_channel_event(dispatcher_actor_t* self, const event& e) {
  auto t = e.type();
  if (t != event_type::StasisStart && t != event_type::StasisEnd && t != event_type::ChannelDestroyed) return;
  self->state.orphans.erase(std::string(e.channel_id()));
}

void apply_reconnect_policy(dispatcher_actor_t* self, std::uint64_t generation) {
  auto& st = self->state;
  auto& sh = *st.sh;
  auto policy = sh.cfg.on_reconnect;
  for (auto it = st.orphans.begin(); it != st.orphans.end();) {
    if (it->second.generation != generation) {
      // Queued by an earlier subscription: the current one's listing decides.
      if (it->second.generation < st.generation) it = st.orphans.erase(it);
      else ++it;
      continue;
    }
    auto id = it->first;
    auto state = std::move(it->second.state);
    it = st.orphans.erase(it);
    if (generation != st.generation || st.channels.count(id)) continue;
    if (policy == reconnect_policy::adopt) {
      auto adopted = std::make_shared<const Channel>(std::move(state));
      st.channels.emplace(id, spawn_member(self, member_kind::channel, id, member_start{{}, std::move(adopted)}));
      spdlog::info("ari: reconnect: channel {} found in the app without an actor: adopted", id);
      count_outcome(sh, policy, "ok");
    } else {
      send_policy_request(st.sh, policy, id);
    }
  }
}

}  // namespace detail
}  // namespace astra::ari
