#pragma once
// The `ari_outbound:` section: astra as the WebSocket server Asterisk dials (res_websocket_client,
// ari.conf `type = outbound_websocket`); see actors/ari/outbound_server.hpp and
// docs/configuration.md. Included by config.hpp; parsed by config_ari_outbound.hpp.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace astra::config {

enum class ari_after_handler { hangup, continue_, keep };
std::string_view to_string(ari_after_handler p) noexcept;  // "hangup", "continue", "keep"

struct webhook_config;  // config.hpp

struct ari_outbound_app_config {
  std::string name;     // the Stasis() application; per-call sockets register "<name>:<channel>"
  std::string handler;  // a registered ARI handler (stock demo / track / webhook, or one of the service's)
  std::shared_ptr<const webhook_config> webhook;  // set iff handler == "webhook" (docs/webhooks.md)
};

struct ari_outbound_config {
  bool enabled = false;  // true as soon as the section is given
  std::string listen_host = "0.0.0.0";
  std::uint16_t listen_port = 8765;
  std::string path = "/ari/events";
  std::string username;
  std::string password;          // the value (never shown)
  std::string password_source;   // "inline", "env:NAME", "file:/path"
  std::size_t max_connections = 20'000;
  std::chrono::milliseconds handshake_timeout{5'000};
  std::chrono::milliseconds request_timeout{10'000};
  ari_after_handler after_handler = ari_after_handler::hangup;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::vector<ari_outbound_app_config> apps;
};

// Why `file` cannot serve as a PEM certificate chain (cert) or private key (key); "" if it can.
std::string tls_file_problem(const std::string& file, bool key);

}  // namespace astra::config
