// End to end: fake AMI server on loopback flooding the recorded event-burst events ->
// session actor (Asio reader + parser + CAF fan-out) -> one subscriber actor.
// Prints events/s with nothing dropped; ends with one JSON line.
//   bench_ami_e2e [--repeat N]   (N copies of the ~800-event burst, default 1500)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/ami/session.hpp"
#include "actors/common/io_runtime.hpp"
#include "tests/ami/fake_ami_server.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct counter_state {
  std::uint64_t events = 0;
  std::uint64_t bytes = 0;
  std::uint64_t target = 0;
  clock_type::time_point first{};
  std::shared_ptr<std::promise<std::pair<double, std::uint64_t>>> done;  // seconds, bytes
};

caf::behavior counting_subscriber(caf::stateful_actor<counter_state>* self, caf::actor session, std::uint64_t target,
                                  std::shared_ptr<std::promise<std::pair<double, std::uint64_t>>> done) {
  self->state.target = target;
  self->state.done = std::move(done);
  self->send(session, astra::ami::subscribe_request{astra::ami::event_filter::all(), 1 << 20, "bench"});
  return {
    [self](astra::ami::event_batch& b) {
      auto& st = self->state;
      if (st.events == 0) st.first = clock_type::now();
      for (const auto& m : b.events) st.bytes += m->raw().size();
      st.events += b.events.size();
      if (st.events >= st.target && st.done) {
        st.done->set_value({std::chrono::duration<double>(clock_type::now() - st.first).count(), st.bytes});
        st.done.reset();
      }
    },
    [](astra::ami::link_event&) {},
  };
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t repeat = 1500;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--repeat") == 0) repeat = std::stoul(argv[i + 1]);
  spdlog::set_level(spdlog::level::warn);

  astra::test::fake_ami_options opts;
  opts.burst = astra::test::event_burst_bytes();
  opts.burst_repeat = repeat;
  const std::uint64_t per_burst = astra::test::count_events(opts.burst);
  // The subscriber starts counting at the first burst event (FullyBooted precedes it).
  const std::uint64_t target = per_burst * repeat;
  astra::test::fake_ami_server server(opts);

  astra::io_runtime io{1};
  caf::actor_system_config cfg;
  caf::actor_system system{cfg};
  astra::ami::session_config sc;
  sc.host = "127.0.0.1";
  sc.port = server.port();
  sc.secret = "amp111";
  sc.keepalive_interval = 0ms;
  sc.reconnect = false;
  auto done = std::make_shared<std::promise<std::pair<double, std::uint64_t>>>();
  auto result = done->get_future();
  auto session = astra::ami::spawn_session(system, io, sc);
  auto sub = system.spawn(counting_subscriber, session, target + 1, done);

  auto status = [&] {
    caf::scoped_actor self{system};
    astra::ami::session_status s;
    self->request(session, 5s, astra::ami::status_query{}).receive([&](astra::ami::session_status& st) { s = st; },
                                                                    [](caf::error&) {});
    return s;
  };
  if (result.wait_for(120s) != std::future_status::ready) {
    auto s = status();
    std::fprintf(stderr, "bench_ami_e2e: incomplete: %llu events received of %llu (state %s, %s)\n",
                 static_cast<unsigned long long>(s.events_received), static_cast<unsigned long long>(target + 1),
                 s.state.c_str(), s.last_error.c_str());
    caf::anon_send(session, astra::ami::stop_request{});
    caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
    return 1;
  }
  auto [seconds, bytes] = result.get();
  auto s = status();
  std::uint64_t dropped = s.inbox_dropped;
  for (const auto& q : s.subscribers) dropped += q.dropped;
  caf::anon_send(session, astra::ami::stop_request{});
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);

  double events = static_cast<double>(target + 1);
  double eps = events / seconds;
  double mbps = static_cast<double>(bytes) / seconds / 1e6;
  std::printf("AMI end to end (fake server -> Asio reader/parser -> session actor -> 1 subscriber)\n");
  std::printf("  events:        %.0f (%llu bursts of %llu recorded events)\n", events,
              static_cast<unsigned long long>(repeat), static_cast<unsigned long long>(per_burst));
  std::printf("  time:          %.3f s (first to last event at the subscriber)\n", seconds);
  std::printf("  throughput:    %.0f events/s, %.1f MB/s\n", eps, mbps);
  std::printf("  dropped:       %llu (inbox %llu)\n", static_cast<unsigned long long>(dropped),
              static_cast<unsigned long long>(s.inbox_dropped));
  std::printf("  goal:          >= 300000 events/s with nothing dropped: %s\n",
              eps >= 300000 && dropped == 0 ? "met" : "NOT met");
  std::printf("{\"bench\":\"ami_e2e\",\"events\":%.0f,\"seconds\":%.4f,\"events_per_s\":%.0f,\"mb_per_s\":%.2f,\"dropped\":%llu}\n",
              events, seconds, eps, mbps, static_cast<unsigned long long>(dropped));
  return dropped == 0 ? 0 : 1;
}
