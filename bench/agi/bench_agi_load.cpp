// bench_agi_load: N simulated Asterisk connections (loopback) each running a script of M
// commands against a FastAGI handler.
//
//   bench_agi_load [--calls N] [--commands M] [--churn-calls K] [--churn-concurrency C] [--floor]
//
// Environment: ASTRA_CAF_POLICY (sharing|stealing, default sharing), ASTRA_CAF_THREADS (CAF
// workers, default 1), ASTRA_IO_THREADS (Asio threads, default 1).
// --floor runs the same generator against a bare epoll responder instead of astra: the
// loopback TCP ceiling of this machine, to read astra's figures against.
//
// The load generator runs in a forked child process (single-threaded epoll client), so the
// server process's RSS is the server's alone. Phases:
//   1. warm-up: 200 calls, then the idle RSS is read.
//   2. hold: N calls connect at once (a burst); each handler's first command is left unanswered
//      until all N are live: peak RSS is read, then every call runs its M commands.
//      -> admission time of the burst, RSS per concurrent call above idle, round trips/s.
//   3. churn: K calls of 2 commands, C at a time -> calls/s (connect, agi_* block, route,
//      actor spawn, commands, close).
//   4. light load: 2,000 calls of 20 commands, 16 at a time -> command latency without queueing.
// Command latency (server side: write -> final reply, via the command_completed hook) is
// reported as p50/p99 over phases 2 and 3 (under load: with N calls in flight it is mostly
// queueing, N / round trips per second) and over phase 4 alone. Ends with one JSON line
// {"bench":"agi_load",...}.
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <malloc.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "actors/common/caf_scheduler.hpp"

#include "actors/agi/call.hpp"
#include "actors/agi/server.hpp"
#include "actors/common/io_runtime.hpp"
#include "floor_responder.hpp"

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace agi = astra::agi;

