#pragma once
// What a service built on astra::service (service/api) adds to the configuration: FastAGI
// routes and named handlers, Stasis applications and named ARI handlers, AMI event
// subscriptions, the global FastAGI auth check, the metrics registry. Internal to service/;
// the stock handlers of `astra run` arrive here through the same public API.
//
// Thread affinity: filled on the main thread before run(); read-only afterwards. Handlers run
// where their components run them (call actors, AMI subscriber actors, Asio threads for auth).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/agi/router.hpp"
#include "actors/agi/hooks.hpp"  // agi::call_outcome
#include "actors/ari/client.hpp"
#include "service/config/config.hpp"

namespace astra::ami {
class message;
}
namespace astra::metrics {
class registry;
}

namespace astra::runtime {

// Builds a route's handler from the route's own configuration (file, wait, variables ...).
using agi_handler_factory = std::function<agi::handler(const config::agi_route_config& route)>;

struct agi_route_registration {
  std::string path;
  agi::handler body;
  agi::route_options options;
};

struct ari_app_registration {
  std::string app;
  std::string server;  // "" = every server with ARI
  ari::stasis_handler handler;
  ari::adoption_handler adopt;  // servers[].ari.on_reconnect: adopt ({} = hang up)
};

struct ami_registration {
  std::string server;               // "" = every server with AMI
  std::vector<std::string> events;  // empty = all
  std::function<void(const ami::message&)> handler;
};

// Lifecycle notifications of a service (astra::service::on_started ...). Each is optional.
// Thread affinity: started/draining/stopped run on the thread that called run();
// agi_call_ended on the Asio or CAF thread that ended the call; link_changed on a CAF worker.
// All must be quick and must not block; a throw is caught and logged.
struct lifecycle_hooks {
  struct started_info {
    std::string agi_host;          // FastAGI listener as configured ("" when FastAGI is off)
    std::uint16_t agi_port = 0;    // the bound port (0 when FastAGI is off)
    std::string admin_host;
    std::uint16_t admin_port = 0;  // the bound admin HTTP port
  };
  struct drain_info {
    std::string signal;            // "SIGTERM" or "SIGINT"
    std::int64_t calls_active = 0;  // FastAGI + AsyncAGI calls when the signal came
    std::chrono::milliseconds drain_timeout{0};
  };
  struct stop_info {
    std::size_t drained = 0;  // calls that ended on their own during the drain
    std::size_t cut = 0;      // calls cut at the end of the drain window
  };
  struct agi_call_info {
    std::string_view route;  // the matched route pattern ("" when refused before routing)
    std::uint64_t call_id = 0;
    agi::call_outcome outcome{};
    std::chrono::nanoseconds duration{0};
  };
  std::vector<std::function<void(const started_info&)>> started;
  std::vector<std::function<void(const drain_info&)>> draining;
  std::vector<std::function<void(const stop_info&)>> stopped;
  std::vector<std::function<void(const agi_call_info&)>> agi_call_ended;
  // server name, link "ami" or "ari", up or down
  std::vector<std::function<void(std::string_view server, std::string_view link, bool up)>> link_changed;
};

struct registrations {
  std::vector<agi_route_registration> agi_routes;
  std::map<std::string, agi_handler_factory> agi_handlers;  // `agi.routes[].handler` names
  std::optional<agi::auth_policy> agi_auth;                 // with agi.allow_cidrs: both must admit
  std::vector<ari_app_registration> ari_apps;
  std::map<std::string, ari::stasis_handler> ari_handlers;  // `servers[].ari.handler` names
  std::map<std::string, ari::adoption_handler> ari_adopters;  // their adoption entry points (optional)
  std::vector<ami_registration> ami;
  // Run once with the validated configuration before anything starts (a throw: exit 1).
  std::vector<std::function<void(const config::config&)>> on_configured;
  metrics::registry* registry = nullptr;                    // the service's (owned by the caller)
  lifecycle_hooks lifecycle;
  // The configuration run when neither --config nor $ASTRA_CONFIG names a file (YAML text,
  // validated like a file; ASTRA_* overrides apply on top). Empty: built-in defaults.
  std::string default_config_yaml;

  // The handler names a configuration may use.
  config::handler_names names() const {
    config::handler_names n;
    for (const auto& [name, f] : agi_handlers) n.agi.push_back(name);
    for (const auto& [name, h] : ari_handlers) n.ari.push_back(name);
    return n;
  }
};

}  // namespace astra::runtime
