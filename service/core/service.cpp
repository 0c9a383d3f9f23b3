#include "service/core/service.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <utility>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <future>
#include <mutex>
#include <thread>

#include "actors/agi/server.hpp"
#include "actors/ami/session.hpp"
#include "actors/common/backoff.hpp"
#include "actors/common/io_runtime.hpp"
#include "service/admin/admin_server.hpp"
#include "service/core/agi_handlers.hpp"
#include "service/core/logging.hpp"
#include "service/core/status_board.hpp"
#include "service/core/supervision.hpp"
#include "service/core/upstreams.hpp"
#include "service/metrics/astra_metrics.hpp"

namespace astra::service {

// Asks the root supervisor to stop every upstream; `done` is fulfilled once they stopped.
// The main thread waits on it with a deadline: a blocking (scoped) actor is not used because
// a pending request timeout held by CAF's clock keeps it alive past the actor system's
// shutdown (~actor_system then never returns).
struct drain_request {
  std::shared_ptr<std::promise<void>> done;
};

}  // namespace astra::service

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::service::drain_request)

namespace astra::service {

namespace {

using namespace std::chrono_literals;

// Bounds of the shutdown sequence (beyond drain_timeout).
constexpr auto logoff_timeout = 1500ms;        // AMI Logoff round trip per session
constexpr auto upstream_stop_timeout = 5s;     // supervisors: logoff + stop of every upstream
constexpr auto teardown_timeout = 10s;         // actor system + io threads after the drain
constexpr auto status_poll_period = 1s;        // refresh of /v1/status snapshots
constexpr auto status_query_timeout = 500ms;   // one component status query

using drain_atom = caf::atom_constant<caf::atom("drain")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using poll_atom = caf::atom_constant<caf::atom("poll")>;

using drain_done = std::shared_ptr<std::promise<void>>;

std::string reason_text(const caf::error& e) { return e ? caf::to_string(e) : std::string("normal exit"); }

// ---------------------------------------------------------------------------------------
// Supervision tree

struct server_sup_state {
  std::shared_ptr<server_runtime> rt;
  caf::actor ami;
  astra::backoff ami_restarts;
  bool stopping = false;
  std::vector<caf::response_promise> drain_waiters;
  static inline const char* name = "astra.server_supervisor";
};

void finish_if_stopped(caf::stateful_actor<server_sup_state>* self) {
  auto& st = self->state;
  if (!st.stopping || st.ami) return;
  for (auto& rp : st.drain_waiters) rp.deliver(done_atom::value);
  st.drain_waiters.clear();
  self->quit();
}

void start_ami(caf::stateful_actor<server_sup_state>* self) {
  auto& st = self->state;
  st.ami = st.rt->spawn_ami_session();
  if (!st.ami) return;
  st.rt->publish_ami(st.ami);
  self->link_to(st.ami);
  // The supervisor is the service's own event subscriber: it learns link changes (with the
  // outage length) and keeps the ami_subscriber queue exercised and bounded.
  ami::subscribe_request sub;
  sub.filter = ami::event_filter::all();
  sub.capacity = st.rt->subscriber_capacity();
  sub.name = "service";
  self->send(st.ami, std::move(sub));
}

caf::behavior server_supervisor(caf::stateful_actor<server_sup_state>* self, std::shared_ptr<server_runtime> rt) {
  self->state.rt = rt;
  self->state.ami_restarts = astra::backoff(rt->restart_policy());
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (st.ami && msg.source == st.ami.address()) {
      st.ami = nullptr;
      st.rt->publish_ami(nullptr);
      if (st.stopping) return finish_if_stopped(self);
      auto delay = st.ami_restarts.next();
      st.rt->actor_restarted("ami_session", reason_text(msg.reason), delay);
      self->delayed_send(self, delay, restart_atom::value);
      return;
    }
    // Anything else linked to us (the root) going away abnormally takes us down with it.
    if (msg.reason) self->quit(msg.reason);
  });
  if (rt->has_ami()) start_ami(self);
  rt->start_ari();
  self->delayed_send(self, status_poll_period, poll_atom::value);
  return {
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
        if (!st.stopping && !st.ami && st.rt->has_ami()) start_ami(self);
      },
      [self](ami::event_batch& batch) {
        // Consumed here; the batch's credit returns to the bound when `batch` is destroyed.
        self->state.rt->events_consumed(batch.events.size());
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
            self->request(session, logoff_timeout, ami::request{ami::actions::logoff(), logoff_timeout - 250ms})
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

struct root_state {
  std::map<caf::actor_addr, std::shared_ptr<server_runtime>> children;  // live supervisors
  std::map<std::string, astra::backoff> restarts;
  std::vector<std::shared_ptr<server_runtime>> all;
  bool stopping = false;
  std::size_t pending_drains = 0;
  drain_done done;
  static inline const char* name = "astra.root_supervisor";
};

void spawn_server_supervisor(caf::stateful_actor<root_state>* self, std::shared_ptr<server_runtime> rt) {
  auto sup = self->spawn<caf::linked>(server_supervisor, rt);
  self->state.children.emplace(sup.address(), rt);
  rt->set_supervisor(sup);
}

caf::behavior root_supervisor(caf::stateful_actor<root_state>* self, std::vector<std::shared_ptr<server_runtime>> servers,
                              astra::backoff_policy restart_policy) {
  self->state.all = servers;
  for (auto& rt : servers) {
    self->state.restarts.emplace(rt->name(), astra::backoff(restart_policy));
    spawn_server_supervisor(self, rt);
  }
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    auto it = st.children.find(msg.source);
    if (it == st.children.end()) {
      // Not a supervised child: an exit request (shutdown) for the root itself.
      self->quit(msg.reason);
      return;
    }
    auto rt = it->second;
    st.children.erase(it);
    rt->set_supervisor(caf::actor{});
    if (st.stopping) {
      if (st.pending_drains > 0 && --st.pending_drains == 0) {
        st.done->set_value();
        self->quit();
      }
      return;
    }
    auto delay = st.restarts.at(rt->name()).next();
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
        // Each supervisor stops its upstreams, then exits (exit_msg above).
        for (auto& [addr, rt] : st.children) {
          auto sup = rt->supervisor();
          if (sup) self->send(sup, drain_atom::value);
        }
      },
      [](done_atom) {},
  };
}

