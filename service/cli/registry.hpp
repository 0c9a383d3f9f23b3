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

}  // namespace astra::cli
