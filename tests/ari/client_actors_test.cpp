// ARI actors against the fake ARI server fed with the recorded frames: the example's call
// flow (in process and the real ari_demo binary), reconciliation after a WebSocket drop,
// REST over WebSocket with fallback, originate with a pre-assigned id,
// bounded actor queues; live actor counts back to zero afterwards.
#include <catch2/catch.hpp>

#include <stdexcept>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <caf/all.hpp>

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

// The recorded call: frames by type (n-th occurrence about astra-chan-1 / astra-bridge-1).
struct recorded_call {
  std::vector<std::string> frames;
  std::string channel_json, bridge_json, playback_json;

  recorded_call() {
    for (const auto& rec : test::load_fixture("ari/stasis-call-lifecycle.jsonl")) {
      if (rec.dir == "ws-in") frames.push_back(rec.data);
      if (rec.dir != "rest") continue;
      auto pos = rec.json.find("\"path\": \"");
      auto path = rec.json.substr(pos + 9, rec.json.find('"', pos + 9) - pos - 9);
      auto j = rec.json;
      auto response = [&] {
        auto p = j.find("\"response\": \"");
        std::string out;
        for (std::size_t i = p + 13; i < j.size() && j[i] != '"'; ++i) {
          if (j[i] == '\\') ++i;
          out += j[i];
        }
        return out;
      };
      if (path == "/ari/channels/astra-chan-1" && channel_json.empty() && rec.json.find("\"GET\"") != std::string::npos)
        channel_json = response();
      if (path == "/ari/bridges" && bridge_json.empty()) bridge_json = response();
      if (path.rfind("/ari/bridges/astra-bridge-1/play", 0) == 0) playback_json = response();
    }
  }
  // The first frame of `type` whose text mentions `about` (a channel/bridge/playback id).
  std::string frame(const std::string& type, const std::string& about) const {
    for (const auto& f : frames)
      if (f.find("\"type\":\"" + type + "\"") != std::string::npos &&
          f.find("\"id\":\"" + about + "\"") != std::string::npos)
        return f;
    FAIL("no recorded " << type << " frame about " << about);
    return {};
  }
};

std::string query_value(const test::fake_request& r, const std::string& name) {
  for (auto& [n, v] : r.query)
    if (n == name) return v;
  return {};
}

std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

// Plays Asterisk for the demo flow: replies to the calls and pushes the recorded frames,
// re-targeted at the ids the client chose.
struct scripted_asterisk {
  test::fake_ari_server& server;
  const recorded_call& rec;
  std::mutex mu;
  std::map<std::string, std::string> bridge_of_channel, channel_of_bridge, variables;
  std::set<std::string> destroyed_bridges, hung_up;

  std::string retarget(std::string frame, const std::string& chan, const std::string& bridge = {},
                       const std::string& playback = {}) {
    frame = test::replace_all(std::move(frame), "astra-chan-1", chan);
    if (!bridge.empty()) frame = test::replace_all(std::move(frame), "astra-bridge-1", bridge);
    if (!playback.empty()) frame = test::replace_all(std::move(frame), "astra-pb-1", playback);
    return frame;
  }

  void start_call(const std::string& chan) { server.push_event(retarget(rec.frame("StasisStart", "astra-chan-1"), chan)); }

  void end_call(const std::string& chan) {
    server.push_event(retarget(rec.frame("ChannelHangupRequest", "astra-chan-1"), chan));
    server.push_event(retarget(rec.frame("StasisEnd", "astra-chan-1"), chan));
    server.push_event(retarget(rec.frame("ChannelDestroyed", "astra-chan-1"), chan));
  }

