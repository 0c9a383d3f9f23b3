#include "actors/agi/auth.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace astra::agi {

std::string peer_address::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (is_v4) {
    ::inet_ntop(AF_INET, bytes.data(), text, sizeof text);
    return std::string(text) + ":" + std::to_string(port);
  }
  ::inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  return "[" + std::string(text) + "]:" + std::to_string(port);
}

bool peer_address::parse(std::string_view text, peer_address& out) {
  if (text.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  peer_address parsed;
  if (::inet_pton(AF_INET, buf, parsed.bytes.data()) == 1) {
    parsed.is_v4 = true;
  } else if (::inet_pton(AF_INET6, buf, parsed.bytes.data()) == 1) {
    static constexpr std::uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(parsed.bytes.data(), mapped_prefix, 12) == 0) {
      std::memmove(parsed.bytes.data(), parsed.bytes.data() + 12, 4);
      std::memset(parsed.bytes.data() + 4, 0, 12);
      parsed.is_v4 = true;
    } else {
      parsed.is_v4 = false;
    }
  } else {
    return false;
  }
  out = parsed;
  return true;
}

auth_policy allow_all() {
  return [](const auth_request&) { return auth_decision::allow(); };
}

namespace {

struct cidr_block {
  std::array<std::uint8_t, 16> bytes{};
  bool is_v4 = true;
  unsigned prefix = 0;  // bits

  bool contains(const peer_address& peer) const {
    if (peer.is_v4 != is_v4) return false;
    unsigned full = prefix / 8, rest = prefix % 8;
    if (std::memcmp(bytes.data(), peer.bytes.data(), full) != 0) return false;
    if (rest == 0) return true;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (bytes[full] & mask) == (peer.bytes[full] & mask);
  }
};

bool parse_cidr(std::string_view text, cidr_block& out) {
  auto slash = text.find('/');
  peer_address addr;
  if (!peer_address::parse(text.substr(0, slash), addr)) return false;
  unsigned max_bits = addr.is_v4 ? 32 : 128;
  unsigned prefix = max_bits;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc{} || ptr != digits.data() + digits.size() || digits.empty() || prefix > max_bits)
      return false;
  }
  out.bytes = addr.bytes;
  out.is_v4 = addr.is_v4;
  out.prefix = prefix;
  return true;
}

// Time depends on the length of `given` only, never on where it differs from `secret`.
bool constant_time_equal(std::string_view given, std::string_view secret) {
  if (secret.empty()) return false;
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ secret[i % secret.size()]);
  return diff == 0;
}

}  // namespace

astra::result<auth_policy> cidr_allowlist(const std::vector<std::string>& cidrs) {
  std::vector<cidr_block> blocks;
  blocks.reserve(cidrs.size());
  for (const auto& text : cidrs) {
    cidr_block block;
    if (!parse_cidr(text, block))
      return astra::failure{std::make_error_code(std::errc::invalid_argument), "malformed CIDR block '" + text + "'"};
    blocks.push_back(block);
  }
  return auth_policy{[blocks = std::move(blocks)](const auth_request& req) {
    for (const auto& block : blocks)
      if (block.contains(req.peer)) return auth_decision::allow();
    return auth_decision::deny("peer " + req.peer.to_string() + " not in the CIDR allowlist");
  }};
}

auth_policy shared_token(std::string secret, std::string param) {
  return [secret = std::move(secret), param = std::move(param)](const auth_request& req) {
    auto values = req.env.params(param);
    if (values.empty()) return auth_decision::deny("query parameter '" + param + "' missing");
    for (auto value : values)
      if (!constant_time_equal(value, secret)) return auth_decision::deny("query parameter '" + param + "' does not match");
    return auth_decision::allow();
  };
}

auth_policy all_of(std::vector<auth_policy> policies) {
  return [policies = std::move(policies)](const auth_request& req) {
    for (const auto& policy : policies) {
      auto decision = policy(req);
      if (!decision.allowed) return decision;
    }
    return auth_decision::allow();
  };
}

auth_policy any_of(std::vector<auth_policy> policies) {
  return [policies = std::move(policies)](const auth_request& req) {
    auth_decision last = auth_decision::deny("no policy admitted the call");
    for (const auto& policy : policies) {
      auto decision = policy(req);
      if (decision.allowed) return decision;
      last = std::move(decision);
    }
    return last;
  };
}

}  // namespace astra::agi
