#pragma once
// The stock FastAGI handlers of the astra service (config key agi.routes[].handler), built
// into an astra::agi::router with the routes' admission policies.
#include "actors/agi/router.hpp"
#include "service/config/config.hpp"

namespace astra::service {

// Builds the router for cfg.routes; the global policy (agi.allow_cidrs) goes into the
// server config. Throws std::invalid_argument on a route the router refuses (startup error).
agi::router make_agi_router(const config::agi_config& cfg);

}  // namespace astra::service
