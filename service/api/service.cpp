// astra::service: registrations, then `astra run` / `astra check-config` with them.
#include "astra/service.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "service/api/stock_handlers.hpp"
#include "service/core/registrations.hpp"
#include "service/core/service.hpp"

namespace astra {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_bad_config = 2;
constexpr int exit_usage = 2;

// An auth check as an admission policy: false or a throw refuses the call (logged once per
// kind of failure by the server's refusal log).
agi::auth_policy to_policy(agi_auth_check check) {
  return [check = std::move(check)](const agi::auth_request& r) -> agi::auth_decision {
    try {
      return check(r) ? agi::auth_decision::allow() : agi::auth_decision::deny("auth function refused the call");
    } catch (const std::exception& e) {
      return agi::auth_decision::deny(std::string("auth function threw: ") + e.what());
    } catch (...) {
      return agi::auth_decision::deny("auth function threw");
    }
  };
}

struct problem {
  std::string path;
  std::string reason;
};

// What the registrations require of the configuration (servers they name, paths they take).
std::vector<problem> check_registrations(const config::config& cfg, const runtime::registrations& regs) {
  std::vector<problem> out;
  auto server_named = [&](const std::string& name) -> const config::server_config* {
    for (const auto& s : cfg.servers)
      if (s.name == name) return &s;
    return nullptr;
  };
  std::set<std::string> paths;
  for (const auto& r : cfg.agi.routes) paths.insert(agi::router::normalise(r.path));
  for (const auto& r : regs.agi_routes) {
    if (!paths.insert(agi::router::normalise(r.path)).second)
      out.push_back({"agi.routes", "route " + r.path + " is registered in code and also configured (or registered twice)"});
    if (!cfg.agi.enabled)
      out.push_back({"agi.enabled", "route " + r.path + " is registered in code but FastAGI is disabled"});
  }
  for (const auto& a : regs.ari_apps) {
    if (a.server.empty()) {
      bool any = false;
      for (const auto& s : cfg.servers) any = any || s.ari.has_value();
      if (!any) out.push_back({"servers", "Stasis app " + a.app + " is registered in code but no server configures ari"});
    } else if (auto* s = server_named(a.server); !s || !s->ari) {
      out.push_back({"servers", "Stasis app " + a.app + " is registered for server " + a.server +
                                    (s ? ", which has no ari section" : ", which is not configured")});
    }
  }
  for (const auto& a : regs.ami) {
    if (a.server.empty()) continue;
    if (auto* s = server_named(a.server); !s || !s->ami)
      out.push_back({"servers", "AMI events are subscribed for server " + a.server +
                                    (s ? ", which has no ami section" : ", which is not configured")});
  }
  return out;
}

}  // namespace

struct service::impl {
  std::vector<std::string> args;
  metrics::registry registry;
  runtime::registrations regs;
};

service::service(int argc, char** argv) : impl_(std::make_unique<impl>()) {
  for (int i = 0; i < argc; ++i) impl_->args.emplace_back(argv[i] ? argv[i] : "");
  impl_->regs.registry = &impl_->registry;
  stock::register_stock_handlers(*this);
}

service::~service() = default;

service& service::agi(std::string path, agi_handler handler, agi_route_options options) {
  agi::route_options o;
  if (options.auth) o.auth = to_policy(std::move(options.auth));
  o.on_hangup = options.on_hangup;
  impl_->regs.agi_routes.push_back({std::move(path), std::move(handler), std::move(o)});
  return *this;
}

service& service::named_agi_handler(std::string name, agi_handler handler) {
  return agi_handler_factory(std::move(name),
                             [handler = std::move(handler)](const config::agi_route_config&) { return handler; });
}

service& service::agi_handler_factory(std::string name,
                                      std::function<agi_handler(const config::agi_route_config& route)> make) {
  impl_->regs.agi_handlers[std::move(name)] = std::move(make);
  return *this;
}

service& service::agi_auth(agi_auth_check check) {
  impl_->regs.agi_auth = to_policy(std::move(check));
  return *this;
}

service& service::ari_app(std::string app, ari_handler handler, std::string server, ari_adoption_handler adopt) {
  impl_->regs.ari_apps.push_back({std::move(app), std::move(server), std::move(handler), std::move(adopt)});
  return *this;
}

service& service::named_ari_handler(std::string name, ari_handler handler, ari_adoption_handler adopt) {
  if (adopt) impl_->regs.ari_adopters[name] = std::move(adopt);
  else impl_->regs.ari_adopters.erase(name);
  impl_->regs.ari_handlers[std::move(name)] = std::move(handler);
  return *this;
}

