// ApplicationReplaced (recorded frame: tests/data/asterisk/fixtures/ari/app-replaced-and-subscribe-all.jsonl)
// against the fake ARI server: the client closes that event socket as lost with the reason,
// reports it in stats() and the disconnected hook, and re-subscribes after its backoff; each
// further replacement meets a longer delay (capped), so two clients fighting for one app
// never make a hot loop, and the client never gives up.
#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <vector>

#include <caf/all.hpp>

#include "actors/ari/client.hpp"
#include "actors/common/io_runtime.hpp"
#include "tests/ari/fake_ari_server.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fixtures.hpp"

using namespace astra;
using namespace std::chrono_literals;

namespace {

using astra::test::eventually;
using steady = std::chrono::steady_clock;

// The io_context outlives the actor system: actors still hold Asio objects (strands,
// sockets) until ~actor_system has waited for them.
struct runtime {
  io_runtime io{2};
  caf::actor_system_config caf_cfg;
  caf::actor_system system{caf_cfg};
};

std::string recorded_replaced_frame() {
  for (const auto& rec : test::load_fixture("ari/app-replaced-and-subscribe-all.jsonl"))
    if (rec.dir == "ws-in" && rec.data.find("\"ApplicationReplaced\"") != std::string::npos) return rec.data;
  FAIL("no recorded ApplicationReplaced frame");
  return {};
}

struct link_log {
  std::mutex mu;
  std::vector<std::pair<astra::failure, std::chrono::milliseconds>> down;  // disconnected hook
  std::vector<std::string> replaced;                                       // application_replaced hook

  ari::client_hooks hooks() {
    ari::client_hooks h;
    h.disconnected = [this](const astra::failure& why, std::chrono::milliseconds retry_in) {
      std::lock_guard lock(mu);
      down.emplace_back(why, retry_in);
    };
    h.application_replaced = [this](std::string_view app) {
      std::lock_guard lock(mu);
      replaced.emplace_back(app);
    };
    return h;
  }
  std::size_t downs() {
    std::lock_guard lock(mu);
    return down.size();
  }
};

}  // namespace

TEST_CASE("ApplicationReplaced: the socket is lost with that reason and re-subscribed with a growing backoff",
          "[ari][actors][replaced]") {
  const std::string replaced_frame = recorded_replaced_frame();  // about astra-test
  test::fake_ari_server server;
  runtime rt;
  link_log log;
  ari::client_config cfg;
  cfg.url = server.url();
  cfg.password = "asterisk";
  cfg.apps = {"astra-test", "astra-other"};
  cfg.request_timeout = 3s;
  // No jitter: the delays are exact (the client still applies the policy's jitter in general).
  cfg.reconnect = backoff_policy{300ms, 1200ms, 2.0, 0.0};
  auto client = ari::client::start(rt.system, rt.io.context(), cfg, {}, log.hooks());
  REQUIRE(client.ok());
  auto& c = **client;
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  REQUIRE(eventually([&] { return c.connected(); }));
  CHECK(c.stats().down_reason.empty());
  CHECK(c.stats().retry_in == -1ms);

  // Round 1: the recorded frame. The client closes the socket itself (Asterisk keeps it open).
  auto pushed = steady::now();
  server.push_event(replaced_frame);
  REQUIRE(eventually([&] { return log.downs() == 1; }));
  CHECK_FALSE(c.connected());
  CHECK(eventually([&] { return server.ws_open() == 0; }));
  auto s = c.stats();
  CHECK(s.replaced_apps == std::vector<std::string>{"astra-test"});
  CHECK(s.replacements == 1);
  CHECK(s.down_reason == "application 'astra-test' replaced by another client");
  CHECK(s.retry_in >= 0ms);
  CHECK(s.retry_in <= 300ms);
  {
    std::lock_guard lock(log.mu);
    CHECK(log.replaced == std::vector<std::string>{"astra-test"});
    CHECK(log.down[0].first.code == make_error_code(ari::ari_errc::application_replaced));
    CHECK(log.down[0].first.detail == "application 'astra-test' replaced by another client");
    CHECK(log.down[0].second == 300ms);
  }
  // Re-subscribed, not before the backoff, with every app of the socket.
  REQUIRE(server.wait_ws_handshakes(2, 5s));
  CHECK(steady::now() - pushed >= 300ms);
  CHECK(server.last_ws_target().find("app=astra-test,astra-other") != std::string::npos);
  REQUIRE(eventually([&] { return c.connected(); }));
  s = c.stats();
  CHECK(s.replaced_apps.empty());  // subscribed again: the apps are ours
  CHECK(s.down_reason.empty());
  CHECK(s.retry_in == -1ms);

  // Rounds 2..4: replaced again right after each subscription. The backoff is not reset by
  // those short-lived subscriptions: 600, 1200, then the cap; the client keeps trying.
  for (std::size_t round = 2; round <= 4; ++round) {
    INFO("round " << round);
    auto before = steady::now();
    server.push_event(replaced_frame);
    REQUIRE(eventually([&] { return log.downs() == round; }));
    REQUIRE(server.wait_ws_handshakes(round + 1, 5s));
    auto expected = round == 2 ? 600ms : 1200ms;
    CHECK(steady::now() - before >= expected);
    REQUIRE(eventually([&] { return c.connected(); }));
  }
  {
    std::lock_guard lock(log.mu);
    std::vector<std::chrono::milliseconds> delays;
    for (auto& [why, delay] : log.down) {
      CHECK(why.code == make_error_code(ari::ari_errc::application_replaced));
      delays.push_back(delay);
    }
    CHECK(delays == std::vector<std::chrono::milliseconds>{300ms, 600ms, 1200ms, 1200ms});
  }
  CHECK(c.stats().replacements == 4);
  CHECK(c.stats().connects == 5);

  // An ordinary loss of a subscribed socket resets the backoff, as before.
  server.drop_websockets();
  REQUIRE(eventually([&] { return log.downs() == 5; }));
  {
    std::lock_guard lock(log.mu);
    CHECK(log.down.back().first.code != make_error_code(ari::ari_errc::application_replaced));
    CHECK(log.down.back().second == 300ms);
  }
  CHECK(c.stats().down_reason.find("replaced") == std::string::npos);
  REQUIRE(server.wait_ws_handshakes(6, 5s));
  c.stop();
}

TEST_CASE("ApplicationReplaced for one app of two still drops the socket; the status names the app",
          "[ari][actors][replaced]") {
  test::fake_ari_server server;
  runtime rt;
  link_log log;
  ari::client_config cfg;
  cfg.url = server.url();
  cfg.password = "asterisk";
  cfg.apps = {"astra-test", "astra-other"};
  cfg.reconnect = backoff_policy{2s, 4s, 2.0, 0.0};  // long enough to read the status while down
  auto client = ari::client::start(rt.system, rt.io.context(), cfg, {}, log.hooks());
  REQUIRE(client.ok());
  auto& c = **client;
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  REQUIRE(eventually([&] { return c.connected(); }));
  auto frame = test::replace_all(recorded_replaced_frame(), "\"astra-test\"", "\"astra-other\"");
  server.push_event(frame);
  REQUIRE(eventually([&] { return log.downs() == 1; }));
  auto s = c.stats();
  CHECK_FALSE(s.connected);
  CHECK(s.replaced_apps == std::vector<std::string>{"astra-other"});
  CHECK(s.down_reason == "application 'astra-other' replaced by another client");
  CHECK(s.retry_in > 1s);
  CHECK(s.retry_in <= 2s);
  CHECK(server.ws_handshakes() == 1);  // still waiting out the backoff
  c.stop();
}
