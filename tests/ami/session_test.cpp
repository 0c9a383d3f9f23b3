// AMI session actor against the fake AMI server on loopback (real sockets, short deadlines).
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <tuple>

#include <caf/all.hpp>

#include "actors/ami/session_actor.hpp"
#include "protocols/ami/errors.hpp"
#include "tests/ami/session_support.hpp"

using namespace astra;
using namespace astra::test;
using ami::ami_errc;

namespace {
std::error_code code(ami_errc e) { return ami::make_error_code(e); }
}  // namespace

TEST_CASE("session logs in, prefixes ActionIDs, answers Ping, Command and lists", "[ami][session]") {
  session_harness h;
  auto cfg = h.config();
  cfg.action_id_prefix = "tst-7-";
  cfg.events = "off";
  ami::client c(h.system, h.io, cfg);
  REQUIRE(c.wait_until_up(3000ms).ok());

  auto ping = c.send(ami::actions::ping()).get();
  REQUIRE(ping.ok());
  REQUIRE(ping.response);
  CHECK(ping.response->get("Ping").value_or("") == "Pong");
  CHECK(ping.action_id.rfind("tst-7-", 0) == 0);
  CHECK(ping.response->action_id() == ping.action_id);

  // A user-supplied ActionID never reaches the wire unprefixed.
  auto own = ami::actions::ping();
  own.set("ActionID", "mine");
  auto r2 = c.send(own).get();
  REQUIRE(r2.ok());
  CHECK(r2.action_id != ping.action_id);
  for (const auto& id : h.server.action_ids()) CHECK(id.rfind("tst-7-", 0) == 0);

  // Login carried the configured Events: mask.
  auto raws = h.server.raw_actions();
  REQUIRE(!raws.empty());
  CHECK(raws[0].find("Action: Login") != std::string::npos);
  CHECK(raws[0].find("Events: off") != std::string::npos);

  auto cmd = c.send(ami::actions::command("core show uptime")).get();
  REQUIRE(cmd.ok());
  auto out = cmd.response->get_all("Output");
  REQUIRE(out.size() == 2);
  CHECK(out[0] == "System uptime: 21 seconds");
  CHECK(out[1] == "Last reload: 21 seconds");

  auto bad_cmd = c.send(ami::actions::command("no such cli command")).get();
  CHECK(bad_cmd.error.code == code(ami_errc::rejected));
  REQUIRE(bad_cmd.response);
  CHECK(bad_cmd.response->get_all("Output").size() == 1);

  auto list = c.send(ami::actions::core_show_channels()).get();
  REQUIRE(list.ok());
  REQUIRE(list.events.size() == 4);  // 3 items + CoreShowChannelsComplete
  CHECK(list.events[0]->name() == "CoreShowChannel");
  CHECK(list.events[3]->name() == "CoreShowChannelsComplete");
  CHECK(list.events[3]->get("ListItems").value_or("") == "3");

  auto unknown = c.send(ami::actions::custom("NoSuchAction")).get();
  CHECK(unknown.error.code == code(ami_errc::rejected));
  CHECK(unknown.error.detail.find("Invalid/unknown command") != std::string::npos);

  auto injected = c.send(ami::actions::setvar("", "X", "a\r\nAction: Hangup")).get();
  CHECK(injected.error.code == code(ami_errc::header_injection));
}

TEST_CASE("session logs in with an MD5 challenge", "[ami][session]") {
  fake_ami_options opts;
  opts.challenge = "865690464";
  session_harness h(opts);
  auto cfg = h.config();
  cfg.md5 = true;
  ami::client c(h.system, h.io, cfg);
  REQUIRE(c.wait_until_up(3000ms).ok());
  auto raws = h.server.raw_actions();
  REQUIRE(raws.size() >= 2);
  CHECK(raws[0].find("Action: Challenge") != std::string::npos);
  CHECK(raws[1].find("Key: " + ami::md5_key("865690464", "amp111")) != std::string::npos);
  CHECK(raws[1].find("Secret:") == std::string::npos);
  CHECK(c.send(ami::actions::ping()).get().ok());
}

