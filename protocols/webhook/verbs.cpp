#include "protocols/webhook/verbs.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>

#include <nlohmann/json.hpp>

namespace astra::webhook {

namespace {

using json = nlohmann::json;

failure fail(webhook_errc e, std::string detail) { return failure{make_error_code(e), std::move(detail)}; }

// Nesting depth of a JSON text (strings skipped), so that a hostile body cannot make the
// parser or the document's destructor recurse deeply. Stops counting past `limit`.
std::size_t depth_of(std::string_view text, std::size_t limit) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::optional<json> parse(std::string_view text, failure& error) {
  if (depth_of(text, max_json_depth) > max_json_depth) {
    error = fail(webhook_errc::not_json, "nested deeper than " + std::to_string(max_json_depth) + " levels");
    return std::nullopt;
  }
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    error = fail(webhook_errc::not_json, "invalid JSON");
    return std::nullopt;
  }
  return doc;
}

// Reads the arguments of one verb; the first problem is kept in `error`.
class args {
 public:
  args(std::string_view verb, const json& object) : verb_(verb), object_(object) {}

  bool ok() const { return !error_; }
  failure take_error() { return std::move(*error_); }

  // Fails on any key not in `known` (a typo must not pass silently).
  void only(std::initializer_list<std::string_view> known) {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      bool found = false;
      for (auto k : known) found = found || it.key() == k;
      if (!found) bad(it.key(), "unknown argument");
    }
  }

  std::string text(std::string_view key, bool required, std::string fallback = {}) {
    auto it = object_.find(std::string(key));
    if (it == object_.end() || it->is_null()) {
      if (required) bad(key, "is required");
      return fallback;
    }
    if (it->is_number_integer() || it->is_number_unsigned()) return it->dump();  // "priority": 1, "cause": 17
    if (!it->is_string()) {
      bad(key, "expected a string");
      return fallback;
    }
    return checked_text(key, it->get<std::string>(), required);
  }

  std::string checked_text(std::string_view key, std::string value, bool required) {
    if (value.size() > max_text_bytes) bad(key, "longer than " + std::to_string(max_text_bytes) + " bytes");
    else if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) bad(key, "contains CR, LF or NUL");
    else if (required && value.empty()) bad(key, "must not be empty");
    return value;
  }

  std::string digits(std::string_view key, std::string fallback = {}) {
    std::string v = text(key, false, std::move(fallback));
    if (v.find_first_not_of("0123456789*#ABCDabcd") != std::string::npos) bad(key, "expected DTMF digits (0-9 * # A-D)");
    return v;
  }

  millis duration(std::string_view key, millis fallback) {
    auto it = object_.find(std::string(key));
    if (it == object_.end() || it->is_null()) return fallback;
    std::optional<millis> v;
    if (it->is_number()) {
      const double seconds = it->get<double>();
      if (std::isfinite(seconds) && seconds >= 0 && seconds <= max_duration.count() / 1000.0)
        v = millis(static_cast<long long>(std::llround(seconds * 1000)));
    } else if (it->is_string()) {
      if (auto r = parse_duration(it->get<std::string>())) v = *r;
    }
    if (!v || *v > max_duration) {
      bad(key, "expected a duration (\"5s\", \"250ms\" or seconds) up to 1h");
      return fallback;
    }
    return *v;
  }

  std::size_t count(std::string_view key, std::size_t fallback, std::size_t low, std::size_t high) {
    auto it = object_.find(std::string(key));
    if (it == object_.end() || it->is_null()) return fallback;
    if (!it->is_number_integer() && !it->is_number_unsigned()) {
      bad(key, "expected an integer");
      return fallback;
    }
    const auto v = it->get<long long>();
    if (v < static_cast<long long>(low) || v > static_cast<long long>(high)) {
      bad(key, "expected " + std::to_string(low) + ".." + std::to_string(high));
      return fallback;
    }
    return static_cast<std::size_t>(v);
  }

  bool flag(std::string_view key, bool fallback) {
    auto it = object_.find(std::string(key));
    if (it == object_.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) {
      bad(key, "expected true or false");
      return fallback;
    }
    return it->get<bool>();
  }

  std::string url(std::string_view key, bool required) {
    std::string v = text(key, required);
    if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) bad(key, "expected an http:// or https:// URL");
    return v;
  }

  const json* member(std::string_view key) const {
    auto it = object_.find(std::string(key));
    return it == object_.end() ? nullptr : &*it;
  }

  void bad(std::string_view key, std::string why) {
    if (!error_) error_ = fail(webhook_errc::bad_argument, std::string(verb_) + "." + std::string(key) + ": " + why);
  }

 private:
  std::string_view verb_;
  const json& object_;
  std::optional<failure> error_;
};