service& service::ami_events(std::string server, std::vector<std::string> events, ami_event_handler handler) {
  impl_->regs.ami.push_back({std::move(server), std::move(events), std::move(handler)});
  return *this;
}

service& service::on_configured(std::function<void(const config::config& cfg)> hook) {
  impl_->regs.on_configured.push_back(std::move(hook));
  return *this;
}

service& service::default_config(std::string yaml) {
  impl_->regs.default_config_yaml = std::move(yaml);
  return *this;
}

service& service::on_started(std::function<void(const service_started&)> hook) {
  impl_->regs.lifecycle.started.push_back(std::move(hook));
  return *this;
}

service& service::on_draining(std::function<void(const service_draining&)> hook) {
  impl_->regs.lifecycle.draining.push_back(std::move(hook));
  return *this;
}

service& service::on_stopped(std::function<void(const service_stopped&)> hook) {
  impl_->regs.lifecycle.stopped.push_back(std::move(hook));
  return *this;
}

service& service::on_agi_call_end(std::function<void(const agi_call_summary&)> hook) {
  impl_->regs.lifecycle.agi_call_ended.push_back(std::move(hook));
  return *this;
}

service& service::on_link(std::function<void(std::string_view server, std::string_view link, bool up)> hook) {
  impl_->regs.lifecycle.link_changed.push_back(std::move(hook));
  return *this;
}

metrics::registry& service::metrics() { return impl_->registry; }

int service::run() {
  const auto& args = impl_->args;
  const std::string program = args.empty() ? std::string("astra") : args[0];
  // `PROGRAM [run] [--config FILE]` or `PROGRAM check-config FILE`.
  std::vector<std::string> rest(args.size() > 1 ? args.begin() + 1 : args.end(), args.end());
  bool check_only = false;
  if (!rest.empty() && (rest[0] == "run" || rest[0] == "check-config")) {
    check_only = rest[0] == "check-config";
    rest.erase(rest.begin());
  }
  CLI::App app{check_only ? "Validates a configuration file: exit 0 if valid, 2 with every problem listed"
                          : "Runs the service until SIGTERM/SIGINT (see docs/configuration.md)",
               program};
  std::string path;
  if (check_only) {
    app.add_option("FILE", path, "YAML configuration file")->required();
  } else {
    if (const char* env = std::getenv("ASTRA_CONFIG")) path = env;
    app.add_option("-c,--config", path, "YAML configuration file (default: $ASTRA_CONFIG, else built-in defaults)");
    app.footer("Also: " + program + " check-config FILE");
  }
  std::vector<std::string> reversed(rest.rbegin(), rest.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? exit_ok : exit_usage;
  }

  const auto names = impl_->regs.names();
  auto r = path.empty() ? config::load_string(impl_->regs.default_config_yaml, config::process_env(), ".", &names)
                        : config::load_file(path, config::process_env(), &names);
  std::vector<problem> problems;
  for (const auto& p : r.problems) problems.push_back({p.path, p.reason});
  if (r.ok())
    for (auto& p : check_registrations(*r.value, impl_->regs)) problems.push_back(std::move(p));
  const std::string origin = !path.empty()                             ? path
                             : impl_->regs.default_config_yaml.empty() ? std::string("(environment)")
                                                                       : std::string("(built-in configuration)");
  if (!problems.empty()) {
    std::fprintf(stderr, "%s: invalid configuration %s: %zu problem%s\n", program.c_str(), origin.c_str(),
                 problems.size(), problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) std::fprintf(stderr, "%s: %s: %s\n", origin.c_str(), p.path.c_str(), p.reason.c_str());
    return exit_bad_config;
  }
  const auto& cfg = *r.value;
  if (check_only) {
    std::size_t ami = 0, ari = 0;
    for (const auto& s : cfg.servers) {
      ami += s.ami ? 1 : 0;
      ari += s.ari ? 1 : 0;
    }
    std::printf("%s: ok (%zu servers: %zu AMI, %zu ARI; FastAGI %s with %zu routes; admin %s)\n", path.c_str(),
                cfg.servers.size(), ami, ari, cfg.agi.enabled ? cfg.agi.listen.to_string().c_str() : "disabled",
                cfg.agi.routes.size() + impl_->regs.agi_routes.size(), cfg.admin.listen.to_string().c_str());
    return exit_ok;
  }
  return astra::runtime::run(cfg, impl_->regs);
}

}  // namespace astra
