#pragma once
// astra::service: a user's own service on astra's runtime. One short main() plus handlers gets
// every behaviour of `astra run` with the same configuration file: --config FILE (or
// $ASTRA_CONFIG), ASTRA_* environment overrides, `check-config FILE`, --help, the admin HTTP
// (/metrics /healthz /readyz /v1/status), supervision and reconnects, JSON logs and the drain
// on SIGTERM.
//
//   astra::task<void> welcome(astra::agi::call& call) {
//     co_await call.answer();
//     co_await call.stream_file("welcome");
//     co_await call.hangup();
//   }
//   int main(int argc, char** argv) {
//     astra::service svc{argc, argv};
//     svc.agi("/welcome", welcome);
//     return svc.run();
//   }
//
// Handler rules
// - FastAGI and ARI handlers are C++20 coroutines run inside their call's actor, one call per
//   actor; they must never block (no sleep, no blocking I/O, no waiting on a future): every
//   wait is a co_await on the call (a command, a request, wait_playback ...).
// - Straight-line: when the caller hangs up, the peer leaves or the service cuts the call at
//   the end of its drain, the awaited operation throws astra::call_ended and the call ends
//   NORMALLY (outcome completed): no `if (!r) co_return` after every step. Every other error
//   (a get_data timeout, a failed command, an ARI 404, Asterisk's Response: Error) is a value
//   (astra::result) the handler may look at or ignore. A FastAGI handler that wants the
//   errors-as-values form for hang-ups too (e.g. to run dead-channel commands) calls
//   call.set_on_hangup(astra::hangup_policy::return_error).
// - A handler that throws anything else ends its own call (outcome exception), is logged with
//   the call id and counted in astra_agi_calls_total{route,outcome}; nothing else is affected.
// - AMI event handlers run on a CAF worker thread, one subscription's events in order; they
//   must be quick and must not block (start work elsewhere). An exception is caught, logged
//   and the subscription goes on.
// Registration happens before run(); run() validates the configuration together with the
// registrations (a route in the file naming a handler nobody registered is a configuration
// error: exit 2) and blocks until the service stopped.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/agi/call.hpp"
#include "actors/agi/router.hpp"
#include "actors/ami/session.hpp"
#include "actors/ari/client.hpp"
#include "actors/common/call_ended.hpp"
#include "actors/common/task.hpp"
#include "generated/ari/events.hpp"  // chan.start_event(): the StasisStart (app, args, channel)
#include "service/config/config.hpp"
#include "service/core/registrations.hpp"
#include "service/metrics/metrics.hpp"

namespace astra {

using agi_handler = std::function<task<void>(agi::call& call)>;
using ari_handler = ari::stasis_handler;  // task<void>(ari::channel, ari::session&)
// task<void>(ari::channel, ari::session&, ari::Channel state): the adoption entry point of a
// channel found inside the app without an actor when the ARI event socket (re)subscribes
// (astra restarted, Asterisk restarted, network cut) and servers[].ari.on_reconnect is adopt.
// `state` is the channel as GET /channels listed it; no StasisStart is replayed.
using ari_adoption_handler = ari::adoption_handler;
using ami_event_handler = std::function<void(const ami::message& event)>;
// An admission check of a FastAGI call (runs on an Asio thread; must be quick and thread-safe).
// Returning false refuses the call (counted as refused_auth). A throw refuses it too, logged.
using agi_auth_check = std::function<bool(const agi::auth_request& request)>;

struct agi_route_options {
  agi_auth_check auth;  // overrides the global auth function (service::agi_auth) for this route
  hangup_policy on_hangup = hangup_policy::end_handler;
};

// What the lifecycle notifications carry (service::on_started ...).
using service_started = runtime::lifecycle_hooks::started_info;    // listeners bound (ports as bound)
using service_draining = runtime::lifecycle_hooks::drain_info;     // SIGTERM/SIGINT came: the drain begins
using service_stopped = runtime::lifecycle_hooks::stop_info;       // drained / cut calls, after teardown
using agi_call_summary = runtime::lifecycle_hooks::agi_call_info;  // one FastAGI or AsyncAGI call ended

class service {
 public:
  // Keeps argc/argv for run(); parses nothing yet (registrations come first).
  service(int argc, char** argv);
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  // A FastAGI route in code (path patterns as agi::router: "/ivr/:menu", "/files/*rest").
  // Routes of the configuration file are added beside them.
  service& agi(std::string path, agi_handler handler, agi_route_options options = {});
  // A named FastAGI handler for routes of the configuration file (`handler: NAME`).
  service& named_agi_handler(std::string name, agi_handler handler);
  // The same, built per route from the route's configuration (file, wait, variables ...).
  service& agi_handler_factory(std::string name,
                               std::function<agi_handler(const config::agi_route_config& route)> make);
  // The global admission check of every FastAGI call (besides agi.allow_cidrs).
  service& agi_auth(agi_auth_check check);

  // A Stasis application: on every configured ARI server (server "") or one named server,
  // channels entering `app` run `handler`. The app joins the server's configured apps.
  // `adopt` (optional) runs for channels adopted at a re-subscription (on_reconnect: adopt);
  // without it such channels are hung up.
  service& ari_app(std::string app, ari_handler handler, std::string server = {}, ari_adoption_handler adopt = {});
  // A named ARI handler for servers of the configuration file (`ari.handler: NAME`), with its
  // optional adoption entry point (as for ari_app).
  service& named_ari_handler(std::string name, ari_handler handler, ari_adoption_handler adopt = {});

  // AMI events named `events` (case-insensitive; empty = all) of server `server` ("" = every
  // server with AMI).
  service& ami_events(std::string server, std::vector<std::string> events, ami_event_handler handler);

  // Runs `hook` once with the validated configuration, before any listener or connection
  // starts (e.g. to read settings of the file that handlers use). A throw ends run() with 1.
  service& on_configured(std::function<void(const config::config& cfg)> hook);

  // The configuration run when neither --config nor $ASTRA_CONFIG names a file: YAML text,
  // validated exactly like a file (errors: exit 2), ASTRA_* overrides on top. For programs
  // that take their few settings on their own command line (examples/agi_demo.cpp).
  service& default_config(std::string yaml);

  // Lifecycle notifications, optional, for programs that report on their own terms. They must
  // be quick and must not block; a throw is caught and logged. Thread affinity:
  // on_started / on_draining / on_stopped run on the thread that called run();
  // on_agi_call_end on the thread that ended the call (Asio or CAF: make it thread-safe);
  // on_link runs on a CAF worker when an AMI session logs in / is lost or an ARI event socket
  // comes up / goes down (server name, "ami" or "ari", up).
  service& on_started(std::function<void(const service_started&)> hook);
  service& on_draining(std::function<void(const service_draining&)> hook);
  service& on_stopped(std::function<void(const service_stopped&)> hook);
  service& on_agi_call_end(std::function<void(const agi_call_summary&)> hook);
  service& on_link(std::function<void(std::string_view server, std::string_view link, bool up)> hook);

  // The service's metrics registry, exposed on /metrics: add counters, gauges and histograms
  // at startup (names must be unique; astra's own are astra_*).
  metrics::registry& metrics();

  // Runs `astra run` with the registrations (or `check-config FILE`, or --help). Returns the
  // process exit code: 0 after a drain, 2 for usage or configuration errors, 1 when a
  // listener cannot be opened.
  int run();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace astra