// ---------------------------------------------------------------------------------------
// Signals: a dedicated thread waits for SIGTERM/SIGINT (blocked in every other thread).

class signal_waiter {
 public:
  signal_waiter() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);  // before any other thread exists
  }
  ~signal_waiter() { stop(); }

  void start() {
    thread_ = std::thread([this] {
      timespec tick{0, 200'000'000};  // re-check stop_ every 200 ms
      while (!stop_.load()) {
        int sig = sigtimedwait(&set_, nullptr, &tick);
        if (sig <= 0) continue;
        if (signals_.fetch_add(1) == 0) {
          {
            std::lock_guard lock(mutex_);
            first_signal_ = sig;
          }
          cv_.notify_all();
        } else {
          // Second signal: leave at once, whatever is still running.
          std::string line = format_json_line("", "warn", "astra",
                                              log_fields("second signal: exiting now", "\"signal\":" + std::to_string(sig)));
          if (!json_) line = "[warn] second signal: exiting now\n";
          (void)!::write(STDOUT_FILENO, line.data(), line.size());
          std::_Exit(1);
        }
      }
    });
  }

  // Waits up to `period`; returns the signal number once one arrived, else 0.
  int wait_for(std::chrono::milliseconds period) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, period, [this] { return first_signal_ != 0; });
    return first_signal_;
  }

  void set_json(bool json) { json_ = json; }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  sigset_t set_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> signals_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
  int first_signal_ = 0;
  bool json_ = true;
};

const char* signal_name(int sig) { return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "signal"; }

std::string agi_detail_json(const agi::server_stats& s) {
  return "{\"accepted\":" + std::to_string(s.accepted) + ",\"calls_started\":" + std::to_string(s.calls_started) +
         ",\"calls_completed\":" + std::to_string(s.calls_completed) + ",\"calls_failed\":" +
         std::to_string(s.calls_failed) + ",\"calls_cut\":" + std::to_string(s.calls_cut) + ",\"refused_capacity\":" +
         std::to_string(s.refused_capacity) + ",\"refused_auth\":" + std::to_string(s.refused_auth) +
         ",\"no_route\":" + std::to_string(s.no_route) + ",\"refused_shutting_down\":" +
         std::to_string(s.refused_shutting_down) + ",\"bad_environment\":" + std::to_string(s.bad_environment) +
         ",\"env_timeouts\":" + std::to_string(s.env_timeouts) + ",\"closed_early\":" + std::to_string(s.closed_early) +
         ",\"live_calls\":" + std::to_string(s.live_calls) + ",\"pending_connections\":" +
         std::to_string(s.pending_connections) + "}";
}

}  // namespace

caf::actor spawn_root_supervisor(caf::actor_system& system, std::vector<std::shared_ptr<server_runtime>> servers,
                                 backoff_policy restart_policy) {
  return system.spawn(root_supervisor, std::move(servers), restart_policy);
}

