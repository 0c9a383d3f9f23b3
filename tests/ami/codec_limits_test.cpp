// Parser limits, error codes and resynchronisation at the next blank line; header parsing rules.
#include <catch2/catch.hpp>

#include <string>

#include "protocols/ami/parser.hpp"
#include "tests/ami/codec_support.hpp"

using namespace astra::ami;
using astra::ami::test::outcome;
using astra::ami::test::parse_whole;

namespace {

const std::string banner = "Asterisk Call Manager/11.0.0\r\n";
// Limits as small as Asterisk's own read limits, so that these tests stay fast; the
// defaults (what astra reads from a real Asterisk) are checked in codec_oversized_test.
const parser_limits small{1024, 128, 64 * 1024, 256 * 1024};
const std::string good_event = "Event: Good\r\nActionID: after\r\nValue: 1\r\n\r\n";

std::string event_with_headers(std::size_t headers) {
  std::string m = "Event: Many\r\n";
  for (std::size_t i = 1; i < headers; ++i) m += "H" + std::to_string(i) + ": v\r\n";
  return m + "\r\n";
}

// Checks, for every two-piece split of `stream`, that the outcome is the same as whole.
void check_split_invariance(const std::string& stream, parser_limits limits = small) {
  const auto expected = astra::ami::test::digest_pieces({stream}, true, limits);
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    std::string_view all = stream;
    if (astra::ami::test::digest_pieces({all.substr(0, i), all.substr(i)}, true, limits) != expected) ++mismatches;
  }
  CHECK(mismatches == 0);
}

void check_recovers(const std::vector<outcome>& out, ami_errc expected_error) {
  REQUIRE(out.size() == 3);
  CHECK(out[0].kind == message_kind::banner);
  CHECK_FALSE(out[1].ok);
  CHECK(out[1].error == make_error_code(expected_error));
  REQUIRE(out[2].ok);
  CHECK(out[2].name == "Good");
  CHECK(out[2].headers.at(1).second == "after");
}

}  // namespace

TEST_CASE("read limits default to what Asterisk writes; Asterisk's own read limits bound actions", "[ami][codec][limits]") {
  parser_limits l;
  CHECK(l.line_bytes == 64 * 1024);
  CHECK(l.headers == 65536);
  CHECK(l.message_bytes == 16 * 1024 * 1024);
  CHECK(l.buffered_bytes == 16 * 1024 * 1024 + 64 * 1024);
  CHECK(asterisk_max_action_line_bytes == 1024);
  CHECK(asterisk_max_action_headers == 128);
}

TEST_CASE("a 1024-byte line is accepted, a 1025-byte line is line_too_long and the stream resynchronises",
          "[ami][codec][limits]") {
  const std::string prefix = "Event: Long\r\nData: ";
  const std::string ok_line = "Data: " + std::string(1024 - 6, 'x');  // 1024 bytes without CRLF
  const std::string long_line = "Data: " + std::string(1025 - 6, 'x');
  REQUIRE(ok_line.size() == 1024);
  REQUIRE(long_line.size() == 1025);

  const std::string accepted_stream = banner + "Event: Long\r\n" + ok_line + "\r\n\r\n";
  auto accepted = parse_whole(accepted_stream, true, small);
  REQUIRE(accepted.size() == 2);
  REQUIRE(accepted[1].ok);
  CHECK(accepted[1].headers.at(1).second.size() == 1018);
  check_split_invariance(accepted_stream);  // e.g. a split right after the CR of the longest legal line

  for (const char* eol : {"\r\n", "\n"}) {
    INFO("line ending " << (eol[1] ? "CRLF" : "LF"));
    const std::string stream = banner + "Event: Long\r\n" + long_line + eol + "After: dropped\r\n\r\n" + good_event;
    check_recovers(parse_whole(stream, true, small), ami_errc::line_too_long);
    check_split_invariance(stream);
  }
  // A huge line without any LF is refused early, without being buffered.
  parser p(small);
  REQUIRE(p.feed(banner + "Event: Huge\r\nData: ") > 0);
  std::vector<outcome> out;
  astra::ami::test::feed_all(p, std::string(100000, 'y'), out);
  CHECK(p.buffered() <= p.limits().line_bytes + 2);
  astra::ami::test::feed_all(p, "\r\nMore: x\r\n\r\n" + good_event, out);
  check_recovers(out, ami_errc::line_too_long);
}

