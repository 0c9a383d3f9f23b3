#pragma once
// Internal to astra_protocols_agi: helpers the generated builders (agi_catalog.cpp) call.
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/agi/command.hpp"

namespace astra::agi::detail {

struct slot {
  std::optional<command_arg> arg;  // nullopt: an optional parameter not given
  // Written when skipped before a given later parameter; nullptr: write nothing (a flag such
  // as RECORD FILE's BEEP, whose mere presence has a meaning).
  const char* placeholder = "";
};

inline std::optional<command_arg> text_arg(std::string_view v) { return command_arg{std::string(v), false}; }
inline std::optional<command_arg> quoted_arg(std::string_view v) { return command_arg{std::string(v), true}; }
inline std::optional<command_arg> int_arg(long long v) { return command_arg{std::to_string(v), false}; }
inline std::optional<command_arg> beep_arg(bool on) {
  return on ? std::optional<command_arg>(command_arg{"BEEP", false}) : std::nullopt;
}
inline std::optional<command_arg> silence_arg(long long seconds) {
  return command_arg{"s=" + std::to_string(seconds), false};
}

// Drops trailing missing slots, fills inner missing ones with their placeholder ("" quoted),
// then format_command(verb, args).
astra::result<std::string> build(std::string_view verb, std::initializer_list<slot> slots);

}  // namespace astra::agi::detail