  explicit scripted_asterisk(test::fake_ari_server& s, const recorded_call& r) : server(s), rec(r) {
    server.set_handler([this](const test::fake_request& req) -> std::optional<test::fake_reply> {
      auto seg = segments(req.path);  // "ari", resource, id, action
      std::lock_guard lock(mu);
      // The subscription's look for channels already in the app: none (as recorded).
      if (req.method == "GET" && req.path == "/ari/channels") return test::fake_reply{200, "application/json", "[]"};
      if (req.method == "POST" && seg.size() == 4 && seg[1] == "channels" && seg[3] == "answer") return test::fake_reply{204, "", ""};
      if (req.method == "POST" && seg.size() == 4 && seg[1] == "channels" && seg[3] == "variable") {
        variables[seg[2] + ":" + query_value(req, "variable")] = query_value(req, "value");
        return test::fake_reply{204, "", ""};
      }
      if (req.method == "POST" && seg.size() == 2 && seg[1] == "bridges") {
        auto id = query_value(req, "bridgeId");
        return test::fake_reply{200, "application/json", test::replace_all(rec.bridge_json, "astra-bridge-1", id)};
      }
      if (req.method == "POST" && seg.size() == 4 && seg[1] == "bridges" && seg[3] == "addChannel") {
        auto chan = query_value(req, "channel");
        bridge_of_channel[chan] = seg[2];
        channel_of_bridge[seg[2]] = chan;
        server.push_event(retarget(rec.frame("ChannelEnteredBridge", "astra-bridge-1"), chan, seg[2]));
        return test::fake_reply{204, "", ""};
      }
      if (req.method == "POST" && seg.size() == 4 && seg[1] == "bridges" && seg[3] == "play") {
        auto pb = query_value(req, "playbackId");
        auto chan = channel_of_bridge[seg[2]];
        server.push_event(retarget(rec.frame("PlaybackStarted", "astra-pb-1"), chan, seg[2], pb));
        server.push_event(retarget(rec.frame("PlaybackFinished", "astra-pb-1"), chan, seg[2], pb));
        return test::fake_reply{201, "application/json",
                                test::replace_all(test::replace_all(rec.playback_json, "astra-pb-1", pb), "astra-bridge-1", seg[2])};
      }
      if (req.method == "DELETE" && seg.size() == 3 && seg[1] == "channels") {
        hung_up.insert(seg[2]);
        end_call(seg[2]);
        return test::fake_reply{204, "", ""};
      }
      if (req.method == "DELETE" && seg.size() == 3 && seg[1] == "bridges") {
        destroyed_bridges.insert(seg[2]);
        server.push_event(test::replace_all(rec.frame("BridgeDestroyed", "astra-bridge-1"), "astra-bridge-1", seg[2]));
        return test::fake_reply{204, "", ""};
      }
      return std::nullopt;
    });
  }

  std::size_t destroyed() {
    std::lock_guard lock(mu);
    return destroyed_bridges.size();
  }
};

ari::channels::get get_channel(std::string id) {
  ari::channels::get op;
  op.channelId = std::move(id);
  return op;
}

// The example's call flow (examples/ari_demo.cpp), as a test handler.
task<void> demo_call(ari::channel chan, ari::session& ari) {
  if (!co_await chan.answer()) co_return;
  if (!co_await chan.set_var("ASTRA_ARI_DEMO", "answered")) co_return;
  auto created = co_await ari.create_bridge("mixing");
  if (!created) co_return;
  ari::bridge bridge = *created;
  chan.on_end([bridge](const failure&) mutable { bridge.destroy().detach(); });
  if (!co_await bridge.add(chan.id())) co_return;
  auto playback = co_await bridge.play("sound:beep");
  if (!playback) co_return;
  if (!co_await chan.wait_playback(playback->id)) co_return;
  (void)co_await chan.hangup();
}

struct hook_log {
  std::mutex mu;
  std::vector<bool> connected;
  std::map<std::string, int> events;
  std::vector<std::pair<std::string, int>> requests;
  std::vector<std::string> replaced;
  std::map<std::string, std::uint64_t> dropped;
  std::size_t max_channels = 0;

