#include "protocols/agi/async.hpp"

#include <algorithm>

#include "protocols/agi/limits.hpp"

namespace astra::agi::async {

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "agi_arg_<N>" -> N (>= 1), else 0.
std::size_t arg_number(std::string_view key) noexcept {
  constexpr std::string_view prefix = "agi_arg_";
  if (key.substr(0, prefix.size()) != prefix || key.size() == prefix.size() || key.size() > prefix.size() + 4) return 0;
  std::size_t n = 0;
  for (char c : key.substr(prefix.size())) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

}  // namespace

astra::result<std::string> url_decode(std::string_view text, std::size_t max_bytes, agi_errc error_code) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      const int hi = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) return failure{make_error_code(error_code), "bad percent escape at offset " + std::to_string(i)};
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (out.size() >= max_bytes)
      return failure{make_error_code(error_code), "decoded text exceeds " + std::to_string(max_bytes) + " bytes"};
    out.push_back(c);
  }
  return out;
}

astra::result<environment> decode_env(std::string_view env_field) {
  auto text = url_decode(env_field, max_environment_bytes, agi_errc::malformed_environment);
  if (!text) return text.error();
  environment_parser parser;
  const std::size_t used = parser.feed(*text);
  if (parser.error()) return failure{parser.error(), "in AsyncAGIStart Env"};
  if (!parser.done()) return failure{make_error_code(agi_errc::malformed_environment), "Env ends inside the agi_* block"};
  if (used != text->size())
    return failure{make_error_code(agi_errc::malformed_environment), "bytes after the end of the agi_* block in Env"};
  environment env = parser.take();

  // The route: the first argument.
  std::string route = env.args.empty() ? std::string() : env.args.front();
  while (!route.empty() && route.front() == '/') route.erase(route.begin());
  env.script = route;
  split_script(route, env);
  if (!env.args.empty()) env.args.erase(env.args.begin());
  std::vector<std::pair<std::string, std::string>> variables;
  variables.reserve(env.variables.size());
  for (auto& [key, value] : env.variables) {
    const std::size_t n = arg_number(key);
    if (n == 1) continue;
    if (n > 1) {
      variables.emplace_back("agi_arg_" + std::to_string(n - 1), std::move(value));
      continue;
    }
    variables.emplace_back(std::move(key), std::move(value));
  }
  env.variables = std::move(variables);
  return env;
}

astra::result<std::vector<reply_event>> decode_result(std::string_view result_field) {
  auto text = url_decode(result_field, max_reply_bytes, agi_errc::malformed_reply);
  if (!text) return text.error();
  std::vector<reply_event> events;
  reply_parser parser;
  std::string_view in = *text;
  while (true) {
    in.remove_prefix(parser.feed(in));
    bool progressed = false;
    while (auto e = parser.next()) {
      if (!*e) return e->error();
      events.push_back(std::move(**e));
      progressed = true;
    }
    if (parser.error()) return failure{parser.error(), "in AsyncAGIExec Result"};
    if (in.empty() || !progressed) break;
  }
  if (!in.empty() || parser.mid_reply())
    return failure{make_error_code(agi_errc::malformed_reply), "AsyncAGIExec Result ends inside a reply"};
  if (events.empty()) return failure{make_error_code(agi_errc::malformed_reply), "AsyncAGIExec Result holds no reply"};
  return events;
}

}  // namespace astra::agi::async
