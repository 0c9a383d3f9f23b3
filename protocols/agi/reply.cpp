#include "protocols/agi/reply.hpp"

#include <charconv>

namespace astra::agi {
namespace {

// Real replies have at most a few ')' after their (data) (SPEECH RECOGNIZE's quoted text0=...).
constexpr std::size_t max_data_close_candidates = 16;

bool is_key_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// " key=value key2=\"quoted value\"" (leading spaces allowed) -> pairs; nullopt if `text`
// holds anything else. Empty text -> empty vector.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_extras(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (true) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i == text.size()) return out;
    std::size_t key_begin = i;
    while (i < text.size() && is_key_char(text[i])) ++i;
    if (i == key_begin || i == text.size() || text[i] != '=') return std::nullopt;
    std::string key(text.substr(key_begin, i - key_begin));
    ++i;  // '='
    std::string value;
    if (i < text.size() && text[i] == '"') {
      auto close = text.find('"', i + 1);
      if (close == std::string_view::npos) return std::nullopt;
      value.assign(text.substr(i + 1, close - i - 1));
      i = close + 1;
      if (i < text.size() && text[i] != ' ') return std::nullopt;
    } else {
      auto space = text.find(' ', i);
      if (space == std::string_view::npos) space = text.size();
      value.assign(text.substr(i, space - i));
      i = space;
    }
    out.emplace_back(std::move(key), std::move(value));
  }
}

}  // namespace

std::optional<long> reply::result_int() const {
  if (result.empty()) return std::nullopt;
  long v = 0;
  auto [end, ec] = std::from_chars(result.data(), result.data() + result.size(), v);
  if (ec != std::errc{} || end != result.data() + result.size()) return std::nullopt;
  return v;
}

std::optional<std::string_view> reply::extra(std::string_view key) const {
  for (const auto& [k, v] : extras)
    if (k == key) return std::string_view(v);
  return std::nullopt;
}

astra::result<reply> parse_reply_line(std::string_view line) {
  auto malformed = [&] {
    return astra::result<reply>(make_error_code(agi_errc::malformed_reply), std::string(line.substr(0, 120)));
  };
  if (line.size() < 3) return malformed();
  reply r;
  for (int k = 0; k < 3; ++k) {
    if (line[k] < '0' || line[k] > '9') return malformed();
    r.code = r.code * 10 + (line[k] - '0');
  }
  r.raw.assign(line);
  if (line.size() == 3) return r;
  if (line[3] != ' ' && line[3] != '-') return malformed();
  std::string_view rest = line.substr(4);
  constexpr std::string_view result_key = "result=";
  if (rest.substr(0, result_key.size()) != result_key) {
    r.text.assign(rest);
    return r;
  }
  rest.remove_prefix(result_key.size());
  auto space = rest.find(' ');
  r.result.assign(rest.substr(0, space));
  rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
  if (rest.empty()) return r;
  if (rest.front() == '(') {
    // (data) may hold spaces and ')': it ends at the rightmost ')' after which only
    // key=value pairs follow (Asterisk puts free-form values last, e.g. GET VARIABLE). At most
    // max_data_close_candidates ')' are tried, keeping the cost linear in the line length.
    std::size_t tries = 0;
    for (auto close = rest.rfind(')'); close != std::string_view::npos && close > 0 && tries < max_data_close_candidates;
         close = rest.rfind(')', close - 1), ++tries) {
      if (auto extras = parse_extras(rest.substr(close + 1))) {
        r.data.emplace(rest.substr(1, close - 1));
        r.extras = std::move(*extras);
        return r;
      }
    }
    r.text.assign(rest);  // unbalanced '(' : keep the words as free text
    return r;
  }
  if (auto extras = parse_extras(rest)) {
    r.extras = std::move(*extras);
  } else {
    r.text.assign(rest);
  }
  return r;
}

void reply_parser::fail(agi_errc code, std::string detail) {
  error_ = make_error_code(code);
  error_detail_ = std::move(detail);
  partial_.clear();
  partial_.shrink_to_fit();
  usage_reply_.reset();
}

std::size_t reply_parser::feed(std::string_view bytes) {
  if (error_) return bytes.size();  // finished: discard
  std::size_t used = 0;
  while (used < bytes.size() && !pending_ && !error_) {
    std::string_view rest = bytes.substr(used);
    auto lf = rest.find('\n');
    std::size_t segment = lf == std::string_view::npos ? rest.size() : lf;
    if (partial_.size() + segment > max_line_bytes) {
      fail(agi_errc::line_too_long, std::to_string(partial_.size() + segment) + " bytes without LF");
      return bytes.size();
    }
    if (lf == std::string_view::npos) {
      partial_.append(rest);
      used = bytes.size();
      break;
    }
    used += lf + 1;
    if (partial_.empty()) {
      finish_line(rest.substr(0, lf));
    } else {
      partial_.append(rest.substr(0, lf));
      std::string line = std::move(partial_);
      partial_.clear();
      finish_line(line);
    }
  }
  if (error_) return bytes.size();
  return used;
}

void reply_parser::finish_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (usage_reply_) {
    usage_reply_->raw.push_back('\n');
    usage_reply_->raw.append(line);
    if (line.substr(0, 4) == "520 " || line == "520") {
      usage_bytes_ = 0;
      pending_.emplace(reply_event{reply_event::final_reply, std::move(*usage_reply_)});
      usage_reply_.reset();
      return;
    }
    usage_bytes_ += line.size() + 1;
    if (usage_reply_->usage.size() >= max_usage_lines || usage_bytes_ > max_reply_bytes)
      return fail(agi_errc::reply_too_large, "520 usage text");
    usage_reply_->usage.emplace_back(line);
    return;
  }
  if (line.empty()) return;  // tolerated between replies
  if (line == "HANGUP") {
    reply r;
    r.raw = "HANGUP";
    pending_.emplace(reply_event{reply_event::hangup_notice, std::move(r)});
    return;
  }
  if (line.substr(0, 4) == "520-") {
    usage_bytes_ = line.size() + 1;
    usage_reply_ = std::make_unique<reply>();
    usage_reply_->code = 520;
    usage_reply_->text.assign(line.substr(4));
    usage_reply_->raw.assign(line);
    return;
  }
  auto parsed = parse_reply_line(line);
  if (!parsed) return fail(agi_errc::malformed_reply, parsed.error().detail);
  auto kind = parsed->code >= 100 && parsed->code < 200 ? reply_event::provisional : reply_event::final_reply;
  pending_.emplace(reply_event{kind, std::move(parsed.value())});
}

std::optional<astra::result<reply_event>> reply_parser::next() {
  if (pending_) {
    auto out = std::move(*pending_);
    pending_.reset();
    return astra::result<reply_event>(std::move(out));
  }
  if (error_ && !error_reported_) {
    error_reported_ = true;
    return astra::result<reply_event>(error_, error_detail_);
  }
  return std::nullopt;
}

}  // namespace astra::agi
