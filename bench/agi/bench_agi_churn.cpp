// bench_agi_churn: FastAGI call churn, astra next to the bare floor responder, in one run.
//
//   bench_agi_churn [--calls K] [--concurrency C] [--rounds R] [--warmup W] [--port P] [--workers 1]
//   bench_agi_churn --serve astra|astra_workers|floor
//
// Each call: connect, send the agi_* block, answer the 8 commands of agi_demo's /ivr/menu
// (ANSWER, SET VARIABLE x3, GET VARIABLE, SET VARIABLE, STREAM FILE, HANGUP), wait for the
// server to close. C calls at a time (default 100), K calls per run (default 40,000) after W
// warm-up calls (default 2,000).
//
// The load generator is this process: one thread, epoll, no framework. The servers each run in
// a process of their own, forked for the run:
//   astra  the FastAGI server (actors/agi) with /ivr/menu, the same handler as examples/agi_demo
//          (one Asio thread, one CAF worker, astra's scheduler as in the service: the sharing
//          policy and the lean clock, actors/common/caf_scheduler.hpp; ASTRA_IO_THREADS and
//          ASTRA_CAF_THREADS override the counts, ASTRA_CAF_POLICY=sharing|stealing runs CAF's
//          stock scheduler instead);
//   floor  the bare single-threaded epoll responder of bench_agi_load --floor (floor_responder.hpp)
//          sending the very lines astra sends (the generator checks that both scripts match).
// R rounds (default 3) alternate astra and floor runs. Latency is the generator's: from the
// moment it sent the agi_* block or a reply to the moment the next command line arrived, over
// all 8 commands of every measured call; first_command_p99_us and later_commands_p99_us split it
// into a call's first command (which includes connect, accept and admission) and the others.
// --workers 1 adds a third run per round: astra with server_config::handlers_on_io_threads off
// (handlers on the CAF worker: two thread hops per command; the default runs them on the io
// thread).
// --serve KIND runs one server alone and prints {"serve":KIND,"port":P,"pid":N} (for perf,
// strace, or --port from another shell); it stops when its standard input closes.
// --port P runs the generator once against a server already listening on 127.0.0.1:P (e.g.
// build/bin/agi_demo --listen 127.0.0.1:P) and prints its line only.
//
// Prints one JSON line per run ({"bench":"agi_churn","server":"astra"|"floor",...}) and ends with
// {"bench":"agi_churn_ratio",...}: the median over the rounds of astra's commands/s as a share
// of the floor's in the same round, and of astra's p99 over the floor's.
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "actors/common/caf_scheduler.hpp"
#include <spdlog/spdlog.h>

#include "actors/agi/call.hpp"
#include "actors/agi/server.hpp"
#include "actors/common/io_runtime.hpp"
#include "floor_responder.hpp"

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace agi = astra::agi;

namespace {

constexpr int commands_per_call = 8;

// ------------------------------------------------------------------ astra side (child process)

std::string join(const std::vector<std::string_view>& parts, char sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out.append(parts[i]);
  }
  return out;
}

astra::result<void> stop(const astra::failure& f) {
  if (f.code == agi::agi_errc::hung_up || f.code == agi::agi_errc::disconnected) return {};
  return f;
}

// The commands of examples/agi_demo.cpp's /ivr/menu, in the errors-as-values form (the example
// itself is straight-line on astra::service; the command lines on the wire are the same).
astra::task<astra::result<void>> ivr_menu(agi::call& call) {
  if (auto r = co_await call.answer(); !r) co_return stop(r.error());
  if (auto r = co_await call.set_variable("ASTRA_ROUTE", call.path()); !r) co_return stop(r.error());
  if (auto r = co_await call.set_variable("ASTRA_LANG", call.param("lang").value_or("")); !r) co_return stop(r.error());
  const auto args = join(call.args(), '|');
  if (auto r = co_await call.set_variable("ASTRA_ARGS", args); !r) co_return stop(r.error());
  auto caller = co_await call.get_variable("CALLERID(num)");
  if (!caller) co_return stop(caller.error());
  const std::string number = caller->value_or("");
  if (auto r = co_await call.set_variable("ASTRA_CALLER", number); !r) co_return stop(r.error());
  if (auto r = co_await call.stream_file("beep", ""); !r) co_return stop(r.error());
  if (auto r = co_await call.hangup(); !r) co_return stop(r.error());
  co_return astra::result<void>{};
}

