#include "service/core/supervision.hpp"

#include <utility>

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include <spdlog/spdlog.h>

#include "actors/ami/session.hpp"
#include "service/core/logging.hpp"

namespace astra::runtime {

// Message of request_drain(): `done` is fulfilled once every server supervisor stopped.
struct drain_request {
  std::shared_ptr<std::promise<void>> done;
};

}  // namespace astra::runtime

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::runtime::drain_request)

namespace astra::runtime {

namespace {

using namespace std::chrono_literals;

constexpr auto ami_logoff_timeout = 1500ms;  // AMI Logoff round trip per session (drain)
constexpr auto status_poll_period = 1s;       // AMI session status poll (for /v1/status)
constexpr auto status_query_timeout = 500ms;  // one status poll
constexpr std::chrono::milliseconds min_stable_period = 30s;  // floor of default_stable_period()

using drain_atom = caf::atom_constant<caf::atom("drain")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using poll_atom = caf::atom_constant<caf::atom("poll")>;

std::string reason_text(const caf::error& e) { return e ? caf::to_string(e) : std::string("normal exit"); }

// The actors one supervisor owns, shared with the functor that stops them when that
// supervisor terminates: CAF 0.17 destroys a stateful actor's state (on_exit) before it runs
// the actor's attachables, so the functor cannot read the state. Written by the owner on its
// own thread; read by the functor at the owner's termination (or by the attaching thread if
// the owner already terminated); the mutex orders the two.
class owned_actors {
 public:
  void add(const caf::actor_addr& a) {
    std::lock_guard lock(mutex_);
    actors_.push_back(a);
  }
  void remove(const caf::actor_addr& a) {
    std::lock_guard lock(mutex_);
    std::erase(actors_, a);
  }
  // Sends exit_reason::user_shutdown to every actor still owned (already dead ones are
  // skipped by CAF) and forgets them; idempotent.
  void stop_all() {
    std::vector<caf::actor_addr> victims;
    {
      std::lock_guard lock(mutex_);
      victims.swap(actors_);
    }
    for (const auto& a : victims) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

 private:
  std::mutex mutex_;
  std::vector<caf::actor_addr> actors_;  // weak: ownership is lifetime control, not memory
};

// ---------------------------------------------------------------------------------------
// Server supervisor: the AMI session (monitored, restarted) and the ARI client of one server.

struct server_sup_state {
  std::shared_ptr<server_runtime> rt;
  std::shared_ptr<owned_actors> owned;  // the live AMI session, for the root's stop functor
  caf::actor ami;                       // current session; null while a restart is pending
  astra::backoff ami_restarts;
  std::chrono::milliseconds stable_period{0};     // uptime that resets ami_restarts
  std::chrono::steady_clock::time_point ami_started;  // spawn time of `ami`
  bool stopping = false;
  bool upstreams_running = false;  // AMI session / ARI client started (false while the bus lease is elsewhere)
  std::vector<caf::response_promise> drain_waiters;
  static inline const char* name = "astra.server_supervisor";
};

using server_sup = caf::stateful_actor<server_sup_state>;

void finish_if_stopped(server_sup* self) {
  auto& st = self->state;
  if (!st.stopping || st.ami) return;
  for (auto& rp : st.drain_waiters) rp.deliver(done_atom::value);
  st.drain_waiters.clear();
  self->quit();
}

// A subscription registered in code (astra::service::ami_events): forwards the session's
// events to the user's handler, one at a time, in order; a handler that throws is logged
// (first time, then every doubling), counted (server_runtime::ami_handler_failed) and the
// subscription goes on. Quits with its session.
caf::behavior user_ami_subscriber(caf::event_based_actor* self, caf::actor session, std::shared_ptr<server_runtime> rt,
                                  const ami_registration* reg) {
  const std::string server = rt->name();
  self->monitor(session);
  self->set_down_handler([self](caf::down_msg&) { self->quit(); });
  ami::subscribe_request req;
  req.filter = reg->events.empty() ? ami::event_filter::all() : ami::event_filter::by_names(reg->events);
  req.name = "user-" + std::to_string(reinterpret_cast<std::uintptr_t>(reg) & 0xffff);
  self->send(session, std::move(req));
  auto failures = std::make_shared<std::uint64_t>(0);
  return {
      [self, reg, failures, server, rt](ami::event_batch& batch) {
        for (const auto& m : batch.events) {
          try {
            reg->handler(*m);
          } catch (...) {
            rt->ami_handler_failed();
            const auto n = ++*failures;
            if ((n & (n - 1)) == 0) {
              std::string what = "unknown exception";
              try {
                throw;
              } catch (const std::exception& e) {
                what = e.what();
              } catch (...) {
              }
              spdlog::error(log_fields("AMI event handler threw", "\"server\":" + json_quote(server) + ",\"event\":" +
                                                                     json_quote(std::string(m->name())) + ",\"error\":" +
                                                                     json_quote(what) + ",\"count\":" + std::to_string(n)));
            }
          }
        }
      },
      [](ami::link_event&) {},
      [](ami::event_lost&) {},
  };
}

void start_ami(server_sup* self) {
  auto& st = self->state;
  st.ami = st.rt->spawn_ami_session();
  if (!st.ami) return;
  st.ami_started = std::chrono::steady_clock::now();
  st.owned->add(st.ami.address());
  st.rt->publish_ami(st.ami);
  self->monitor(st.ami);  // a session that is already dead yields its down_msg at once
  // The supervisor is the service's own event subscriber: it learns link changes (with the
  // outage length) and keeps the ami_subscriber queue exercised and bounded.
  ami::subscribe_request sub;
  sub.filter = ami::event_filter::all();
  const auto& q = st.rt->subscriber_queue();
  sub.capacity = q.capacity;
  sub.capacity_bytes = q.bytes;
  sub.policy = q.policy == config::drop_policy::drop_oldest     ? ami::queue_policy::drop_oldest
               : q.policy == config::drop_policy::pause_reading ? ami::queue_policy::pause_reading
                                                                 : ami::queue_policy::drop_newest;
  sub.name = "service";
  self->send(st.ami, std::move(sub));
  for (const auto* reg : st.rt->ami_subscriptions()) self->spawn(user_ami_subscriber, st.ami, st.rt, reg);
  // AsyncAGI (servers[].ami.async_agi): its dispatcher subscribes and quits with the session.
  st.rt->attach_async_agi(st.ami);
}

caf::behavior server_supervisor(server_sup* self, std::shared_ptr<server_runtime> rt,
                                std::shared_ptr<owned_actors> owned, std::chrono::milliseconds stable_period) {
  self->state.rt = rt;
  self->state.owned = std::move(owned);
  self->state.ami_restarts = astra::backoff(rt->restart_policy());
  self->state.stable_period = stable_period;
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (!st.ami || msg.source != st.ami.address()) return;  // not the current session
    st.owned->remove(msg.source);
    st.ami = nullptr;
    st.rt->publish_ami(nullptr);
    if (st.stopping) return finish_if_stopped(self);
    if (!st.rt->upstream_allowed()) return;  // stopped for a lost lease: restarted when held again
    if (std::chrono::steady_clock::now() - st.ami_started >= st.stable_period) st.ami_restarts.reset();
    auto delay = st.ami_restarts.next();
    st.rt->actor_restarted("ami_session", reason_text(msg.reason), delay);
    self->delayed_send(self, delay, restart_atom::value);
  });
  // With the bus, the upstreams run only while this replica holds the server's lease
  // (lease_atom below starts and stops them).
  self->state.upstreams_running = rt->upstream_allowed();
  if (self->state.upstreams_running) {
    if (rt->has_ami()) start_ami(self);
    rt->start_ari();
  }
  self->delayed_send(self, status_poll_period, poll_atom::value);
  return {
      [self](lease_atom) {
        auto& st = self->state;
        if (st.stopping) return;
        const bool allowed = st.rt->upstream_allowed();
        if (allowed == st.upstreams_running) return;
        st.upstreams_running = allowed;
        if (allowed) {
          if (st.rt->has_ami() && !st.ami) start_ami(self);
          st.rt->start_ari();
          return;
        }
        // Lost the lease: stop both at once (no Logoff round trip: the split-brain guard
        // gives this a third of the lease TTL at most). The down handler does not restart.
        st.rt->stop_ari();
        if (st.ami) self->send(st.ami, ami::stop_request{});  // fails pending actions, closes, quits
      },
      [self](poll_atom) {
        auto& st = self->state;
        if (st.stopping) return;
        if (st.ami) {
          auto rt = st.rt;
          self->request(st.ami, status_query_timeout, ami::status_query{})
              .then([rt](ami::session_status& status) { rt->ami_status(status); }, [](caf::error&) {});
        }
        self->delayed_send(self, status_poll_period, poll_atom::value);
      },
      [self](restart_atom) {
        auto& st = self->state;
        if (!st.stopping && !st.ami && st.rt->has_ami() && st.rt->upstream_allowed()) start_ami(self);
      },
      [self](ami::event_batch& batch) {
        // Consumed here; the batch's credit returns to the bound when `batch` is destroyed.
        self->state.rt->events_consumed(batch.events.size());
        self->state.rt->forward_ami_events(batch.events);
      },
      [self](ami::link_event& ev) { self->state.rt->ami_link_event(ev); },
      [self](drain_atom) -> caf::result<done_atom> {
        auto& st = self->state;
        auto rp = self->make_response_promise();
        st.drain_waiters.push_back(rp);
        if (!st.stopping) {
          st.stopping = true;
          st.rt->stop_ari();
          if (st.ami) {
            auto session = st.ami;
            auto rt = st.rt;
            self->request(session, ami_logoff_timeout, ami::request{ami::actions::logoff(), ami_logoff_timeout - 250ms})
                .then(
                    [self, session, rt](ami::reply& r) {
                      rt->logged_off(r.ok() ? std::string() : r.error.message());
                      self->send(session, ami::stop_request{});
                    },
                    [self, session, rt](caf::error& e) {
                      rt->logged_off(caf::to_string(e));
                      self->send(session, ami::stop_request{});
                    });
          }
        }
        finish_if_stopped(self);
        return rp;
      },
  };
}

// ---------------------------------------------------------------------------------------
// Root supervisor: one monitored server supervisor per runtime.

struct root_state {
  std::map<caf::actor_addr, std::shared_ptr<server_runtime>> children;  // live supervisors
  std::shared_ptr<owned_actors> owned;  // the live supervisors, for the root's stop functor
  std::map<std::string, astra::backoff> restarts;
  std::map<std::string, std::chrono::steady_clock::time_point> started;  // spawn time per server
  std::chrono::milliseconds stable_period{0};  // uptime that resets a server's backoff
  std::vector<std::shared_ptr<server_runtime>> all;
  bool stopping = false;
  std::size_t pending_drains = 0;
  std::shared_ptr<std::promise<void>> done;
  static inline const char* name = "astra.root_supervisor";
};

using root_sup = caf::stateful_actor<root_state>;

void spawn_server_supervisor(root_sup* self, std::shared_ptr<server_runtime> rt) {
  auto session = std::make_shared<owned_actors>();
  auto sup = self->spawn<caf::monitored>(server_supervisor, rt, session, self->state.stable_period);
  self->state.started[rt->name()] = std::chrono::steady_clock::now();
  // Attached after the monitor: CAF runs attachables newest first, so this runs on the
  // supervisor's termination BEFORE the root's down_msg is sent; the restart that the down_msg
  // schedules therefore always finds the old session told to stop and the ARI client stopped.
  sup->attach_functor([rt, session](const caf::error&) {
    session->stop_all();
    rt->publish_ami(caf::actor{});
    rt->stop_ari();
  });
  self->state.children.emplace(sup.address(), rt);
  self->state.owned->add(sup.address());
  rt->set_supervisor(sup);
  // A lease change between the supervisor's start (it read upstream_allowed()) and
  // set_supervisor found no supervisor to tell: look again (lease_atom is idempotent).
  caf::anon_send(sup, lease_atom::value);
}

caf::behavior root_supervisor(root_sup* self, std::vector<std::shared_ptr<server_runtime>> servers,
                              astra::backoff_policy restart_policy, std::chrono::milliseconds stable_period) {
  self->state.stable_period = stable_period;
  auto owned = std::make_shared<owned_actors>();
  self->state.owned = owned;
  self->attach_functor([owned](const caf::error&) { owned->stop_all(); });
  self->state.all = servers;
  for (auto& rt : servers) {
    self->state.restarts.emplace(rt->name(), astra::backoff(restart_policy));
    spawn_server_supervisor(self, rt);
  }
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    auto it = st.children.find(msg.source);
    if (it == st.children.end()) return;
    auto rt = it->second;
    st.children.erase(it);
    st.owned->remove(msg.source);
    rt->set_supervisor(caf::actor{});
    if (st.stopping) {
      if (st.pending_drains > 0 && --st.pending_drains == 0) {
        st.done->set_value();
        self->quit();
      }
      return;
    }
    auto& restarts = st.restarts.at(rt->name());
    if (std::chrono::steady_clock::now() - st.started.at(rt->name()) >= st.stable_period) restarts.reset();
    auto delay = restarts.next();
    rt->actor_restarted("server_supervisor", reason_text(msg.reason), delay);
    self->delayed_send(self, delay, restart_atom::value, rt->name());
  });
  return {
      [self](restart_atom, const std::string& server) {
        auto& st = self->state;
        if (st.stopping) return;
        for (auto& rt : st.all)
          if (rt->name() == server) {
            bool alive = false;
            for (auto& [_, c] : st.children) alive |= c == rt;
            if (!alive) spawn_server_supervisor(self, rt);
          }
      },
      [self](drain_request& req) {
        auto& st = self->state;
        if (st.stopping) return;
        st.stopping = true;
        st.done = std::move(req.done);
        st.pending_drains = st.children.size();
        if (st.pending_drains == 0) {
          st.done->set_value();
          self->quit();
          return;
        }
        // Each supervisor stops its upstreams, then exits (down handler above).
        for (auto& [addr, rt] : st.children) {
          auto sup = rt->supervisor();
          if (sup) self->send(sup, drain_atom::value);
        }
      },
      [](done_atom) {},
  };
}

}  // namespace

std::chrono::milliseconds default_stable_period(const backoff_policy& restart_policy) {
  return std::max(restart_policy.max, min_stable_period);
}

caf::actor spawn_root_supervisor(caf::actor_system& system, std::vector<std::shared_ptr<server_runtime>> servers,
                                 backoff_policy restart_policy) {
  return spawn_root_supervisor(system, std::move(servers), restart_policy, default_stable_period(restart_policy));
}

caf::actor spawn_root_supervisor(caf::actor_system& system, std::vector<std::shared_ptr<server_runtime>> servers,
                                 backoff_policy restart_policy, std::chrono::milliseconds stable_period) {
  return system.spawn(root_supervisor, std::move(servers), restart_policy, stable_period);
}

void request_drain(const caf::actor& root, std::shared_ptr<std::promise<void>> done) {
  caf::anon_send(root, drain_request{std::move(done)});
}

}  // namespace astra::runtime
