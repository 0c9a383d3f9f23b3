#include "service/cli/ami_json.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "protocols/common/json_string.hpp"
#include "service/cli/line_output.hpp"

namespace astra::cli {
namespace {

using byte = unsigned char;

// Bytes write_json_string does not copy as they are: controls, '"', '\\', DEL, >= 0x80.
constexpr std::array<bool, 256> special_bytes = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x7F;
  return t;
}();

inline std::uint64_t load8(const byte* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// True if write_json_string would copy every byte of [s, s + n) as it is.
inline bool plain(const byte* s, std::size_t n) {
  if (n >= 8) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
      if (json_text::detail::needs_care(load8(s + i))) return false;
    return i == n || !json_text::detail::needs_care(load8(s + n - 8));  // the tail, overlapping
  }
  bool any = false;
  for (std::size_t i = 0; i < n; ++i) any |= special_bytes[s[i]];
  return !any;
}

// memcpy for the short runs AMI is made of, without a library call (overlapping moves).
inline void copy_bytes(char* dst, const byte* src, std::size_t n) {
  if (n >= 8) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) std::memcpy(dst + i, src + i, 8);
    if (i < n) std::memcpy(dst + n - 8, src + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(dst, src, 4);
    std::memcpy(dst + n - 4, src + n - 4, 4);
  } else if (n >= 2) {
    std::memcpy(dst, src, 2);
    std::memcpy(dst + n - 2, src + n - 2, 2);
  } else if (n == 1) {
    *dst = static_cast<char>(*src);
  }
}

// write_json_string with a fast path for strings that need no escaping or mapping (nearly
// every AMI key and value); same output, same room needed plus 16 bytes (block stores).
#if defined(__SSE2__)
// One pass: 16 bytes loaded, stored and checked at a time; the bytes past the string that a
// block holds are stored but not counted (the output is advanced by the string's length
// only). A block is loaded only when it lies inside [s.data(), limit): `limit` is the end of
// the message text the string is a view of (AMI keys and values are views into
// message::raw(), and every value is followed by at least "\r\n\r\n"), so no byte outside
// that array is ever read; the last bytes of a string near the end of the text take the
// plain path.
inline char* write_string(char* p, std::string_view s, const char* limit) {
  const auto* b = reinterpret_cast<const byte*>(s.data());
  const std::size_t n = s.size();
  const std::size_t readable = static_cast<std::size_t>(limit - s.data());  // >= n (in_text below)
  char* q = p + 1;
  std::size_t i = 0;
  while (i < n) {
    const std::size_t left = n - i;
    if (i + 16 > readable) {
      if (!plain(b + i, left)) return json_text::write_json_string(p, s);
      copy_bytes(q + i, b + i, left);
      break;
    }
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), v);
    const __m128i special = _mm_or_si128(
        _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),  // signed: also >= 0x80
                     _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F))),
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (left < 16) mask &= (1u << left) - 1;
    if (mask) return json_text::write_json_string(p, s);  // from the start: same output as ever
    i += 16;
  }
  *p = '"';
  q[n] = '"';
  return q + n + 1;
}
#else
inline char* write_string(char* p, std::string_view s, const char*) {
  const auto* b = reinterpret_cast<const byte*>(s.data());
  if (!plain(b, s.size())) return json_text::write_json_string(p, s);
  *p++ = '"';
  copy_bytes(p, b, s.size());
  p += s.size();
  *p++ = '"';
  return p;
}
#endif

}  // namespace

void append_json_message(out_buffer& out, const ami::message& m) {
  const std::size_t n = m.size();
  // Per-thread scratch, reused across messages (no per-message allocation or zero-fill).
  thread_local std::vector<std::string_view> keys_buf, values_buf;
  thread_local std::vector<std::uint8_t> hash_buf;
  if (keys_buf.size() < n) keys_buf.resize(n), values_buf.resize(n), hash_buf.resize(n);
  std::string_view* keys = keys_buf.data();
  std::string_view* values = values_buf.data();
  std::uint8_t* hash = hash_buf.data();
  // 256 hash buckets as two bitmaps: seen once, seen again. A key alone in its bucket cannot
  // be repeated, so exact comparisons run only for keys whose bucket holds several.
  std::uint64_t seen[4] = {0, 0, 0, 0}, shared[4] = {0, 0, 0, 0};
  std::size_t text = 0;
  for (std::size_t i = 0; i < n; ++i) {
    keys[i] = m.key(i);
    values[i] = m.value(i);
    const auto& k = keys[i];
    text += k.size() + values[i].size();
    std::uint32_t sig = static_cast<std::uint32_t>(k.size()) << 16 |
                        (k.empty() ? 0u : static_cast<unsigned char>(k.front()) << 8 | static_cast<unsigned char>(k.back()));
    const std::uint8_t h = static_cast<std::uint8_t>((sig * 2654435761u) >> 24);
    hash[i] = h;
    const std::uint64_t bit = std::uint64_t{1} << (h & 63);
    shared[h >> 6] |= seen[h >> 6] & bit;
    seen[h >> 6] |= bit;
  }
  const bool any_shared = (shared[0] | shared[1] | shared[2] | shared[3]) != 0;
  auto same = [&](std::size_t a, std::size_t b) { return hash[a] == hash[b] && keys[a] == keys[b]; };
  // The end of the message text when a string is a view into it, else the string's own end
  // (a message built in code): write_string then never reads past the string.
  const std::string_view raw = m.raw();
  auto in_text = [&](std::string_view v) {
    const std::less_equal<const char*> le;  // a total order, also for pointers into other objects
    return le(raw.data(), v.data()) && le(v.data() + v.size(), raw.data() + raw.size()) ? raw.data() + raw.size()
                                                                                         : v.data() + v.size();
  };
  char* p = out.reserve(json_text::max_json_string_size(text) + 8 * n + 8 + 16);  // + 16: write_string's block stores
  *p++ = '{';
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t repeats = 0;
    if (any_shared && (shared[hash[i] >> 6] >> (hash[i] & 63) & 1)) {
      bool earlier = false;
      for (std::size_t j = 0; j < i && !earlier; ++j) earlier = same(i, j);
      if (earlier) continue;  // written with its first occurrence
      for (std::size_t j = i + 1; j < n; ++j) repeats += same(i, j);
    }
    if (p[-1] != '{') *p++ = ',';
    p = write_string(p, keys[i], in_text(keys[i]));
    *p++ = ':';
    if (repeats == 0) {
      p = write_string(p, values[i], in_text(values[i]));
      continue;
    }
    *p++ = '[';
    p = write_string(p, values[i], in_text(values[i]));
    for (std::size_t j = i + 1; j < n; ++j)
      if (same(i, j)) {
        *p++ = ',';
        p = write_string(p, values[j], in_text(values[j]));
      }
    *p++ = ']';
  }
  *p++ = '}';
  out.commit(p);
}

}  // namespace astra::cli