// Runs until `control` is closed by the parent; writes the port to `report` once listening.
[[noreturn]] void astra_main(int control, int report, bool handlers_on_workers) {
  spdlog::set_level(spdlog::level::warn);  // no per-start/stop info lines amid the JSON
  caf::actor_system_config caf_config;
  // ASTRA_CAF_POLICY (sharing, stealing): CAF's stock scheduler with that policy instead of
  // astra's (the service's: sharing with the lean clock), for comparisons.
  if (const char* policy = std::getenv("ASTRA_CAF_POLICY")) caf_config.set("scheduler.policy", caf::atom_from_string(policy));
  else astra::use_astra_scheduler(caf_config);
  const char* threads = std::getenv("ASTRA_CAF_THREADS");
  caf_config.set("scheduler.max-threads", static_cast<std::size_t>(threads ? std::strtoul(threads, nullptr, 10) : 1));
  std::uint16_t port = 0;
  {
    caf::actor_system system{caf_config};
    const char* io_threads = std::getenv("ASTRA_IO_THREADS");
    astra::io_runtime io{io_threads ? static_cast<unsigned>(std::strtoul(io_threads, nullptr, 10)) : 1u};
    agi::router routes;
    routes.add("/ivr/menu", agi::result_handler(&ivr_menu));
    agi::server_config config;
    config.host = "127.0.0.1";
    config.port = 0;
    config.listen_backlog = 4096;
    if (handlers_on_workers) config.handlers_on_io_threads = false;  // else the default (true)
    std::uint64_t failed = 0;
    {
      agi::server server{system, io.context(), std::move(routes), config};
      if (!server.start()) port = server.local_port();
      (void)::write(report, &port, sizeof port);
      char byte = 0;
      while (port != 0 && ::read(control, &byte, 1) < 0 && errno == EINTR) {
      }
      server.shutdown(1s);
      failed = server.stats().calls_failed;
    }
    io.stop();
    if (failed) std::fprintf(stderr, "astra: %llu calls failed\n", static_cast<unsigned long long>(failed));
  }
  ::_exit(port ? 0 : 1);
}

// ------------------------------------------------------------------ floor side (child process)

// The lines astra's /ivr/menu writes for the generator's agi_* block (checked per run).
const char* const ivr_lines[commands_per_call] = {
    "ANSWER\n",
    "SET VARIABLE ASTRA_ROUTE /ivr/menu\n",
    "SET VARIABLE ASTRA_LANG de\n",
    "SET VARIABLE ASTRA_ARGS \"first|second\"\n",
    "GET VARIABLE CALLERID(num)\n",
    "SET VARIABLE ASTRA_CALLER 5551234\n",
    "STREAM FILE beep \"\"\n",
    "HANGUP\n",
};
const char* ivr_line(long i) { return ivr_lines[i]; }
long ivr_count(std::string_view) { return commands_per_call; }

[[noreturn]] void floor_main(int control, int report) {
  std::uint16_t port = 0;
  {
    bench_agi::floor_responder responder{bench_agi::floor_script{&ivr_line, &ivr_count}};
    if (responder.start()) port = responder.port;
    (void)::write(report, &port, sizeof port);
    char byte = 0;
    while (port != 0 && ::read(control, &byte, 1) < 0 && errno == EINTR) {
    }
    if (port) responder.stop();
  }
  ::_exit(port ? 0 : 1);
}

struct server_process {
  pid_t pid = -1;
  int control = -1;  // closing it ends the server
  std::uint16_t port = 0;
};

enum class server_kind { astra, astra_workers, floor };

server_process start_server(server_kind kind) {
  int down[2], up[2];
  if (::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(up, O_CLOEXEC) != 0) return {};
  server_process p;
  std::fflush(stdout);  // the child must not inherit unwritten output
  p.pid = ::fork();
  if (p.pid == 0) {
    ::close(down[1]);
    ::close(up[0]);
    if (kind == server_kind::floor) floor_main(down[0], up[1]);
    astra_main(down[0], up[1], kind == server_kind::astra_workers);
  }
  ::close(down[0]);
  ::close(up[1]);
  p.control = down[1];
  if (::read(up[0], &p.port, sizeof p.port) != sizeof p.port) p.port = 0;
  ::close(up[0]);
  return p;
}

