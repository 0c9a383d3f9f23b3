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

// ---------------------------------------------------------------- fuzz regressions: UTF-8 and duplicate keys

namespace {

using ari::codec_errc;

// The fuzz invariant (fuzz/ari_event_fuzz.cpp): what decodes re-encodes to JSON that decodes
// again, and encoding that a second time is byte-identical. Returns the first encoding.
std::string check_fixed_point(std::string_view text) {
  auto first = ari::decode_event(text);
  REQUIRE(first.ok());
  std::string encoded = ari::encode_event(*first);
  auto second = ari::decode_event(encoded);
  INFO(encoded);
  REQUIRE(second.ok());
  CHECK(second->type() == first->type());
  CHECK(ari::encode_event(*second) == encoded);
  CHECK_NOTHROW(json::parse(encoded));  // strict parser: valid UTF-8, valid syntax
  return encoded;
}

// crash-a7dd3e75d5ca4c7fc0fff321733b8d7864529a37 (ari_event_fuzz): "channel" twice, and 37 raw
// 0xFF bytes inside the key "ex...ten" of the second channel's dialplan.
const std::string fuzz_crash_a7dd3e75 =
    "{\"type\":\"ChannelDialplan\",\"timestamp\":\"2026-11-23T16:49:41.937+0000\",\"dialplan_app\":\""
    "NoOp\",\"dialplan_app_data\":\"hangup\",\"channel\":{\"id\":\"astra-chan-1;2\",\"name\":\"Local/"
    "wait@default-0000002f;2\",\"state\":\"Up\",\"protocol_id\":\"\",\"ce\":\"talker\"},\"channel\":{"
    "\"id\":\"astra-em-1\",\"namealler\":{\"name\":\"\",\"number\":\"\"},\"connected\":{\"name\":\"As"
    "tra\",\"number\":\"5550199\"},\"accountcode\":\"\",\"dialplan\":{\"context\":\"default\",\"ex\xff"
    "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
    "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfften\":\"h\",\"priority\":1,\"app_name\":\"NoOp\""
    ",\"app_data\":\"hangup\"},\"creationtime\":\"2026-11-23T16:49:33.802+0000\",\"language\":\"en\"}"
    ",\"asterisk_id\":\"02:fc:00:00:00:01\",\"application\":\"astra-test\"}";

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string event_with(std::string_view members) {
  return std::string(R"({"type":"ChannelVarset","timestamp":"t","application":"app",)") + std::string(members) + "}";
}

}  // namespace

TEST_CASE("fuzz crash a7dd3e75: invalid UTF-8 in a key is rejected", "[ari][json][fuzz]") {
  REQUIRE(fuzz_crash_a7dd3e75.size() == 624);
  auto e = ari::decode_event(fuzz_crash_a7dd3e75);
  REQUIRE_FALSE(e.ok());
  CHECK(e.code() == codec_errc::invalid_json);
  CHECK_THAT(e.error().detail, Catch::Contains("at byte 402"));  // the first 0xFF
}

TEST_CASE("fuzz crash a7dd3e75 with valid UTF-8: the last \"channel\" wins, nothing is merged", "[ari][json][fuzz]") {
  const std::string text = replace_all(fuzz_crash_a7dd3e75, "\xff", "");  // key "exten"
  auto e = ari::decode_event(text);
  REQUIRE(e.ok());
  const auto* d = e->get<ari::ChannelDialplan>();
  REQUIRE(d != nullptr);
  CHECK(e->channel_id() == "astra-em-1");
  CHECK(d->channel.id == "astra-em-1");
  CHECK(d->channel.dialplan.exten == "h");
  // Members of the first "channel" object are gone, not merged into the second.
  CHECK(d->channel.state.empty());
  CHECK(d->channel.name.empty());
  CHECK(d->channel.missing_required == 0b11110);  // protocol_id, name, state, caller
  CHECK(json::parse(d->channel.extra) == json::parse(R"({"namealler":{"name":"","number":""}})"));
  CHECK(d->missing_required == 0);
  CHECK(d->extra.empty());
  const std::string encoded = check_fixed_point(text);
  CHECK(encoded.find("astra-chan-1") == std::string::npos);
  CHECK(encoded.find("talker") == std::string::npos);
}

