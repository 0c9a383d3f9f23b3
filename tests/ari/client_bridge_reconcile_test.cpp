// Bridge branch of the reconciliation after an event WebSocket gap: bridge actors (one made
// by create_bridge from a channel actor, two spawned by ChannelEnteredBridge) meet a
// reconnect where GET /bridges lists only one of them. The vanished ones are told
// (client_handlers::on_bridge_end, channel_gone) and stopped; the kept one carries on and
// ends normally at BridgeDestroyed. Live actor counts are checked at each step. Frames are
// the recorded ones (tests/data/asterisk/fixtures/ari/stasis-call-lifecycle.jsonl),
// re-targeted at the test's ids.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/ari/client.hpp"
#include "actors/common/io_runtime.hpp"
#include "generated/ari/events.hpp"
#include "tests/ari/fake_ari_server.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fixtures.hpp"

using namespace astra;
using namespace std::chrono_literals;

namespace {

using astra::test::eventually;

const char* const vanished = "bridge vanished while the event socket was down";

// Recorded frames and REST bodies about astra-chan-1 / astra-bridge-1.
struct recording {
  std::vector<std::string> frames;
  std::string channel_json, bridge_json;

  recording() {
    for (const auto& rec : test::load_fixture("ari/stasis-call-lifecycle.jsonl")) {
      if (rec.dir == "ws-in") frames.push_back(rec.data);
      if (rec.dir != "rest") continue;
      auto j = nlohmann::json::parse(rec.json);
      if (!j["response"].is_string() || j["status"].get<int>() != 200) continue;
      auto path = j["path"].get<std::string>();
      if (j["method"] == "GET" && path == "/ari/channels/astra-chan-1" && channel_json.empty())
        channel_json = j["response"].get<std::string>();
      if (j["method"] == "POST" && path == "/ari/bridges" && bridge_json.empty())
        bridge_json = j["response"].get<std::string>();
    }
    REQUIRE_FALSE(channel_json.empty());
    REQUIRE_FALSE(bridge_json.empty());
  }
  // The first recorded `type` frame about astra-chan-1 (if chan is set) and astra-bridge-1
  // (if bridge is set), re-targeted at chan / bridge.
  std::string frame(const std::string& type, const std::string& chan, const std::string& bridge) const {
    auto about = [](const std::string& f, const char* id) { return f.find(std::string("\"id\":\"") + id + "\"") != std::string::npos; };
    for (const auto& f : frames)
      if (f.find("\"type\":\"" + type + "\"") != std::string::npos && (chan.empty() || about(f, "astra-chan-1")) &&
          (bridge.empty() || about(f, "astra-bridge-1"))) {
        auto out = test::replace_all(f, "astra-chan-1", chan);
        return test::replace_all(std::move(out), "astra-bridge-1", bridge);
      }
    FAIL("no recorded " << type << " frame");
    return {};
  }
  std::string bridge(const std::string& id) const { return test::replace_all(bridge_json, "astra-bridge-1", id); }
  std::string channel(const std::string& id) const { return test::replace_all(channel_json, "astra-chan-1", id); }
};

struct observed {
  std::mutex mu;
  std::string created;                                    // bridge made by the channel's handler
  std::map<std::string, std::vector<std::string>> events;  // bridge id -> event types, in its actor
  std::map<std::string, astra::failure> ended;             // bridge id -> why (on_bridge_end)
  std::map<std::string, int> end_calls;
  std::pair<std::size_t, std::size_t> last_counts{0, 0};  // hooks.actors: channels, bridges
  std::vector<std::pair<std::string, int>> replies;        // hooks.request: method, status

