// The `webhook` stock handler: builds each route's / app's webhook endpoint (HTTP client,
// settings, metrics hooks) and runs the verb loop of actors/webhook in the call's actor.
#include "service/api/webhook_handlers.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include <spdlog/spdlog.h>

#include "actors/common/io_runtime.hpp"
#include "actors/webhook/agi_media.hpp"
#include "actors/webhook/ari_media.hpp"
#include "astra/service.hpp"

namespace astra::stock {

namespace {

// Shared by every webhook endpoint of the process: the Asio thread that owns the webhook
// sockets (started with the first endpoint) and the metric families.
struct webhook_runtime {
  explicit webhook_runtime(metrics::registry& reg)
      : requests(reg.add_counter("astra_webhook_requests_total", "Webhook requests by route (FastAGI route or Stasis app), event and HTTP status (none: no reply)",
                                 {"route", "event", "status"})),
        duration(reg.add_histogram("astra_webhook_duration_seconds", "Webhook request duration (seconds) by route", {"route"})),
        failures(reg.add_counter("astra_webhook_failures_total",
                                 "Webhook failures by route and reason (each ran the fallback verbs, or for call.end was only counted)",
                                 {"route", "reason"})),
        verbs(reg.add_counter("astra_verbs_total", "Webhook verbs run, by verb and outcome (ok, failed, hangup)", {"verb", "outcome"})) {}

  ~webhook_runtime() {
    // Endpoints (and their clients) are gone by now; stop the thread that served them.
    if (io) io->stop();
  }

  boost::asio::io_context& context() {
    std::lock_guard lock(mu);
    if (!io) io = std::make_unique<io_runtime>(1);
    return io->context();
  }

  std::mutex mu;
  std::unique_ptr<io_runtime> io;
  metrics::counter_family& requests;
  metrics::histogram_family& duration;
  metrics::counter_family& failures;
  metrics::counter_family& verbs;
  std::map<std::string, std::shared_ptr<const webhook::endpoint>> ari_apps;  // filled by on_configured
};

std::shared_ptr<const webhook::endpoint> make_endpoint(const std::shared_ptr<webhook_runtime>& rt,
                                                       const config::webhook_config& w, const std::string& label) {
  webhook::http_options options;
  options.max_connections_per_host = w.max_connections;
  options.max_response_bytes = w.max_response_bytes;
  options.verify_tls = w.verify_tls;
  options.ca_file = w.ca_file;
  auto client = webhook::http_client::create(rt->context(), options);
  if (!client) throw std::runtime_error("webhook " + label + ": " + client.error().message());
  auto fallback = webhook::decode_list(w.fallback);  // validated with the configuration
  if (!fallback) throw std::runtime_error("webhook " + label + ": fallback: " + fallback.error().message());

  auto ep = std::make_shared<webhook::endpoint>();
  ep->config.url = w.url;
  ep->config.secret = w.secret.value;
  ep->config.timeout = w.timeout;
  ep->config.fallback = std::move(*fallback);
  ep->client = std::move(*client);
  // The hooks hold the runtime: it (and its Asio thread) outlives every endpoint.
  ep->observe.request = [rt, label](std::string_view event, int status, double seconds) {
    const std::string code = status > 0 ? std::to_string(status) : std::string("none");
    rt->requests.labels(label, event, code).inc();
    rt->duration.labels(label).observe(seconds);
  };
  ep->observe.failure = [rt, label](std::string_view reason) { rt->failures.labels(label, reason).inc(); };
  ep->observe.verb = [rt](std::string_view verb, std::string_view outcome) { rt->verbs.labels(verb, outcome).inc(); };
  return ep;
}

}  // namespace

void register_webhook_handlers(service& svc) {
  auto rt = std::make_shared<webhook_runtime>(svc.metrics());
  svc.agi_handler_factory("webhook", [rt](const config::agi_route_config& route) -> agi_handler {
    if (!route.webhook) throw std::invalid_argument("route " + route.path + ": the webhook handler needs a webhook section");
    auto ep = make_endpoint(rt, *route.webhook, route.path);
    return [ep](agi::call& call) { return webhook::run_agi(ep, call); };
  });
  svc.on_configured([rt](const config::config& cfg) {
    for (const auto& server : cfg.servers) {
      if (!server.ari || server.ari->handler != "webhook" || !server.ari->webhook) continue;
      for (const auto& app : server.ari->apps) {
        if (rt->ari_apps.count(app)) {
          spdlog::warn("webhook: Stasis app {} is configured with webhook settings on several servers; server {}'s are ignored",
                       app, server.name);
          continue;
        }
        rt->ari_apps[app] = make_endpoint(rt, *server.ari->webhook, app);
      }
    }
  });
  svc.named_ari_handler("webhook", [rt](ari::channel chan, ari::session& ari) -> task<void> {
    const auto* start = chan.start_event();
    const std::string app = start ? start->application : ari.app();
    auto it = rt->ari_apps.find(app);
    if (it == rt->ari_apps.end()) {  // an app registered in code without webhook settings
      spdlog::error("webhook: no webhook settings for Stasis app {}; hanging up {}", app, chan.id());
      (void)co_await chan.hangup();
      co_return;
    }
    auto loop = webhook::run_ari(it->second, chan, ari);
    co_await loop;
  });
}

}  // namespace astra::stock
