// ari_three_ways: ONE Stasis handler served three ways by astra::service, unchanged:
//   - inbound: astra dials Asterisk's /ari/events (servers[].ari.handler: greet)
//   - persistent outbound: Asterisk keeps one WebSocket to astra (ari_outbound.apps[]: persistent)
//   - per-call outbound: Asterisk opens one WebSocket per call (ari_outbound.apps[]: percall)
//   build/bin/ari_three_ways --config examples/ari_three_ways.yaml
// The handler never knows which transport carries its call: the same ari::channel /
// ari::session API, REST over HTTP or over the socket Asterisk dialled.
#include <astra/service.hpp>

namespace ari = astra::ari;

// Answer, tag the call, play a beep, hang up (four REST round trips).
astra::task<void> greet(ari::channel chan, ari::session&) {
  co_await chan.answer();
  co_await chan.set_var("ASTRA_GREETED", "yes");
  auto playback = co_await chan.play("sound:beep");
  if (playback) co_await chan.wait_playback(playback->id, std::chrono::seconds(10));
  co_await chan.hangup();
}

int main(int argc, char** argv) {
  astra::service svc{argc, argv};
  svc.named_ari_handler("greet", greet);  // named: usable by servers[].ari and ari_outbound.apps[]
  return svc.run();
}
