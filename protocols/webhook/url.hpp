#pragma once
// http:// and https:// URLs of webhook apps (sans-IO).
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/common/result.hpp"

namespace astra::webhook {

struct url {
  bool tls = false;
  std::string host;    // name or address (IPv6 without brackets)
  std::uint16_t port = 0;
  std::string target;  // "/path?query" ("/" when empty)
  // "host:port" key of the connection pool; the Host header ("host" or "host:port").
  std::string authority() const;
  std::string host_header() const;
};

// Refuses anything but http(s)://HOST[:PORT][/path][?query] (no user info, no fragment, no
// whitespace or control bytes) with webhook_errc::bad_argument.
result<url> parse_url(std::string_view text);

}  // namespace astra::webhook