  std::size_t events_of(const std::string& id) {
    std::lock_guard lock(mu);
    return events[id].size();
  }
};

// The io_context outlives the actor system: actors still hold Asio objects (strands,
// sockets) until ~actor_system has waited for them.
struct runtime {
  io_runtime io{2};
  caf::actor_system_config caf_cfg;
  caf::actor_system system{caf_cfg};
};

ari::client_config config_for(const test::fake_ari_server& server) {
  ari::client_config cfg;
  cfg.url = server.url();
  cfg.password = "asterisk";
  cfg.apps = {"astra-test"};
  cfg.request_timeout = 3s;
  cfg.reconnect.initial = 50ms;
  cfg.reconnect.max = 200ms;
  return cfg;
}

// Client whose channel handler creates one bridge; bridge events and ends are recorded.
result<std::unique_ptr<ari::client>> start_client(runtime& rt, const test::fake_ari_server& server, observed& seen) {
  ari::client_handlers handlers;
  handlers.on_stasis_start = [&seen](ari::channel, ari::session& ari) -> task<void> {
    auto b = co_await ari.create_bridge("mixing");
    if (!b) co_return;
    std::lock_guard lock(seen.mu);
    seen.created = b->id();
  };
  handlers.on_bridge_event = [&seen](ari::bridge b, ari::session&, const ari::event& e) {
    std::lock_guard lock(seen.mu);
    seen.events[b.id()].emplace_back(e.type_name());
  };
  handlers.on_bridge_end = [&seen](ari::bridge b, ari::session&, const astra::failure& why) {
    std::lock_guard lock(seen.mu);
    seen.ended.emplace(b.id(), why);
    ++seen.end_calls[b.id()];
  };
  ari::client_hooks hooks;
  hooks.actors = [&seen](std::size_t channels, std::size_t bridges) {
    std::lock_guard lock(seen.mu);
    seen.last_counts = {channels, bridges};
  };
  hooks.request = [&seen](std::string_view method, int status) {
    std::lock_guard lock(seen.mu);
    seen.replies.emplace_back(std::string(method), status);
  };
  return ari::client::start(rt.system, rt.io.context(), config_for(server), handlers, hooks);
}

// A channel c1 in the app with the bridge its handler created, plus br-stays and br-gone
// (spawned by ChannelEnteredBridge): three bridge actors.
void set_up_three_bridges(test::fake_ari_server& server, const recording& rec, ari::client& client, observed& seen) {
  server.set_handler([&rec](const test::fake_request& req) -> std::optional<test::fake_reply> {
    if (req.method == "POST" && req.path == "/ari/bridges") {
      for (auto& [n, v] : req.query)
        if (n == "bridgeId") return test::fake_reply{200, "application/json", rec.bridge(v)};
    }
    return std::nullopt;
  });
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  REQUIRE(eventually([&] { return client.connected(); }));
  server.push_event(rec.frame("StasisStart", "c1", ""));
  REQUIRE(eventually([&] {
    std::lock_guard lock(seen.mu);
    return !seen.created.empty();
  }));
  server.push_event(rec.frame("ChannelEnteredBridge", "c1", "br-stays"));
  server.push_event(rec.frame("ChannelEnteredBridge", "c1", "br-gone"));
  REQUIRE(eventually([&] { return seen.events_of("br-stays") == 1 && seen.events_of("br-gone") == 1; }));
  CHECK(client.bridge_actors() == 3);
  CHECK(client.channel_actors() == 1);
  std::lock_guard lock(seen.mu);
  CHECK(seen.last_counts == std::make_pair(std::size_t{1}, std::size_t{3}));
  CHECK(seen.ended.empty());
}

}  // namespace