  ari::client_hooks hooks() {
    ari::client_hooks h;
    h.connected = [this](bool up) {
      std::lock_guard lock(mu);
      connected.push_back(up);
    };
    h.event = [this](std::string_view type) {
      std::lock_guard lock(mu);
      ++events[std::string(type)];
    };
    h.request = [this](std::string_view method, int status) {
      std::lock_guard lock(mu);
      requests.emplace_back(std::string(method), status);
    };
    h.actors = [this](std::size_t channels, std::size_t) {
      std::lock_guard lock(mu);
      max_channels = std::max(max_channels, channels);
    };
    h.dropped = [this](std::string_view queue, std::uint64_t total) {
      std::lock_guard lock(mu);
      dropped[std::string(queue)] = total;
    };
    h.application_replaced = [this](std::string_view app) {
      std::lock_guard lock(mu);
      replaced.emplace_back(app);
    };
    return h;
  }
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

// The io_context outlives the actor system: actors still hold Asio objects (strands,
// sockets) until ~actor_system has waited for them.
struct runtime {
  io_runtime io{2};
  caf::actor_system_config caf_cfg;
  caf::actor_system system{caf_cfg};
};

}  // namespace

TEST_CASE("the demo flow runs for concurrent calls and every actor stops afterwards", "[ari][actors]") {
  recorded_call rec;
  test::fake_ari_server server;
  scripted_asterisk asterisk(server, rec);
  runtime rt;
  hook_log log;
  ari::client_handlers handlers;
  handlers.on_stasis_start = demo_call;
  std::mutex bridge_mu;
  std::map<std::string, std::vector<std::string>> bridge_events;  // seen inside each bridge actor
  handlers.on_bridge_event = [&bridge_mu, &bridge_events](ari::bridge b, ari::session&, const ari::event& e) {
    std::lock_guard lock(bridge_mu);
    bridge_events[b.id()].emplace_back(e.type_name());
  };
  auto client = ari::client::start(rt.system, rt.io.context(), config_for(server), handlers, log.hooks());
  REQUIRE(client.ok());
  REQUIRE(eventually([&] { return (*client)->connected(); }));

  constexpr int calls = 6;
  for (int i = 0; i < calls; ++i) asterisk.start_call("call-" + std::to_string(i));
  if (!eventually([&] { return asterisk.destroyed() == calls; })) {
    std::string trail = "requests seen by the server:\n";
    for (auto& r : server.requests()) trail += "  " + r.method + " " + r.path + "\n";
    std::lock_guard lock(log.mu);
    trail += "replies seen by the client:";
    for (auto& [method, status] : log.requests) trail += " " + method + ":" + std::to_string(status);
    trail += "\nevents seen by the client:";
    for (auto& [type, n] : log.events) trail += " " + type + "x" + std::to_string(n);
    FAIL("not every call's bridge was destroyed\n" << trail);
  }
  REQUIRE(eventually([&] { return (*client)->channel_actors() == 0 && (*client)->bridge_actors() == 0; }));

  // Per call, in order: answer, variable, bridge, add, play, hangup (after PlaybackFinished), bridge destroy.
  auto seen = server.requests();
  for (int i = 0; i < calls; ++i) {
    std::string chan = "call-" + std::to_string(i);
    std::string bridge;
    {
      std::lock_guard lock(asterisk.mu);
      bridge = asterisk.bridge_of_channel.at(chan);
      CHECK(asterisk.variables.at(chan + ":ASTRA_ARI_DEMO") == "answered");
    }
    std::vector<std::string> flow;
    for (auto& r : seen) {
      auto about = [&](const std::string& prefix) { return r.path == prefix || r.path.rfind(prefix + "/", 0) == 0; };
      if (about("/ari/channels/" + chan) || about("/ari/bridges/" + bridge) || query_value(r, "bridgeId") == bridge)
        flow.push_back(r.method + " " + r.path);
    }
    CHECK(flow == std::vector<std::string>{
                      "POST /ari/channels/" + chan + "/answer", "POST /ari/channels/" + chan + "/variable",
                      "POST /ari/bridges", "POST /ari/bridges/" + bridge + "/addChannel",
                      "POST /ari/bridges/" + bridge + "/play", "DELETE /ari/channels/" + chan,
                      "DELETE /ari/bridges/" + bridge});
    auto play = std::find_if(seen.begin(), seen.end(), [&](auto& r) { return r.path == "/ari/bridges/" + bridge + "/play"; });
    REQUIRE(play != seen.end());
    CHECK(query_value(*play, "media") == "sound:beep");
    auto create = std::find_if(seen.begin(), seen.end(), [&](auto& r) { return query_value(r, "bridgeId") == bridge; });
    REQUIRE(create != seen.end());
    CHECK(query_value(*create, "type") == "mixing");
  }
  {
    std::lock_guard lock(bridge_mu);
    CHECK(bridge_events.size() == calls);
    for (auto& [id, types] : bridge_events)
      CHECK(types == std::vector<std::string>{"ChannelEnteredBridge", "PlaybackStarted", "PlaybackFinished", "BridgeDestroyed"});
  }
  auto stats = (*client)->stats();
  CHECK(stats.dropped_actor == 0);
  CHECK(stats.dropped_dispatch == 0);
  CHECK(stats.decode_errors == 0);
  // The last DELETE's reply reaches hooks.request on the HTTP path, apart from the events that
  // stopped the actors: wait for it.
  CHECK(eventually([&] {
    std::lock_guard lock(log.mu);
    return log.requests.size() == seen.size();
  }));
  {
    std::lock_guard lock(log.mu);
    CHECK(log.connected == std::vector<bool>{true});
    CHECK(log.events["StasisStart"] == calls);
    CHECK(log.events["PlaybackFinished"] == calls);
    CHECK(log.max_channels >= 1);
    CHECK(log.requests.size() == seen.size());
    CHECK(std::all_of(log.requests.begin(), log.requests.end(), [](auto& r) { return r.second >= 200 && r.second < 300; }));
  }
  (*client)->stop();
}

