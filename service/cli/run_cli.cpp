// `astra run --config FILE` (also the default without a subcommand) and
// `astra check-config FILE`. A bad configuration prints every problem (key path and
// reason) on stderr and exits 2, before any socket is opened.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include "service/cli/registry.hpp"
#include "service/config/config.hpp"
#include "service/core/service.hpp"

namespace {

constexpr int exit_bad_config = 2;
constexpr int exit_usage = 2;

// Loads `path` (empty: defaults + environment only); prints the problems when there are any.
std::optional<astra::config::config> load_or_report(const std::string& path, const char* program) {
  auto r = path.empty() ? astra::config::load_string("", astra::config::process_env())
                        : astra::config::load_file(path);
  if (r.ok()) return std::move(r.value);
  const std::string origin = path.empty() ? std::string("(environment)") : path;
  std::fprintf(stderr, "%s: invalid configuration %s: %zu problem%s\n", program, origin.c_str(), r.problems.size(),
               r.problems.size() == 1 ? "" : "s");
  for (const auto& p : r.problems) std::fprintf(stderr, "%s: %s: %s\n", origin.c_str(), p.path.c_str(), p.reason.c_str());
  return std::nullopt;
}

int run_main(int argc, char** argv) {
  CLI::App app{"Runs the astra service until SIGTERM/SIGINT (see docs/configuration.md)", "astra run"};
  std::string path;
  if (const char* env = std::getenv("ASTRA_CONFIG")) path = env;
  app.add_option("-c,--config", path, "YAML configuration file (default: $ASTRA_CONFIG, else built-in defaults)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : exit_usage;
  }
  auto cfg = load_or_report(path, "astra run");
  if (!cfg) return exit_bad_config;
  return astra::service::run(*cfg);
}

int check_config_main(int argc, char** argv) {
  CLI::App app{"Validates a configuration file: exit 0 if valid, 2 with every problem listed", "astra check-config"};
  std::string path;
  app.add_option("FILE", path, "YAML configuration file")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : exit_usage;
  }
  auto cfg = load_or_report(path, "astra check-config");
  if (!cfg) return exit_bad_config;
  std::size_t ami = 0, ari = 0;
  for (const auto& s : cfg->servers) {
    ami += s.ami ? 1 : 0;
    ari += s.ari ? 1 : 0;
  }
  std::printf("%s: ok (%zu servers: %zu AMI, %zu ARI; FastAGI %s with %zu routes; admin %s)\n", path.c_str(),
              cfg->servers.size(), ami, ari, cfg->agi.enabled ? cfg->agi.listen.to_string().c_str() : "disabled",
              cfg->agi.routes.size(), cfg->admin.listen.to_string().c_str());
  return 0;
}

astra::cli::registration run_reg{"run", "run the service: astra run --config FILE (the default subcommand)", &run_main};
astra::cli::registration check_reg{"check-config", "validate a configuration file: astra check-config FILE",
                                   &check_config_main};

}  // namespace
