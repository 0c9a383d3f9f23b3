#include "protocols/ami/catalog.hpp"

#include <algorithm>

#include "generated/ami_catalog.hpp"
#include "protocols/ami/message.hpp"

namespace astra::ami {
namespace {

// Case-insensitive ASCII ordering matching the generator's sort by str.lower().
bool iless(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x | 0x20);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y | 0x20);
    if (x != y) return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
  }
  return a.size() < b.size();
}

}  // namespace

std::span<const action_spec> action_specs() { return generated::actions; }
std::span<const std::string_view> event_names() { return generated::events; }
std::string_view catalog_asterisk_version() { return generated::asterisk_version; }

const action_spec* find_action(std::string_view name) {
  auto specs = action_specs();
  auto it = std::lower_bound(specs.begin(), specs.end(), name,
                             [](const action_spec& s, std::string_view n) { return iless(s.name, n); });
  if (it != specs.end() && iequals(it->name, name)) return &*it;
  return nullptr;
}

bool is_known_event(std::string_view name) {
  auto names = event_names();
  auto it = std::lower_bound(names.begin(), names.end(), name, iless);
  return it != names.end() && iequals(*it, name);
}

const event_spec* find_event(std::string_view name) {
  auto names = event_names();
  auto it = std::lower_bound(names.begin(), names.end(), name, iless);
  if (it == names.end() || !iequals(*it, name)) return nullptr;
  return &generated::event_specs[static_cast<std::size_t>(it - names.begin())];
}

astra::result<void> validate(const action& a) {
  const action_spec* spec = find_action(a.name());
  if (!spec) return {};
  for (const action_param& p : spec->params) {
    if (!p.required || iequals(p.name, "ActionID")) continue;
    if (!a.get(p.name)) {
      return {make_error_code(ami_errc::invalid_action),
              "action " + std::string(spec->name) + " requires parameter " + std::string(p.name)};
    }
  }
  return {};
}

}  // namespace astra::ami