TEST_CASE("a handler that throws ends only its call: hung up, counted as exception; other calls go on",
          "[ari][actors][containment]") {
  recorded_call rec;
  test::fake_ari_server server;
  scripted_asterisk asterisk(server, rec);
  runtime rt;
  hook_log log;
  std::mutex outcome_mu;
  std::map<std::string, int> outcomes;  // handler_ended outcome -> count
  ari::client_handlers handlers;
  handlers.on_stasis_start = [](ari::channel chan, ari::session& ari) -> task<void> {
    if (chan.id() != "boom") return demo_call(std::move(chan), ari);
    return [](ari::channel c) -> task<void> {
      co_await c.answer();
      throw std::runtime_error("user handler bug");
    }(std::move(chan));
  };
  auto hooks = log.hooks();
  hooks.handler_ended = [&](std::string_view, std::string_view outcome) {
    std::lock_guard lock(outcome_mu);
    ++outcomes[std::string(outcome)];
  };
  auto client = ari::client::start(rt.system, rt.io.context(), config_for(server), handlers, hooks);
  REQUIRE(client.ok());
  REQUIRE(eventually([&] { return (*client)->connected(); }));
  asterisk.start_call("boom");
  asterisk.start_call("call-ok");
  REQUIRE(eventually([&] { return asterisk.destroyed() == 1; }));  // call-ok's bridge: its flow completed
  REQUIRE(eventually([&] {
    std::lock_guard lock(asterisk.mu);
    return asterisk.hung_up.count("boom") == 1 && asterisk.hung_up.count("call-ok") == 1;
  }));
  REQUIRE(eventually([&] {
    std::lock_guard lock(outcome_mu);
    return outcomes["exception"] == 1 && outcomes["completed"] == 1;
  }));
  REQUIRE(eventually([&] { return (*client)->channel_actors() == 0; }));
  CHECK((*client)->connected());
  (*client)->stop();
}

