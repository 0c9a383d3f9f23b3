#include "service/core/ari_outbound_runtime.hpp"

#include <thread>

#include <spdlog/spdlog.h>

#include "actors/ari/outbound_server.hpp"
#include "service/metrics/ari_outbound_metrics.hpp"
#include "service/metrics/astra_metrics.hpp"

namespace astra::runtime {

namespace {
constexpr const char* server_label = "outbound";  // astra_ari_*{server} of outbound calls
constexpr auto drain_poll_period = std::chrono::milliseconds(50);
}  // namespace

struct ari_outbound_runtime::impl {
  // Shared with the hooks: sockets still closing after stop() report into it.
  std::shared_ptr<metrics::ari_outbound_metrics> series;
  std::unique_ptr<ari::outbound_server> server;
};

ari_outbound_runtime::ari_outbound_runtime(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
ari_outbound_runtime::~ari_outbound_runtime() { stop(); }

std::unique_ptr<ari_outbound_runtime> ari_outbound_runtime::start(caf::actor_system& system,
                                                                  boost::asio::io_context& io,
                                                                  const config::ari_outbound_config& cfg,
                                                                  const registrations& regs, metrics::astra_metrics& m,
                                                                  std::string& error) {
  auto p = std::make_unique<impl>();
  std::vector<std::string> app_names;
  for (const auto& a : cfg.apps) app_names.push_back(a.name);
  p->series = std::make_shared<metrics::ari_outbound_metrics>(m.reg, app_names);

  ari::outbound_server_config sc;
  sc.host = cfg.listen_host;
  sc.port = cfg.listen_port;
  sc.path = cfg.path;
  sc.username = cfg.username;
  sc.password = cfg.password;
  sc.max_connections = cfg.max_connections;
  sc.handshake_timeout = cfg.handshake_timeout;
  sc.request_timeout = cfg.request_timeout;
  sc.tls_cert_file = cfg.tls_cert_file;
  sc.tls_key_file = cfg.tls_key_file;
  sc.after_handler = cfg.after_handler == config::ari_after_handler::hangup      ? ari::after_handler_policy::hangup
                     : cfg.after_handler == config::ari_after_handler::continue_ ? ari::after_handler_policy::continue_in_dialplan
                                                                                  : ari::after_handler_policy::keep;
  sc.on_hangup = hangup_policy::end_handler;  // astra::service's straight-line handlers
  for (const auto& a : cfg.apps) {
    auto h = regs.ari_handlers.find(a.handler);
    if (h == regs.ari_handlers.end()) {  // the configuration check refuses this first
      error = "ari_outbound app " + a.name + ": no ARI handler named " + a.handler;
      return nullptr;
    }
    ari::client_handlers handlers;
    handlers.on_stasis_start = h->second;
    if (auto ad = regs.ari_adopters.find(a.handler); ad != regs.ari_adopters.end()) handlers.on_adopt = ad->second;
    sc.apps.push_back({a.name, std::move(handlers)});
    m.ari_calls.with({server_label, a.name, "completed"});
  }
  ari::outbound_hooks hooks;
  auto series = p->series;
  hooks.upgrade = [series](ari::upgrade_result r) { series->upgrades.labels(ari::to_string(r)).inc(); };
  hooks.connection = [series](std::string_view app, ari::outbound_mode mode, int delta) {
    series->connections.labels(app, ari::to_string(mode)).inc(delta);
  };
  hooks.closed = [series](ari::close_reason r) { series->closed.labels(ari::to_string(r)).inc(); };
  hooks.handler_ended = [&m](std::string_view app, std::string_view outcome) {
    m.ari_calls.labels(server_label, app, outcome).inc();
  };
  hooks.event = [&m](std::string_view type) { m.ari_events.labels(server_label, type).inc(); };
  hooks.request = [&m](std::string_view method, int status) {
    m.ari_requests.labels(server_label, method, std::to_string(status)).inc();
  };
  auto server = ari::outbound_server::create(system, io, std::move(sc), std::move(hooks));
  if (!server) {
    error = server.error().message();
    return nullptr;
  }
  p->server = std::move(*server);
  if (auto ec = p->server->start()) {
    error = "cannot listen on " + cfg.listen_host + ":" + std::to_string(cfg.listen_port) + ": " + ec.message();
    return nullptr;
  }
  return std::unique_ptr<ari_outbound_runtime>(new ari_outbound_runtime(std::move(p)));
}

std::uint16_t ari_outbound_runtime::port() const { return impl_->server->local_port(); }
void ari_outbound_runtime::drain() { impl_->server->drain(); }

std::size_t ari_outbound_runtime::wait_calls(std::chrono::steady_clock::time_point deadline) {
  while (live_calls() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(drain_poll_period);
  return live_calls();
}

void ari_outbound_runtime::stop() {
  if (impl_ && impl_->server) impl_->server->stop();
}

std::size_t ari_outbound_runtime::live_calls() const { return impl_->server->stats().channel_actors; }

std::string ari_outbound_runtime::detail_json() const {
  auto s = impl_->server->stats();
  auto n = [](std::uint64_t v) { return std::to_string(v); };
  return "{\"draining\":" + std::string(impl_->server->draining() ? "true" : "false") +
         ",\"live_connections\":" + n(s.live_connections) + ",\"registered\":" + n(s.live_registered) +
         ",\"channel_actors\":" + n(s.channel_actors) + ",\"bridge_actors\":" + n(s.bridge_actors) +
         ",\"upgrades_ok\":" + n(s.upgrades_ok) + ",\"unauthorized\":" + n(s.unauthorized) +
         ",\"refused_draining\":" + n(s.refused_draining) + ",\"refused_full\":" + n(s.refused_full) +
         ",\"bad_request\":" + n(s.bad_request) + ",\"not_found\":" + n(s.not_found) +
         ",\"per_call_sockets\":" + n(s.per_call_sockets) + ",\"persistent_sockets\":" + n(s.persistent_sockets) +
         ",\"no_handler\":" + n(s.no_handler) + ",\"invalid_frames\":" + n(s.invalid_frames) +
         ",\"unmatched_rest_responses\":" + n(s.unmatched_rest_responses) +
         ",\"request_timeouts\":" + n(s.request_timeouts) + "}";
}

}  // namespace astra::runtime
