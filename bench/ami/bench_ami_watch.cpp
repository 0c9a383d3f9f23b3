// `astra ami watch` against a loopback server streaming the recorded event-burst events: lines/s
// written as JSON lines, and whether anything was lost. The server runs in this process; the
// watcher is the real `astra` executable (next to this binary unless --astra PATH).
// Runs:
//  1. flood: the server writes as fast as the socket takes it; output to /dev/null. The figure
//     is lines written per second (wall clock, startup subtracted) and astra's CPU per line
//     (user + system, from wait4). The watcher subscribes with pause_reading, so a writer that
//     falls behind slows the reader; events are only dropped (counted on stderr) when the writer
//     stalls past the 50 ms stall bound.
//  2. paced: the server streams at 300,000 events/s; the output is piped back here and every line
//     is counted and shape-checked: nothing may be lost.
//   bench_ami_watch [--astra PATH] [--count N] [--seconds S]   (flood N lines, default 2,000,000;
//                                                                paced S seconds, default 3)
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
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
  double cpu_seconds = 0;        // astra's user + system time
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
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  r.cpu_seconds = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
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
  std::uint64_t flood_count = 2'000'000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--astra") == 0) astra = argv[i + 1];
    if (std::strcmp(argv[i], "--seconds") == 0) seconds_per_run = std::stod(argv[i + 1]);
    if (std::strcmp(argv[i], "--count") == 0) flood_count = std::stoull(argv[i + 1]);
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
  std::printf("astra ami watch against a loopback server streaming recorded events\n");
  std::printf("  startup cost:   %.3f s (same command with --count 1), subtracted below\n", warm.seconds);

  // 1. Unpaced flood to /dev/null.
  auto flood = run_watch(astra, server.port(), flood_count, false);
  double flood_net = std::max(flood.seconds - warm.seconds, 1e-6);
  std::uint64_t flood_dropped = parse_dropped(flood.err);
  double flood_rate = static_cast<double>(flood_count) / flood_net;
  double flood_cpu_us = flood.cpu_seconds * 1e6 / static_cast<double>(flood_count);
  std::printf("  flood:          %llu lines written in %.3f s = %.0f lines/s; astra CPU %.2f us/line; %llu dropped (exit %d)\n",
              static_cast<unsigned long long>(flood_count), flood_net, flood_rate, flood_cpu_us,
              static_cast<unsigned long long>(flood_dropped), flood.exit_code);

  // 2. Paced at 300,000 events/s, piped back: every line present and shaped right.
  const double paced_rate = 300000.0;
  opts.burst_rate = paced_rate;
  server.set_options(opts);
  const auto check_count = static_cast<std::uint64_t>(paced_rate * seconds_per_run);
  auto checked = run_watch(astra, server.port(), check_count, true);
  std::uint64_t paced_dropped = parse_dropped(checked.err);
  std::uint64_t paced_lost = paced_dropped + (check_count > checked.lines ? check_count - checked.lines : 0);
  bool check_ok = checked.exit_code == 0 && checked.lines == check_count && checked.bad_lines == 0 && paced_lost == 0;
  double paced_net = std::max(checked.seconds - warm.seconds, 1e-6);
  std::printf("  paced %.0f/s: %llu lines of %llu in %.3f s (%.0f lines/s), %llu malformed, %llu dropped, exit %d%s%s\n",
              paced_rate, static_cast<unsigned long long>(checked.lines), static_cast<unsigned long long>(check_count),
              paced_net, static_cast<double>(checked.lines) / paced_net, static_cast<unsigned long long>(checked.bad_lines),
              static_cast<unsigned long long>(paced_dropped), checked.exit_code, checked.err.empty() ? "" : ", stderr: ",
              checked.err.c_str());
  bool met = flood_rate >= 1e6 && check_ok;
  std::printf("  goal:           >= 1,000,000 lines/s (flood), none lost at 300,000 events/s: %s%s\n", met ? "met" : "NOT met",
              met ? "" : flood_rate < 1e6 ? " (flood rate)" : " (paced run lost or malformed lines)");
  std::printf("{\"bench\":\"ami_watch\",\"flood_lines_per_s\":%.0f,\"flood_cpu_us_per_line\":%.2f,\"flood_dropped\":%llu,"
              "\"paced_rate\":%.0f,\"paced_lines\":%llu,\"paced_lost\":%llu,\"malformed\":%llu,\"startup_s\":%.4f,"
              "\"goal_met\":%s}\n",
              flood_rate, flood_cpu_us, static_cast<unsigned long long>(flood_dropped), paced_rate,
              static_cast<unsigned long long>(checked.lines), static_cast<unsigned long long>(paced_lost),
              static_cast<unsigned long long>(checked.bad_lines), warm.seconds, met ? "true" : "false");
  return met ? 0 : 1;
}