TEST_CASE("typed errors reach the coroutine; the handler keeps control", "[ari][actors]") {
  recorded_call rec;
  test::fake_ari_server server;
  server.load_rest_records(test::load_fixture("ari/stasis-call-lifecycle.jsonl"));
  runtime rt;
  std::mutex mu;
  std::vector<std::pair<int, std::string>> outcomes;
  ari::client_handlers handlers;
  handlers.on_stasis_start = [&mu, &outcomes](ari::channel chan, ari::session& ari) -> task<void> {
    auto missing = co_await ari.channel_of("no-such-channel").answer();
    auto info = co_await ari.request(get_channel("no-such-channel"));
    auto bridge_gone = co_await ari.bridge_of("no-such-bridge").destroy();
    auto invalid = co_await ari.request(ari::channels::originate());  // endpoint missing: refused before sending
    auto got = co_await chan.get();
    auto no_dtmf = co_await chan.wait(ari::event_type::ChannelDtmfReceived, 50ms);
    {
      std::lock_guard lock(mu);
      for (const failure* f : {&missing.error(), &info.error(), &bridge_gone.error(), &invalid.error()})
        outcomes.emplace_back(ari::http_status(*f), f->detail);
      outcomes.emplace_back(got ? 200 : -1, got ? got->id : got.error().message());
      outcomes.emplace_back(no_dtmf ? 1 : 0, no_dtmf ? "" : no_dtmf.error().message());
    }
    auto varset = co_await chan.wait(ari::event_type::ChannelVarset, 5s);
    std::lock_guard lock(mu);
    outcomes.emplace_back(varset ? 1 : 0, varset ? std::string((*varset)->type_name()) : varset.error().message());
  };
  auto client = ari::client::start(rt.system, rt.io.context(), config_for(server), handlers);
  REQUIRE(client.ok());
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  server.push_event(rec.frame("StasisStart", "astra-chan-1"));
  REQUIRE(eventually([&] {
    std::lock_guard lock(mu);
    return outcomes.size() == 6;
  }));
  server.push_event(rec.frame("ChannelVarset", "astra-chan-1"));
  REQUIRE(eventually([&] {
    std::lock_guard lock(mu);
    return outcomes.size() == 7;
  }));
  std::unique_lock lock(mu);
  CHECK(outcomes[5].first == 0);  // nothing arrived within 50 ms
  CHECK(outcomes[5].second.find("deadline") != std::string::npos);
  CHECK(outcomes[6] == std::make_pair(1, std::string("ChannelVarset")));
  CHECK(outcomes[0] == std::make_pair(404, std::string("Channel not found")));
  CHECK(outcomes[1] == std::make_pair(404, std::string("Channel not found")));
  CHECK(outcomes[2] == std::make_pair(404, std::string("Bridge not found")));
  CHECK(outcomes[3].first == 0);  // codec error, never sent
  CHECK(outcomes[3].second.find("endpoint") != std::string::npos);
  CHECK(outcomes[4] == std::make_pair(200, std::string("astra-chan-1")));
  lock.unlock();
  CHECK((*client)->channel_actors() == 1);
  server.push_event(rec.frame("StasisEnd", "astra-chan-1"));
  REQUIRE(eventually([&] { return (*client)->channel_actors() == 0; }));
  (*client)->stop();
}