TEST_CASE("128 headers are accepted, 129 are too_many_headers and the stream resynchronises", "[ami][codec][limits]") {
  auto ok = parse_whole(banner + event_with_headers(128), true, small);
  REQUIRE(ok.size() == 2);
  REQUIRE(ok[1].ok);
  CHECK(ok[1].headers.size() == 128);

  const std::string stream = banner + event_with_headers(129) + good_event;
  check_recovers(parse_whole(stream, true, small), ami_errc::too_many_headers);
  check_split_invariance(stream);
}

TEST_CASE("an oversized message is message_too_large and the stream resynchronises", "[ami][codec][limits]") {
  // 100 headers of ~1000 bytes: every line and the header count are within limits, the total is not.
  std::string big = "Event: Big\r\n";
  for (int i = 0; i < 100; ++i) big += "Chunk" + std::to_string(i) + ": " + std::string(990, 'z') + "\r\n";
  big += "\r\n";
  REQUIRE(big.size() > small.message_bytes);
  const std::string stream = banner + big + good_event;
  check_recovers(parse_whole(stream, true, small), ami_errc::message_too_large);

  // With smaller limits the split invariance loop stays cheap.
  parser_limits small;
  small.message_bytes = 200;
  std::string medium = "Event: Medium\r\n";
  for (int i = 0; i < 10; ++i) medium += "K" + std::to_string(i) + ": " + std::string(30, 'm') + "\r\n";
  medium += "\r\n";
  const std::string stream2 = banner + medium + good_event;
  check_recovers(parse_whole(stream2, true, small), ami_errc::message_too_large);
  check_split_invariance(stream2, small);

  // Exactly at the limit (blank line included) is accepted.
  parser_limits exact;
  exact.message_bytes = good_event.size();
  auto fits = parse_whole(good_event, true, exact);
  REQUIRE(fits.size() == 1);
  CHECK(fits[0].ok);
  exact.message_bytes = good_event.size() - 1;
  auto too_big = parse_whole(good_event, true, exact);
  REQUIRE(too_big.size() == 1);
  CHECK(too_big[0].error == make_error_code(ami_errc::message_too_large));
}

TEST_CASE("a partial message filling the buffer is buffer_full; memory stays bounded; parsing resumes",
          "[ami][codec][limits]") {
  parser_limits l;
  l.buffered_bytes = 512;
  l.message_bytes = 4096;  // larger than the buffer: only the buffer bound can stop this message
  parser p(l);
  std::string stream = banner + "Event: Endless\r\n";
  for (int i = 0; stream.size() < 4000; ++i) stream += "Line" + std::to_string(i) + ": " + std::string(40, 'b') + "\r\n";
  stream += "\r\n" + good_event;

  std::vector<outcome> out;
  std::string_view rest = stream;
  std::size_t max_buffered = 0;
  while (!rest.empty()) {
    const std::size_t taken = p.feed(rest.substr(0, 97));
    rest.remove_prefix(taken);
    max_buffered = std::max(max_buffered, p.buffered());
    while (auto r = p.next()) out.push_back(astra::ami::test::to_outcome(*r));
    REQUIRE((taken > 0 || rest.empty()));
  }
  CHECK(max_buffered <= l.buffered_bytes);
  check_recovers(out, ami_errc::buffer_full);

  // feed() never accepts more than the bound; the error comes when the message ends.
  parser q(l);
  CHECK(q.feed(std::string(2000, 'a')) == 512);
  CHECK(q.feed("more") == 0);
  CHECK(q.buffered() == 512);
  CHECK_FALSE(q.next());  // discarding: the buffer is free again
  CHECK(q.buffered() == 0);
  CHECK(q.feed("aaa\r\n\r\n") == 7);
  auto r = q.next();
  REQUIRE(r);
  CHECK(r->code() == make_error_code(ami_errc::buffer_full));
  CHECK(q.last_oversized().bytes == 512 + 7);
}

TEST_CASE("a discarded message's partial line never fills a small buffer (fuzzer regression)",
          "[ami][codec][limits]") {
  // A buffer smaller than the 512 bytes kept of a skipped partial line used to stall feed():
  // the kept line filled the buffer and next() kept it again.
  parser_limits l;
  l.line_bytes = 16;
  l.headers = 4;
  l.message_bytes = 96;
  l.buffered_bytes = 256;
  parser p(l);
  // Five headers end the message at D (too_many_headers) with E's long line still partial.
  std::string stream =
      banner + "Event: Long\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: " + std::string(300, 'x') + "\r\n\r\n" + good_event;
  std::vector<outcome> out;
  std::string_view rest = stream;
  while (!rest.empty()) {
    const std::size_t taken = p.feed(rest);
    REQUIRE(taken > 0);
    rest.remove_prefix(taken);
    REQUIRE(p.buffered() <= l.buffered_bytes);
    while (auto r = p.next()) out.push_back(astra::ami::test::to_outcome(*r));
  }
  while (auto r = p.finish()) out.push_back(astra::ami::test::to_outcome(*r));
  REQUIRE(out.size() >= 2);
  CHECK(out.back().ok);
}