namespace {

// ------------------------------------------------------------------ shared

struct phase_request {
  std::uint32_t total_calls = 0;
  std::uint32_t concurrency = 0;
  std::uint32_t commands = 0;
  std::uint32_t hold_first = 0;  // 1: keep every call's first reply until the parent says go
  std::uint16_t port = 0;
  std::uint16_t quit = 0;
};

struct phase_result {
  std::uint64_t calls_done = 0;
  std::uint64_t round_trips = 0;
  std::uint64_t connect_errors = 0;
  double admit_seconds = 0;   // hold phase: first connect -> all first commands received
  double script_seconds = 0;  // hold phase: go -> last close; other phases: first connect -> last close
  double cpu_seconds = 0;     // load generator CPU (user + system) over the same interval
};

double cpu_seconds_now(int who) {
  rusage u{};
  ::getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

bool write_all(int fd, const void* data, std::size_t n) {
  auto p = static_cast<const char*>(data);
  while (n > 0) {
    auto w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}
bool read_all(int fd, void* data, std::size_t n) {
  auto p = static_cast<char*>(data);
  while (n > 0) {
    auto r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

void raise_fd_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

std::size_t fd_limit() {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  return static_cast<std::size_t>(lim.rlim_cur);
}

// ------------------------------------------------------------------ load generator (child)

std::string environment_block(std::uint32_t commands) {
  std::string script = "bench?m=" + std::to_string(commands);
  return "agi_network: yes\nagi_network_script: " + script + "\nagi_request: agi://127.0.0.1:4573/" + script +
         "\nagi_channel: Local/bench@default-0000002e;2\nagi_language: en\nagi_type: Local\n"
         "agi_uniqueid: 1795452521.93\nagi_version: 22.11.0-rc1\nagi_callerid: 5551234\n"
         "agi_calleridname: Caller\nagi_callingpres: 0\nagi_callingani2: 0\nagi_callington: 0\n"
         "agi_callingtns: 0\nagi_dnid: unknown\nagi_rdnis: unknown\nagi_context: default\n"
         "agi_extension: bench\nagi_priority: 1\nagi_enhanced: 0.0\nagi_accountcode: \n"
         "agi_threadid: 140279413057216\nagi_arg_1: first arg\nagi_arg_2: second\n\n";
}

const char* reply_for(std::string_view command) {
  if (command.rfind("GET VARIABLE", 0) == 0) return "200 result=1 (bench value)\n";
  if (command.rfind("STREAM FILE", 0) == 0) return "200 result=0 endpos=1234\n";
  if (command.rfind("SET VARIABLE", 0) == 0) return "200 result=1\n";
  return "200 result=0\n";
}

struct client_conn {
  int fd = -1;
  bool connecting = true;
  bool held = false;
  std::uint32_t replies = 0;
  std::string partial;
  std::string held_reply;
};

phase_result run_phase(const phase_request& req, int to_parent, int from_parent) {
  phase_result res;
  const std::string env = environment_block(req.commands);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<client_conn> conns(req.concurrency);
  std::vector<std::uint32_t> free_slots;
  std::uint32_t started = 0, held = 0;
  bool go = !req.hold_first;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(req.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  auto open_conn = [&](std::uint32_t slot) {
    auto& c = conns[slot];
    c = client_conn{};
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (r != 0 && errno != EINPROGRESS) {
      ++res.connect_errors;
      ::close(c.fd);
      c.fd = -1;
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u32 = slot;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    ++started;
    return true;
  };
  auto close_conn = [&](std::uint32_t slot) {
    auto& c = conns[slot];
    ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
  };

  const auto t0 = steady::now();
  steady::time_point t_go = t0;
  double cpu_start = cpu_seconds_now(RUSAGE_SELF);
  std::uint32_t live = 0;
  for (std::uint32_t s = 0; s < req.concurrency && started < req.total_calls; ++s)
    if (open_conn(s)) ++live;
  std::vector<epoll_event> events(1024);
  char buf[16384];
  while (live > 0) {
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 10000);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fprintf(stderr, "load generator: no progress for 10 s (%u live)\n", live);
      break;
    }
    for (int i = 0; i < n; ++i) {
      const auto slot = events[i].data.u32;
      auto& c = conns[slot];
      if (c.fd < 0) continue;
      bool done = false;
      if (c.connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          ++res.connect_errors;
          done = true;
        } else {
          c.connecting = false;
          (void)::send(c.fd, env.data(), env.size(), MSG_NOSIGNAL);
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u32 = slot;
          ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
          continue;
        }
      } else {
        std::string out;
        if (bench_agi::read_available(c.fd, c.partial, buf, sizeof buf)) done = true;
        std::size_t pos = 0;
        for (auto lf = c.partial.find('\n'); lf != std::string::npos; lf = c.partial.find('\n', pos)) {
          std::string_view line(c.partial.data() + pos, lf - pos);
          pos = lf + 1;
          const char* reply = reply_for(line);
          if (!go && c.replies == 0 && !c.held) {
            c.held = true;
            c.held_reply = reply;
            ++held;
            continue;
          }
          out += reply;
          ++c.replies;
        }
        c.partial.erase(0, pos);
        if (!out.empty()) (void)::send(c.fd, out.data(), out.size(), MSG_NOSIGNAL);
      }
      if (done) {
        res.round_trips += c.replies;
        if (!c.connecting) ++res.calls_done;
        close_conn(slot);
        --live;
        if (started < req.total_calls && open_conn(slot)) ++live;
      }
    }
    if (!go && held == req.total_calls) {
      // Every call is live and waiting: let the parent measure, then release them all.
      res.admit_seconds = std::chrono::duration<double>(steady::now() - t0).count();
      char ready = 'R', go_byte = 0;
      write_all(to_parent, &ready, 1);
      read_all(from_parent, &go_byte, 1);
      go = true;
      t_go = steady::now();
      cpu_start = cpu_seconds_now(RUSAGE_SELF);
      for (auto& c : conns) {
        if (c.fd < 0 || !c.held) continue;
        (void)::send(c.fd, c.held_reply.data(), c.held_reply.size(), MSG_NOSIGNAL);
        ++c.replies;
        c.held = false;
      }
    }
  }
  res.script_seconds = std::chrono::duration<double>(steady::now() - (req.hold_first ? t_go : t0)).count();
  res.cpu_seconds = cpu_seconds_now(RUSAGE_SELF) - cpu_start;
  ::close(ep);
  return res;
}

[[noreturn]] void child_main(int from_parent, int to_parent) {
  for (;;) {
    phase_request req;
    if (!read_all(from_parent, &req, sizeof req) || req.quit) ::_exit(0);
    auto res = run_phase(req, to_parent, from_parent);
    char tag = 'D';
    write_all(to_parent, &tag, 1);
    write_all(to_parent, &res, sizeof res);
  }
}

// ------------------------------------------------------------------ server side (parent)

// Log-linear latency histogram: 16 sub-buckets per power of two of nanoseconds.
class latency_histogram {
 public:
  static constexpr int sub = 16;
  static constexpr int bands = 40;
  void record(std::chrono::nanoseconds d) { counts_[index(static_cast<std::uint64_t>(std::max<long long>(d.count(), 1)))].fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t total() const {
    std::uint64_t t = 0;
    for (auto& c : counts_) t += c.load();
    return t;
  }
  double quantile_us(double q) const {
    const auto n = total();
    if (n == 0) return 0;
    const auto target = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n)));
    std::uint64_t seen = 0;
    for (int i = 0; i < bands * sub; ++i) {
      seen += counts_[i].load();
      if (seen >= target) return upper_ns(i) / 1000.0;
    }
    return upper_ns(bands * sub - 1) / 1000.0;
  }
  void reset() {
    for (auto& c : counts_) c.store(0);
  }

 private:
  static int index(std::uint64_t ns) {
    int band = 63 - __builtin_clzll(ns);
    if (band < 4) return static_cast<int>(ns);  // 1..15 ns: exact
    int offset = static_cast<int>((ns >> (band - 4)) & (sub - 1));
    int i = (band - 3) * sub + offset;
    return std::min(i, bands * sub - 1);
  }
  static double upper_ns(int i) {
    if (i < sub) return i;
    int band = i / sub + 3;
    int offset = i % sub;
    return std::ldexp(1.0 + (offset + 1) / static_cast<double>(sub), band);
  }
  std::array<std::atomic<std::uint64_t>, bands * sub> counts_{};
};

latency_histogram g_latency;
std::atomic<std::uint64_t> g_command_errors{0};

astra::task<void> bench_handler(agi::call& call) {
  long commands = 20;
  if (auto m = call.param("m")) commands = std::strtol(std::string(*m).c_str(), nullptr, 10);
  // The load generator may hold this reply until every call is live (hold phase); VERBOSE is
  // left out of the latency figures.
  if (!co_await call.verbose("hold", 1)) {
    g_command_errors.fetch_add(1, std::memory_order_relaxed);
    co_return;
  }
  for (long i = 0; i < commands; ++i) {
    bool ok = true;
    switch (i % 5) {
      case 0: ok = static_cast<bool>(co_await call.answer()); break;
      case 1: ok = static_cast<bool>(co_await call.get_variable("CALLERID(num)")); break;
      case 2: ok = static_cast<bool>(co_await call.set_variable("BENCH_STEP", "x y")); break;
      case 3: ok = static_cast<bool>(co_await call.stream_file("beep", "")); break;
      default: ok = static_cast<bool>(co_await call.noop()); break;
    }
    if (!ok) {
      g_command_errors.fetch_add(1, std::memory_order_relaxed);
      co_return;
    }
  }
}

std::size_t heap_in_use() { return mallinfo2().uordblks; }
// Bytes malloc holds free inside its arenas (freed, not returned to the kernel).
std::size_t heap_free_held() { return mallinfo2().fordblks; }

std::size_t rss_bytes() {
  long pages_total = 0, pages_resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  return static_cast<std::size_t>(pages_resident) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

struct child_link {
  int to_child;
  int from_child;
  phase_result run(phase_request req, const std::function<void()>& at_ready = {}) {
    write_all(to_child, &req, sizeof req);
    char tag = 0;
    read_all(from_child, &tag, 1);
    if (tag == 'R') {
      if (at_ready) at_ready();
      char go = 'G';
      write_all(to_child, &go, 1);
      read_all(from_child, &tag, 1);
    }
    phase_result res;
    read_all(from_child, &res, sizeof res);
    return res;
  }
};


// ------------------------------------------------------------------ floor: no astra at all

// A bare single-threaded epoll FastAGI responder speaking the same script as bench_handler
// (VERBOSE, then M commands, one at a time): what the kernel's loopback TCP costs on this
// machine with this load generator, the ceiling any FastAGI server could reach here.
const char* floor_command(long i) {
  switch (i % 5) {
    case 0: return "ANSWER\n";
    case 1: return "GET VARIABLE CALLERID(num)\n";
    case 2: return "SET VARIABLE BENCH_STEP \"x y\"\n";
    case 3: return "STREAM FILE beep \"\"\n";
    default: return "NOOP\n";
  }
}

const char* load_line(long i) { return i == 0 ? "VERBOSE hold 1\n" : floor_command(i - 1); }
// VERBOSE, then the m commands of the call's script (agi_network_script: bench?m=M).
long load_count(std::string_view block) {
  auto m = block.find("?m=");
  return m == std::string_view::npos ? 21 : 1 + std::strtol(std::string(block.substr(m + 3, 12)).c_str(), nullptr, 10);
}
using bench_agi::floor_responder;

int run_floor(child_link& link, pid_t child, std::uint32_t calls, std::uint32_t commands, std::uint32_t churn_calls,
              std::uint32_t churn_concurrency) {
  floor_responder responder{bench_agi::floor_script{&load_line, &load_count}};
  if (!responder.start()) {
    std::fprintf(stderr, "cannot listen\n");
    return 1;
  }
  auto wait_idle = [&] {
    for (int i = 0; i < 5000 && responder.live.load() > 0; ++i) std::this_thread::sleep_for(1ms);
  };
  link.run({200, 100, 4, 0, responder.port, 0});
  wait_idle();
  double cpu_at_go = 0;
  auto held = link.run({calls, calls, commands, 1, responder.port, 0}, [&] { cpu_at_go = cpu_seconds_now(RUSAGE_SELF); });
  const double server_cpu = cpu_seconds_now(RUSAGE_SELF) - cpu_at_go;
  wait_idle();
  auto churn = link.run({churn_calls, churn_concurrency, 2, 0, responder.port, 0});
  wait_idle();
  phase_request quit;
  quit.quit = 1;
  write_all(link.to_child, &quit, sizeof quit);
  ::waitpid(child, nullptr, 0);
  responder.stop();
  const auto rts = held.round_trips - std::min<std::uint64_t>(held.round_trips, held.calls_done);
  const double rt_per_s = held.script_seconds > 0 ? static_cast<double>(rts) / held.script_seconds : 0;
  const double server_us = rts ? server_cpu * 1e6 / static_cast<double>(rts) : 0;
  const double generator_us = rts ? held.cpu_seconds * 1e6 / static_cast<double>(rts) : 0;
  const double calls_per_s = churn.script_seconds > 0 ? static_cast<double>(churn.calls_done) / churn.script_seconds : 0;
  std::printf("agi_load --floor: bare epoll responder (no astra), %u concurrent calls x %u commands, same load generator\n", calls, commands);
  std::printf("  hold phase: %llu command round trips in %.3f s -> %.0f round trips/s\n", static_cast<unsigned long long>(rts),
              held.script_seconds, rt_per_s);
  std::printf("  CPU per round trip: responder %.1f us + load generator %.1f us -> %.0f round trips/s per 2 dedicated cores\n",
              server_us, generator_us, server_us + generator_us > 0 ? 2e6 / (server_us + generator_us) : 0.0);
  std::printf("  churn: %llu calls in %.3f s -> %.0f calls/s; connect errors %llu\n", static_cast<unsigned long long>(churn.calls_done),
              churn.script_seconds, calls_per_s, static_cast<unsigned long long>(held.connect_errors + churn.connect_errors));
  std::printf("{\"bench\":\"agi_load_floor\",\"concurrent_calls\":%u,\"commands_per_call\":%u,\"round_trips\":%llu,"
              "\"round_trips_per_s\":%.0f,\"calls_per_s\":%.0f,\"server_cpu_us_per_round_trip\":%.1f,"
              "\"total_cpu_us_per_round_trip\":%.1f,\"connect_errors\":%llu}\n",
              calls, commands, static_cast<unsigned long long>(rts), rt_per_s, calls_per_s, server_us, server_us + generator_us,
              static_cast<unsigned long long>(held.connect_errors + churn.connect_errors));
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  std::uint32_t calls = 10000, commands = 20, churn_calls = 20000, churn_concurrency = 256;
  bool floor_mode = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--floor") {
      floor_mode = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "usage: bench_agi_load [--calls N] [--commands M] [--churn-calls K] [--churn-concurrency C] [--floor]\n");
      return 2;
    }
    std::string flag = argv[i];
    auto value = static_cast<std::uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    if (flag == "--calls") calls = value;
    else if (flag == "--commands") commands = value;
    else if (flag == "--churn-calls") churn_calls = value;
    else if (flag == "--churn-concurrency") churn_concurrency = value;
    else {
      std::fprintf(stderr, "usage: bench_agi_load [--calls N] [--commands M] [--churn-calls K] [--churn-concurrency C] [--floor]\n");
      return 2;
    }
    ++i;
  }
  if (commands == 0) commands = 1;
  raise_fd_limit();
  if (fd_limit() < calls + 64) {
    std::fprintf(stderr, "RLIMIT_NOFILE %zu too low for %u calls; lowering N\n", fd_limit(), calls);
    calls = static_cast<std::uint32_t>(fd_limit() - 64);
  }

