#include "service/core/agi_handlers.hpp"

#include <stdexcept>

#include "actors/agi/call.hpp"
#include "protocols/agi/errors.hpp"

namespace astra::service {

namespace {

using astra::agi::call;
using astra::agi::agi_errc;

// A hang-up ends the call normally (outcome "completed"); any other error fails it.
astra::result<void> end_with(const std::error_code& ec, std::string detail = {}) {
  if (ec == agi_errc::hung_up) return {};
  return astra::failure{ec, std::move(detail)};
}

// A playback cut by the caller's hang-up (`200 result=-1` before Asterisk's HANGUP line) is
// settled by the call layer (actors/agi call_core: minus_one_ambiguous): it arrives as hung_up.
#define ASTRA_AGI_TRY(expr)                                                          \
  do {                                                                               \
    auto astra_r_ = co_await (expr);                                                 \
    if (!astra_r_) co_return end_with(astra_r_.code(), astra_r_.error().detail);     \
  } while (0)

astra::task<astra::result<void>> set_route_variables(call& c, const config::agi_route_config& r) {
  for (const auto& [name, value] : r.variables) ASTRA_AGI_TRY(c.set_variable(name, value));
  co_return astra::result<void>{};
}

// The contract of examples/agi_demo's /ivr/menu, with a configurable sound file.
astra::task<astra::result<void>> demo(call& c, const config::agi_route_config& r) {
  ASTRA_AGI_TRY(c.answer());
  ASTRA_AGI_TRY(c.set_variable("ASTRA_ROUTE", c.path()));
  auto lang = c.param("lang");
  ASTRA_AGI_TRY(c.set_variable("ASTRA_LANG", lang ? *lang : std::string_view{}));
  std::string args;
  for (const auto& a : c.args()) {
    if (!args.empty()) args += '|';
    args += a;
  }
  ASTRA_AGI_TRY(c.set_variable("ASTRA_ARGS", args));
  auto caller = co_await c.get_variable("CALLERID(num)");
  if (!caller) co_return end_with(caller.code(), caller.error().detail);
  ASTRA_AGI_TRY(c.set_variable("ASTRA_CALLER", caller->value_or("")));
  ASTRA_AGI_TRY(c.stream_file(r.file));
  ASTRA_AGI_TRY(c.hangup());
  co_return astra::result<void>{};
}

astra::task<astra::result<void>> playback(call& c, const config::agi_route_config& r) {
  ASTRA_AGI_TRY(c.answer());
  ASTRA_AGI_TRY(c.stream_file(r.file));
  ASTRA_AGI_TRY(c.hangup());
  co_return astra::result<void>{};
}

astra::task<astra::result<void>> hangup(call& c, const config::agi_route_config&) {
  ASTRA_AGI_TRY(c.hangup());
  co_return astra::result<void>{};
}

// Waits for a digit; on hang-up records it with a dead-channel command.
astra::task<astra::result<void>> wait(call& c, const config::agi_route_config& r) {
  ASTRA_AGI_TRY(c.answer());
  auto digit = co_await c.wait_for_digit(r.wait);
  if (!digit && digit.code() == agi_errc::hung_up) {
    auto set = co_await c.set_variable("ASTRA_SAW_HANGUP", "1");
    if (!set && set.code() != agi_errc::hung_up) co_return end_with(set.code(), set.error().detail);
    co_return astra::result<void>{};
  }
  if (!digit) co_return end_with(digit.code(), digit.error().detail);
  co_return astra::result<void>{};
}

using body_fn = astra::task<astra::result<void>> (*)(call&, const config::agi_route_config&);

body_fn body_for(const std::string& handler) {
  if (handler == "demo") return &demo;
  if (handler == "playback") return &playback;
  if (handler == "hangup") return &hangup;
  if (handler == "wait") return &wait;
  throw std::invalid_argument("unknown FastAGI handler: " + handler);
}

}  // namespace

agi::router make_agi_router(const config::agi_config& cfg) {
  agi::router routes;
  for (const auto& r : cfg.routes) {
    agi::route_options options;
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
    if (policies.size() == 1) options.auth = std::move(policies.front());
    else if (policies.size() > 1) options.auth = agi::all_of(std::move(policies));
    body_fn body = body_for(r.handler);
    routes.add(r.path,
               agi::result_handler([body, route = r](call& c) -> astra::task<astra::result<void>> {
                 auto vars = co_await set_route_variables(c, route);
                 if (!vars) co_return vars;
                 co_return co_await body(c, route);
               }),
               std::move(options));
  }
  return routes;
}

}  // namespace astra::service
