#include "service/cli/registry.hpp"

namespace astra::cli {

std::map<std::string, command_entry, std::less<>>& commands() {
  static std::map<std::string, command_entry, std::less<>> table;
  return table;
}

std::multimap<std::string, command_variant, std::less<>>& command_variants() {
  static std::multimap<std::string, command_variant, std::less<>> table;
  return table;
}

}  // namespace astra::cli
