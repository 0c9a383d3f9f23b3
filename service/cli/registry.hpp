#pragma once
// Subcommands of the `astra` executable. Each subcommand file (service/cli/*.cpp) registers
// itself with a static `registration`; the files are linked as an OBJECT library straight
// into the executable so the registrations are never dropped.
#include <map>
#include <string>
#include <string_view>

namespace astra::cli {

// argv[0] is "astra <name>"; returns the process exit code.
using command_fn = int (*)(int argc, char** argv);

struct command_entry {
  std::string summary;
  command_fn run = nullptr;
};

std::map<std::string, command_entry, std::less<>>& commands();

struct registration {
  registration(std::string_view name, std::string_view summary, command_fn run) {
    commands().emplace(std::string(name), command_entry{std::string(summary), run});
  }
};

// Another handler of an existing subcommand for some argument lists, kept out of the
// subcommand's own file: main() runs `run` instead of the subcommand when applies(argc, argv)
// (issue 14: `astra ami send --nats ...` / `astra ari call --nats ...` go through the bus,
// service/cli/bus_cli.cpp). Same argv as the subcommand ("astra ami", ...).
struct command_variant {
  bool (*applies)(int argc, char** argv) = nullptr;
  command_fn run = nullptr;
};

std::multimap<std::string, command_variant, std::less<>>& command_variants();

struct variant_registration {
  variant_registration(std::string_view name, bool (*applies)(int, char**), command_fn run) {
    command_variants().emplace(std::string(name), command_variant{applies, run});
  }
};

}  // namespace astra::cli
