#include "protocols/agi/environment.hpp"

#include <charconv>

namespace astra::agi {
namespace {

constexpr std::string_view agi_prefix = "agi_";
constexpr std::string_view arg_prefix = "agi_arg_";

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view value_or_empty(const environment& env, std::string_view key) {
  auto v = env.get(key);
  return v ? *v : std::string_view{};
}

// "agi://host[:port]/path?query" -> "path?query" (the agi_network_script form); "" if not a URL.
std::string_view script_from_request(std::string_view request) {
  auto scheme_end = request.find("://");
  if (scheme_end == std::string_view::npos) return {};
  auto rest = request.substr(scheme_end + 3);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return {};
  return rest.substr(slash + 1);
}

}  // namespace

std::optional<std::string_view> environment::get(std::string_view key) const {
  bool full = key.substr(0, agi_prefix.size()) == agi_prefix;
  for (const auto& [k, v] : variables) {
    std::string_view name = k;
    if (!full) name.remove_prefix(agi_prefix.size());
    if (name == key) return std::string_view(v);
  }
  return std::nullopt;
}

std::optional<std::string_view> environment::param(std::string_view key) const {
  for (const auto& [k, v] : query)
    if (k == key) return std::string_view(v);
  return std::nullopt;
}

std::vector<std::string_view> environment::params(std::string_view key) const {
  std::vector<std::string_view> out;
  for (const auto& [k, v] : query)
    if (k == key) out.emplace_back(v);
  return out;
}

std::string_view environment::channel() const { return value_or_empty(*this, "agi_channel"); }
std::string_view environment::uniqueid() const { return value_or_empty(*this, "agi_uniqueid"); }
std::string_view environment::caller_id() const { return value_or_empty(*this, "agi_callerid"); }
std::string_view environment::caller_id_name() const { return value_or_empty(*this, "agi_calleridname"); }
std::string_view environment::language() const { return value_or_empty(*this, "agi_language"); }
std::string_view environment::type() const { return value_or_empty(*this, "agi_type"); }
std::string_view environment::context() const { return value_or_empty(*this, "agi_context"); }
std::string_view environment::extension() const { return value_or_empty(*this, "agi_extension"); }
std::string_view environment::priority() const { return value_or_empty(*this, "agi_priority"); }
std::string_view environment::dnid() const { return value_or_empty(*this, "agi_dnid"); }
std::string_view environment::rdnis() const { return value_or_empty(*this, "agi_rdnis"); }
std::string_view environment::account_code() const { return value_or_empty(*this, "agi_accountcode"); }
std::string_view environment::version() const { return value_or_empty(*this, "agi_version"); }
std::string_view environment::thread_id() const { return value_or_empty(*this, "agi_threadid"); }
bool environment::enhanced() const { return value_or_empty(*this, "agi_enhanced") == "1.0"; }

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(c);
  }
  return out;
}

void split_script(std::string_view script, environment& env) {
  auto qmark = script.find('?');
  std::string_view path = script.substr(0, qmark);
  std::string_view query = qmark == std::string_view::npos ? std::string_view{} : script.substr(qmark + 1);
  env.script_path.clear();
  if (path.empty() || path.front() != '/') env.script_path.push_back('/');
  env.script_path.append(path);
  env.query_string.assign(query);
  env.query.clear();
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    env.query.emplace_back(percent_decode(key), percent_decode(value));
  }
}

std::size_t environment_parser::feed(std::string_view bytes) {
  std::size_t used = 0;
  while (used < bytes.size() && !done_ && !error_) {
    std::string_view rest = bytes.substr(used);
    auto lf = rest.find('\n');
    std::size_t take = lf == std::string_view::npos ? rest.size() : lf + 1;
    if (total_bytes_ + take > max_environment_bytes) {
      fail(agi_errc::environment_too_large);
      break;
    }
    std::size_t line_len = partial_.size() + (lf == std::string_view::npos ? take : lf);
    if (line_len > max_line_bytes) {
      fail(agi_errc::line_too_long);
      break;
    }
    used += take;
    total_bytes_ += take;
    if (lf == std::string_view::npos) {
      partial_.append(rest.substr(0, take));
      break;
    }
    if (partial_.empty()) {
      finish_line(rest.substr(0, lf));
    } else {
      partial_.append(rest.substr(0, lf));
      std::string line = std::move(partial_);
      partial_.clear();
      finish_line(line);
    }
  }
  return used;
}

void environment_parser::finish_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) {
    finish_block();
    return;
  }
  if (env_.variables.size() >= max_variables) return fail(agi_errc::too_many_variables);
  auto colon = line.find(':');
  if (colon == std::string_view::npos || line.substr(0, agi_prefix.size()) != agi_prefix ||
      colon == agi_prefix.size())
    return fail(agi_errc::malformed_environment);
  std::string_view key = line.substr(0, colon);
  std::string_view value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (key.find(' ') != std::string_view::npos) return fail(agi_errc::malformed_environment);

  if (key.substr(0, arg_prefix.size()) == arg_prefix) {
    std::string_view digits = key.substr(arg_prefix.size());
    std::size_t index = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (ec != std::errc{} || end != digits.data() + digits.size() || index == 0 || index > max_variables)
      return fail(agi_errc::malformed_environment);
    if (env_.args.size() < index) env_.args.resize(index);
    env_.args[index - 1].assign(value);
  } else if (key == "agi_request") {
    env_.request.assign(value);
  } else if (key == "agi_network_script") {
    env_.script.assign(value);
  }
  env_.variables.emplace_back(std::string(key), std::string(value));
}

void environment_parser::finish_block() {
  if (env_.variables.empty()) return fail(agi_errc::malformed_environment);
  if (!env_.get("agi_network_script")) env_.script.assign(script_from_request(env_.request));
  split_script(env_.script, env_);
  // Held for the whole call: drop the growth slack (one parser per call, thousands of calls).
  env_.variables.shrink_to_fit();
  env_.query.shrink_to_fit();
  partial_.shrink_to_fit();
  done_ = true;
}

environment environment_parser::take() {
  environment out = std::move(env_);
  env_ = environment{};
  return out;
}

}  // namespace astra::agi
