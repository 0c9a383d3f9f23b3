#pragma once
// The FastAGI router of the service: the configuration's routes (their handlers looked up
// by name among the registered ones, stock handlers included, with the routes' admission
// policies and variables) and the routes registered in code.
#include "actors/agi/router.hpp"
#include "service/config/config.hpp"
#include "service/core/registrations.hpp"

namespace astra::runtime {

// Builds the router for cfg.routes and regs.agi_routes; the global policy (agi.allow_cidrs)
// goes into the server config. Throws std::invalid_argument on a route the router refuses
// (a duplicate path, an unregistered handler name: startup errors the configuration
// validation reports first).
agi::router make_agi_router(const config::agi_config& cfg, const registrations& regs);

}  // namespace astra::runtime
