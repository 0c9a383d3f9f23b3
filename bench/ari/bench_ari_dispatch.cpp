// bench_ari_dispatch: ARI event decode + dispatch to channel actors, from the recorded
// corpus (tests/data/asterisk/fixtures/ari/stasis-call-lifecycle.jsonl, every ws-in frame of
// a real call: StasisStart ... bridge, playbacks, DTMF ... StasisEnd, BridgeDestroyed).
//
// Each simulated call is the recorded call re-targeted at fresh channel/bridge/playback ids;
// `--concurrent` calls are interleaved frame by frame. Frames go through the client's real
// path (client::inject_frame: typed decode, hooks, dispatch bound, dispatcher actor, channel
// and bridge actors spawned at StasisStart / ChannelEnteredBridge, stopped at StasisEnd /
// BridgeDestroyed). The injector waits while the dispatch backlog is near its bound, like a
// socket reader would (TCP backpressure), so nothing is dropped by design; drops are counted.
// Timing ends when every actor has stopped and the backlog is empty.
//
//   bench_ari_dispatch [--calls N] [--concurrent K]
// Output: figures, then one JSON line {"bench":"ari_dispatch",...}.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/ari/client.hpp"
#include "actors/common/io_runtime.hpp"
#include "generated/ari/events.hpp"
#include "tests/support/fixtures.hpp"

namespace ari = astra::ari;
using clock_type = std::chrono::steady_clock;