TEST_CASE("malformed lines are refused and the stream resynchronises", "[ami][codec][limits]") {
  const std::string stream = banner + "Event: Bad\r\nthis line has no colon\r\nKey: v\r\n\r\n" + good_event;
  check_recovers(parse_whole(stream, true, small), ami_errc::malformed_line);
  check_split_invariance(stream);

  const std::string empty_key = banner + "Event: Bad\r\n: value\r\n\r\n" + good_event;
  check_recovers(parse_whole(empty_key, true), ami_errc::malformed_line);

  // A complete message with neither Event, Response nor Action: specific error, next message intact.
  const std::string headless = banner + "Foo: bar\r\n\r\n" + good_event;
  check_recovers(parse_whole(headless, true), ami_errc::malformed_line);
}

TEST_CASE("header syntax: case-insensitive lookup, repeated keys, spacing, Event wins over Response",
          "[ami][codec]") {
  const std::string text =
      "event: OriginateResponse\r\nRESPONSE: Success\r\nActionID: o-1\r\nChanVariable: A=1\r\n"
      "ChanVariable:B=2\r\nchanvariable:   C=3 \r\nVariable: X=1\r\nVariable: Y=2\r\nEmpty:\r\nColon: a:b: c\r\n\r\n";
  auto out = parse_whole(text, true);
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].ok);
  CHECK_FALSE(out[0].kind == message_kind::banner);  // first line has a colon: no banner

  parser p;
  p.feed(text);
  auto r = p.next();
  REQUIRE(r);
  REQUIRE(r->ok());
  const message& m = **r;
  CHECK(m.kind() == message_kind::event);
  CHECK(m.name() == "OriginateResponse");
  CHECK(m.action_id() == "o-1");
  CHECK(m.get("Response") == std::optional<std::string_view>("Success"));
  CHECK(m.get_all("CHANVARIABLE") == std::vector<std::string_view>{"A=1", "B=2", "C=3 "});
  CHECK(m.get_all("variable") == std::vector<std::string_view>{"X=1", "Y=2"});
  CHECK(m.get("Empty") == std::optional<std::string_view>(""));
  CHECK(m.get("Colon") == std::optional<std::string_view>("a:b: c"));
  CHECK(m.get_all("Nope").empty());
  CHECK(m.size() == 10);
  CHECK(m.key(4) == "ChanVariable");
  CHECK(m.raw() == text);
  CHECK_FALSE(p.banner_seen());

  // Response only: a response named by its Response: value. Stray blank lines are skipped.
  auto resp = parse_whole("\r\n\n\r\nResponse: Error\nActionID: 7\nMessage: Permission denied\n\n", true);
  REQUIRE(resp.size() == 1);
  CHECK(resp[0].kind == message_kind::response);
  CHECK(resp[0].name == "Error");
}

TEST_CASE("message::make builds equivalent messages for tests and simulators", "[ami][codec]") {
  auto m = message::make(message_kind::event, {{"Event", "Status"}, {"ChanVariable", "A=1"}, {"ChanVariable", "B=2"},
                                               {"ActionID", "s-1"}});
  CHECK(m.name() == "Status");
  CHECK(m.action_id() == "s-1");
  CHECK(m.get_all("chanvariable") == std::vector<std::string_view>{"A=1", "B=2"});
  CHECK(m.raw() == "Event: Status\r\nChanVariable: A=1\r\nChanVariable: B=2\r\nActionID: s-1\r\n\r\n");
  // Its raw text parses back to the same headers.
  auto back = parse_whole(std::string(m.raw()), true);
  REQUIRE(back.size() == 1);
  REQUIRE(back[0].ok);
  CHECK(back[0].headers.size() == 4);
  CHECK(back[0].headers[2].second == "B=2");

  auto b = message::make(message_kind::banner, {{"Asterisk Call Manager/11.0.0", ""}});
  CHECK(b.kind() == message_kind::banner);
  CHECK(b.name() == "Asterisk Call Manager/11.0.0");
  CHECK(b.size() == 0);
  auto r = message::make(message_kind::response, {{"Response", "Success"}, {"Message", "ok"}});
  CHECK(r.name() == "Success");
  CHECK(r.action_id().empty());
  auto shared = std::make_shared<const message>(std::move(r));
  message_ptr ptr = shared;
  CHECK(ptr->get("message") == std::optional<std::string_view>("ok"));
}
