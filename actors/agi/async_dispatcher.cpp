// The AsyncAGI dispatcher: one actor per AMI session (async_agi::attach). It subscribes to the
// session's AsyncAGIStart / AsyncAGIExec / AsyncAGIEnd events, admits each AsyncAGIStart (Env
// decoded, route matched, capacity, drain) and spawns its call actor, then routes the channel's
// events to it by Channel. Refused starts get ASYNCAGI BREAK at once.
#include "actors/agi/detail/async_impl.hpp"

#include <map>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/ami/session.hpp"
#include "protocols/agi/async.hpp"

namespace astra::agi::detail {

namespace {

struct dispatcher_state {
  std::shared_ptr<async_shared> shared;
  caf::actor session;
  std::map<std::string, async_call_actor, std::less<>> calls;  // by channel; one per channel in AGI
  std::map<caf::actor_addr, std::string> channel_of;            // live call actors -> their channel
};
using dispatcher = caf::stateful_actor<dispatcher_state>;

void refuse(dispatcher* self, refusal why, std::string_view channel, const std::string& detail) {
  auto& st = self->state;
  auto& c = st.shared->counters;
  switch (why) {
    case refusal::capacity: c.refused_capacity.fetch_add(1, std::memory_order_relaxed); break;
    case refusal::no_route: c.no_route.fetch_add(1, std::memory_order_relaxed); break;
    case refusal::bad_environment: c.bad_environment.fetch_add(1, std::memory_order_relaxed); break;
    case refusal::shutting_down: c.refused_shutting_down.fetch_add(1, std::memory_order_relaxed); break;
    default: break;
  }
  spdlog::info("agi: async channel {} on {} refused ({}){}{}", channel, st.shared->config.name, to_string(why),
               detail.empty() ? "" : ": ", detail);
  const peer_address none{};
  invoke_hook(st.shared->config.hooks.connection_refused, &st.shared->faults, hook_kind::connection_refused,
              hook_subject{0, {}, &none}, why, none);
  // Let the channel's dialplan go on after AGI() (as a FastAGI refusal closes the socket).
  ami::action a("AGI");
  a.add("Channel", std::string(channel));
  a.add("Command", "ASYNCAGI BREAK");
  a.add("CommandID", st.shared->id_prefix + "refused");
  caf::anon_send(st.session, ami::request{std::move(a), st.shared->config.action_timeout});
}

void on_start(dispatcher* self, const ami::message_ptr& event) {
  auto& st = self->state;
  std::string channel(event->get("Channel").value_or(""));
  if (channel.empty()) return;
  if (auto old = st.calls.find(channel); old != st.calls.end()) {
    // A new AGI(agi:async) on a channel whose previous one we did not see end.
    self->send(old->second, async_news{async_news::end, nullptr, {}});
    st.calls.erase(old);
  }
  if (st.shared->draining.load()) return refuse(self, refusal::shutting_down, channel, {});
  auto env = async::decode_env(event->get("Env").value_or(""));
  if (!env) return refuse(self, refusal::bad_environment, channel, env.error().message());
  auto match = st.shared->config.routes->match(env->script_path);
  if (!match) return refuse(self, refusal::no_route, channel, env->script_path);
  if (!st.shared->admit()) return refuse(self, refusal::capacity, channel, {});
  st.shared->counters.started.fetch_add(1, std::memory_order_relaxed);
  call::identity id;
  id.id = st.shared->next_id.fetch_add(1, std::memory_order_relaxed);
  id.target = match->target;
  id.params = std::move(match->params);
  auto actor = spawn_async_call(self->system(), st.shared, st.session, channel, call_environment(*env), std::move(id));
  self->monitor(actor);
  st.channel_of[actor.address()] = channel;
  st.calls.emplace(std::move(channel), std::move(actor));
}

void lose_all(dispatcher* self, const std::string& why) {
  auto& st = self->state;
  for (auto& [channel, actor] : st.calls) self->send(actor, async_news{async_news::link_lost, nullptr, why});
  st.calls.clear();
}

caf::behavior async_dispatcher(dispatcher* self, std::shared_ptr<async_shared> shared, caf::actor session) {
  auto& st = self->state;
  st.shared = std::move(shared);
  st.session = session;
  self->monitor(session);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source == st.session.address()) {
      // The session is gone: nothing can reach the channels any more.
      lose_all(self, "AMI session ended");
      for (auto& [addr, channel] : st.channel_of)
        if (auto a = caf::actor_cast<async_call_actor>(addr)) self->send(a, async_control{async_control::cut});
      self->quit();
      return;
    }
    auto it = st.channel_of.find(msg.source);
    if (it == st.channel_of.end()) return;
    if (auto c = st.calls.find(it->second); c != st.calls.end() && c->second.address() == msg.source) st.calls.erase(c);
    st.channel_of.erase(it);
  });
  ami::subscribe_request sub;
  sub.filter = ami::event_filter::by_names({"AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd"});
  sub.capacity = st.shared->config.subscriber_capacity;
  sub.policy = ami::queue_policy::pause_reading;
  sub.name = "async-agi";
  self->send(session, std::move(sub));
  return {
      [self](ami::event_batch& batch) {
        auto& st = self->state;
        for (const auto& event : batch.events) {
          const auto name = event->name();
          if (ami::iequals(name, "AsyncAGIStart")) {
            on_start(self, event);
            continue;
          }
          auto it = st.calls.find(event->get("Channel").value_or(""));
          if (it == st.calls.end()) continue;  // not a channel of ours (refused, or started before we subscribed)
          if (ami::iequals(name, "AsyncAGIExec")) {
            self->send(it->second, async_news{async_news::exec, event, {}});
          } else if (ami::iequals(name, "AsyncAGIEnd")) {
            self->send(it->second, async_news{async_news::end, nullptr, {}});
            st.calls.erase(it);
          }
        }
      },
      [self](ami::link_event& ev) {
        if (ev.snapshot || ev.state != ami::link_event::kind::down) return;
        if (!self->state.calls.empty())
          spdlog::warn("agi: AMI link {} down: {} AsyncAGI call(s) end (disconnected)", self->state.shared->config.name,
                       self->state.calls.size());
        lose_all(self, ev.reason.message());
      },
      [self](ami::event_lost& lost) {
        // An AsyncAGI event over a read limit: its call cannot be told which (the command in
        // flight then meets its deadline).
        spdlog::warn("agi: AMI {} lost a {} event ({} bytes) over a read limit", self->state.shared->config.name,
                     lost.event_name, lost.bytes);
      },
      [self](async_cut_all) {
        for (auto& [addr, channel] : self->state.channel_of)
          if (auto a = caf::actor_cast<async_call_actor>(addr)) self->send(a, async_control{async_control::cut});
      },
  };
}

}  // namespace

caf::actor spawn_async_dispatcher(caf::actor_system& system, std::shared_ptr<async_shared> shared, caf::actor session) {
  return system.spawn(async_dispatcher, std::move(shared), std::move(session));
}

}  // namespace astra::agi::detail
