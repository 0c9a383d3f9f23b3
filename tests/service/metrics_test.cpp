#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "service/metrics/astra_metrics.hpp"
#include "service/metrics/metrics.hpp"

using namespace astra::metrics;

namespace {
bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }
}  // namespace

TEST_CASE("label values escape backslash, quote and newline") {
  CHECK(escape_label_value("plain") == "plain");
  CHECK(escape_label_value("a\\b") == "a\\\\b");
  CHECK(escape_label_value("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(escape_label_value("two\nlines") == "two\\nlines");
  CHECK(escape_label_value("tab\tstays") == "tab\tstays");
  CHECK(escape_help("a\\b\nc \"q\"") == "a\\\\b\\nc \"q\"");
}

TEST_CASE("sample values are formatted as the text format expects") {
  CHECK(format_value(0) == "0");
  CHECK(format_value(-0.0) == "0");
  CHECK(format_value(42) == "42");
  CHECK(format_value(-3) == "-3");
  CHECK(format_value(0.25) == "0.25");
  CHECK(format_value(0.0005) == "0.0005");
  CHECK(format_value(1e-9) == "1e-09");
  CHECK(format_value(1e300) == "1e+300");
  CHECK(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(format_value(std::nan("")) == "NaN");
  CHECK(format_value(123456789012.0) == "123456789012");
}

TEST_CASE("metric and label names are validated") {
  CHECK(valid_metric_name("astra_ami_connected"));
  CHECK(valid_metric_name("a:b_c1"));
  CHECK_FALSE(valid_metric_name("1abc"));
  CHECK_FALSE(valid_metric_name("a-b"));
  CHECK_FALSE(valid_metric_name(""));
  CHECK(valid_label_name("server"));
  CHECK_FALSE(valid_label_name("__reserved"));
  CHECK_FALSE(valid_label_name("a:b"));
  registry reg;
  CHECK_THROWS_AS(reg.add_counter("bad-name", "x"), std::invalid_argument);
  CHECK_THROWS_AS(reg.add_counter("ok_total", "x", {"le"}), std::invalid_argument);
  CHECK_THROWS_AS(reg.add_histogram("h_seconds", "x", {}, {1.0, 0.5}), std::invalid_argument);
}

TEST_CASE("counter and gauge exposition with labels") {
  registry reg;
  auto& c = reg.add_counter("test_requests_total", "Requests.\nSecond line.", {"method", "path"});
  c.with({"GET", "/a\"b\\c\nd"}).inc();
  c.with({"GET", "/a\"b\\c\nd"}).inc(2);
  c.with({"POST", "/"}).inc(0.5);
  c.with({"POST", "/"}).inc(-7);  // ignored: counters never go down
  auto& g = reg.add_gauge("test_temperature", "Temp.");
  g.series().set(-1.5);
  g.series().inc(0.5);
  const std::string text = reg.render();
  const std::string expected =
      "# HELP test_requests_total Requests.\\nSecond line.\n"
      "# TYPE test_requests_total counter\n"
      "test_requests_total{method=\"GET\",path=\"/a\\\"b\\\\c\\nd\"} 3\n"
      "test_requests_total{method=\"POST\",path=\"/\"} 0.5\n"
      "# HELP test_temperature Temp.\n"
      "# TYPE test_temperature gauge\n"
      "test_temperature -1\n";
  CHECK(text == expected);
}

TEST_CASE("a label-less family shows its series at zero before any use") {
  registry reg;
  reg.add_gauge("idle_gauge", "g");
  reg.add_counter("idle_total", "c");
  reg.add_counter("labelled_total", "c", {"x"});
  auto text = reg.render();
  CHECK(contains(text, "\nidle_gauge 0\n"));
  CHECK(contains(text, "\nidle_total 0\n"));
  CHECK_FALSE(contains(text, "labelled_total{"));
}

TEST_CASE("histogram buckets are cumulative with +Inf, _sum and _count") {
  registry reg;
  auto& h = reg.add_histogram("test_latency_seconds", "Latency.", {"op"}, {0.1, 0.5, 1});
  auto& s = h.with({"read"});
  s.observe(0.05);
  s.observe(0.1);   // on the boundary: counts in le="0.1"
  s.observe(0.3);
  s.observe(2);
  s.observe(100);
  const std::string expected =
      "# HELP test_latency_seconds Latency.\n"
      "# TYPE test_latency_seconds histogram\n"
      "test_latency_seconds_bucket{op=\"read\",le=\"0.1\"} 2\n"
      "test_latency_seconds_bucket{op=\"read\",le=\"0.5\"} 3\n"
      "test_latency_seconds_bucket{op=\"read\",le=\"1\"} 3\n"
      "test_latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 5\n"
      "test_latency_seconds_sum{op=\"read\"} 102.45\n"
      "test_latency_seconds_count{op=\"read\"} 5\n";
  CHECK(reg.render() == expected);
  auto snap = s.snap();
  REQUIRE(snap.cumulative.size() == 4);
  CHECK(snap.count == 5);
  CHECK(snap.sum == Approx(102.45));
}

TEST_CASE("re-registering returns the same family; a different shape throws") {
  registry reg;
  auto& a = reg.add_counter("x_total", "x", {"k"});
  auto& b = reg.add_counter("x_total", "x", {"k"});
  CHECK(&a == &b);
  CHECK_THROWS_AS(reg.add_counter("x_total", "x", {"other"}), std::invalid_argument);
  CHECK_THROWS_AS(reg.add_gauge("x_total", "x", {"k"}), std::invalid_argument);
}

TEST_CASE("increments from many threads are all counted") {
  registry reg;
  auto& fam = reg.add_counter("race_total", "r", {"t"});
  auto& hist = reg.add_histogram("race_seconds", "r", {}, {0.5});
  constexpr int threads = 4, per_thread = 20000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        fam.with({"shared"}).inc();
        fam.with({std::to_string(t)}).inc();
        hist.series().observe(i % 2 ? 0.25 : 0.75);
      }
    });
  for (auto& th : pool) th.join();
  CHECK(fam.with({"shared"}).value() == threads * per_thread);
  for (int t = 0; t < threads; ++t) CHECK(fam.with({std::to_string(t)}).value() == per_thread);
  auto snap = hist.series().snap();
  CHECK(snap.count == threads * per_thread);
  CHECK(snap.cumulative[0] == threads * per_thread / 2);
}