TEST_CASE("after a WebSocket drop, vanished channels are stopped and present ones carry on", "[ari][actors][reconcile]") {
  recorded_call rec;
  test::fake_ari_server server;
  runtime rt;
  std::mutex mu;
  std::map<std::string, std::string> ended;  // channel -> why
  std::map<std::string, int> varsets;
  ari::client_handlers handlers;
  handlers.on_stasis_start = [&mu, &ended, &varsets](ari::channel chan, ari::session&) -> task<void> {
    auto id = chan.id();
    chan.on_end([&mu, &ended, id](const failure& why) {
      std::lock_guard lock(mu);
      ended[id] = why.detail;
    });
    chan.on(ari::event_type::ChannelVarset, [&mu, &varsets, id](const ari::event&) {
      std::lock_guard lock(mu);
      ++varsets[id];
    });
    co_return;
  };
  auto client = ari::client::start(rt.system, rt.io.context(), config_for(server), handlers);
  REQUIRE(client.ok());
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  auto start = rec.frame("StasisStart", "astra-chan-1");
  server.push_event(test::replace_all(start, "astra-chan-1", "gone-1"));
  server.push_event(test::replace_all(start, "astra-chan-1", "stays-1"));
  server.push_event(test::replace_all(start, "astra-chan-1", "gone-2"));
  REQUIRE(eventually([&] { return (*client)->channel_actors() == 3; }));

  // During the gap gone-1 and gone-2 hung up; Asterisk lists only stays-1.
  server.add_reply("GET", "/ari/channels",
                   {200, "application/json", "[" + test::replace_all(rec.channel_json, "astra-chan-1", "stays-1") + "]"});
  server.add_reply("GET", "/ari/bridges", {200, "application/json", "[]"});
  server.drop_websockets();
  REQUIRE(server.wait_ws_handshakes(2, 5s));
  REQUIRE(eventually([&] { return (*client)->channel_actors() == 1; }));
  {
    std::lock_guard lock(mu);
    CHECK(ended.size() == 2);
    CHECK(ended["gone-1"] == "channel vanished while the event socket was down");
    CHECK(ended.count("gone-2") == 1);
    CHECK(ended.count("stays-1") == 0);
  }
  CHECK((*client)->stats().vanished == 2);
  // The survivor still receives its events in order, then ends normally.
  auto varset = rec.frame("ChannelVarset", "astra-chan-1");
  server.push_event(test::replace_all(varset, "astra-chan-1", "stays-1"));
  server.push_event(test::replace_all(rec.frame("StasisEnd", "astra-chan-1"), "astra-chan-1", "stays-1"));
  REQUIRE(eventually([&] { return (*client)->channel_actors() == 0; }));
  std::lock_guard lock(mu);
  CHECK(varsets["stays-1"] == 1);
  CHECK(ended["stays-1"] == "StasisEnd");
  (*client)->stop();
}

TEST_CASE("REST over WebSocket: same typed calls, HTTP when the server does not answer", "[ari][actors][ws-rest]") {
  recorded_call rec;
  test::fake_ari_server server;
  server.load_rest_records(test::load_fixture("ari/stasis-call-lifecycle.jsonl"));
  runtime rt;
  auto cfg = config_for(server);
  cfg.rest_over_websocket = true;
  cfg.probe_timeout = 300ms;
  std::mutex mu;
  std::vector<std::pair<int, std::string>> outcomes;
  ari::client_handlers handlers;
  handlers.on_stasis_start = [&mu, &outcomes](ari::channel chan, ari::session& ari) -> task<void> {
    auto answered = co_await chan.answer();
    auto missing = co_await ari.request(get_channel("no-such-channel"));
    std::lock_guard lock(mu);
    outcomes.emplace_back(answered ? 204 : ari::http_status(answered.error()), "");
    outcomes.emplace_back(ari::http_status(missing.error()), missing.error().detail);
  };
  auto client = ari::client::start(rt.system, rt.io.context(), cfg, handlers);
  REQUIRE(client.ok());
  REQUIRE(eventually([&] { return (*client)->stats().rest_over_websocket; }));
  auto start = rec.frame("StasisStart", "astra-chan-1");
  server.push_event(start);
  REQUIRE(eventually([&] {
    std::lock_guard lock(mu);
    return outcomes.size() == 2;
  }));
  {
    std::lock_guard lock(mu);
    CHECK(outcomes[0].first == 204);
    CHECK(outcomes[1] == std::make_pair(404, std::string("Channel not found")));
  }
  auto seen = server.requests();
  // The subscription's GET /channels (channels already in the app) leaves before the probe
  // has settled: over HTTP.
  auto listing = std::find_if(seen.begin(), seen.end(), [](auto& r) { return r.method == "GET" && r.path == "/ari/channels"; });
  REQUIRE(listing != seen.end());
  CHECK_FALSE(listing->over_websocket);
  seen.erase(listing);
  REQUIRE(seen.size() == 3);  // probe, answer, get
  CHECK(std::all_of(seen.begin(), seen.end(), [](auto& r) { return r.over_websocket; }));

  // An Asterisk without REST over WebSocket: after the reconnect the probe goes unanswered.
  server.set_ws_rest(false);
  server.drop_websockets();
  REQUIRE(server.wait_ws_handshakes(2, 5s));
  std::this_thread::sleep_for(500ms);  // probe deadline
  CHECK_FALSE((*client)->stats().rest_over_websocket);
  server.add_reply("POST", "/ari/channels/astra-chan-2/answer", {204, "", ""});
  server.push_event(test::replace_all(start, "astra-chan-1", "astra-chan-2"));
  REQUIRE(eventually([&] {
    std::lock_guard lock(mu);
    return outcomes.size() == 4;
  }));
  seen = server.requests();
  CHECK_FALSE(seen.back().over_websocket);
  CHECK(seen.back().path == "/ari/channels/no-such-channel");
  std::lock_guard lock(mu);
  CHECK(outcomes[2].first == 204);
  CHECK(outcomes[3] == std::make_pair(404, std::string("Channel not found")));
  (*client)->stop();
}