TEST_CASE("a request without an answer fails with timeout", "[ami][session]") {
  fake_ami_options opts;
  opts.silent_actions = {"Slow"};
  session_harness h(opts);
  std::mutex mutex;
  std::vector<std::tuple<std::string, std::error_code, double>> done;
  ami::session_hooks hooks;
  hooks.action_done = [&](std::string_view action, std::error_code outcome, double seconds) {
    std::lock_guard<std::mutex> lock(mutex);
    done.emplace_back(std::string(action), outcome, seconds);
  };
  ami::client c(h.system, h.io, h.config(), hooks);
  REQUIRE(c.wait_until_up(3000ms).ok());
  auto start = std::chrono::steady_clock::now();
  auto r = c.send(ami::actions::custom("Slow"), 150ms).get();
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.error.code == code(ami_errc::timeout));
  CHECK(r.error.detail.find("Slow") != std::string::npos);
  CHECK(took >= 140ms);
  CHECK(took < 2000ms);
  // The session stays usable; a late answer would be ignored.
  CHECK(c.send(ami::actions::ping()).get().ok());
  std::lock_guard<std::mutex> lock(mutex);
  REQUIRE(done.size() == 3);  // Login, Slow, Ping
  CHECK(std::get<0>(done[0]) == "Login");
  CHECK(!std::get<1>(done[0]));
  CHECK(std::get<0>(done[1]) == "Slow");
  CHECK(std::get<1>(done[1]) == code(ami_errc::timeout));
  CHECK(std::get<2>(done[1]) >= 0.14);
  CHECK(!std::get<1>(done[2]));
}

TEST_CASE("actor code uses typed request/then on the session", "[ami][session]") {
  session_harness h;
  auto session = ami::spawn_session(h.system, h.io, h.config());
  auto result = std::make_shared<std::promise<std::pair<ami::reply, ami::reply>>>();
  auto future = result->get_future();
  // Spawn arguments rather than captures: see client.cpp (CAF 0.17 null tuple with no args).
  h.system.spawn([](caf::event_based_actor* self, caf::actor session,
                    std::shared_ptr<std::promise<std::pair<ami::reply, ami::reply>>> result) -> caf::behavior {
    self->send(session, ami::subscribe_request{ami::event_filter::links_only(), 4, "typed"});
    return {
      [=](ami::link_event& ev) {
        if (ev.state != ami::link_event::kind::up) return;
        auto typed = ami::typed(session);
        self->request(typed, 5s, ami::request{ami::actions::ping()}).then([=](ami::reply& pong) {
          self->request(typed, 5s, ami::request{ami::actions::core_show_channels()}).then([=](ami::reply& list) {
            result->set_value({pong, list});
            self->send(session, ami::stop_request{});
            self->quit();
          });
        });
      },
      [](ami::event_batch&) {},
    };
  }, session, result);
  REQUIRE(future.wait_for(5s) == std::future_status::ready);
  auto [pong, list] = future.get();
  CHECK(pong.ok());
  CHECK(list.ok());
  CHECK(list.events.size() == 4);
}

