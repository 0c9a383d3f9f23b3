// What Asterisk writes is not held to what it reads: the recorded oversized output of a real
// Asterisk 22.11 (tests/data/asterisk/fixtures/ami/oversized-real-output.jsonl) parses whole
// with the default read limits at every split offset; a message over a limit is discarded
// and described (name, ActionID, size, limit) when it ends; actions are held to Asterisk's
// own read limits before anything is written.
#include <catch2/catch.hpp>

#include <string>

#include "protocols/ami/action.hpp"
#include "protocols/ami/parser.hpp"
#include "tests/ami/codec_support.hpp"
#include "tests/support/fixtures.hpp"

using namespace astra::ami;
using astra::ami::test::outcome;
using astra::ami::test::parse_whole;

namespace {

std::string recorded_in_bytes() {
  return astra::test::concat_direction(astra::test::load_fixture("ami/oversized-real-output.jsonl"), "in");
}

const message* find_message(const std::vector<astra::result<message>>& all, message_kind kind, std::string_view name) {
  for (const auto& r : all)
    if (r.ok() && r->kind() == kind && r->name() == name) return &r.value();
  return nullptr;
}

std::vector<astra::result<message>> parse_all(std::string_view bytes, parser_limits limits = {}) {
  parser p(limits);
  std::vector<astra::result<message>> out;
  while (!bytes.empty()) {
    const std::size_t n = p.feed(bytes);
    bytes.remove_prefix(n);
    while (auto r = p.next()) out.push_back(std::move(*r));
  }
  while (auto r = p.finish()) out.push_back(std::move(*r));
  return out;
}

}  // namespace

TEST_CASE("recorded oversized output: core show help and 2,000-byte VarSet/Newexten lines parse whole",
          "[ami][codec][oversized][fixtures]") {
  const std::string bytes = recorded_in_bytes();
  auto all = parse_all(bytes);
  for (const auto& r : all) CHECK(r.ok());

  // The Command answer: one response with the Output lines Asterisk wrote (222 lines in all).
  const message* help = nullptr;
  for (const auto& r : all)
    if (r.ok() && r->kind() == message_kind::response && r->action_id() == "help-1") help = &r.value();
  REQUIRE(help != nullptr);
  CHECK(help->get_all("Output").size() == 219);
  CHECK(help->size() == 222);
  CHECK(help->raw().size() > 16000);

  const message* varset = nullptr;
  for (const auto& r : all)
    if (r.ok() && r->name() == "VarSet" && r->get("Variable") == std::optional<std::string_view>("ASTRA_LONG"))
      varset = &r.value();
  REQUIRE(varset != nullptr);
  auto value = varset->get("Value");
  REQUIRE(value);
  CHECK(value->size() >= 2000);
  CHECK(find_message(all, message_kind::event, "Newexten") != nullptr);

  // Split at every offset: identical outcome (the default limits never trigger).
  const auto whole = astra::ami::test::digest_pieces({bytes}, true, {});
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i <= bytes.size(); ++i) {
    std::string_view all_bytes = bytes;
    if (astra::ami::test::digest_pieces({all_bytes.substr(0, i), all_bytes.substr(i)}, true, {}) != whole) ++mismatches;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("with Asterisk's own read limits the same bytes are refused, each refusal named and sized",
          "[ami][codec][oversized][fixtures]") {
  const std::string bytes = recorded_in_bytes();
  const parser_limits asterisk_sized{1024, 128, 64 * 1024, 256 * 1024};
  parser p(asterisk_sized);
  std::vector<oversized_message> refused;
  std::size_t parsed = 0;
  std::string_view rest = bytes;
  auto drain = [&](auto next) {
    while (auto r = next()) {
      if (r->ok()) ++parsed;
      else refused.push_back(p.last_oversized());
    }
  };
  while (!rest.empty()) {
    const std::size_t n = p.feed(rest.substr(0, 1000));
    rest.remove_prefix(n);
    drain([&] { return p.next(); });
  }
  drain([&] { return p.finish(); });
  REQUIRE(refused.size() >= 3);
  CHECK(parsed > 0);
  bool help = false, varset = false, newexten = false;
  for (const auto& o : refused) {
    INFO(describe(o));
    CHECK(o.kind_known);
    CHECK(o.bytes > 1024);
    if (o.kind == message_kind::response && o.action_id == "help-1") {
      help = true;
      CHECK(o.limit == ami_errc::too_many_headers);
      CHECK(o.limit_value == 128);
    }
    if (o.kind == message_kind::event && o.name == "VarSet") {
      varset = true;
      CHECK(o.limit == ami_errc::line_too_long);
    }
    if (o.kind == message_kind::event && o.name == "Newexten") newexten = true;
  }
  CHECK(help);
  CHECK(varset);
  CHECK(newexten);
}

TEST_CASE("a 20 MB Command answer is refused against the 16 MiB default, memory stays bounded, parsing resumes",
          "[ami][codec][oversized]") {
  const std::string line = "Output: " + std::string(990, 'o') + "\r\n";  // 1,000 bytes: 20,000 headers
  std::string head = "Response: Success\r\nActionID: big-1\r\nMessage: Command output follows\r\n";
  const std::size_t lines = 20'000'000 / line.size();
  const std::string after = "Event: FullyBooted\r\nPrivilege: system,all\r\n\r\n";

  parser p;  // defaults: 16 MiB per message
  std::vector<astra::result<message>> out;
  std::size_t max_buffered = 0;
  auto feed = [&](std::string_view bytes) {
    while (!bytes.empty()) {
      const std::size_t n = p.feed(bytes);
      bytes.remove_prefix(n);
      max_buffered = std::max(max_buffered, p.buffered());
      while (auto r = p.next()) out.push_back(std::move(*r));
    }
  };
  feed(head);
  std::string chunk;
  for (std::size_t i = 0; i < 64; ++i) chunk += line;  // 64,000-byte reads
  std::size_t sent = 0;
  while (sent + 64 <= lines) {
    feed(chunk);
    sent += 64;
  }
  for (; sent < lines; ++sent) feed(line);
  feed("\r\n");
  feed(after);
  const std::uint64_t total = head.size() + lines * line.size() + 2;
  REQUIRE(total > 20'000'000 - line.size());
  CHECK(max_buffered <= p.limits().buffered_bytes);

  REQUIRE(out.size() == 2);
  REQUIRE_FALSE(out[0].ok());
  CHECK(out[0].code() == make_error_code(ami_errc::message_too_large));
  const auto& o = p.last_oversized();
  CHECK(o.kind == message_kind::response);
  CHECK(o.action_id == "big-1");
  CHECK(o.name == "Success");
  CHECK(o.bytes == total);
  CHECK(o.limit_value == 16u * 1024 * 1024);
  CHECK(out[0].error().detail.find("big-1") != std::string::npos);
  REQUIRE(out[1].ok());
  CHECK(out[1]->name() == "FullyBooted");
}

TEST_CASE("an oversized message whose Event and ActionID come after the limit is still named",
          "[ami][codec][oversized]") {
  parser_limits l;
  l.headers = 4;
  const std::string stream = "Asterisk Call Manager/11.0.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n"
                             "Event: Late\r\nActionID: late-7\r\n\r\nEvent: Next\r\n\r\n";
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    parser p(l);
    std::vector<outcome> out;
    astra::ami::test::feed_all(p, std::string_view(stream).substr(0, cut), out);
    astra::ami::test::feed_all(p, std::string_view(stream).substr(cut), out);
    REQUIRE(out.size() == 3);
    CHECK(out[1].error == make_error_code(ami_errc::too_many_headers));
    CHECK(p.last_oversized().name == "Late");
    CHECK(p.last_oversized().action_id == "late-7");
    CHECK(p.last_oversized().bytes == stream.size() - 30 - 15);
    CHECK(out[2].name == "Next");
  }
}

