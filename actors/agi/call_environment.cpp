#include "actors/agi/call_environment.hpp"

#include <algorithm>

namespace astra::agi {

namespace {
constexpr std::string_view agi_prefix = "agi_";

std::string_view strip_prefix(std::string_view key) {
  return key.substr(0, agi_prefix.size()) == agi_prefix ? key.substr(agi_prefix.size()) : key;
}
}  // namespace

call_environment::span call_environment::add(std::string_view s) {
  span out{static_cast<std::uint32_t>(text_.size()), static_cast<std::uint32_t>(s.size())};
  text_.append(s);
  return out;
}

template <class F>
void call_environment::scan(F&& fn) const {
  std::size_t offset = 0;
  const std::string_view text(text_);
  for (const auto& e : entries_) {
    auto key = text.substr(offset, e.key_length);
    offset += e.key_length;
    auto value = text.substr(offset, e.value_length);
    offset += e.value_length;
    if (fn(e.what, key, value)) return;
  }
}

call_environment::call_environment(const environment& env) {
  std::size_t bytes = env.script_path.size();
  for (const auto& [k, v] : env.variables) bytes += k.size() + v.size();
  for (const auto& a : env.args) bytes += a.size();
  for (const auto& [k, v] : env.query) bytes += k.size() + v.size();
  text_.reserve(bytes);
  entries_.reserve(env.variables.size() + env.args.size() + env.query.size());
  auto clamp = [](std::size_t n) { return static_cast<std::uint16_t>(std::min<std::size_t>(n, 0xffff)); };

  for (const auto& [k, v] : env.variables) {
    auto key = strip_prefix(k);
    add(key.substr(0, clamp(key.size())));
    auto value = add(std::string_view(v).substr(0, clamp(v.size())));
    entries_.push_back({clamp(key.size()), clamp(v.size()), kind::variable});
    if (k == "agi_request") request_ = value;
    if (k == "agi_network_script") script_ = value;
  }
  for (const auto& a : env.args) {
    add(std::string_view(a).substr(0, clamp(a.size())));
    entries_.push_back({0, clamp(a.size()), kind::argument});
  }
  arg_count_ = static_cast<std::uint32_t>(env.args.size());
  for (const auto& [k, v] : env.query) {
    add(std::string_view(k).substr(0, clamp(k.size())));
    add(std::string_view(v).substr(0, clamp(v.size())));
    entries_.push_back({clamp(k.size()), clamp(v.size()), kind::parameter});
  }
  script_path_ = add(env.script_path);
  // The query string is the tail of agi_network_script after '?', when Asterisk sent it.
  auto script_text = view(script_);
  if (auto q = script_text.find('?'); q != std::string_view::npos && script_text.substr(q + 1) == env.query_string) {
    query_string_ = span{static_cast<std::uint32_t>(script_.offset + q + 1), static_cast<std::uint32_t>(env.query_string.size())};
  } else {
    query_string_ = add(env.query_string);
  }
  if (!env.request.empty() && request_.length == 0) request_ = add(env.request);
  if (!env.script.empty() && script_.length == 0) script_ = add(env.script);
  text_.shrink_to_fit();
}

std::optional<std::string_view> call_environment::get(std::string_view key) const {
  key = strip_prefix(key);
  std::optional<std::string_view> found;
  scan([&](kind what, std::string_view k, std::string_view v) {
    if (what != kind::variable || k != key) return false;
    found = v;
    return true;
  });
  return found;
}

std::vector<std::pair<std::string_view, std::string_view>> call_environment::variables() const {
  // Keys are returned without the "agi_" prefix Asterisk sends ("channel", "arg_1", ...).
  std::vector<std::pair<std::string_view, std::string_view>> out;
  scan([&](kind what, std::string_view k, std::string_view v) {
    if (what == kind::variable) out.emplace_back(k, v);
    return false;
  });
  return out;
}

std::vector<std::string_view> call_environment::args() const {
  std::vector<std::string_view> out;
  out.reserve(arg_count_);
  scan([&](kind what, std::string_view, std::string_view v) {
    if (what == kind::argument) out.push_back(v);
    return false;
  });
  return out;
}

std::optional<std::string_view> call_environment::param(std::string_view key) const {
  std::optional<std::string_view> found;
  scan([&](kind what, std::string_view k, std::string_view v) {
    if (what != kind::parameter || k != key) return false;
    found = v;
    return true;
  });
  return found;
}

std::vector<std::string_view> call_environment::params(std::string_view key) const {
  std::vector<std::string_view> out;
  scan([&](kind what, std::string_view k, std::string_view v) {
    if (what == kind::parameter && k == key) out.push_back(v);
    return false;
  });
  return out;
}

std::vector<std::pair<std::string_view, std::string_view>> call_environment::query() const {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  scan([&](kind what, std::string_view k, std::string_view v) {
    if (what == kind::parameter) out.emplace_back(k, v);
    return false;
  });
  return out;
}

}  // namespace astra::agi
