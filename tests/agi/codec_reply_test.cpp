// reply_parser / parse_reply_line: reply forms, (data) with spaces and ')', extras,
// provisional 100, 510/511/520 (single and multi-line), HANGUP, limits, split invariance.
#include <catch2/catch.hpp>

#include "protocols/agi/command.hpp"
#include "protocols/agi/reply.hpp"
#include "tests/agi/codec_pipeline.hpp"

using namespace astra::agi;

namespace {

std::vector<reply_event> parse_all(std::string_view bytes, std::error_code* error = nullptr) {
  reply_parser p;
  std::vector<reply_event> out;
  while (!bytes.empty()) {
    bytes.remove_prefix(p.feed(bytes));
    while (auto e = p.next()) {
      if (*e) out.push_back(std::move(e->value()));
      else if (error) *error = e->code();
    }
  }
  return out;
}

reply line(std::string_view text) {
  auto r = parse_reply_line(text);
  REQUIRE(r.ok());
  return r.value();
}

}  // namespace

TEST_CASE("reply line forms") {
  auto r = line("200 result=1 (ok fine)");
  CHECK(r.code == 200);
  CHECK(r.result == "1");
  CHECK(r.result_int() == 1L);
  CHECK(r.data == std::optional<std::string>("ok fine"));
  CHECK(r.extras.empty());

  r = line("200 result= (timeout)");
  CHECK(r.result.empty());
  CHECK_FALSE(r.result_int());
  CHECK(r.data == std::optional<std::string>("timeout"));

  r = line("200 result=0 endpos=3520");
  CHECK_FALSE(r.data);
  CHECK(r.extra("endpos") == std::optional<std::string_view>("3520"));

  r = line("200 result=0 (timeout) endpos=0");
  CHECK(r.data == std::optional<std::string>("timeout"));
  CHECK(r.extra("endpos") == std::optional<std::string_view>("0"));

  r = line("200 result=1 (a) b) c)");  // data holding ')' and spaces
  CHECK(r.data == std::optional<std::string>("a) b) c"));
  r = line("200 result=1 (x) endpos=5)");  // a value that looks like an extra
  CHECK(r.data == std::optional<std::string>("x) endpos=5"));
  CHECK(r.extras.empty());
  r = line("200 result=1 ()");
  CHECK(r.data == std::optional<std::string>(""));
  r = line("200 result=1 ((nested))");
  CHECK(r.data == std::optional<std::string>("(nested)"));

  r = line("200 result=1 (speech) endpos=120 results=2 score0=900 text0=\"hello (world)\" grammar0=yesno score1=10 text1=\"x\" grammar1=g");
  CHECK(r.data == std::optional<std::string>("speech"));
  CHECK(r.extra("text0") == std::optional<std::string_view>("hello (world)"));
  CHECK(r.extra("results") == std::optional<std::string_view>("2"));
  CHECK(r.extras.size() == 8);
  auto speech = decode_speech_recognize(r);
  REQUIRE(speech.ok());
  CHECK(speech->how == speech_result::outcome::speech);
  REQUIRE(speech->matches.size() == 2);
  CHECK(speech->matches[0].score == 900);
  CHECK(speech->matches[0].text == "hello (world)");
  CHECK(speech->matches[1].grammar == "g");
  CHECK(speech->endpos == 120);

  auto dtmf = decode_speech_recognize(line("200 result=1 (digit) digit=# endpos=80"));
  REQUIRE(dtmf.ok());
  CHECK(dtmf->how == speech_result::outcome::dtmf);
  CHECK(dtmf->digit == std::optional<char>('#'));

  r = line("200 result=0 Gosub complete");
  CHECK(r.text == "Gosub complete");
  CHECK(r.extras.empty());
  r = line("200 result=-1 Gosub label not found");
  CHECK(decode_status(r).code() == agi_errc::command_failed);

  r = line("100 result=0 Trying...");
  CHECK(r.code == 100);
  CHECK(r.text == "Trying...");
  CHECK(check_reply(r).code() == agi_errc::malformed_reply);  // not a final reply

  r = line("510 Invalid or unknown command");
  CHECK(r.text == "Invalid or unknown command");
  CHECK(r.result.empty());
  r = line("200 result=1 (unbalanced");
  CHECK_FALSE(r.data);
  CHECK(r.text == "(unbalanced");

  for (std::string_view bad : {"", "20", "abc result=1", "2x0 result=1", "200result=1", "HANGUPX"})
    CHECK(parse_reply_line(bad).code() == agi_errc::malformed_reply);
}

