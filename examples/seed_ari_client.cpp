// seed_ari_client: the ARI seed's Quick Start, on astra::service.
//   build/bin/seed_ari_client [--config FILE]   (servers[].ari of the file; app ASTRA_SEED_APP, default astra-seed)
// StasisStart: answer, mixing bridge, add the channel, external media to SEED_EXTERNAL_HOST
// (default 127.0.0.1:10000, ulaw) into the bridge, ASTRA_SEED_ARI=bridged. StasisEnd: log it,
// hang up the external media channel, destroy the bridge.
#include <cstdlib>
#include <string>

#include <spdlog/spdlog.h>

#include <astra/service.hpp>

namespace ari = astra::ari;

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

astra::task<void> on_stasis_start(ari::channel chan, ari::session& session) {
  co_await chan.answer();
  auto bridge = (co_await session.create_bridge("mixing")).value();
  co_await bridge.add(chan.id());
  ari::channels::external_media media;
  media.app = chan.start_event()->application;
  media.external_host = env_or("SEED_EXTERNAL_HOST", "127.0.0.1:10000");
  media.format = "ulaw";
  auto external = (co_await session.external_media(media, [](ari::channel, ari::session&) -> astra::task<void> { co_return; })).value();
  chan.on_end([&session, bridge, id = chan.id(), external = external.id](const astra::failure& why) mutable {
    spdlog::info("StasisEnd: channel {} left ({})", id, why.message());
    session.channel_of(external).hangup().detach();
    bridge.destroy().detach();
  });
  co_await bridge.add(external.id);
  co_await chan.set_var("ASTRA_SEED_ARI", "bridged");
}

int main(int argc, char** argv) {
  astra::service svc{argc, argv};
  svc.ari_app(env_or("ASTRA_SEED_APP", "astra-seed"), on_stasis_start);
  return svc.run();
}
