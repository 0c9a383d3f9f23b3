#pragma once
// PRIVATE to service/config/config.cpp: the loader of the `ari_outbound:` section, written
// against the loader's interface (field, int_field, listen_field, credential_field,
// enum_field, child, check_keys, add, names) so it lives outside config.cpp. Included there
// after the loader's definition.
#include <set>
#include <string>

#include "service/config/ari_outbound_config.hpp"

namespace astra::config::detail {

inline constexpr std::pair<std::string_view, ari_after_handler> ari_after_handler_names[] = {
    {"hangup", ari_after_handler::hangup}, {"continue", ari_after_handler::continue_}, {"keep", ari_after_handler::keep}};

template <class Loader, class Scope, class Endpoint, class Credential>
void load_ari_outbound(Loader& l, const Scope& root, ari_outbound_config& o) {
  auto s = l.child(root, "ari_outbound");
  const bool given = s.node.IsMap();
  o.enabled = given;
  l.check_keys(s, {"enabled", "listen", "path", "username", "password", "password_env", "password_file",
                   "max_connections", "handshake_timeout", "request_timeout", "after_handler", "tls", "apps"});
  l.field(s, "enabled", o.enabled,
          "run the ARI outbound WebSocket server (Asterisk dials astra); true when the section is given");
  Endpoint listen{o.listen_host, o.listen_port};
  l.listen_field(s, "listen", listen, "outbound ARI WebSocket listener HOST:PORT (websocket_client.conf uri)");
  o.listen_host = listen.host;
  o.listen_port = listen.port;
  l.field(s, "path", o.path, "request path Asterisk dials (websocket_client.conf uri path); another path gets 404");
  l.field(s, "username", o.username, "user Asterisk presents (websocket_client.conf username), required when enabled");
  Credential password;
  l.credential_field(s, "password", password, "password Asterisk presents (websocket_client.conf password)", false);
  o.password = password.value;
  o.password_source = password.source;
  l.int_field(s, "max_connections", o.max_connections, 1, 1'000'000,
              "open outbound sockets (per-call sockets are calls); beyond it upgrades get a fast 503 (refused_full)");
  l.field(s, "handshake_timeout", o.handshake_timeout,
          "deadline of the upgrade (TLS + HTTP), then again until ApplicationRegistered");
  l.field(s, "request_timeout", o.request_timeout, "deadline of one REST request over the socket");
  l.enum_field(s, "after_handler", o.after_handler, ari_after_handler_names,
               "per-call sockets: a channel still in Stasis after its handler returned (and 1 s of grace)");
  auto tls = l.child(s, "tls");
  l.check_keys(tls, {"cert_file", "key_file"});
  l.field(tls, "cert_file", o.tls_cert_file, "PEM certificate chain: wss:// (give key_file too)");
  l.field(tls, "key_file", o.tls_key_file, "PEM private key of cert_file");

  // apps: a list of {name, handler}; each value overridable by ..._APPS_<INDEX>_NAME / _HANDLER.
  const std::string apps_path = s.path.empty() ? "ari_outbound.apps" : s.path + ".apps";
  if (s.node.IsMap() && s.node["apps"] && !s.node["apps"].IsNull()) {
    auto list = s.node["apps"];
    if (!list.IsSequence()) {
      l.add(apps_path, "expected a list of {name, handler}");
    } else {
      std::set<std::string> names;
      for (std::size_t i = 0; i < list.size(); ++i) {
        Scope as;
        as.node = list[i];
        as.path = apps_path + "[" + std::to_string(i) + "]";
        as.doc_path = s.doc_path + ".apps[]";
        as.env = s.env + "_APPS_" + std::to_string(i);
        as.doc_env = s.doc_env + "_APPS_<INDEX>";
        if (!as.node.IsMap()) {
          l.add(as.path, "expected a mapping with name and handler");
          continue;
        }
        l.check_keys(as, {"name", "handler", "webhook"});
        ari_outbound_app_config app;
        app.handler = "demo";
        l.field(as, "name", app.name, "Stasis() application name served here (per-call sockets: <name>:<channel>)", true);
        l.field(as, "handler", app.handler, "ARI handler of the app: a stock one (track, demo, webhook) or one registered in code");
        {
          std::optional<webhook_config> webhook;  // ari_outbound.apps[].webhook: the webhook handler's settings
          load_webhook(l, as, webhook, app.handler == "webhook");
          if (webhook) app.webhook = std::make_shared<const webhook_config>(std::move(*webhook));
        }
        if (app.name.find_first_of(":, ") != std::string::npos)
          l.add(as.path + ".name", "must not contain ':', ',' or spaces, got \"" + app.name + "\"");
        else if (!app.name.empty() && !names.insert(app.name).second)
          l.add(as.path + ".name", "duplicate app \"" + app.name + "\"");
        if (!Loader::known(l.names().ari, app.handler))
          l.add(as.path + ".handler", "unknown handler \"" + app.handler + "\" (known: " + Loader::listed(l.names().ari) + ")");
        o.apps.push_back(std::move(app));
      }
    }
  }
  if (!o.enabled) return;
  if (o.username.empty()) l.add(s.path + ".username", "required when ari_outbound is enabled");
  if (o.password.empty() && o.password_source.empty())
    l.add(s.path + ".password", "required when ari_outbound is enabled (give password, password_env or password_file)");
  if (o.path.empty() || o.path.front() != '/') l.add(s.path + ".path", "must start with '/', got \"" + o.path + "\"");
  if (o.apps.empty()) l.add(apps_path, "list at least one app {name, handler}");
  if (o.tls_cert_file.empty() != o.tls_key_file.empty())
    l.add(tls.path, "give both cert_file and key_file (or neither)");
  else if (!o.tls_cert_file.empty()) {
    if (auto why = tls_file_problem(o.tls_cert_file, false); !why.empty()) l.add(tls.path + ".cert_file", why);
    if (auto why = tls_file_problem(o.tls_key_file, true); !why.empty()) l.add(tls.path + ".key_file", why);
  }
}

}  // namespace astra::config::detail
