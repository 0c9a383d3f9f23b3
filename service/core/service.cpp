#include "service/core/service.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <utility>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <future>
#include <mutex>
#include <thread>

#include "actors/agi/async_agi.hpp"
#include "actors/common/caf_scheduler.hpp"
#include "actors/agi/server.hpp"
#include "actors/ami/session.hpp"
#include "actors/common/backoff.hpp"
#include "actors/common/io_runtime.hpp"
#include "service/admin/admin_server.hpp"
#include "service/bus/nats_bus.hpp"
#include "service/core/agi_handlers.hpp"
#include "service/core/ari_outbound_runtime.hpp"
#include "service/core/agi_metrics.hpp"
#include "service/core/logging.hpp"
#include "service/core/notify.hpp"
#include "service/core/status_board.hpp"
#include "service/core/supervision.hpp"
#include "service/core/upstreams.hpp"
#include "service/metrics/astra_metrics.hpp"
#include "service/metrics/bus_metrics.hpp"

namespace astra::runtime {

namespace {

using namespace std::chrono_literals;

// Bounds of the shutdown sequence (beyond drain_timeout).
constexpr auto upstream_stop_timeout = 5s;     // supervisors: logoff + stop of every upstream
constexpr auto teardown_timeout = 10s;         // actor system + io threads after the drain
constexpr auto status_poll_period = 1s;        // refresh of /v1/status snapshots
constexpr auto bus_release_timeout = 3s;       // drain: release of the held bus leases

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

// The server runtimes as the bus's lease thread sees them: filled while the bus already runs
// (a runtime needs the bus), so a lease acquired before its runtime exists is read back by
// the runtime from bus->holds() at creation, under the same mutex.
struct bus_runtime_table {
  std::mutex mutex;
  std::vector<std::shared_ptr<server_runtime>> by_index;
};

const char* signal_name(int sig) { return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "signal"; }

std::string agi_detail_json(const agi::server_stats& s) {
  return "{\"accepted\":" + std::to_string(s.accepted) + ",\"calls_started\":" + std::to_string(s.calls_started) +
         ",\"calls_completed\":" + std::to_string(s.calls_completed) + ",\"calls_failed\":" +
         std::to_string(s.calls_failed) + ",\"calls_cut\":" + std::to_string(s.calls_cut) +
         ",\"calls_timed_out\":" + std::to_string(s.calls_timed_out) + ",\"refused_capacity\":" +
         std::to_string(s.refused_capacity) + ",\"refused_auth\":" + std::to_string(s.refused_auth) +
         ",\"auth_errors\":" + std::to_string(s.auth_errors) + ",\"hook_errors\":" + std::to_string(s.hook_errors) +
         ",\"no_route\":" + std::to_string(s.no_route) + ",\"refused_shutting_down\":" +
         std::to_string(s.refused_shutting_down) + ",\"bad_environment\":" + std::to_string(s.bad_environment) +
         ",\"env_timeouts\":" + std::to_string(s.env_timeouts) + ",\"closed_early\":" + std::to_string(s.closed_early) +
         ",\"accept_errors\":" + std::to_string(s.accept_errors) +
         ",\"live_calls\":" + std::to_string(s.live_calls) + ",\"pending_connections\":" +
         std::to_string(s.pending_connections) + "}";
}

}  // namespace

int run(const config::config& cfg, const registrations& regs) {
  signal_waiter signals;  // blocks SIGTERM/SIGINT before any thread starts
  setup_logging(cfg.log.format == config::log_format::json ? log_style::json : log_style::text, cfg.log.level);
  signals.set_json(cfg.log.format == config::log_format::json);
  const auto started = std::chrono::steady_clock::now();
  // Components that read the configuration themselves (astra::service::on_configured).
  for (const auto& configured : regs.on_configured) {
    try {
      configured(cfg);
    } catch (const std::exception& e) {
      spdlog::error("startup: a configuration hook failed: {}", e.what());
      return 1;
    }
  }

  metrics::registry own_registry;
  metrics::registry& registry = regs.registry ? *regs.registry : own_registry;
  metrics::astra_metrics m(registry);
  metrics::register_process_metrics(registry);
  for (const char* q : {"ami_inbox", "ami_subscriber", "ari_dispatch", "ari_actor"}) m.add_queue(q);
  for (const char* a : {"ami_session", "ari_client", "server_supervisor"}) m.add_actor_kind(a);
  // The configured routes' success series exist (at 0) from the start, per transport in use.
  bool async_configured = false;
  for (const auto& s : cfg.servers) async_configured = async_configured || (s.ami && s.ami->async_agi);
  for (const auto& r : cfg.agi.routes) {
    m.agi_calls.with({r.path, "completed", "fastagi"});
    if (async_configured) m.agi_calls.with({r.path, "completed", "async"});
  }
  // The FastAGI hooks' series, kept per route / command (declared before the actor system:
  // call actors report to it until the system is gone). Routes of the file and of the code.
  std::vector<std::string> agi_route_paths;
  for (const auto& r : cfg.agi.routes) agi_route_paths.push_back(r.path);
  for (const auto& r : regs.agi_routes) agi_route_paths.push_back(agi::router::normalise(r.path));
  agi_series agi_metrics(m, agi_route_paths);
  agi_series async_metrics(m, agi_route_paths, "async");  // AsyncAGI calls (transport="async")

  status_board board;
  board.set_agi(cfg.agi.enabled, cfg.agi.listen.to_string());

  caf::actor_system_config caf_cfg;
  // Messages reach actors mostly from Asio threads. CAF 0.17's default work-stealing workers
  // are not woken by those: once idle they poll every 10 ms, which would add up to 10 ms to
  // every FastAGI command and ARI/AMI event on a quiet system. astra's scheduler uses the
  // sharing policy (a worker woken per message) and a clock that is not told about every
  // actor that terminates (one per FastAGI call; actors/common/caf_scheduler.hpp). Workers:
  // one per core (CAF's default of at least 4 only adds context switches on small containers).
  astra::use_astra_scheduler(caf_cfg);
  caf_cfg.set("scheduler.max-threads", static_cast<std::size_t>(std::max(2u, std::thread::hardware_concurrency())));
  auto system_owner = std::make_unique<caf::actor_system>(caf_cfg);
  caf::actor_system& system = *system_owner;
  const auto io_threads = config::io_threads_for(cfg.io_threads, std::thread::hardware_concurrency());
  auto io_owner = std::make_unique<io_runtime>(static_cast<unsigned>(io_threads));
  io_runtime& io = *io_owner;

  // The NATS bus (bus:, issue 14): leases decide which replica runs each server's upstreams.
  std::unique_ptr<metrics::bus_metrics> bus_m;
  std::unique_ptr<bus::nats_bus> bus;
  auto bus_table = std::make_shared<bus_runtime_table>();
  if (cfg.bus.enabled()) {
    const auto& bc = *cfg.bus.nats;
    std::vector<std::string> names;
    for (const auto& s : cfg.servers) names.push_back(s.name);
    bus_m = std::make_unique<metrics::bus_metrics>(registry, names);
    board.set_bus(bc.replica);
    bus::bus_hooks hooks;
    auto* bm = bus_m.get();
    hooks.connection = [bm, &board](bool up, const std::string& detail) {
      bm->connected.set(up ? 1 : 0);
      if (up && detail == "reconnected") bm->reconnects.inc();
      board.set_bus_connection(up, up ? "connected" : detail);
      spdlog::info(log_fields(up ? "bus connected" : "bus not connected", "\"state\":" + json_quote(detail)));
    };
    hooks.dropped = [bm](std::string_view reason, std::uint64_t n) { bm->dropped.labels(reason).inc(static_cast<double>(n)); };
    hooks.published = [bm](std::string_view kind, std::uint64_t n) { bm->published.labels(kind).inc(static_cast<double>(n)); };
    const std::string replica = bc.replica;
    hooks.holder = [&board, replica](const std::string& server, const std::string& holder) {
      board.set_holder(server, holder, holder == replica, 0);
    };
    hooks.lease = [bm, &board, bus_table, names, replica](const bus::lease_change& c) {
      board.set_holder(c.server, c.held ? replica : std::string(), c.held, c.epoch);
      bm->holder.labels(c.server).set(c.held ? 1 : 0);
      if (c.held) {
        bm->takeovers.labels(c.server).inc();
        bm->takeover_gap.labels(c.server).set(c.gap_ms < 0 ? -1.0 : static_cast<double>(c.gap_ms) / 1000.0);
      } else if (c.reason != "released" && c.reason != "stopped") {
        bm->lease_lost.labels(c.server).inc();
      }
      spdlog::info(log_fields(c.held ? "upstream lease acquired" : "upstream lease given up",
                              "\"server\":" + json_quote(c.server) + ",\"epoch\":" + std::to_string(c.epoch) +
                                  ",\"reason\":" + json_quote(c.reason) + ",\"previous_holder\":" +
                                  json_quote(c.previous_holder) + ",\"gap_ms\":" + std::to_string(c.gap_ms)));
      std::lock_guard lock(bus_table->mutex);
      for (std::size_t i = 0; i < names.size() && i < bus_table->by_index.size(); ++i)
        if (names[i] == c.server) bus_table->by_index[i]->set_upstream_allowed(c.held);
    };
    bus = bus::nats_bus::start(bc, names, std::move(hooks));
    // Requests on <prefix>.<server>.ami.action / .ari.request (holder only): handed to the
    // server's runtime, which answers without blocking the libnats thread.
    auto answer = [bus_table](std::size_t i, std::string data, bus::reply_fn reply, bool ami) {
      std::shared_ptr<server_runtime> rt;
      {
        std::lock_guard lock(bus_table->mutex);
        if (i < bus_table->by_index.size()) rt = bus_table->by_index[i];
      }
      if (!rt) return reply(R"({"error":{"code":"disconnected","message":"server not started yet"}})");
      if (ami) rt->bus_ami_action(std::move(data), std::move(reply));
      else rt->bus_ari_request(std::move(data), std::move(reply));
    };
    bus->set_request_handlers(
        [answer](std::size_t i, std::string data, bus::reply_fn reply) { answer(i, std::move(data), std::move(reply), true); },
        [answer](std::size_t i, std::string data, bus::reply_fn reply) { answer(i, std::move(data), std::move(reply), false); });
    spdlog::info(log_fields("bus starting", "\"url\":" + json_quote(bc.url) + ",\"replica\":" + json_quote(bc.replica) +
                                                ",\"subject_prefix\":" + json_quote(bc.subject_prefix) +
                                                ",\"lease_ttl_ms\":" + std::to_string(bc.lease_ttl.count())));
  }

  // AsyncAGI over AMI (servers[].ami.async_agi): the FastAGI route table run through the AMI
  // sessions of those servers (one dispatcher per session, attached by the supervisors).
  std::unique_ptr<agi::async_agi> async_agi;
  const config::server_config* first_async = nullptr;
  for (const auto& s : cfg.servers)
    if (s.ami && s.ami->async_agi && !first_async) first_async = &s;
  if (first_async) {
    agi::async_agi_config ac;
    ac.name = first_async->name;
    ac.max_calls = cfg.agi.max_calls;
    ac.command_timeout = cfg.agi.command_timeout;
    ac.max_call_duration = cfg.agi.max_call_duration;
    ac.action_timeout = first_async->ami->action_timeout;
    auto& active = m.agi_calls_active.series();
    ac.hooks.call_started = [&active](std::string_view, std::uint64_t) { active.inc(); };
    ac.hooks.call_ended = [&active, &async_metrics, &regs, &bus](std::string_view route, std::uint64_t id,
                                                           agi::call_outcome outcome, std::chrono::nanoseconds duration) {
      active.dec();
      async_metrics.call_ended(route, outcome);
      if (bus) bus->publish_agi_call_end(route, id, agi::to_string(outcome), duration, "async");
      notify_each(regs.lifecycle.agi_call_ended, "agi_call_ended", lifecycle_hooks::agi_call_info{route, id, outcome, duration});
    };
    ac.hooks.command_completed = [&agi_metrics](std::string_view command, std::chrono::nanoseconds latency, int) {
      agi_metrics.command_completed(command, latency);
    };
    ac.hooks.connection_refused = [&async_metrics](agi::refusal why, const agi::peer_address&) {
      async_metrics.refused(why);
    };
    try {
      ac.routes = std::make_shared<const agi::router>(make_agi_router(cfg.agi, regs));
      async_agi = std::make_unique<agi::async_agi>(std::move(ac));
    } catch (const std::exception& e) {
      spdlog::error(log_fields("AsyncAGI configuration refused", "\"error\":" + json_quote(e.what())));
      return 1;
    }
  }

  // Upstreams (one runtime per configured server) and the supervision tree.
  std::vector<std::shared_ptr<server_runtime>> servers;
  for (std::size_t i = 0; i < cfg.servers.size(); ++i) {
    std::lock_guard lock(bus_table->mutex);
    auto rt = make_server_runtime(system, io, cfg, cfg.servers[i], m, board, regs, async_agi.get(), bus.get(), i,
                                 bus_m.get());
    if (bus) {
      rt->set_upstream_allowed(bus->holds(i));
      bus_table->by_index.push_back(rt);
    }
    servers.push_back(std::move(rt));
  }

  // FastAGI.
  std::unique_ptr<agi::server> agi_server;
  if (cfg.agi.enabled) {
    agi::server_config sc;
    sc.host = cfg.agi.listen.bind_address();
    sc.port = cfg.agi.listen.port;
    sc.max_concurrent_calls = cfg.agi.max_calls;
    sc.env_timeout = cfg.agi.env_timeout;
    sc.command_timeout = cfg.agi.command_timeout;
    sc.max_call_duration = cfg.agi.max_call_duration;
    sc.handlers_on_io_threads = cfg.agi.handlers_on_io_threads;
    // The configuration loader made every check below (a failure here is a bug there): zero
    // routes is valid (calls are refused as no_route and counted).
    if (!cfg.agi.allow_cidrs.empty()) {
      auto cidrs = agi::cidr_allowlist(cfg.agi.allow_cidrs);
      if (!cidrs) {
        spdlog::error(log_fields("agi.allow_cidrs rejected", "\"error\":" + json_quote(cidrs.error().message())));
        return 1;
      }
      sc.auth = std::move(*cidrs);
    }
    if (regs.agi_auth) sc.auth = sc.auth ? agi::all_of({std::move(sc.auth), *regs.agi_auth}) : *regs.agi_auth;
    auto& active = m.agi_calls_active.series();
    sc.hooks.call_started = [&active](std::string_view, std::uint64_t) { active.inc(); };
    sc.hooks.call_ended = [&active, &agi_metrics, &regs, &bus](std::string_view route, std::uint64_t id,
                                                           agi::call_outcome outcome, std::chrono::nanoseconds duration) {
      active.dec();
      agi_metrics.call_ended(route, outcome);
      if (bus) bus->publish_agi_call_end(route, id, agi::to_string(outcome), duration, "fastagi");
      notify_each(regs.lifecycle.agi_call_ended, "agi_call_ended", lifecycle_hooks::agi_call_info{route, id, outcome, duration});
    };
    sc.hooks.command_completed = [&agi_metrics](std::string_view command, std::chrono::nanoseconds latency, int) {
      agi_metrics.command_completed(command, latency);
    };
    sc.hooks.connection_refused = [&agi_metrics](agi::refusal why, const agi::peer_address&) {
      agi_metrics.refused(why);
    };
    try {
      agi_server = std::make_unique<agi::server>(system, io.context(), make_agi_router(cfg.agi, regs), std::move(sc));
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

  // Outbound ARI WebSockets (Asterisk dials astra).
  std::unique_ptr<ari_outbound_runtime> ari_outbound;
  if (cfg.ari_outbound.enabled) {
    std::string error;
    ari_outbound = ari_outbound_runtime::start(system, io.context(), cfg.ari_outbound, regs, m, error);
    if (!ari_outbound) {
      spdlog::error(log_fields("cannot start the outbound ARI server", "\"error\":" + json_quote(error)));
      if (agi_server) agi_server->shutdown(0ms);
      return 1;
    }
    spdlog::info(log_fields("outbound ARI WebSocket listening",
                            "\"host\":" + json_quote(cfg.ari_outbound.listen_host) + ",\"port\":" +
                                std::to_string(ari_outbound->port()) + ",\"path\":" + json_quote(cfg.ari_outbound.path)));
  }

  // Admin HTTP.
  admin::handlers handlers;
  handlers.metrics = [&registry] { return registry.render(); };
  handlers.ready = [&board] { return board.readiness(); };
  handlers.status_json = [&board] { return board.to_json(); };
  auto admin_owner = std::make_unique<admin::server>(io.context(), std::move(handlers));
  admin::server& admin_server = *admin_owner;
  if (auto ec = admin_server.start(cfg.admin.listen.bind_address(), cfg.admin.listen.port)) {
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
  {
    lifecycle_hooks::started_info info;
    if (agi_server) {
      info.agi_host = cfg.agi.listen.host;
      info.agi_port = agi_server->local_port();
    }
    info.admin_host = cfg.admin.listen.host;
    info.admin_port = admin_server.local_port();
    notify_each(regs.lifecycle.started, "started", info);
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
    if (ari_outbound) actors["ari_outbound_calls"] = static_cast<std::int64_t>(ari_outbound->live_calls());
    if (async_agi) actors["agi_async_calls"] = static_cast<std::int64_t>(async_agi->live_calls());
    for (auto& rt : servers) rt->poll_status(actors, queues);
    if (bus) board.set_bus_detail(bus->status_json());
    board.set_actor_counts(std::move(actors));
    board.set_queues(std::move(queues));
  };
  int sig = 0;
  while ((sig = signals.wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(status_poll_period))) == 0)
    poll_status();

  // Drain.
  board.set_draining();
  const auto active_at_signal = static_cast<std::int64_t>(m.agi_calls_active.series().value());  // both transports
  spdlog::info(log_fields("drain started", "\"signal\":" + json_quote(signal_name(sig)) + ",\"calls_active\":" +
                                               std::to_string(active_at_signal) + ",\"drain_timeout_ms\":" +
                                               std::to_string(cfg.drain_timeout.count())));
  notify_each(regs.lifecycle.draining, "draining",
              lifecycle_hooks::drain_info{signal_name(sig), active_at_signal, cfg.drain_timeout});
  const auto drain_started = std::chrono::steady_clock::now();
  // The bus: give every held server up first (upstreams stopped, lease marked released) so a
  // standby replica takes over at once instead of after the lease TTL. With AsyncAGI, calls
  // ride this replica's AMI sessions: those drain first (the lease is released right after),
  // so that they end normally or with ASYNCAGI BREAK, not with the session cut under them.
  if (bus && !async_agi) bus->release_leases(bus_release_timeout);
  if (ari_outbound) ari_outbound->drain();  // new upgrades: fast 503; calls in progress go on
  if (bus)
    for (auto& rt : servers) rt->stop_accepting_ari_calls();  // ARI calls offered over the bus: no new ones
  agi::shutdown_report report;
  if (async_agi) async_agi->refuse_new_calls();
  if (agi_server) {
    report = agi_server->shutdown(cfg.drain_timeout);
    board.set_agi_listening(false);
  }
  if (bus) {
    // ARI calls this replica claimed (issue 14): no new ones; those in progress get the drain
    // window (their events keep coming from whichever replica holds the socket now).
    const auto deadline = drain_started + cfg.drain_timeout;
    auto running = [&] {
      std::size_t n = 0;
      for (auto& rt : servers) n += rt->ari_calls_running();
      return n;
    };
    while (running() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
    if (auto left = running())
      spdlog::warn(log_fields("ARI calls still running at the end of the drain", "\"calls\":" + std::to_string(left)));
  }
  if (ari_outbound) {
    auto left = ari_outbound->wait_calls(drain_started + cfg.drain_timeout);
    spdlog::info(log_fields("outbound ARI drained", "\"calls_cut\":" + std::to_string(left)));
    ari_outbound->stop();
  }
  if (async_agi) {
    // The same drain window (the AMI sessions are still up: cut calls get ASYNCAGI BREAK).
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - drain_started);
    const auto [drained, cut] = async_agi->shutdown(std::max(cfg.drain_timeout - spent, std::chrono::milliseconds(0)));
    report.drained += drained;
    report.cut += cut;
    if (bus) bus->release_leases(bus_release_timeout);
  }
  auto done = std::make_shared<std::promise<void>>();
  auto upstreams = done->get_future();
  request_drain(root, done);
  const bool upstreams_stopped = upstreams.wait_for(upstream_stop_timeout) == std::future_status::ready;
  if (bus) {
    bus->stop();  // joins its threads; buffered messages get 1 s to go out
    std::lock_guard lock(bus_table->mutex);
    bus_table->by_index.clear();
  }
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
  ari_outbound.reset();
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
  notify_each(regs.lifecycle.stopped, "stopped", lifecycle_hooks::stop_info{report.drained, report.cut});
  spdlog::default_logger()->flush();
  std::fflush(stdout);
  return 0;
}

}  // namespace astra::runtime
