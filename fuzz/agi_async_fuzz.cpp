// libFuzzer target: the AsyncAGI field decoders (protocols/agi/async.hpp).
//  - url_decode of the input percent-encoded byte by byte gives the input back; url_decode of
//    the raw input never exceeds its bound and, when it succeeds, is no longer than the input;
//  - decode_result of the percent-encoded input yields exactly what reply_parser yields for the
//    input itself (same events, or an error for both);
//  - decode_env of the raw input: a success has a script_path starting with '/', and its
//    agi_arg_N variables are renumbered from 1 (no agi_arg_0).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/agi/async.hpp"
#include "protocols/agi/limits.hpp"

namespace {

using namespace astra::agi;

std::string encode(std::string_view in) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

std::string describe(const reply_event& e) {
  std::string s = std::to_string(static_cast<int>(e.kind)) + "|" + std::to_string(e.value.code) + "|" + e.value.raw;
  for (const auto& u : e.value.usage) s += "|" + u;
  return s;
}

// What reply_parser makes of `in` whole: the events, or "error" (mirrors decode_result's rules:
// no event, or input ending inside a reply, is an error).
std::vector<std::string> direct(std::string_view in) {
  std::vector<std::string> out;
  reply_parser p;
  while (true) {
    in.remove_prefix(p.feed(in));
    bool progressed = false;
    while (auto e = p.next()) {
      if (!*e) return {"error"};
      out.push_back(describe(**e));
      progressed = true;
    }
    if (p.error()) return {"error"};
    if (in.empty() || !progressed) break;
  }
  if (!in.empty() || p.mid_reply() || out.empty()) return {"error"};
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  auto round = async::url_decode(encode(in), size, agi_errc::malformed_reply);
  if (!round || *round != in) std::abort();
  auto raw = async::url_decode(in, 1024, agi_errc::malformed_reply);
  if (raw && (raw->size() > in.size() || raw->size() > 1024)) std::abort();

  if (size <= max_reply_bytes) {
    auto events = async::decode_result(encode(in));
    std::vector<std::string> got;
    if (!events) got = {"error"};
    else
      for (const auto& e : *events) got.push_back(describe(e));
    if (got != direct(in)) std::abort();
  }

  if (auto env = async::decode_env(in)) {
    if (env->script_path.empty() || env->script_path.front() != '/') std::abort();
    for (const auto& [k, v] : env->variables)
      if (k == "agi_arg_0") std::abort();  // the route's argument is taken out, the rest renumbered from 1
  }
  return 0;
}
