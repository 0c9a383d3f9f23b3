#pragma once
// What a service built on astra::service (service/api) adds to the configuration: FastAGI
// routes and named handlers, Stasis applications and named ARI handlers, AMI event
// subscriptions, the global FastAGI auth check, the metrics registry. Internal to service/;
// the stock handlers of `astra run` arrive here through the same public API.
//
// Thread affinity: filled on the main thread before run(); read-only afterwards. Handlers run
// where their components run them (call actors, AMI subscriber actors, Asio threads for auth).
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/agi/router.hpp"
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

  // The handler names a configuration may use.
  config::handler_names names() const {
    config::handler_names n;
    for (const auto& [name, f] : agi_handlers) n.agi.push_back(name);
    for (const auto& [name, h] : ari_handlers) n.ari.push_back(name);
    return n;
  }
};

}  // namespace astra::runtime
