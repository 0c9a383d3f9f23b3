// libFuzzer target for the AMI parser (protocols/ami/parser.hpp).
// Input layout: byte 0 picks small or default limits, bytes 1-2 a split offset; the rest is
// the stream, fed in two pieces (and the second piece in 1..64-byte chunks chosen by byte 3).
// Invariants checked: feed() never buffers more than limits.buffered_bytes, a successful
// message respects every limit, its name/action_id/keys/values lie inside raw(), errors are
// ami_errc codes of the parser, a drained parser always accepts more bytes, finish()
// terminates and leaves nothing pending.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocols/ami/parser.hpp"

using namespace astra::ami;

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check(const astra::result<message>& r, const parser_limits& limits) {
  if (!r.ok()) {
    const auto code = r.code();
    require(code.category() == ami_category());
    const auto e = static_cast<ami_errc>(code.value());
    require(e == ami_errc::line_too_long || e == ami_errc::too_many_headers || e == ami_errc::message_too_large ||
            e == ami_errc::buffer_full || e == ami_errc::malformed_line || e == ami_errc::truncated);
    return;
  }
  const message& m = *r;
  const std::string_view raw = m.raw();
  require(raw.size() <= limits.message_bytes || m.kind() == message_kind::banner);
  require(m.size() <= limits.headers);
  if (m.kind() == message_kind::banner) {
    require(m.size() == 0);
    require(m.name().size() <= limits.line_bytes);
    return;
  }
  require(m.size() > 0);
  require(inside(m.name(), raw));
  require(inside(m.action_id(), raw));
  for (std::size_t i = 0; i < m.size(); ++i) {
    require(!m.key(i).empty());
    require(inside(m.key(i), raw));
    require(inside(m.value(i), raw));
    require(m.key(i).size() + m.value(i).size() <= limits.line_bytes);
    require(m.key(i).find('\n') == std::string_view::npos);
    require(m.value(i).find('\n') == std::string_view::npos);
  }
  if (m.kind() == message_kind::event) require(m.get("Event").has_value());
  if (m.kind() == message_kind::response) require(m.get("Response").has_value() && !m.get("Event"));
}

void drain(parser& p) {
  for (int guard = 0; guard < 1'000'000; ++guard) {
    auto r = p.next();
    if (!r) return;
    check(*r, p.limits());
  }
  std::abort();  // next() must run dry
}

void feed(parser& p, std::string_view bytes, std::size_t chunk) {
  while (!bytes.empty()) {
    const std::size_t n = p.feed(bytes.substr(0, chunk));
    require(p.buffered() <= p.limits().buffered_bytes);
    // Drained after every feed, so the buffer always has room: the parser can never stall.
    require(n > 0);
    bytes.remove_prefix(n);
    drain(p);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  parser_limits limits;
  if (data[0] & 1) {  // small limits reach every error path with short inputs
    limits.line_bytes = 16;
    limits.headers = 4;
    limits.message_bytes = 96;
    limits.buffered_bytes = (data[0] & 2) ? 64 : 256;
  }
  const std::size_t split = (static_cast<std::size_t>(data[1]) << 8 | data[2]);
  const std::size_t chunk = 1 + (data[3] & 63);
  const std::string_view stream(reinterpret_cast<const char*>(data + 4), size - 4);
  const std::size_t cut = stream.empty() ? 0 : split % (stream.size() + 1);

  parser p(limits);
  feed(p, stream.substr(0, cut), stream.size());
  feed(p, stream.substr(cut), chunk);
  for (int guard = 0;; ++guard) {
    require(guard < 1'000'000);
    auto r = p.finish();
    if (!r) break;
    check(*r, limits);
  }
  require(p.buffered() == 0);
  require(p.feed("x") == 0);  // closed until reset()
  return 0;
}
