// astra-sim internals shared by its translation units (executable-private header).
// Threading contract: everything runs on ONE io_context thread; no locks, no atomics.
#pragma once

#include <utility>  // before Asio: boost/asio/awaitable.hpp uses std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace astra::sim {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct host_port {
  std::string host;
  std::uint16_t port = 0;
};

/// Parses "HOST:PORT" (":PORT" means 127.0.0.1); false on a malformed value.
bool parse_host_port(std::string_view text, host_port& out);

struct options {
  host_port ami_listen{"127.0.0.1", 15038};
  host_port ari_listen{"127.0.0.1", 18088};
  host_port agi_target{"127.0.0.1", 4573};
  bool ami_enabled = true;
  bool ari_enabled = true;
  bool agi_enabled = true;
  std::string agi_path = "ivr/menu?lang=en";  // agi_network_script: path and query, no leading '/'
  std::vector<std::string> agi_args{"first arg", "second"};
  double cps = 1.0;                 // FastAGI calls started per second
  std::size_t concurrency = 10;     // FastAGI calls in flight at most
  std::uint64_t calls = 0;          // FastAGI calls to make in total; 0 = unlimited
  double event_rate = 20.0;         // AMI events per second per session
  double ari_cps = 0.5;             // generated Stasis calls per second (per connected app)
  std::chrono::milliseconds ari_call_hold{2000};
  std::uint64_t ari_calls = 0;                         // generated Stasis calls in total (0 = unlimited)
  std::chrono::milliseconds ari_playback{400};         // per media item of a play request
  std::chrono::milliseconds agi_caller_hangup{0};  // 0 = the caller never hangs up first
  std::chrono::milliseconds agi_idle_timeout{30000};
  std::string dtmf;                 // digits the simulated caller "presses" for GET DATA etc.
  double media_scale = 1.0;         // playback/wait times of AGI commands x this (0 = answer at once)
  double duration_s = 0;            // 0 = until SIGINT/SIGTERM (or --calls reached)
  double stats_interval_s = 5;
  std::string ami_user = "admin", ami_secret = "amp111";
  std::string ari_user = "asterisk", ari_password = "asterisk";
  std::string ari_app = "astra";
  // Outbound ARI (Asterisk dials astra per call): enabled when ari_out_target.port != 0.
  host_port ari_out_target{"127.0.0.1", 0};
  std::string ari_out_path = "/ari/events";
  std::string ari_out_app = "percall";
  std::string ari_out_user = "asterisk-out", ari_out_password = "outpass";
  double ari_out_cps = 1.0;
  std::uint64_t ari_out_calls = 0;           // 0 = unlimited
  std::size_t concurrency_ari_out = 100;     // per-call sockets open at most
  std::chrono::milliseconds ari_out_setup{500};  // ApplicationRegistered -> StasisStart (Asterisk's poll)
  // AsyncAGI (AGI(agi:async,...)): calls started per second on the AMI server (0 = none), each
  // announced to the logged-in sessions with AsyncAGIStart; the route is agi_arg_1.
  double async_agi_cps = 0;
  std::string async_agi_route = "/ivr/menu?lang=en";
};

/// What the simulator did. Touched only on the io_context thread.
struct counters {
  std::uint64_t agi_calls_started = 0, agi_calls_completed = 0, agi_calls_failed = 0;
  std::uint64_t agi_connect_failures = 0, agi_caller_hangups = 0, agi_timeouts = 0;
  std::uint64_t agi_commands_answered = 0, agi_calls_active = 0;
  std::uint64_t ami_connections = 0, ami_logins = 0, ami_login_failures = 0;
  std::uint64_t ami_actions = 0, ami_events_sent = 0, ami_events_dropped = 0, ami_disconnects_slow = 0;
  std::uint64_t ari_requests = 0, ari_ws_connections = 0, ari_events_sent = 0, ari_events_dropped = 0;
  std::uint64_t ari_calls_generated = 0, ari_auth_failures = 0;
  // Generated calls' ends: hung up by the app (DELETE /channels/{id}) or by the caller (the
  // hold time passed); channels alive in the ARI model now.
  std::uint64_t ari_hangups_by_app = 0, ari_caller_hangups = 0, ari_channels_active = 0;
  std::uint64_t ari_out_calls_started = 0, ari_out_calls_completed = 0, ari_out_calls_failed = 0;
  std::uint64_t ari_out_upgrade_failures = 0, ari_out_requests = 0;
  std::uint64_t async_calls_started = 0, async_calls_ended = 0, async_calls_timed_out = 0, async_commands = 0;
  std::uint64_t async_calls_active = 0;
};

/// One line of a recorded fixture (see tests/data/asterisk/README: dir, data, rest fields).
struct fixture_record {
  std::string dir, data;
  std::string method, path, response, content_type;  // only for dir == "rest"
  int status = 0;
};

/// Records of an embedded fixture, e.g. "ami/event-burst.jsonl". Throws at startup when
/// the name is unknown or the text is malformed (a build defect, not peer input).
const std::vector<fixture_record>& fixture(std::string_view name);

/// Shared run state: options, counters and the stop fan-out.
struct context {
  asio::io_context& io;
  options opt;
  counters stats;
  bool stopping = false;
  std::vector<std::function<void()>> stop_handlers;

  /// Stops every component once (idempotent): acceptors close, sessions close.
  void stop() {
    if (stopping) return;
    stopping = true;
    for (auto& h : stop_handlers) h();
  }
};

/// Closes `socket` once `deadline` has passed. Owners move the expiry before every wait;
/// the watchdog ends when it wakes (expiry moved or cancelled) and finds the socket closed.
/// `owner` keeps the timer and socket alive meanwhile. Runs on the io_context thread.
asio::awaitable<void> watchdog(std::shared_ptr<void> owner, asio::steady_timer& deadline, tcp::socket& socket);

/// Wall-clock helpers in Asterisk's formats.
std::string iso_timestamp();            // 2026-11-23T16:49:33.803+0000 (ARI)
std::string epoch_timestamp();          // 1795452333.505612 (AMI Ping)
double epoch_seconds();

/// AsyncAGI on the AMI server (async_agi.cpp). start_async_agi begins generating calls at
/// opt.async_agi_cps (bounded by opt.concurrency, opt.calls), announcing each with `emit`
/// (every event-enabled session); a call is only started while `listening()` (an AMI client
/// would see its AsyncAGIStart). async_agi_action answers one Action: AGI: the whole response
/// to send at once; the command's result follows as an AsyncAGIExec through `emit`.
void start_async_agi(context& ctx, std::function<void(const std::string& event)> emit,
                     std::function<bool()> listening);
std::string async_agi_action(const std::string& channel, const std::string& command, const std::string& command_id,
                             const std::string* action_id);
void destroy_async_agi();

// Components. Each returns false (after printing why) when it cannot start (bind failure).
bool start_ami_server(context& ctx);
bool start_ari_server(context& ctx);
bool start_agi_caller(context& ctx);
bool start_ari_outbound_caller(context& ctx);
/// True once the outbound generator made all --ari-out-calls and they ended.
bool ari_outbound_caller_done(const context& ctx);
void destroy_ari_outbound_caller();
/// True once the FastAGI generator made all --calls and they ended (always false if calls == 0).
bool agi_caller_done(const context& ctx);
/// Destroys the components; call after io_context::run() returned and before the io_context
/// is destroyed (their sockets and timers belong to it).
void destroy_components();

}  // namespace astra::sim
