#pragma once
// Admission of one outbound-WebSocket upgrade request (outbound_server.hpp): the pure decision,
// without sockets, so every rule is unit-testable. PRIVATE to astra_actors_ari.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "actors/ari/outbound_server.hpp"

namespace astra::ari::outbound {

// The parts of the HTTP request the decision reads (header values as received).
struct upgrade_request {
  std::string_view method;
  std::string_view target;         // "/ari/events?x=y"
  std::string_view upgrade;        // Upgrade:
  std::string_view connection;     // Connection:
  std::string_view ws_version;     // Sec-WebSocket-Version:
  std::string_view ws_key;         // Sec-WebSocket-Key:
  std::string_view ws_protocol;    // Sec-WebSocket-Protocol: (comma-separated list)
  std::string_view authorization;  // Authorization:
  std::size_t bytes_after_request = 0;  // bytes the client sent past the request (must be 0)
};

// The expected credentials, kept as a SHA-256 digest of "user:password": the comparison
// takes the same time whatever the input (CRYPTO_memcmp over two digests).
class credentials {
 public:
  credentials() = default;  // none required
  credentials(std::string_view user, std::string_view password);
  bool required() const noexcept { return required_; }
  // True if `authorization` is "Basic <base64 of user:password>" with the expected pair.
  bool admit(std::string_view authorization) const;

 private:
  bool required_ = false;
  std::array<unsigned char, 32> digest_{};
};

struct admission_state {
  bool draining = false;
  bool full = false;  // max_connections reached (this connection not counted)
};

// The decision in the order documented in outbound_server.hpp.
upgrade_result decide(const upgrade_request& req, std::string_view path, const credentials& creds,
                      const admission_state& state);

// HTTP status and reason of a refusal ("503", "Service Unavailable" ...); ok -> 101.
int status_of(upgrade_result r) noexcept;

// True if the comma-separated token list `list` holds `token` (ASCII case-insensitive).
bool has_token(std::string_view list, std::string_view token) noexcept;

// Standard base64 (padding required); false on any invalid character or length.
bool base64_decode(std::string_view in, std::string& out);

}  // namespace astra::ari::outbound
