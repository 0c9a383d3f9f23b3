#pragma once
// Shared by the configuration tests: an environment made of a fixed map of variables.
#include <map>
#include <optional>
#include <string>

#include "service/config/config.hpp"

namespace astra::test {

inline config::env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace astra::test
