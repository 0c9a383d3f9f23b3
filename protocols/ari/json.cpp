#include "protocols/ari/json.hpp"

#include <charconv>
#include <cmath>
#include <cstring>

namespace astra::ari {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool read_hex4(std::string_view s, std::size_t at, unsigned& cp) noexcept {
  if (at + 4 > s.size()) return false;
  cp = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    int h = hex_value(s[at + i]);
    if (h < 0) return false;
    cp = cp * 16 + static_cast<unsigned>(h);
  }
  return true;
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::size_t utf8_sequence_length(const char* p, std::size_t n) noexcept {
  // Well-formed byte sequences, Unicode 15 table 3-7 (no overlongs, no surrogates, <= U+10FFFF).
  const auto b = [p](std::size_t i) noexcept { return static_cast<unsigned char>(p[i]); };
  const auto cont = [&b](std::size_t i) noexcept { return (b(i) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return n ? 1 : 0;
  if (c < 0xC2) return 0;  // continuation byte or overlong 2-byte lead
  if (c < 0xE0) return (n >= 2 && cont(1)) ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3 || !cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c < 0xF5) {
    if (n < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') continue;
    if (c >= 0x80) {
      std::size_t len = utf8_sequence_length(s.data() + i, s.size() - i);
      if (len != 0) { i += len - 1; continue; }
      out.append(s.data() + run, i - run);  // ill-formed byte: U+FFFD, so the output stays UTF-8
      run = i + 1;
      out += "\xEF\xBF\xBD";
      continue;
    }
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

raw_json make_string_map(const std::vector<std::pair<std::string, std::string>>& pairs) {
  raw_json r;
  json_writer w(r.text);
  w.begin_object();
  for (const auto& [k, v] : pairs) {
    w.key(k);
    w.value(v);
  }
  w.end_object();
  return r;
}

// ---------------------------------------------------------------- reader

json_reader::status json_reader::begin_object() noexcept {
  if (failed()) return status::error;
  skip_ws();
  if (pos_ >= in_.size()) { fail(error_kind::syntax); return status::error; }
  if (in_[pos_] != '{') return status::mismatch;
  ++pos_;
  return status::ok;
}

json_reader::status json_reader::begin_array() noexcept {
  if (failed()) return status::error;
  skip_ws();
  if (pos_ >= in_.size()) { fail(error_kind::syntax); return status::error; }
  if (in_[pos_] != '[') return status::mismatch;
  ++pos_;
  return status::ok;
}

bool json_reader::next_key(bool& first, std::string_view& key) {
  if (failed()) return false;
  skip_ws();
  if (pos_ >= in_.size()) { fail(error_kind::syntax); return false; }
  if (in_[pos_] == '}') { ++pos_; return false; }
  if (!first) {
    if (in_[pos_] != ',') { fail(error_kind::syntax); return false; }
    ++pos_;
    skip_ws();
  }
  first = false;
  if (pos_ >= in_.size() || in_[pos_] != '"') { fail(error_kind::syntax); return false; }
  std::size_t start = pos_ + 1;
  bool escaped = false;
  if (!scan_string(escaped)) return false;
  std::string_view body = in_.substr(start, pos_ - 1 - start);
  if (escaped) {
    key_scratch_.clear();
    if (!unescape(body, key_scratch_)) return false;
    key = key_scratch_;
  } else {
    key = body;
  }
  skip_ws();
  if (pos_ >= in_.size() || in_[pos_] != ':') { fail(error_kind::syntax); return false; }
  ++pos_;
  return true;
}

bool json_reader::next_element(bool& first) noexcept {
  if (failed()) return false;
  skip_ws();
  if (pos_ >= in_.size()) { fail(error_kind::syntax); return false; }
  if (in_[pos_] == ']') { ++pos_; return false; }
  if (!first) {
    if (in_[pos_] != ',') { fail(error_kind::syntax); return false; }
    ++pos_;
  }
  first = false;
  return true;
}

bool json_reader::scan_string(bool& has_escape) noexcept {
  // pos_ at the opening quote.
  ++pos_;
  const char* data = in_.data();
  const std::size_t n = in_.size();
  while (pos_ < n) {
    unsigned char c = static_cast<unsigned char>(data[pos_]);
    if (c == '"') { ++pos_; return true; }
    if (c < 0x20) { fail(error_kind::syntax); return false; }
    if (c >= 0x80) {  // slow path only for non-ASCII: must be well-formed UTF-8
      std::size_t len = utf8_sequence_length(data + pos_, n - pos_);
      if (len == 0) { fail(error_kind::syntax); return false; }
      pos_ += len;
      continue;
    }
    if (c == '\\') {
      has_escape = true;
      if (pos_ + 1 >= n) break;
      char e = data[pos_ + 1];
      if (e == 'u') {
        unsigned cp;
        if (!read_hex4(in_, pos_ + 2, cp)) { fail(error_kind::syntax); return false; }
        if (cp >= 0xDC00 && cp <= 0xDFFF) { fail(error_kind::syntax); return false; }  // lone low surrogate
        if (cp >= 0xD800 && cp <= 0xDBFF) {  // must be followed by an escaped low surrogate
          unsigned low;
          if (pos_ + 12 > n || data[pos_ + 6] != '\\' || data[pos_ + 7] != 'u' || !read_hex4(in_, pos_ + 8, low) ||
              low < 0xDC00 || low > 0xDFFF) {
            fail(error_kind::syntax);
            return false;
          }
          pos_ += 12;
          continue;
        }
        pos_ += 6;
        continue;
      }
      if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') {
        fail(error_kind::syntax);
        return false;
      }
      pos_ += 2;
      continue;
    }
    ++pos_;
  }
  fail(error_kind::syntax);  // unterminated
  return false;
}

bool json_reader::unescape(std::string_view body, std::string& out) {
  out.reserve(out.size() + body.size());
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\') { out += c; continue; }
    char e = body[++i];  // scan_string guaranteed a valid escape follows
    switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        unsigned cp = 0;
        read_hex4(body, i + 1, cp);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned low = 0;
          if (i + 6 < body.size() && body[i + 1] == '\\' && body[i + 2] == 'u' && read_hex4(body, i + 3, low) &&
              low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            i += 6;
          } else {
            fail(error_kind::syntax);  // lone high surrogate
            return false;
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          fail(error_kind::syntax);  // lone low surrogate
          return false;
        }
        append_utf8(out, cp);
        break;
      }
      default:
        fail(error_kind::syntax);
        return false;
    }
  }
  return true;
}

bool json_reader::scan_number(bool& is_integer) noexcept {
  const std::size_t n = in_.size();
  is_integer = true;
  if (pos_ < n && in_[pos_] == '-') ++pos_;
  if (pos_ >= n) { fail(error_kind::syntax); return false; }
  if (in_[pos_] == '0') {
    ++pos_;
  } else if (in_[pos_] >= '1' && in_[pos_] <= '9') {
    while (pos_ < n && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
  } else {
    fail(error_kind::syntax);
    return false;
  }
  if (pos_ < n && in_[pos_] == '.') {
    is_integer = false;
    ++pos_;
    std::size_t digits = pos_;
    while (pos_ < n && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
    if (pos_ == digits) { fail(error_kind::syntax); return false; }
  }
  if (pos_ < n && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
    is_integer = false;
    ++pos_;
    if (pos_ < n && (in_[pos_] == '+' || in_[pos_] == '-')) ++pos_;
    std::size_t digits = pos_;
    while (pos_ < n && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
    if (pos_ == digits) { fail(error_kind::syntax); return false; }
  }
  return true;
}

bool json_reader::scan_literal(std::string_view word) noexcept {
  if (in_.substr(pos_, word.size()) != word) { fail(error_kind::syntax); return false; }
  pos_ += word.size();
  return true;
}

json_reader::status json_reader::read(std::string& out) {
  if (failed()) return status::error;
  skip_ws();
  if (pos_ >= in_.size()) { fail(error_kind::syntax); return status::error; }
  if (in_[pos_] != '"') return status::mismatch;
  std::size_t start = pos_ + 1;
  bool escaped = false;
  if (!scan_string(escaped)) return status::error;
  std::string_view body = in_.substr(start, pos_ - 1 - start);
  if (!escaped) {
    out.assign(body.data(), body.size());
    return status::ok;
  }
  out.clear();
  return unescape(body, out) ? status::ok : status::error;
}

json_reader::status json_reader::read(std::int64_t& out) noexcept {
  if (failed()) return status::error;
  skip_ws();
  if (pos_ >= in_.size()) { fail(error_kind::syntax); return status::error; }
  char c = in_[pos_];
  if (c != '-' && (c < '0' || c > '9')) return status::mismatch;
  std::size_t start = pos_;
  bool integer = false;
  if (!scan_number(integer)) return status::error;
  if (!integer) { pos_ = start; return status::mismatch; }
  auto [end, ec] = std::from_chars(in_.data() + start, in_.data() + pos_, out);
  if (ec != std::errc{} || end != in_.data() + pos_) { pos_ = start; return status::mismatch; }  // out of range
  return status::ok;
}

json_reader::status json_reader::read(double& out) noexcept {
  if (failed()) return status::error;
  skip_ws();
  if (pos_ >= in_.size()) { fail(error_kind::syntax); return status::error; }
  char c = in_[pos_];
  if (c != '-' && (c < '0' || c > '9')) return status::mismatch;
  std::size_t start = pos_;
  bool integer = false;
  if (!scan_number(integer)) return status::error;
  auto [end, ec] = std::from_chars(in_.data() + start, in_.data() + pos_, out);
  if (ec != std::errc{} || end != in_.data() + pos_) { pos_ = start; return status::mismatch; }
  return status::ok;
}

json_reader::status json_reader::read(bool& out) noexcept {
  if (failed()) return status::error;
  skip_ws();
  if (pos_ >= in_.size()) { fail(error_kind::syntax); return status::error; }
  char c = in_[pos_];
  if (c == 't') { if (!scan_literal("true")) return status::error; out = true; return status::ok; }
  if (c == 'f') { if (!scan_literal("false")) return status::error; out = false; return status::ok; }
  return status::mismatch;
}

bool json_reader::skip(std::string_view* raw) noexcept {
  if (failed()) return false;
  skip_ws();
  const std::size_t start = pos_;
  char stack[max_depth];
  std::size_t depth = 0;
  const std::size_t n = in_.size();
  for (;;) {
    // A value starts here.
    skip_ws();
    if (pos_ >= n) { fail(error_kind::syntax); return false; }
    char c = in_[pos_];
    bool container_opened = false;
    if (c == '{' || c == '[') {
      if (depth == max_depth) { fail(error_kind::too_deep); return false; }
      stack[depth++] = c;
      ++pos_;
      skip_ws();
      if (pos_ >= n) { fail(error_kind::syntax); return false; }
      if ((c == '{' && in_[pos_] == '}') || (c == '[' && in_[pos_] == ']')) {
        ++pos_;
        --depth;
      } else {
        container_opened = true;
        if (c == '{') {
          if (in_[pos_] != '"') { fail(error_kind::syntax); return false; }
          bool esc = false;
          if (!scan_string(esc)) return false;
          skip_ws();
          if (pos_ >= n || in_[pos_] != ':') { fail(error_kind::syntax); return false; }
          ++pos_;
        }
      }
    } else if (c == '"') {
      bool esc = false;
      if (!scan_string(esc)) return false;
    } else if (c == 't') {
      if (!scan_literal("true")) return false;
    } else if (c == 'f') {
      if (!scan_literal("false")) return false;
    } else if (c == 'n') {
      if (!scan_literal("null")) return false;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      bool integer = false;
      if (!scan_number(integer)) return false;
    } else {
      fail(error_kind::syntax);
      return false;
    }
    if (container_opened) continue;  // read the first member / element value
    // After a complete value: close containers or move to the next member / element.
    bool next_value = false;
    while (depth > 0 && !next_value) {
      skip_ws();
      if (pos_ >= n) { fail(error_kind::syntax); return false; }
      char d = in_[pos_];
      if (d == ',') {
        ++pos_;
        if (stack[depth - 1] == '{') {
          skip_ws();
          if (pos_ >= n || in_[pos_] != '"') { fail(error_kind::syntax); return false; }
          bool esc = false;
          if (!scan_string(esc)) return false;
          skip_ws();
          if (pos_ >= n || in_[pos_] != ':') { fail(error_kind::syntax); return false; }
          ++pos_;
        }
        next_value = true;
      } else if ((d == '}' && stack[depth - 1] == '{') || (d == ']' && stack[depth - 1] == '[')) {
        ++pos_;
        --depth;
      } else {
        fail(error_kind::syntax);
        return false;
      }
    }
    if (!next_value) break;
  }
  if (raw) *raw = in_.substr(start, pos_ - start);
  return true;
}

// ---------------------------------------------------------------- writer

void json_writer::value(std::int64_t v) {
  comma();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, end);
  need_comma_ = true;
}

void json_writer::value(double v) {
  comma();
  if (!std::isfinite(v)) {
    out_ += "null";  // JSON has no NaN / infinity
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, end);
  }
  need_comma_ = true;
}

void json_writer::members_of(std::string_view object_text) {
  if (object_text.size() <= 2) return;  // "" or "{}"
  comma();
  out_.append(object_text.data() + 1, object_text.size() - 2);
  need_comma_ = true;
}

}  // namespace astra::ari