TEST_CASE("originate with a pre-assigned id: the actor exists before any event", "[ari][actors]") {
  recorded_call rec;
  test::fake_ari_server server;
  runtime rt;
  std::mutex mu;
  std::vector<std::string> seen_types;
  std::string started;
  server.set_handler([&](const test::fake_request& r) -> std::optional<test::fake_reply> {
    if (r.method == "POST" && r.path == "/ari/channels") {
      auto id = query_value(r, "channelId");
      // Asterisk emits the channel's first events before its reply and StasisStart.
      for (auto* type : {"ChannelStateChange", "ChannelVarset", "StasisStart"})
        server.push_event(test::replace_all(rec.frame(type, "astra-chan-1"), "astra-chan-1", id));
      return test::fake_reply{200, "application/json", test::replace_all(rec.channel_json, "astra-chan-1", id)};
    }
    if (r.method == "POST" && r.path == "/ari/channels/never/answer") return std::nullopt;
    return std::nullopt;
  });
  ari::client_handlers handlers;
  handlers.on_stasis_start = [&mu, &started](ari::channel chan, ari::session&) -> task<void> {
    std::lock_guard lock(mu);
    started = chan.id();
    co_return;
  };
  auto client = ari::client::start(rt.system, rt.io.context(), config_for(server), handlers);
  REQUIRE(client.ok());
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  REQUIRE(eventually([&] { return (*client)->connected(); }));

  // The callbacks own their promises: they may still run after a failed wait left the test.
  auto done = std::make_shared<std::promise<result<ari::Channel>>>();
  ari::channels::originate params;
  params.endpoint = "Local/wait@default";
  params.channelId = "astra-orig-1";
  (*client)->originate(params, [done](result<ari::Channel> c) { done->set_value(std::move(c)); });
  auto f = done->get_future();
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  auto c = f.get();
  REQUIRE(c.ok());
  CHECK(c->id == "astra-orig-1");
  REQUIRE(eventually([&] {
    std::lock_guard lock(mu);
    return started == "astra-orig-1";
  }));
  CHECK((*client)->stats().unrouted == 0);  // its early events had an actor to go to
  CHECK((*client)->channel_actors() == 1);

  // A refused originate stops its pre-spawned actor.
  auto refused = std::make_shared<std::promise<result<ari::Channel>>>();
  ari::channels::originate bogus;
  bogus.endpoint = "Bogus";
  bogus.channelId = "never";
  server.set_handler([](const test::fake_request&) -> std::optional<test::fake_reply> {
    return test::fake_reply{400, "application/json", R"({"message":"Invalid endpoint specified"})"};
  });
  (*client)->originate(bogus, [refused](result<ari::Channel> c) { refused->set_value(std::move(c)); });
  auto rf = refused->get_future();
  REQUIRE(rf.wait_for(5s) == std::future_status::ready);
  auto r = rf.get();
  REQUIRE_FALSE(r.ok());
  CHECK(ari::http_status(r.error()) == 400);
  CHECK(r.error().detail == "Invalid endpoint specified");
  REQUIRE(eventually([&] { return (*client)->channel_actors() == 1; }));
  server.push_event(test::replace_all(rec.frame("StasisEnd", "astra-chan-1"), "astra-chan-1", "astra-orig-1"));
  REQUIRE(eventually([&] { return (*client)->channel_actors() == 0; }));
  (*client)->stop();
}

