#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "service/core/agi_metrics.hpp"
#include "service/core/logging.hpp"
#include "service/core/notify.hpp"
#include "service/core/registrations.hpp"
#include "service/core/status_board.hpp"
#include "service/metrics/astra_metrics.hpp"

using namespace astra::runtime;

TEST_CASE("readiness needs every configured upstream up and the FastAGI listener") {
  status_board b;
  b.add_server("pbx-1");
  b.add_server("pbx-2");
  b.configure_link("pbx-1", "ami", "10.0.0.1:5038", "file:/run/secrets/ami");
  b.configure_link("pbx-1", "ari", "http://10.0.0.1:8088", "env:ARI_PW");
  b.configure_link("pbx-2", "ami", "10.0.0.2:5038", "inline");
  b.set_agi(true, "0.0.0.0:4573");

  auto r = b.readiness();
  CHECK_FALSE(r.ready);
  CHECK(r.reason.find("agi: listener 0.0.0.0:4573 not accepting") != std::string::npos);
  CHECK(r.reason.find("ami pbx-1") != std::string::npos);
  CHECK(r.reason.find("ari pbx-1") != std::string::npos);
  CHECK(r.reason.find("ami pbx-2") != std::string::npos);
  CHECK(r.reason.find("ari pbx-2") == std::string::npos);  // not configured

  b.set_agi_listening(true);
  b.link_up("pbx-1", "ami");
  b.link_up("pbx-1", "ari");
  CHECK_FALSE(b.readiness().ready);
  b.link_down("pbx-2", "ami", "connection refused");  // still never connected
  CHECK(b.readiness().reason == "ami pbx-2: connecting (connection refused)");
  b.link_up("pbx-2", "ami");
  CHECK(b.readiness().ready);

  b.link_down("pbx-1", "ari", "event socket closed");
  auto down = b.readiness();
  CHECK_FALSE(down.ready);
  CHECK(down.reason == "ari pbx-1: down (event socket closed)");
  b.link_up("pbx-1", "ari");
  CHECK(b.readiness().ready);

  b.set_draining();
  CHECK(b.draining());
  CHECK(b.readiness().reason == "draining (shutdown in progress)");
}

TEST_CASE("outages become the gap history; the first connect is not a gap") {
  status_board b;
  b.add_server("s");
  b.configure_link("s", "ami", "h:1", "inline");
  b.link_down("s", "ami", "refused");  // before the first connect
  b.link_up("s", "ami");
  CHECK(b.link("s", "ami")->gaps.empty());
  for (int i = 0; i < static_cast<int>(max_gap_history) + 5; ++i) {
    b.link_down("s", "ami", "lost " + std::to_string(i));
    b.link_down("s", "ami", "retry failed");  // repeated failures extend one outage
    b.link_up("s", "ami");
  }
  auto l = *b.link("s", "ami");
  CHECK(l.gaps.size() == max_gap_history);
  CHECK(l.gaps.back().reason == "retry failed");
  CHECK(l.connects == max_gap_history + 6);
  CHECK(l.disconnects == max_gap_history + 5);
  CHECK_FALSE(b.link("nope", "ami"));
}

TEST_CASE("the status document shows states, gaps, actors and queues, never secrets") {
  status_board b;
  b.add_server("pbx-1");
  b.configure_link("pbx-1", "ami", "10.0.0.1:5038", "env:AMI_SECRET");
  b.set_agi(true, "127.0.0.1:4573");
  b.set_agi_listening(true);
  b.link_up("pbx-1", "ami");
  b.link_down("pbx-1", "ami", "keepalive timeout");
  b.link_up("pbx-1", "ami");
  b.set_actor_counts({{"agi_calls", 3}, {"ari_channels", 0}});
  b.set_queues({{"pbx-1/ami_inbox", 100, 7, 2}, {"pbx-1/ari_actor", 256, 0, 5}});
  b.set_link_detail("pbx-1", "ami", R"({"logins":2})");
  b.set_agi_detail("not json");  // ignored, never breaks the document
  auto doc = nlohmann::json::parse(b.to_json());
  CHECK(doc["ready"] == true);
  CHECK(doc["draining"] == false);
  REQUIRE(doc["servers"].size() == 1);
  const auto& ami = doc["servers"][0]["ami"];
  CHECK(ami["up"] == true);
  CHECK(ami["credential_source"] == "env:AMI_SECRET");
  CHECK(ami["endpoint"] == "10.0.0.1:5038");
  CHECK(ami["gaps"].size() == 1);
  CHECK(ami["gaps"][0]["reason"] == "keepalive timeout");
  CHECK(ami["detail"]["logins"] == 2);
  CHECK_FALSE(doc["servers"][0].contains("ari"));
  CHECK(doc["actors"]["agi_calls"] == 3);
  CHECK(doc["queues"].size() == 2);
  CHECK(doc["queues"][0]["depth"] == 7);
  CHECK(doc["drops_total"] == 7);
  CHECK(doc["agi"]["accepting"] == true);
  CHECK_FALSE(doc["agi"].contains("detail"));
  b.set_draining();
  doc = nlohmann::json::parse(b.to_json());
  CHECK(doc["ready"] == false);
  CHECK(doc["agi"]["accepting"] == false);
}

