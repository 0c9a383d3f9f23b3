// agi_demo: a FastAGI server with two routes, on astra::service (the supervised runtime of
// `astra run`: JSON logs, admin HTTP with /metrics, drain on SIGTERM).
//
//   build/bin/agi_demo [--listen HOST:PORT]      (default 0.0.0.0:4573)
//
//   /ivr/menu  answer; ASTRA_ROUTE = matched path; ASTRA_LANG = query parameter `lang`;
//              ASTRA_ARGS = AGI arguments joined by '|'; ASTRA_CALLER = CALLERID(num);
//              stream file beep; hang up.
//   /hang      answer; wait up to 60 s for a digit; when the caller hangs up, set
//              ASTRA_SAW_HANGUP = 1 (a command Asterisk allows on a dead channel).
//
// Dialplan:  exten => 100,1,AGI(agi://127.0.0.1:4573/ivr/menu?lang=de,first,second)
// Stdout: "agi_demo listening on HOST:PORT", one line per call, and the drain's report.
// SIGINT/SIGTERM: stop accepting, drain calls (10 s), exit 0. The admin HTTP listens on
// 127.0.0.1 on a free port unless ASTRA_ADMIN_LISTEN says otherwise (ASTRA_* overrides apply).
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include <astra/service.hpp>

using namespace std::chrono_literals;
using astra::agi::call;

astra::task<void> ivr_menu(call& call) {
  co_await call.answer();
  co_await call.set_variable("ASTRA_ROUTE", call.path());
  co_await call.set_variable("ASTRA_LANG", call.param("lang").value_or(""));
  std::string args;
  for (auto arg : call.args()) args.append(args.empty() ? "" : "|").append(arg);
  co_await call.set_variable("ASTRA_ARGS", args);
  auto caller = co_await call.get_variable("CALLERID(num)");  // result<optional<string>>
  const std::string number = caller && *caller ? **caller : std::string();
  co_await call.set_variable("ASTRA_CALLER", number);
  co_await call.stream_file("beep");
  co_await call.hangup();
}

astra::task<void> hang(call& call) {
  co_await call.answer();
  auto digit = co_await call.wait_for_digit(60000ms);  // hang-ups come back as values here
  if (!digit && digit.code() == astra::agi::agi_errc::hung_up) co_await call.set_variable("ASTRA_SAW_HANGUP", "1");
}

int main(int argc, char** argv) {
  CLI::App app{"astra FastAGI demo server"};
  std::string listen = "0.0.0.0:4573";
  app.add_option("--listen", listen, "HOST:PORT to accept Asterisk's FastAGI connections on");
  CLI11_PARSE(app, argc, argv);

  astra::service svc{1, argv};  // the demo's own options only: no --config
  svc.default_config("agi: {listen: '" + listen + "'}\nadmin: {listen: '127.0.0.1:0'}\ndrain_timeout: 10s\n");
  svc.agi("/ivr/menu", ivr_menu);
  astra::agi_route_options dead_channel_commands;
  dead_channel_commands.on_hangup = astra::hangup_policy::return_error;
  svc.agi("/hang", hang, dead_channel_commands);
  svc.on_started([](const astra::service_started& s) {
    std::printf("agi_demo listening on %s:%u\n", s.agi_host.c_str(), s.agi_port);
    std::fflush(stdout);
  });
  svc.on_agi_call_end([](const astra::agi_call_summary& c) {
    std::printf("call %llu route %.*s outcome %s duration_ms %lld\n", static_cast<unsigned long long>(c.call_id),
                static_cast<int>(c.route.size()), c.route.data(), astra::agi::to_string(c.outcome),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(c.duration).count()));
    std::fflush(stdout);
  });
  svc.on_draining([](const astra::service_draining& d) {
    std::printf("agi_demo: %s, draining calls (up to %lld s)\n", d.signal.c_str(),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(d.drain_timeout).count()));
    std::fflush(stdout);
  });
  svc.on_stopped([](const astra::service_stopped& s) {
    std::printf("agi_demo: stopped, %zu calls drained, %zu cut\n", s.drained, s.cut);
    std::fflush(stdout);
  });
  return svc.run();
}
