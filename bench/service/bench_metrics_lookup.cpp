// bench_metrics_lookup: cost of updating one labelled series per event, the way the hooks did
// before issue 10 (family::with: mutex + a freshly built vector of label strings) and the way
// they do now (family::labels: shared lock, no allocation; agi_series: a kept series_slot, one
// atomic load). Each figure is ns per update, per thread CPU time, with 1 and 2 threads
// updating at once.
// Usage: bench_metrics_lookup [--iterations N]
// Prints figures, then one JSON line {"bench":"metrics_lookup",...}.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "service/core/agi_metrics.hpp"
#include "service/metrics/astra_metrics.hpp"

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Runs body(i) for i in [0, n) on `threads` threads at once; mean ns of CPU time per call.
double ns_per_op(int threads, long n, const std::function<void(long)>& body) {
  std::vector<double> cpu(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      const double start = thread_cpu_seconds();
      for (long i = 0; i < n; ++i) body(i);
      cpu[static_cast<std::size_t>(t)] = thread_cpu_seconds() - start;
    });
  for (auto& th : pool) th.join();
  double total = 0;
  for (double c : cpu) total += c;
  return total * 1e9 / (static_cast<double>(n) * threads);
}

}  // namespace

int main(int argc, char** argv) {
  long n = 2'000'000;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--iterations" && i + 1 < argc) n = std::strtol(argv[++i], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: bench_metrics_lookup [--iterations N]\n");
      return 2;
    }
  }
  astra::metrics::registry reg;
  astra::metrics::astra_metrics m(reg);
  astra::runtime::agi_series agi(m, {"/ivr/menu"});
  const std::string server = "pbx-1";
  const std::string_view actions[] = {"Ping", "Originate", "Hangup", "CoreShowChannels"};
  const std::string_view commands[] = {"answer", "stream file", "get data", "hangup"};

  struct row {
    const char* name;
    std::function<void(long)> body;
  };
  const row rows[] = {
      {"ami_action_with", [&](long i) { m.ami_actions.with({server, std::string(actions[i & 3]), "success"}).inc(); }},
      {"ami_action_labels", [&](long i) { m.ami_actions.labels(server, actions[i & 3], "success").inc(); }},
      {"agi_command_with",
       [&](long i) { m.agi_command_duration.with({std::string(commands[i & 3])}).observe(0.002); }},
      {"agi_command_kept", [&](long i) { agi.command_completed(commands[i & 3], std::chrono::milliseconds(2)); }},
  };
  std::string json = "{\"bench\":\"metrics_lookup\",\"iterations\":" + std::to_string(n);
  for (const auto& r : rows) {
    for (int threads : {1, 2}) {
      const double ns = ns_per_op(threads, n, r.body);
      std::printf("%-20s %d thread(s): %8.1f ns/update\n", r.name, threads, ns);
      char value[64];
      std::snprintf(value, sizeof value, "%.1f", ns);
      json += ",\"" + std::string(r.name) + "_ns_" + std::to_string(threads) + "t\":" + value;
    }
  }
  std::printf("%s}\n", json.c_str());
  return 0;
}