void stop_server(server_process& p) {
  ::close(p.control);
  ::waitpid(p.pid, nullptr, 0);
}

// utime + stime of a process, seconds.
double process_cpu_seconds(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');
  if (!p) return 0;
  unsigned long utime = 0, stime = 0;
  // Fields after ')': state(3) ... utime(14) stime(15).
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double self_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// ------------------------------------------------------------------ load generator (this process)

const std::string& environment_block() {
  static const std::string block =
      "agi_network: yes\nagi_network_script: ivr/menu?lang=de\nagi_request: agi://127.0.0.1:4573/ivr/menu?lang=de\n"
      "agi_channel: PJSIP/alice-0000002e\nagi_language: en\nagi_type: PJSIP\nagi_uniqueid: 1795452521.93\n"
      "agi_version: 22.11.0-rc1\nagi_callerid: 5551234\nagi_calleridname: Alice\nagi_callingpres: 0\n"
      "agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: 100\nagi_rdnis: unknown\n"
      "agi_context: default\nagi_extension: 100\nagi_priority: 1\nagi_enhanced: 0.0\nagi_accountcode: \n"
      "agi_threadid: 140279413057216\nagi_arg_1: first\nagi_arg_2: second\n\n";
  return block;
}

std::string_view reply_for(std::string_view command) {
  if (command.rfind("GET VARIABLE", 0) == 0) return "200 result=1 (5551234)\n";
  if (command.rfind("STREAM FILE", 0) == 0) return "200 result=0 endpos=1234\n";
  if (command.rfind("ANSWER", 0) == 0) return "200 result=0\n";
  return "200 result=1\n";  // SET VARIABLE, HANGUP
}

struct run_result {
  std::uint64_t calls = 0, commands = 0, bad_calls = 0, connect_errors = 0;
  double seconds = 0, server_cpu = 0, generator_cpu = 0;
  double p50_us = 0, p99_us = 0;
  // The first command of a call (its latency includes connect, accept and admission) apart
  // from the 7 others (a reply's turnaround).
  double first_p99_us = 0, later_p99_us = 0;
  std::string script;  // the command lines of the first measured call
  bool script_mismatch = false;
};

struct gen_conn {
  int fd = -1;
  bool connecting = true;
  int commands = 0;
  steady::time_point sent{};
  std::string partial;
  std::string script;  // this call's command lines
};

// Runs `total` calls, `concurrency` at a time; the first `warmup` calls are not measured.
run_result generate(std::uint16_t port, pid_t server_pid, std::uint32_t warmup, std::uint32_t total, std::uint32_t concurrency) {
  run_result res;
  const std::string& env = environment_block();
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<gen_conn> conns(concurrency);
  std::vector<float> latencies, first_latencies, later_latencies;
  latencies.reserve(static_cast<std::size_t>(total) * commands_per_call);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::uint32_t started = 0, finished = 0, live = 0;
  bool measuring = warmup == 0;
  steady::time_point t0 = steady::now();
  double server_cpu0 = server_pid > 0 ? process_cpu_seconds(server_pid) : 0, self_cpu0 = self_cpu_seconds();

  auto open_conn = [&](std::uint32_t slot) {
    while (started < warmup + total) {
      auto& c = conns[slot];
      c = gen_conn{};
      ++started;
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      int one = 1;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
        ++res.connect_errors;
        ::close(c.fd);
        c.fd = -1;
        ++finished;
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.u32 = slot;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
      ++live;
      return;
    }
  };
  auto end_call = [&](std::uint32_t slot, bool ok) {
    auto& c = conns[slot];
    ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
    --live;
    ++finished;
    if (measuring) {
      if (ok) {
        ++res.calls;
        if (res.script.empty()) res.script = c.script;
        else if (c.script != res.script) res.script_mismatch = true;
      } else {
        ++res.bad_calls;
      }
      res.commands += static_cast<std::uint64_t>(c.commands);
    }
    if (!measuring && finished >= warmup) {
      // Warm-up over: calls started from now on are measured (the ones in flight finish first).
      measuring = true;
      t0 = steady::now();
      if (server_pid > 0) server_cpu0 = process_cpu_seconds(server_pid);
      self_cpu0 = self_cpu_seconds();
    }
    open_conn(slot);
  };

  for (std::uint32_t s = 0; s < concurrency; ++s) open_conn(s);
  std::vector<epoll_event> events(1024);
  char buf[4096];
  while (live > 0) {
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 10000);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fprintf(stderr, "load generator: no progress for 10 s (%u live)\n", live);
      break;
    }
    const auto now = steady::now();
    for (int i = 0; i < n; ++i) {
      const auto slot = events[i].data.u32;
      auto& c = conns[slot];
      if (c.fd < 0) continue;
      if (c.connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          ++res.connect_errors;
          end_call(slot, false);
          continue;
        }
        c.connecting = false;
        c.sent = now;
        (void)::send(c.fd, env.data(), env.size(), MSG_NOSIGNAL);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = slot;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        continue;
      }
      const bool eof = bench_agi::read_available(c.fd, c.partial, buf, sizeof buf);
      std::size_t pos = 0;
      std::string out;
      for (auto lf = c.partial.find('\n'); lf != std::string::npos; lf = c.partial.find('\n', pos)) {
        std::string_view line(c.partial.data() + pos, lf - pos + 1);
        pos = lf + 1;
        if (measuring) {
          const float us = std::chrono::duration<float, std::micro>(now - c.sent).count();
          latencies.push_back(us);
          (c.commands == 0 ? first_latencies : later_latencies).push_back(us);
        }
        ++c.commands;
        if (c.script.size() < 1024) c.script.append(line);
        out.append(reply_for(line));
      }
      c.partial.erase(0, pos);
      if (!out.empty()) {
        c.sent = steady::now();
        (void)::send(c.fd, out.data(), out.size(), MSG_NOSIGNAL);
      }
      if (eof) end_call(slot, c.commands == commands_per_call && c.partial.empty());
    }
  }
  res.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  if (server_pid > 0) res.server_cpu = process_cpu_seconds(server_pid) - server_cpu0;
  res.generator_cpu = self_cpu_seconds() - self_cpu0;
  ::close(ep);
  auto q = [](std::vector<float>& v, double f) {
    if (v.empty()) return 0.0;
    auto k = static_cast<std::size_t>(f * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]);
  };
  res.p50_us = q(latencies, 0.50);
  res.p99_us = q(latencies, 0.99);
  res.first_p99_us = q(first_latencies, 0.99);
  res.later_p99_us = q(later_latencies, 0.99);
  return res;
}

