// Channels already inside the Stasis application when the event socket (re)subscribes
// (astra restarted, Asterisk restarted, network cut) get client_config::on_reconnect:
// hangup (DELETE /channels/{id}), continue (POST /channels/{id}/continue) or adopt (a channel
// actor running client_handlers::on_adopt, by default a hangup). The fake ARI server lists
// two channels inside the app (the recorded GET /ari/channels/astra-chan-1 reply of
// tests/data/asterisk/fixtures/ari/stasis-call-lifecycle.jsonl, re-targeted) plus two that
// are not (another app, a dialling leg); the tests assert the REST requests it received.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
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

struct recording {
  std::string channel_json;  // GET /ari/channels/astra-chan-1: in Stasis, app_data "astra-test,in,bound"
  std::vector<std::string> frames;

  recording() {
    for (const auto& rec : test::load_fixture("ari/stasis-call-lifecycle.jsonl")) {
      if (rec.dir == "ws-in") frames.push_back(rec.data);
      if (rec.dir != "rest") continue;
      auto j = nlohmann::json::parse(rec.json);
      if (j["method"] == "GET" && j["path"] == "/ari/channels/astra-chan-1" && j["status"] == 200 && channel_json.empty())
        channel_json = j["response"].get<std::string>();
    }
    REQUIRE_FALSE(channel_json.empty());
    auto dp = nlohmann::json::parse(channel_json)["dialplan"];
    REQUIRE(dp["app_name"] == "Stasis");  // what the filter relies on, as recorded
    REQUIRE(dp["app_data"] == "astra-test,in,bound");
  }
  // The recorded channel as `id`, optionally at another dialplan application.
  std::string channel(const std::string& id, const std::string& app_name = {}, const std::string& app_data = {}) const {
    auto j = nlohmann::json::parse(test::replace_all(channel_json, "astra-chan-1", id));
    if (!app_name.empty()) j["dialplan"]["app_name"] = app_name;
    if (!app_name.empty()) j["dialplan"]["app_data"] = app_data;
    return j.dump();
  }
  std::string frame(const std::string& type, const std::string& id) const {
    for (const auto& f : frames)
      if (f.find("\"type\":\"" + type + "\"") != std::string::npos && f.find("\"id\":\"astra-chan-1\"") != std::string::npos)
        return test::replace_all(f, "astra-chan-1", id);
    FAIL("no recorded " << type << " frame");
    return {};
  }
};

// Plays Asterisk: GET /channels answers the current listing; a hangup ends the channel
// (StasisEnd, ChannelDestroyed), a continue takes it out of Stasis (StasisEnd).
struct scripted_asterisk {
  test::fake_ari_server& server;
  const recording& rec;
  std::mutex mu;
  std::vector<std::string> listing;           // channel JSON objects
  std::set<std::string> missing;              // ids answered 404 (already gone)
  std::function<void()> on_list;              // runs when GET /channels arrives (server thread)

  scripted_asterisk(test::fake_ari_server& s, const recording& r) : server(s), rec(r) {
    server.set_handler([this](const test::fake_request& req) -> std::optional<test::fake_reply> {
      std::lock_guard lock(mu);
      if (req.method == "GET" && req.path == "/ari/channels") {
        if (on_list) on_list();
        std::string body = "[";
        for (const auto& c : listing) body += (body.size() > 1 ? "," : "") + c;
        return test::fake_reply{200, "application/json", body + "]"};
      }
      if (req.method == "GET" && req.path == "/ari/bridges") return test::fake_reply{200, "application/json", "[]"};
      const std::string prefix = "/ari/channels/";
      if (req.path.rfind(prefix, 0) != 0) return std::nullopt;
      auto rest = req.path.substr(prefix.size());
      auto slash = rest.find('/');
      auto id = rest.substr(0, slash);
      auto action = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
      if (missing.count(id)) return test::fake_reply{404, "application/json", R"({"message":"Channel not found"})"};
      if (req.method == "DELETE" && action.empty()) {
        server.push_event(rec.frame("StasisEnd", id));
        server.push_event(rec.frame("ChannelDestroyed", id));
        return test::fake_reply{204, "", ""};
      }
      if (req.method == "POST" && action == "continue") {
        server.push_event(rec.frame("StasisEnd", id));
        return test::fake_reply{204, "", ""};
      }
      if (req.method == "POST" && action == "answer") return test::fake_reply{204, "", ""};
      return std::nullopt;
    });
  }
  void set_listing(std::vector<std::string> channels) {
    std::lock_guard lock(mu);
    listing = std::move(channels);
  }
};

