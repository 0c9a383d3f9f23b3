// The stock handlers of `astra run` (configuration: agi.routes[].handler, servers[].ari.handler),
// registered through the public astra::service API like any user's handlers. Straight-line: a
// hang-up ends them through astra::call_ended; `throw r.error()` ends a call as failed.
#include "service/api/stock_handlers.hpp"

#include <chrono>
#include <string>

#include "astra/service.hpp"
#include "service/api/webhook_handlers.hpp"

namespace astra::stock {

namespace {

using namespace std::chrono_literals;
using agi::call;

// A failed step ends the call as failed (outcome "failed", the error logged with the call id).
template <class T>
T&& or_fail(result<T>&& r) {
  if (!r) throw r.error();
  return std::move(r).value();
}
inline void or_fail(result<void>&& r) {
  if (!r) throw r.error();
}

// The contract of examples/agi_demo's /ivr/menu, with a configurable sound file.
task<void> demo(call& c, std::string file) {
  or_fail(co_await c.answer());
  or_fail(co_await c.set_variable("ASTRA_ROUTE", c.path()));
  or_fail(co_await c.set_variable("ASTRA_LANG", c.param("lang").value_or("")));
  std::string args;
  for (const auto& a : c.args()) {
    if (!args.empty()) args += '|';
    args += a;
  }
  or_fail(co_await c.set_variable("ASTRA_ARGS", args));
  auto caller = or_fail(co_await c.get_variable("CALLERID(num)"));
  or_fail(co_await c.set_variable("ASTRA_CALLER", caller.value_or("")));
  or_fail(co_await c.stream_file(file));
  or_fail(co_await c.hangup());
}

task<void> playback(call& c, std::string file) {
  or_fail(co_await c.answer());
  or_fail(co_await c.stream_file(file));
  or_fail(co_await c.hangup());
}

task<void> hangup(call& c) { or_fail(co_await c.hangup()); }

// Waits for a digit; on hang-up records it with a dead-channel command (errors as values).
task<void> wait(call& c, std::chrono::milliseconds timeout) {
  c.set_on_hangup(hangup_policy::return_error);
  or_fail(co_await c.answer());
  auto digit = co_await c.wait_for_digit(timeout);
  if (!digit && digit.code() == agi::agi_errc::hung_up) {
    auto set = co_await c.set_variable("ASTRA_SAW_HANGUP", "1");
    if (!set && set.code() != agi::agi_errc::hung_up) throw set.error();
    co_return;
  }
  if (!digit && digit.code() != agi::agi_errc::disconnected) throw digit.error();
}

// The examples/ari_demo flow: answer; ASTRA_ARI_DEMO=answered; mixing bridge; add the
// channel; play sound:beep on the bridge; hang up when it finished; destroy the bridge.
task<void> ari_demo(ari::channel chan, ari::session& ari) {
  if (!co_await chan.answer()) co_return;
  (void)co_await chan.set_var("ASTRA_ARI_DEMO", "answered");
  auto b = co_await ari.create_bridge("mixing");
  if (!b) {
    (void)co_await chan.hangup();
    co_return;
  }
  ari::bridge bridge = *b;
  chan.on_end([bridge](const failure&) mutable { bridge.destroy().detach(); });
  if (co_await bridge.add(chan.id())) {
    auto playback = co_await bridge.play("sound:beep");
    if (playback) (void)co_await chan.wait_playback(playback->id, 30s);
  }
  (void)co_await chan.hangup();
}

// Tracks the channel in its actor until it leaves; does not touch the call.
task<void> ari_track(ari::channel, ari::session&) { co_return; }

// Adoption entry points (servers[].ari.on_reconnect: adopt), for a channel found inside the
// app without an actor when the event socket (re)subscribes. demo: the flow cannot resume
// where an earlier process left it, so it runs again from the start (answering an answered
// channel is harmless; the channel moves into a new bridge, hears the beep, is hung up).
// track: tracked like any other channel.
task<void> ari_demo_adopt(ari::channel chan, ari::session& ari, ari::Channel) { co_await ari_demo(chan, ari); }
task<void> ari_track_adopt(ari::channel, ari::session&, ari::Channel) { co_return; }

}  // namespace

void register_stock_handlers(service& svc) {
  svc.agi_handler_factory("demo", [](const config::agi_route_config& r) -> agi_handler {
    return [file = r.file](call& c) { return demo(c, file); };
  });
  svc.agi_handler_factory("playback", [](const config::agi_route_config& r) -> agi_handler {
    return [file = r.file](call& c) { return playback(c, file); };
  });
  svc.agi_handler_factory("hangup", [](const config::agi_route_config&) -> agi_handler { return &hangup; });
  svc.agi_handler_factory("wait", [](const config::agi_route_config& r) -> agi_handler {
    return [timeout = std::chrono::milliseconds(r.wait)](call& c) { return wait(c, timeout); };
  });
  svc.named_ari_handler("demo", &ari_demo, &ari_demo_adopt);
  svc.named_ari_handler("track", &ari_track, &ari_track_adopt);
  register_webhook_handlers(svc);
}

}  // namespace astra::stock