TEST_CASE("UTF-8: ill-formed sequences anywhere are invalid_json", "[ari][json][fuzz]") {
  const std::vector<std::string> bad_bytes = {
      "\xff", "\xfe", "\x80", "\xbf",           // never valid / lone continuation
      "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80",   // overlong
      "\xed\xa0\x80", "\xed\xbf\xbf",           // UTF-16 surrogates encoded as UTF-8
      "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",   // above U+10FFFF
      "\xc3", "\xe2\x82", "\xf0\x9f\x98",       // truncated (followed by the closing quote)
      "\xc3(", "\xe2\x28\xa1"};                 // bad continuation
  for (const auto& b : bad_bytes) {
    INFO("bytes: " << json(std::vector<std::uint8_t>(b.begin(), b.end())).dump());
    // value of a known member, key of an unknown member, value of an unknown member, inside a
    // verbatim object member, inside an unknown event, and the Variable model directly.
    for (const std::string& text :
         {event_with(R"("variable":"a)" + b + R"(","value":"v")"), event_with(R"("k)" + b + R"(":1,"variable":"a","value":"v")"),
          event_with(R"("zz":["x)" + b + R"("],"variable":"a","value":"v")"),
          event_with(R"("channel":{"id":"c","channelvars":{"n)" + b + R"(":"v"}},"variable":"a","value":"v")"),
          R"({"type":"NoSuchEvent","x":{"y":")" + b + R"("}})"}) {
      INFO(text);
      CHECK(ari::decode_event(text).code() == codec_errc::invalid_json);
    }
    CHECK(ari::decode<ari::Variable>(R"({"value":")" + b + R"("})").code() == codec_errc::invalid_json);
  }
  // Well-formed 2/3/4-byte sequences at the boundaries pass through unchanged.
  const std::string good = "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
  auto v = ari::decode<ari::Variable>(R"({"value":")" + good + R"(","k)" + good + R"(":")" + good + R"("})");
  REQUIRE(v.ok());
  CHECK(v->value == good);
  CHECK(json::parse(v->extra) == json({{"k" + good, good}}));
  check_fixed_point(event_with(R"("variable":")" + good + R"(","value":"v","x)" + good + R"(":[")" + good + R"("])"));
}

TEST_CASE("UTF-16 escapes: lone surrogates are invalid_json everywhere, pairs are fine", "[ari][json][fuzz]") {
  for (const char* esc : {R"(\ud800)", R"(\udbff)", R"(\udc00)", R"(\udfff)", R"(\ud800x)", R"(\ud800\u0041)",
                          R"(\ud800\ud800)", R"(\udc00\ud800)"}) {
    INFO(esc);
    CHECK(ari::decode<ari::Variable>(std::string(R"({"value":")") + esc + "\"}").code() == codec_errc::invalid_json);
    CHECK(ari::decode_event(event_with(std::string(R"("zz":")") + esc + "\"")).code() == codec_errc::invalid_json);
    CHECK(ari::decode_event(std::string(R"({"type":"NoSuchEvent","x":")") + esc + "\"}").code() ==
          codec_errc::invalid_json);
  }
  auto v = ari::decode<ari::Variable>(R"({"value":"\ud83d\ude00","zz":"\uD83D\uDE00"})");
  REQUIRE(v.ok());
  CHECK(v->value == "\xf0\x9f\x98\x80");
  check_fixed_point(event_with(R"("variable":"\ud83d\ude00","value":"\u00e9","zz":"\ud83d\ude00")"));
}