TEST_CASE("pending requests fail with disconnected on socket loss; the session reconnects and reports the gap",
          "[ami][session]") {
  fake_ami_options opts;
  opts.silent_actions = {"Slow"};
  link_log links;  // before the harness: a link callback may still run until the actor system stops
  session_harness h(opts);
  std::atomic<int> connected{0}, disconnected{0}, reconnects{0};
  ami::session_hooks hooks;
  hooks.connected = [&](std::string_view) { ++connected; };
  hooks.disconnected = [&](std::string_view, const failure&) { ++disconnected; };
  hooks.reconnect = [&](unsigned attempt, std::chrono::milliseconds delay) {
    if (attempt == 1 && delay >= 40ms && delay <= 60ms) ++reconnects;
  };
  ami::client c(h.system, h.io, h.config(), hooks);
  auto sub = c.subscribe(ami::event_filter::links_only(), [](const ami::message_ptr&) {},
                         [&](const ami::link_event& e) { links.add(e); });
  REQUIRE(c.wait_until_up(3000ms).ok());
  REQUIRE(eventually([&] { return links.count(ami::link_event::kind::up, true) >= 1; }));

  auto pending1 = c.send(ami::actions::custom("Slow"), 5000ms);
  auto pending2 = c.send(ami::actions::custom("Slow"), 5000ms);
  REQUIRE(eventually([&] { return h.server.actions().size() >= 3; }));  // Login + 2
  h.server.drop_connections();
  auto r1 = pending1.get();
  auto r2 = pending2.get();
  CHECK(r1.error.code == code(ami_errc::disconnected));
  CHECK(r2.error.code == code(ami_errc::disconnected));

  auto up_after_down = [&] {
    bool down_seen = false;
    for (const auto& e : links.snapshot()) {
      if (e.state == ami::link_event::kind::down && !e.snapshot) down_seen = true;
      if (e.state == ami::link_event::kind::up && down_seen) return true;
    }
    return false;
  };
  REQUIRE(eventually(up_after_down));
  // The first live event may be the initial up (if we subscribed before login); then down, up.
  auto events = links.snapshot();
  std::size_t down_at = events.size();
  for (std::size_t i = 0; i < events.size(); ++i)
    if (events[i].state == ami::link_event::kind::down && !events[i].snapshot) {
      down_at = i;
      break;
    }
  REQUIRE(down_at + 1 < events.size());
  const auto& down = events[down_at];
  const auto& up = events.back();
  CHECK(down.reason.code == code(ami_errc::disconnected));
  CHECK(down.retry_in.count() >= 40);  // 50 ms +/- 20 % jitter
  CHECK(!down.final);
  CHECK(up.state == ami::link_event::kind::up);
  CHECK(up.gap.count() >= 35);
  CHECK(links.count(ami::link_event::kind::down) == 1);
  CHECK(h.server.connections() == 2);

  auto st = c.status().get();
  CHECK(st.state == "up");
  CHECK(st.logins == 2);
  REQUIRE(st.gaps.size() == 1);
  CHECK(st.gaps[0] == up.gap);
  CHECK(c.send(ami::actions::ping()).get().ok());
  CHECK(connected.load() == 2);
  CHECK(disconnected.load() == 1);
  CHECK(reconnects.load() == 1);
}

TEST_CASE("a list cut by the peer fails with disconnected", "[ami][session]") {
  fake_ami_options opts;
  opts.close_mid_list = true;
  session_harness h(opts);
  auto cfg = h.config();
  cfg.reconnect = false;
  ami::client c(h.system, h.io, cfg);
  REQUIRE(c.wait_until_up(3000ms).ok());
  auto r = c.send(ami::actions::core_show_channels()).get();
  CHECK(r.error.code == code(ami_errc::disconnected));
  CHECK(r.error.detail.find("closed by peer") != std::string::npos);
  // Reconnect disabled: later requests fail fast with not_logged_in.
  REQUIRE(eventually([&] { return c.status().get().state == "stopped"; }));
  CHECK(c.send(ami::actions::ping()).get().error.code == code(ami_errc::not_logged_in));
}