TEST_CASE("JSON log lines escape the message and carry structured fields") {
  auto line = format_json_line("2026-01-01T00:00:00.000Z", "info", "astra",
                               log_fields("call \"x\"\nended\t\x01", "\"drained\":3,\"cut\":0"));
  REQUIRE(line.back() == '\n');
  auto j = nlohmann::json::parse(line);
  CHECK(j["ts"] == "2026-01-01T00:00:00.000Z");
  CHECK(j["level"] == "info");
  CHECK(j["logger"] == "astra");
  CHECK(j["msg"] == "call \"x\"\nended\t\x01");
  CHECK(j["drained"] == 3);
  CHECK(j["cut"] == 0);
  CHECK(line.find('\n') == line.size() - 1);  // one line
  auto plain = nlohmann::json::parse(format_json_line("t", "warn", "", "no fields"));
  CHECK(plain["logger"] == "astra");
  CHECK(plain.size() == 4);
  CHECK(json_quote("a\\b\"c") == "\"a\\\\b\\\"c\"");
}

TEST_CASE("agi_series: the kept series are the ones the hooks used to look up each time") {
  using namespace std::chrono_literals;
  using astra::agi::call_outcome;
  using astra::agi::refusal;
  astra::metrics::registry reg, reference_reg;
  astra::metrics::astra_metrics m(reg), reference(reference_reg);
  agi_series series(m, {"/ivr/menu", "ivr//:lang/"});  // the second is reported as "/ivr/:lang"

  // The same events through the cached path and through the lookups the hooks did before.
  auto call_ended = [&](std::string_view route, call_outcome o) {
    series.call_ended(route, o);
    reference.agi_calls.with({std::string(route), astra::agi::to_string(o), "fastagi"}).inc();
  };
  auto command = [&](std::string_view name, std::chrono::nanoseconds latency) {
    series.command_completed(name, latency);
    reference.agi_command_duration.with({std::string(name)}).observe(std::chrono::duration<double>(latency).count());
  };
  auto refused = [&](refusal why) {
    series.refused(why);
    if (why != refusal::closed_early) reference.agi_calls.with({"none", astra::agi::to_string(why), "fastagi"}).inc();
  };
  for (int i = 0; i < 2; ++i) call_ended("/ivr/menu", call_outcome::completed);
  call_ended("/ivr/:lang", call_outcome::failed);
  call_ended("/ivr/:lang", call_outcome::timed_out);
  call_ended("/not/configured", call_outcome::cut);  // not a configured route: the family's index
  for (int i = 0; i < 3; ++i) command("stream file", 2ms);
  command("raw", 40ms);
  command("not in the catalog", 1ms);
  refused(refusal::auth_error);
  refused(refusal::capacity);
  refused(refusal::capacity);
  refused(refusal::closed_early);  // not a call: not counted

  const auto text = reg.render();
  CHECK(text == reference_reg.render());
  for (const char* line : {"astra_agi_calls_total{route=\"/ivr/menu\",outcome=\"completed\",transport=\"fastagi\"} 2\n",
                           "astra_agi_calls_total{route=\"/ivr/:lang\",outcome=\"failed\",transport=\"fastagi\"} 1\n",
                           "astra_agi_calls_total{route=\"/ivr/:lang\",outcome=\"timed_out\",transport=\"fastagi\"} 1\n",
                           "astra_agi_calls_total{route=\"/not/configured\",outcome=\"cut\",transport=\"fastagi\"} 1\n",
                           "astra_agi_calls_total{route=\"none\",outcome=\"auth_error\",transport=\"fastagi\"} 1\n",
                           "astra_agi_calls_total{route=\"none\",outcome=\"capacity\",transport=\"fastagi\"} 2\n",
                           "astra_agi_command_duration_seconds_bucket{command=\"stream file\",le=\"0.0025\"} 3\n",
                           "astra_agi_command_duration_seconds_count{command=\"stream file\"} 3\n",
                           "astra_agi_command_duration_seconds_count{command=\"raw\"} 1\n",
                           "astra_agi_command_duration_seconds_count{command=\"not in the catalog\"} 1\n"}) {
    INFO(line);
    CHECK(text.find(line) != std::string::npos);
  }
  // Series still appear on first use only.
  CHECK(text.find("closed_early") == std::string::npos);
  CHECK(text.find("outcome=\"exception\"") == std::string::npos);
  CHECK(text.find("command=\"answer\"") == std::string::npos);
}