int run(const config::config& cfg) {
  signal_waiter signals;  // blocks SIGTERM/SIGINT before any thread starts
  setup_logging(cfg.log.format == config::log_format::json ? log_style::json : log_style::text, cfg.log.level);
  signals.set_json(cfg.log.format == config::log_format::json);
  const auto started = std::chrono::steady_clock::now();

  metrics::registry registry;
  metrics::astra_metrics m(registry);
  metrics::register_process_metrics(registry);
  for (const char* q : {"ami_inbox", "ami_subscriber", "ari_dispatch", "ari_actor"}) m.add_queue(q);
  for (const char* a : {"ami_session", "ari_client", "server_supervisor"}) m.add_actor_kind(a);
  for (const auto& r : cfg.agi.routes) m.agi_calls.with({r.path, "completed"});

  status_board board;
  board.set_agi(cfg.agi.enabled, cfg.agi.listen.to_string());

  caf::actor_system_config caf_cfg;
  auto system_owner = std::make_unique<caf::actor_system>(caf_cfg);
  caf::actor_system& system = *system_owner;
  auto io_owner = std::make_unique<io_runtime>(2);
  io_runtime& io = *io_owner;

  // Upstreams (one runtime per configured server) and the supervision tree.
  std::vector<std::shared_ptr<server_runtime>> servers;
  for (const auto& s : cfg.servers) servers.push_back(make_server_runtime(system, io, cfg, s, m, board));

  // FastAGI.
  std::unique_ptr<agi::server> agi_server;
  if (cfg.agi.enabled) {
    agi::server_config sc;
    sc.host = cfg.agi.listen.host;
    sc.port = cfg.agi.listen.port;
    sc.max_concurrent_calls = cfg.agi.max_calls;
    sc.env_timeout = cfg.agi.env_timeout;
    sc.command_timeout = cfg.agi.command_timeout;
    if (!cfg.agi.allow_cidrs.empty()) {
      auto cidrs = agi::cidr_allowlist(cfg.agi.allow_cidrs);
      if (!cidrs) {
        spdlog::error(log_fields("agi.allow_cidrs rejected", "\"error\":" + json_quote(cidrs.error().message())));
        return 1;
      }
      sc.auth = std::move(*cidrs);
    }
    auto& active = m.agi_calls_active.series();
    sc.hooks.call_started = [&active](std::string_view, std::uint64_t) { active.inc(); };
    sc.hooks.call_ended = [&active, &m](std::string_view route, std::uint64_t, agi::call_outcome outcome,
                                        std::chrono::nanoseconds) {
      active.dec();
      m.agi_calls.with({std::string(route), agi::to_string(outcome)}).inc();
    };
    sc.hooks.command_completed = [&m](std::string_view command, std::chrono::nanoseconds latency, int) {
      m.agi_command_duration.with({std::string(command)}).observe(std::chrono::duration<double>(latency).count());
    };
    sc.hooks.connection_refused = [&m](agi::refusal why, const agi::peer_address&) {
      if (why == agi::refusal::closed_early) return;  // health probes and scanners are not calls
      m.agi_calls.with({"none", agi::to_string(why)}).inc();
    };
    try {
      agi_server = std::make_unique<agi::server>(system, io.context(), make_agi_router(cfg.agi), std::move(sc));
    } catch (const std::exception& e) {
      spdlog::error(log_fields("FastAGI server configuration refused", "\"error\":" + json_quote(e.what())));
      return 1;
    }
    if (auto ec = agi_server->start()) {
      spdlog::error(log_fields("cannot listen for FastAGI", "\"listen\":" + json_quote(cfg.agi.listen.to_string()) +
                                                                ",\"error\":" + json_quote(ec.message())));
      return 1;
    }
    board.set_agi_listening(true);
    spdlog::info(log_fields("FastAGI listening", "\"host\":" + json_quote(cfg.agi.listen.host) +
                                                    ",\"port\":" + std::to_string(agi_server->local_port()) +
                                                    ",\"routes\":" + std::to_string(cfg.agi.routes.size())));
  }

  // Admin HTTP.
  admin::handlers handlers;
  handlers.metrics = [&registry] { return registry.render(); };
  handlers.ready = [&board] { return board.readiness(); };
  handlers.status_json = [&board] { return board.to_json(); };
  auto admin_owner = std::make_unique<admin::server>(io.context(), std::move(handlers));
  admin::server& admin_server = *admin_owner;
  if (auto ec = admin_server.start(cfg.admin.listen.host, cfg.admin.listen.port)) {
    spdlog::error(log_fields("cannot listen for admin HTTP", "\"listen\":" + json_quote(cfg.admin.listen.to_string()) +
                                                                 ",\"error\":" + json_quote(ec.message())));
    if (agi_server) agi_server->shutdown(0ms);
    return 1;
  }
  spdlog::info(log_fields("admin HTTP listening", "\"host\":" + json_quote(cfg.admin.listen.host) + ",\"port\":" +
                                                      std::to_string(admin_server.local_port())));

  auto root = spawn_root_supervisor(system, servers,
                                    astra::backoff_policy{cfg.backoff.initial, cfg.backoff.max, cfg.backoff.multiplier,
                                                          cfg.backoff.jitter});
  {
    std::string names;
    for (const auto& s : cfg.servers) names += (names.empty() ? "" : ",") + json_quote(s.name);
    spdlog::info(log_fields("astra started", "\"servers\":[" + names + "],\"drain_timeout_ms\":" +
                                                 std::to_string(cfg.drain_timeout.count())));
  }
  signals.start();

  // Main thread: refresh status snapshots until the first signal.
  auto poll_status = [&] {
    std::map<std::string, std::int64_t> actors;
    std::vector<queue_view> queues;
    if (agi_server) {
      auto s = agi_server->stats();
      actors["agi_calls"] = static_cast<std::int64_t>(s.live_calls);
      board.set_agi_detail(agi_detail_json(s));
    }
    for (auto& rt : servers) rt->poll_status(actors, queues);
    board.set_actor_counts(std::move(actors));
    board.set_queues(std::move(queues));
  };
  int sig = 0;
  while ((sig = signals.wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(status_poll_period))) == 0)
    poll_status();

  // Drain.
  board.set_draining();
  const auto active_at_signal = static_cast<std::int64_t>(m.agi_calls_active.series().value());
  spdlog::info(log_fields("drain started", "\"signal\":" + json_quote(signal_name(sig)) + ",\"calls_active\":" +
                                               std::to_string(active_at_signal) + ",\"drain_timeout_ms\":" +
                                               std::to_string(cfg.drain_timeout.count())));
  agi::shutdown_report report;
  if (agi_server) {
    report = agi_server->shutdown(cfg.drain_timeout);
    board.set_agi_listening(false);
  }
  auto done = std::make_shared<std::promise<void>>();
  auto upstreams = done->get_future();
  caf::anon_send(root, drain_request{done});
  const bool upstreams_stopped = upstreams.wait_for(upstream_stop_timeout) == std::future_status::ready;
  if (!upstreams_stopped)
    spdlog::warn(log_fields("upstreams did not stop in time",
                            "\"timeout_ms\":" + std::to_string(std::chrono::milliseconds(upstream_stop_timeout).count())));
  admin_server.stop();

  // Teardown, bounded: a component that does not stop cannot hold the exit hostage.
  std::string summary_members = "\"signal\":" + json_quote(signal_name(sig)) +
                                ",\"drained\":" + std::to_string(report.drained) +
                                ",\"cut\":" + std::to_string(report.cut) +
                                ",\"calls_total\":" +
                                std::to_string(agi_server ? agi_server->stats().calls_started : 0) +
                                ",\"upstreams_stopped\":" + (upstreams_stopped ? "true" : "false") +
                                ",\"uptime_s\":" +
                                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                   std::chrono::steady_clock::now() - started)
                                                   .count());
  std::atomic<bool> torn_down{false};
  std::thread watchdog([&] {
    auto deadline = std::chrono::steady_clock::now() + teardown_timeout;
    while (!torn_down.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
    if (torn_down.load()) return;
    spdlog::warn("teardown exceeded its deadline; exiting without it");
    spdlog::info(log_fields("astra stopped", summary_members + ",\"teardown\":\"timeout\""));
    std::fflush(stdout);
    std::_Exit(0);
  });
  agi_server.reset();
  for (auto& rt : servers) rt->shutdown();
  caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
  root = nullptr;
  admin_owner.reset();
  system.await_all_actors_done();  // every actor terminated (bounded by the watchdog)
  servers.clear();
  io_owner.reset();      // joins the Asio threads (no handler may touch an actor afterwards)
  system_owner.reset();  // ~actor_system: CAF's threads; returns once no thread pins its logger
  torn_down = true;
  watchdog.join();
  signals.stop();
  spdlog::info(log_fields("astra stopped", summary_members));
  spdlog::default_logger()->flush();
  std::fflush(stdout);
  return 0;
}

}  // namespace astra::service
