// The webhook protocol codec (protocols/webhook): verbs, durations, URLs, signatures.
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "protocols/webhook/signature.hpp"
#include "protocols/webhook/url.hpp"
#include "protocols/webhook/verbs.hpp"

using namespace astra::webhook;
using namespace std::chrono_literals;

namespace {
webhook_errc code_of(const astra::failure& f) {
  REQUIRE(f.code.category() == webhook_category());
  return static_cast<webhook_errc>(f.code.value());
}
}  // namespace

TEST_CASE("every verb decodes with its arguments", "[webhook][codec]") {
  auto r = decode_reply(R"J({"verbs": [
    {"answer": {}},
    {"play": {"file": "welcome", "interrupt_digits": "12#"}},
    {"say": {"number": "42"}},
    {"gather": {"play": "menu", "max_digits": 4, "timeout": "5s", "inter_digit_timeout": 2.5, "finish_on": "#", "action": "http://app/menu"}},
    {"record": {"file": "msg-1", "format": "gsm", "max_seconds": 30, "max_silence": "3s", "beep": false, "action": "https://app/rec"}},
    {"set": {"variables": {"LANG": "en", "COUNT": 3}}},
    {"get": {"variables": ["CALLERID(num)", "LANG"], "action": "http://app/vars"}},
    {"dial": {"endpoint": "PJSIP/alice", "timeout": "20s", "caller_id": "5551000", "action": "http://app/dialed"}},
    {"pause": {"seconds": "250ms"}},
    {"continue": {"context": "default", "extension": "s", "priority": 2}},
    {"hangup": {"cause": 17}},
    {"redirect": {"url": "http://app/next"}}
  ], "ignored": true})J");
  REQUIRE(r.ok());
  const auto& v = *r;
  REQUIRE(v.size() == 12);
  for (std::size_t i = 0; i < v.size(); ++i) CHECK(name_of(v[i]) == verb_names()[i]);
  CHECK(std::get<play>(v[1]).interrupt_digits == "12#");
  CHECK(std::get<say>(v[2]).what == say::kind::number);
  const auto& g = std::get<gather>(v[3]);
  CHECK(g.max_digits == 4);
  CHECK(g.timeout == 5s);
  CHECK(g.inter_digit_timeout == 2500ms);
  CHECK(action_of(v[3]) == "http://app/menu");
  const auto& rec = std::get<record>(v[4]);
  CHECK(rec.format == "gsm");
  CHECK(rec.max_duration == 30s);
  CHECK(rec.max_silence == 3s);
  CHECK_FALSE(rec.beep);
  CHECK(std::get<set>(v[5]).variables.at("COUNT") == "3");
  CHECK(std::get<get>(v[6]).variables.size() == 2);
  CHECK(std::get<dial>(v[7]).timeout == 20s);
  CHECK(std::get<astra::webhook::pause>(v[8]).duration == 250ms);
  CHECK(std::get<continue_>(v[9]).priority == "2");
  CHECK(std::get<hangup>(v[10]).cause == "17");
  CHECK(std::get<redirect>(v[11]).url == "http://app/next");
  CHECK(action_of(v[0]).empty());
}

TEST_CASE("defaults of optional arguments", "[webhook][codec]") {
  auto r = decode_list(R"J([{"gather": {}}, {"record": {"file": "x"}}, {"answer": null}, {"pause": {}}])J");
  REQUIRE(r.ok());
  const auto& g = std::get<gather>((*r)[0]);
  CHECK(g.max_digits == 1);
  CHECK(g.timeout == 5s);
  CHECK(g.finish_on == "#");
  CHECK(g.action.empty());
  CHECK(std::get<record>((*r)[1]).format == "wav");
  CHECK(std::get<record>((*r)[1]).beep);
  CHECK(std::get<astra::webhook::pause>((*r)[3]).duration == 1s);
}