TEST_CASE("duplicate keys: the last occurrence of a known member wins", "[ari][json][fuzz]") {
  SECTION("scalars") {
    auto v = ari::decode<ari::Variable>(R"({"value":"a","value":"b"})");
    REQUIRE(v.ok());
    CHECK(v->value == "b");
    CHECK(v->extra.empty());
    CHECK(ari::encode(*v) == R"({"value":"b"})");
  }
  SECTION("wrong type first: the kept copy in extra is dropped") {
    auto v = ari::decode<ari::Variable>(R"({"value":1,"x":2,"value":"b"})");
    REQUIRE(v.ok());
    CHECK(v->value == "b");
    CHECK(v->missing_required == 0);
    CHECK(v->extra == R"({"x":2})");
    auto only = ari::decode<ari::Variable>(R"({"value":1,"value":[2]})");
    REQUIRE(only.ok());
    CHECK(only->extra == R"({"value":[2]})");
    CHECK(only->missing_required == 1);
    // Wrong-typed known members follow the unknown ones in extra (spec order), duplicates collapsed.
    auto order = ari::decode<ari::DialplanCEP>(
        R"({"priority":"1","zz":1,"context":5,"exten":"h","priority":"2","context":[6],"yy":2})");
    REQUIRE(order.ok());
    CHECK(order->extra == R"({"zz":1,"yy":2,"context":[6],"priority":"2"})");
    CHECK(order->exten == "h");
    CHECK(order->missing_required == 0b11101);
    auto again = ari::decode<ari::DialplanCEP>(ari::encode(*order));
    REQUIRE(again.ok());
    CHECK(ari::encode(*again) == ari::encode(*order));
    CHECK(ari::encode(*order) == R"({"exten":"h","zz":1,"yy":2,"context":[6],"priority":"2"})");
  }
  SECTION("wrong type last: the member is unset again") {
    auto v = ari::decode<ari::Variable>(R"({"value":"a","value":null})");
    REQUIRE(v.ok());
    CHECK(v->value.empty());
    CHECK(v->missing_required == 1);
    CHECK(ari::encode(*v) == R"({"value":null})");
  }
  SECTION("nested models are replaced, not merged; optional boxed members too") {
    const std::string text = event_with(
        R"("channel":{"id":"c1","name":"n1","zz":1},"channel":{"id":"c2"},)"
        R"("variable":"v","value":"x","variable":"w")");
    auto e = ari::decode_event(text);
    REQUIRE(e.ok());
    const auto* d = e->get<ari::ChannelVarset>();
    REQUIRE(d != nullptr);
    REQUIRE(d->channel);
    CHECK(d->channel->id == "c2");
    CHECK(d->channel->name.empty());
    CHECK(d->channel->extra.empty());
    CHECK(d->variable == "w");
    check_fixed_point(text);
    auto dropped = ari::decode_event(event_with(R"("channel":{"id":"c1"},"channel":5,"variable":"v","value":"x")"));
    REQUIRE(dropped.ok());
    CHECK_FALSE(dropped->get<ari::ChannelVarset>()->channel);
    CHECK(dropped->channel_id().empty());
    CHECK(dropped->get<ari::ChannelVarset>()->extra == R"({"channel":5})");
  }
  SECTION("unknown members are kept verbatim, duplicates and order included") {
    auto v = ari::decode<ari::Variable>(R"({"zz":1,"value":"a","zz":2,"yy":3})");
    REQUIRE(v.ok());
    CHECK(v->extra == R"({"zz":1,"zz":2,"yy":3})");
    CHECK(ari::encode(*v) == R"({"value":"a","zz":1,"zz":2,"yy":3})");
    check_fixed_point(event_with(R"("zz":1,"variable":"a","zz":{"q":[1,{"q":2}]},"value":"v","value":1,"value":"w")"));
  }
}

TEST_CASE("duplicate \"type\": repeats must agree", "[ari][json][fuzz]") {
  auto same = ari::decode_event(event_with(R"("type":"ChannelVarset","t\u0079pe":"Channel\u0056arset","variable":"v","value":"x")"));
  REQUIRE(same.ok());
  CHECK(same->type() == ari::event_type::ChannelVarset);
  CHECK(ari::decode_event(event_with(R"("type":"StasisStart","variable":"v","value":"x")")).code() ==
        codec_errc::type_mismatch);
  CHECK(ari::decode_event(event_with(R"("type":5)")).code() == codec_errc::type_mismatch);
  // Unknown events follow the same rule.
  auto unknown = ari::decode_event(R"( {"type":"NoSuchEvent","a":[1],"type":"NoSuch\u0045vent"} )");
  REQUIRE(unknown.ok());
  CHECK(unknown->type_name() == "NoSuchEvent");
  CHECK(ari::encode_event(*unknown) == R"({"type":"NoSuchEvent","a":[1],"type":"NoSuch\u0045vent"})");
  check_fixed_point(R"({"type":"NoSuchEvent","a":[1],"type":"NoSuchEvent"})");
  CHECK(ari::decode_event(R"({"type":"NoSuchEvent","type":"StasisStart"})").code() == codec_errc::type_mismatch);
  CHECK(ari::decode_event(R"({"type":"NoSuchEvent","type":null})").code() == codec_errc::type_mismatch);
  CHECK(ari::decode_event(R"({"type":"NoSuchEvent","a":1,})").code() == codec_errc::invalid_json);
  CHECK(ari::decode_event(R"({"type":"NoSuchEvent"} x)").code() == codec_errc::invalid_json);
}

TEST_CASE("encode: ill-formed UTF-8 in values built by hand becomes U+FFFD", "[ari][json][fuzz]") {
  std::string s;
  ari::append_json_string(s, "a\xff" "b\xc3\xa9\xe2\x82" "c\xf0\x9f\x98\x80\xed\xa0\x80");
  CHECK(s == "\"a\xef\xbf\xbd" "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd" "c\xf0\x9f\x98\x80\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
  ari::Variable v;
  v.value = "x\xc0\xafy";
  auto back = ari::decode<ari::Variable>(ari::encode(v));
  REQUIRE(back.ok());
  CHECK(back->value == "x\xef\xbf\xbd\xef\xbf\xbdy");
}
