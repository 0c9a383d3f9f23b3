#pragma once
// PRIVATE to service/config/config.cpp: the loader of the `bus:` section, written against the
// loader's interface (child, check_keys, field, int_field, credential_field, raw, add), like
// config_ari_outbound.hpp. Included there after the loader's definition.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <string>
#include <vector>

#include "service/config/bus_config.hpp"

namespace astra::config::detail {

// Why `u` is not a NATS server URL astra accepts ("" if it is): nats:// or tls://, a host,
// an optional port (1..65535), optional user info is refused (credentials have their keys).
std::string nats_url_problem(const std::string& u);
// Why `prefix` is not a usable subject prefix ("" if it is): dot-separated tokens of
// A-Z a-z 0-9 _ -, no wildcard, no empty token, at most 64 characters.
std::string subject_prefix_problem(const std::string& prefix);

template <class Loader, class Scope, class Credential>
void load_bus(Loader& l, const Scope& root, bus_config& out, const env_lookup& env) {
  auto bus = l.child(root, "bus");
  l.check_keys(bus, {"nats"});
  auto s = l.child(bus, "nats");
  l.check_keys(s, {"url", "token", "token_env", "token_file", "user", "password", "password_env", "password_file",
                   "credentials_file", "tls", "subject_prefix", "lease_ttl", "replica", "connect_timeout",
                   "request_timeout", "buffer"});
  // The section is on when bus.nats is given in the file or its URL in the environment.
  const bool given = s.node.IsMap() || s.node.IsNull() && bus.node.IsMap() && bus.node["nats"] ||
                     static_cast<bool>(env(s.env + "_URL"));
  bus_nats_config n;
  l.field(s, "url", n.url, "NATS server URL(s), comma-separated (a NATS cluster): nats://HOST:PORT or tls://HOST:PORT");
  Credential token, password;
  l.credential_field(s, "token", token, "NATS authentication token", false);
  l.field(s, "user", n.user, "NATS user (with password)");
  l.credential_field(s, "password", password, "NATS password of user", false);
  l.field(s, "credentials_file", n.credentials_file, "NATS .creds file (user JWT and NKey seed)");
  auto tls = l.child(s, "tls");
  l.check_keys(tls, {"ca_file"});
  l.field(tls, "ca_file", n.tls_ca_file, "PEM CA bundle for tls:// NATS servers (default: the system store)");
  l.field(s, "subject_prefix", n.subject_prefix, "first token(s) of every NATS subject and of the lease bucket's name");
  l.field(s, "lease_ttl", n.lease_ttl,
          "lease of a server's upstreams: renewed every third of it; a holder silent this long is replaced",
          std::chrono::milliseconds{1'000});
  l.field(s, "replica", n.replica,
          "this replica's name in leases and /v1/status (${VAR}: that environment variable; default: the host name)");
  l.field(s, "connect_timeout", n.connect_timeout, "deadline of one connection attempt to one NATS server");
  l.field(s, "request_timeout", n.request_timeout, "deadline astra gives itself for a KV operation or a bus request");
  auto buffer = l.child(s, "buffer");
  l.check_keys(buffer, {"messages", "bytes"});
  l.int_field(buffer, "messages", n.buffer_messages, 1'024, 100'000'000,
              "messages waiting to be published before new ones are dropped (astra_bus_dropped_total)");
  l.int_field(buffer, "bytes", n.buffer_bytes, 64 * 1024, std::int64_t{1} << 34,
              "bytes waiting to be published before new messages are dropped (astra_bus_dropped_total)");
  if (!given) return;

  n.token = token.value;
  n.token_source = token.source;
  n.password = password.value;
  n.password_source = password.source;
  // url: comma-separated, spaces ignored.
  {
    std::string item;
    for (char ch : n.url + ",") {
      if (ch == ',') {
        if (!item.empty()) n.urls.push_back(item);
        item.clear();
      } else if (!std::isspace(static_cast<unsigned char>(ch))) {
        item += ch;
      }
    }
    if (n.urls.empty()) l.add(s.path + ".url", "no NATS URL in \"" + n.url + "\"");
    for (const auto& u : n.urls)
      if (auto why = nats_url_problem(u); !why.empty()) l.add(s.path + ".url", why);
  }
  const int methods = (n.token_source.empty() ? 0 : 1) + (n.user.empty() && n.password_source.empty() ? 0 : 1) +
                      (n.credentials_file.empty() ? 0 : 1);
  if (methods > 1) l.add(s.path, "give one of token, user + password, credentials_file");
  if (!n.user.empty() && n.password_source.empty())
    l.add(s.path + ".password", "required with user (give password, password_env or password_file)");
  if (n.user.empty() && !n.password_source.empty()) l.add(s.path + ".user", "required with password");
  if (!n.credentials_file.empty() && !std::ifstream(n.credentials_file))
    l.add(s.path + ".credentials_file", "cannot read \"" + n.credentials_file + "\"");
  if (!n.tls_ca_file.empty())
    if (auto why = ca_file_problem(n.tls_ca_file); !why.empty()) l.add(tls.path + ".ca_file", why);
  if (auto why = subject_prefix_problem(n.subject_prefix); !why.empty()) l.add(s.path + ".subject_prefix", why);
  // replica: "${NAME}" reads the environment variable NAME (unset or empty: the host name).
  if (n.replica.size() > 3 && n.replica.rfind("${", 0) == 0 && n.replica.back() == '}') {
    auto v = env(n.replica.substr(2, n.replica.size() - 3));
    n.replica = v ? *v : std::string();
  }
  if (n.replica.empty()) n.replica = local_host_name();
  if (n.replica.size() > 128 || !std::all_of(n.replica.begin(), n.replica.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
      }))
    l.add(s.path + ".replica", "must be 1..128 characters of A-Z a-z 0-9 - _ . , got \"" + n.replica + "\"");
  if (n.lease_ttl > std::chrono::hours(1)) l.add(s.path + ".lease_ttl", "must not exceed 1h");
  out.nats = std::move(n);
}

}  // namespace astra::config::detail
