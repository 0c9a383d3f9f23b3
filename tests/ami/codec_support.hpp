#pragma once
// Test helpers for the AMI codec tests: drive a parser and record what it emitted.
#include <string>
#include <string_view>
#include <vector>

#include "protocols/ami/parser.hpp"

namespace astra::ami::test {

// One parser output, comparable across feeding strategies.
struct outcome {
  bool ok = false;
  message_kind kind = message_kind::event;
  std::string name;
  std::string raw;
  std::vector<std::pair<std::string, std::string>> headers;
  std::error_code error;
  bool operator==(const outcome&) const = default;
};

inline outcome to_outcome(const astra::result<message>& r) {
  outcome o;
  o.ok = r.ok();
  if (!r.ok()) {
    o.error = r.code();
    return o;
  }
  o.kind = r->kind();
  o.name = std::string(r->name());
  o.raw = std::string(r->raw());
  for (std::size_t i = 0; i < r->size(); ++i) o.headers.emplace_back(std::string(r->key(i)), std::string(r->value(i)));
  return o;
}

// Feeds all of `bytes` (honouring partial acceptance), draining after each feed.
inline void feed_all(parser& p, std::string_view bytes, std::vector<outcome>& out) {
  while (!bytes.empty()) {
    const std::size_t taken = p.feed(bytes);
    bytes.remove_prefix(taken);
    while (auto r = p.next()) out.push_back(to_outcome(*r));
    if (taken == 0 && !bytes.empty()) {
      // The parser must always make room after a drain; a stuck parser is a bug.
      out.push_back(outcome{});
      return;
    }
  }
  while (auto r = p.next()) out.push_back(to_outcome(*r));
}

inline void finish_all(parser& p, std::vector<outcome>& out) {
  while (auto r = p.finish()) out.push_back(to_outcome(*r));
}

inline std::vector<outcome> parse_pieces(const std::vector<std::string_view>& pieces, bool close,
                                         parser_limits limits = {}) {
  parser p(limits);
  std::vector<outcome> out;
  for (auto piece : pieces) feed_all(p, piece, out);
  if (close) finish_all(p, out);
  return out;
}

inline std::vector<outcome> parse_whole(std::string_view bytes, bool close, parser_limits limits = {}) {
  return parse_pieces({bytes}, close, limits);
}

}  // namespace astra::ami::test

namespace astra::ami::test {

// Allocation-free fingerprint of a parser run (count + hash of every emitted message's kind,
// raw text, header boundaries, or error code), for the every-offset split loops.
struct run_digest {
  std::size_t messages = 0;
  std::size_t errors = 0;
  std::size_t hash = 0;
  bool operator==(const run_digest&) const = default;
};

// Reuses `p` after reset() (same as a fresh parser with p's limits, minus the allocations).
inline run_digest digest_pieces(parser& p, const std::vector<std::string_view>& pieces, bool close);

inline void mix(std::size_t& h, std::size_t v) { h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); }

inline void digest_one(run_digest& d, const astra::result<message>& r) {
  if (!r.ok()) {
    ++d.errors;
    mix(d.hash, 0xE0000 + static_cast<std::size_t>(r.code().value()));
    return;
  }
  ++d.messages;
  const message& m = *r;
  mix(d.hash, static_cast<std::size_t>(m.kind()));
  mix(d.hash, std::hash<std::string_view>{}(m.raw()));
  mix(d.hash, std::hash<std::string_view>{}(m.name()));
  mix(d.hash, std::hash<std::string_view>{}(m.action_id()));
  for (std::size_t i = 0; i < m.size(); ++i) {
    mix(d.hash, static_cast<std::size_t>(m.key(i).data() - m.raw().data()) * 131 + m.key(i).size());
    mix(d.hash, static_cast<std::size_t>(m.value(i).data() - m.raw().data()) * 131 + m.value(i).size());
  }
}

inline run_digest digest_pieces(const std::vector<std::string_view>& pieces, bool close, parser_limits limits = {}) {
  parser p(limits);
  return digest_pieces(p, pieces, close);
}

inline run_digest digest_pieces(parser& p, const std::vector<std::string_view>& pieces, bool close) {
  p.reset();
  run_digest d;
  for (auto bytes : pieces) {
    while (!bytes.empty()) {
      const std::size_t taken = p.feed(bytes);
      bytes.remove_prefix(taken);
      while (auto r = p.next()) digest_one(d, *r);
      if (taken == 0 && !bytes.empty()) {
        mix(d.hash, 0xDEAD);  // stuck parser
        return d;
      }
    }
  }
  if (close)
    while (auto r = p.finish()) digest_one(d, *r);
  return d;
}

// Under sanitizers (10-50x slower) the every-offset loops step by this stride; the plain
// build always checks every offset.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr std::size_t offset_stride = 5;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr std::size_t offset_stride = 5;
#else
inline constexpr std::size_t offset_stride = 1;
#endif
#else
inline constexpr std::size_t offset_stride = 1;
#endif

}  // namespace astra::ami::test