// Two channels inside astra-test (app_name as recorded, and in another case), one inside
// another app, one dialling leg.
std::vector<std::string> restart_listing(const recording& rec) {
  return {rec.channel("orphan-1"), rec.channel("orphan-2", "STASIS", "astra-test"),
          rec.channel("other-app", "Stasis", "astra-other,x"), rec.channel("dialling", "AppDial2", "(Outgoing Line)")};
}

struct outcome_log {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> outcomes;  // policy, outcome

  ari::client_hooks hooks() {
    ari::client_hooks h;
    h.reconnect_channel = [this](std::string_view policy, std::string_view outcome) {
      std::lock_guard lock(mu);
      outcomes.emplace_back(policy, outcome);
    };
    return h;
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return outcomes.size();
  }
  std::vector<std::pair<std::string, std::string>> all() {
    std::lock_guard lock(mu);
    return outcomes;
  }
};

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
  cfg.orphan_grace = 100ms;
  return cfg;
}

// "METHOD path" of every request matching the method (and path prefix, if given), sorted.
std::vector<std::string> requests_of(const test::fake_ari_server& server, const std::string& method,
                                     const std::string& path_prefix = "/ari/channels/") {
  std::vector<std::string> out;
  for (const auto& r : server.requests())
    if (r.method == method && r.path.rfind(path_prefix, 0) == 0) out.push_back(method + " " + r.path);
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t listings(const test::fake_ari_server& server) {
  auto all = server.requests();
  return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [](const test::fake_request& r) {
    return r.method == "GET" && r.path == "/ari/channels";
  }));
}

using outcome = std::pair<std::string, std::string>;

}  // namespace

TEST_CASE("restart with two channels in the app, default policy: both are hung up, again after a network cut",
          "[ari][actors][reconnect-policy]") {
  recording rec;
  test::fake_ari_server server;
  scripted_asterisk asterisk(server, rec);
  asterisk.set_listing(restart_listing(rec));
  runtime rt;
  outcome_log log;
  std::mutex mu;
  std::set<std::string> started;  // on_stasis_start ran
  ari::client_handlers handlers;
  handlers.on_stasis_start = [&](ari::channel chan, ari::session&) -> task<void> {
    std::lock_guard lock(mu);
    started.insert(chan.id());
    co_return;
  };
  auto cfg = config_for(server);
  REQUIRE(cfg.on_reconnect == ari::reconnect_policy::hangup);  // the default
  auto client = ari::client::start(rt.system, rt.io.context(), cfg, handlers, log.hooks());
  REQUIRE(client.ok());
  auto& c = **client;

  REQUIRE(eventually([&] { return log.size() == 2; }));
  CHECK(log.all() == std::vector<outcome>{{"hangup", "ok"}, {"hangup", "ok"}});
  CHECK(requests_of(server, "DELETE") ==
        std::vector<std::string>{"DELETE /ari/channels/orphan-1", "DELETE /ari/channels/orphan-2"});
  CHECK(requests_of(server, "POST").empty());
  CHECK(listings(server) == 1);  // at the first subscription too
  CHECK(c.stats().reconnect_channels.hung_up == 2);
  CHECK(c.channel_actors() == 0);

  // A live call with an actor, then a network cut; meanwhile orphan-3 entered the app from
  // another client. Only orphan-3 is hung up on the re-subscription.
  server.push_event(rec.frame("StasisStart", "live-1"));
  REQUIRE(eventually([&] {
    std::lock_guard lock(mu);
    return started.count("live-1") == 1;
  }));
  asterisk.set_listing({rec.channel("live-1"), rec.channel("orphan-3")});
  server.drop_websockets();
  REQUIRE(server.wait_ws_handshakes(2, 5s));
  REQUIRE(eventually([&] { return log.size() == 3; }));
  CHECK(requests_of(server, "DELETE") == std::vector<std::string>{"DELETE /ari/channels/orphan-1",
                                                                  "DELETE /ari/channels/orphan-2",
                                                                  "DELETE /ari/channels/orphan-3"});
  CHECK(listings(server) == 2);
  CHECK(c.channel_actors() == 1);  // live-1 kept its actor
  CHECK(c.stats().reconnect_channels.hung_up == 3);
  c.stop();
}