std::string variable_name(args& a, std::string_view key, const std::string& name) {
  if (name.empty() || name.size() > 80 || name.find_first_of(std::string_view("\r\n\0 \"", 5)) != std::string::npos)
    a.bad(key, "bad variable name \"" + name.substr(0, 80) + "\"");
  return name;
}

result<verb> decode_verb(const json& element, std::size_t index) {
  const std::string where = "verbs[" + std::to_string(index) + "]";
  if (!element.is_object() || element.size() != 1)
    return fail(webhook_errc::bad_verb, where + ": expected an object with exactly one key, the verb's name");
  const std::string& name = element.begin().key();
  const json& value = element.begin().value();
  if (!value.is_object() && !value.is_null())
    return fail(webhook_errc::bad_argument, where + " (" + name + "): arguments must be an object");
  static const json empty = json::object();
  args a(name, value.is_null() ? empty : value);
  verb out;
  if (name == "answer") {
    a.only({});
    out = answer{};
  } else if (name == "play") {
    a.only({"file", "interrupt_digits"});
    out = play{a.text("file", true), a.digits("interrupt_digits")};
  } else if (name == "say") {
    a.only({"digits", "number", "characters", "interrupt_digits"});
    say s;
    int given = 0;
    if (a.member("digits")) {
      ++given;
      s.what = say::kind::digits;
      s.text = a.digits("digits");
      if (s.text.empty()) a.bad("digits", "must not be empty");
    }
    if (a.member("number")) {
      ++given;
      s.what = say::kind::number;
      s.text = a.text("number", true);
      if (s.text.find_first_not_of("-0123456789") != std::string::npos || s.text.size() > 18) a.bad("number", "expected an integer");
    }
    if (a.member("characters")) {
      ++given;
      s.what = say::kind::characters;
      s.text = a.text("characters", true);
    }
    if (given != 1) a.bad("digits", "exactly one of digits, number, characters is required");
    s.interrupt_digits = a.digits("interrupt_digits");
    out = std::move(s);
  } else if (name == "gather") {
    a.only({"play", "max_digits", "timeout", "inter_digit_timeout", "finish_on", "action"});
    gather g;
    g.play = a.text("play", false);
    g.max_digits = a.count("max_digits", 1, 1, max_gather_digits);
    g.timeout = a.duration("timeout", g.timeout);
    g.inter_digit_timeout = a.duration("inter_digit_timeout", g.inter_digit_timeout);
    g.finish_on = a.digits("finish_on", "#");
    g.action = a.url("action", false);
    out = std::move(g);
  } else if (name == "record") {
    a.only({"file", "format", "max_seconds", "max_silence", "beep", "action"});
    record r;
    r.file = a.text("file", true);
    r.format = a.text("format", false, "wav");
    if (r.format.empty() || r.format.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") != std::string::npos)
      a.bad("format", "expected a format name such as wav, gsm, ulaw");
    r.max_duration = a.duration("max_seconds", r.max_duration);
    r.max_silence = a.duration("max_silence", r.max_silence);
    r.beep = a.flag("beep", true);
    r.action = a.url("action", false);
    out = std::move(r);
  } else if (name == "set") {
    a.only({"variables"});
    set s;
    const json* vars = a.member("variables");
    if (!vars || !vars->is_object() || vars->empty()) a.bad("variables", "expected a non-empty object of NAME: value");
    else if (vars->size() > max_variables) a.bad("variables", "more than " + std::to_string(max_variables));
    else
      for (auto it = vars->begin(); it != vars->end() && a.ok(); ++it) {
        std::string value;
        if (it->is_string()) value = a.checked_text("variables", it->get<std::string>(), false);
        else if (it->is_number() || it->is_boolean()) value = it->dump();
        else a.bad("variables", "value of " + it.key().substr(0, 80) + " must be a string or number");
        s.variables[variable_name(a, "variables", it.key())] = std::move(value);
      }
    out = std::move(s);
  } else if (name == "get") {
    a.only({"variables", "action"});
    get g;
    const json* vars = a.member("variables");
    if (!vars || !vars->is_array() || vars->empty()) a.bad("variables", "expected a non-empty list of names");
    else if (vars->size() > max_variables) a.bad("variables", "more than " + std::to_string(max_variables));
    else
      for (const auto& v : *vars) {
        if (!v.is_string()) {
          a.bad("variables", "names must be strings");
          break;
        }
        g.variables.push_back(variable_name(a, "variables", v.get<std::string>()));
      }
    g.action = a.url("action", false);
    out = std::move(g);
  } else if (name == "dial") {
    a.only({"endpoint", "timeout", "caller_id", "action"});
    dial d;
    d.endpoint = a.text("endpoint", true);
    if (d.endpoint.find('/') == std::string::npos || d.endpoint.find_first_of(",|&") != std::string::npos)
      a.bad("endpoint", "expected TECH/resource (e.g. PJSIP/alice), one endpoint");
    d.timeout = a.duration("timeout", d.timeout);
    d.caller_id = a.text("caller_id", false);
    d.action = a.url("action", false);
    out = std::move(d);
  } else if (name == "pause") {
    a.only({"seconds"});
    out = pause{a.duration("seconds", millis(1'000))};
  } else if (name == "continue") {
    a.only({"context", "extension", "priority"});
    continue_ c;
    c.context = a.text("context", false);
    c.extension = a.text("extension", false);
    c.priority = a.text("priority", false);
    if (c.context.find_first_of(", ") != std::string::npos || c.extension.find_first_of(", ") != std::string::npos ||
        c.priority.find_first_of(", ") != std::string::npos)
      a.bad("context", "context, extension and priority must not contain ',' or spaces");
    out = std::move(c);
  } else if (name == "hangup") {
    a.only({"cause"});
    hangup h{a.text("cause", false)};
    if (!h.cause.empty() && (h.cause.find_first_not_of("0123456789") != std::string::npos || h.cause.size() > 3))
      a.bad("cause", "expected a Q.850 cause number (e.g. 16, 17, 21)");
    out = std::move(h);
  } else if (name == "redirect") {
    a.only({"url"});
    out = redirect{a.url("url", true)};
  } else {
    return fail(webhook_errc::unknown_verb, where + ": " + name.substr(0, 64));
  }
  if (!a.ok()) {
    failure f = a.take_error();
    f.detail = where + ": " + f.detail;
    return f;
  }
  return out;
}

result<std::vector<verb>> decode_array(const json& list) {
  if (!list.is_array()) return fail(webhook_errc::bad_reply, "\"verbs\" must be a list");
  if (list.size() > max_verbs) return fail(webhook_errc::too_many_verbs, std::to_string(list.size()) + " verbs (limit " + std::to_string(max_verbs) + ")");
  std::vector<verb> out;
  out.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto v = decode_verb(list[i], i);
    if (!v) return v.error();
    out.push_back(std::move(*v));
  }
  return out;
}

}  // namespace

std::string_view name_of(const verb& v) noexcept { return verb_names()[v.index()]; }

const std::vector<std::string_view>& verb_names() {
  static const std::vector<std::string_view> names = {"answer", "play",  "say",      "gather", "record", "set",
                                                      "get",    "dial",  "pause",    "continue", "hangup", "redirect"};
  return names;
}

std::string_view action_of(const verb& v) noexcept {
  if (auto* g = std::get_if<gather>(&v)) return g->action;
  if (auto* r = std::get_if<record>(&v)) return r->action;
  if (auto* g = std::get_if<get>(&v)) return g->action;
  if (auto* d = std::get_if<dial>(&v)) return d->action;
  return {};
}

result<std::vector<verb>> decode_reply(std::string_view body) {
  failure error;
  auto doc = parse(body, error);
  if (!doc) return error;
  if (!doc->is_object()) return fail(webhook_errc::bad_reply, "expected a JSON object with a \"verbs\" list");
  auto it = doc->find("verbs");
  if (it == doc->end()) return fail(webhook_errc::bad_reply, "no \"verbs\" key");
  return decode_array(*it);
}

result<std::vector<verb>> decode_list(std::string_view json_array) {
  failure error;
  auto doc = parse(json_array, error);
  if (!doc) return error;
  return decode_array(*doc);
}

result<millis> parse_duration(std::string_view text) {
  if (text.empty() || text.size() > 32) return fail(webhook_errc::bad_argument, "empty or too long duration");
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  const std::string number(text.substr(0, i));
  const std::string_view unit = text.substr(i);
  if (number.empty() || number.find_first_of('.') != number.find_last_of('.') || number == ".")
    return fail(webhook_errc::bad_argument, "bad duration \"" + std::string(text) + "\"");
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  double scale;
  if (unit.empty() || unit == "s") scale = 1000;
  else if (unit == "ms") scale = 1;
  else if (unit == "m") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  else return fail(webhook_errc::bad_argument, "bad duration unit in \"" + std::string(text) + "\" (ms, s, m, h)");
  const double ms = value * scale;
  if (!std::isfinite(ms) || ms < 0 || ms > static_cast<double>(max_duration.count()))
    return fail(webhook_errc::bad_argument, "duration \"" + std::string(text) + "\" out of range (up to 1h)");
  return millis(static_cast<long long>(std::llround(ms)));
}

}  // namespace astra::webhook
