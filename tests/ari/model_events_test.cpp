// Every recorded ARI event decodes into its typed event (never the unknown fallback for a type the
// Swagger defines) and encodes back without losing a field; unknown / wrong-typed members are kept;
// malformed frames give specific errors.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

#include "protocols/ari/ari.hpp"
#include "tests/support/fixtures.hpp"

namespace ari = astra::ari;
using nlohmann::json;

namespace {

std::vector<std::string> recorded_event_frames() {
  std::vector<std::string> frames;
  for (const auto& name : astra::test::list_fixtures("ari"))
    for (const auto& c : astra::test::load_fixture(name))
      if (c.dir == "ws-in") frames.push_back(c.data);
  return frames;
}

std::set<std::string> spec_message_types() {
  std::ifstream in(std::string(ASTRA_SOURCE_DIR) + "/codegen/asterisk/ari-api-docs/events.json");
  json doc = json::parse(in);
  std::set<std::string> types;
  for (const auto& t : doc["models"]["Event"]["subTypes"]) types.insert(t.get<std::string>());
  for (const auto& t : doc["models"]["Message"]["subTypes"])
    if (t != "Event") types.insert(t.get<std::string>());
  return types;
}

std::string_view extra_of(const ari::event& e) {
  return std::visit(
      [](const auto& x) -> std::string_view {
        if constexpr (requires { x.extra; }) return x.extra;
        else return "<unknown_event>";
      },
      e.value);
}

std::uint64_t missing_of(const ari::event& e) {
  return std::visit(
      [](const auto& x) -> std::uint64_t {
        if constexpr (requires { x.missing_required; }) return x.missing_required;
        else return ~0ULL;
      },
      e.value);
}

std::string id_suffix(const json& target_uri, const std::string& prefix) {
  std::string uri = target_uri.get<std::string>();
  return uri.rfind(prefix, 0) == 0 ? uri.substr(prefix.size()) : std::string();
}

}  // namespace

TEST_CASE("event types: one typed alternative per Swagger Message subtype", "[ari][events]") {
  const auto spec = spec_message_types();
  CHECK(spec.size() == ari::event_type_count);
  for (const auto& name : spec) {
    json probe = {{"type", name}, {"application", "a"}, {"timestamp", "t"}};
    auto ev = ari::decode_event(probe.dump());
    REQUIRE(ev.ok());
    INFO(name);
    CHECK(ev->type() != ari::event_type::unknown);
    CHECK(ev->type_name() == name);
    CHECK(ari::to_string(ev->type()) == name);
  }
}

TEST_CASE("every recorded event decodes typed and round-trips", "[ari][events][fixtures]") {
  const auto spec = spec_message_types();
  const auto frames = recorded_event_frames();
  REQUIRE(frames.size() >= 70);  // 4 ari fixtures with event streams
  std::set<std::string> seen_types;
  for (const auto& frame : frames) {
    INFO(frame);
    const json expected = json::parse(frame);
    auto ev = ari::decode_event(frame);
    REQUIRE(ev.ok());
    const std::string type = expected["type"];
    seen_types.insert(type);
    REQUIRE(spec.count(type) == 1);
    CHECK(ev->type() != ari::event_type::unknown);
    CHECK(ev->type_name() == type);
    CHECK(ev->application() == expected.value("application", ""));
    // The recorded events use only members the spec knows, with the spec's types.
    CHECK(extra_of(*ev).empty());
    CHECK(missing_of(*ev) == 0);

    // Dispatch accessors agree with the JSON.
    if (expected.contains("channel")) CHECK(ev->channel_id() == expected["channel"]["id"].get<std::string>());
    else if (type == "Dial") CHECK(ev->channel_id() == expected["peer"]["id"].get<std::string>());
    if (expected.contains("bridge")) CHECK(ev->bridge_id() == expected["bridge"]["id"].get<std::string>());
    if (expected.contains("playback")) {
      CHECK(ev->playback_id() == expected["playback"]["id"].get<std::string>());
      CHECK(ev->bridge_id() == id_suffix(expected["playback"]["target_uri"], "bridge:"));
      CHECK(ev->channel_id() == id_suffix(expected["playback"]["target_uri"], "channel:"));
    }

    const std::string encoded = ari::encode_event(*ev);
    CHECK(json::parse(encoded) == expected);
    // Decoding our own output gives the same event again.
    auto again = ari::decode_event(encoded);
    REQUIRE(again.ok());
    CHECK(json::parse(ari::encode_event(*again)) == expected);
  }
  // The fixtures exercise these types (guards against silently empty fixture sets).
  for (const char* t : {"StasisStart", "StasisEnd", "ChannelDestroyed", "PlaybackFinished", "PlaybackContinuing",
                        "ChannelEnteredBridge", "BridgeDestroyed", "ApplicationReplaced", "RESTResponse",
                        "DeviceStateChanged", "Dial", "ChannelVarset", "ChannelDtmfReceived"})
    CHECK(seen_types.count(t) == 1);
}