  // Fork before any thread exists.
  int down[2], up[2];
  if (::pipe(down) != 0 || ::pipe(up) != 0) return 1;
  pid_t child = ::fork();
  if (child < 0) return 1;
  if (child == 0) {
    ::close(down[1]);
    ::close(up[0]);
    child_main(down[0], up[1]);
  }
  ::close(down[0]);
  ::close(up[1]);
  child_link link{down[1], up[0]};
  if (floor_mode) return run_floor(link, child, calls, commands, churn_calls, churn_concurrency);

  caf::actor_system_config caf_config;
  // astra's scheduler, as in the service (the sharing policy and the lean clock); with
  // ASTRA_CAF_POLICY=sharing|stealing, CAF's stock scheduler with that policy instead.
  if (const char* policy = std::getenv("ASTRA_CAF_POLICY")) caf_config.set("scheduler.policy", caf::atom_from_string(policy));
  else astra::use_astra_scheduler(caf_config);
  // One CAF worker and one io thread by default: the load generator takes the machine's other
  // core (2 cores here); more threads than cores only add context switches.
  const char* threads = std::getenv("ASTRA_CAF_THREADS");
  caf_config.set("scheduler.max-threads", static_cast<std::size_t>(threads ? std::strtoul(threads, nullptr, 10) : 1));
  caf::actor_system system{caf_config};
  const char* io_threads = std::getenv("ASTRA_IO_THREADS");
  astra::io_runtime io{io_threads ? static_cast<unsigned>(std::strtoul(io_threads, nullptr, 10)) : 1u};
  agi::router routes;
  routes.add("/bench", &bench_handler);
  agi::server_config config;
  config.host = "127.0.0.1";
  config.port = 0;
  config.max_concurrent_calls = calls + 1000;
  config.listen_backlog = 65535;
  config.env_timeout = 30s;
  static std::atomic<bool> record{false};
  config.hooks.command_completed = [](std::string_view command, std::chrono::nanoseconds latency, int) {
    if (record.load(std::memory_order_relaxed) && command != "verbose") g_latency.record(latency);
  };
  agi::server server{system, io.context(), std::move(routes), config};
  if (auto ec = server.start()) {
    std::fprintf(stderr, "cannot listen: %s\n", ec.message().c_str());
    return 1;
  }
  const auto port = server.local_port();
  auto wait_idle = [&] {
    for (int i = 0; i < 5000 && server.live_calls() > 0; ++i) std::this_thread::sleep_for(1ms);
  };

