// Event filters pushed to Asterisk, measured: a subscriber of Hangup only, over N copies of
// the recorded event burst (tests/data/asterisk/fixtures/ami/event-burst.jsonl: 40 calls, 803
// events, 80 of them Hangup), once with pushdown off (Asterisk sends everything, astra
// filters) and once with it on (Events: call + one Filter). The fake AMI server applies
// Asterisk's mask and filter rules (tests/ami/fake_ami_events.hpp), so "sent" is what would
// cross the socket. Prints the figures and ends with one JSON line.
//   bench_ami_pushdown [--repeat N]   (default 200)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <spdlog/spdlog.h>

#include "actors/ami/client.hpp"
#include "actors/common/io_runtime.hpp"
#include "tests/ami/fake_ami_server.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct run_result {
  bool complete = false;
  std::uint64_t sent_events = 0, sent_bytes = 0;  // written by the server
  std::uint64_t read_events = 0;                   // parsed by the session
  std::uint64_t delivered = 0;                     // Hangup events at the subscriber
  double seconds = 0;                              // link up to the last Hangup delivered
  std::string filters;                             // what the session asked for
};

run_result run(bool pushdown, std::size_t repeat, std::uint64_t hangups_per_burst) {
  astra::test::fake_ami_options opts;
  opts.burst = astra::test::event_burst_bytes();
  opts.burst_repeat = repeat;
  astra::test::fake_ami_server server(opts);
  astra::io_runtime io{1};
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system system{cfg};
  astra::ami::session_config sc;
  sc.name = pushdown ? "pushdown" : "client-side";
  sc.port = server.port();
  sc.secret = "amp111";
  sc.keepalive_interval = 0ms;
  sc.reconnect = false;
  sc.push_event_filters = pushdown;
  astra::ami::client client(system, io, sc);
  const std::uint64_t target = hangups_per_burst * repeat;
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::int64_t> last_ns{0};
  auto sub = client.subscribe(
      astra::ami::event_filter::by_names({"Hangup"}),
      [&](const astra::ami::message_ptr&) {
        if (++delivered == target) last_ns = clock_type::now().time_since_epoch().count();
      },
      {}, 1 << 16, "hangups");
  run_result r;
  if (!client.wait_until_up(5000ms).ok()) return r;
  const auto start = clock_type::now();
  const auto deadline = start + 120s;
  while (delivered.load() < target && clock_type::now() < deadline) std::this_thread::sleep_for(1ms);
  r.complete = delivered.load() == target;
  if (r.complete) r.seconds = std::chrono::duration<double>(clock_type::duration(last_ns.load()) - start.time_since_epoch()).count();
  // Everything the server had queued is read once a Ping behind it is answered.
  (void)client.send(astra::ami::actions::ping()).get();
  auto st = client.status().get();
  r.sent_events = server.events_streamed();
  r.sent_bytes = server.bytes_streamed();
  r.read_events = st.events_received;
  r.delivered = delivered.load();
  r.filters = "Events: " + st.event_mask + ", " + std::to_string(st.event_filters) + " filter(s)";
  return r;
}

void print(const char* title, const run_result& r) {
  std::printf("  %-28s sent %9llu events %12llu bytes; read %9llu; Hangup delivered %7llu; %.3f s (%s)\n", title,
              static_cast<unsigned long long>(r.sent_events), static_cast<unsigned long long>(r.sent_bytes),
              static_cast<unsigned long long>(r.read_events), static_cast<unsigned long long>(r.delivered), r.seconds,
              r.filters.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t repeat = 200;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = std::strtoul(argv[++i], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: bench_ami_pushdown [--repeat N]\n");
      return 2;
    }
  }
  if (repeat == 0) repeat = 1;
  spdlog::set_level(spdlog::level::warn);
  const std::string burst = astra::test::event_burst_bytes();
  std::uint64_t hangups = 0;
  for (std::size_t pos = 0; (pos = burst.find("Event: Hangup\r\n", pos)) != std::string::npos; ++pos) ++hangups;
  const std::uint64_t per_burst = astra::test::count_events(burst);

  const run_result off = run(false, repeat, hangups);
  const run_result on = run(true, repeat, hangups);
  std::printf("AMI event pushdown: one subscriber of Hangup, %zu copies of the recorded burst (%llu events, %zu bytes, "
              "%llu Hangup each)\n",
              repeat, static_cast<unsigned long long>(per_burst), burst.size(), static_cast<unsigned long long>(hangups));
  print("without pushdown (client):", off);
  print("with pushdown (Asterisk):", on);
  if (!off.complete || !on.complete) {
    std::fprintf(stderr, "bench_ami_pushdown: incomplete run (without: %llu, with: %llu of %llu Hangup)\n",
                 static_cast<unsigned long long>(off.delivered), static_cast<unsigned long long>(on.delivered),
                 static_cast<unsigned long long>(hangups * repeat));
    return 1;
  }
  const double event_ratio = static_cast<double>(on.sent_events) / static_cast<double>(off.sent_events);
  const double byte_ratio = static_cast<double>(on.sent_bytes) / static_cast<double>(off.sent_bytes);
  std::printf("  with/without:                 %.1f%% of the events, %.1f%% of the bytes\n", 100 * event_ratio,
              100 * byte_ratio);
  std::printf("{\"bench\":\"ami_pushdown\",\"subscriber\":\"Hangup\",\"bursts\":%zu,\"without\":{\"events\":%llu,"
              "\"bytes\":%llu,\"seconds\":%.4f},\"with\":{\"events\":%llu,\"bytes\":%llu,\"seconds\":%.4f},"
              "\"events_ratio\":%.4f,\"bytes_ratio\":%.4f}\n",
              repeat, static_cast<unsigned long long>(off.sent_events), static_cast<unsigned long long>(off.sent_bytes),
              off.seconds, static_cast<unsigned long long>(on.sent_events),
              static_cast<unsigned long long>(on.sent_bytes), on.seconds, event_ratio, byte_ratio);
  return 0;
}
