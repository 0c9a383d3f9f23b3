#pragma once
// JSON string writer for raw peer bytes (AMI header values, AGI/ARI text that was not
// validated): every output is a valid RFC 8259 string in valid UTF-8, for any input bytes.
//
// Mapping (lossless for valid UTF-8 and for pure Latin-1 input):
//  - well-formed UTF-8 (Unicode 15 table 3-7: no overlongs, no surrogates D800..DFFF, nothing
//    above U+10FFFF) is copied as is;
//  - every byte that is not part of a well-formed sequence (lone continuation bytes, truncated
//    sequences, overlong leads C0/C1, ED A0..BF surrogate forms, F5..FF, ...) is read as
//    Latin-1: byte 0xXX becomes the code point U+00XX, written as its 2-byte UTF-8 form. A
//    bad sequence is mapped one byte at a time and decoding restarts at the next byte.
//    Text that is entirely Latin-1 (e.g. "Jos\xE9") therefore comes out as the same
//    characters ("José") and re-encoding the decoded string as Latin-1 gives back the bytes;
//    text mixing valid UTF-8 with Latin-1 bytes cannot be told apart from its UTF-8 spelling.
//  - '"' and '\\' are escaped; controls: \n \r \t as such, other bytes 0x00..0x1F and 0x7F as
//    \u00XX. Everything else (including U+0080..U+009F, U+2028/U+2029) is written raw.
// Header-only, standard library only; no allocation in write_json_string.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace astra::json_text {

// Upper bound of the bytes write_json_string writes for an input of n bytes (quotes included).
constexpr std::size_t max_json_string_size(std::size_t n) { return 6 * n + 2; }

namespace detail {

// Length of the well-formed UTF-8 sequence starting at p (p < end, *p >= 0x80), or 0 if the
// bytes at p do not start one.
inline std::size_t utf8_sequence_length(const unsigned char* p, const unsigned char* end) {
  const unsigned c = p[0];
  const auto avail = static_cast<std::size_t>(end - p);
  auto cont = [&](std::size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return i < avail && p[i] >= lo && p[i] <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;             // no overlongs
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;       // no surrogates
  if (c >= 0xE1 && c <= 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;  // no overlongs
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;  // <= U+10FFFF
  return 0;  // 80..BF continuation without lead, C0/C1 overlong leads, F5..FF
}

// True if any of the 8 bytes in w is < 0x20, '"', '\\', 0x7f or >= 0x80 (SWAR).
inline bool needs_care(std::uint64_t w) {
  constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  auto zero_byte = [&](std::uint64_t v) { return (v - ones) & ~v & highs; };
  std::uint64_t below_space = (w - ones * 0x20) & ~w;
  return ((below_space | w) & highs) != 0 ||
         (zero_byte(w ^ (ones * '"')) | zero_byte(w ^ (ones * '\\')) | zero_byte(w ^ (ones * 0x7f))) != 0;
}

}  // namespace detail

// Writes `s` as a quoted JSON string at p (mapping above) and returns the end; p must have
// room for max_json_string_size(s.size()) bytes.
inline char* write_json_string(char* p, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  *p++ = '"';
  const auto* in = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = in + s.size();
  while (in < end) {
    if (end - in >= 8) {
      std::uint64_t w;
      std::memcpy(&w, in, 8);
      if (!detail::needs_care(w)) {
        std::memcpy(p, in, 8);
        p += 8, in += 8;
        continue;
      }
    }
    // Up to 8 input bytes one by one (a multi-byte sequence may run past `stop`).
    const auto* stop = end - in >= 8 ? in + 8 : end;
    while (in < stop) {
      const unsigned c = *in;
      if (c >= 0x80) {
        if (std::size_t n = detail::utf8_sequence_length(in, end)) {
          std::memcpy(p, in, n);
          p += n, in += n;
        } else {  // Latin-1: U+00XX as 2 bytes
          *p++ = static_cast<char>(0xC0 | (c >> 6));
          *p++ = static_cast<char>(0x80 | (c & 0x3F));
          ++in;
        }
        continue;
      }
      ++in;
      if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7F) {
        *p++ = static_cast<char>(c);
        continue;
      }
      *p++ = '\\';
      switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        default:
          *p++ = 'u', *p++ = '0', *p++ = '0';
          *p++ = hex[c >> 4];
          *p++ = hex[c & 0xF];
      }
    }
  }
  *p++ = '"';
  return p;
}

// Appends `s` as a quoted JSON string to out.
inline void append_json_string(std::string& out, std::string_view s) {
  const std::size_t old = out.size();
  out.resize(old + max_json_string_size(s.size()));
  char* end = write_json_string(out.data() + old, s);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

// `s` as valid UTF-8 under the same mapping (no escaping): for values handed to a JSON
// library (nlohmann::json::dump() throws on invalid UTF-8 by default).
inline std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto* in = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = in + s.size();
  while (in < end) {
    const unsigned c = *in;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++in;
    } else if (std::size_t n = detail::utf8_sequence_length(in, end)) {
      out.append(reinterpret_cast<const char*>(in), n);
      in += n;
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
      ++in;
    }
  }
  return out;
}

}  // namespace astra::json_text