  // 1. warm-up
  link.run({200, 100, 4, 0, port, 0});
  wait_idle();
  g_latency.reset();  // touches the histogram's pages before the idle figure
  std::this_thread::sleep_for(200ms);
  const auto idle_rss = rss_bytes();
  const auto idle_heap = heap_in_use();
  const auto idle_free = heap_free_held();

  // 2. hold N concurrent calls, then run their scripts
  record.store(true);
  std::size_t peak_rss = 0, live_at_peak = 0, peak_heap = 0, peak_free = 0;
  double server_cpu_at_go = 0;
  auto held = link.run({calls, calls, commands, 1, port, 0}, [&] {
    for (int i = 0; i < 2000 && server.live_calls() < calls; ++i) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(100ms);
    live_at_peak = server.live_calls();
    peak_rss = rss_bytes();
    peak_heap = heap_in_use();
    peak_free = heap_free_held();
    server_cpu_at_go = cpu_seconds_now(RUSAGE_SELF);
  });
  const double server_cpu_hold = cpu_seconds_now(RUSAGE_SELF) - server_cpu_at_go;
  wait_idle();
  const double rss_per_call = live_at_peak ? static_cast<double>(peak_rss - idle_rss) / static_cast<double>(live_at_peak) : 0;
  // The held VERBOSE of each call is not part of the script.
  const auto script_round_trips = held.round_trips - std::min<std::uint64_t>(held.round_trips, held.calls_done);
  const double round_trips_per_s = held.script_seconds > 0 ? static_cast<double>(script_round_trips) / held.script_seconds : 0;