TEST_CASE("a refused login is a configuration error with a long backoff, not a hot loop", "[ami][session]") {
  fake_ami_options opts;
  opts.refuse_login = true;
  link_log links;  // before the harness: a link callback may still run until the actor system stops
  session_harness h(opts);
  auto cfg = h.config();
  cfg.login_failure_backoff = {400ms, 5000ms, 2.0, 0.0};  // then 800 ms, 1600 ms ...
  ami::client c(h.system, h.io, cfg);
  auto sub = c.subscribe(ami::event_filter::links_only(), [](const ami::message_ptr&) {},
                         [&](const ami::link_event& e) { links.add(e); });
  std::this_thread::sleep_for(1500ms);
  // Attempts at ~0, ~400, ~1200 ms: three, where a hot loop would make hundreds.
  auto attempts = h.server.connections();
  CHECK(attempts >= 2);
  CHECK(attempts <= 3);
  auto times = h.server.connection_times();
  for (std::size_t i = 1; i < times.size(); ++i) CHECK(times[i] - times[i - 1] >= 350ms);
  // Between attempts (the third may still be under way on a slow machine).
  CHECK(eventually([&] { return c.status().get().state == "login_failed"; }, 3000ms));
  auto st = c.status().get();
  CHECK(st.last_error.find("refused") != std::string::npos);
  CHECK(st.last_error.find("Authentication failed") != std::string::npos);
  auto evs = links.snapshot();
  REQUIRE(!evs.empty());
  CHECK(evs.back().state == ami::link_event::kind::down);
  CHECK(evs.back().reason.code == code(ami_errc::login_failed));
  CHECK(c.send(ami::actions::ping()).get().error.code == code(ami_errc::not_logged_in));
}

TEST_CASE("a refused login with reconnect disabled fails wait_until_up at once", "[ami][session]") {
  fake_ami_options opts;
  opts.refuse_login = true;
  session_harness h(opts);
  auto cfg = h.config();
  cfg.reconnect = false;
  ami::client c(h.system, h.io, cfg);
  auto up = c.wait_until_up(3000ms);
  REQUIRE(!up.ok());
  CHECK(up.error().code == code(ami_errc::login_failed));
  CHECK(h.server.connections() == 1);
}

TEST_CASE("connection refused and a silent server end in specific errors", "[ami][session]") {
  session_harness h;
  {
    auto cfg = h.config();
    cfg.port = 1;  // nothing listens there
    cfg.reconnect = false;
    ami::client c(h.system, h.io, cfg);
    auto up = c.wait_until_up(3000ms);
    REQUIRE(!up.ok());
    CHECK(up.error().code == code(ami_errc::disconnected));
    CHECK(up.error().detail.find("connect to 127.0.0.1:1") != std::string::npos);
  }
  {
    fake_ami_options opts;
    opts.greet = false;
    h.server.set_options(opts);
    auto cfg = h.config();
    cfg.connect_timeout = 150ms;
    cfg.login_timeout = 150ms;
    cfg.reconnect = false;
    ami::client c(h.system, h.io, cfg);
    auto up = c.wait_until_up(3000ms);
    REQUIRE(!up.ok());
    CHECK(up.error().code == code(ami_errc::timeout));
    CHECK(up.error().detail.find("no banner") != std::string::npos);
  }
}

TEST_CASE("keepalive detects a dead peer and reconnects", "[ami][session]") {
  fake_ami_options opts;
  opts.silent_actions = {"Ping"};
  link_log links;  // before the harness: a link callback may still run until the actor system stops
  session_harness h(opts);
  auto cfg = h.config();
  cfg.keepalive_interval = 100ms;
  cfg.keepalive_timeout = 100ms;
  ami::client c(h.system, h.io, cfg);
  auto sub = c.subscribe(ami::event_filter::links_only(), [](const ami::message_ptr&) {},
                         [&](const ami::link_event& e) { links.add(e); });
  REQUIRE(c.wait_until_up(3000ms).ok());
  REQUIRE(eventually([&] { return links.count(ami::link_event::kind::down) >= 1; }, 3000ms));
  auto evs = links.snapshot();
  bool saw_keepalive = false;
  for (auto& e : evs)
    if (e.state == ami::link_event::kind::down && e.reason.detail.find("keepalive") != std::string::npos) saw_keepalive = true;
  CHECK(saw_keepalive);
  REQUIRE(eventually([&] { return h.server.logins() >= 2; }, 3000ms));
}
