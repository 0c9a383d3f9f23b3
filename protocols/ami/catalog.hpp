#pragma once
// AMI action and event catalog generated at build time from Asterisk's documentation
// digest (codegen/asterisk/docs/ami-agi-digest.json, Asterisk 22) by codegen/gen_ami_catalog.py.
#include <span>
#include <string_view>

#include "protocols/ami/action.hpp"
#include "protocols/common/result.hpp"

namespace astra::ami {

struct action_param {
  std::string_view name;
  bool required;
};

struct action_spec {
  std::string_view name;
  std::string_view synopsis;
  std::span<const action_param> params;
};

// A documented event. `wire_name` is how Asterisk spells it in `Event:` (the documentation
// differs for one: NewExten is written Newexten). `event_class` is the class label of its
// `Privilege:` header and of an `Events:` mask ("call", "dialplan", ...) where the
// documentation gives exactly one valid class that the source does not contradict, else "".
struct event_spec {
  std::string_view name;
  std::string_view wire_name;
  std::string_view event_class;
};

const action_spec* find_action(std::string_view name);  // case-insensitive; nullptr if unknown
std::span<const action_spec> action_specs();            // every documented action
bool is_known_event(std::string_view name);             // case-insensitive
std::span<const std::string_view> event_names();        // every documented event
const event_spec* find_event(std::string_view name);     // case-insensitive; nullptr if undocumented
std::string_view catalog_asterisk_version();            // Asterisk version of the digest

// Unknown action => ok (custom). Missing required parameter => ami_errc::invalid_action with
// a detail naming it. ActionID is never required here (the session injects it).
astra::result<void> validate(const action& a);

}  // namespace astra::ami