TEST_CASE("restart with two channels in the app, policy continue: both go back to the dialplan",
          "[ari][actors][reconnect-policy]") {
  recording rec;
  test::fake_ari_server server;
  scripted_asterisk asterisk(server, rec);
  asterisk.set_listing(restart_listing(rec));
  runtime rt;
  outcome_log log;
  auto cfg = config_for(server);
  cfg.on_reconnect = ari::reconnect_policy::continue_in_dialplan;
  auto client = ari::client::start(rt.system, rt.io.context(), cfg, {}, log.hooks());
  REQUIRE(client.ok());
  auto& c = **client;

  REQUIRE(eventually([&] { return log.size() == 2; }));
  CHECK(log.all() == std::vector<outcome>{{"continue", "ok"}, {"continue", "ok"}});
  CHECK(requests_of(server, "POST") ==
        std::vector<std::string>{"POST /ari/channels/orphan-1/continue", "POST /ari/channels/orphan-2/continue"});
  CHECK(requests_of(server, "DELETE").empty());
  auto s = c.stats();
  CHECK(s.reconnect_channels.continued == 2);
  CHECK(s.reconnect_channels.hung_up == 0);
  CHECK(c.channel_actors() == 0);
  c.stop();
}

TEST_CASE("restart with two channels in the app, policy adopt: actors run the handler's adoption entry point",
          "[ari][actors][reconnect-policy]") {
  recording rec;
  test::fake_ari_server server;
  scripted_asterisk asterisk(server, rec);
  asterisk.set_listing(restart_listing(rec));
  runtime rt;
  outcome_log log;
  std::mutex mu;
  struct adopted_call {
    std::string state, app_data;
    bool had_start_event = true;
    bool answered = false;
    std::string ended;
  };
  std::map<std::string, adopted_call> adopted;
  std::atomic<int> stasis_starts{0};  // no StasisStart is replayed for an adopted channel
  ari::client_handlers handlers;
  handlers.on_stasis_start = [&stasis_starts](ari::channel, ari::session&) -> task<void> {
    ++stasis_starts;
    co_return;
  };
  handlers.on_adopt = [&](ari::channel chan, ari::session&, ari::Channel state) -> task<void> {
    auto id = chan.id();
    {
      std::lock_guard lock(mu);
      adopted[id] = adopted_call{state.state, state.dialplan.app_data, chan.start_event() != nullptr, false, {}};
    }
    chan.on_end([&mu, &adopted, id](const astra::failure& why) {
      std::lock_guard lock(mu);
      adopted[id].ended = why.detail;
    });
    auto answered = co_await chan.answer();
    std::lock_guard lock(mu);
    adopted[id].answered = answered.ok();
  };
  auto cfg = config_for(server);
  cfg.on_reconnect = ari::reconnect_policy::adopt;
  auto client = ari::client::start(rt.system, rt.io.context(), cfg, handlers, log.hooks());
  REQUIRE(client.ok());
  auto& c = **client;

  REQUIRE(eventually([&] {
    std::lock_guard lock(mu);
    return adopted.size() == 2 && adopted["orphan-1"].answered && adopted["orphan-2"].answered;
  }));
  CHECK(log.all() == std::vector<outcome>{{"adopt", "ok"}, {"adopt", "ok"}});
  CHECK(c.channel_actors() == 2);
  CHECK(c.stats().reconnect_channels.adopted == 2);
  {
    std::lock_guard lock(mu);
    CHECK(adopted["orphan-1"].state == "Up");  // the listed state reached the handler
    CHECK(adopted["orphan-1"].app_data == "astra-test,in,bound");
    CHECK(adopted["orphan-2"].app_data == "astra-test");
    CHECK_FALSE(adopted["orphan-1"].had_start_event);
  }
  CHECK(requests_of(server, "POST") ==
        std::vector<std::string>{"POST /ari/channels/orphan-1/answer", "POST /ari/channels/orphan-2/answer"});
  CHECK(requests_of(server, "DELETE").empty());
  CHECK(stasis_starts == 0);

  // The adopted actors receive their channels' events: orphan-1 leaves the app.
  server.push_event(rec.frame("StasisEnd", "orphan-1"));
  REQUIRE(eventually([&] { return c.channel_actors() == 1; }));
  {
    std::lock_guard lock(mu);
    CHECK(adopted["orphan-1"].ended == "StasisEnd");
    CHECK(adopted["orphan-2"].ended.empty());
  }
  c.stop();
  CHECK(eventually([&] { return c.channel_actors() == 0; }));
}

