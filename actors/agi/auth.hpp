#pragma once
// Admission policies of the FastAGI server, evaluated once per connection after the
// agi_* block arrived and a route matched, before any handler runs.
//
// Thread affinity: a policy is invoked on an Asio thread, possibly on several threads at once;
// it must be thread-safe, must not block and should be cheap (microseconds).
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/agi/environment.hpp"
#include "protocols/common/result.hpp"

namespace astra::agi {

// The remote end of a FastAGI connection. IPv4 and IPv4-mapped IPv6 peers are both stored as
// IPv4 (is_v4 = true, bytes[0..3]); IPv6 peers use all 16 bytes.
struct peer_address {
  std::array<std::uint8_t, 16> bytes{};
  bool is_v4 = true;
  std::uint16_t port = 0;

  std::string to_string() const;  // "10.0.0.1:4711" / "[::1]:4711"
  // Parses "10.0.0.1" or "::1" (no port); false if malformed.
  static bool parse(std::string_view text, peer_address& out);
};

// Named segments captured by a route pattern ("/ivr/:menu" on "/ivr/main" -> menu = "main").
using route_params = std::vector<std::pair<std::string, std::string>>;

struct auth_request {
  const environment& env;      // the whole agi_* block: query parameters, args, channel...
  std::string_view path;       // normalised script path ("/ivr/menu")
  std::string_view route;      // the matched route pattern ("/ivr/:menu")
  const route_params& params;  // named segments of the matched route
  const peer_address& peer;
};

struct auth_decision {
  bool allowed = true;
  std::string reason;  // why a call was refused (logged; never sent to the peer)

  static auth_decision allow() { return {}; }
  static auth_decision deny(std::string why) { return {false, std::move(why)}; }
};

using auth_policy = std::function<auth_decision(const auth_request&)>;

// Admits everything (the default global policy).
auth_policy allow_all();

// Admits peers whose address lies in one of the CIDR blocks ("10.0.0.0/8", "192.168.1.7",
// "::1/128", "fd00::/8"). An IPv4-mapped IPv6 peer matches IPv4 blocks.
// Fails with std::errc::invalid_argument naming the first malformed entry (startup error).
astra::result<auth_policy> cidr_allowlist(const std::vector<std::string>& cidrs);

// Admits calls whose agi_network_script query carries `param=secret` (e.g.
// agi://host/ivr?token=s3cret). Compared in constant time; a repeated parameter must match in
// every occurrence. An empty secret refuses everything.
auth_policy shared_token(std::string secret, std::string param = "token");

// Admits when every policy admits (first refusal wins) / when any admits (last refusal reported).
auth_policy all_of(std::vector<auth_policy> policies);
auth_policy any_of(std::vector<auth_policy> policies);

}  // namespace astra::agi