struct figures {
  double commands_per_s = 0, calls_per_s = 0, p50_us = 0, p99_us = 0;
};

figures print_run(const char* server, int round, const run_result& r, std::uint32_t concurrency) {
  figures f;
  f.commands_per_s = r.seconds > 0 ? static_cast<double>(r.commands) / r.seconds : 0;
  f.calls_per_s = r.seconds > 0 ? static_cast<double>(r.calls) / r.seconds : 0;
  f.p50_us = r.p50_us;
  f.p99_us = r.p99_us;
  const double server_us = r.commands ? r.server_cpu * 1e6 / static_cast<double>(r.commands) : 0;
  const double generator_us = r.commands ? r.generator_cpu * 1e6 / static_cast<double>(r.commands) : 0;
  std::printf("{\"bench\":\"agi_churn\",\"server\":\"%s\",\"round\":%d,\"concurrency\":%u,\"calls\":%llu,"
              "\"commands\":%llu,\"commands_per_s\":%.0f,\"calls_per_s\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f,"
              "\"server_cpu_us_per_command\":%.2f,\"generator_cpu_us_per_command\":%.2f,\"bad_calls\":%llu,"
              "\"connect_errors\":%llu,\"script_mismatch\":%s,\"first_command_p99_us\":%.0f,\"later_commands_p99_us\":%.0f}\n",
              server, round, concurrency, static_cast<unsigned long long>(r.calls), static_cast<unsigned long long>(r.commands),
              f.commands_per_s, f.calls_per_s, f.p50_us, f.p99_us, server_us, generator_us,
              static_cast<unsigned long long>(r.bad_calls), static_cast<unsigned long long>(r.connect_errors),
              r.script_mismatch ? "true" : "false", r.first_p99_us, r.later_p99_us);
  std::fflush(stdout);
  return f;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_agi_churn [--calls K] [--concurrency C] [--rounds R] [--warmup W] [--port P] [--workers 1]\n"
               "       bench_agi_churn --serve astra|astra_workers|floor   (a server alone, for profiling:\n"
               "       prints its port and pid, runs until stdin closes)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t calls = 40000, concurrency = 100, rounds = 3, warmup = 2000, external_port = 0, workers = 0;
  if (argc == 3 && std::string(argv[1]) == "--serve") {
    const std::string name = argv[2];
    if (name != "astra" && name != "astra_workers" && name != "floor") return usage();
    auto server = start_server(name == "floor" ? server_kind::floor
                               : name == "astra" ? server_kind::astra
                                                 : server_kind::astra_workers);
    if (server.port == 0) return 1;
    std::printf("{\"serve\":\"%s\",\"port\":%u,\"pid\":%d}\n", name.c_str(), server.port, static_cast<int>(server.pid));
    std::fflush(stdout);
    for (char byte;;) {
      const auto n = ::read(0, &byte, 1);
      if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
    stop_server(server);
    return 0;
  }
  for (int i = 1; i < argc; ++i) {
    if (i + 1 >= argc) return usage();
    const std::string flag = argv[i];
    const auto value = static_cast<std::uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    if (flag == "--calls") calls = value;
    else if (flag == "--concurrency") concurrency = value;
    else if (flag == "--rounds") rounds = value;
    else if (flag == "--warmup") warmup = value;
    else if (flag == "--port") external_port = value;
    else if (flag == "--workers") workers = value;
    else return usage();
  }
  if (calls == 0 || concurrency == 0) return usage();
  ::signal(SIGPIPE, SIG_IGN);
  std::printf("agi_churn: %u calls x %d commands, %u at a time, generator: 1 thread in this process\n", calls,
              commands_per_call, concurrency);
  if (external_port) {
    auto r = generate(static_cast<std::uint16_t>(external_port), -1, warmup, calls, concurrency);
    print_run("external", 1, r, concurrency);
    return r.calls ? 0 : 1;
  }
  std::vector<double> ratios, p99_ratios;
  std::vector<double> astra_cps, floor_cps;
  std::string astra_script;
  bool mismatch = false;
  for (std::uint32_t round = 1; round <= rounds; ++round) {
    figures a, f;
    for (int side = 0; side < (workers ? 3 : 2); ++side) {
      // Alternate which server goes first, so a drift of the machine's speed hits both.
      server_kind kind = (side == 0) == (round % 2 == 0) ? server_kind::floor : server_kind::astra;
      if (side == 2) kind = server_kind::astra_workers;
      const bool floor = kind == server_kind::floor;
      const char* name = floor ? "floor" : kind == server_kind::astra ? "astra" : "astra_workers";
      auto server = start_server(kind);
      if (server.port == 0) {
        std::fprintf(stderr, "cannot start the %s server\n", name);
        return 1;
      }
      auto r = generate(server.port, server.pid, warmup, calls, concurrency);
      stop_server(server);
      if (!floor) {
        if (astra_script.empty()) astra_script = r.script;
        mismatch = mismatch || r.script_mismatch || r.script != astra_script;
      } else {
        mismatch = mismatch || r.script_mismatch || (!astra_script.empty() && r.script != astra_script);
      }
      auto fig = print_run(name, static_cast<int>(round), r, concurrency);
      if (kind == server_kind::floor) f = fig;
      else if (kind == server_kind::astra) a = fig;
    }
    ratios.push_back(f.commands_per_s > 0 ? a.commands_per_s / f.commands_per_s : 0);
    p99_ratios.push_back(f.p99_us > 0 ? a.p99_us / f.p99_us : 0);
    astra_cps.push_back(a.commands_per_s);
    floor_cps.push_back(f.commands_per_s);
  }
  if (mismatch) {
    std::fprintf(stderr, "the servers' command lines differ; astra's:\n%s", astra_script.c_str());
  }
  const double ratio = median(ratios), p99_ratio = median(p99_ratios);
  std::printf("{\"bench\":\"agi_churn_ratio\",\"rounds\":%u,\"astra_commands_per_s\":%.0f,\"floor_commands_per_s\":%.0f,"
              "\"throughput_ratio\":%.3f,\"p99_ratio\":%.2f,\"goal_throughput_ratio\":0.85,\"goal_p99_ratio\":2.0,"
              "\"met\":%s,\"same_script\":%s}\n",
              rounds, median(astra_cps), median(floor_cps), ratio, p99_ratio,
              ratio >= 0.85 && p99_ratio <= 2.0 ? "true" : "false", mismatch ? "false" : "true");
  return mismatch ? 1 : 0;
}