TEST_CASE("process metrics read /proc") {
  auto r = read_process();
  CHECK(r.resident_memory_bytes > 1024 * 1024);
  CHECK(r.cpu_seconds >= 0);
  CHECK(r.open_fds >= 3);
  CHECK(r.start_time_seconds > 1.6e9);
  registry reg;
  register_process_metrics(reg);
  auto text = reg.render();
  for (const char* name : {"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
                           "process_start_time_seconds"})
    CHECK(contains(text, std::string("# TYPE ") + name));
  CHECK(contains(text, "# TYPE process_cpu_seconds_total counter\n"));
}

TEST_CASE("astra's contract series exist with their labels") {
  registry reg;
  astra_metrics m(reg);
  m.add_server("pbx-1", true, true);
  m.add_queue("ami_subscriber");
  m.add_actor_kind("ami_session");
  m.ami_actions.with({"pbx-1", "Ping", "success"}).inc();
  m.ami_action_duration.with({"pbx-1", "Ping"}).observe(0.002);
  auto text = reg.render();
  for (const char* line : {"astra_ami_connected{server=\"pbx-1\"} 0", "astra_ami_reconnects_total{server=\"pbx-1\"} 0",
                           "astra_ami_events_total{server=\"pbx-1\"} 0", "astra_ari_connected{server=\"pbx-1\"} 0",
                           "astra_ari_channel_actors{server=\"pbx-1\"} 0", "astra_ari_bridge_actors{server=\"pbx-1\"} 0",
                           "astra_agi_calls_active 0", "astra_queue_dropped_total{queue=\"ami_subscriber\"} 0",
                           "astra_actor_restarts_total{actor=\"ami_session\"} 0",
                           "astra_ami_actions_total{server=\"pbx-1\",action=\"Ping\",outcome=\"success\"} 1",
                           "astra_ami_action_duration_seconds_count{server=\"pbx-1\",action=\"Ping\"} 1"})
    CHECK(contains(text, std::string(line) + "\n"));
  for (const char* type : {"astra_ari_events_total counter", "astra_ari_requests_total counter",
                           "astra_ari_reconnect_channels_total counter",
                           "astra_agi_calls_total counter", "astra_agi_command_duration_seconds histogram"})
    CHECK(contains(text, std::string("# TYPE ") + type + "\n"));
}

TEST_CASE("labels() finds the series with() does; distinct tuples never share one") {
  registry reg;
  auto& fam = reg.add_counter("pair_total", "p", {"a", "b"});
  auto& pre = fam.with({"p", "q"});  // created through with(): labels() finds it
  CHECK(&fam.labels("p", "q") == &pre);
  auto& joined_left = fam.labels("x,y", "z");
  auto& joined_right = fam.labels(std::string("x"), std::string_view("y,z"));  // "x,y,z" either way when joined naively
  CHECK(&joined_left != &joined_right);
  CHECK(&fam.with({"x,y", "z"}) == &joined_left);
  CHECK(&fam.labels(std::string_view("x,y"), std::string("z")) == &joined_left);  // found again, any string type
  joined_left.inc(2);
  joined_right.inc();
  pre.inc(5);
  auto text = reg.render();
  CHECK(contains(text, "pair_total{a=\"x,y\",b=\"z\"} 2\n"));
  CHECK(contains(text, "pair_total{a=\"x\",b=\"y,z\"} 1\n"));
  CHECK(contains(text, "pair_total{a=\"p\",b=\"q\"} 5\n"));
}

TEST_CASE("series_slot keeps the first series it found") {
  registry reg;
  auto& fam = reg.add_counter("slot_total", "s", {"k"});
  series_slot<counter> slot;
  int finds = 0;
  auto& a = slot.get([&]() -> counter& {
    ++finds;
    return fam.with({"first"});
  });
  auto& b = slot.get([&]() -> counter& {
    ++finds;
    return fam.with({"second"});
  });
  CHECK(&a == &b);
  CHECK(finds == 1);
  b.inc(3);
  CHECK(contains(reg.render(), "slot_total{k=\"first\"} 3\n"));
}

TEST_CASE("labels() from many threads: every increment lands in its series") {
  registry reg;
  auto& fam = reg.add_counter("idx_total", "i", {"server", "kind"});
  constexpr int threads = 4, per_thread = 20000, kinds = 8;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      const std::string server = "pbx-1";
      std::vector<std::string> names;
      for (int k = 0; k < kinds; ++k) names.push_back("Event" + std::to_string(k));
      for (int i = 0; i < per_thread; ++i) fam.labels(server, names[i % kinds]).inc();
    });
  for (auto& th : pool) th.join();
  for (int k = 0; k < kinds; ++k)
    CHECK(fam.with({"pbx-1", "Event" + std::to_string(k)}).value() == threads * per_thread / kinds);
}
