// The JSON reader/writer under the generated codecs: escapes, unicode, numbers, limits.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "protocols/ari/ari.hpp"

namespace ari = astra::ari;
using nlohmann::json;

TEST_CASE("strings: escapes and unicode survive decode and encode", "[ari][json]") {
  const std::string text = R"({"value":"q\"b\\s\/n\n\t\u00e9\ud83d\ude00\u0001 end"})";
  auto v = ari::decode<ari::Variable>(text);
  REQUIRE(v.ok());
  CHECK(v->value == "q\"b\\s/n\n\t\xC3\xA9\xF0\x9F\x98\x80\x01 end");
  CHECK(json::parse(ari::encode(*v)) == json::parse(text));
  // Raw UTF-8 passes through unchanged.
  auto u = ari::decode<ari::Variable>("{\"value\":\"\xC3\xA9t\xC3\xA9\"}");
  REQUIRE(u.ok());
  CHECK(u->value == "\xC3\xA9t\xC3\xA9");
  // Escaped keys are matched after unescaping.
  auto k = ari::decode<ari::Variable>(R"({"val\u0075e":"x"})");
  REQUIRE(k.ok());
  CHECK(k->value == "x");
  CHECK(k->extra.empty());
}

TEST_CASE("numbers: int64, doubles, and out-of-range values kept verbatim", "[ari][json]") {
  json rtp = {{"txcount", 10},          {"rxcount", 20},        {"txploss", 0},       {"rxploss", 1},
              {"local_ssrc", 4294967295LL}, {"remote_ssrc", 12345}, {"txoctetcount", 1600},
              {"rxoctetcount", 3200},   {"channel_uniqueid", "1.2"}, {"rtt", 0.0125},   {"txjitter", 1e-3}};
  auto r = ari::decode<ari::RTPstat>(rtp.dump());
  REQUIRE(r.ok());
  CHECK(r->local_ssrc == 4294967295LL);
  CHECK(r->rtt.value_or(0) == Approx(0.0125));
  CHECK(json::parse(ari::encode(*r)) == rtp);

  // 2^70 does not fit an int64: kept in extra, not truncated.
  const std::string big = R"({"name":"m","old_messages":1180591620717411303424,"new_messages":1.5})";
  auto m = ari::decode<ari::Mailbox>(big);
  REQUIRE(m.ok());
  CHECK(m->missing_required == 0b110);
  CHECK(json::parse(ari::encode(*m)) == json::parse(big));
}

TEST_CASE("raw_json helpers", "[ari][json]") {
  auto vars = ari::make_string_map({{"CALLERID(name)", "Alice \"A\""}, {"X", "1"}});
  CHECK(json::parse(vars.text) == json({{"CALLERID(name)", "Alice \"A\""}, {"X", "1"}}));
  std::string s;
  ari::append_json_string(s, std::string_view("a\x1f\n", 3));
  CHECK(s == "\"a\\u001f\\n\"");
}

TEST_CASE("json_reader: skip validates and bounds nesting", "[ari][json]") {
  for (const char* bad : {"{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "tru", "nul", "-", "1.", "1e", "\"\\x\"",
                          "{\"a\":1 \"b\":2}", "[1 2]", "\"\\u12g4\""}) {
    ari::json_reader r(bad);
    bool ok = r.skip() && r.at_end();
    INFO(bad);
    CHECK_FALSE(ok);
  }
  for (const char* good : {"{}", "[]", "0", "-0.5e+3", "\"\"", "{\"a\":[{},[],null,true,false,\"x\"]}", " 1 "}) {
    ari::json_reader r(good);
    INFO(good);
    CHECK((r.skip() && r.at_end()));
  }
  std::string deep(ari::json_reader::max_depth, '[');
  deep += std::string(ari::json_reader::max_depth, ']');
  ari::json_reader ok_depth(deep);
  CHECK(ok_depth.skip());
  std::string deeper = "[" + deep + "]";
  ari::json_reader too_deep(deeper);
  CHECK_FALSE(too_deep.skip());
  CHECK(too_deep.error() == ari::json_reader::error_kind::too_deep);
}

TEST_CASE("escaped keys: a wrong-typed list under an escaped key is kept under its own name", "[ari][json]") {
  // "\u0066ormats" == "formats"; the nested escaped key must not leak into the outer member's name.
  const std::string text = R"({"id":"s","\u0066ormats":[{"l\u0061nguage":"en","format":"gsm"},5]})";
  auto s = ari::decode<ari::Sound>(text);
  REQUIRE(s.ok());
  CHECK(s->formats.empty());
  CHECK(json::parse(s->extra) == json({{"formats", json::parse(R"([{"language":"en","format":"gsm"},5])")}}));
  CHECK(json::parse(ari::encode(*s)) == json::parse(text));
  auto good = ari::decode<ari::Sound>(R"({"id":"s","\u0066ormats":[{"l\u0061nguage":"en","format":"gsm"}]})");
  REQUIRE(good.ok());
  REQUIRE(good->formats.size() == 1);
  CHECK(good->formats[0].language == "en");
}
