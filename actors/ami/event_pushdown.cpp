#include "actors/ami/event_pushdown.hpp"

#include <cctype>
#include <set>

#include "protocols/ami/catalog.hpp"
#include "protocols/ami/message.hpp"

namespace astra::ami::detail {
namespace {

bool filterable(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits "system,user" into labels.
void add_labels(std::string_view list, std::set<std::string>& out) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    if (!item.empty()) out.emplace(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

event_demand demand_of(const std::vector<const event_filter*>& filters) {
  event_demand d;
  for (const event_filter* f : filters) {
    switch (f->kind) {
      case event_filter::mode::none:
        break;
      case event_filter::mode::all:
      case event_filter::mode::predicate:
        return {event_demand::kind::everything, {}};
      case event_filter::mode::names:
        for (const auto& n : f->names) {
          if (!filterable(n)) return {event_demand::kind::everything, {}};
          auto key = lower(n);
          if (d.names.count(key)) continue;
          wanted_name w;
          if (const event_spec* spec = find_event(n)) {
            w.spelling = std::string(spec->wire_name);
            w.documented = true;
          } else {
            w.spelling = n;
          }
          d.names.emplace(std::move(key), std::move(w));
        }
        break;
    }
  }
  // A names filter with no name wants nothing (event_filter::matches is false for all).
  d.what = d.names.empty() ? event_demand::kind::nothing : event_demand::kind::names;
  return d;
}

std::string normalize_mask(std::string_view configured) {
  const std::string l = lower(configured);
  // strings_to_mask(): all digits is a number (so "1" is the system class, "0" nothing),
  // then ast_false(), then ast_true(), then a class list.
  if (l == "0" || l == "off" || l == "no" || l == "false" || l == "n" || l == "f") return "off";
  if (l == "on" || l == "yes" || l == "true" || l == "y" || l == "t") return "on";
  return std::string(configured);
}

std::string mask_for(const event_demand& d, std::string_view configured) {
  const std::string base = normalize_mask(configured);
  if (base == "off" || d.what == event_demand::kind::nothing) return "off";
  if (d.what == event_demand::kind::everything || base != "on") return base;
  std::set<std::string> labels;
  for (const auto& [key, name] : d.names) {
    const event_spec* spec = name.documented ? find_event(name.spelling) : nullptr;
    if (!spec || spec->event_class.empty()) return "on";
    add_labels(spec->event_class, labels);
  }
  std::string out;
  for (const auto& l : labels) out += (out.empty() ? "" : ",") + l;
  return out.empty() ? "on" : out;
}

bool structured_filters_supported(std::string_view v) {
  // The first "<major>.<minor>" in the text.
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(v[i]))) continue;
    if (i > 0 && std::isdigit(static_cast<unsigned char>(v[i - 1]))) continue;
    std::size_t j = i;
    unsigned major = 0, minor = 0;
    while (j < v.size() && std::isdigit(static_cast<unsigned char>(v[j])) && major < 1000) major = major * 10 + (v[j++] - '0');
    if (j >= v.size() || v[j] != '.' || j + 1 >= v.size() || !std::isdigit(static_cast<unsigned char>(v[j + 1]))) continue;
    ++j;
    while (j < v.size() && std::isdigit(static_cast<unsigned char>(v[j])) && minor < 1000) minor = minor * 10 + (v[j++] - '0');
    switch (major) {
      case 18: return minor >= 26;
      case 20: return minor >= 11;
      case 21: return minor >= 6;
      case 22: return minor >= 1;
      default: return major > 22;
    }
  }
  return false;
}

std::string legacy_filter_regex(std::string_view name) {
  std::string re = "^Event: ";
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u)) {
      re += '[';
      re += static_cast<char>(std::toupper(u));
      re += static_cast<char>(std::tolower(u));
      re += ']';
    } else {
      re += c;  // digits, '_' and '-' stand for themselves outside brackets
    }
  }
  return re + "[[:space:]]";
}

action filter_action(const wanted_name& name, bool structured) {
  if (structured && name.documented) {
    action a("Filter");
    a.add("Operation", "Add").add("MatchCriteria", "name(" + name.spelling + ")");
    return a;
  }
  return actions::filter("Add", legacy_filter_regex(name.spelling));
}

action match_all_filter_action() { return actions::filter("Add", "^Event: "); }

}  // namespace astra::ami::detail