TEST_CASE("a down link with a scheduled retry says when in /readyz and /v1/status") {
  status_board b;
  b.add_server("pbx-1");
  b.configure_link("pbx-1", "ari", "http://10.0.0.1:8088", "inline");
  b.link_up("pbx-1", "ari");
  b.link_down("pbx-1", "ari", "application 'sales' replaced by another client");
  b.link_retry("pbx-1", "ari", std::chrono::milliseconds(3500));
  auto r = b.readiness();
  CHECK_FALSE(r.ready);
  CHECK(r.reason == "ari pbx-1: down (application 'sales' replaced by another client), retrying in 4 s");
  auto doc = nlohmann::json::parse(b.to_json());
  auto left = doc["servers"][0]["ari"]["retry_in_ms"].get<std::int64_t>();
  CHECK(left > 3000);
  CHECK(left <= 3500);
  CHECK(doc["servers"][0]["ari"]["last_error"] == "application 'sales' replaced by another client");

  b.link_retry("pbx-1", "ari", std::chrono::milliseconds(0));  // due: an attempt is under way
  CHECK(b.readiness().reason == "ari pbx-1: down (application 'sales' replaced by another client), retrying now");
  b.link_retry("pbx-1", "ari", std::chrono::milliseconds(-1));  // none scheduled
  CHECK(b.readiness().reason == "ari pbx-1: down (application 'sales' replaced by another client)");

  b.link_retry("pbx-1", "ari", std::chrono::milliseconds(500));
  b.link_up("pbx-1", "ari");  // subscribed again: the retry is forgotten
  CHECK(b.readiness().ready);
  CHECK_FALSE(nlohmann::json::parse(b.to_json())["servers"][0]["ari"].contains("retry_in_ms"));
  b.link_down("pbx-1", "ari", "event socket closed");
  CHECK(b.readiness().reason == "ari pbx-1: down (event socket closed)");
}

TEST_CASE("lifecycle hooks: one that throws is caught and the next still runs") {
  astra::runtime::lifecycle_hooks hooks;
  std::vector<std::string> ran;
  hooks.stopped.push_back([&](const astra::runtime::lifecycle_hooks::stop_info&) {
    ran.push_back("first");
    throw std::runtime_error("user hook bug");
  });
  hooks.stopped.push_back([&](const astra::runtime::lifecycle_hooks::stop_info&) { throw 42; });
  hooks.stopped.push_back([&](const astra::runtime::lifecycle_hooks::stop_info& s) {
    ran.push_back("third drained=" + std::to_string(s.drained) + " cut=" + std::to_string(s.cut));
  });
  astra::runtime::lifecycle_hooks::stop_info info;
  info.drained = 3;
  info.cut = 1;
  REQUIRE_NOTHROW(astra::runtime::notify_each(hooks.stopped, "stopped", info));
  CHECK(ran == std::vector<std::string>{"first", "third drained=3 cut=1"});
}