TEST_CASE("each kind of bad reply is a specific error", "[webhook][codec]") {
  struct row {
    const char* body;
    webhook_errc expected;
  };
  const row rows[] = {
      {"", webhook_errc::not_json},
      {"{\"verbs\": [", webhook_errc::not_json},
      {"<html>oops</html>", webhook_errc::not_json},
      {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", webhook_errc::not_json},
      {"[]", webhook_errc::bad_reply},
      {"{}", webhook_errc::bad_reply},
      {R"J({"verbs": {"answer": {}}})J", webhook_errc::bad_reply},
      {R"J({"verbs": [{"answer": {}, "play": {"file": "x"}}]})J", webhook_errc::bad_verb},
      {R"J({"verbs": ["answer"]})J", webhook_errc::bad_verb},
      {R"J({"verbs": [{"sing": {}}]})J", webhook_errc::unknown_verb},
      {R"J({"verbs": [{"play": {}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"play": {"file": "a\nb"}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"play": {"file": "x", "volume": 3}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"play": "x"}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"gather": {"max_digits": 0}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"gather": {"timeout": "5 parsecs"}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"gather": {"timeout": -1}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"gather": {"timeout": "2h"}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"gather": {"finish_on": "x"}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"gather": {"action": "ftp://x"}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"say": {"digits": "12", "number": "3"}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"say": {"number": "12a"}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"set": {"variables": {}}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"set": {"variables": {"A B": "x"}}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"get": {"variables": [1]}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"dial": {"endpoint": "alice"}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"dial": {"endpoint": "PJSIP/a&PJSIP/b"}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"hangup": {"cause": "busy"}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"continue": {"context": "a,b"}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"redirect": {}}]})J", webhook_errc::bad_argument},
      {R"J({"verbs": [{"record": {"file": "x", "format": "../wav"}}]})J", webhook_errc::bad_argument},
  };
  for (const auto& [body, expected] : rows) {
    INFO(body);
    auto r = decode_reply(body);
    REQUIRE_FALSE(r.ok());
    CHECK(code_of(r.error()) == expected);
    CHECK_FALSE(r.error().detail.empty());
  }
  std::string many = "{\"verbs\": [";
  for (std::size_t i = 0; i <= max_verbs; ++i) many += std::string(i ? "," : "") + "{\"answer\": {}}";
  many += "]}";
  auto r = decode_reply(many);
  REQUIRE_FALSE(r.ok());
  CHECK(code_of(r.error()) == webhook_errc::too_many_verbs);
}

TEST_CASE("the error names the verb's position and argument", "[webhook][codec]") {
  auto r = decode_reply(R"J({"verbs": [{"answer": {}}, {"gather": {"max_digits": 500}}]})J");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().detail.find("verbs[1]") != std::string::npos);
  CHECK(r.error().detail.find("gather.max_digits") != std::string::npos);
}

TEST_CASE("durations", "[webhook][codec]") {
  CHECK(*parse_duration("5s") == 5s);
  CHECK(*parse_duration("250ms") == 250ms);
  CHECK(*parse_duration("1m") == 60s);
  CHECK(*parse_duration("1.5s") == 1500ms);
  CHECK(*parse_duration("2") == 2s);
  CHECK(*parse_duration("1h") == 3600s);
  for (const char* bad : {"", "s", "5 s", "5x", "1.2.3s", "-1s", "2h", ".", "99999999999999999999999999999999s"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).ok());
  }
}

TEST_CASE("URLs", "[webhook][codec]") {
  auto u = parse_url("https://app.internal/voice?x=1");
  REQUIRE(u.ok());
  CHECK(u->tls);
  CHECK(u->host == "app.internal");
  CHECK(u->port == 443);
  CHECK(u->target == "/voice?x=1");
  CHECK(u->host_header() == "app.internal");
  auto v = parse_url("http://[::1]:8080");
  REQUIRE(v.ok());
  CHECK(v->host == "::1");
  CHECK(v->port == 8080);
  CHECK(v->target == "/");
  CHECK(v->host_header() == "[::1]:8080");
  CHECK(parse_url("http://h?q=1")->target == "/?q=1");
  for (const char* bad : {"ftp://x", "http://", "http://:80/", "http://u:p@h/", "http://h:0/", "http://h:65536/",
                          "http://h:8x/", "http://h/a b", "http://h/#frag", "http://[::1/"}) {
    INFO(bad);
    CHECK_FALSE(parse_url(bad).ok());
  }
}

TEST_CASE("signatures are HMAC-SHA256 over timestamp.body", "[webhook][codec]") {
  // Reference value from Python: hmac.new(b"k3y", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
  const std::string expected = "sha256=fd5a70e965043f7df6309c2c3b5ff5a8ffa99b1f5175e9a311459e73c4634d4a";
  CHECK(sign("k3y", "1700000000", R"J({"a":1})J") == expected);
  CHECK(signature_matches("k3y", "1700000000", R"J({"a":1})J", expected));
  CHECK_FALSE(signature_matches("k3y", "1700000001", R"J({"a":1})J", expected));
  CHECK_FALSE(signature_matches("other", "1700000000", R"J({"a":1})J", expected));
  CHECK_FALSE(signature_matches("k3y", "1700000000", R"J({"a":1})J", expected.substr(0, 20)));
}

TEST_CASE("random mutations of a valid reply decode or fail with a webhook error", "[webhook][codec][property]") {
  const std::string seed =
      R"J({"verbs": [{"answer": {}}, {"gather": {"play": "menu", "max_digits": 2, "timeout": "5s", "action": "http://a/b"}},)J"
      R"J( {"set": {"variables": {"A": "1"}}}, {"dial": {"endpoint": "PJSIP/x", "timeout": 3}}, {"hangup": {}}]})J";
  std::mt19937 rng(12345);
  const std::string alphabet = "{}[]\":,0123456789abcdefghijklmnopqrstuvwxyz-. \\\x80\xff\n";
  int ok = 0, failed = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string s = seed;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const std::size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: s.erase(at, 1 + rng() % 8); break;
        default: s.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
      }
    }
    auto r = decode_reply(s);
    if (r.ok()) {
      ++ok;
      CHECK(r->size() <= max_verbs);
    } else {
      ++failed;
      REQUIRE(r.error().code.category() == webhook_category());
    }
  }
  CHECK(ok > 0);
  CHECK(failed > 0);
}
