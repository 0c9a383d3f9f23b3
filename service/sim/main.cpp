// astra-sim: a stand-in Asterisk for demos, tests and load tests (see docs/deploy.md).
// One process, one io_context thread: an AMI server, an ARI server (REST + /ari/events) and a
// FastAGI call generator that dials astra. Exit codes: 0 after a clean stop (SIGINT/SIGTERM,
// --duration, or --calls reached), 1 when a component cannot start, 2 on bad flags.
#include "service/sim/sim.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

namespace {

using namespace astra::sim;

constexpr auto kStopGrace = 4s;  // after stop: calls get this long to end (> agi kStopLinger), then the loop ends

nlohmann::ordered_json summary(const context& ctx, double elapsed_s) {
  const auto& s = ctx.stats;
  nlohmann::ordered_json j;
  j["sim"] = "astra-sim";
  j["elapsed_s"] = std::round(elapsed_s * 1000) / 1000;
  j["agi"] = {{"calls_started", s.agi_calls_started},         {"calls_completed", s.agi_calls_completed},
              {"calls_failed", s.agi_calls_failed},           {"connect_failures", s.agi_connect_failures},
              {"caller_hangups", s.agi_caller_hangups},       {"timeouts", s.agi_timeouts},
              {"commands_answered", s.agi_commands_answered}, {"calls_active", s.agi_calls_active}};
  j["ami"] = {{"connections", s.ami_connections}, {"logins", s.ami_logins},
              {"login_failures", s.ami_login_failures}, {"actions", s.ami_actions},
              {"events_sent", s.ami_events_sent}, {"events_dropped", s.ami_events_dropped},
              {"slow_disconnects", s.ami_disconnects_slow}};
  j["ari"] = {{"requests", s.ari_requests}, {"ws_connections", s.ari_ws_connections},
              {"events_sent", s.ari_events_sent}, {"events_dropped", s.ari_events_dropped},
              {"calls_generated", s.ari_calls_generated}, {"auth_failures", s.ari_auth_failures},
              {"hangups_by_app", s.ari_hangups_by_app}, {"caller_hangups", s.ari_caller_hangups},
              {"channels_active", s.ari_channels_active}};
  j["ari_out"] = {{"calls_started", s.ari_out_calls_started}, {"calls_completed", s.ari_out_calls_completed},
                  {"calls_failed", s.ari_out_calls_failed}, {"upgrade_failures", s.ari_out_upgrade_failures},
                  {"requests", s.ari_out_requests}};
  j["async_agi"] = {{"calls_started", s.async_calls_started}, {"calls_ended", s.async_calls_ended},
                    {"calls_timed_out", s.async_calls_timed_out}, {"commands", s.async_commands},
                    {"calls_active", s.async_calls_active}};
  return j;
}

void print_stats(const context& ctx, double elapsed_s) {
  const auto& s = ctx.stats;
  std::printf("astra-sim: t=%.0fs agi calls=%llu active=%llu done=%llu failed=%llu cmds=%llu | ami logins=%llu "
              "actions=%llu events=%llu | ari requests=%llu ws=%llu events=%llu calls=%llu\n",
              elapsed_s, (unsigned long long)s.agi_calls_started, (unsigned long long)s.agi_calls_active,
              (unsigned long long)s.agi_calls_completed, (unsigned long long)s.agi_calls_failed,
              (unsigned long long)s.agi_commands_answered, (unsigned long long)s.ami_logins,
              (unsigned long long)s.ami_actions, (unsigned long long)s.ami_events_sent,
              (unsigned long long)s.ari_requests, (unsigned long long)s.ari_ws_connections,
              (unsigned long long)s.ari_events_sent, (unsigned long long)s.ari_calls_generated);
  std::fflush(stdout);
}

asio::awaitable<void> supervise(context& ctx, clock::time_point started) {
  asio::steady_timer timer(ctx.io);
  auto next_stats = started + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(ctx.opt.stats_interval_s));
  while (!ctx.stopping) {
    timer.expires_after(100ms);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    auto now = clock::now();
    double elapsed = std::chrono::duration<double>(now - started).count();
    if (ctx.opt.stats_interval_s > 0 && now >= next_stats) {
      print_stats(ctx, elapsed);
      next_stats = now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(ctx.opt.stats_interval_s));
    }
    if (ctx.opt.duration_s > 0 && elapsed >= ctx.opt.duration_s) ctx.stop();
    if (agi_caller_done(ctx) && ctx.opt.duration_s <= 0) ctx.stop();
    if (ctx.opt.ari_out_target.port != 0 && ari_outbound_caller_done(ctx) && ctx.opt.duration_s <= 0) ctx.stop();
  }
  // Bounded shutdown: in-flight AGI calls get their HANGUP; whatever is still open after
  // kStopGrace is abandoned.
  const auto give_up = clock::now() + kStopGrace;
  do {
    timer.expires_after(100ms);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  } while (ctx.stats.agi_calls_active > 0 && clock::now() < give_up);
  ctx.io.stop();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"astra-sim: a stand-in Asterisk (AMI server, ARI server, FastAGI call generator)"};
  options opt;
  std::string ami_listen = "127.0.0.1:15038", ari_listen = "127.0.0.1:18088", agi_target = "127.0.0.1:4573";
  double hold_ms = 2000, caller_hangup_ms = 0, agi_idle_ms = 30000;
  bool no_ami = false, no_ari = false, no_agi = false;
  app.add_option("--ami-listen", ami_listen, "AMI server listen HOST:PORT")->capture_default_str();
  app.add_option("--ari-listen", ari_listen, "ARI HTTP/WebSocket listen HOST:PORT")->capture_default_str();
  app.add_option("--agi-target", agi_target, "astra's FastAGI listener HOST:PORT to dial")->capture_default_str();
  app.add_option("--agi-path", opt.agi_path, "agi_network_script: path?query of the AGI URL (e.g. ivr/menu?lang=en)")
      ->capture_default_str();
  app.add_option("--agi-arg", opt.agi_args, "agi_arg_N values (repeat; default: 'first arg' 'second')");
  app.add_option("--cps", opt.cps, "FastAGI calls started per second")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--concurrency", opt.concurrency, "FastAGI calls in flight at most")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--calls", opt.calls, "FastAGI calls to make in total, then exit once they ended (0 = unlimited)")
      ->capture_default_str();
  app.add_option("--event-rate", opt.event_rate, "AMI call events per second (replayed from the recorded 40-call burst)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--ari-cps", opt.ari_cps, "generated Stasis calls per second per connected ARI app")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--ari-calls", opt.ari_calls, "generated Stasis calls in total (0 = unlimited)")->capture_default_str();
  double ari_playback_ms = 400;
  app.add_option("--ari-playback-ms", ari_playback_ms, "ARI playback length per media item (ms)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--hold-ms", hold_ms, "how long generated ARI calls and AMI-originated channels stay up (ms)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--caller-hangup-ms", caller_hangup_ms, "the AGI caller hangs up after this many ms (0 = never)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--agi-idle-timeout-ms", agi_idle_ms, "an AGI call waiting this long for a command is cut (ms)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--dtmf", opt.dtmf, "digits the AGI caller presses for GET DATA / WAIT FOR DIGIT (default: none)");
  app.add_option("--media-scale", opt.media_scale,
                 "AGI playback/digit-wait/Wait times x this (1 = like Asterisk, 0 = answer at once)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--duration", opt.duration_s, "run for SECONDS, then stop cleanly (0 = until SIGINT/SIGTERM)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--stats-interval", opt.stats_interval_s, "seconds between one-line stats (0 = none)")->capture_default_str();
  app.add_option("--ami-user", opt.ami_user, "AMI username")->capture_default_str();
  app.add_option("--ami-secret", opt.ami_secret, "AMI secret (plain and MD5 challenge logins)");
  app.add_option("--ari-user", opt.ari_user, "ARI username")->capture_default_str();
  app.add_option("--ari-password", opt.ari_password, "ARI password");
  app.add_option("--ari-app", opt.ari_app, "ARI application the generated Stasis calls enter")->capture_default_str();
  std::string ari_out;
  double ari_out_setup_ms = 500;
  app.add_option("--ari-out", ari_out,
                 "outbound ARI: dial astra's ari_outbound listener HOST:PORT per call, as Asterisk does (off when unset)");
  app.add_option("--ari-out-path", opt.ari_out_path, "outbound ARI: request path")->capture_default_str();
  app.add_option("--ari-out-app", opt.ari_out_app, "outbound ARI: Stasis app (registers <app>:<channel>)")->capture_default_str();
  app.add_option("--ari-out-user", opt.ari_out_user, "outbound ARI: Basic user (websocket_client.conf username)")->capture_default_str();
  app.add_option("--ari-out-password", opt.ari_out_password, "outbound ARI: Basic password");
  app.add_option("--ari-out-cps", opt.ari_out_cps, "outbound ARI: per-call sockets opened per second")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--ari-out-calls", opt.ari_out_calls, "outbound ARI: calls in total, then exit once they ended (0 = unlimited)")
      ->capture_default_str();
  app.add_option("--ari-out-concurrency", opt.concurrency_ari_out, "outbound ARI: sockets open at most")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--ari-out-setup-ms", ari_out_setup_ms, "outbound ARI: ApplicationRegistered to StasisStart (Asterisk: ~500)")
      ->capture_default_str();
  app.add_option("--async-agi-cps", opt.async_agi_cps,
                 "AsyncAGI calls (AGI(agi:async,ROUTE)) started per second on the AMI server (0 = none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--async-agi-route", opt.async_agi_route, "the route of AsyncAGI calls (their agi_arg_1)")
      ->capture_default_str();
  app.add_flag("--no-ami", no_ami, "do not start the AMI server");
  app.add_flag("--no-ari", no_ari, "do not start the ARI server");
  app.add_flag("--no-agi", no_agi, "do not generate FastAGI calls");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!parse_host_port(ami_listen, opt.ami_listen) || !parse_host_port(ari_listen, opt.ari_listen) ||
      !parse_host_port(agi_target, opt.agi_target)) {
    std::cerr << "astra-sim: --ami-listen, --ari-listen and --agi-target take HOST:PORT\n";
    return 2;
  }
  if (!ari_out.empty() && !parse_host_port(ari_out, opt.ari_out_target)) {
    std::cerr << "astra-sim: --ari-out takes HOST:PORT\n";
    return 2;
  }
  opt.ari_out_setup = std::chrono::milliseconds(static_cast<long long>(ari_out_setup_ms));
  opt.ari_call_hold = std::chrono::milliseconds(static_cast<long long>(hold_ms));
  opt.ari_playback = std::chrono::milliseconds(static_cast<long long>(ari_playback_ms));
  opt.agi_caller_hangup = std::chrono::milliseconds(static_cast<long long>(caller_hangup_ms));
  opt.agi_idle_timeout = std::chrono::milliseconds(static_cast<long long>(agi_idle_ms));
  opt.ami_enabled = !no_ami;
  opt.ari_enabled = !no_ari;
  opt.agi_enabled = !no_agi;

  asio::io_context io{1};
  context ctx{io, opt, {}, false, {}};
  const auto started = clock::now();
  bool components_up = false;
  try {
    components_up = (!opt.ami_enabled || start_ami_server(ctx)) && (!opt.ari_enabled || start_ari_server(ctx)) &&
              (!opt.agi_enabled || start_agi_caller(ctx)) &&
              (opt.ari_out_target.port == 0 || start_ari_outbound_caller(ctx));
  } catch (const std::exception& e) {  // startup only: embedded fixtures malformed
    std::cerr << e.what() << "\n";
  }
  if (!components_up) {
    destroy_components();
    return 1;
  }
  std::printf("astra-sim: AMI %s:%u (%s) ARI http://%s:%u/ari (%s, app %s) FastAGI -> %s:%u/%s at %.2f cps "
              "(concurrency %zu)\n",
              opt.ami_listen.host.c_str(), opt.ami_listen.port, opt.ami_enabled ? "on" : "off",
              opt.ari_listen.host.c_str(), opt.ari_listen.port, opt.ari_enabled ? "on" : "off", opt.ari_app.c_str(),
              opt.agi_target.host.c_str(), opt.agi_target.port, opt.agi_path.c_str(),
              opt.agi_enabled ? opt.cps : 0.0, opt.concurrency);
  std::fflush(stdout);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) ctx.stop();
  });
  ctx.stop_handlers.push_back([&] {
    boost::system::error_code ignored;
    signals.cancel(ignored);
  });
  asio::co_spawn(io, supervise(ctx, started), asio::detached);
  io.run();
  destroy_ari_outbound_caller();
  destroy_components();

  double elapsed = std::chrono::duration<double>(clock::now() - started).count();
  print_stats(ctx, elapsed);
  std::printf("%s\n", summary(ctx, elapsed).dump().c_str());
  std::fflush(stdout);
  return 0;
}