namespace {

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  std::size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

std::vector<std::string> call_frames(const std::vector<std::string>& recorded, int n) {
  auto tag = std::to_string(n);
  std::vector<std::string> out;
  out.reserve(recorded.size());
  for (auto f : recorded) {
    f = replace_all(std::move(f), "astra-chan-1", "bench-chan-" + tag);
    f = replace_all(std::move(f), "astra-em-1", "bench-em-" + tag);
    f = replace_all(std::move(f), "astra-bridge-1", "bench-bridge-" + tag);
    f = replace_all(std::move(f), "astra-pb-", "bench-pb-" + tag + "-");
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 4000;
  int concurrent = 32;
  // CAF options (--scheduler.max-threads=N, --work-stealing.*) pass through to CAF.
  std::vector<char*> caf_args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (!std::strncmp(argv[i], "--scheduler.", 12) || !std::strncmp(argv[i], "--work-stealing.", 16)) {
      caf_args.push_back(argv[i]);
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--calls")) {
      calls = std::atoi(argv[++i]);
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--concurrent")) {
      concurrent = std::atoi(argv[++i]);
    }
  }
  caf::actor_system_config caf_cfg;
  if (auto err = caf_cfg.parse(static_cast<int>(caf_args.size()), caf_args.data())) {
    std::fprintf(stderr, "bench_ari_dispatch: bad CAF option\n");
    return 2;
  }
  if (calls < 1 || concurrent < 1) {
    std::fprintf(stderr, "usage: bench_ari_dispatch [--calls N] [--concurrent K]\n");
    return 2;
  }

  std::vector<std::string> recorded;
  for (const auto& rec : astra::test::load_fixture("ari/stasis-call-lifecycle.jsonl"))
    if (rec.dir == "ws-in") recorded.push_back(rec.data);
  std::size_t recorded_bytes = 0;
  for (auto& f : recorded) recorded_bytes += f.size();

  // Ids are reused every `pool` calls: only after the earlier call's actors have stopped
  // (a pool much larger than the interleaving window).
  const int pool = std::max(concurrent * 8, 64);
  std::vector<std::vector<std::string>> templates;
  for (int i = 0; i < pool; ++i) templates.push_back(call_frames(recorded, i));

  // Decode alone (one thread), for reference.
  std::size_t decoded = 0;
  auto d0 = clock_type::now();
  for (int rep = 0; rep < 20; ++rep)
    for (auto& f : templates[rep % pool]) decoded += ari::decode_event(f).ok() ? 1 : 0;
  double decode_s = std::chrono::duration<double>(clock_type::now() - d0).count();

  astra::io_runtime io(1);  // outlives the actor system (actors hold Asio objects until it ends)
  caf::actor_system system{caf_cfg};
  ari::client_config cfg;
  cfg.url = "http://127.0.0.1:9";  // nothing listens: the socket keeps retrying, frames are injected
  cfg.apps = {"astra-test"};
  cfg.reconnect.initial = std::chrono::seconds(5);
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::size_t> peak_channels{0};
  ari::client_handlers handlers;
  handlers.on_stasis_start = [&handled](ari::channel chan, ari::session&) -> astra::task<void> {
    chan.on_any([&handled](const ari::event&) { handled.fetch_add(1, std::memory_order_relaxed); });
    co_return;
  };
  ari::client_hooks hooks;
  hooks.actors = [&peak_channels](std::size_t channels, std::size_t) {
    auto cur = peak_channels.load();
    while (channels > cur && !peak_channels.compare_exchange_weak(cur, channels)) {
    }
  };
  auto client = ari::client::start(system, io.context(), cfg, handlers, hooks);
  if (!client) {
    std::fprintf(stderr, "bench_ari_dispatch: %s\n", client.error().message().c_str());
    return 1;
  }
  const std::size_t high_water = cfg.dispatch_queue * 3 / 4;
  std::uint64_t injected = 0, refused = 0;
  double load[1] = {0};
  getloadavg(load, 1);
  double cpu0 = process_cpu_seconds();
  auto t0 = clock_type::now();
  for (int first = 0; first < calls; first += concurrent) {
    int group = std::min(concurrent, calls - first);
    for (std::size_t frame = 0; frame < recorded.size(); ++frame) {
      for (int c = 0; c < group; ++c) {
        while ((*client)->dispatch_backlog() >= high_water) std::this_thread::sleep_for(std::chrono::microseconds(50));
        if (!(*client)->inject_frame(templates[(first + c) % pool][frame])) ++refused;
        ++injected;
      }
    }
  }
  while ((*client)->dispatch_backlog() > 0 || (*client)->channel_actors() > 0 || (*client)->bridge_actors() > 0)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  double cpu_seconds = process_cpu_seconds() - cpu0;
  auto stats = (*client)->stats();
  (*client)->stop();
  io.stop();

  double events_per_s = injected / seconds;
  double events_per_cpu_s = injected / cpu_seconds;
  double decode_per_s = decoded / decode_s;
  std::uint64_t dropped = stats.dropped_dispatch + stats.dropped_actor;
  std::printf("corpus: %zu recorded frames (%zu bytes) per call, %d calls, %d interleaved\n", recorded.size(),
              recorded_bytes, calls, concurrent);
  std::printf("decode only (1 thread): %.0f events/s\n", decode_per_s);
  std::printf("decode + dispatch: %llu events in %.3f s = %.0f events/s (%.1f MB/s)\n",
              static_cast<unsigned long long>(injected), seconds, events_per_s,
              recorded_bytes * double(calls) / seconds / 1e6);
  std::printf("CPU used: %.3f s (all threads) = %.0f events per CPU-second; load average at start %.1f on %u cores\n",
              cpu_seconds, events_per_cpu_s, load[0], std::thread::hardware_concurrency());
  std::printf("handled in channel actors: %llu, unrouted (other legs / no actor): %llu, dropped: %llu, refused: %llu\n",
              static_cast<unsigned long long>(handled.load()), static_cast<unsigned long long>(stats.unrouted),
              static_cast<unsigned long long>(dropped), static_cast<unsigned long long>(refused));
  std::printf("peak live channel actors: %zu; live at end: %zu channel, %zu bridge\n", peak_channels.load(),
              stats.channel_actors, stats.bridge_actors);
  std::printf("goal: >= 150000 events/s with none dropped: %s\n",
              events_per_s >= 150000 && dropped == 0 ? "met" : "NOT met");
  std::printf("{\"bench\":\"ari_dispatch\",\"events\":%llu,\"seconds\":%.4f,\"events_per_s\":%.0f,"
              "\"events_per_cpu_s\":%.0f,\"load_avg\":%.1f,\"decode_only_events_per_s\":%.0f,\"calls\":%d,\"concurrent\":%d,\"handled_in_actors\":%llu,"
              "\"unrouted\":%llu,\"dropped\":%llu,\"peak_channel_actors\":%zu,\"goal_events_per_s\":150000}\n",
              static_cast<unsigned long long>(injected), seconds, events_per_s, events_per_cpu_s, load[0], decode_per_s, calls, concurrent,
              static_cast<unsigned long long>(handled.load()), static_cast<unsigned long long>(stats.unrouted),
              static_cast<unsigned long long>(dropped), peak_channels.load());
  return 0;
}