TEST_CASE("typed access to a recorded StasisStart", "[ari][events]") {
  for (const auto& frame : recorded_event_frames()) {
    auto ev = ari::decode_event(frame);
    REQUIRE(ev.ok());
    const auto* start = ev->get<ari::StasisStart>();
    if (!start) continue;
    const json j = json::parse(frame);
    CHECK(start->channel.id == j["channel"]["id"].get<std::string>());
    CHECK(start->channel.caller.number == j["channel"]["caller"]["number"].get<std::string>());
    CHECK(start->channel.dialplan.priority == j["channel"]["dialplan"]["priority"].get<std::int64_t>());
    CHECK(start->args == j["args"].get<std::vector<std::string>>());
    CHECK(start->application == j["application"].get<std::string>());
    CHECK(start->timestamp == j["timestamp"].get<std::string>());
    CHECK(start->asterisk_id.value_or("") == j.value("asterisk_id", ""));
    CHECK(ev->type() == ari::event_type::StasisStart);
  }
}

TEST_CASE("members the spec does not know, or of the wrong type, are kept", "[ari][events]") {
  std::string frame;
  for (const auto& f : recorded_event_frames())
    if (json::parse(f)["type"] == "StasisStart") { frame = f; break; }
  REQUIRE_FALSE(frame.empty());
  json j = json::parse(frame);
  j["future_member"] = {{"nested", {1, 2.5, "x", nullptr, true}}};
  j["channel"]["x_new_field"] = "v";
  j["channel"]["caller"]["extra_cid"] = 7;
  j["channel"]["state"] = nullptr;          // wrong type for a required string
  j["channel"]["channelvars"] = {{"A", "1"}};  // spec type "object": kept verbatim
  j["replace_channel"] = 42;                // wrong type for an optional model
  j["args"] = {"ok", 3};                    // one element of the wrong type
  const std::string text = j.dump();
  auto ev = ari::decode_event(text);
  REQUIRE(ev.ok());
  const auto* s = ev->get<ari::StasisStart>();
  REQUIRE(s);
  CHECK(json::parse(s->extra).contains("future_member"));
  CHECK(json::parse(s->extra).contains("replace_channel"));
  CHECK(json::parse(s->extra).contains("args"));
  CHECK_FALSE(s->replace_channel.has_value());
  CHECK(s->args.empty());
  CHECK(s->missing_required == 1);  // required#0 = args
  CHECK(json::parse(s->channel.extra) == json({{"x_new_field", "v"}, {"state", nullptr}}));
  CHECK(s->channel.missing_required == (1u << 3));  // required#3 = state
  CHECK(json::parse(s->channel.caller.extra) == json({{"extra_cid", 7}}));
  REQUIRE(s->channel.channelvars.has_value());
  CHECK(json::parse(s->channel.channelvars->text) == json({{"A", "1"}}));
  CHECK(json::parse(ari::encode_event(*ev)) == j);
}

TEST_CASE("absent required members decode leniently and are not invented on encode", "[ari][events]") {
  json j = {{"type", "ChannelDestroyed"}, {"timestamp", "2026-11-23T16:49:40.000+0000"}, {"cause", 16},
            {"channel", {{"id", "c1"}, {"name", "PJSIP/x"}}}};
  auto ev = ari::decode_event(j.dump());
  REQUIRE(ev.ok());
  const auto* d = ev->get<ari::ChannelDestroyed>();
  REQUIRE(d);
  CHECK(d->cause == 16);
  CHECK(d->channel.id == "c1");
  CHECK(d->missing_required != 0);
  CHECK(d->channel.missing_required != 0);
  CHECK(ev->channel_id() == "c1");
  CHECK(json::parse(ari::encode_event(*ev)) == j);
}

TEST_CASE("an event type the spec lacks is kept as unknown_event", "[ari][events]") {
  const std::string text = R"({"application":"app","type":"FutureThing","payload":{"a":[1,2,{"b":null}]}})";
  auto ev = ari::decode_event(text);
  REQUIRE(ev.ok());
  CHECK(ev->type() == ari::event_type::unknown);
  CHECK(ev->type_name() == "FutureThing");
  REQUIRE(ev->get<ari::unknown_event>());
  CHECK(ev->channel_id().empty());
  CHECK(json::parse(ari::encode_event(*ev)) == json::parse(text));
}