  // 3. churn
  auto churn = link.run({churn_calls, churn_concurrency, 2, 0, port, 0});
  wait_idle();
  const double calls_per_s = churn.script_seconds > 0 ? static_cast<double>(churn.calls_done) / churn.script_seconds : 0;
  record.store(false);
  const double p50 = g_latency.quantile_us(0.50), p99 = g_latency.quantile_us(0.99);
  const auto loaded_commands = g_latency.total();

  // 4. light load
  g_latency.reset();
  record.store(true);
  auto light = link.run({2000, 16, 20, 0, port, 0});
  wait_idle();
  record.store(false);
  const double light_p50 = g_latency.quantile_us(0.50), light_p99 = g_latency.quantile_us(0.99);

  phase_request quit;
  quit.quit = 1;
  write_all(link.to_child, &quit, sizeof quit);
  ::waitpid(child, nullptr, 0);
  auto report = server.shutdown(1s);
  auto stats = server.stats();
  io.stop();

  std::printf("agi_load: %u concurrent calls x %u commands (loopback, load generator in a child process)\n", calls, commands);
  std::printf("  burst admission: %u calls live after %.3f s (connect errors %llu)\n", calls, held.admit_seconds,
              static_cast<unsigned long long>(held.connect_errors));
  std::printf("  RSS idle %.1f MB, with %zu live calls %.1f MB -> %.0f bytes per call above idle\n", idle_rss / 1e6,
              live_at_peak, peak_rss / 1e6, rss_per_call);
  std::printf("  heap in use (malloc): %.0f bytes per call above idle; free but held by malloc %.0f bytes per call; sizeof(call) %zu\n",
              live_at_peak ? static_cast<double>(peak_heap - idle_heap) / static_cast<double>(live_at_peak) : 0.0,
              live_at_peak ? (static_cast<double>(peak_free) - static_cast<double>(idle_free)) / static_cast<double>(live_at_peak) : 0.0,
              sizeof(agi::call));
  std::printf("  hold phase: %llu command round trips in %.3f s -> %.0f round trips/s\n",
              static_cast<unsigned long long>(script_round_trips), held.script_seconds, round_trips_per_s);
  const double cpu_us_per_rt = script_round_trips ? (server_cpu_hold + held.cpu_seconds) * 1e6 / static_cast<double>(script_round_trips) : 0;
  const double server_cpu_us_per_rt = script_round_trips ? server_cpu_hold * 1e6 / static_cast<double>(script_round_trips) : 0;
  std::printf("  CPU per round trip: server %.1f us + load generator %.1f us -> %.0f round trips/s per 2 dedicated cores\n",
              server_cpu_us_per_rt, cpu_us_per_rt - server_cpu_us_per_rt, cpu_us_per_rt > 0 ? 2e6 / cpu_us_per_rt : 0.0);
  std::printf("  churn: %llu calls (2 commands each, %u at a time) in %.3f s -> %.0f calls/s\n",
              static_cast<unsigned long long>(churn.calls_done), churn_concurrency, churn.script_seconds, calls_per_s);
  std::printf("  command latency under load (server: write -> reply): p50 %.1f us, p99 %.1f us over %llu commands\n",
              p50, p99, static_cast<unsigned long long>(loaded_commands));
  std::printf("  command latency at light load (16 calls at a time): p50 %.1f us, p99 %.1f us over %llu commands\n",
              light_p50, light_p99, static_cast<unsigned long long>(g_latency.total()));
  std::printf("  errors: %llu command errors, %llu calls failed, %llu refused; shutdown drained %zu cut %zu\n",
              static_cast<unsigned long long>(g_command_errors.load()), static_cast<unsigned long long>(stats.calls_failed),
              static_cast<unsigned long long>(stats.refused_capacity), report.drained, report.cut);
  std::printf(
      "{\"bench\":\"agi_load\",\"concurrent_calls\":%zu,\"commands_per_call\":%u,\"admit_seconds\":%.3f,"
      "\"rss_idle_bytes\":%zu,\"rss_peak_bytes\":%zu,\"rss_per_call_bytes\":%.0f,\"round_trips\":%llu,"
      "\"round_trips_per_s\":%.0f,\"calls_per_s\":%.0f,\"latency_p50_us\":%.1f,\"latency_p99_us\":%.1f,"
      "\"light_latency_p50_us\":%.1f,\"light_latency_p99_us\":%.1f,"
      "\"server_cpu_us_per_round_trip\":%.1f,\"total_cpu_us_per_round_trip\":%.1f,"
      "\"command_errors\":%llu,\"connect_errors\":%llu}\n",
      live_at_peak, commands, held.admit_seconds, idle_rss, peak_rss, rss_per_call,
      static_cast<unsigned long long>(script_round_trips), round_trips_per_s, calls_per_s, p50, p99,
      light_p50, light_p99, server_cpu_us_per_rt, cpu_us_per_rt,
      static_cast<unsigned long long>(g_command_errors.load()),
      static_cast<unsigned long long>(held.connect_errors + churn.connect_errors + light.connect_errors));
  return 0;
}
