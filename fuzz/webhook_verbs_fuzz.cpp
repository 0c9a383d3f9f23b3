// libFuzzer target for the webhook verb decoder, URL and duration parsers (protocols/webhook).
// Invariants: any input is either a valid verb list or a webhook_category error with a
// detail; a decoded list has at most max_verbs verbs, each with a known name, and no text
// argument with CR, LF or NUL; a parsed URL has a host and a port and a target starting '/'.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocols/webhook/url.hpp"
#include "protocols/webhook/verbs.hpp"

using namespace astra::webhook;

namespace {
void require(bool condition) {
  if (!condition) std::abort();
}
bool clean(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos; }

void check(const astra::result<std::vector<verb>>& r) {
  if (!r) {
    require(r.error().code.category() == webhook_category());
    require(!r.error().detail.empty());
    return;
  }
  require(r->size() <= max_verbs);
  for (const auto& v : *r) {
    const auto name = name_of(v);
    bool known = false;
    for (auto n : verb_names()) known = known || n == name;
    require(known);
    if (auto* p = std::get_if<play>(&v)) require(!p->file.empty() && clean(p->file));
    if (auto* d = std::get_if<dial>(&v)) require(d->endpoint.find('/') != std::string::npos && clean(d->endpoint));
    if (auto* g = std::get_if<gather>(&v)) require(g->max_digits >= 1 && g->max_digits <= max_gather_digits);
    require(action_of(v).empty() || action_of(v).rfind("http", 0) == 0);
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check(decode_reply(text));
  check(decode_list(text));
  if (auto u = parse_url(text)) {
    require(!u->host.empty() && u->port > 0 && !u->target.empty() && u->target.front() == '/');
  }
  if (auto d = parse_duration(text)) require(d->count() >= 0 && *d <= max_duration);
  return 0;
}
