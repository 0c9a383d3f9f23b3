// bench_ami_parse: AMI parser throughput on one core over the recorded event-burst corpus
// (tests/data/asterisk/fixtures/ami/event-burst.jsonl, `in` direction), repeated.
// Usage: bench_ami_parse [--seconds S] [--read-size BYTES] [--shared] [fixture.jsonl]
//   --read-size: bytes per feed() call, like one socket read (default 65536)
//   --shared:    also wrap every message in a message_ptr (what the session does)
// Prints figures, then one JSON line {"bench":"ami_parse",...}. events_per_s and mb_per_s are
// per second of this thread's CPU time (one core, robust to other load on a shared machine);
// the wall-clock figures are printed as well (wall_events_per_s).
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "protocols/ami/parser.hpp"

using namespace astra::ami;

namespace {

std::string load_in_bytes(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::exit(2);
  }
  std::string all, line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    if (j.value("dir", "") == "in" && j.contains("data")) all += j["data"].get<std::string>();
  }
  return all;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3.0;
  std::size_t read_size = 65536;
  bool shared = false;
  std::string path = std::string(ASTRA_TEST_DATA_DIR) + "/asterisk/fixtures/ami/event-burst.jsonl";
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (a == "--read-size" && i + 1 < argc) read_size = std::strtoul(argv[++i], nullptr, 10);
    else if (a == "--shared") shared = true;
    else if (!a.empty() && a[0] != '-') path = std::string(a);
    else {
      std::fprintf(stderr, "usage: bench_ami_parse [--seconds S] [--read-size BYTES] [--shared] [fixture.jsonl]\n");
      return 2;
    }
  }
  if (read_size == 0) read_size = 1;

  const std::string stream = load_in_bytes(path);
  // The banner is the first line only once per connection: repeat the body after it.
  const std::size_t banner_end = stream.find('\n') + 1;
  const std::string_view banner = std::string_view(stream).substr(0, banner_end);
  const std::string_view body = std::string_view(stream).substr(banner_end);
  constexpr int repeats_per_pass = 16;
  std::string corpus;
  corpus.reserve(body.size() * repeats_per_pass);
  for (int i = 0; i < repeats_per_pass; ++i) corpus.append(body);

  parser p;
  p.feed(banner);
  while (p.next()) {
  }

  std::size_t events = 0, messages = 0, errors = 0, bytes = 0, checksum = 0;
  auto run_pass = [&] {
    std::string_view rest = corpus;
    while (!rest.empty()) {
      const std::size_t n = p.feed(rest.substr(0, read_size));
      rest.remove_prefix(n);
      bytes += n;
      while (auto r = p.next()) {
        if (!r->ok()) {
          ++errors;
          continue;
        }
        ++messages;
        if ((*r)->kind() == message_kind::event) ++events;
        if (shared) {
          message_ptr ptr = std::make_shared<const message>(std::move(r->value()));
          checksum += ptr->size();
        } else {
          checksum += (*r)->size();
        }
      }
    }
  };

  run_pass();  // warm-up (page faults, allocator)
  events = messages = errors = bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_seconds();
  std::chrono::duration<double> elapsed{};
  int passes = 0;
  do {
    run_pass();
    ++passes;
    elapsed = std::chrono::steady_clock::now() - start;
  } while (elapsed.count() < seconds);
  const double cpu = thread_cpu_seconds() - cpu_start;

  const double s = elapsed.count();
  const double events_per_s = events / cpu;
  const double messages_per_s = messages / cpu;
  const double mb_per_s = bytes / cpu / 1e6;
  const double wall_events_per_s = events / s;
  std::printf("corpus: %s (%zu bytes per repetition, %d repetitions per pass)\n", path.c_str(), body.size(),
              repeats_per_pass);
  std::printf("passes: %d in %.3f s wall, %.3f s thread CPU, read size %zu bytes%s\n", passes, s, cpu, read_size,
              shared ? ", each message wrapped in message_ptr" : "");
  std::printf("messages: %zu (%zu events, %zu errors), checksum %zu\n", messages, events, errors, checksum);
  std::printf("per CPU second (one core): events/s: %.0f  messages/s: %.0f  MB/s: %.1f\n", events_per_s,
              messages_per_s, mb_per_s);
  std::printf("per wall second: events/s: %.0f  MB/s: %.1f\n", wall_events_per_s, bytes / s / 1e6);
  std::printf("{\"bench\":\"ami_parse\",\"events_per_s\":%.0f,\"messages_per_s\":%.0f,\"mb_per_s\":%.1f,"
              "\"wall_events_per_s\":%.0f,\"read_size\":%zu,\"shared\":%s,\"errors\":%zu}\n",
              events_per_s, messages_per_s, mb_per_s, wall_events_per_s, read_size, shared ? "true" : "false", errors);
  return errors == 0 ? 0 : 1;
}