TEST_CASE("a slow channel actor: events beyond its bound are dropped and counted, lifecycle never", "[ari][actors]") {
  recorded_call rec;
  test::fake_ari_server server;
  runtime rt;
  hook_log log;
  auto cfg = config_for(server);
  cfg.channel_queue = 4;
  std::atomic<int> handled{0};
  ari::client_handlers handlers;
  handlers.on_stasis_start = [&handled](ari::channel chan, ari::session&) -> task<void> {
    chan.on(ari::event_type::ChannelVarset, [&handled](const ari::event&) {
      std::this_thread::sleep_for(2ms);  // a slow handler holds its actor
      ++handled;
    });
    co_return;
  };
  auto client = ari::client::start(rt.system, rt.io.context(), cfg, handlers, log.hooks());
  REQUIRE(client.ok());
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  server.push_event(rec.frame("StasisStart", "astra-chan-1"));
  REQUIRE(eventually([&] { return (*client)->channel_actors() == 1; }));
  constexpr int burst = 200;
  auto varset = rec.frame("ChannelVarset", "astra-chan-1");
  for (int i = 0; i < burst; ++i) server.push_event(varset);
  server.push_event(rec.frame("StasisEnd", "astra-chan-1"));
  REQUIRE(eventually([&] { return (*client)->channel_actors() == 0; }));
  auto stats = (*client)->stats();
  CHECK(stats.dropped_actor > 0);
  CHECK(handled.load() + static_cast<int>(stats.dropped_actor) == burst);
  std::lock_guard lock(log.mu);
  CHECK(log.dropped["ari.channel"] == stats.dropped_actor);
  (*client)->stop();
}

#ifdef ASTRA_ARI_DEMO_EXE
TEST_CASE("examples/ari_demo handles calls end to end and exits 0 on SIGTERM", "[ari][example]") {
  recorded_call rec;
  test::fake_ari_server server;
  scripted_asterisk asterisk(server, rec);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto url = server.url();
    execl(ASTRA_ARI_DEMO_EXE, "ari_demo", "--url", url.c_str(), "--user", "asterisk", "--password", "asterisk",
          "--app", "astra-test", static_cast<char*>(nullptr));
    _exit(127);
  }
  REQUIRE(server.wait_ws_handshakes(1, 10s));
  CHECK(server.last_ws_target() == "/ari/events?app=astra-test");
  std::this_thread::sleep_for(100ms);
  asterisk.start_call("demo-1");
  asterisk.start_call("demo-2");
  REQUIRE(eventually([&] { return asterisk.destroyed() == 2; }));
  {
    std::lock_guard lock(asterisk.mu);
    CHECK(asterisk.variables.at("demo-1:ASTRA_ARI_DEMO") == "answered");
    CHECK(asterisk.variables.at("demo-2:ASTRA_ARI_DEMO") == "answered");
    CHECK(asterisk.hung_up == std::set<std::string>{"demo-1", "demo-2"});
  }
  kill(pid, SIGTERM);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
#endif
