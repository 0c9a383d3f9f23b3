#pragma once
// Routes of the FastAGI server: agi_network_script path -> handler (+ optional auth policy).
//
// Patterns:
//   "/ivr/menu"        exact path
//   "/ivr/:menu"       named segment: matches one non-empty segment, captured as "menu"
//   "/files/*rest"     tail wildcard (last segment only): matches the rest of the path, possibly
//                      empty, captured as "rest" without a leading '/'
// Paths are compared after normalisation: leading '/' added, trailing '/' removed (except "/"),
// repeated '/' collapsed; no percent-decoding. Exact routes win over patterns; patterns are tried
// in the order they were added. Routes are fixed before server::start (not thread-safe to
// modify afterwards); match() is const and thread-safe.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors/agi/auth.hpp"
#include "actors/common/call_ended.hpp"
#include "actors/common/task.hpp"
#include "protocols/common/result.hpp"

namespace astra::agi {

class call;

// A call handler: a coroutine run inside the call's actor. Returning (or co_return of an ok
// result) ends the call normally; an exception or an error result is logged with the route and
// the call id and ends the call. Either way the connection is closed afterwards.
using handler = std::function<astra::task<void>(call&)>;
using result_handler = std::function<astra::task<astra::result<void>>(call&)>;

struct route_options {
  // Overrides the server's global auth policy for this route when set.
  std::optional<auth_policy> auth;
  // What a hang-up does to the handler's commands (call::set_on_hangup can change it later):
  // return_error (errors as values, the default of the router) or end_handler (straight-line:
  // the command throws astra::call_ended and the call ends normally; astra::service's default).
  hangup_policy on_hangup = hangup_policy::return_error;
};

struct route {
  std::string pattern;    // as given, normalised
  handler body;           // exactly one of body / result_body is set
  result_handler result_body;
  route_options options;
};

struct route_match {
  const route* target = nullptr;
  route_params params;
};

class router {
 public:
  router();
  ~router();
  router(router&&) noexcept;
  router& operator=(router&&) noexcept;

  // Adds a route; throws std::invalid_argument for a malformed pattern or a duplicate
  // (startup-time error).
  router& add(std::string_view pattern, handler body, route_options options = {});
  router& add(std::string_view pattern, result_handler body, route_options options = {});

  // The route for a (raw) script path, or nullopt.
  std::optional<route_match> match(std::string_view path) const;

  std::size_t size() const noexcept;

  // "/a//b/" -> "/a/b"; "" -> "/".
  static std::string normalise(std::string_view path);

 private:
  struct compiled;
  router& add_route(std::string_view pattern, route r);
  std::vector<std::unique_ptr<route>> routes_;
  std::unordered_map<std::string, const route*> exact_;
  std::vector<std::unique_ptr<compiled>> patterns_;
};

}  // namespace astra::agi