TEST_CASE("reply stream: provisional, HANGUP, 510, 511, 520 single and multi-line") {
  std::string bytes =
      "100 result=0 Trying...\n"
      "200 result=0 Gosub complete\n"
      "HANGUP\n"
      "200 result=1\n"
      "510 Invalid or unknown command\n"
      "511 Command Not Permitted on a dead channel or intercept routine\n"
      "520 Invalid command syntax.  Proper usage not available.\n"
      "520-Invalid command syntax.  Proper usage follows:\n"
      " Usage: GET DATA <file to be streamed> [timeout] [max digits]\n"
      "\n"
      "200 result=1 looks like a reply but is usage text\n"
      "HANGUP\n"
      "520 End of proper usage.\n"
      "200 result=0\n";
  auto events = parse_all(bytes);
  REQUIRE(events.size() == 9);
  CHECK(events[0].kind == reply_event::provisional);
  CHECK(events[1].kind == reply_event::final_reply);
  CHECK(events[2].kind == reply_event::hangup_notice);
  CHECK(events[2].value.raw == "HANGUP");
  CHECK(check_reply(events[4].value).code() == agi_errc::invalid_command);
  CHECK(check_reply(events[5].value).code() == agi_errc::hung_up);
  CHECK(check_reply(events[6].value).code() == agi_errc::usage_error);
  CHECK(events[6].value.usage.empty());
  const auto& multi = events[7].value;
  CHECK(events[7].kind == reply_event::final_reply);
  CHECK(multi.code == 520);
  CHECK(multi.text == "Invalid command syntax.  Proper usage follows:");
  REQUIRE(multi.usage.size() == 4);
  CHECK(multi.usage[0] == " Usage: GET DATA <file to be streamed> [timeout] [max digits]");
  CHECK(multi.usage[1].empty());
  CHECK(multi.usage[3] == "HANGUP");
  CHECK(check_reply(multi).code() == agi_errc::usage_error);
  CHECK(events[8].value.raw == "200 result=0");

  // The same events at every split point.
  auto reference = parse_all(bytes);
  std::string_view all(bytes);
  for (std::size_t k = 0; k <= bytes.size(); ++k) {
    reply_parser p;
    std::vector<reply_event> got;
    for (auto piece : {all.substr(0, k), all.substr(k)}) {
      while (!piece.empty()) {
        piece.remove_prefix(p.feed(piece));
        while (auto e = p.next()) {
          REQUIRE(e->ok());
          got.push_back(std::move(e->value()));
        }
      }
    }
    REQUIRE(got.size() == reference.size());
    for (std::size_t i = 0; i < got.size(); ++i)
      REQUIRE(astra::agi::test::describe(got[i]) == astra::agi::test::describe(reference[i]));
  }
}

TEST_CASE("reply parser: feed stops after one event; mid_reply") {
  reply_parser p;
  std::string_view bytes = "200 result=0\n200 result=1\n200 res";
  CHECK(p.feed(bytes) == 13);
  CHECK_FALSE(p.mid_reply());
  CHECK(p.feed(bytes) == 0);  // an event is pending
  REQUIRE(p.next());
  CHECK_FALSE(p.next());
  bytes.remove_prefix(13);
  CHECK(p.feed(bytes) == 13);
  REQUIRE(p.next());
  bytes.remove_prefix(13);
  CHECK(p.feed(bytes) == bytes.size());
  CHECK(p.mid_reply());
  CHECK_FALSE(p.next());
  p.feed("\r\n");
  auto e = p.next();
  REQUIRE(e);
  REQUIRE(e->ok());
  CHECK(e->value().value.raw == "200 res");  // CR removed
  CHECK(p.feed("520-usage\n") == 10);
  CHECK(p.mid_reply());
}

TEST_CASE("reply parser: errors are reported once and end the stream") {
  SECTION("malformed line") {
    reply_parser p;
    CHECK(p.feed("garbage\n200 result=0\n") == 21);  // discarded after the error
    auto e = p.next();
    REQUIRE(e);
    CHECK(e->code() == agi_errc::malformed_reply);
    CHECK(e->error().detail == "garbage");
    CHECK_FALSE(p.next());
    CHECK(p.error() == agi_errc::malformed_reply);
    CHECK(p.feed("200 result=0\n") == 13);
    CHECK_FALSE(p.next());
  }
  SECTION("line too long without LF, bounded") {
    reply_parser p;
    std::string chunk(512, '7');
    std::size_t fed = 0;
    while (!p.error() && fed < 1000000) {
      CHECK(p.feed(chunk) == chunk.size());
      fed += chunk.size();
    }
    CHECK(p.error() == agi_errc::line_too_long);
    CHECK(fed <= max_line_bytes + chunk.size());
    auto e = p.next();
    REQUIRE(e);
    CHECK(e->code() == agi_errc::line_too_long);
  }
  SECTION("a line of exactly max_line_bytes is accepted") {
    std::string text = "200 result=1 (" + std::string(max_line_bytes - 15, 'x') + ")";
    REQUIRE(text.size() == max_line_bytes);
    std::error_code ec;
    auto events = parse_all(text + "\n", &ec);
    CHECK_FALSE(ec);
    REQUIRE(events.size() == 1);
    CHECK(events[0].value.data->size() == max_line_bytes - 15);
    events = parse_all(text + "x\n", &ec);
    CHECK(ec == agi_errc::line_too_long);
    CHECK(events.empty());
  }
  SECTION("520 usage too large") {
    std::string bytes = "520-Invalid command syntax.  Proper usage follows:\n";
    for (std::size_t i = 0; i <= max_usage_lines; ++i) bytes += "usage line\n";
    bytes += "520 End of proper usage.\n";
    std::error_code ec;
    auto events = parse_all(bytes, &ec);
    CHECK(ec == agi_errc::reply_too_large);
    CHECK(events.empty());
  }
}