TEST_CASE("policy adopt without an adoption entry point: the adopted channels are hung up by their actors",
          "[ari][actors][reconnect-policy]") {
  recording rec;
  test::fake_ari_server server;
  scripted_asterisk asterisk(server, rec);
  asterisk.set_listing(restart_listing(rec));
  runtime rt;
  outcome_log log;
  auto cfg = config_for(server);
  cfg.on_reconnect = ari::reconnect_policy::adopt;
  ari::client_handlers handlers;  // no on_adopt
  auto client = ari::client::start(rt.system, rt.io.context(), cfg, handlers, log.hooks());
  REQUIRE(client.ok());
  auto& c = **client;

  REQUIRE(eventually([&] { return requests_of(server, "DELETE").size() == 2; }));
  CHECK(requests_of(server, "DELETE") ==
        std::vector<std::string>{"DELETE /ari/channels/orphan-1", "DELETE /ari/channels/orphan-2"});
  CHECK(log.all() == std::vector<outcome>{{"adopt", "ok"}, {"adopt", "ok"}});
  // The fake Asterisk ends the hung-up channels (StasisEnd, ChannelDestroyed): actors stop.
  REQUIRE(eventually([&] { return c.channel_actors() == 0; }));
  CHECK(c.stats().reconnect_channels.adopted == 2);
  c.stop();
}

TEST_CASE("a listed channel whose StasisStart arrives within the grace window is left to its actor; 404 is 'gone'",
          "[ari][actors][reconnect-policy]") {
  recording rec;
  test::fake_ari_server server;
  scripted_asterisk asterisk(server, rec);
  asterisk.set_listing({rec.channel("entering"), rec.channel("left-already")});
  asterisk.missing = {"left-already"};
  // "entering" is listed while its StasisStart is on the way (pushed just before the reply).
  asterisk.on_list = [&] { server.push_event(rec.frame("StasisStart", "entering")); };
  runtime rt;
  outcome_log log;
  std::mutex mu;
  std::set<std::string> started;
  ari::client_handlers handlers;
  handlers.on_stasis_start = [&](ari::channel chan, ari::session&) -> task<void> {
    std::lock_guard lock(mu);
    started.insert(chan.id());
    co_return;
  };
  auto cfg = config_for(server);
  cfg.orphan_grace = 300ms;
  auto client = ari::client::start(rt.system, rt.io.context(), cfg, handlers, log.hooks());
  REQUIRE(client.ok());
  auto& c = **client;

  REQUIRE(eventually([&] { return log.size() == 1; }));
  std::this_thread::sleep_for(100ms);  // a wrong second outcome would show up meanwhile
  CHECK(log.all() == std::vector<outcome>{{"hangup", "gone"}});
  CHECK(requests_of(server, "DELETE") == std::vector<std::string>{"DELETE /ari/channels/left-already"});
  CHECK(c.channel_actors() == 1);
  {
    std::lock_guard lock(mu);
    CHECK(started == std::set<std::string>{"entering"});
  }
  auto s = c.stats();
  CHECK(s.reconnect_channels.gone == 1);
  CHECK(s.reconnect_channels.hung_up == 0);
  c.stop();
}
