#pragma once
// Minimal, allocation-light JSON pull reader and compact writer used by the generated ARI
// models (no nlohmann in headers, no DOM on the hot event path).
//
// Contracts:
//  - json_reader never reads outside the given text and never recurses deeper than
//    max_depth; bad input sets a sticky error (failed()) and every later call returns false.
//  - Typed reads return status::mismatch (and consume nothing) when the next value is
//    well-formed JSON of another type; callers keep such values verbatim (see raw_json).
//  - JSON text must be UTF-8 (RFC 8259 8.1): every string (keys, values, and strings inside
//    skipped/raw values) must be well-formed UTF-8 and its \u escapes must not encode a lone
//    surrogate; otherwise the reader fails with error_kind::syntax (codec_errc::invalid_json).
//    Non-ASCII bytes take a slow path; pure-ASCII text is checked at no extra cost.
//  - Strings are unescaped to UTF-8 (surrogate pairs joined); other bytes pass through.
//  - json_writer appends compact JSON to a caller-owned std::string; append_json_string writes
//    each ill-formed UTF-8 byte of its input as U+FFFD, so the output is always valid JSON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace astra::ari {

// One JSON value kept verbatim (spec type "object", List[object] items, operation bodies,
// unknown events). `text` is the exact JSON text; empty = not set.
struct raw_json {
  std::string text;
  bool empty() const noexcept { return text.empty(); }
  friend bool operator==(const raw_json&, const raw_json&) = default;
};

// {"k":"v",...} from string pairs, in the given order (e.g. channel variables for a body).
raw_json make_string_map(const std::vector<std::pair<std::string, std::string>>& pairs);

// Appends `s` as a JSON string literal (quotes included), escaping '"', '\\' and control bytes;
// an ill-formed UTF-8 byte becomes U+FFFD (well-formed text is copied unchanged).
void append_json_string(std::string& out, std::string_view s);

// Length (1..4) of the well-formed UTF-8 sequence at p[0..n), 0 if ill-formed or n == 0
// (Unicode table 3-7: no overlongs, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence_length(const char* p, std::size_t n) noexcept;

class json_reader {
 public:
  static constexpr std::size_t max_depth = 64;  // deepest nesting accepted (objects + arrays)
  enum class status : std::uint8_t { ok, mismatch, error };
  enum class error_kind : std::uint8_t { none, syntax, too_deep, type };

  explicit json_reader(std::string_view text) noexcept : in_(text) {}

  bool failed() const noexcept { return error_ != error_kind::none; }
  error_kind error() const noexcept { return error_; }
  std::size_t error_offset() const noexcept { return error_offset_; }
  void fail(error_kind kind) noexcept {
    if (error_ == error_kind::none) { error_ = kind; error_offset_ = pos_; }
  }

  std::size_t mark() const noexcept { return pos_; }
  void rewind(std::size_t position) noexcept { pos_ = position; }
  // True when only whitespace is left.
  bool at_end() noexcept { skip_ws(); return pos_ == in_.size(); }

  // '{' ... then `bool first = true; while (r.next_key(first, key)) { read value }`.
  status begin_object() noexcept;
  // Next member's key (unescaped; valid until the next call), false at '}' or on error.
  bool next_key(bool& first, std::string_view& key);
  // '[' ... then `bool first = true; while (r.next_element(first)) { read value }`.
  status begin_array() noexcept;
  bool next_element(bool& first) noexcept;

  status read(std::string& out);
  status read(std::int64_t& out) noexcept;
  status read(double& out) noexcept;
  status read(bool& out) noexcept;
  // Any well-formed value, validated; `raw` receives its exact text.
  bool skip(std::string_view* raw = nullptr) noexcept;
  // Is the next value JSON null? (nothing consumed)
  bool peek_null() noexcept { skip_ws(); return pos_ < in_.size() && in_[pos_] == 'n'; }

 private:
  void skip_ws() noexcept {
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
      ++pos_;
    }
  }
  bool scan_string(bool& has_escape) noexcept;   // at '"'; leaves pos_ after the closing quote
  bool unescape(std::string_view body, std::string& out);
  bool scan_number(bool& is_integer) noexcept;   // leaves pos_ after the number
  bool scan_literal(std::string_view word) noexcept;

  std::string_view in_;
  std::size_t pos_ = 0;
  error_kind error_ = error_kind::none;
  std::size_t error_offset_ = 0;
  std::string key_scratch_;
};

class json_writer {
 public:
  explicit json_writer(std::string& out) noexcept : out_(out) {}
  void begin_object() { comma(); out_ += '{'; need_comma_ = false; }
  void end_object() { out_ += '}'; need_comma_ = true; }
  void begin_array() { comma(); out_ += '['; need_comma_ = false; }
  void end_array() { out_ += ']'; need_comma_ = true; }
  void key(std::string_view k) { comma(); append_json_string(out_, k); out_ += ':'; need_comma_ = false; }
  void value(std::string_view s) { comma(); append_json_string(out_, s); need_comma_ = true; }
  void value(const std::string& s) { value(std::string_view(s)); }
  void value(const char* s) { value(std::string_view(s)); }
  void value(std::int64_t v);
  void value(double v);
  void value(bool v) { comma(); out_ += v ? "true" : "false"; need_comma_ = true; }
  void value(const raw_json& v) { raw(v.text.empty() ? std::string_view("{}") : std::string_view(v.text)); }
  void raw(std::string_view text) { comma(); out_ += text; need_comma_ = true; }
  // Appends the members of a JSON object text ("{...}") into the current object.
  void members_of(std::string_view object_text);

 private:
  void comma() { if (need_comma_) out_ += ','; }
  std::string& out_;
  bool need_comma_ = false;
};

}  // namespace astra::ari
