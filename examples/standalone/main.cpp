// standalone: a user's own service on astra::service, built outside astra's tree against the
// installed package (see CMakeLists.txt and README.md). One FastAGI route and one Stasis
// (ARI) application; everything else (configuration file, ASTRA_* environment overrides,
// check-config, admin HTTP with /metrics, reconnects, the drain on SIGTERM) comes with
// astra::service. Rules for handlers: docs/writing-a-service.md.
//
//   standalone --config standalone.yaml          (or ASTRA_CONFIG=standalone.yaml standalone)
//   standalone check-config standalone.yaml
//
// Dialplan: AGI(agi://astra-host:4573/hello)  /  Stasis(standalone)
#include <chrono>
#include <string>

#include <astra/service.hpp>

using namespace std::chrono_literals;

namespace {

// Registered in main() before run(); incrementing is a lock-free atomic, fine on any thread.
astra::metrics::counter* greeted = nullptr;
astra::metrics::counter_family* ari_calls = nullptr;

// FastAGI: runs in the call's own actor. Straight-line: when the caller hangs up, the awaited
// command throws astra::call_ended and the call ends normally. Other errors are values.
astra::task<void> hello(astra::agi::call& call) {
  co_await call.answer();
  auto caller = co_await call.get_variable("CALLERID(num)");
  if (!caller) throw caller.error();  // ends this call as failed, logged with its call id
  const std::string number = caller->value_or("unknown");  // built before the co_await (see docs)
  co_await call.set_variable("STANDALONE_CALLER", number);
  co_await call.stream_file("hello-world");
  greeted->inc();
  co_await call.hangup();
}

// ARI: runs in the channel's own actor for every channel entering the Stasis app
// "standalone". ARI requests yield astra::result values: look at the ones that matter.
astra::task<void> on_start(astra::ari::channel chan, astra::ari::session& ari) {
  if (!co_await chan.answer()) {
    ari_calls->with({"answer_failed"}).inc();
    co_return;
  }
  auto playback = co_await chan.play("sound:hello-world");
  if (playback) (void)co_await chan.wait_playback(playback->id, 30s);
  (void)co_await chan.hangup();
  ari_calls->with({"completed"}).inc();
}

}  // namespace

int main(int argc, char** argv) {
  astra::service svc{argc, argv};
  // Application metrics appear on /metrics next to astra's own astra_* families.
  greeted = &svc.metrics().add_counter("standalone_greeted_total", "FastAGI callers greeted").series();
  ari_calls = &svc.metrics().add_counter("standalone_ari_calls_total", "Stasis calls handled", {"outcome"});
  svc.agi("/hello", hello);
  svc.ari_app("standalone", on_start);
  return svc.run();
}
