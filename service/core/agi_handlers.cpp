#include "service/core/agi_handlers.hpp"

#include <memory>
#include <stdexcept>

#include "actors/agi/call.hpp"
#include "protocols/agi/errors.hpp"

namespace astra::runtime {

namespace {

// Route variables are set before the handler runs; a hang-up meanwhile ends the call
// normally (the handler is not started), any other failure fails it.
astra::task<void> run_with_variables(agi::handler body, agi::call& c,
                                     std::shared_ptr<const config::agi_route_config> route) {
  for (const auto& [name, value] : route->variables) {
    auto r = co_await c.set_variable(name, value);
    if (!r) {
      if (r.code() == agi::agi_errc::hung_up || r.code() == agi::agi_errc::disconnected) co_return;
      throw std::runtime_error("setting route variable " + name + ": " + r.error().message());
    }
  }
  co_await body(c);
}

agi::auth_policy from_route_config(const config::agi_config& cfg, const config::agi_route_config& r,
                                   std::optional<agi::auth_policy>& out) {
  std::vector<agi::auth_policy> policies;
  if (!r.allow_cidrs.empty()) {
    auto cidrs = agi::cidr_allowlist(r.allow_cidrs);
    if (!cidrs) throw std::invalid_argument("route " + r.path + ": " + cidrs.error().message());
    policies.push_back(std::move(*cidrs));
  } else if (!cfg.allow_cidrs.empty()) {
    // A route with its own token but no CIDRs still honours the global allowlist.
    if (!r.token.value.empty()) {
      auto cidrs = agi::cidr_allowlist(cfg.allow_cidrs);
      if (!cidrs) throw std::invalid_argument("agi.allow_cidrs: " + cidrs.error().message());
      policies.push_back(std::move(*cidrs));
    }
  }
  if (!r.token.value.empty()) policies.push_back(agi::shared_token(r.token.value, r.token_param));
  if (policies.size() == 1) out = std::move(policies.front());
  else if (policies.size() > 1) out = agi::all_of(std::move(policies));
  return {};
}

}  // namespace

agi::router make_agi_router(const config::agi_config& cfg, const registrations& regs) {
  agi::router routes;
  for (const auto& r : cfg.routes) {
    agi::route_options options;
    from_route_config(cfg, r, options.auth);
    options.on_hangup = hangup_policy::end_handler;
    auto factory = regs.agi_handlers.find(r.handler);
    if (factory == regs.agi_handlers.end()) throw std::invalid_argument("unknown FastAGI handler: " + r.handler);
    agi::handler body = factory->second(r);
    auto route = std::make_shared<const config::agi_route_config>(r);
    routes.add(r.path,
               agi::handler([body = std::move(body), route](agi::call& c) { return run_with_variables(body, c, route); }),
               std::move(options));
  }
  for (const auto& reg : regs.agi_routes) routes.add(reg.path, reg.body, reg.options);
  return routes;
}

}  // namespace astra::runtime
