// client_config::event_filter against the fake ARI server: at every subscription the client
// PUTs /applications/{app}/eventFilter for each app with the allowed types (its own plus the
// configured ones); a refused request is logged once per client and changes nothing else; an
// empty event_filter sends no request. (Verified against Asterisk's documentation of the
// resource, codegen/asterisk/ari-api-docs/applications.json; no recorded traffic has it.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "actors/ari/client.hpp"
#include "actors/common/io_runtime.hpp"
#include "tests/ari/fake_ari_server.hpp"
#include "tests/support/eventually.hpp"

using namespace astra;
using namespace std::chrono_literals;
using astra::test::eventually;

namespace {

struct runtime {
  io_runtime io{2};
  caf::actor_system_config caf_cfg;
  caf::actor_system system{caf_cfg};
};

std::vector<test::fake_request> filter_requests(const test::fake_ari_server& server) {
  std::vector<test::fake_request> out;
  for (auto& r : server.requests())
    if (r.path.find("/eventFilter") != std::string::npos) out.push_back(r);
  return out;
}

ari::client_config config_for(const test::fake_ari_server& server) {
  ari::client_config cfg;
  cfg.url = server.url();
  cfg.password = "asterisk";
  cfg.apps = {"astra-test", "astra-other"};
  cfg.request_timeout = 3s;
  cfg.reconnect = backoff_policy{50ms, 200ms, 2.0, 0.0};
  return cfg;
}

// Captures the log lines of the test (spdlog's default logger), restoring its sinks afterwards.
struct log_capture {
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1024);
  log_capture() { spdlog::default_logger()->sinks().push_back(sink); }
  ~log_capture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
  }
  std::size_t count(std::string_view text) {
    std::size_t n = 0;
    for (const auto& line : sink->last_formatted()) n += line.find(text) != std::string::npos;
    return n;
  }
};

}  // namespace

TEST_CASE("event_filter: each subscription sets every app's allowed event types", "[ari][actors][event_filter]") {
  test::fake_ari_server server;
  server.set_handler([](const test::fake_request& r) -> std::optional<test::fake_reply> {
    if (r.method == "PUT" && r.path.find("/eventFilter") != std::string::npos)
      return test::fake_reply{200, "application/json", R"({"name":"astra-test","channel_ids":[],"bridge_ids":[],"endpoint_ids":[],"device_names":[],"events_allowed":[],"events_disallowed":[]})"};
    return std::nullopt;
  });
  runtime rt;
  auto cfg = config_for(server);
  cfg.event_filter = {"ChannelDtmfReceived", "StasisStart"};
  auto client = ari::client::start(rt.system, rt.io.context(), cfg, {}, {});
  REQUIRE(client.ok());
  REQUIRE(eventually([&] { return filter_requests(server).size() == 2; }));

  std::vector<std::string> want = ari::client_event_types();
  want.push_back("ChannelDtmfReceived");
  std::sort(want.begin(), want.end());
  std::vector<std::string> paths;
  for (const auto& r : filter_requests(server)) {
    CHECK(r.method == "PUT");
    paths.push_back(r.path);
    auto body = nlohmann::json::parse(r.body);
    REQUIRE(body.contains("allowed"));
    CHECK_FALSE(body.contains("disallowed"));
    std::vector<std::string> types;
    for (const auto& t : body["allowed"]) types.push_back(t.at("type").get<std::string>());
    CHECK(types == want);
  }
  std::sort(paths.begin(), paths.end());
  CHECK(paths == std::vector<std::string>{"/ari/applications/astra-other/eventFilter",
                                          "/ari/applications/astra-test/eventFilter"});
  // A re-subscription sets it again (Asterisk may have dropped the app meanwhile).
  server.drop_websockets();
  REQUIRE(eventually([&] { return filter_requests(server).size() == 4; }));
  (*client)->stop();
}

TEST_CASE("event_filter: a refused request is logged once per client and the client goes on",
          "[ari][actors][event_filter]") {
  log_capture logs;
  test::fake_ari_server server;  // no handler for the resource: 404, as an Asterisk without it
  runtime rt;
  auto cfg = config_for(server);
  cfg.event_filter = {"StasisStart"};
  auto client = ari::client::start(rt.system, rt.io.context(), cfg, {}, {});
  REQUIRE(client.ok());
  REQUIRE(eventually([&] { return filter_requests(server).size() == 2 && logs.count("event filter") == 1; }));
  server.drop_websockets();
  REQUIRE(eventually([&] { return filter_requests(server).size() == 4 && (*client)->connected(); }));
  // Both replies of the second subscription are in (the client is idle again) before counting.
  REQUIRE(eventually([&] { return (*client)->stats().connects >= 2; }));
  CHECK(logs.count("event filter") == 1);
  (*client)->stop();
}

TEST_CASE("event_filter: empty (the default) sets no filter", "[ari][actors][event_filter]") {
  test::fake_ari_server server;
  runtime rt;
  auto client = ari::client::start(rt.system, rt.io.context(), config_for(server), {}, {});
  REQUIRE(client.ok());
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  REQUIRE(eventually([&] { return (*client)->connected(); }));
  // The subscription's own listing (GET /channels) comes after the filter would have been sent.
  REQUIRE(eventually([&] {
    for (const auto& r : server.requests())
      if (r.path == "/ari/channels") return true;
    return false;
  }));
  CHECK(filter_requests(server).empty());
  (*client)->stop();
}
