#pragma once
// The `bus:` section: several astra replicas of one deployment share their upstreams through
// NATS (issue 14; docs/configuration.md "bus", docs/deploy.md "Scaling"). Included by
// config.hpp; parsed by config_bus.hpp. Without the section (`nats` unset) astra runs alone.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace astra::config {

struct bus_nats_config {
  std::string url = "nats://127.0.0.1:4222";  // as given: one or more URLs, comma-separated
  std::vector<std::string> urls;              // derived from url: each nats:// or tls:// URL, >= 1
  // Authentication: at most one of token, user + password, credentials_file. Values are never
  // shown; *_source is "inline", "env:NAME" or "file:/path".
  std::string token;
  std::string token_source;
  std::string user;
  std::string password;
  std::string password_source;
  std::string credentials_file;  // NATS .creds (user JWT + NKey seed)
  std::string tls_ca_file;       // PEM CA bundle for tls:// servers; "" = the system store
  std::string subject_prefix = "astra";  // first subject token(s) of every subject astra uses
  std::chrono::milliseconds lease_ttl{5'000};  // KV bucket TTL: a holder silent this long loses its servers
  std::string replica;  // this replica's name in leases and status (default: the host name)
  std::chrono::milliseconds connect_timeout{2'000};  // one connection attempt to one server
  std::chrono::milliseconds request_timeout{2'000};  // NATS requests astra answers (AMI action, ARI request)
  // The outgoing publish buffer (events -> NATS); beyond either bound new messages are
  // dropped, counted in astra_bus_dropped_total{reason="buffer_full"}.
  std::size_t buffer_messages = 262'144;
  std::size_t buffer_bytes = 64u << 20;
};

struct bus_config {
  std::optional<bus_nats_config> nats;  // set iff bus.nats is given (or ASTRA_BUS_NATS_URL)
  bool enabled() const noexcept { return nats.has_value(); }
};

// The host name of this machine (gethostname), "astra" when it has none.
std::string local_host_name();

}  // namespace astra::config
