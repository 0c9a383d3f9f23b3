// `astra ami watch > /dev/null` against a loopback server flooding the recorded event-burst
// events: events/s written as JSON lines, none lost. The server runs in this process; the
// watcher is the real `astra` executable (next to this binary unless --astra PATH).
// A second, smaller run pipes the output back here and counts/validates every line.
// Runs: an unpaced flood (drops counted: the reader is never slowed), then paced streams of
// rising rate until one loses events; the highest lossless rate is the figure.
//   bench_ami_watch [--astra PATH] [--seconds S]   (S per paced run, default 3)
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tests/ami/fake_ami_server.hpp"

extern char** environ;
using clock_type = std::chrono::steady_clock;

namespace {

struct run_outcome {
  int exit_code = -1;
  double seconds = 0;
  std::string err;
  std::uint64_t lines = 0;       // counted when piped
  std::uint64_t bad_lines = 0;   // lines not shaped {"Event":...}
};

// Runs astra ami watch; stdout to /dev/null (count_lines=false) or to a pipe read here.
run_outcome run_watch(const std::string& astra, std::uint16_t port, std::uint64_t count, bool count_lines) {
  run_outcome r;
  int err_pipe[2], out_pipe[2] = {-1, -1};
  if (::pipe(err_pipe) != 0) return r;
  if (count_lines && ::pipe(out_pipe) != 0) return r;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (count_lines) posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  else posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  std::string port_s = std::to_string(port), count_s = std::to_string(count);
  std::vector<std::string> args{astra, "ami", "watch", "--host", "127.0.0.1", "--port", port_s,
                                "--user", "admin", "--secret", "amp111", "--count", count_s, "--timeout", "5"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  auto start = clock_type::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, astra.c_str(), &fa, nullptr, argv.data(), environ) != 0) {
    r.err = "cannot spawn " + astra;
    return r;
  }
  posix_spawn_file_actions_destroy(&fa);
  ::close(err_pipe[1]);
  if (count_lines) {
    ::close(out_pipe[1]);
    std::vector<char> buf(1 << 20);
    bool at_line_start = true;
    std::string head;
    ssize_t n;
    while ((n = ::read(out_pipe[0], buf.data(), buf.size())) > 0) {
      for (ssize_t i = 0; i < n; ++i) {
        char c = buf[i];
        if (at_line_start) {
          head.push_back(c);
          if (head.size() == 10) {
            if (head != "{\"Event\":\"") ++r.bad_lines;
            at_line_start = false;
            head.clear();
          }
        }
        if (c == '\n') {
          ++r.lines;
          at_line_start = true;
          head.clear();
        }
      }
    }
    ::close(out_pipe[0]);
  }
  char ebuf[4096];
  ssize_t n;
  while ((n = ::read(err_pipe[0], ebuf, sizeof ebuf)) > 0) r.err.append(ebuf, n);
  ::close(err_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string default_astra(const char* argv0) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string dir = n > 0 ? std::string(self, n) : std::string(argv0);
  return dir.substr(0, dir.rfind('/') + 1) + "astra";
}

std::uint64_t parse_dropped(const std::string& err) {
  std::uint64_t total = 0;
  for (std::size_t pos = 0; (pos = err.find(" events dropped", pos)) != std::string::npos; pos += 1) {
    std::size_t b = err.rfind(' ', pos - 1);
    b = b == std::string::npos ? 0 : b + 1;
    total += std::stoull(err.substr(b, pos - b));
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::string astra = default_astra(argv[0]);
  double seconds_per_run = 3.0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--astra") == 0) astra = argv[i + 1];
    if (std::strcmp(argv[i], "--seconds") == 0) seconds_per_run = std::stod(argv[i + 1]);
  }
  astra::test::fake_ami_options opts;
  opts.burst = astra::test::event_burst_bytes();
  opts.burst_repeat = 1u << 30;  // until the watcher disconnects
  astra::test::fake_ami_server server(opts);

  // Startup cost (process, actor system, connect, login) measured with a 1-event run.
  auto warm = run_watch(astra, server.port(), 1, false);
  if (warm.exit_code != 0) {
    std::fprintf(stderr, "bench_ami_watch: astra ami watch failed (%d): %s\n", warm.exit_code, warm.err.c_str());
    return 1;
  }
  std::printf("astra ami watch > /dev/null against a loopback server streaming recorded events\n");
  std::printf("  startup cost:   %.3f s (same command with --count 1), subtracted below\n", warm.seconds);

  // 1. Unpaced flood: the server writes as fast as the socket takes it. The watcher never
  //    slows its reader, so whatever the JSON writer cannot absorb is dropped and counted.
  const std::uint64_t flood_count = 1'000'000;
  auto flood = run_watch(astra, server.port(), flood_count, false);
  double flood_net = std::max(flood.seconds - warm.seconds, 1e-6);
  std::uint64_t flood_dropped = parse_dropped(flood.err);
  std::printf("  flood:          %llu events written in %.3f s = %.0f events/s, %llu dropped (exit %d)\n",
              static_cast<unsigned long long>(flood_count), flood_net, flood_count / flood_net,
              static_cast<unsigned long long>(flood_dropped), flood.exit_code);

  // 2. Paced streams: the highest rate written with nothing lost.
  double best_rate = 0, best_eps = 0;
  bool goal_lost = true;
  for (double rate : {300000.0, 400000.0, 500000.0, 650000.0, 800000.0, 1000000.0}) {
    opts.burst_rate = rate;
    server.set_options(opts);
    auto count = static_cast<std::uint64_t>(rate * seconds_per_run);
    auto r = run_watch(astra, server.port(), count, false);
    double net = std::max(r.seconds - warm.seconds, 1e-6);
    std::uint64_t dropped = parse_dropped(r.err);
    bool lost = r.exit_code != 0 || dropped > 0;
    std::printf("  paced %7.0f/s: %llu events in %.3f s = %.0f events/s written, %llu dropped (exit %d)\n", rate,
                static_cast<unsigned long long>(count), net, count / net, static_cast<unsigned long long>(dropped),
                r.exit_code);
    if (rate == 300000.0) goal_lost = lost;
    if (lost) break;
    best_rate = rate;
    best_eps = count / net;
  }

  // 3. Read the output back (pipe) at the goal rate: every line present and shaped right.
  opts.burst_rate = 300000.0;
  server.set_options(opts);
  const std::uint64_t check_count = 300000;
  auto checked = run_watch(astra, server.port(), check_count, true);
  bool check_ok = checked.exit_code == 0 && checked.lines == check_count && checked.bad_lines == 0 &&
                  parse_dropped(checked.err) == 0;
  std::printf("  check (pipe):   %llu lines of %llu, %llu malformed, exit %d%s%s\n",
              static_cast<unsigned long long>(checked.lines), static_cast<unsigned long long>(check_count),
              static_cast<unsigned long long>(checked.bad_lines), checked.exit_code, checked.err.empty() ? "" : ", stderr: ",
              checked.err.c_str());
  bool lost = goal_lost || !check_ok;
  std::printf("  goal:           >= 300000 events/s written, none lost: %s\n", lost ? "NOT met" : "met");
  std::printf("{\"bench\":\"ami_watch\",\"events_per_s\":%.0f,\"max_lossless_rate\":%.0f,\"flood_events_per_s\":%.0f,"
              "\"flood_dropped\":%llu,\"startup_s\":%.4f,\"lost\":%s}\n",
              best_eps, best_rate, flood_count / flood_net, static_cast<unsigned long long>(flood_dropped), warm.seconds,
              lost ? "true" : "false");
  return lost ? 1 : 0;
}
