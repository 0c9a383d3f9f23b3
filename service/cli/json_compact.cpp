#include "service/cli/json_compact.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <nlohmann/json.hpp>

#include "protocols/common/json_string.hpp"
#include "service/cli/line_output.hpp"

namespace astra::cli {
namespace {

using byte = unsigned char;

inline bool is_space(byte c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
inline bool is_digit(byte c) { return c >= '0' && c <= '9'; }

inline int hex_value(byte c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The 4 hex digits at p (p + 4 <= end checked by the caller) as a code unit, or -1.
inline long hex4(const byte* p) {
  long v = 0;
  for (int i = 0; i < 4; ++i) {
    int h = hex_value(p[i]);
    if (h < 0) return -1;
    v = v << 4 | h;
  }
  return v;
}

// Copies the string starting at p (just past its opening quote) up to and including the
// closing quote; returns the position after it, or nullptr if the string is not valid.
// The output never runs ahead of the input (out - out_start <= p - text_start), so a block
// store of the next 16 input bytes stays inside the room the caller reserved.
const byte* copy_string(const byte* p, const byte* end, char*& out) {
  for (;;) {
#if defined(__SSE2__)
    // Runs of plain bytes (no quote, backslash, control or non-ASCII) 16 at a time; the block
    // that holds a special byte is stored whole, then the output is advanced only past the
    // plain bytes before it.
    while (end - p >= 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const __m128i special = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),  // signed: also >= 0x80
                                           _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                        _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), v);
      const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(special));
      if (mask != 0) {
        const auto plain = static_cast<std::size_t>(__builtin_ctz(mask));
        p += plain, out += plain;
        break;
      }
      p += 16, out += 16;
    }
#endif
    // Runs of plain bytes (no quote, backslash, control, DEL or non-ASCII) 8 at a time.
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if (json_text::detail::needs_care(w)) break;
      std::memcpy(out, p, 8);
      p += 8, out += 8;
    }
    if (p == end) return nullptr;
    const byte c = *p;
    if (c == '"') {
      *out++ = '"';
      return p + 1;
    }
    if (c == '\\') {
      if (end - p < 2) return nullptr;
      const byte e = p[1];
      if (e == 'u') {
        if (end - p < 6) return nullptr;
        long unit = hex4(p + 2);
        if (unit < 0) return nullptr;
        std::size_t len = 6;
        if (unit >= 0xDC00 && unit <= 0xDFFF) return nullptr;  // lone low surrogate
        if (unit >= 0xD800 && unit <= 0xDBFF) {                // must pair with a low one
          if (end - p < 12 || p[6] != '\\' || p[7] != 'u') return nullptr;
          long low = hex4(p + 8);
          if (low < 0xDC00 || low > 0xDFFF) return nullptr;
          len = 12;
        }
        std::memcpy(out, p, len);
        out += len, p += len;
        continue;
      }
      if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't')
        return nullptr;
      *out++ = '\\';
      *out++ = static_cast<char>(e);
      p += 2;
      continue;
    }
    if (c < 0x20) return nullptr;
    if (c < 0x80) {  // includes DEL, valid raw in JSON
      *out++ = static_cast<char>(c);
      ++p;
      continue;
    }
    std::size_t n = json_text::detail::utf8_sequence_length(p, end);
    if (n == 0) return nullptr;
    std::memcpy(out, p, n);
    out += n, p += n;
  }
}

// Copies the number starting at p; nullptr if it does not follow the RFC 8259 grammar or does
// not fit a double.
const byte* copy_number(const byte* p, const byte* end, char*& out) {
  const byte* start = p;
  if (*p == '-') ++p;
  if (p == end) return nullptr;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    while (p < end && is_digit(*p)) ++p;
  } else {
    return nullptr;
  }
  if (p < end && *p == '.') {
    ++p;
    if (p == end || !is_digit(*p)) return nullptr;
    while (p < end && is_digit(*p)) ++p;
  }
  bool exponent = false;
  if (p < end && (*p == 'e' || *p == 'E')) {
    exponent = true;
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (p == end || !is_digit(*p)) return nullptr;
    while (p < end && is_digit(*p)) ++p;
  }
  const auto n = static_cast<std::size_t>(p - start);
  // Beyond what a double holds (nlohmann::json rejects it as an overflow): not written through.
  if (exponent || n > 19) {
    char digits[400];
    if (n >= sizeof digits) return nullptr;
    std::memcpy(digits, start, n);
    digits[n] = '\0';
    if (!std::isfinite(std::strtod(digits, nullptr))) return nullptr;
  }
  std::memcpy(out, start, n);
  out += n;
  return p;
}

