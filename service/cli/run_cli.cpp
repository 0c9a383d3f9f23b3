// `astra run --config FILE` (also the default without a subcommand) and
// `astra check-config FILE`: the stock service, built on the public astra::service API like any
// user's service (its stock handlers are registered by astra::service itself). A bad
// configuration prints every problem (key path and reason) on stderr and exits 2, before any
// socket is opened.
#include <string>
#include <vector>

#include "astra/service.hpp"
#include "service/cli/registry.hpp"

namespace {

int run_main(int argc, char** argv) {
  astra::service svc{argc, argv};
  return svc.run();
}

int check_config_main(int argc, char** argv) {
  std::vector<char*> args{argv[0], const_cast<char*>("check-config")};
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  astra::service svc{static_cast<int>(args.size() - 1), args.data()};
  return svc.run();
}

astra::cli::registration run_reg{"run", "run the service: astra run --config FILE (the default subcommand)", &run_main};
astra::cli::registration check_reg{"check-config", "validate a configuration file: astra check-config FILE",
                                   &check_config_main};

}  // namespace
