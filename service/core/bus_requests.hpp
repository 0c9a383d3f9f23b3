#pragma once
// Request/reply on the bus (issue 14), the parts that are plain data: parsing the requests of
// <prefix>.<server>.ami.action / .ari.request (untrusted input: every problem is an "invalid"
// error, nothing throws) and rendering the replies as `astra ami send` / `astra ari call` print
// them. Used by the server runtime (upstreams.cpp); any thread.
#include <optional>
#include <string>
#include <string_view>

#include "actors/ami/session.hpp"
#include "actors/ari/rest.hpp"

namespace astra::runtime {

// {"error": {"code": CODE, "message": MESSAGE}} (message mapped to valid UTF-8).
std::string bus_error(std::string_view code, std::string_view message);
// {"action": NAME, "headers": {K: V | [V, ...]}} -> the action; nullopt with `why` otherwise.
std::optional<ami::action> parse_ami_request(const std::string& request, std::string& why);
// {"response": {...}|null, "events": [...]} plus "error" {code: asterisk_error | timeout |
// disconnected | failed, message} when the action failed.
std::string ami_reply_json(const ami::reply& r);
// {"method": GET|POST|PUT|DELETE, "path": ..., "body": JSON} -> the request; nullopt with `why`.
std::optional<ari::rest_request> parse_ari_request(const std::string& request, std::string& why);
// {"status": N, "body": JSON | text | null} plus "error" {code: status_N, message: reason} for
// a non-2xx status; a transport failure is {"error": {code: timeout | failed, message}}.
std::string ari_reply_json(const result<ari::rest_response>& r);

}  // namespace astra::runtime
