// agi_demo: a FastAGI server with two routes, written against astra's coroutine call API.
//
//   build/bin/agi_demo [--listen HOST:PORT]      (default 0.0.0.0:4573)
//
//   /ivr/menu  answer; ASTRA_ROUTE = matched path; ASTRA_LANG = query parameter `lang`;
//              ASTRA_ARGS = AGI arguments joined by '|'; ASTRA_CALLER = CALLERID(num);
//              stream file beep; hang up.
//   /hang      answer; wait up to 60 s for a digit; when the caller hangs up, catch the hangup
//              error and set ASTRA_SAW_HANGUP = 1 (a command Asterisk allows on a dead channel).
//
// Dialplan:  exten => 100,1,AGI(agi://127.0.0.1:4573/ivr/menu?lang=de,first,second)
// One log line per call on stdout. SIGINT/SIGTERM: stop accepting, drain calls (10 s), exit 0.
#include <utility>

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <caf/all.hpp>

#include "actors/agi/call.hpp"
#include "actors/agi/server.hpp"
#include "actors/common/io_runtime.hpp"

using namespace std::chrono_literals;
namespace agi = astra::agi;

namespace {

constexpr auto drain_time = 10s;

std::string join(const std::vector<std::string_view>& parts, char sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out.append(parts[i]);
  }
  return out;
}

// Ends the handler on a failed step: a caller who hung up (or left) is a normal end, anything
// else is returned as the handler's error (the server logs it with the route and call id).
astra::result<void> stop(const astra::failure& f) {
  if (f.code == agi::agi_errc::hung_up || f.code == agi::agi_errc::disconnected) return {};
  return f;
}

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
  // A caller hanging up during playback yields hung_up (the call layer tells it from a file
  // that could not be played, which stays command_failed).
  if (auto r = co_await call.stream_file("beep", ""); !r) co_return stop(r.error());
  if (auto r = co_await call.hangup(); !r) co_return stop(r.error());
  co_return astra::result<void>{};
}

astra::task<astra::result<void>> hang(agi::call& call) {
  if (auto r = co_await call.answer(); !r) co_return stop(r.error());
  auto digit = co_await call.wait_for_digit(60000ms);
  if (!digit && digit.code() == agi::agi_errc::hung_up) {
    // The channel is gone; SET VARIABLE still works on a dead channel.
    auto r = co_await call.set_variable("ASTRA_SAW_HANGUP", "1");
    co_return r ? astra::result<void>{} : stop(r.error());
  }
  if (!digit) co_return stop(digit.error());
  co_return astra::result<void>{};  // a digit or the 60 s timeout: nothing more to do
}

bool parse_listen(const std::string& text, std::string& host, std::uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) return false;
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    std::size_t used = 0;
    auto value = std::stoul(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
  } catch (const std::exception&) {
    return false;
  }
  return !host.empty();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"astra FastAGI demo server"};
  std::string listen = "0.0.0.0:4573";
  app.add_option("--listen", listen, "HOST:PORT to accept Asterisk's FastAGI connections on");
  CLI11_PARSE(app, argc, argv);

  agi::server_config config;
  if (!parse_listen(listen, config.host, config.port)) {
    std::fprintf(stderr, "agi_demo: --listen expects HOST:PORT, got '%s'\n", listen.c_str());
    return 2;
  }

  // Signals are taken by sigwait below: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  config.hooks.call_ended = [](std::string_view route, std::uint64_t id, agi::call_outcome outcome,
                               std::chrono::nanoseconds duration) {
    std::printf("call %llu route %.*s outcome %s duration_ms %lld\n", static_cast<unsigned long long>(id),
                static_cast<int>(route.size()), route.data(), agi::to_string(outcome),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(duration).count()));
    std::fflush(stdout);
  };

  agi::router routes;
  routes.add("/ivr/menu", agi::result_handler(&ivr_menu));
  routes.add("/hang", agi::result_handler(&hang));

  // The io_context outlives the actor system (call actors hold connections with Asio sockets).
  astra::io_runtime io{1};
  caf::actor_system_config caf_config;
  caf::actor_system system{caf_config};
  agi::server server{system, io.context(), std::move(routes), config};
  if (auto ec = server.start()) {
    std::fprintf(stderr, "agi_demo: cannot listen on %s: %s\n", listen.c_str(), ec.message().c_str());
    return 1;
  }
  std::printf("agi_demo listening on %s:%u\n", config.host.c_str(), server.local_port());
  std::fflush(stdout);

  int received = 0;
  sigwait(&signals, &received);
  std::printf("agi_demo: %s, draining calls (up to %lld s)\n", received == SIGINT ? "SIGINT" : "SIGTERM",
              static_cast<long long>(drain_time.count()));
  std::fflush(stdout);
  auto report = server.shutdown(drain_time);
  std::printf("agi_demo: stopped, %zu calls drained, %zu cut\n", report.drained, report.cut);
  std::fflush(stdout);
  io.stop();
  return 0;
}