// Deepest nesting of objects and arrays outside strings (for text nlohmann::json accepted).
std::size_t nesting_depth(std::string_view text) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

const byte* copy_literal(const byte* p, const byte* end, char*& out) {
  std::string_view word = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
  if (static_cast<std::size_t>(end - p) < word.size() || std::memcmp(p, word.data(), word.size()) != 0) return nullptr;
  std::memcpy(out, word.data(), word.size());
  out += word.size();
  return p + word.size();
}

}  // namespace

compact_result compact_json_object(std::string_view text, char* out, char*& end_out) {
  const byte* p = reinterpret_cast<const byte*>(text.data());
  const byte* const end = p + text.size();
  while (p < end && is_space(*p)) ++p;
  if (p == end || *p != '{') return compact_result::not_object;
  // What the next token may be.
  enum class expect { key_or_close, key, colon, value_or_close, value, comma_or_close };
  bool in_object[max_compact_depth];  // per open container: object (true) or array
  std::size_t depth = 1;
  in_object[0] = true;
  *out++ = '{';
  ++p;
  expect state = expect::key_or_close;
  while (depth > 0) {
    while (p < end && is_space(*p)) ++p;
    if (p == end) return compact_result::not_object;
    const byte c = *p;
    switch (state) {
      case expect::key_or_close:
        if (c == '}') goto close;
        [[fallthrough]];
      case expect::key:
        if (c != '"') return compact_result::not_object;
        *out++ = '"';
        if (!(p = copy_string(p + 1, end, out))) return compact_result::not_object;
        state = expect::colon;
        continue;
      case expect::colon:
        if (c != ':') return compact_result::not_object;
        *out++ = ':';
        ++p;
        state = expect::value;
        continue;
      case expect::value_or_close:
        if (c == ']') goto close;
        [[fallthrough]];
      case expect::value:
        if (c == '"') {
          *out++ = '"';
          p = copy_string(p + 1, end, out);
        } else if (c == '{' || c == '[') {
          if (depth == max_compact_depth) return compact_result::too_deep;
          in_object[depth++] = c == '{';
          *out++ = static_cast<char>(c);
          ++p;
          state = c == '{' ? expect::key_or_close : expect::value_or_close;
          continue;
        } else if (c == '-' || is_digit(c)) {
          p = copy_number(p, end, out);
        } else if (c == 't' || c == 'f' || c == 'n') {
          p = copy_literal(p, end, out);
        } else {
          return compact_result::not_object;
        }
        if (!p) return compact_result::not_object;
        state = expect::comma_or_close;
        continue;
      case expect::comma_or_close:
        if (c == ',') {
          *out++ = ',';
          ++p;
          state = in_object[depth - 1] ? expect::key : expect::value;
          continue;
        }
        if (c == (in_object[depth - 1] ? '}' : ']')) goto close;
        return compact_result::not_object;
    }
  close:
    if (c != (in_object[depth - 1] ? '}' : ']')) return compact_result::not_object;
    *out++ = static_cast<char>(c);
    ++p;
    --depth;
    state = expect::comma_or_close;
  }
  while (p < end && is_space(*p)) ++p;
  if (p != end) return compact_result::not_object;
  end_out = out;
  return compact_result::ok;
}

void append_json_line(out_buffer& out, std::string_view frame) {
  char* end = nullptr;
  switch (compact_json_object(frame, out.reserve(frame.size() + 1), end)) {
    case compact_result::ok:
      *end++ = '\n';
      out.commit(end);
      return;
    case compact_result::too_deep:  // kept away from the recursive re-serializer
      break;
    case compact_result::not_object:
      if (auto doc = nlohmann::json::parse(frame, nullptr, false);
          !doc.is_discarded() && nesting_depth(frame) <= max_compact_depth) {
        out.append(doc.dump());
        out.push_back('\n');
        return;
      }
      break;
  }
  char* p = out.reserve(json_text::max_json_string_size(frame.size()) + 1);
  p = json_text::write_json_string(p, frame);
  *p++ = '\n';
  out.commit(p);
}

}  // namespace astra::cli
