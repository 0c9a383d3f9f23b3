// astra: `astra [SUBCOMMAND] [ARGS...]`; without a subcommand it runs the service (`run`).
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "service/cli/registry.hpp"

namespace {

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: astra [SUBCOMMAND] [ARGS...]\n\nsubcommands:\n");
  for (const auto& [name, entry] : astra::cli::commands())
    std::fprintf(out, "  %-14s %s\n", name.c_str(), entry.summary.c_str());
  std::fprintf(out, "\nWithout a subcommand, `astra` runs the service (`astra run`).\n");
}

}  // namespace

int main(int argc, char** argv) {
  auto& table = astra::cli::commands();
  std::string name = "run";
  int first = 1;
  if (argc > 1 && argv[1][0] != '-') {
    name = argv[1];
    first = 2;
  } else if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    print_usage(stdout);
    return 0;
  }
  auto it = table.find(name);
  if (it == table.end()) {
    std::fprintf(stderr, "astra: unknown subcommand '%s'\n", name.c_str());
    print_usage(stderr);
    return 2;
  }
  // Hand the subcommand an argv whose argv[0] names it ("astra ami").
  std::string program = "astra " + name;
  std::vector<char*> sub_argv{program.data()};
  for (int i = first; i < argc; ++i) sub_argv.push_back(argv[i]);
  sub_argv.push_back(nullptr);
  const int sub_argc = static_cast<int>(sub_argv.size() - 1);
  auto [v, v_end] = astra::cli::command_variants().equal_range(name);
  for (; v != v_end; ++v)
    if (v->second.applies(sub_argc, sub_argv.data())) return v->second.run(sub_argc, sub_argv.data());
  return it->second.run(static_cast<int>(sub_argv.size() - 1), sub_argv.data());
}
