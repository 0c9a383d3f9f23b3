#include "protocols/ari/request_build.hpp"

#include <charconv>

namespace astra::ari {
namespace detail {

namespace {
std::string qualified(std::string_view op, std::string_view name) {
  std::string s(op);
  s += ": ";
  s += name;
  return s;
}
}  // namespace

failure missing_param(std::string_view op, std::string_view name) {
  return failure{make_error_code(codec_errc::missing_required_param), qualified(op, name)};
}

failure unknown_param(std::string_view op, std::string_view name) {
  return failure{make_error_code(codec_errc::invalid_param_value), qualified(op, name) + ": unknown parameter"};
}

maybe_failure check_allowed(std::string_view op, std::string_view name, std::string_view value,
                            std::span<const std::string_view> allowed) {
  for (auto a : allowed)
    if (a == value) return std::nullopt;
  std::string detail = qualified(op, name) + ": \"" + std::string(value) + "\" is not one of ";
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    if (i) detail += ", ";
    detail += allowed[i];
  }
  return failure{make_error_code(codec_errc::invalid_param_value), std::move(detail)};
}

maybe_failure check_range(std::string_view op, std::string_view name, std::int64_t value,
                          std::optional<std::int64_t> min, std::optional<std::int64_t> max) {
  if ((min && value < *min) || (max && value > *max)) {
    std::string detail = qualified(op, name) + ": " + std::to_string(value) + " is outside [" +
                         (min ? std::to_string(*min) : std::string()) + ", " +
                         (max ? std::to_string(*max) : std::string()) + "]";
    return failure{make_error_code(codec_errc::invalid_param_value), std::move(detail)};
  }
  return std::nullopt;
}

maybe_failure check_list_items(std::string_view op, std::string_view name, const std::vector<std::string>& items) {
  for (const auto& item : items) {
    if (item.empty() || item.find(',') != std::string::npos)
      return failure{make_error_code(codec_errc::invalid_param_value),
                     qualified(op, name) + ": list items must be non-empty and contain no ','"};
  }
  return std::nullopt;
}

maybe_failure check_json(std::string_view op, std::string_view name, const raw_json& value) {
  json_reader r(value.text);
  if (value.text.empty() || !r.skip() || !r.at_end())
    return failure{make_error_code(codec_errc::invalid_param_value), qualified(op, name) + ": not one JSON value"};
  return std::nullopt;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += items[i];
  }
  return out;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    out.emplace_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::string wrap_body(std::string_view name, const raw_json& value) {
  std::string out = "{";
  append_json_string(out, name);
  out += ':';
  out += value.text;
  out += '}';
  return out;
}

maybe_failure parse_int(std::string_view op, std::string_view name, std::string_view text,
                        std::optional<std::int64_t>& out) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    return failure{make_error_code(codec_errc::invalid_param_value), qualified(op, name) + ": not an integer"};
  out = v;
  return std::nullopt;
}

maybe_failure parse_bool(std::string_view op, std::string_view name, std::string_view text, std::optional<bool>& out) {
  if (text == "true") out = true;
  else if (text == "false") out = false;
  else return failure{make_error_code(codec_errc::invalid_param_value), qualified(op, name) + ": not true/false"};
  return std::nullopt;
}

failure status_failure(operation_id id, int status, std::string_view body, std::string_view reason_phrase) {
  rest_error e = describe_error(id, status, body, reason_phrase);
  std::string detail = !e.message.empty() ? std::move(e.message)
                       : !e.reason.empty() ? std::move(e.reason)
                                           : std::string(reason_phrase);
  if (status >= 100 && status <= 599) return failure{make_http_status_error(status), std::move(detail)};
  return failure{make_error_code(codec_errc::unexpected_status), std::to_string(status) + " " + detail};
}

}  // namespace detail

std::string_view error_reason(operation_id id, int status) noexcept {
  for (const auto& e : info(id).errors)
    if (e.status == status) return e.reason;
  return {};
}

rest_error describe_error(operation_id id, int status, std::string_view body, std::string_view reason_phrase) {
  rest_error e;
  e.status = status;
  e.reason = std::string(error_reason(id, status));
  // Asterisk's error body: {"message": "..."}; anything else (HTML, empty) gives no message.
  json_reader r(body);
  if (r.begin_object() == json_reader::status::ok) {
    bool first = true;
    std::string_view key;
    while (r.next_key(first, key)) {
      if (key == "message") {
        std::string text;
        if (r.read(text) == json_reader::status::ok) e.message = std::move(text);
        break;
      }
      if (!r.skip()) break;
    }
  }
  return e;
}

std::optional<operation_match> find_operation(std::string_view method, std::string_view path) {
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (path.substr(0, 5) == "/ari/") path.remove_prefix(4);
  auto split = [](std::string_view p) {
    std::vector<std::string_view> segs;
    if (!p.empty() && p.front() == '/') p.remove_prefix(1);
    std::size_t start = 0;
    while (start <= p.size()) {
      std::size_t slash = p.find('/', start);
      if (slash == std::string_view::npos) slash = p.size();
      segs.push_back(p.substr(start, slash - start));
      start = slash + 1;
    }
    return segs;
  };
  const auto segs = split(path);
  std::optional<operation_match> best;
  int best_literals = -1;
  for (const auto& op : all_operations()) {
    if (op.method != method) continue;
    const auto tmpl = split(op.path_template);
    if (tmpl.size() != segs.size()) continue;
    int literals = 0;
    bool ok = true;
    operation_match m;
    m.op = &op;
    for (std::size_t i = 0; i < tmpl.size() && ok; ++i) {
      if (tmpl[i].size() > 2 && tmpl[i].front() == '{' && tmpl[i].back() == '}') {
        if (segs[i].empty()) ok = false;
        else m.path_params.emplace_back(std::string(tmpl[i].substr(1, tmpl[i].size() - 2)), percent_decode(segs[i]));
      } else if (tmpl[i] == segs[i]) {
        ++literals;
      } else {
        ok = false;
      }
    }
    if (ok && literals > best_literals) {
      best_literals = literals;
      best = std::move(m);
    }
  }
  return best;
}

}  // namespace astra::ari