TEST_CASE("the stream closing inside an oversized message reports it as truncated", "[ami][codec][oversized]") {
  parser_limits l;
  l.line_bytes = 16;
  parser p(l);
  std::vector<outcome> out;
  astra::ami::test::feed_all(p, "Event: Cut\r\nData: " + std::string(100, 'x'), out);
  CHECK(out.empty());
  astra::ami::test::finish_all(p, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].error == make_error_code(ami_errc::line_too_long));
  CHECK(p.last_oversized().truncated);
  CHECK(p.last_oversized().name == "Cut");
}

TEST_CASE("actions are held to what Asterisk reads: 1,024-byte lines (CR LF included), 128 header lines",
          "[ami][codec][action][limits]") {
  // "Value: " + v + CR LF: 1,024 bytes with a 1,015-byte value.
  action fits("Setvar");
  fits.add("Value", std::string(1024 - 9, 'v'));
  CHECK(serialize(fits, "id-1").ok());
  action too_long("Setvar");
  too_long.add("Value", std::string(1024 - 8, 'v'));
  auto refused = serialize(too_long, "id-1");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.code() == make_error_code(ami_errc::action_too_large));
  CHECK(refused.error().detail.find("'Value'") != std::string::npos);

  // Action: + ActionID: + 126 headers = 128 lines.
  action many("Originate");
  for (int i = 0; i < 126; ++i) many.add("Variable", "V" + std::to_string(i) + "=1");
  CHECK(serialize(many, "id-2").ok());
  many.add("Variable", "one=too many");
  auto over = serialize(many, "id-2");
  REQUIRE_FALSE(over.ok());
  CHECK(over.code() == make_error_code(ami_errc::action_too_large));
  CHECK(over.error().detail.find("129 header lines") != std::string::npos);
  // Without an injected ActionID one more header fits.
  many.erase("Variable");
  for (int i = 0; i < 127; ++i) many.add("Variable", "V" + std::to_string(i) + "=1");
  CHECK(serialize(many, "").ok());
}