TEST_CASE("after a WebSocket gap, vanished bridges' actors are told and stopped, kept ones carry on",
          "[ari][actors][reconcile]") {
  recording rec;
  test::fake_ari_server server;
  runtime rt;
  observed seen;
  auto client = start_client(rt, server, seen);
  REQUIRE(client.ok());
  set_up_three_bridges(server, rec, **client, seen);
  std::string created;
  {
    std::lock_guard lock(seen.mu);
    created = seen.created;
  }

  // During the gap the created bridge and br-gone were destroyed; c1 and br-stays remain.
  server.add_reply("GET", "/ari/channels", {200, "application/json", "[" + rec.channel("c1") + "]"});
  server.add_reply("GET", "/ari/bridges", {200, "application/json", "[" + rec.bridge("br-stays") + "]"});
  server.drop_websockets();
  REQUIRE(server.wait_ws_handshakes(2, 5s));
  REQUIRE(eventually([&] { return (*client)->bridge_actors() == 1; }));
  CHECK((*client)->channel_actors() == 1);
  {
    std::lock_guard lock(seen.mu);
    REQUIRE(seen.ended.size() == 2);
    for (const auto& id : {created, std::string("br-gone")}) {
      INFO(id);
      REQUIRE(seen.ended.count(id) == 1);
      CHECK(seen.ended.at(id).code == make_error_code(ari::ari_errc::channel_gone));
      CHECK(seen.ended.at(id).detail == vanished);
    }
    CHECK(seen.ended.count("br-stays") == 0);
  }
  auto stats = (*client)->stats();
  CHECK(stats.vanished == 2);
  CHECK(stats.connects == 2);
  CHECK(stats.bridge_actors == 1);
  CHECK(eventually([&] {
    std::lock_guard lock(seen.mu);
    return seen.last_counts == std::make_pair(std::size_t{1}, std::size_t{1});
  }));
  auto requests = server.requests();
  auto listed = [&](const std::string& path) {
    return std::count_if(requests.begin(), requests.end(),
                         [&](const test::fake_request& r) { return r.method == "GET" && r.path == path; });
  };
  CHECK(listed("/ari/bridges") == 1);  // once per reconnect, not at the first connect
  CHECK(listed("/ari/channels") == 2);  // at every subscription (channels already in the app)

  // An event about a stopped bridge reaches no bridge actor; the kept bridge still gets its own.
  auto unrouted_before = (*client)->stats().unrouted;
  server.push_event(rec.frame("ChannelLeftBridge", "someone-else", "br-gone"));
  server.push_event(rec.frame("ChannelLeftBridge", "c1", "br-stays"));
  REQUIRE(eventually([&] { return seen.events_of("br-stays") == 2; }));
  CHECK(seen.events_of("br-gone") == 1);
  CHECK((*client)->stats().unrouted == unrouted_before + 1);
  CHECK((*client)->bridge_actors() == 1);
  {
    std::lock_guard lock(seen.mu);
    CHECK(seen.events["br-stays"] == std::vector<std::string>{"ChannelEnteredBridge", "ChannelLeftBridge"});
  }

  // The kept bridge ends normally; then the channel.
  server.push_event(rec.frame("BridgeDestroyed", "", "br-stays"));
  REQUIRE(eventually([&] { return (*client)->bridge_actors() == 0; }));
  server.push_event(rec.frame("StasisEnd", "c1", ""));
  REQUIRE(eventually([&] { return (*client)->channel_actors() == 0; }));
  {
    std::lock_guard lock(seen.mu);
    REQUIRE(seen.ended.count("br-stays") == 1);
    CHECK(seen.ended.at("br-stays").detail == "BridgeDestroyed");
    for (auto& [id, n] : seen.end_calls) {
      INFO(id);
      CHECK(n == 1);  // told once
    }
  }
  // The counters drop before the hook reports them: wait for the report.
  CHECK(eventually([&] {
    std::lock_guard lock(seen.mu);
    return seen.last_counts == std::make_pair(std::size_t{0}, std::size_t{0});
  }));
  CHECK((*client)->stats().vanished == 2);
  (*client)->stop();
}

TEST_CASE("after a WebSocket gap, a failed GET /bridges keeps every bridge actor", "[ari][actors][reconcile]") {
  recording rec;
  test::fake_ari_server server;
  runtime rt;
  observed seen;
  auto client = start_client(rt, server, seen);
  REQUIRE(client.ok());
  set_up_three_bridges(server, rec, **client, seen);

  server.add_reply("GET", "/ari/channels", {200, "application/json", "[" + rec.channel("c1") + "]"});
  server.add_reply("GET", "/ari/bridges", {500, "application/json", R"({"message":"Internal Server Error"})"});
  server.drop_websockets();
  REQUIRE(server.wait_ws_handshakes(2, 5s));
  // The failed listing reaches the client (its reply hook runs just before the dispatcher is
  // told); an event pushed afterwards, plus a settle period, lets the dispatcher act on it.
  REQUIRE(eventually([&] {
    std::lock_guard lock(seen.mu);
    return std::count(seen.replies.begin(), seen.replies.end(), std::make_pair(std::string("GET"), 500)) == 1;
  }));
  server.push_event(rec.frame("ChannelLeftBridge", "c1", "br-gone"));
  REQUIRE(eventually([&] { return seen.events_of("br-gone") == 2; }));
  std::this_thread::sleep_for(100ms);
  CHECK((*client)->bridge_actors() == 3);
  CHECK((*client)->channel_actors() == 1);
  CHECK((*client)->stats().vanished == 0);
  {
    std::lock_guard lock(seen.mu);
    CHECK(seen.ended.empty());
  }
  (*client)->stop();
  CHECK(eventually([&] { return (*client)->bridge_actors() == 0 && (*client)->channel_actors() == 0; }));
}