TEST_CASE("malformed event frames give specific errors, never a crash", "[ari][events][errors]") {
  using ari::codec_errc;
  CHECK(ari::decode_event("").code() == codec_errc::invalid_json);
  CHECK(ari::decode_event("{\"type\":\"StasisEnd\"").code() == codec_errc::invalid_json);
  CHECK(ari::decode_event("[1,2]").code() == codec_errc::type_mismatch);
  CHECK(ari::decode_event("{\"application\":\"x\"}").code() == codec_errc::missing_event_type);
  CHECK(ari::decode_event("{\"type\":5}").code() == codec_errc::missing_event_type);
  CHECK(ari::decode_event("{\"type\":\"StasisEnd\"} trailing").code() == codec_errc::invalid_json);
  CHECK(ari::decode_event("{\"type\":\"Nope\"} x").code() == codec_errc::invalid_json);
  CHECK(ari::decode_event("{\"type\":\"StasisEnd\",\"application\":\"\\ud800\"}").code() == codec_errc::invalid_json);
  CHECK(ari::decode_event("{\"type\":\"StasisEnd\",\"x\":01}").code() == codec_errc::invalid_json);
  CHECK(ari::decode_event("{\"type\":\"StasisEnd\",\"x\":\"a\x01\"}").code() == codec_errc::invalid_json);
  std::string deep = "{\"type\":\"StasisEnd\",\"x\":" + std::string(200, '[') + std::string(200, ']') + "}";
  CHECK(ari::decode_event(deep).code() == codec_errc::json_too_deep);

  // Every proper prefix of every recorded frame is rejected cleanly.
  std::size_t checked = 0;
  for (const auto& frame : recorded_event_frames()) {
    for (std::size_t cut = 0; cut < frame.size(); ++cut) {
      auto r = ari::decode_event(std::string_view(frame).substr(0, cut));
      REQUIRE_FALSE(r.ok());
      ++checked;
    }
    if (checked > 200000) break;
  }
  CHECK(checked > 10000);
}

TEST_CASE("decode<T>/encode<T> for models", "[ari][models]") {
  const std::string text =
      R"({"id":"astra-pb-2","media_uri":"sound:beep","next_media_uri":"sound:beeperr","target_uri":"channel:astra-chan-1","language":"en","state":"queued"})";
  auto pb = ari::decode<ari::Playback>(text);
  REQUIRE(pb.ok());
  CHECK(pb->id == "astra-pb-2");
  CHECK(pb->next_media_uri.value_or("") == "sound:beeperr");
  CHECK(pb->state == "queued");
  CHECK(json::parse(ari::encode(*pb)) == json::parse(text));
  CHECK(ari::decode<ari::Playback>("[]").code() == ari::codec_errc::type_mismatch);
  CHECK(ari::decode<ari::Playback>("{").code() == ari::codec_errc::invalid_json);

  ari::Variable v;
  v.value = "x";
  CHECK(ari::encode(v) == R"({"value":"x"})");
  // A user-built event encodes with its type.
  ari::StasisEnd end;
  end.application = "app";
  end.timestamp = "t";
  end.channel.id = "c";
  auto enc = json::parse(ari::encode(end));
  CHECK(enc["type"] == "StasisEnd");
  CHECK(enc["channel"]["id"] == "c");
  CHECK(ari::decode<ari::StasisEnd>(R"({"type":"StasisStart","application":"a"})").code() ==
        ari::codec_errc::type_mismatch);
}

TEST_CASE("mutated recorded frames: no crash, and whatever decodes re-encodes stably", "[ari][events][errors]") {
  const auto frames = recorded_event_frames();
  std::uint64_t state = 0x9E3779B97F4A7C15ULL;  // fixed seed: reproducible
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 33);
  };
  static constexpr char alphabet[] = "{}[]\":,\\u0019aZ -.eE+tfn\x01\xC3\xFF";
  std::size_t decoded = 0, rejected = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string f = frames[next() % frames.size()];
    for (int k = 1 + next() % 3; k > 0; --k) {
      std::size_t at = next() % f.size();
      switch (next() % 3) {
        case 0: f[at] = alphabet[next() % (sizeof alphabet - 1)]; break;
        case 1: f.erase(at, 1 + next() % 4); break;
        default: f.insert(at, 1, alphabet[next() % (sizeof alphabet - 1)]); break;
      }
      if (f.empty()) f = "{";
    }
    auto ev = ari::decode_event(f);
    if (!ev) {
      ++rejected;
      continue;
    }
    ++decoded;
    const std::string once = ari::encode_event(*ev);
    auto again = ari::decode_event(once);
    INFO(f);
    REQUIRE(again.ok());
    CHECK(again->type() == ev->type());
    CHECK(ari::encode_event(*again) == once);
  }
  CHECK(decoded > 100);
  CHECK(rejected > 100);
}
